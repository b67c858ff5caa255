//! PGD-k (Madry et al.): from a random start in the eps-ball, `steps` signed-gradient ascent
//! steps of size `step`, each projected onto the eps-ball and the image range; with restarts,
//! the worst case per example (highest final loss) is kept.

use super::{input_gradient, project};
use crate::rng::{Rng, Stream};
use burn::prelude::*;
use burn::tensor::Distribution;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pgd {
    /// Budget in pixel units.
    pub eps: f64,
    /// Step size in pixel units.
    pub step: f64,
    pub steps: usize,
    pub restarts: usize,
    pub random_start: bool,
    /// Draw random starts per image from stoke's generator (same in any batch or
    /// data-parallel shard) instead of the device's.
    pub start_key: Option<StartKey>,
}

/// Image `first + i` of a batch draws its random start from
/// `Rng::new(seed, Stream::AttackStart, step, first + i)`: the same whatever batch or rank's
/// shard it is in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartKey {
    pub seed: u64,
    pub step: u64,
    /// The position of the batch's first image in the global batch.
    pub first: usize,
}

/// Uniform noise in `[-eps, eps]` of the pixels' shape, from the device's generator.
pub fn uniform_start(pixels: &Tensor<4>, eps: f64) -> Tensor<4> {
    Tensor::<4>::random(
        pixels.dims(),
        Distribution::Uniform(-eps, eps),
        &pixels.device(),
    )
}

/// Uniform noise in `[-eps, eps]` drawn per image under `key`; `restart` tells restarts apart.
pub fn keyed_uniform_start(
    pixels: &Tensor<4>,
    eps: f64,
    key: StartKey,
    restart: usize,
) -> Tensor<4> {
    let dims = pixels.dims();
    let per_image: usize = dims[1..].iter().product();
    let mut values = Vec::with_capacity(dims[0] * per_image);
    for image in key.first..key.first + dims[0] {
        let index = (image as u64) << 8 | restart as u64 & 0xff;
        let mut rng = Rng::new(key.seed, Stream::AttackStart, key.step, index);
        values.extend((0..per_image).map(|_| ((2.0 * rng.uniform() - 1.0) * eps) as f32));
    }
    Tensor::<1>::from_floats(values.as_slice(), &pixels.device()).reshape(dims)
}

/// One PGD run from `start` (projected first), without drawing anything: the signed steps of
/// `attack` from there.
pub fn pgd_from(
    pixels: &Tensor<4>,
    start: Tensor<4>,
    attack: Pgd,
    loss: &mut impl FnMut(Tensor<4>) -> Tensor<1>,
) -> Tensor<4> {
    let mut x = project(start, pixels, attack.eps).detach();
    for _ in 0..attack.steps {
        let (gradient, _) = input_gradient(&x, loss);
        let step = Tensor::from_inner(gradient.sign().mul_scalar(attack.step).inner());
        x = project(x.detach() + step, pixels, attack.eps).detach();
    }
    x
}

/// The adversarial pixels for clean `pixels` (detached, on the autodiff device), maximising
/// the per-example `loss` of normalised-or-not inputs as the closure defines.
pub fn pgd(
    pixels: &Tensor<4>,
    attack: Pgd,
    mut loss: impl FnMut(Tensor<4>) -> Tensor<1>,
) -> Tensor<4> {
    let [batch, ..] = pixels.dims();
    let mut best: Option<(Tensor<4>, Tensor<1>)> = None;
    for restart in 0..attack.restarts.max(1) {
        let start = match (attack.random_start, attack.start_key) {
            (true, Some(key)) => {
                pixels.clone() + keyed_uniform_start(pixels, attack.eps, key, restart)
            }
            (true, None) => pixels.clone() + uniform_start(pixels, attack.eps),
            (false, _) => pixels.clone(),
        };
        let x = pgd_from(pixels, start, attack, &mut loss);
        let final_loss = loss(x.clone()).detach();
        best = Some(match best {
            None => (x, final_loss),
            Some((kept, kept_loss)) => {
                // Per example, the restart with the higher loss wins.
                let better = final_loss.clone().greater(kept_loss.clone());
                let mask = better
                    .clone()
                    .reshape([batch, 1, 1, 1])
                    .expand(pixels.dims());
                (
                    kept.mask_where(mask, x),
                    kept_loss.mask_where(better, final_loss),
                )
            }
        });
    }
    best.map(|(x, _)| x.detach())
        .unwrap_or_else(|| pixels.clone())
}
