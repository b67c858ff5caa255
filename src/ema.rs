//! Exponential moving average of a model's weights (as diffusion models sample with):
//! `shadow <- decay * shadow + (1 - decay) * weights` for every float tensor, buffers such as
//! batch-norm statistics included. The shadow never carries gradients.

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
            let blended = shadow.detach().mul_scalar(decay)
                + target.detach().reshape(shape).mul_scalar(1.0 - decay);
            blended.set_require_grad(false)
        })
    }
}

/// `shadow` moved towards `current` (same architecture, same device): each float tensor
/// becomes `decay * shadow + (1 - decay) * current`, without gradient. `decay = 0` copies.
pub fn ema_update<M: Module>(shadow: M, current: &M, decay: f64) -> M {
    let mut blend = Blend {
        decay,
        next: 0,
        target: flat_floats(current, false),
    };
    shadow.map(&mut blend)
}

/// The decay for the update after `updates` earlier ones: `min(decay, (1 + n) / (10 + n))`,
/// so that the average forgets the random initialisation in short runs (the warm-up of
/// TensorFlow's `ExponentialMovingAverage` with `num_updates`).
pub fn warmed_up_decay(decay: f64, updates: usize) -> f64 {
    let n = updates as f64;
    decay.min((1.0 + n) / (10.0 + n))
}

/// Checks a configured decay.
pub fn check_decay(key: &str, decay: f64) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&decay) {
        return Err(crate::usage_error!(
            "key `{key}`: expected an EMA decay in [0, 1), got {decay}"
        ));
    }
    Ok(())
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
        let mut shadow = ema_update(base.clone(), &set(&base, 1.0), 0.0);
        shadow = ema_update(shadow, &set(&base, 2.0), 0.9);
        shadow = ema_update(shadow, &set(&base, 4.0), 0.9);
        // 0.9 (0.9 * 1 + 0.1 * 2) + 0.1 * 4 = 1.39
        for w in weights(&shadow) {
            assert!((w - 1.39).abs() < 1e-6, "{w}");
        }
    }

    #[test]
    fn the_shadow_of_an_autodiff_model_has_no_gradient() {
        let device = Device::flex().autodiff();
        let model = LinearConfig::new(2, 2).init(&device);
        let shadow = ema_update(LinearConfig::new(2, 2).init(&device), &model, 0.5);
        assert!(!shadow.weight.val().is_require_grad());
        assert!(model.weight.val().is_require_grad());
    }

    #[test]
    fn warm_up_and_decay_checks() {
        assert_eq!(warmed_up_decay(0.999, 0), 0.1);
        assert_eq!(warmed_up_decay(0.5, 1000), 0.5);
        assert!(check_decay("recipe.ema_decay", 1.0).is_err());
        assert!(check_decay("recipe.ema_decay", -0.1).is_err());
        assert!(check_decay("recipe.ema_decay", 0.9999).is_ok());
    }
}
