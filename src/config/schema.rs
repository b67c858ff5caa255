//! The typed shape of a run's config. Each field is documented in one line; `stoke config`
//! prints the resolved values.

use crate::models::ModelSpec;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// One line saying what this run is for.
    #[serde(default)]
    pub description: String,
    /// Seed of every random draw (init, shuffling, augmentation, dropout).
    #[serde(default)]
    pub seed: u64,
    /// Backend: flex, ndarray, wgpu, vulkan, opengl, tch, cuda[:N].
    #[serde(default = "default_device")]
    pub device: String,
    /// The recipe (training objective) and its own options.
    pub recipe: RecipeConfig,
    /// Where the images come from.
    pub dataset: DatasetConfig,
    /// Batching and augmentation.
    #[serde(default)]
    pub data: LoaderConfig,
    /// Architecture; `name` loads a preset from models/.
    pub model: ModelSpec,
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    pub train: TrainConfig,
    /// Grow the batch size during training by a variance test (AdAdaGrad); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_batch: Option<AdaptiveBatchConfig>,
    /// Which implementations of fused operations the models use.
    #[serde(default)]
    pub kernels: KernelsConfig,
    /// Robust accuracy at each evaluation and catastrophic-overfitting detection.
    #[serde(default)]
    pub robust_eval: RobustEvalConfig,
    /// Federated training over simulated clients; absent for ordinary runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<super::federated::FederatedConfig>,
    /// Distributed SGD with faulty workers and a robust aggregation rule; absent for
    /// ordinary runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<super::byzantine::ByzantineConfig>,
    /// Decentralized learning: nodes on a graph averaging with their neighbours; absent for
    /// ordinary runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip: Option<super::gossip::GossipConfig>,
    /// Iterative magnitude pruning and Sparse Model Soups after the dense training; absent
    /// for ordinary runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruning: Option<super::pruning::PruningConfig>,
}

/// Robust accuracy measured at each evaluation during training, on the first `images` test
/// images, with budgets in 1/255 units. On for recipes that train against an attack (at their
/// own eps unless `eps` is given), off for the others unless `eps` is given.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RobustEvalConfig {
    /// Test images attacked at each evaluation (0 turns robust evaluation off).
    pub images: usize,
    /// `pgd`, `fgsm` or `apgd-ce`.
    pub attack: AttackName,
    /// Budget (default: the recipe's training eps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    /// Step size (default eps/4 for PGD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    pub steps: usize,
    pub restarts: usize,
    /// Robust accuracy falling this far below its best marks a collapse; with FGSM accuracy
    /// rising at the same time it is reported as catastrophic overfitting.
    pub collapse_drop: f64,
}

impl Default for RobustEvalConfig {
    fn default() -> Self {
        Self {
            images: 500,
            attack: AttackName::Pgd,
            eps: None,
            step: None,
            steps: 10,
            restarts: 1,
            collapse_drop: 0.2,
        }
    }
}

/// The attacks a config can name (`robust_eval.attack`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttackName {
    #[serde(rename = "fgsm")]
    Fgsm,
    #[default]
    #[serde(rename = "pgd")]
    Pgd,
    #[serde(rename = "apgd-ce")]
    ApgdCe,
}

impl AttackName {
    pub fn as_str(self) -> &'static str {
        match self {
            AttackName::Fgsm => "fgsm",
            AttackName::Pgd => "pgd",
            AttackName::ApgdCe => "apgd-ce",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelsConfig {
    /// `two-pass` (stoke's kernel where the backend has it) or `builtin` (Burn's softmax).
    pub softmax: SoftmaxKernel,
    /// 2x2 max pooling: `stoke` (the flex kernel, `crate::kernels::max_pool`) or `builtin`
    /// (Burn's).
    pub max_pool: KernelChoice,
    /// Batch norm in training mode: `stoke` (the fused flex kernel,
    /// `crate::kernels::batch_norm`) or `builtin` (Burn's).
    pub batch_norm: KernelChoice,
}

/// A stoke kernel where the backend has one, or Burn's own operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelChoice {
    #[default]
    Stoke,
    Builtin,
}

/// Which softmax stoke's models and losses call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SoftmaxKernel {
    /// The two-pass kernel where the backend has one.
    #[default]
    TwoPass,
    /// Burn's built-in softmax.
    Builtin,
}

fn default_device() -> String {
    "flex".into()
}

/// `name` picks a recipe from the registry; the other keys are that recipe's own options,
/// checked by the recipe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecipeConfig {
    pub name: String,
    #[serde(flatten)]
    pub options: toml::Table,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Preset in datasets/ this section was built from (informational once resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Reader: idx, cifar10, cifar100, image-folder, synthetic, multicolor.
    pub format: String,
    /// Directory with the files; `embedded:NAME` for data built into the binary.
    #[serde(default)]
    pub path: String,
    /// Per-channel mean of the training images in [0, 1], subtracted before the model.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation, divided by before the model.
    pub std: Vec<f32>,
    /// cifar100 only: `fine` (100 classes) or `coarse` (20 classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// image-folder only: 1 (grey) or 3 (RGB) channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// image-folder and synthetic: [height, width] images are resized to / generated at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[usize; 2]>,
    /// synthetic only: number of classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_classes: Option<usize>,
    /// multicolor only: q in [-1, 1]; a training image's spurious patch shows its class
    /// colour with probability q, a random palette colour otherwise (so the class colour
    /// with q + (1 - q) / 10); negative: the next class's colour; 0: independent colours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<f64>,
    /// multicolor only: q of the test split (default: `correlation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_correlation: Option<f64>,
    /// multicolor only: 32 independent spurious patches (default) or 1 draw painted on all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spurious_patches: Option<usize>,
    /// Images in the training split: generated (synthetic) or the first ones kept (other
    /// formats, for data-limited runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_size: Option<usize>,
    /// Images in the test split, as `train_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_size: Option<usize>,
    /// Training images kept out of training (seeded, class-balanced) and scored at every
    /// evaluation: what selects the best checkpoint, soup ingredients and the like, so the
    /// test split never selects anything. 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holdout: usize,
    /// Train on a subset of the training split (after the holdout): `"FILE:top:F"` /
    /// `"FILE:bottom:F"` by a `stoke score` file (Data Diet keeps the top), `"random:F"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<String>,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    /// Training batch size.
    pub batch_size: usize,
    /// Evaluation batch size.
    pub eval_batch_size: usize,
    /// Random crop after zero-padding each side by this many pixels (0 = no crop).
    pub crop_padding: usize,
    /// Random horizontal flip with probability 1/2.
    pub hflip: bool,
    /// Batches prepared ahead of the training step by the loader thread.
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 128,
            eval_batch_size: 500,
            crop_padding: 0,
            hflip: false,
            prefetch: 4,
        }
    }
}

/// `name` picks an optimizer; `lr` and clipping are common to all; other keys belong to the
/// optimizer (momentum, betas, weight decay, ...) and are checked by it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub name: String,
    /// Peak learning rate; the schedule scales it.
    pub lr: f64,
    /// Clip the global L2 norm of all gradients to this value before the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip_norm: Option<f64>,
    /// How `lr` follows the batch size: linear, sqrt or none (default: linear for SGD-family,
    /// sqrt for Adam-family optimizers). `lr` is the rate at `reference_batch_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_scaling: Option<LrScalingRule>,
    /// The batch size `lr` was tuned for (default: `data.batch_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_batch_size: Option<usize>,
    #[serde(flatten)]
    pub options: toml::Table,
}

/// How the learning rate follows the batch size (`optimizer.lr_scaling`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrScalingRule {
    /// `lr * batch / reference`.
    Linear,
    /// `lr * sqrt(batch / reference)`.
    Sqrt,
    /// `lr` at any batch size.
    None,
}

/// The learning-rate schedules (`schedule.name`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleName {
    #[default]
    Constant,
    Step,
    Cosine,
    Linear,
    File,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// constant, step, cosine, linear (linear decay to `final_lr_fraction`) or file (a
    /// per-step schedule written by `stoke schedule refine`).
    pub name: ScheduleName,
    /// file: the schedule JSON, resampled linearly to this run's length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Linear warm-up from 0 over this many epochs (fractions allowed).
    pub warmup_epochs: f64,
    /// cosine and linear: the learning rate at the end, as a fraction of `lr`.
    pub final_lr_fraction: f64,
    /// step: epochs at which the rate is multiplied by `gamma`.
    pub milestones: Vec<f64>,
    /// step: the factor applied at each milestone.
    pub gamma: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            name: ScheduleName::Constant,
            path: None,
            warmup_epochs: 0.0,
            final_lr_fraction: 0.0,
            milestones: Vec::new(),
            gamma: 0.1,
        }
    }
}

/// Adaptive batch sizes (Lau et al., AdAdaGrad): every `test_interval` steps the gradient
/// variance, estimated from `micro_batches` micro-batch gradients, decides whether the batch
/// must grow. It never shrinks and never exceeds `max_batch_size`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveBatchConfig {
    /// `norm` (norm test) or `inner-product` (augmented inner-product test).
    pub test: BatchTestName,
    /// Norm test: the batch must make `Var / ||g||^2 <= eta^2`.
    #[serde(default = "default_test_constant")]
    pub eta: f64,
    /// Inner-product test constant.
    #[serde(default = "default_test_constant")]
    pub theta: f64,
    /// Orthogonality test constant.
    #[serde(default = "default_test_constant")]
    pub nu: f64,
    /// Micro-batches the batch is split into for the variance estimate.
    #[serde(default = "default_micro_batches")]
    pub micro_batches: usize,
    /// The largest batch size allowed.
    pub max_batch_size: usize,
    /// Run the test every this many steps.
    #[serde(default = "default_test_interval")]
    pub test_interval: usize,
}

/// The batch-size tests (`adaptive_batch.test`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchTestName {
    Norm,
    InnerProduct,
}

fn default_test_constant() -> f64 {
    0.1
}

fn default_micro_batches() -> usize {
    8
}

fn default_test_interval() -> usize {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Length of training in epochs (ignored when `steps` is set; one of them is needed).
    #[serde(default)]
    pub epochs: usize,
    /// Length of training in optimizer steps; overrides `epochs` when non-zero.
    #[serde(default)]
    pub steps: usize,
    /// Evaluate on the test split every this many steps (0 = at the end of each epoch).
    #[serde(default)]
    pub eval_every: usize,
    /// Write a metrics line every this many steps.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Save a checkpoint every this many steps (0 = at the end of each epoch).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Checkpoints kept besides the best one.
    #[serde(default = "default_keep_last")]
    pub keep_last: usize,
    /// A step whose loss, gradient or new weights are not finite is never applied; `stop`
    /// then checkpoints the last applied step and ends the run with an error, `skip` drops
    /// the batch, counts it (`skipped` in metrics.jsonl) and trains on.
    #[serde(default)]
    pub on_nonfinite: OnNonFinite,
    /// Start a new run from the weights of this run directory's latest checkpoint (or of
    /// this checkpoint directory, or of this safetensors file as `stoke export` writes it)
    /// instead of a fresh initialization: fine-tuning, the runs of a soup. Optimizer state
    /// and progress start fresh; a resume ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// Gradient accumulation: each batch runs as this many micro-batches (one forward and
    /// backward each, one optimizer step), so activations of only one micro-batch are held;
    /// the gradient is the batch's, batch norms see micro-batch statistics.
    #[serde(default = "default_accumulate", skip_serializing_if = "is_one")]
    pub accumulate: usize,
    /// Write TensorBoard event files into RUN/tensorboard/ (every metric as a scalar).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tensorboard: bool,
    /// Images of the sample grid written at each evaluation of recipes that generate
    /// (diffusion), with `train.tensorboard`; 0: none.
    #[serde(
        default = "default_tensorboard_samples",
        skip_serializing_if = "is_default_tensorboard_samples"
    )]
    pub tensorboard_samples: usize,
    /// The precision of the training forward and backward: `f32`, or mixed precision with
    /// `bf16` or `f16` compute (f32 master weights, normalisation and loss; f16 with dynamic
    /// loss scaling). Evaluation runs in f32.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
    /// f16's initial loss scale (PyTorch's `GradScaler(init_scale)`, 65536 by default); a
    /// resumed run continues with the scale its checkpoint saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
}

/// The compute precision of training steps (`train.precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// The precision a value names (as in a config: f32, bf16, f16).
    pub fn parse(value: &str) -> anyhow::Result<Precision> {
        [Precision::F32, Precision::Bf16, Precision::F16]
            .into_iter()
            .find(|p| p.name() == value)
            .ok_or_else(|| {
                crate::usage_error!("unknown precision `{value}`; expected f32, bf16 or f16")
            })
    }

    /// The key's value as written in a config.
    pub fn name(&self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

fn default_tensorboard_samples() -> usize {
    16
}

fn is_default_tensorboard_samples(value: &usize) -> bool {
    *value == default_tensorboard_samples()
}

fn default_accumulate() -> usize {
    1
}

fn is_one(value: &usize) -> bool {
    *value == 1
}

/// What a non-finite step does (`train.on_nonfinite`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNonFinite {
    #[default]
    Stop,
    Skip,
}

fn default_log_every() -> usize {
    50
}

fn default_keep_last() -> usize {
    2
}
