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
    /// Who trains each round: `uniform` (`clients_per_round` drawn without replacement),
    /// `full` (every client), or each client on its own with probability p_n: `bernoulli`
    /// (independently each round), `markov` (a two-state chain whose stationary probability
    /// is p_n) or `cyclic` (active for a run of rounds in each `cycle`), as FedAU's
    /// experiments.
    #[serde(default)]
    pub participation: ParticipationName,
    /// uniform: clients drawn per round.
    #[serde(default = "default_per_round")]
    pub clients_per_round: usize,
    /// bernoulli, markov, cyclic: how the p_n are set: `label_mix` (FedAU's: correlated with
    /// the client's labels through class weights drawn from Dir(`participation_alpha`)),
    /// `uniform` (drawn from U[min, 2 mean - min], independent of the data) or `equal`.
    #[serde(default)]
    pub probabilities: ProbabilityName,
    /// The mean participation probability and the floor every p_n is raised to.
    #[serde(default = "default_participation_mean")]
    pub participation_mean: f64,
    #[serde(default = "default_participation_min")]
    pub participation_min: f64,
    /// label_mix: concentration of the class weights (small: participation depends strongly
    /// on the labels a client holds).
    #[serde(default = "default_alpha")]
    pub participation_alpha: f64,
    /// markov: the largest probability of turning active in a round.
    #[serde(default = "default_markov_to_active")]
    pub markov_to_active: f64,
    /// cyclic: rounds in one cycle; client n is active for round(cycle p_n) of them.
    #[serde(default = "default_cycle")]
    pub cycle: usize,
    /// The server's rule: `fedavg`, `fedau` (each update weighted by the client's mean
    /// participation interval, Wang and Ji, 2023), `mifa` (the average of every client's
    /// latest update, Gu et al., 2021), or on a simulated clock where every client works on
    /// the model it last received and the server aggregates `async_fedavg` (each arrival),
    /// `fedfix` (every `fedfix_interval`) or `fedbuff` (every `fedbuff_size` arrivals); or
    /// with momentum in the clients' steps, `fedavg_m` and `scaffold_m` (with control
    /// variates; Cheng et al., ICLR 2024); or with compressed control variates, `scallion`
    /// and `scafcom` (Huang et al., ICLR 2024); or Anarchic FL's `afa_cd` and `afa_cs` (Yang
    /// et al., ICML 2022: clients choose how many local steps, 1..=local_steps, per task).
    #[serde(default)]
    pub algorithm: AlgorithmName,
    /// fedavg: how updates are averaged: `participants` (1/|S| sum over those who trained,
    /// the default), `all` (1/N sum, non-participants counting as zero updates) or
    /// `known_probability` (1/N sum of Delta_n / p_n). FedAU and MIFA define their own.
    #[serde(default)]
    pub aggregation: Option<AggregationName>,
    /// async_fedavg, fedfix, fedbuff: the aggregation weights d_i of "A General Theory for
    /// Federated Optimization with Asynchronous and Heterogeneous Clients Updates" (Fraboni
    /// et al., JMLR 2023): `weighted` (the paper's, which make every client count 1/N in
    /// expectation whatever its speed) or `identical` (async: 1, fedfix: 1/N, fedbuff: 1/c).
    #[serde(default)]
    pub async_weights: AsyncWeightsName,
    /// fedfix: the server aggregates whatever arrived every this much simulated time.
    #[serde(default = "default_fedfix_interval")]
    pub fedfix_interval: f64,
    /// fedbuff: the server aggregates as soon as this many clients have returned.
    #[serde(default = "default_fedbuff_size")]
    pub fedbuff_size: usize,
    /// afa_cd, afa_cs: the server steps once this many clients have returned.
    #[serde(default = "default_afa_updates")]
    pub afa_updates: usize,
    /// Simulated compute time of a client's local work: client i of N takes
    /// tau_i = 1 - compute_spread * i / (N - 1) (the paper's linear scenario; 0: all take 1),
    /// times a mean-one log-normal factor exp(s z - s^2 / 2) per task with s =
    /// `compute_jitter`, drawn from (seed, client, task).
    #[serde(default)]
    pub compute_spread: f64,
    #[serde(default)]
    pub compute_jitter: f64,
    /// Stop at the last aggregation before this simulated time (with `rounds` as a bound).
    #[serde(default)]
    pub max_clock: Option<f64>,
    /// fedavg_m, scaffold_m: the weight of the fresh minibatch gradient in the clients'
    /// direction beta grad + (1 - beta) g^r (g^r: the server's last average direction).
    #[serde(default = "default_momentum_beta")]
    pub momentum_beta: f64,
    /// What clients upload in place of their update: `none`, `topk` (the `compress_ratio`
    /// share of largest-magnitude values, with their indices), `randk` (a random share,
    /// scaled by 1/ratio: unbiased), `qsgd` (`qsgd_levels` stochastic levels of the norm,
    /// unbiased; Alistarh et al., 2017) or `sign` (signs scaled by the mean magnitude).
    /// Parameters only; batch-norm statistics are sent as they are.
    #[serde(default)]
    pub compressor: CompressorName,
    #[serde(default = "default_compress_ratio")]
    pub compress_ratio: f64,
    #[serde(default = "default_qsgd_levels")]
    pub qsgd_levels: u32,
    /// Error feedback (Seide et al., 2014; Karimireddy et al., 2019): each client adds what
    /// its compressor dropped last time to its next update (a model-sized memory per client).
    #[serde(default)]
    pub error_feedback: bool,
    /// Where model-sized per-client state lives: `memory` or `disk` (exact either way; on
    /// disk the process holds one client's state at a time).
    #[serde(default)]
    pub client_state: ClientStateName,
    /// scallion: the control variates' step alpha (default 1/(1 + omega), omega the
    /// compressor's variance bound).
    #[serde(default)]
    pub scallion_alpha: Option<f64>,
    /// fedau: the cutoff K: an absence of K rounds is recorded as an interval of K (none by
    /// default).
    #[serde(default)]
    pub fedau_cutoff: Option<usize>,
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
    Bernoulli,
    Markov,
    Cyclic,
}

impl ParticipationName {
    /// Whether each client participates with its own probability p_n.
    pub fn has_probabilities(self) -> bool {
        matches!(self, Self::Bernoulli | Self::Markov | Self::Cyclic)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbabilityName {
    #[default]
    LabelMix,
    Uniform,
    Equal,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmName {
    #[default]
    Fedavg,
    Fedau,
    Mifa,
    AsyncFedavg,
    Fedfix,
    Fedbuff,
    FedavgM,
    ScaffoldM,
    Scallion,
    Scafcom,
    AfaCd,
    AfaCs,
}

impl AlgorithmName {
    /// Whether clients work on their own clock and return to the server when done.
    pub fn is_asynchronous(self) -> bool {
        matches!(
            self,
            Self::AsyncFedavg | Self::Fedfix | Self::Fedbuff | Self::AfaCd | Self::AfaCs
        )
    }

    /// Anarchic FL: each client picks its number of local steps per task.
    pub fn is_anarchic(self) -> bool {
        matches!(self, Self::AfaCd | Self::AfaCs)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStateName {
    #[default]
    Memory,
    Disk,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressorName {
    #[default]
    None,
    Topk,
    Randk,
    Qsgd,
    Sign,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsyncWeightsName {
    #[default]
    Weighted,
    Identical,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregationName {
    #[default]
    Participants,
    All,
    KnownProbability,
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

fn default_participation_mean() -> f64 {
    0.1
}

fn default_participation_min() -> f64 {
    0.02
}

fn default_markov_to_active() -> f64 {
    0.05
}

fn default_compress_ratio() -> f64 {
    0.1
}

fn default_qsgd_levels() -> u32 {
    16
}

fn default_momentum_beta() -> f64 {
    0.2
}

fn default_fedfix_interval() -> f64 {
    0.5
}

fn default_afa_updates() -> usize {
    10
}

fn default_fedbuff_size() -> usize {
    10
}

fn default_cycle() -> usize {
    100
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
