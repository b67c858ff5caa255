//! ScoreAug's transforms (Hou et al., arXiv 2508.07926; no official code): brightness
//! scaling, translation with zero padding, cutout and rotation by multiples of 90 degrees,
//! one per example (or the identity), applied *after* noising: the denoiser sees
//! `T(x_0 + sigma n)` and must output `T(x_0)` (an equivariant objective), conditioned on a
//! label vector describing `T` (zeros for the identity, which is what sampling uses).
//!
//! Every transform is linear in the image, so `T(x_0 + sigma n) = T(x_0) + sigma T(n)`: the
//! noise level the denoiser is told stays right, while the noise itself is transformed too.
//! Choices the paper leaves open, made here: brightness factors in [0.5, 1.5] (data in
//! [-1, 1] scaled about 0), shifts up to 1/8 of the side, one cutout square of half the side,
//! rotations by 90, 180 or 270 degrees (square images only).

use crate::rng::Rng;
use burn::prelude::*;
use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

/// The kinds of transform a run may draw from (`recipe.transforms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Brightness,
    Translate,
    Cutout,
    Rot90,
}

/// All four kinds, the default.
pub const KINDS: [Kind; 4] = [Kind::Brightness, Kind::Translate, Kind::Cutout, Kind::Rot90];

/// One example's transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transform {
    Identity,
    /// Multiply every pixel by the factor.
    Brightness(f64),
    /// Shift right by `dx` and down by `dy` pixels (negative: left / up), zeros coming in.
    Translate {
        dx: i64,
        dy: i64,
    },
    /// Zero the `size x size` square whose top-left corner is (`top`, `left`).
    Cutout {
        top: usize,
        left: usize,
        size: usize,
    },
    /// Rotate counter-clockwise by `quarters` x 90 degrees (1, 2 or 3).
    Rot90 {
        quarters: usize,
    },
}

/// Length of the augmentation label: [brightness - 1, dx / W, dy / H, cutout flag, cutout
/// centre y / H, cutout centre x / W, rot90 one-hot x 3].
pub const LABEL_DIM: usize = 9;

impl Transform {
    /// The conditioning vector; all zeros for the identity.
    pub fn label(&self, height: usize, width: usize) -> [f32; LABEL_DIM] {
        let mut l = [0.0f32; LABEL_DIM];
        match *self {
            Transform::Identity => {}
            Transform::Brightness(f) => l[0] = (f - 1.0) as f32,
            Transform::Translate { dx, dy } => {
                l[1] = dx as f32 / width as f32;
                l[2] = dy as f32 / height as f32;
            }
            Transform::Cutout { top, left, size } => {
                l[3] = 1.0;
                l[4] = (top as f32 + size as f32 / 2.0) / height as f32;
                l[5] = (left as f32 + size as f32 / 2.0) / width as f32;
            }
            Transform::Rot90 { quarters } => l[5 + quarters] = 1.0,
        }
        l
    }

    /// Applies the transform to one image `[1, C, H, W]` (or a batch sharing it).
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        match *self {
            Transform::Identity => x,
            Transform::Brightness(f) => x.mul_scalar(f),
            Transform::Translate { dx, dy } => {
                let (px, py) = (dx.unsigned_abs() as usize, dy.unsigned_abs() as usize);
                if px >= w || py >= h {
                    return x.zeros_like();
                }
                let padded = x.pad([(py, py), (px, px)], PadMode::Constant(0.0));
                // Shifting right by dx reads the window that starts dx columns left of centre.
                let top = (py as i64 - dy) as usize;
                let left = (px as i64 - dx) as usize;
                padded.narrow(2, top, h).narrow(3, left, w)
            }
            Transform::Cutout { top, left, size } => {
                let mut mask = vec![1.0f32; h * w];
                for row in top..(top + size).min(h) {
                    for col in left..(left + size).min(w) {
                        mask[row * w + col] = 0.0;
                    }
                }
                let mask = Tensor::<1>::from_floats(mask.as_slice(), &x.device())
                    .reshape([1, 1, h, w])
                    .expand([b, c, h, w]);
                x * mask
            }
            Transform::Rot90 { quarters } => {
                let mut y = x;
                for _ in 0..quarters % 4 {
                    // Counter-clockwise: new[i][j] = old[j][W - 1 - i].
                    y = y.flip([3]).swap_dims(2, 3);
                }
                y
            }
        }
    }

    /// Draws a transform: the identity with probability `1 - probability`, otherwise one of
    /// `kinds` uniformly with its parameters (rot90 only for square images).
    pub fn sample(
        rng: &mut Rng,
        probability: f64,
        kinds: &[Kind],
        height: usize,
        width: usize,
    ) -> Self {
        let usable: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|k| *k != Kind::Rot90 || height == width)
            .collect();
        if rng.uniform() >= probability || usable.is_empty() {
            return Transform::Identity;
        }
        let pick = ((rng.uniform() * usable.len() as f64) as usize).min(usable.len() - 1);
        match usable[pick] {
            Kind::Brightness => Transform::Brightness(0.5 + rng.uniform()),
            Kind::Translate => {
                let shift = |n: usize, r: f64| {
                    let max = (n / 8).max(1) as i64;
                    ((r * (2 * max + 1) as f64) as i64 - max).clamp(-max, max)
                };
                Transform::Translate {
                    dx: shift(width, rng.uniform()),
                    dy: shift(height, rng.uniform()),
                }
            }
            Kind::Cutout => {
                let size = (height.min(width) / 2).max(1);
                Transform::Cutout {
                    top: (rng.uniform() * (height - size + 1) as f64) as usize,
                    left: (rng.uniform() * (width - size + 1) as f64) as usize,
                    size,
                }
            }
            Kind::Rot90 => Transform::Rot90 {
                quarters: 1 + (rng.uniform() * 3.0) as usize % 3,
            },
        }
    }
}

/// Applies one transform per example of `x` `[B, C, H, W]`.
pub fn apply_each(x: Tensor<4>, transforms: &[Transform]) -> Tensor<4> {
    let [b, ..] = x.dims();
    assert_eq!(b, transforms.len(), "one transform per example");
    let parts = transforms
        .iter()
        .enumerate()
        .map(|(i, t)| t.apply(x.clone().narrow(0, i, 1)))
        .collect();
    Tensor::cat(parts, 0)
}

/// The labels of `transforms` as a `[B, LABEL_DIM]` tensor.
pub fn labels(transforms: &[Transform], height: usize, width: usize, device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = transforms
        .iter()
        .flat_map(|t| t.label(height, width))
        .collect();
    Tensor::<1>::from_floats(flat.as_slice(), device).reshape([transforms.len(), LABEL_DIM])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;
    use burn::tensor::{Device, Distribution, TensorData};

    fn image(values: Vec<f32>, h: usize, w: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, [1, 1, h, w]), &Device::flex())
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    const ALL: [Transform; 7] = [
        Transform::Identity,
        Transform::Brightness(1.3),
        Transform::Translate { dx: 1, dy: -2 },
        Transform::Cutout {
            top: 1,
            left: 2,
            size: 2,
        },
        Transform::Rot90 { quarters: 1 },
        Transform::Rot90 { quarters: 2 },
        Transform::Rot90 { quarters: 3 },
    ];

    #[test]
    fn every_transform_commutes_with_adding_scaled_noise() {
        // T(x + sigma n) = T(x) + sigma T(n): the noisy input's transform is the transformed
        // clean image plus transformed noise.
        let device = Device::flex();
        device.seed(5);
        let x = Tensor::<4>::random([1, 2, 5, 5], Distribution::Uniform(-1.0, 1.0), &device);
        let n = Tensor::<4>::random([1, 2, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        for t in ALL {
            let left = t.apply(x.clone() + n.clone().mul_scalar(0.7));
            let right = t.apply(x.clone()) + t.apply(n.clone()).mul_scalar(0.7);
            let gap = (left - right).abs().max().into_scalar::<f64>();
            assert!(gap < 1e-6, "{t:?}: {gap}");
        }
    }

    #[test]
    fn transforms_move_pixels_where_they_should() {
        // 3 x 3 image 1..9, row-major.
        let x = || image((1..=9).map(|v| v as f32).collect(), 3, 3);
        let shifted = Transform::Translate { dx: 1, dy: 0 }.apply(x());
        assert_eq!(values(shifted), vec![0., 1., 2., 0., 4., 5., 0., 7., 8.]);
        let up = Transform::Translate { dx: 0, dy: -1 }.apply(x());
        assert_eq!(values(up), vec![4., 5., 6., 7., 8., 9., 0., 0., 0.]);
        // Counter-clockwise quarter turn: the right column becomes the top row.
        let turned = Transform::Rot90 { quarters: 1 }.apply(x());
        assert_eq!(values(turned), vec![3., 6., 9., 2., 5., 8., 1., 4., 7.]);
        let four = (0..4).fold(x(), |y, _| Transform::Rot90 { quarters: 1 }.apply(y));
        assert_eq!(values(four), values(x()));
        let cut = Transform::Cutout {
            top: 0,
            left: 1,
            size: 2,
        }
        .apply(x());
        assert_eq!(values(cut), vec![1., 0., 0., 4., 0., 0., 7., 8., 9.]);
    }

    #[test]
    fn the_identity_has_the_zero_label_and_others_do_not() {
        assert_eq!(Transform::Identity.label(8, 8), [0.0; LABEL_DIM]);
        for t in &ALL[1..] {
            assert_ne!(t.label(8, 8), [0.0; LABEL_DIM], "{t:?}");
        }
    }

    #[test]
    fn sampling_respects_the_probability_and_stays_in_range() {
        let mut rng = Rng::new(0, Stream::Recipe, 0, 0);
        let draws: Vec<_> = (0..4000)
            .map(|_| Transform::sample(&mut rng, 0.5, &KINDS, 28, 28))
            .collect();
        let identity = draws.iter().filter(|t| **t == Transform::Identity).count();
        // Binomial(4000, 0.5): 5 standard deviations is 158.
        assert!((identity as i64 - 2000).abs() < 160, "{identity}");
        for t in &draws {
            match *t {
                Transform::Brightness(f) => assert!((0.5..1.5).contains(&f)),
                Transform::Translate { dx, dy } => assert!(dx.abs() <= 3 && dy.abs() <= 3),
                Transform::Cutout { top, left, size } => {
                    assert!(size == 14 && top + size <= 28 && left + size <= 28)
                }
                Transform::Rot90 { quarters } => assert!((1..=3).contains(&quarters)),
                Transform::Identity => {}
            }
        }
        let mut rng = Rng::new(0, Stream::Recipe, 0, 0);
        assert!(
            (0..100)
                .all(|_| Transform::sample(&mut rng, 0.0, &KINDS, 28, 28) == Transform::Identity)
        );
        // Only the kinds asked for; no rotation of non-square images.
        let only = [Kind::Brightness, Kind::Rot90];
        for _ in 0..200 {
            let t = Transform::sample(&mut rng, 1.0, &only, 28, 20);
            assert!(matches!(t, Transform::Brightness(_)), "{t:?}");
        }
    }

    #[test]
    fn each_example_gets_its_own_transform() {
        let device = Device::flex();
        let x = Tensor::<4>::ones([2, 1, 2, 2], &device);
        let y = apply_each(x, &[Transform::Identity, Transform::Brightness(2.0)]);
        assert_eq!(values(y), vec![1., 1., 1., 1., 2., 2., 2., 2.]);
        let l = labels(
            &[Transform::Identity, Transform::Brightness(2.0)],
            2,
            2,
            &device,
        );
        assert_eq!(l.dims(), [2, LABEL_DIM]);
    }
}
