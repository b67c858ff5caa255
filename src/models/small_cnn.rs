//! A small CNN for quick runs on 28x28 or 32x32 images: one stage per entry of `widths`, each
//! `convs_per_stage` 3x3 conv-BN-ReLU layers followed by a 2x2 max-pool, then global average
//! pooling, dropout and a linear head.

use super::layers::{ConvBn, global_avg_pool};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct SmallCnn {
    convs: Vec<ConvBn>,
    convs_per_stage: usize,
    pool: MaxPool2d,
    dropout: Dropout,
    head: Linear,
}

impl SmallCnn {
    pub fn new(
        widths: &[usize],
        convs_per_stage: usize,
        dropout: f64,
        in_channels: usize,
        num_classes: usize,
        device: &Device,
    ) -> Self {
        let mut convs = Vec::new();
        let mut channels = in_channels;
        for &width in widths {
            for _ in 0..convs_per_stage {
                convs.push(ConvBn::new(channels, width, 3, 1, device));
                channels = width;
            }
        }
        Self {
            convs,
            convs_per_stage,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dropout: DropoutConfig::new(dropout).init(),
            head: LinearConfig::new(channels, num_classes).init(device),
        }
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        for stage in self.convs.chunks(self.convs_per_stage) {
            for layer in stage {
                x = layer.forward_relu(x);
            }
            x = self.pool.forward(x);
        }
        self.head.forward(self.dropout.forward(global_avg_pool(x)))
    }
}
