//! `[gossip]`: decentralized learning, nodes on a graph averaging with their neighbours.

use super::federated::PartitionName;
use serde::{Deserialize, Serialize};

/// `nodes` each train `local_steps` batches on their share of the training set, then
/// replace their weights by `self_weight` times their own plus `1 - self_weight` times the
/// mean of their neighbours' (all nodes at once, from the models of the round's end), for
/// `rounds` rounds. With `variance_correction` every averaged tensor is rescaled about its
/// mean to the mean variance of the neighbours' tensors (Vanishing Variance, Wang et al.).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipConfig {
    pub nodes: usize,
    #[serde(default)]
    pub topology: TopologyName,
    /// random_regular: every node's neighbour count (ring 2, torus 4 and full nodes - 1 are
    /// fixed by the topology; giving another value is an error).
    #[serde(default)]
    pub degree: Option<usize>,
    /// The weight of a node's own model in its average (the official code's 0.5).
    #[serde(default = "default_self_weight")]
    pub self_weight: f64,
    #[serde(default)]
    pub variance_correction: bool,
    pub rounds: usize,
    #[serde(default = "one")]
    pub local_steps: usize,
    /// Every node starts from its own random initialization (the paper's setting, and what
    /// makes plain averaging shrink the weights' variance); `true` starts all from node 0's.
    #[serde(default)]
    pub shared_init: bool,
    /// How the training set is split over the nodes: `iid`, `dirichlet` (`alpha`) or
    /// `by_class`.
    #[serde(default)]
    pub partition: PartitionName,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Test images every node is scored on: a label-balanced sample of the test split (the
    /// official code scores each node on 100); 0 takes the whole split.
    #[serde(default = "default_eval_images")]
    pub eval_images: usize,
    /// Evaluate every node (and checkpoint) every this many rounds and at the end.
    #[serde(default = "default_evaluate_every")]
    pub evaluate_every: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyName {
    /// Node i is linked to i - 1 and i + 1 (mod nodes).
    Ring,
    /// A rows x cols grid wrapped at its edges (4 neighbours each); rows is the largest
    /// divisor of nodes up to its square root, and both sides must be at least 3.
    Torus,
    /// A seeded uniformly random graph in which every node has `degree` neighbours (the
    /// paper's default: 50 nodes, degree 8).
    #[default]
    RandomRegular,
    /// Every node is linked to every other.
    Full,
}

fn default_self_weight() -> f64 {
    0.5
}

fn one() -> usize {
    1
}

fn default_alpha() -> f64 {
    0.5
}

fn default_eval_images() -> usize {
    500
}

fn default_evaluate_every() -> usize {
    5
}
