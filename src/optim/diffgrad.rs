//! diffGrad (Dubey et al., 2019), the fixed semantics of the official `diffGrad_v2.py`:
//! Adam whose first moment is damped by the friction coefficient
//! `dfc = 1 / (1 + exp(-|g_prev - g|))`, with `g_prev` a copy of the previous gradient (zero
//! before the first step), L2 weight decay added to the gradient (and so to `g_prev`), and
//! epsilon added to the raw `sqrt(v)`:
//! `p <- p - lr * sqrt(1 - b2^t) / (1 - b1^t) * m * dfc / (sqrt(v) + eps)`.

use super::state::record_state;
use crate::config::typed_section;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffGradOptions {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// L2 penalty added to the gradient, as in the official code.
    pub weight_decay: f64,
}

impl Default for DiffGradOptions {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DiffGrad {
    options: DiffGradOptions,
}

#[derive(Clone)]
pub struct DiffGradState<const D: usize> {
    exp_avg: Tensor<D>,
    exp_avg_sq: Tensor<D>,
    previous_grad: Tensor<D>,
    step: usize,
}

record_state!(DiffGradState { exp_avg, exp_avg_sq, previous_grad; step: usize });

impl Optimizer for DiffGrad {
    type State<const D: usize> = DiffGradState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let o = &self.options;
        let grad = if o.weight_decay != 0.0 {
            grad + param.clone().mul_scalar(o.weight_decay)
        } else {
            grad
        };
        let state = state.unwrap_or_else(|| DiffGradState {
            exp_avg: grad.zeros_like(),
            exp_avg_sq: grad.zeros_like(),
            previous_grad: grad.zeros_like(),
            step: 0,
        });
        let step = state.step + 1;
        let exp_avg = state.exp_avg.mul_scalar(o.beta1) + grad.clone().mul_scalar(1.0 - o.beta1);
        let exp_avg_sq =
            state.exp_avg_sq.mul_scalar(o.beta2) + grad.clone().square().mul_scalar(1.0 - o.beta2);
        let denom = exp_avg_sq.clone().sqrt().add_scalar(o.eps);
        let bias1 = 1.0 - o.beta1.powi(step as i32);
        let bias2 = 1.0 - o.beta2.powi(step as i32);
        // sigmoid(|g_prev - g|), written as the official code computes it.
        let dfc = (state.previous_grad - grad.clone())
            .abs()
            .neg()
            .exp()
            .add_scalar(1.0)
            .recip();
        let step_size = lr * bias2.sqrt() / bias1;
        let update = (exp_avg.clone() * dfc).div(denom).mul_scalar(step_size);
        let state = DiffGradState {
            exp_avg,
            exp_avg_sq,
            previous_grad: grad,
            step,
        };
        (param - update, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// `optimizer.name = "diffgrad"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: DiffGradOptions = typed_section(options, "optimizer")?;
    super::check_betas(options.beta1, options.beta2)?;
    Ok(super::Built::plain(ModuleOptimizer::from(DiffGrad {
        options,
    })))
}
