//! AdamP (Heo et al., 2021), as the official `clovaai/AdamP` v0.3.0 `adamp.py`: Adam with
//! bias corrections `denom = sqrt(v)/sqrt(1-b2^t) + eps`, step `lr/(1-b1^t)`, optional
//! Nesterov momentum `(b1 m + (1-b1) g)/denom`, the scale-invariance projection
//! ([`super::projection`]) for tensors of rank >= 2, and decoupled weight decay
//! `p <- p (1 - lr wd wd_ratio)` applied before the step.

use super::projection::project;
use super::state::record_state;
use crate::config::typed_section;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamPOptions {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Threshold of the scale-invariance test, `delta / sqrt(D)`.
    pub delta: f64,
    /// Weight decay factor on parameters the projection fired for.
    pub wd_ratio: f64,
    pub nesterov: bool,
}

impl Default for AdamPOptions {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            delta: 0.1,
            wd_ratio: 0.1,
            nesterov: false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdamP {
    options: AdamPOptions,
}

#[derive(Clone)]
pub struct AdamPState<const D: usize> {
    exp_avg: Tensor<D>,
    exp_avg_sq: Tensor<D>,
    step: usize,
}

record_state!(AdamPState { exp_avg, exp_avg_sq; step: usize });

impl Optimizer for AdamP {
    type State<const D: usize> = AdamPState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let o = &self.options;
        let state = state.unwrap_or_else(|| AdamPState {
            exp_avg: grad.zeros_like(),
            exp_avg_sq: grad.zeros_like(),
            step: 0,
        });
        let step = state.step + 1;
        let bias1 = 1.0 - o.beta1.powi(step as i32);
        let bias2 = 1.0 - o.beta2.powi(step as i32);
        let exp_avg = state.exp_avg.mul_scalar(o.beta1) + grad.clone().mul_scalar(1.0 - o.beta1);
        let exp_avg_sq =
            state.exp_avg_sq.mul_scalar(o.beta2) + grad.clone().square().mul_scalar(1.0 - o.beta2);
        let denom = exp_avg_sq
            .clone()
            .sqrt()
            .div_scalar(bias2.sqrt())
            .add_scalar(o.eps);
        let perturb = if o.nesterov {
            (exp_avg.clone().mul_scalar(o.beta1) + grad.clone().mul_scalar(1.0 - o.beta1)) / denom
        } else {
            exp_avg.clone() / denom
        };
        let projected = project(&param, &grad, perturb, o.delta, o.wd_ratio, o.eps);
        let param = if o.weight_decay > 0.0 {
            let factor = projected
                .wd_factor
                .mul_scalar(-lr * o.weight_decay)
                .add_scalar(1.0);
            param * factor
        } else {
            param
        };
        let param = param - projected.update.mul_scalar(lr / bias1);
        let state = AdamPState {
            exp_avg,
            exp_avg_sq,
            step,
        };
        (param, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// `optimizer.name = "adamp"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: AdamPOptions = typed_section(options, "optimizer")?;
    super::check_betas(options.beta1, options.beta2)?;
    Ok(super::Built::plain(ModuleOptimizer::from(AdamP {
        options,
    })))
}
