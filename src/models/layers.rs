//! Building blocks shared by the convolutional models.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, GroupNorm, LayerNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::relu;

/// A bias-free `k x k` convolution with "same" padding for odd `k`, as every ResNet uses.
pub fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// The weight of a batch's statistics in a batch norm's running statistics (PyTorch's 0.1;
/// soups recover a batch's statistics from one update with it).
pub const BATCH_NORM_MOMENTUM: f64 = 0.1;

/// Batch norm with PyTorch's defaults (momentum 0.1, eps 1e-5).
pub fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_momentum(BATCH_NORM_MOMENTUM)
        .init(device)
}

/// Normalisation in f32 whatever the input's precision (autocast's rule; see
/// [`crate::train::precision`]): the input is cast up, the layer's own f32 tensors and
/// running statistics are used, the output is cast back. Without mixed precision both casts
/// are no-ops.
pub trait NormInF32 {
    fn forward_f32<const D: usize>(&self, x: Tensor<D>) -> Tensor<D>;
}

macro_rules! norm_in_f32 {
    ($($norm:ty),*) => {$(
        impl NormInF32 for $norm {
            fn forward_f32<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
                let dtype = FloatDType::from(x.dtype());
                self.forward(x.cast(FloatDType::F32)).cast(dtype)
            }
        }
    )*};
}

norm_in_f32!(LayerNorm, GroupNorm);

impl NormInF32 for BatchNorm {
    /// Training mode (an autodiff device, the layer not frozen) goes through the fused
    /// kernel ([`crate::kernels::batch_norm`], `kernels.batch_norm`), inference through
    /// Burn's batch norm with the running statistics.
    fn forward_f32<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dtype = FloatDType::from(x.dtype());
        let x = x.cast(FloatDType::F32);
        let y = match x.device().is_autodiff() && self.training.is_enabled() {
            true => crate::kernels::batch_norm::forward_train(self, x),
            false => self.forward(x),
        };
        y.cast(dtype)
    }
}

/// Convolution followed by batch norm (no activation): stems and projection shortcuts.
#[derive(Module, Debug)]
pub struct ConvBn {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBn {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        device: &Device,
    ) -> Self {
        Self {
            conv: conv(in_channels, out_channels, kernel, stride, device),
            bn: batch_norm(out_channels, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward_f32(self.conv.forward(x))
    }

    pub fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.forward(x))
    }
}

/// Global average pooling: `[B, C, H, W] -> [B, C]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([batch, channels])
}

/// One residual block to build: its input channels, stage width and stride.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockPlan {
    pub in_channels: usize,
    pub width: usize,
    pub stride: usize,
}

/// The blocks of a ResNet-style network: `blocks[i]` blocks of width `widths[i]` per stage,
/// the first block of every stage but the first with stride 2, starting from `stem_channels`.
/// `expansion` is the ratio of a block's output channels to its width (4 for bottlenecks).
pub fn block_plan(
    stem_channels: usize,
    blocks: &[usize],
    widths: &[usize],
    expansion: usize,
) -> Vec<BlockPlan> {
    let mut channels = stem_channels;
    let mut plan = Vec::new();
    for (stage, (&count, &width)) in blocks.iter().zip(widths).enumerate() {
        for index in 0..count {
            let stride = if stage > 0 && index == 0 { 2 } else { 1 };
            plan.push(BlockPlan {
                in_channels: channels,
                width,
                stride,
            });
            channels = width * expansion;
        }
    }
    plan
}

/// The default stage widths of the ResNets.
pub fn resnet_widths() -> Vec<usize> {
    vec![64, 128, 256, 512]
}

/// Checks a ResNet's `layers` (blocks per stage) and `widths` (one per stage).
pub fn check_stages(layers: &[usize], widths: &[usize]) -> anyhow::Result<()> {
    if layers.is_empty() || layers.contains(&0) {
        return Err(crate::usage_error!(
            "key `model.layers`: expected a non-empty list of positive block counts"
        ));
    }
    if widths.len() != layers.len() || widths.contains(&0) {
        return Err(crate::usage_error!(
            "key `model.widths`: expected one positive width per entry of `layers`"
        ));
    }
    Ok(())
}
