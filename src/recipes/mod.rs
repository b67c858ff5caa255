//! Recipes define objectives; the engine ([`crate::train`]) defines optimisation.
//!
//! A recipe builds its model, says what loss a training batch gives for the current
//! parameters, and how a test batch is scored. Attacks on the inputs, several forward passes,
//! noise sampling or a second frozen model all happen inside [`Recipe::train_loss`]; the
//! engine runs backward, clips, steps the optimizer, logs, evaluates and checkpoints.

/// The methods every image-classification recipe shares: the model from `[model]`, clean test
/// scoring, and robust scoring with the recipe's `norm` field. Used inside `impl Recipe`.
macro_rules! classifier_methods {
    () => {
        fn build_model(
            &self,
            config: &crate::config::RunConfig,
            data: &crate::recipes::DataInfo,
            device: &burn::prelude::Device,
        ) -> anyhow::Result<crate::models::Classifier> {
            config.model.build(
                [data.channels, data.height, data.width],
                data.num_classes,
                device,
            )
        }

        fn eval_batch(
            &self,
            model: &crate::models::Classifier,
            batch: &crate::recipes::Batch,
            _first: usize,
        ) -> crate::recipes::EvalSums {
            crate::recipes::erm::clean_eval(model, batch)
        }

        fn logits(
            &self,
            model: &crate::models::Classifier,
            images: burn::prelude::Tensor<4>,
        ) -> Option<burn::prelude::Tensor<2>> {
            Some(model.forward(images))
        }

        fn robust_eval_batch(
            &self,
            model: &crate::models::Classifier,
            batch: &crate::recipes::Batch,
            attack: &crate::attacks::evaluation::EvalAttack,
        ) -> Option<crate::attacks::evaluation::RobustSums> {
            Some(crate::attacks::evaluation::robust_sums(
                model, &self.norm, batch, attack,
            ))
        }
    };
}

pub mod aaer;
pub mod adversarial;
pub mod conadv;
pub mod ddpm;
pub mod denoising;
pub mod done;
pub mod edm;
pub mod erm;
pub mod fast_at;
pub mod mixup;
pub mod pada;
pub mod pgd_at;
pub mod supernet;
pub mod trades;
pub mod weat;

use crate::config::RunConfig;
use burn::module::Module;
use burn::prelude::*;

pub use crate::batch::Batch;

/// What the recipe knows of the step it computes a loss for. Randomness a recipe needs
/// (attack starts, noise) comes from `crate::rng::Rng::new(seed, Stream::Recipe, step, i)`.
#[derive(Clone, Debug)]
pub struct StepContext {
    pub step: usize,
    pub epoch: usize,
    pub seed: u64,
    /// The position of this batch's first sample in the global batch (0 in one process; a
    /// data-parallel rank's shard starts further on).
    pub first: usize,
    /// Whether this step completes an epoch (fixed-size batches; never with adaptive sizes).
    pub epoch_ends: bool,
    /// The run's length in epochs (steps / steps per epoch).
    pub total_epochs: f64,
    pub device: Device,
    /// The batch of the next step, for recipes that ask for it ([`Recipe::wants_next_batch`]);
    /// `None` at the last step and for other recipes.
    pub next_batch: Option<Batch>,
}

/// The loss to minimise and what to report about the batch.
pub struct StepOutput {
    /// Scalar loss `[1]` whose gradient the engine follows.
    pub loss: Tensor<1>,
    /// Correctly classified samples, for the training accuracy (None when not meaningful).
    pub correct: Option<usize>,
    /// Further per-step figures (clean and adversarial loss, counts), written to the step's
    /// line of metrics.jsonl under these names.
    pub metrics: Vec<(&'static str, f64)>,
}

/// How a per-step metric of the recipe combines over data-parallel ranks (each rank
/// computes it on its shard of the global batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// A per-sample average: weighted by the ranks' sample counts (losses, accuracies).
    SampleMean,
    /// A count over the batch: summed (abnormal examples).
    Sum,
    /// A maximum over the batch: the largest of the ranks' values.
    Max,
}

/// Sums over one test batch; the engine averages them over the test set.
#[derive(Clone, Debug, Default)]
pub struct EvalSums {
    pub loss_sum: f64,
    /// Correctly classified samples (None for models that do not classify).
    pub correct: Option<usize>,
    pub count: usize,
    /// Named parts of the loss (e.g. per noise level): name, sum, number of samples. Each is
    /// averaged over its own samples and reported as `test_loss_<name>`.
    pub parts: Vec<(String, f64, usize)>,
}

/// Facts about the data a recipe needs to build its model.
#[derive(Clone, Debug)]
pub struct DataInfo {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub num_classes: usize,
}

pub trait Recipe: Sized {
    /// Everything the optimizer trains (and checkpoints hold).
    type Model: Module + Clone + Send + 'static;

    /// Builds the recipe from the run config; checks `config.recipe.options`.
    fn from_config(config: &RunConfig) -> anyhow::Result<Self>;

    /// Builds a freshly initialised model on `device`.
    fn build_model(
        &self,
        config: &RunConfig,
        data: &DataInfo,
        device: &Device,
    ) -> anyhow::Result<Self::Model>;

    /// The training loss of `batch` under `model` (on an autodiff device).
    fn train_loss(&mut self, model: &Self::Model, batch: &Batch, ctx: &StepContext) -> StepOutput;

    /// Scores a test batch with the inference copy of the model; `first` is the index of the
    /// batch's first image in the test split (recipes that draw noise draw it per image).
    fn eval_batch(&self, model: &Self::Model, batch: &Batch, first: usize) -> EvalSums;

    /// The class logits `[B, classes]` of normalised images under the inference copy of the
    /// model; `None` for recipes whose model does not classify.
    fn logits(&self, _model: &Self::Model, _images: Tensor<4>) -> Option<Tensor<2>> {
        None
    }

    /// Called after each optimizer step with the updated model; returns the model the next
    /// step trains (diffusion recipes fold the weights into an EMA kept in the model).
    fn after_step(&mut self, model: Self::Model, _step: usize) -> Self::Model {
        model
    }

    /// The step's gradients as the optimizer gets them (averaged over the ranks, clipped to
    /// `optimizer.grad_clip_norm`), once per step whose loss and gradients are finite,
    /// before the update (which may still be rejected): for recipes that learn from them
    /// (PA&DA's path importance). A driver's `Trainer::gradients` / `apply_gradients` pair
    /// hands in the gradients it applies; `apply_gradients` without the step's batch calls
    /// nothing. Returns figures for the step's line of metrics.jsonl (the same on every
    /// rank, as the gradients are).
    fn after_backward(
        &mut self,
        _model: &Self::Model,
        _grads: &burn::optim::GradientsParams,
        _ctx: &StepContext,
    ) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// New sampling weights of the `train_len` training images (one per image), taken by the
    /// engine after each step: from the next step on, examples are drawn with replacement
    /// in proportion to them (PA&DA's data importance, set at an epoch's end). One process
    /// only: data-parallel training with it is a usage error.
    fn take_sampling_weights(&mut self, _train_len: usize) -> Option<Vec<f64>> {
        None
    }

    /// Whether the loss is checked to run on a half-precision copy of the model with
    /// half-precision images (`train.precision`): every tensor it creates takes its dtype
    /// from its inputs, and its loss is computed through [`crate::loss`] (in f32).
    fn supports_mixed_precision(&self) -> bool {
        false
    }

    /// Whether the loss of a batch is more than the mean of per-image losses (weights
    /// normalised over the batch, means over subsets of it): `train.accumulate` would then
    /// change the objective and is refused.
    fn loss_couples_the_batch(&self) -> bool {
        false
    }

    /// Whether the recipe sets sampling weights ([`Recipe::take_sampling_weights`]): the
    /// engine then refuses data-parallel training before the first step.
    fn samples_training_data(&self) -> bool {
        false
    }

    /// Clean and robust correct counts of a normalised test batch under `attack`, with the
    /// model on an autodiff device; `None` for recipes whose model is not a classifier of
    /// images.
    fn robust_eval_batch(
        &self,
        _model: &Self::Model,
        _batch: &Batch,
        _attack: &crate::attacks::evaluation::EvalAttack,
    ) -> Option<crate::attacks::evaluation::RobustSums> {
        None
    }

    /// The budget (1/255 units) the recipe trains against, if it is adversarial: the default
    /// budget of the robust accuracy measured at each evaluation (`[robust_eval]`).
    fn attack_eps(&self) -> Option<f64> {
        None
    }

    /// Whether training stops, restoring the weights of the best robust accuracy, when robust
    /// accuracy collapses (Fast-AT's early-stopping guard).
    fn stop_on_collapse(&self) -> bool {
        false
    }

    /// How the metric `name` of [`StepOutput::metrics`] combines over data-parallel ranks.
    fn reduce_metric(&self, _name: &str) -> Reduce {
        Reduce::SampleMean
    }

    /// Whether the engine should load each batch one step early and pass it in
    /// [`StepContext::next_batch`] (ConAdv prepares the next step's attack concurrently).
    fn wants_next_batch(&self) -> bool {
        false
    }

    /// Whether `train_loss` may be evaluated again on the same batch at other weights or on
    /// parts of the batch (AdaHessian's Hessian-vector products, adaptive batch tests). A
    /// recipe whose `train_loss` changes its own state must return false.
    fn repeatable_loss(&self) -> bool {
        true
    }

    /// Generates images with the inference copy of a trained model; `None` for recipes whose
    /// model does not generate.
    fn generate(
        &self,
        _model: &Self::Model,
        _request: &crate::diffusion::generate::SampleRequest,
    ) -> Option<anyhow::Result<crate::diffusion::generate::GeneratedImages>> {
        None
    }

    /// Recipe state that must survive a resume (schedules of lambda, work prepared for the
    /// next step, ...); may finish pending work to record it.
    fn state(&mut self) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn load_state(&mut self, _state: &serde_json::Value) -> anyhow::Result<()> {
        Ok(())
    }
}
