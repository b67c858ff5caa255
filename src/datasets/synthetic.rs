//! A seeded synthetic image-classification set for tests and smoke runs: each class is a
//! fixed random pattern (a sum of sinusoidal gratings per channel) and each image is its class
//! pattern at a random contrast plus Gaussian noise. Learnable, but not trivially.

use super::image_set::ImageSet;
use crate::rng::{Rng, Stream};

#[derive(Clone, Copy, Debug)]
pub struct SyntheticSpec {
    pub num_classes: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// `len` images of split `split` (0 = train, 1 = test); the same seed gives the same class
/// patterns in both splits and the same images every time.
pub fn generate(spec: SyntheticSpec, len: usize, split: u64, seed: u64) -> ImageSet {
    let plane = spec.height * spec.width;
    let patterns: Vec<Vec<f64>> = (0..spec.num_classes)
        .map(|class| class_pattern(spec, seed, class))
        .collect();
    let mut pixels = Vec::with_capacity(len * spec.channels * plane);
    let mut labels = Vec::with_capacity(len);
    for index in 0..len {
        let mut rng = Rng::new(seed, Stream::Synthetic, split + 1, index as u64);
        let class = rng.below(spec.num_classes as u64) as usize;
        let contrast = 0.6 + 0.4 * rng.uniform();
        for &value in &patterns[class] {
            let v = 0.5 + contrast * (value - 0.5) + 0.12 * rng.normal();
            pixels.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
        labels.push(class as u32);
    }
    ImageSet {
        pixels,
        labels,
        channels: spec.channels,
        height: spec.height,
        width: spec.width,
        num_classes: spec.num_classes,
    }
}

/// Values in [0, 1], CHW order.
fn class_pattern(spec: SyntheticSpec, seed: u64, class: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed, Stream::Synthetic, 0, class as u64);
    let mut out = Vec::with_capacity(spec.channels * spec.height * spec.width);
    for _ in 0..spec.channels {
        let gratings: Vec<[f64; 4]> = (0..2)
            .map(|_| {
                let angle = rng.uniform() * std::f64::consts::PI;
                let frequency = 0.5 + 2.5 * rng.uniform();
                let phase = rng.uniform() * std::f64::consts::TAU;
                [angle.cos(), angle.sin(), frequency, phase]
            })
            .collect();
        for y in 0..spec.height {
            for x in 0..spec.width {
                let (u, v) = (x as f64 / spec.width as f64, y as f64 / spec.height as f64);
                let sum: f64 = gratings
                    .iter()
                    .map(|[cx, sy, f, p]| (std::f64::consts::TAU * f * (cx * u + sy * v) + p).sin())
                    .sum();
                out.push(0.5 + 0.25 * sum);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: SyntheticSpec = SyntheticSpec {
        num_classes: 3,
        channels: 2,
        height: 8,
        width: 6,
    };

    #[test]
    fn deterministic_and_shaped() {
        let a = generate(SPEC, 50, 0, 9);
        assert_eq!(a, generate(SPEC, 50, 0, 9));
        assert_ne!(a, generate(SPEC, 50, 0, 10));
        assert_ne!(a.pixels, generate(SPEC, 50, 1, 9).pixels);
        assert_eq!(a.pixels.len(), 50 * 2 * 8 * 6);
        assert!(a.labels.iter().all(|&l| l < 3));
        // All classes appear in 50 draws (probability of missing one is ~3 * (2/3)^50).
        assert!((0..3).all(|c| a.labels.contains(&c)));
    }
}
