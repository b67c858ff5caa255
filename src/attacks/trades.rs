//! The TRADES attack (Zhang et al.; `yaodongyu/TRADES`): from `x + 0.001 N(0, I)`, signed
//! ascent steps on `KL(p(x) || p(x'))`, each projected onto the eps-ball and the image range.
//! It needs no label: it moves the prediction away from the clean one.

use super::{input_gradient, project};
use crate::loss::kl_per_sample;
use burn::prelude::*;
use burn::tensor::Distribution;

/// The adversarial pixels for clean `pixels`, given the attacked model's clean logits
/// `clean_logits` (detached) and `logits`, the attacked model on pixel inputs.
pub fn trades_attack(
    pixels: &Tensor<4>,
    clean_logits: Tensor<2>,
    eps: f64,
    step: f64,
    steps: usize,
    mut logits: impl FnMut(Tensor<4>) -> Tensor<2>,
) -> Tensor<4> {
    let clean_logits = clean_logits.detach();
    let noise = Tensor::<4>::random(
        pixels.dims(),
        Distribution::Normal(0.0, 1.0),
        &pixels.device(),
    )
    .mul_scalar(0.001);
    let mut x = pixels.clone() + noise;
    let mut kl = |x: Tensor<4>| kl_per_sample(clean_logits.clone(), logits(x));
    for _ in 0..steps {
        let (gradient, _) = input_gradient(&x, &mut kl);
        let ascent = Tensor::from_inner(gradient.sign().mul_scalar(step).inner());
        x = project(x.detach() + ascent, pixels, eps);
    }
    project(x, pixels, eps).detach()
}
