//! FGSM with an optional random start (Wong et al.'s "fast is better than free"):
//! `delta0 ~ U(-eps, eps)` (or 0), one step `delta = delta0 + alpha sign(grad)`, projected
//! onto the eps-ball and the image range.

use super::{input_gradient, project};
use burn::prelude::*;
use burn::tensor::Distribution;

/// The adversarial pixels for clean `pixels` (detached, on the autodiff device).
pub fn fgsm(
    pixels: &Tensor<4>,
    eps: f64,
    alpha: f64,
    random_start: bool,
    mut loss: impl FnMut(Tensor<4>) -> Tensor<1>,
) -> Tensor<4> {
    let start = if random_start {
        let noise = Tensor::<4>::random(
            pixels.dims(),
            Distribution::Uniform(-eps, eps),
            &pixels.device(),
        );
        project(pixels.clone() + noise, pixels, eps)
    } else {
        pixels.clone()
    };
    let (gradient, _) = input_gradient(&start, &mut loss);
    let step = gradient.sign().mul_scalar(alpha);
    let stepped = start + Tensor::from_inner(step.inner());
    project(stepped, pixels, eps).detach()
}
