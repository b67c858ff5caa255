//! A batch of images and labels on a device: what the loader hands the engine, recipes train
//! on and attacks perturb. A leaf module (it depends on nothing of stoke but the host batch).

use crate::datasets::HostBatch;
use burn::prelude::*;
use burn::tensor::TensorData;

/// A batch on the training device.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Normalised images `[B, C, H, W]`.
    pub images: Tensor<4>,
    pub labels: Tensor<1, Int>,
    pub size: usize,
    /// Each image's index in its set (training or test), for per-example statistics; empty
    /// for batches made elsewhere than a stoke loader.
    pub indices: Vec<usize>,
}

impl Batch {
    /// Samples `start..start + len` of this batch.
    pub fn slice(&self, start: usize, len: usize) -> Batch {
        Batch {
            images: self.images.clone().narrow(0, start, len),
            labels: self.labels.clone().narrow(0, start, len),
            size: len,
            indices: self
                .indices
                .get(start..start + len)
                .map_or_else(Vec::new, <[usize]>::to_vec),
        }
    }
}

/// Moves a host batch onto `device`.
pub fn to_device(host: HostBatch, device: &Device) -> Batch {
    let size = host.shape[0];
    Batch {
        images: Tensor::from_data(TensorData::new(host.images, host.shape), device),
        labels: Tensor::from_data(TensorData::new(host.labels, [size]), device),
        size,
        indices: host.indices,
    }
}
