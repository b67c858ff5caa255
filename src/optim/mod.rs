//! Optimizers: Burn's built-ins configured PyTorch-style, and stoke's own (diffGrad, AdamP,
//! SGDP, AdaHessian, AdaGrad, AdaGrad-Norm), each a per-tensor [`burn::optim::Optimizer`] so Burn's
//! `ModuleOptimizer` walks the model and records the state in checkpoints.

pub mod adagrad;
pub mod adagrad_norm;
pub mod adahessian;
pub mod adamp;
pub mod builtin;
pub mod channels;
pub mod diffgrad;
pub mod grad_norm;
pub mod hessian_step;
pub mod hutchinson;
pub mod lars;
pub mod lr_scaling;
pub mod playground;
pub mod projection;
pub mod registry;
pub mod sgdp;
mod state;
pub mod step_extension;

pub use registry::{OPTIMIZERS, build};

use crate::usage_error;
use burn::optim::ModuleOptimizer;
use hutchinson::Hutchinson;

/// An optimizer ready for the engine, and what it needs beyond the gradient.
pub struct Built {
    pub optim: ModuleOptimizer,
    /// Set for optimizers that also need a Hessian-diagonal estimate (AdaHessian): the engine
    /// re-evaluates the loss at perturbed weights and stacks the estimate onto the gradient.
    pub curvature: Option<Hutchinson>,
}

impl Built {
    pub fn plain(optim: ModuleOptimizer) -> Self {
        Self {
            optim,
            curvature: None,
        }
    }
}

/// Adam-family betas must lie in [0, 1).
pub(crate) fn check_betas(beta1: f64, beta2: f64) -> anyhow::Result<()> {
    for (key, value) in [("beta1", beta1), ("beta2", beta2)] {
        if !(0.0..1.0).contains(&value) {
            return Err(usage_error!(
                "key `optimizer.{key}`: expected a value in [0, 1), got {value}"
            ));
        }
    }
    Ok(())
}
