//! MixUp (Zhang et al., 2018): train on convex combinations of pairs of examples and of their
//! labels. One weight lambda ~ Beta(alpha, alpha) per batch and a seeded permutation that
//! pairs every example with a partner, as the reference implementation (facebookresearch/
//! mixup-cifar10) does; the loss is lambda CE(y) + (1 - lambda) CE(y_partner), which is the
//! cross-entropy against the mixed one-hot labels. With several data-parallel ranks all
//! ranks share lambda and each pairs the examples of its own share of the batch (partners
//! from other ranks would need their images), so such a run differs from a one-process run.

use crate::loss::cross_entropy;
use crate::rng::{Rng, Stream};
use burn::prelude::*;

/// One batch's mixing.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixing {
    pub lambda: f64,
    /// `partner[i]`: the example mixed into example i.
    pub partner: Vec<usize>,
}

impl Mixing {
    /// The mixing of step `step` for a batch of `size` examples starting at `first` of the
    /// global batch: lambda a function of (seed, step), the partners of (seed, step,
    /// first), so resumed runs mix alike.
    pub fn draw(alpha: f64, seed: u64, step: usize, first: usize, size: usize) -> Mixing {
        let lambda = Rng::new(seed, Stream::Mixup, step as u64, u64::MAX).beta(alpha, alpha);
        let mut pairing = Rng::new(seed, Stream::Mixup, step as u64, first as u64);
        Mixing {
            lambda,
            partner: pairing.permutation(size),
        }
    }

    fn partners(&self, device: &Device) -> Tensor<1, Int> {
        let indices: Vec<i64> = self.partner.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(indices, [self.partner.len()]), device)
    }

    /// lambda x + (1 - lambda) x[partner].
    pub fn images(&self, images: Tensor<4>) -> Tensor<4> {
        let others = images.clone().select(0, self.partners(&images.device()));
        images * self.lambda + others * (1.0 - self.lambda)
    }

    /// lambda CE(logits, y) + (1 - lambda) CE(logits, y[partner]), each with `smoothing`.
    pub fn loss(&self, logits: Tensor<2>, labels: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
        let others = labels.clone().select(0, self.partners(&labels.device()));
        cross_entropy(logits.clone(), labels, smoothing) * self.lambda
            + cross_entropy(logits, others, smoothing) * (1.0 - self.lambda)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two examples, lambda and the partners given: the mixed images by hand, and the loss
    /// against log-softmax by hand.
    #[test]
    fn mixes_images_and_labels_by_hand() {
        let device = Device::default();
        let mixing = Mixing {
            lambda: 0.75,
            partner: vec![1, 0],
        };
        let images = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 4.0, 8.0, 12.0], [2, 1, 1, 2]),
            &device,
        );
        let mixed: Vec<f32> = mixing.images(images).into_data().iter::<f32>().collect();
        // 0.75 (0, 4) + 0.25 (8, 12) and 0.75 (8, 12) + 0.25 (0, 4).
        assert_eq!(mixed, vec![2.0, 6.0, 6.0, 10.0]);
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 0.0, 0.0], [2, 2]),
            &device,
        );
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &device);
        let loss: f32 = mixing.loss(logits, labels, 0.0).into_scalar();
        // Row 0: softmax (1/4, 3/4); row 1: (1/2, 1/2). Labels (0, 1), partners' (1, 0).
        let own = (4f64.ln() + 2f64.ln()) / 2.0;
        let partners = ((4.0f64 / 3.0).ln() + 2f64.ln()) / 2.0;
        let expected = 0.75 * own + 0.25 * partners;
        assert!(
            (loss as f64 - expected).abs() < 1e-6,
            "{loss} vs {expected}"
        );
    }

    #[test]
    fn draws_are_seeded_permutations() {
        let a = Mixing::draw(0.2, 5, 7, 0, 16);
        assert_eq!(a, Mixing::draw(0.2, 5, 7, 0, 16));
        assert_ne!(a, Mixing::draw(0.2, 5, 8, 0, 16));
        let mut sorted = a.partner.clone();
        sorted.sort();
        assert_eq!(sorted, (0..16).collect::<Vec<_>>());
        assert!((0.0..=1.0).contains(&a.lambda));
    }
}
