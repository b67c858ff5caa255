//! The step-extension point (documented with the engine's step in `crate::train::extension`):
//! what an optimizer or training feature that needs more than "loss, gradient, update" plugs
//! into every training step.

use crate::batch::Batch;
use burn::optim::GradientsParams;
use burn::prelude::*;

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
