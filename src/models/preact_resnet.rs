//! Pre-activation ResNet for small images (He et al. 2016, "Identity Mappings"), in the form
//! adversarial-training code uses (e.g. Wong et al.'s Fast-AT, Rice et al.): 3x3 stem without
//! BN, PreActBlocks (BN-ReLU-conv twice), a final BN-ReLU, global average pool, linear head.

use super::architecture::Architecture;
use super::layers::{batch_norm, block_plan, conv, global_avg_pool};
use crate::models::layers::NormInF32;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct PreActBlock {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
    /// 1x1 conv (no BN) on the pre-activated input when the shape changes.
    shortcut: Option<Conv2d>,
}

impl PreActBlock {
    pub fn new(in_channels: usize, width: usize, stride: usize, device: &Device) -> Self {
        Self {
            bn1: batch_norm(in_channels, device),
            conv1: conv(in_channels, width, 3, stride, device),
            bn2: batch_norm(width, device),
            conv2: conv(width, width, 3, 1, device),
            shortcut: (stride != 1 || in_channels != width)
                .then(|| conv(in_channels, width, 1, stride, device)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let activated = relu(self.bn1.forward_f32(x.clone()));
        let skip = match &self.shortcut {
            Some(projection) => projection.forward(activated.clone()),
            None => x,
        };
        let out = self.conv1.forward(activated);
        let out = self.conv2.forward(relu(self.bn2.forward_f32(out)));
        out + skip
    }
}

#[derive(Module, Debug)]
pub struct PreActResNet {
    stem: Conv2d,
    blocks: Vec<PreActBlock>,
    bn: BatchNorm,
    head: Linear,
}

impl PreActResNet {
    pub fn new(
        layers: &[usize],
        widths: &[usize],
        in_channels: usize,
        num_classes: usize,
        device: &Device,
    ) -> Self {
        let blocks: Vec<PreActBlock> = block_plan(widths[0], layers, widths, 1)
            .into_iter()
            .map(|b| PreActBlock::new(b.in_channels, b.width, b.stride, device))
            .collect();
        let channels = widths[widths.len() - 1];
        Self {
            stem: conv(in_channels, widths[0], 3, 1, device),
            blocks,
            bn: batch_norm(channels, device),
            head: LinearConfig::new(channels, num_classes).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    /// The input of the classification head.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        global_avg_pool(relu(self.bn.forward_f32(x)))
    }
}

/// The `[model]` options of `arch = "preact_resnet"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreActOptions {
    /// Blocks per stage.
    pub layers: Vec<usize>,
    /// Widths of the stages.
    #[serde(default = "super::layers::resnet_widths")]
    pub widths: Vec<usize>,
}

impl Architecture for PreActResNet {
    type Options = PreActOptions;

    fn check(o: &PreActOptions) -> anyhow::Result<()> {
        super::layers::check_stages(&o.layers, &o.widths)
    }

    fn build(
        o: &PreActOptions,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        Ok(PreActResNet::new(
            &o.layers, &o.widths, input[0], classes, device,
        ))
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        PreActResNet::forward(self, images)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        PreActResNet::features(self, images)
    }
}
