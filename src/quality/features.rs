//! The interface between feature networks and Fréchet distances, and batched extraction.

use anyhow::ensure;
use burn::prelude::*;

/// A network that maps images to feature vectors for Fréchet distances.
pub trait FeatureExtractor {
    /// Features `[B, D]` of images `[B, C, H, W]` with pixel values in [0, 1].
    fn features(&self, images: Tensor<4>) -> Tensor<2>;
}

/// Runs `extractor` over `images` `[N, C, H, W]` in batches of at most `batch_size` (memory:
/// the network's activations for one batch) and returns one host row of `D` features per image,
/// in order, as f64 for [`FeatureStats::from_rows`](super::fid::FeatureStats::from_rows).
pub fn collect_features(
    extractor: &(impl FeatureExtractor + ?Sized),
    images: Tensor<4>,
    batch_size: usize,
) -> anyhow::Result<Vec<Vec<f64>>> {
    ensure!(
        batch_size > 0,
        "feature batch size: expected at least 1, got 0"
    );
    let [count, ..] = images.dims();
    let mut rows = Vec::with_capacity(count);
    for start in (0..count).step_by(batch_size) {
        let end = (start + batch_size).min(count);
        let features = extractor.features(images.clone().slice(start..end));
        let [batch, dim] = features.dims();
        ensure!(
            batch == end - start && dim > 0,
            "feature extractor: expected {} rows of at least one feature for images \
             {start}..{end}, got [{batch}, {dim}]",
            end - start
        );
        let values: Vec<f64> = features.into_data().iter::<f64>().collect();
        rows.extend(values.chunks(dim).map(<[f64]>::to_vec));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// Features = per-channel means: easy to check by hand.
    struct ChannelMeans;

    impl FeatureExtractor for ChannelMeans {
        fn features(&self, images: Tensor<4>) -> Tensor<2> {
            let [b, c, h, w] = images.dims();
            images.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
        }
    }

    #[test]
    fn rows_come_back_in_order_across_uneven_batches() {
        let device = Device::flex();
        let values: Vec<f32> = (0..5 * 2 * 4).map(|i| (i / 4) as f32).collect();
        let images = Tensor::<1>::from_floats(values.as_slice(), &device).reshape([5, 2, 2, 2]);
        let rows = collect_features(&ChannelMeans, images, 2).unwrap();
        let expected: Vec<Vec<f64>> = (0..5)
            .map(|b| vec![(2 * b) as f64, (2 * b + 1) as f64])
            .collect();
        assert_eq!(rows, expected);
        let zero = Tensor::<4>::zeros([1, 1, 1, 1], &device);
        assert!(collect_features(&ChannelMeans, zero, 0).is_err());
    }
}
