//! SGDP (Heo et al., 2021), as the official `clovaai/AdamP` v0.3.0 `sgdp.py`: momentum
//! `buf <- mu buf + (1 - dampening) g` (zero-initialised), Nesterov `g + mu buf`, the
//! scale-invariance projection ([`super::projection`]) for tensors of rank >= 2, and decoupled
//! weight decay `p <- p (1 - lr wd wd_ratio / (1 - mu))` before the step. Without Nesterov
//! the projection also lands in the momentum buffer, as in the official code.

use super::projection::project;
use super::state::record_state;
use crate::config::typed_section;
use crate::usage_error;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdPOptions {
    pub momentum: f64,
    pub dampening: f64,
    /// Decoupled weight decay (divided by `1 - momentum`, as in the official code).
    pub weight_decay: f64,
    pub nesterov: bool,
    pub eps: f64,
    pub delta: f64,
    pub wd_ratio: f64,
}

impl Default for SgdPOptions {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            eps: 1e-8,
            delta: 0.1,
            wd_ratio: 0.1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SgdP {
    options: SgdPOptions,
}

#[derive(Clone)]
pub struct SgdPState<const D: usize> {
    momentum: Tensor<D>,
}

record_state!(SgdPState { momentum; });

impl Optimizer for SgdP {
    type State<const D: usize> = SgdPState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let o = &self.options;
        let buf = match state {
            Some(state) => state.momentum.mul_scalar(o.momentum),
            None => grad.zeros_like(),
        } + grad.clone().mul_scalar(1.0 - o.dampening);
        let direction = if o.nesterov {
            grad.clone() + buf.clone().mul_scalar(o.momentum)
        } else {
            buf.clone()
        };
        let projected = project(&param, &grad, direction, o.delta, o.wd_ratio, o.eps);
        let param = if o.weight_decay > 0.0 {
            let factor = projected
                .wd_factor
                .mul_scalar(-lr * o.weight_decay / (1.0 - o.momentum))
                .add_scalar(1.0);
            param * factor
        } else {
            param
        };
        let param = param - projected.update.clone().mul_scalar(lr);
        // Without Nesterov the official code projects the momentum buffer itself in place
        // (`d_p` aliases `buf`), so the next step starts from the projected buffer.
        let momentum = if o.nesterov { buf } else { projected.update };
        (param, Some(SgdPState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// `optimizer.name = "sgdp"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: SgdPOptions = typed_section(options, "optimizer")?;
    if !(0.0..1.0).contains(&options.momentum) {
        return Err(usage_error!(
            "key `optimizer.momentum`: expected a value in [0, 1), got {}",
            options.momentum
        ));
    }
    Ok(super::Built::plain(ModuleOptimizer::from(SgdP { options })))
}
