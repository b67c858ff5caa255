//! AdaGrad (Duchi, Hazan, Singer, 2011) with PyTorch's semantics (`torch.optim.Adagrad`):
//! `clr = lr / (1 + (t-1) lr_decay)`, L2 weight decay added to the gradient,
//! `sum <- sum + g^2` (starting at `initial_accumulator_value`),
//! `p <- p - clr g / (sqrt(sum) + eps)`. The update rule of AdAdaGrad (with `[adaptive_batch]`).

use super::state::record_state;
use crate::config::typed_section;
use crate::usage_error;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaGradOptions {
    pub lr_decay: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
}

impl Default for AdaGradOptions {
    fn default() -> Self {
        Self {
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AdaGrad {
    options: AdaGradOptions,
}

#[derive(Clone)]
pub struct AdaGradState<const D: usize> {
    sum: Tensor<D>,
    step: usize,
}

record_state!(AdaGradState { sum; step: usize });

impl Optimizer for AdaGrad {
    type State<const D: usize> = AdaGradState<D>;

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
        let (sum, step) = match state {
            Some(s) => (s.sum, s.step + 1),
            None => (grad.full_like(o.initial_accumulator_value), 1),
        };
        let clr = lr / (1.0 + (step - 1) as f64 * o.lr_decay);
        let sum = sum + grad.clone().square();
        let update = grad / sum.clone().sqrt().add_scalar(o.eps);
        (
            param - update.mul_scalar(clr),
            Some(AdaGradState { sum, step }),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// Checks the options AdaGrad and AdaGrad-Norm share.
pub(crate) fn check_common(lr_decay: f64, initial: f64) -> anyhow::Result<()> {
    if lr_decay.is_nan() || lr_decay < 0.0 {
        return Err(usage_error!(
            "key `optimizer.lr_decay`: expected a non-negative number, got {lr_decay}"
        ));
    }
    if initial.is_nan() || initial < 0.0 {
        return Err(usage_error!(
            "key `optimizer.initial_accumulator_value`: expected a non-negative number, got {initial}"
        ));
    }
    Ok(())
}

/// `optimizer.name = "adagrad"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: AdaGradOptions = typed_section(options, "optimizer")?;
    check_common(options.lr_decay, options.initial_accumulator_value)?;
    Ok(super::Built::plain(ModuleOptimizer::from(AdaGrad {
        options,
    })))
}
