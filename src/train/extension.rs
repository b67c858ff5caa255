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
//! test (`crate::train::adaptive_batch`). The trait lives with the optimizers
//! (`crate::optim::step_extension`), which the engine builds on.
//!
//! An [`EvaluationExtension`] sees each evaluation of `Trainer::run` (`train.eval_every`): it
//! may measure more (robust accuracy: `crate::train::robustness`), keep state in the
//! checkpoint, add fields to summary.json, and stop training early with weights of its
//! choice (Fast-AT's collapse guard). What a recipe itself needs around the step is a
//! capability of the recipe: `Recipe::after_step` (an EMA of the weights),
//! `Recipe::wants_next_batch` (ConAdv attacks the next batch while the step runs).

pub use crate::optim::step_extension::{StepExtension, StepView};

use super::session::Summary;
use crate::datasets::{ImageSet, Pipeline};
use crate::distributed::World;
use crate::recipes::Recipe;
use burn::prelude::*;
use serde_json::Value;

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
