//! Exponential moving average of a model's weights (as diffusion models sample with):
//! `shadow <- decay * shadow + (1 - decay) * weights` for every float tensor, buffers such as
//! batch-norm statistics included. The shadow is an inference copy (no autodiff).

use crate::models::flat_params::flat_floats;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

/// Moves each float tensor towards the matching one of `target` by `1 - decay`.
struct Blend {
    decay: f64,
    next: usize,
    target: Vec<Tensor<1>>,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let target = self.target[self.next].clone();
        self.next += 1;
        let decay = self.decay;
        param.map(|shadow| {
            let shape = shadow.shape();
            shadow.mul_scalar(decay) + target.reshape(shape).mul_scalar(1.0 - decay)
        })
    }
}

/// The moving average of a module's weights.
#[derive(Clone, Debug)]
pub struct Ema<M: Module> {
    pub decay: f64,
    shadow: Option<M>,
}

impl<M: Module> Ema<M> {
    pub fn new(decay: f64) -> anyhow::Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            return Err(crate::usage_error!(
                "EMA decay: expected a value in [0, 1), got {decay}"
            ));
        }
        Ok(Self {
            decay,
            shadow: None,
        })
    }

    /// Folds in the current weights of `model` (the first call copies them).
    pub fn update(&mut self, model: &M) {
        let current = model.valid();
        self.shadow = Some(match self.shadow.take() {
            None => current,
            Some(shadow) => {
                let mut blend = Blend {
                    decay: self.decay,
                    next: 0,
                    target: flat_floats(&current, false),
                };
                shadow.map(&mut blend)
            }
        });
    }

    /// The averaged weights (None before the first update).
    pub fn shadow(&self) -> Option<&M> {
        self.shadow.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    fn weights(m: &Linear) -> Vec<f64> {
        m.weight.val().into_data().iter::<f64>().collect()
    }

    fn set(m: &Linear, value: f32) -> Linear {
        let mut m = m.clone();
        m.weight = m.weight.map(|w| w.zeros_like().add_scalar(value));
        m
    }

    #[test]
    fn the_average_follows_the_closed_form() {
        let device = Device::flex();
        let base = LinearConfig::new(2, 2).init(&device);
        let mut ema = Ema::new(0.9).unwrap();
        ema.update(&set(&base, 1.0));
        ema.update(&set(&base, 2.0));
        ema.update(&set(&base, 4.0));
        // 0.9 (0.9 * 1 + 0.1 * 2) + 0.1 * 4 = 1.39
        for w in weights(ema.shadow().unwrap()) {
            assert!((w - 1.39).abs() < 1e-6, "{w}");
        }
    }

    #[test]
    fn a_decay_outside_zero_one_is_rejected() {
        assert!(Ema::<Linear>::new(1.0).is_err());
        assert!(Ema::<Linear>::new(-0.1).is_err());
    }
}
