//! The `[federated]` section: a run of many simulated clients, each training a few local steps
//! on its own part of the training set per round, and a server averaging what they send.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedConfig {
    /// Clients the training set is split over.
    pub clients: usize,
    /// Server rounds: the run's length (`[train]` length keys are refused).
    pub rounds: usize,
    /// Optimizer steps each participating client takes per round, with `[optimizer]` and
    /// `data.batch_size` (capped at the client's own number of images).
    pub local_steps: usize,
    /// How the training set is split: `iid`, `dirichlet` (label mix per client drawn from
    /// Dir(`alpha`)), `shards` (`shards_per_client` label-sorted shards each) or `by_class`
    /// (each client holds one class).
    #[serde(default)]
    pub partition: PartitionName,
    /// dirichlet: concentration; small values give clients few classes.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// shards: label-sorted shards per client.
    #[serde(default = "default_shards")]
    pub shards_per_client: usize,
    /// Who trains each round: `uniform` (`clients_per_round` drawn without replacement) or
    /// `full` (every client).
    #[serde(default)]
    pub participation: ParticipationName,
    /// uniform: clients drawn per round.
    #[serde(default = "default_per_round")]
    pub clients_per_round: usize,
    /// How client updates are averaged: `participants` (1/|S| sum over those who trained) or
    /// `all` (1/N sum, non-participants counting as zero updates).
    #[serde(default)]
    pub aggregation: AggregationName,
    /// The server's step on the averaged update: x <- x + server_lr * average(delta).
    #[serde(default = "default_server_lr")]
    pub server_lr: f64,
    /// How the server steps on the averaged update: `plain`, `momentum` (FedAvgM), `adam` or
    /// `yogi` (FedAdam, FedYogi of Reddi et al., 2021).
    #[serde(default)]
    pub server_optimizer: ServerOptimizerName,
    /// momentum: the velocity's decay.
    #[serde(default = "default_server_momentum")]
    pub server_momentum: f64,
    /// adam, yogi: the moments' decays and the adaptivity tau (1e-3 in the paper).
    #[serde(default = "default_server_momentum")]
    pub server_beta1: f64,
    #[serde(default = "default_server_beta2")]
    pub server_beta2: f64,
    #[serde(default = "default_server_tau")]
    pub server_tau: f64,
    /// Evaluate the server model on the test split every this many rounds (and at the end).
    #[serde(default = "default_evaluate_every")]
    pub evaluate_every: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionName {
    #[default]
    Iid,
    Dirichlet,
    Shards,
    ByClass,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipationName {
    #[default]
    Uniform,
    Full,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregationName {
    #[default]
    Participants,
    All,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerOptimizerName {
    #[default]
    Plain,
    Momentum,
    Adam,
    Yogi,
}

fn default_server_momentum() -> f64 {
    0.9
}

fn default_server_beta2() -> f64 {
    0.99
}

fn default_server_tau() -> f64 {
    1e-3
}

fn default_alpha() -> f64 {
    0.1
}

fn default_shards() -> usize {
    2
}

fn default_per_round() -> usize {
    10
}

fn default_server_lr() -> f64 {
    1.0
}

fn default_evaluate_every() -> usize {
    5
}
