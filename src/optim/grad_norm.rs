//! Global gradient norms (logged every step, so any run can later be refined into a schedule)
//! and clipping by the global L2 norm, as `torch.nn.utils.clip_grad_norm_` does.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// L2 and L1 norms over all gradients of a model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GradNorms {
    pub l2: f64,
    pub l1: f64,
}

struct NormVisitor<'a> {
    grads: &'a GradientsParams,
    squares: Vec<Tensor<1>>,
    absolutes: Vec<Tensor<1>>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.squares.push(grad.clone().square().sum());
            self.absolutes.push(grad.abs().sum());
        }
    }
}

/// The global norms of `grads` over the parameters of `model` (one device read).
pub fn grad_norms<M: Module>(model: &M, grads: &GradientsParams) -> GradNorms {
    let mut visitor = NormVisitor {
        grads,
        squares: Vec::new(),
        absolutes: Vec::new(),
    };
    model.visit(&mut visitor);
    if visitor.squares.is_empty() {
        return GradNorms::default();
    }
    let squares = Tensor::cat(visitor.squares, 0).sum();
    let absolutes = Tensor::cat(visitor.absolutes, 0).sum();
    let values: Vec<f64> = Tensor::cat(vec![squares, absolutes], 0)
        .into_data()
        .iter::<f64>()
        .collect();
    GradNorms {
        l2: values[0].sqrt(),
        l1: values[1],
    }
}

struct ScaleVisitor<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// Multiplies every gradient of `model`'s tensors by `factor`.
pub fn scale_gradients<M: Module>(model: &M, grads: &mut GradientsParams, factor: f64) {
    model.visit(&mut ScaleVisitor { grads, factor });
}

/// Scales all gradients so that their global L2 norm is at most `max_norm`; returns the factor.
pub fn clip_global_norm<M: Module>(
    model: &M,
    grads: &mut GradientsParams,
    norm: f64,
    max_norm: f64,
) -> f64 {
    // PyTorch's clip_grad_norm_ adds 1e-6 to the norm before dividing.
    let factor = (max_norm / (norm + 1e-6)).min(1.0);
    if factor < 1.0 {
        scale_gradients(model, grads, factor);
    }
    factor
}
