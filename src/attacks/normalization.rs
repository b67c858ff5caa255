//! Moving between pixels in [0, 1] and the normalised inputs a model sees.

use burn::prelude::*;

/// Per-channel mean and standard deviation of a dataset (its config's `mean`, `std`).
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    fn per_channel(values: &[f32], device: &Device) -> Tensor<4> {
        Tensor::<1>::from_floats(values, device).reshape([1, values.len(), 1, 1])
    }

    /// `(pixels - mean) / std`.
    pub fn to_model(&self, pixels: Tensor<4>) -> Tensor<4> {
        let device = pixels.device();
        (pixels - Self::per_channel(&self.mean, &device)) / Self::per_channel(&self.std, &device)
    }

    /// `normalised * std + mean`.
    pub fn to_pixels(&self, normalised: Tensor<4>) -> Tensor<4> {
        let device = normalised.device();
        normalised * Self::per_channel(&self.std, &device) + Self::per_channel(&self.mean, &device)
    }
}
