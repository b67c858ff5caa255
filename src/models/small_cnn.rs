//! A small CNN for quick runs on 28x28 or 32x32 images: one stage per entry of `widths`, each
//! `convs_per_stage` 3x3 conv-BN-ReLU layers followed by a 2x2 max-pool, then either global
//! average pooling or flattening of the pooled maps, dropout and a linear head.

use super::architecture::Architecture;
use super::layers::{ConvBn, global_avg_pool};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How the last feature maps reach the linear head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Global average pooling: `channels` features, any input size.
    #[default]
    Avg,
    /// All pooled pixels: `channels * h * w` features; keeps where things are.
    Flatten,
}

#[derive(Module, Debug)]
pub struct SmallCnn {
    convs: Vec<ConvBn>,
    convs_per_stage: usize,
    pool: MaxPool2d,
    flatten: bool,
    dropout: Dropout,
    head: Linear,
}

impl SmallCnn {
    /// `pooled` is the `[height, width]` of the last feature maps (input size / 2^stages).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        widths: &[usize],
        convs_per_stage: usize,
        dropout: f64,
        head: Head,
        in_channels: usize,
        pooled: [usize; 2],
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
        let features = match head {
            Head::Avg => channels,
            Head::Flatten => channels * pooled[0] * pooled[1],
        };
        Self {
            convs,
            convs_per_stage,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            flatten: head == Head::Flatten,
            dropout: DropoutConfig::new(dropout).init(),
            head: LinearConfig::new(features, num_classes).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.dropout.forward(self.features(x)))
    }

    /// The input of the classification head (before dropout).
    pub fn features(&self, mut x: Tensor<4>) -> Tensor<2> {
        for stage in self.convs.chunks(self.convs_per_stage) {
            for layer in stage {
                x = layer.forward_relu(x);
            }
            // The 2x2 kernel (`kernels.max_pool`); `pool` stays in the module for its record.
            x = crate::kernels::max_pool::max_pool2x2(x);
        }
        if self.flatten {
            x.flatten(1, 3)
        } else {
            global_avg_pool(x)
        }
    }
}

/// The `[model]` options of `arch = "small_cnn"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallCnnOptions {
    /// Channels of each stage (each stage halves the image side).
    pub widths: Vec<usize>,
    #[serde(default = "one")]
    pub convs_per_stage: usize,
    #[serde(default)]
    pub dropout: f64,
    /// `avg` (global average pool) or `flatten` (all pooled pixels) before the head.
    #[serde(default)]
    pub head: Head,
}

fn one() -> usize {
    1
}

impl Architecture for SmallCnn {
    type Options = SmallCnnOptions;

    fn check(o: &SmallCnnOptions) -> anyhow::Result<()> {
        if o.widths.is_empty() || o.widths.contains(&0) {
            return Err(crate::usage_error!(
                "key `model.widths`: expected a non-empty list of positive widths"
            ));
        }
        if o.convs_per_stage == 0 {
            return Err(crate::usage_error!(
                "key `model.convs_per_stage`: expected a positive integer"
            ));
        }
        super::architecture::check_probability("dropout", o.dropout)
    }

    fn build(
        o: &SmallCnnOptions,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let [in_channels, height, width] = input;
        let pooled = [height, width].map(|side| side >> o.widths.len());
        if o.head == Head::Flatten && pooled.contains(&0) {
            return Err(crate::usage_error!(
                "key `model.head`: {height}x{width} images pooled {} times leave no pixels to flatten",
                o.widths.len()
            ));
        }
        Ok(SmallCnn::new(
            &o.widths,
            o.convs_per_stage,
            o.dropout,
            o.head,
            in_channels,
            pooled,
            classes,
            device,
        ))
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        SmallCnn::forward(self, images)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        SmallCnn::features(self, images)
    }
}
