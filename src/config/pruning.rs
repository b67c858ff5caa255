//! `[pruning]`: iterative magnitude pruning (IMP) and Sparse Model Soups (Zimmer et al.,
//! ICLR 2024; the official `ZIB-IOL/SMS`), defaults the official code's.

use serde::{Deserialize, Serialize};

/// The run trains the model dense for the config's `train` budget, then `phases` times:
/// prunes by magnitude (each phase the same fraction of the remaining weights, so that
/// `sparsity` of the prunable weights are gone after the last), retrains `soup_size` copies
/// with the same masks for `retrain_epochs` (or `retrain_steps`), each with another seed or
/// another value of `vary`, and averages them into the next phase's model (a soup, with
/// batch-norm statistics recomputed). `soup_size = 1` is plain IMP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruningConfig {
    /// The fraction of prunable weights removed after the last phase, in [0, 1).
    pub sparsity: f64,
    pub phases: usize,
    /// `global` (smallest magnitudes over all layers) or `layer` (the same fraction of each).
    #[serde(default)]
    pub selector: Selector,
    /// Retraining length of each copy in each phase, in epochs of the training split
    /// (`retrain_steps`, when not 0, counts optimizer steps instead).
    #[serde(default = "one")]
    pub retrain_epochs: usize,
    #[serde(default)]
    pub retrain_steps: usize,
    /// The retraining learning rate: `llr` (linear from the dense run's largest rate to 0
    /// after a 10% warm-up; the official default), `clr` (cosine from the largest to the
    /// smallest rate after a 10% warm-up) or `ft` (constant at the dense run's final rate).
    #[serde(default)]
    pub retrain_schedule: RetrainSchedule,
    /// IMP with weight rewinding (Frankle et al.): the kept weights restart from the dense
    /// run's weights after this many steps instead of from the pruned weights (fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewind_step: Option<usize>,
    /// Copies retrained per phase and averaged (1: no soup).
    #[serde(default = "one")]
    pub soup_size: usize,
    /// `uniform` (the mean of all copies) or `greedy` (copies in decreasing held-out
    /// accuracy, each kept if the soup's held-out accuracy does not fall; needs
    /// `dataset.holdout`).
    #[serde(default)]
    pub soup: SoupMethod,
    /// What differs between a phase's copies: `seed` (copy i of phase p trains with seed
    /// `seed + 100 p + i`: its data order and augmentation), or a config key (e.g.
    /// `optimizer.weight_decay`) that takes the `values`, one per copy.
    #[serde(default = "default_vary")]
    pub vary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<toml::Value>,
    /// Training batches a soup's batch-norm statistics are recomputed on.
    #[serde(default = "default_bn_batches")]
    pub bn_batches: usize,
}

/// How magnitude pruning chooses the entries to remove among the prunable tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// The smallest magnitudes over all prunable tensors together (the official default).
    #[default]
    Global,
    /// The same fraction of each tensor (the official `uniform` selector).
    Layer,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrainSchedule {
    #[default]
    Llr,
    Clr,
    Ft,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SoupMethod {
    #[default]
    Uniform,
    Greedy,
}

fn one() -> usize {
    1
}

fn default_vary() -> String {
    "seed".into()
}

fn default_bn_batches() -> usize {
    20
}
