//! LARS (You, Gitman & Ginsburg, 2017, "Large Batch Training of Convolutional Networks"):
//! momentum SGD whose step for each tensor is scaled by a layer-wise trust ratio
//! `eta ||w|| / (||g|| + wd ||w||)`, so every layer moves by about the same relative amount
//! whatever the batch size. Per tensor, with `d = g + wd w`:
//! `v <- m v + trust * d`, `w <- w - lr v` (the momentum formulation of the paper's
//! Algorithm 1 and of common PyTorch ports). One-dimensional tensors (biases, normalisation
//! scales and shifts) are excluded from the trust ratio and weight decay by default, as in
//! the large-batch ImageNet recipes; the ratio is 1 where either norm is zero.

use super::state::record_state;
use crate::config::typed_section;
use crate::usage_error;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LarsOptions {
    pub momentum: f64,
    pub weight_decay: f64,
    /// The trust coefficient eta.
    pub trust_coefficient: f64,
    /// Added to the trust ratio's denominator.
    pub eps: f64,
    /// Plain momentum SGD without weight decay for one-dimensional tensors.
    pub exclude_1d: bool,
}

impl Default for LarsOptions {
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 0.0,
            trust_coefficient: 0.001,
            eps: 1e-9,
            exclude_1d: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Lars {
    options: LarsOptions,
}

#[derive(Clone)]
pub struct LarsState<const D: usize> {
    velocity: Tensor<D>,
}

record_state!(LarsState { velocity; });

impl Lars {
    /// The trust ratio of `param` with gradient `grad` (1 for excluded tensors).
    pub fn trust_ratio<const D: usize>(&self, param: &Tensor<D>, grad: &Tensor<D>) -> f64 {
        let o = &self.options;
        if o.exclude_1d && D == 1 {
            return 1.0;
        }
        let norm = |t: &Tensor<D>| t.clone().square().sum().sqrt().into_scalar::<f64>();
        let (w, g) = (norm(param), norm(grad));
        if w > 0.0 && g > 0.0 {
            o.trust_coefficient * w / (g + o.weight_decay * w + o.eps)
        } else {
            1.0
        }
    }
}

impl Optimizer for Lars {
    type State<const D: usize> = LarsState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let o = &self.options;
        let excluded = o.exclude_1d && D == 1;
        let trust = self.trust_ratio(&param, &grad);
        let direction = if excluded || o.weight_decay == 0.0 {
            grad
        } else {
            grad + param.clone().mul_scalar(o.weight_decay)
        }
        .mul_scalar(trust);
        let velocity = match state {
            Some(s) => s.velocity.mul_scalar(o.momentum) + direction,
            None => direction,
        };
        let param = param - velocity.clone().mul_scalar(lr);
        (param, Some(LarsState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.moved_to(device)
    }
}

/// `optimizer.name = "lars"`.
pub fn build(options: &toml::Table) -> anyhow::Result<super::Built> {
    let options: LarsOptions = typed_section(options, "optimizer")?;
    for (key, value) in [
        ("momentum", options.momentum),
        ("weight_decay", options.weight_decay),
        ("trust_coefficient", options.trust_coefficient),
        ("eps", options.eps),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(usage_error!(
                "key `optimizer.{key}`: expected a non-negative number, got {value}"
            ));
        }
    }
    if options.momentum >= 1.0 {
        return Err(usage_error!(
            "key `optimizer.momentum`: expected a value below 1, got {}",
            options.momentum
        ));
    }
    Ok(super::Built::plain(ModuleOptimizer::from(Lars { options })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn lars(weight_decay: f64) -> Lars {
        Lars {
            options: LarsOptions {
                weight_decay,
                trust_coefficient: 0.01,
                ..Default::default()
            },
        }
    }

    fn tensor(values: [f32; 4]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [2, 2]), &Device::flex())
    }

    fn values(t: Tensor<2>) -> Vec<f64> {
        t.into_data().iter::<f64>().collect()
    }

    #[test]
    fn two_steps_match_the_hand_computed_update() {
        // ||w|| = 5, ||g|| = 1: trust = 0.01 * 5 / (1 + 0.1 * 5) = 1/30.
        let opt = lars(0.1);
        let w = tensor([3.0, 0.0, 0.0, 4.0]);
        let g = tensor([0.6, 0.8, 0.0, 0.0]);
        let (w1, state) = opt.step(0.5, w, g.clone(), None);
        let d = [0.6 + 0.3, 0.8, 0.0, 0.4];
        let v1: Vec<f64> = d.iter().map(|x| x / 30.0).collect();
        let want: Vec<f64> = [3.0, 0.0, 0.0, 4.0]
            .iter()
            .zip(&v1)
            .map(|(w, v)| w - 0.5 * v)
            .collect();
        let got = values(w1.clone());
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        // Second step: v2 = 0.9 v1 + trust(w1, g) (g + wd w1).
        let w1v = got.clone();
        let wn = w1v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let trust = 0.01 * wn / (1.0 + 0.1 * wn + 1e-9);
        let (w2, _) = opt.step(0.5, w1, g, state);
        let gv = [0.6, 0.8, 0.0, 0.0];
        for i in 0..4 {
            let v2 = 0.9 * v1[i] + trust * (gv[i] + 0.1 * w1v[i]);
            let want = w1v[i] - 0.5 * v2;
            assert!((values(w2.clone())[i] - want).abs() < 1e-6);
        }
    }

    #[test]
    fn one_dimensional_tensors_take_plain_momentum_steps() {
        let opt = lars(0.1);
        let w: Tensor<1> =
            Tensor::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &Device::flex());
        let g: Tensor<1> =
            Tensor::from_data(TensorData::new(vec![0.5f32, -0.5], [2]), &Device::flex());
        assert_eq!(opt.trust_ratio(&w, &g), 1.0);
        let (w1, _) = opt.step(0.1, w, g, None);
        let got: Vec<f64> = w1.into_data().iter::<f64>().collect();
        assert!((got[0] - 0.95).abs() < 1e-6 && (got[1] - 2.05).abs() < 1e-6);
    }

    #[test]
    fn a_zero_weight_has_trust_one() {
        let opt = lars(0.0);
        let zero = tensor([0.0; 4]);
        assert_eq!(opt.trust_ratio(&zero, &tensor([1.0; 4])), 1.0);
    }
}
