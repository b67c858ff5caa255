//! ResNet for small images, the common CIFAR variant (He et al. 2016 as adapted by most CIFAR
//! code): 3x3 stride-1 stem with 64 filters, no max-pool, four stages of widths 64/128/256/512
//! with strides 1/2/2/2, BasicBlock (ResNet-18/34) or Bottleneck (ResNet-50), global average
//! pool and a linear head. Shortcuts are identity, or 1x1 conv + BN when the shape changes.
//! `stem = "imagenet"` is torchvision's stem instead: 7x7 stride-2 convolution, batch norm,
//! ReLU and a 3x3 stride-2 max-pool (the layout `stoke import` maps torchvision names onto).

use super::architecture::Architecture;
use super::layers::{ConvBn, batch_norm, block_plan, conv, global_avg_pool};
use crate::models::layers::NormInF32;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Basic,
    Bottleneck,
}

impl BlockKind {
    /// Output channels per unit of stage width.
    fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    shortcut: Option<ConvBn>,
}

impl BasicBlock {
    fn new(in_channels: usize, width: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv(in_channels, width, 3, stride, device),
            bn1: batch_norm(width, device),
            conv2: conv(width, width, 3, 1, device),
            bn2: batch_norm(width, device),
            shortcut: (stride != 1 || in_channels != width)
                .then(|| ConvBn::new(in_channels, width, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward_f32(self.conv1.forward(x.clone())));
        let out = self.bn2.forward_f32(self.conv2.forward(out));
        let skip = match &self.shortcut {
            Some(projection) => projection.forward(x),
            None => x,
        };
        relu(out + skip)
    }
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    shortcut: Option<ConvBn>,
}

impl Bottleneck {
    fn new(in_channels: usize, width: usize, stride: usize, device: &Device) -> Self {
        let out_channels = width * BlockKind::Bottleneck.expansion();
        Self {
            conv1: conv(in_channels, width, 1, 1, device),
            bn1: batch_norm(width, device),
            conv2: conv(width, width, 3, stride, device),
            bn2: batch_norm(width, device),
            conv3: conv(width, out_channels, 1, 1, device),
            bn3: batch_norm(out_channels, device),
            shortcut: (stride != 1 || in_channels != out_channels)
                .then(|| ConvBn::new(in_channels, out_channels, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward_f32(self.conv1.forward(x.clone())));
        let out = relu(self.bn2.forward_f32(self.conv2.forward(out)));
        let out = self.bn3.forward_f32(self.conv3.forward(out));
        let skip = match &self.shortcut {
            Some(projection) => projection.forward(x),
            None => x,
        };
        relu(out + skip)
    }
}

// Boxing a variant would hide it from Burn's module derive; the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ResidualBlock {
    Basic(BasicBlock),
    Bottleneck(Bottleneck),
}

impl ResidualBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ResidualBlock::Basic(block) => block.forward(x),
            ResidualBlock::Bottleneck(block) => block.forward(x),
        }
    }
}

/// The first layers of a ResNet (`stem`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stem {
    /// 3x3 stride-1 convolution, no pooling (small images).
    #[default]
    Cifar,
    /// torchvision's: 7x7 stride-2 convolution and a 3x3 stride-2 max-pool.
    Imagenet,
}

#[derive(Module, Debug)]
pub struct ResNet {
    stem: ConvBn,
    /// Whether the stem is torchvision's (max-pool after it).
    imagenet_stem: bool,
    blocks: Vec<ResidualBlock>,
    head: Linear,
}

impl ResNet {
    pub fn new(
        block: BlockKind,
        layers: &[usize],
        widths: &[usize],
        in_channels: usize,
        num_classes: usize,
        device: &Device,
    ) -> Self {
        Self::with_stem(
            block,
            layers,
            widths,
            Stem::Cifar,
            in_channels,
            num_classes,
            device,
        )
    }

    pub fn with_stem(
        block: BlockKind,
        layers: &[usize],
        widths: &[usize],
        stem: Stem,
        in_channels: usize,
        num_classes: usize,
        device: &Device,
    ) -> Self {
        let imagenet_stem = stem == Stem::Imagenet;
        let stem = match stem {
            Stem::Cifar => ConvBn::new(in_channels, widths[0], 3, 1, device),
            Stem::Imagenet => ConvBn::new(in_channels, widths[0], 7, 2, device),
        };
        let blocks: Vec<ResidualBlock> = block_plan(widths[0], layers, widths, block.expansion())
            .into_iter()
            .map(|b| match block {
                BlockKind::Basic => {
                    ResidualBlock::Basic(BasicBlock::new(b.in_channels, b.width, b.stride, device))
                }
                BlockKind::Bottleneck => ResidualBlock::Bottleneck(Bottleneck::new(
                    b.in_channels,
                    b.width,
                    b.stride,
                    device,
                )),
            })
            .collect();
        let channels = widths[widths.len() - 1] * block.expansion();
        Self {
            stem,
            imagenet_stem,
            blocks,
            head: LinearConfig::new(channels, num_classes).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    /// The input of the classification head.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward_relu(x);
        if self.imagenet_stem {
            x = MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init()
                .forward(x);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        global_avg_pool(x)
    }
}

/// The `[model]` options of `arch = "resnet"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetOptions {
    pub block: BlockKind,
    /// Blocks per stage.
    pub layers: Vec<usize>,
    /// Widths of the stages.
    #[serde(default = "super::layers::resnet_widths")]
    pub widths: Vec<usize>,
    /// `cifar` (3x3, no pooling) or `imagenet` (torchvision's 7x7 stride 2 and max-pool).
    #[serde(default, skip_serializing_if = "is_cifar")]
    pub stem: Stem,
}

fn is_cifar(stem: &Stem) -> bool {
    *stem == Stem::Cifar
}

impl Architecture for ResNet {
    type Options = ResNetOptions;

    fn check(o: &ResNetOptions) -> anyhow::Result<()> {
        super::layers::check_stages(&o.layers, &o.widths)
    }

    fn build(
        o: &ResNetOptions,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        Ok(ResNet::with_stem(
            o.block, &o.layers, &o.widths, o.stem, input[0], classes, device,
        ))
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        ResNet::forward(self, images)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        ResNet::features(self, images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With torchvision's stem, 3 input channels and 1000 classes the parameter counts are
    /// torchvision's resnet18 and resnet50 (`sum(p.numel() for p in m.parameters())`).
    #[test]
    fn the_imagenet_stem_gives_torchvisions_parameter_counts() {
        let device = Device::flex();
        let widths = [64, 128, 256, 512];
        let count = |block, layers: &[usize]| {
            let model = ResNet::with_stem(block, layers, &widths, Stem::Imagenet, 3, 1000, &device);
            crate::models::trainable_params(&model)
        };
        assert_eq!(count(BlockKind::Basic, &[2, 2, 2, 2]), 11_689_512);
        assert_eq!(count(BlockKind::Bottleneck, &[3, 4, 6, 3]), 25_557_032);
    }
}
