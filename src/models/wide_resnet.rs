//! Wide ResNet-depth-k (Zagoruyko & Komodakis 2016), the layout of the authors' code and of
//! TRADES/AWP: 3x3 stem of 16 filters, three groups of (depth-4)/6 pre-activation blocks of
//! widths 16k/32k/64k (strides 1/2/2) with optional dropout between the convs, final BN-ReLU,
//! global average pool, linear head.

use super::architecture::Architecture;
use super::layers::{batch_norm, block_plan, conv, global_avg_pool};
use crate::models::layers::NormInF32;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct WideBlock {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    dropout: Dropout,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl WideBlock {
    fn new(in_channels: usize, width: usize, stride: usize, dropout: f64, device: &Device) -> Self {
        Self {
            bn1: batch_norm(in_channels, device),
            conv1: conv(in_channels, width, 3, stride, device),
            bn2: batch_norm(width, device),
            dropout: DropoutConfig::new(dropout).init(),
            conv2: conv(width, width, 3, 1, device),
            shortcut: (in_channels != width).then(|| conv(in_channels, width, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let activated = relu(self.bn1.forward_f32(x.clone()));
        let skip = match &self.shortcut {
            Some(projection) => projection.forward(activated.clone()),
            None => x,
        };
        let out = relu(self.bn2.forward_f32(self.conv1.forward(activated)));
        self.conv2.forward(self.dropout.forward(out)) + skip
    }
}

#[derive(Module, Debug)]
pub struct WideResNet {
    stem: Conv2d,
    blocks: Vec<WideBlock>,
    bn: BatchNorm,
    head: Linear,
}

impl WideResNet {
    /// `depth` must be 6n+4.
    pub fn new(
        depth: usize,
        widen_factor: usize,
        dropout: f64,
        in_channels: usize,
        num_classes: usize,
        device: &Device,
    ) -> Self {
        let per_group = (depth - 4) / 6;
        let widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor];
        let blocks: Vec<WideBlock> = block_plan(16, &[per_group; 3], &widths, 1)
            .into_iter()
            .map(|b| WideBlock::new(b.in_channels, b.width, b.stride, dropout, device))
            .collect();
        let channels = widths[2];
        Self {
            stem: conv(in_channels, 16, 3, 1, device),
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

/// The `[model]` options of `arch = "wide_resnet"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WideResNetOptions {
    /// 6n+4.
    pub depth: usize,
    pub widen_factor: usize,
    #[serde(default)]
    pub dropout: f64,
}

impl Architecture for WideResNet {
    type Options = WideResNetOptions;

    fn check(o: &WideResNetOptions) -> anyhow::Result<()> {
        if o.depth < 10 || !(o.depth - 4).is_multiple_of(6) {
            return Err(crate::usage_error!(
                "key `model.depth`: expected 6n+4 with n >= 1, got {}",
                o.depth
            ));
        }
        if o.widen_factor == 0 {
            return Err(crate::usage_error!(
                "key `model.widen_factor`: expected a positive integer"
            ));
        }
        super::architecture::check_probability("dropout", o.dropout)
    }

    fn build(
        o: &WideResNetOptions,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        Ok(WideResNet::new(
            o.depth,
            o.widen_factor,
            o.dropout,
            input[0],
            classes,
            device,
        ))
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        WideResNet::forward(self, images)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        WideResNet::features(self, images)
    }
}
