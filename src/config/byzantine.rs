//! `[byzantine]`: distributed SGD with faulty workers and a robust aggregation rule.

use super::federated::PartitionName;
use serde::{Deserialize, Serialize};

/// n workers each compute a gradient on their share of the training set at the server's
/// weights; the last `faulty` of them send what `attack` forges instead, and the server
/// steps on what `rule` makes of the n vectors. The run's length is `train.steps`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByzantineConfig {
    pub workers: usize,
    /// How many workers are faulty (also the f the rule is told to tolerate).
    #[serde(default)]
    pub faulty: usize,
    #[serde(default)]
    pub attack: AttackName,
    /// reversed: faulty workers send this times their own gradient (the Flag repository's -10).
    #[serde(default = "default_reverse_scale")]
    pub reverse_scale: f64,
    /// little: mu - z sigma of the faulty workers' gradients (the Flag repository's 0.21).
    #[serde(default = "default_little_z")]
    pub little_z: f64,
    /// empire: -eps mu of the faulty workers' gradients (the Flag repository's 0.1).
    #[serde(default = "default_empire_eps")]
    pub empire_eps: f64,
    /// augmented: how long the faulty workers' pixels follow the Lotka-Volterra flow (the
    /// Flag repository's 0.001 ... 0.010; 0.01 moves the corners of a 28 x 28 image ~2.5 px).
    #[serde(default = "default_augment_time")]
    pub augment_time: f64,
    #[serde(default)]
    pub rule: RuleName,
    /// multi_krum: how many best-scored vectors to average (default n - f - 2).
    #[serde(default)]
    pub multi_krum_m: Option<usize>,
    /// flag: the subspace's rank, the pairwise term's weight and the IRLS iterations.
    #[serde(default = "one")]
    pub flag_rank: usize,
    #[serde(default)]
    pub flag_lambda: f64,
    #[serde(default = "one")]
    pub flag_iterations: usize,
    /// geometric_median: Weiszfeld's smoothing and iterations (byzfl's defaults).
    #[serde(default = "default_geometric_nu")]
    pub geometric_nu: f64,
    #[serde(default = "default_geometric_iterations")]
    pub geometric_iterations: usize,
    /// How the training set is split over the workers: `iid`, `dirichlet` (`alpha`) or
    /// `by_class`.
    #[serde(default)]
    pub partition: PartitionName,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Evaluate (and checkpoint) the server model every this many steps and at the end.
    #[serde(default = "default_evaluate_every")]
    pub evaluate_every: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackName {
    /// Faulty workers behave (a baseline).
    #[default]
    None,
    /// Uniform [0, 1) values (the Flag repository's `torch.rand`).
    Random,
    /// reverse_scale times the worker's own gradient.
    Reversed,
    /// A little is enough (Baruch et al., 2019): mu - z sigma, all faulty workers alike.
    Little,
    /// Fall of empires (Xie et al., 2020): -eps mu, all faulty workers alike.
    Empire,
    /// Gradients of the worker's own images with labels c -> C - 1 - c.
    LabelFlip,
    /// Honest gradients of the worker's images warped by the Lotka-Volterra flow for
    /// `augment_time` (the Flag paper's "augmented losses").
    Augmented,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleName {
    #[default]
    Mean,
    Median,
    TrimmedMean,
    Krum,
    MultiKrum,
    Bulyan,
    Phocas,
    Meamed,
    GeometricMedian,
    Flag,
}

fn default_reverse_scale() -> f64 {
    -10.0
}

fn default_little_z() -> f64 {
    0.21
}

fn default_empire_eps() -> f64 {
    0.1
}

fn default_augment_time() -> f64 {
    0.01
}

fn one() -> usize {
    1
}

fn default_geometric_nu() -> f64 {
    0.1
}

fn default_geometric_iterations() -> usize {
    3
}

fn default_alpha() -> f64 {
    0.5
}

fn default_evaluate_every() -> usize {
    25
}
