//! AdaHessian's part of the training step: the Hessian-vector products of Hutchinson's
//! estimate ([`super::hutchinson`]) on the step's batch, handed to the optimizer stacked with
//! the gradient. A [`StepExtension`] the engine adds when the optimizer asks for curvature.

use super::hutchinson::{Hutchinson, stack_with_diagonal};
use super::step_extension::{StepExtension, StepView};
use burn::module::Module;
use burn::optim::GradientsParams;

pub struct HessianDiagonal {
    hutchinson: Hutchinson,
    /// This step's `Hz`, between `after_backward` and `before_update`.
    pending: Option<GradientsParams>,
}

impl HessianDiagonal {
    pub fn new(hutchinson: Hutchinson) -> Self {
        Self {
            hutchinson,
            pending: None,
        }
    }
}

impl<M: Module> StepExtension<M> for HessianDiagonal {
    fn name(&self) -> &str {
        "AdaHessian's Hessian-vector products"
    }

    /// `Hz` from gradients at perturbed weights, on the same batch with the same dropout
    /// draws, averaged over the ranks as the gradient is (every `update_period` steps).
    fn after_backward(&mut self, view: &mut StepView<'_, M>, grads: &GradientsParams) {
        let step = view.step;
        if !self.hutchinson.due(step) {
            return;
        }
        let share = view.share();
        let (batch, all_reduce) = (view.batch, view.all_reduce);
        let loss_at = &mut *view.loss_at;
        let what = format!("the Hessian-vector all-reduce of step {step}");
        self.pending = Some(self.hutchinson.hessian_vector(
            view.model,
            grads,
            view.seed,
            step,
            |moved| loss_at(moved, batch),
            |moved, grads| all_reduce(moved, grads, share, &what),
        ));
    }

    /// After clipping: AdaHessian's optimizer takes the gradient stacked with `Hz`.
    fn before_update(&mut self, model: &M, grads: GradientsParams) -> GradientsParams {
        match self.pending.take() {
            Some(hz) => stack_with_diagonal(model, grads, &hz),
            None => grads,
        }
    }
}
