//! AdaGrad-Norm as in the official AdAdaGrad code (`timlautk/AdAdaGrad`, `adagradnorm.py`):
//! AdaGrad with one accumulator per output channel of each weight, growing by the channel's
//! squared gradient norm, so a channel's weights share one step size:
//! `sum_c <- sum_c + ||g_c||^2` (starting at `initial_accumulator_value`),
//! `clr = lr / (1 + (t-1) lr_decay)`, `p <- p - clr d / (sqrt(sum) + 1e-10)` with `d = g`, or
//! with `momentum > 0` the buffer `d <- m d + (1-m) g`. Channels are the output units
//! ([`super::channels`]) of rank-2 and rank-4 weights; other tensors accumulate per element.
//!
//! Deviation: the official code also adds the previous weight's channel norms to a following
//! rank-1 parameter's accumulator (it reuses a loop variable); a per-tensor optimizer does
//! not see other tensors, so stoke's rank-1 parameters accumulate only their own `g^2`.

use super::channels::{channel_rows, per_channel};
use super::state::record_state;
use crate::config::typed_section;
use crate::usage_error;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaGradNormOptions {
    pub momentum: f64,
    pub lr_decay: f64,
    pub initial_accumulator_value: f64,
}

impl Default for AdaGradNormOptions {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            lr_decay: 0.0,
            initial_accumulator_value: 1e-2,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdaGradNorm {
    options: AdaGradNormOptions,
}

#[derive(Clone)]
pub struct AdaGradNormState<const D: usize> {
    /// Per channel (broadcast shape) for rank 2 and 4, per element otherwise.
    sum: Tensor<D>,
    /// The momentum buffer (zeros when momentum is 0).
    buffer: Tensor<D>,
    step: usize,
}

record_state!(AdaGradNormState { sum, buffer; step: usize });

const fn per_channel_rank(rank: usize) -> bool {
    rank == 2 || rank == 4
}

impl Optimizer for AdaGradNorm {
    type State<const D: usize> = AdaGradNormState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let o = &self.options;
        let dims = grad.dims();
        let squares = if per_channel_rank(D) {
            per_channel(channel_rows(grad.clone()).square().sum_dim(1), dims)
        } else {
            grad.clone().square()
        };
        let (sum, buffer, step) = match state {
            Some(s) => (s.sum, s.buffer, s.step + 1),
            None => (
                squares.full_like(o.initial_accumulator_value),
                grad.zeros_like(),
                1,
            ),
        };
        let clr = lr / (1.0 + (step - 1) as f64 * o.lr_decay);
        let sum = sum + squares;
        let std = sum.clone().sqrt().add_scalar(1e-10);
        let (direction, buffer) = if o.momentum > 0.0 {
            let buffer = buffer.mul_scalar(o.momentum) + grad.mul_scalar(1.0 - o.momentum);
            (buffer.clone(), buffer)
        } else {
            (grad, buffer)
        };
        let param = param - (direction / std).mul_scalar(clr);
        (param, Some(AdaGradNormState { sum, buffer, step }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// `optimizer.name = "adagrad_norm"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: AdaGradNormOptions = typed_section(options, "optimizer")?;
    super::adagrad::check_common(options.lr_decay, options.initial_accumulator_value)?;
    if !(0.0..1.0).contains(&options.momentum) {
        return Err(usage_error!(
            "key `optimizer.momentum`: expected a value in [0, 1), got {}",
            options.momentum
        ));
    }
    Ok(super::Built::plain(ModuleOptimizer::from(AdaGradNorm {
        options,
    })))
}
