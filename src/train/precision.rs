//! Mixed precision (`train.precision = "bf16" | "f16"`), autocast's policy as far as Burn
//! allows it: the model's weights stay f32 (the master copy the optimizer updates); each
//! training forward runs on a copy whose tensors outside normalisation layers are cast to the
//! compute type, with the batch's images cast alike. Convolutions, linear layers, attention
//! and activations then compute in half precision; batch, layer and group norms run in f32 on
//! the master's own tensors (their inputs cast up and outputs back, see
//! [`crate::models::layers::NormInF32`]), so running statistics are f32 and shared with the
//! master; the loss is computed in f32 ([`crate::loss`]). The casts are autodiff operations,
//! so the backward pass carries half-precision gradients through the network and the cast
//! hands each master weight an f32 gradient. Evaluation runs the f32 master weights.
//!
//! f16's narrow range needs loss scaling: [`LossScale`] multiplies the loss before the
//! backward pass and divides the gradients after it, PyTorch's `GradScaler` rule for the
//! scale (2^16 at first, halved and the step skipped on a non-finite gradient, doubled after
//! 2000 finite steps in a row).

use crate::config::Precision;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

/// The dtype a training forward computes in (None: f32, no copy).
pub fn compute_dtype(precision: Precision) -> Option<FloatDType> {
    match precision {
        Precision::F32 => None,
        Precision::Bf16 => Some(FloatDType::BF16),
        Precision::F16 => Some(FloatDType::F16),
    }
}

/// Whether `device`'s backend computes in `precision` (Burn 0.22.1: flex, cuda and tch have
/// bf16 and f16 arithmetic, ndarray neither, wgpu what its adapter reports).
/// `name` is the device as the user named it (`opengl`).
pub fn check_backend(precision: Precision, device: &Device, name: &str) -> anyhow::Result<()> {
    match compute_dtype(precision) {
        Some(dtype) if !device.supports_dtype(dtype) => Err(crate::usage_error!(
            "device `{name}` has no {} arithmetic (in Burn 0.22.1 flex, cuda and tch have it, \
             ndarray has not, wgpu has what its adapter reports: llvmpipe's OpenGL has not); \
             use precision \"f32\"",
            precision.name()
        )),
        _ => Ok(()),
    }
}

/// Modules whose tensors stay f32 (autocast's float32 list: normalisations).
const F32_MODULES: &[&str] = &["Struct:BatchNorm", "Struct:LayerNorm", "Struct:GroupNorm"];

/// `model` with every float tensor outside normalisation layers cast to `dtype`, through an
/// autodiff cast (gradients flow back to `model`'s tensors). Normalisation layers keep
/// `model`'s tensors: their running statistics are `RunningState`s, which a mapper changes
/// in place for every copy sharing them, so they must not be cast.
pub fn compute_copy<M: Module>(model: &M, dtype: FloatDType) -> M {
    struct CastOutsideNorms {
        dtype: FloatDType,
        /// How many normalisation modules enclose the current tensor.
        in_norm: usize,
    }
    impl ModuleMapper for CastOutsideNorms {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            if F32_MODULES.contains(&container_type) {
                self.in_norm += 1;
            }
        }
        fn exit_module(&mut self, _name: &str, container_type: &str) {
            if F32_MODULES.contains(&container_type) {
                self.in_norm -= 1;
            }
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            match self.in_norm {
                0 => param.map(|tensor| tensor.cast(self.dtype)),
                _ => param,
            }
        }
    }
    model
        .clone()
        .map(&mut CastOutsideNorms { dtype, in_norm: 0 })
}

/// Dynamic loss scaling for f16 (PyTorch's `torch.amp.GradScaler` defaults), saved with the
/// training state so a resumed run scales as the uninterrupted one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// What the loss is multiplied by before the backward pass.
    pub scale: f64,
    /// Finite steps in a row since the scale last changed.
    pub good_steps: usize,
}

impl Default for LossScale {
    fn default() -> Self {
        Self {
            scale: Self::INITIAL,
            good_steps: 0,
        }
    }
}

impl LossScale {
    pub const INITIAL: f64 = 65536.0;
    pub const GROWTH_INTERVAL: usize = 2000;

    /// Whether a non-finite step at this scale is an overflow the scale explains (skip it
    /// and halve the scale) rather than a failure: below a scale of 1 the loss itself is
    /// out of f16's range or not finite, and halving more would only hide it.
    pub fn explains_overflow(&self) -> bool {
        self.scale > 1.0
    }

    /// The scale after a step whose scaled gradients were `finite` or not.
    pub fn update(&mut self, finite: bool) {
        if !finite {
            self.scale *= 0.5;
            self.good_steps = 0;
            return;
        }
        self.good_steps += 1;
        if self.good_steps == Self::GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GradScaler's rule: halve and reset on an overflow, double after 2000 finite steps.
    #[test]
    fn loss_scale_follows_grad_scaler() {
        let mut scale = LossScale::default();
        scale.update(false);
        assert_eq!(scale.scale, 32768.0);
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            scale.update(true);
        }
        assert_eq!((scale.scale, scale.good_steps), (32768.0, 1999));
        scale.update(false);
        assert_eq!((scale.scale, scale.good_steps), (16384.0, 0));
        for _ in 0..LossScale::GROWTH_INTERVAL {
            scale.update(true);
        }
        assert_eq!((scale.scale, scale.good_steps), (32768.0, 0));
        let small = LossScale {
            scale: 1.0,
            good_steps: 0,
        };
        assert!(!small.explains_overflow());
        assert!(scale.explains_overflow());
    }
}
