//! AdaHessian (Yao et al., 2021), as the official `optim_adahessian.py`: Adam whose second
//! moment tracks the squared Hutchinson estimate `D` of the Hessian diagonal,
//! `denom = (v / (1 - b2^t))^(k/2) + eps` with `k = hessian_power`, and decoupled weight
//! decay: `p <- p - lr (m / (1 - b1^t) / denom + wd p)`.
//!
//! Burn's per-tensor [`Optimizer`] only sees the gradient, so the engine hands this optimizer
//! the gradient and a fresh `D` stacked along dim 0 (`[2 d0, ...]`, see
//! [`super::hutchinson`]). On the steps between Hessian updates (`update_period > 1`) it gets
//! the plain gradient and reuses the `D` kept in its state, as davda54's `update_each` does.

use super::hutchinson::{Difference, Hutchinson};
use super::state::record_state;
use crate::config::typed_section;
use crate::usage_error;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaHessianOptions {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// The power k in (0, 1] applied to the root-mean-square Hessian diagonal.
    pub hessian_power: f64,
    /// Estimate the Hessian diagonal every this many steps; reuse it in between.
    pub update_period: usize,
    /// Finite difference of gradients for the Hessian-vector product: central or forward.
    pub hvp: Difference,
    /// Relative finite-difference step `h` (see [`super::hutchinson`]); default by `hvp`.
    pub fd_step: Option<f64>,
}

impl Default for AdaHessianOptions {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-4,
            weight_decay: 0.0,
            hessian_power: 1.0,
            update_period: 1,
            hvp: Difference::Central,
            fd_step: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdaHessian {
    options: AdaHessianOptions,
}

#[derive(Clone)]
pub struct AdaHessianState<const D: usize> {
    exp_avg: Tensor<D>,
    exp_hessian_diag_sq: Tensor<D>,
    /// The latest Hessian-diagonal estimate, reused between updates.
    hessian: Tensor<D>,
    step: usize,
}

record_state!(AdaHessianState { exp_avg, exp_hessian_diag_sq, hessian; step: usize });

impl Optimizer for AdaHessian {
    type State<const D: usize> = AdaHessianState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let o = &self.options;
        let (grad, fresh) = split_stacked(&param, grad);
        let (exp_avg, exp_hessian_diag_sq, previous, step) = match state {
            Some(s) => (s.exp_avg, s.exp_hessian_diag_sq, Some(s.hessian), s.step),
            None => (grad.zeros_like(), grad.zeros_like(), None, 0),
        };
        // Without any curvature estimate yet (its first gradient came between Hessian updates,
        // or a rank-0 tensor, which is never stacked) the step would be lr m / eps: skip it
        // and wait for an estimate.
        let Some(hessian) = fresh.or(previous) else {
            return (param, None);
        };
        let step = step + 1;
        let exp_avg = exp_avg.mul_scalar(o.beta1) + grad.mul_scalar(1.0 - o.beta1);
        let exp_hessian_diag_sq = exp_hessian_diag_sq.mul_scalar(o.beta2)
            + hessian.clone().square().mul_scalar(1.0 - o.beta2);
        let bias1 = 1.0 - o.beta1.powi(step as i32);
        let bias2 = 1.0 - o.beta2.powi(step as i32);
        let k = o.hessian_power;
        let denom = exp_hessian_diag_sq
            .clone()
            .sqrt()
            .powf_scalar(k)
            .div_scalar(bias2.sqrt().powf(k))
            .add_scalar(o.eps);
        let update =
            exp_avg.clone().div_scalar(bias1) / denom + param.clone().mul_scalar(o.weight_decay);
        let state = AdaHessianState {
            exp_avg,
            exp_hessian_diag_sq,
            hessian,
            step,
        };
        (param - update.mul_scalar(lr), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// Splits a `[g; D]` stack (dim 0 twice the parameter's) into the gradient and the Hessian
/// diagonal; a plain gradient gives no fresh estimate.
fn split_stacked<const D: usize>(
    param: &Tensor<D>,
    grad: Tensor<D>,
) -> (Tensor<D>, Option<Tensor<D>>) {
    if D == 0 {
        return (grad, None);
    }
    let rows = param.dims()[0];
    if grad.dims()[0] == 2 * rows {
        let hessian = grad.clone().narrow(0, rows, rows);
        (grad.narrow(0, 0, rows), Some(hessian))
    } else {
        (grad, None)
    }
}

/// `optimizer.name = "adahessian"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: AdaHessianOptions = typed_section(options, "optimizer")?;
    super::check_betas(options.beta1, options.beta2)?;
    if !(options.hessian_power > 0.0 && options.hessian_power <= 1.0) {
        return Err(usage_error!(
            "key `optimizer.hessian_power`: expected a value in (0, 1], got {}",
            options.hessian_power
        ));
    }
    if options.update_period == 0 {
        return Err(usage_error!(
            "key `optimizer.update_period`: expected a positive number of steps"
        ));
    }
    let curvature = Hutchinson::new(options.hvp, options.fd_step, options.update_period)?;
    Ok(super::Built {
        optim: ModuleOptimizer::from(AdaHessian { options }),
        curvature: Some(curvature),
    })
}
