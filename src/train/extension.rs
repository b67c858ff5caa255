//! Extension points of the training step: what an optimizer or a training feature that needs
//! more than "loss, gradient, update" plugs in, instead of a branch in the engine.
//!
//! A [`StepExtension`] sees each step at two moments, in the shape of Lightning's
//! `on_after_backward` / `on_before_optimizer_step`:
//!
//! ```text
//! batch ─► recipe.train_loss ─► backward ─► average over ranks ─► check finite
//!        ─► after_backward(view, grads)      (extensions: re-evaluate the loss, measure)
//!        ─► clip to optimizer.grad_clip_norm
//!        ─► before_update(model, grads)      (extensions: change what the optimizer gets)
//!        ─► optimizer step, schedule ─► recipe.after_step ─► next_batch_size()
//! ```
//!
//! Through the [`StepView`] an extension re-evaluates the recipe's loss on the step's batch
//! (with the step's dropout draws) at other weights or on parts of the batch, and averages
//! the gradients it gets over the data-parallel ranks. Extensions of the repository:
//! AdaHessian's Hessian-vector products (`crate::optim::hessian_step`) and AdAdaGrad's batch
//! test (`crate::train::adaptive_batch`).
//!
//! An [`EvaluationExtension`] sees each evaluation of `Trainer::run` (`train.eval_every`): it
//! may measure more (robust accuracy: `crate::train::robustness`), keep state in the
//! checkpoint, add fields to summary.json, and stop training early with weights of its
//! choice (Fast-AT's collapse guard). What a recipe itself needs around the step is a
//! capability of the recipe: `Recipe::after_step` (an EMA of the weights),
//! `Recipe::wants_next_batch` (ConAdv attacks the next batch while the step runs).

use super::session::Summary;
use crate::datasets::{ImageSet, Pipeline};
use crate::distributed::World;
use crate::recipes::{Batch, Recipe};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde_json::Value;

/// What an extension sees of the step, after backward.
pub struct StepView<'a, M> {
    /// The model the step's gradient was taken at.
    pub model: &'a M,
    /// This rank's part of the global batch.
    pub batch: &'a Batch,
    /// The step (0-based: steps completed before it).
    pub step: usize,
    /// The run's seed.
    pub seed: u64,
    /// Where this rank's batch starts in the global batch.
    pub first: usize,
    /// Samples in the global batch.
    pub global_samples: usize,
    /// Images in the training set.
    pub train_len: usize,
    /// Re-evaluates the recipe's loss of a batch at the weights of the given model, with the
    /// step's dropout draws.
    pub loss_at: &'a mut dyn FnMut(&M, &Batch) -> Tensor<1>,
    /// Sums `weight * grads` over the data-parallel ranks (the identity in one process); the
    /// text names the operation in errors.
    pub all_reduce: &'a dyn Fn(&M, GradientsParams, f64, &str) -> GradientsParams,
}

impl<M> StepView<'_, M> {
    /// The recipe's training loss of `batch` (the step's, or a part of it) under `model`.
    pub fn loss(&mut self, model: &M, batch: &Batch) -> Tensor<1> {
        (self.loss_at)(model, batch)
    }

    /// The share of the global batch this rank holds (its gradients' weight in an average).
    pub fn share(&self) -> f64 {
        self.batch.size as f64 / self.global_samples as f64
    }
}

/// A feature that takes part in every training step; see the module documentation.
pub trait StepExtension<M> {
    /// Its name in errors (the config key or optimizer that enabled it).
    fn name(&self) -> &str;

    /// After the step's gradient (averaged over the ranks, checked finite), before clipping.
    fn after_backward(&mut self, _view: &mut StepView<'_, M>, _grads: &GradientsParams) {}

    /// After clipping: the gradients the optimizer receives.
    fn before_update(&mut self, _model: &M, grads: GradientsParams) -> GradientsParams {
        grads
    }

    /// A new global batch size for the following steps, once per step after the update.
    fn next_batch_size(&mut self) -> Option<usize> {
        None
    }
}

/// What an evaluation extension sees of the run at an evaluation.
pub struct EvalView<'a, R: Recipe> {
    pub recipe: &'a R,
    /// The training model (on the autodiff device, as attacks need).
    pub model: &'a R::Model,
    pub test_set: &'a ImageSet,
    pub pipeline: &'a Pipeline,
    pub eval_batch_size: usize,
    /// The autodiff device.
    pub device: &'a Device,
    pub world: &'a World,
    pub seed: u64,
    /// Steps completed.
    pub step: usize,
}

/// What an evaluation extension decided.
pub enum AfterEvaluation<M> {
    Continue,
    /// Stop training now, finishing with these weights (or the current ones), with a line
    /// for metrics.jsonl and one for people.
    Stop {
        weights: Option<M>,
        restored_step: Option<usize>,
    },
}

/// A feature that looks at each evaluation of `Trainer::run`; see the module documentation.
pub trait EvaluationExtension<R: Recipe> {
    /// Its key in a checkpoint's state.json.
    fn key(&self) -> &'static str;

    /// Training (re)starts from `model`.
    fn on_start(&mut self, _model: &R::Model) {}

    /// After the test evaluation: measure more, adding fields to the evaluation's metrics
    /// line (`record`) and words to its printed `text`.
    fn after_evaluation(
        &mut self,
        view: &EvalView<'_, R>,
        record: &mut Value,
        text: &mut String,
    ) -> AfterEvaluation<R::Model>;

    /// Its fields of summary.json.
    fn summarize(&self, _summary: &mut Summary) {}

    /// Its state for the checkpoint, and back.
    fn state(&self) -> Value {
        Value::Null
    }

    fn load_state(&mut self, _state: &Value) -> anyhow::Result<()> {
        Ok(())
    }
}
