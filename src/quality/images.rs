//! Image sets as `[N, C, H, W]` tensors of values in [0, 1], the input of feature extractors.

use crate::datasets::ImageSet;
use crate::diffusion::generate::GeneratedImages;
use burn::prelude::*;
use burn::tensor::TensorData;

/// A dataset split's images (all of them).
pub fn split_tensor(set: &ImageSet, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = set.pixels.iter().map(|&p| p as f32 / 255.0).collect();
    Tensor::from_data(
        TensorData::new(values, [set.len(), set.channels, set.height, set.width]),
        device,
    )
}

/// Generated images.
pub fn generated_tensor(images: &GeneratedImages, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(images.pixels.clone(), images.shape), device)
}
