//! The original CIFAR ResNets (He et al. 2016, section 4.2): depth 6n+2, a 3x3 stem of 16
//! filters, three stages of n BasicBlocks with 16/32/64 filters, and the paper's option-A
//! shortcut (stride-2 subsampling plus zero channels), so the shortcuts have no parameters
//! (ResNet-20: 0.27M parameters).

use super::architecture::Architecture;
use super::layers::{ConvBn, block_plan, global_avg_pool};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct CifarBlock {
    first: ConvBn,
    second: ConvBn,
    /// Channels of zeros added on each side of the subsampled input (option A), if any.
    pad_channels: usize,
    subsample: Option<MaxPool2d>,
}

impl CifarBlock {
    fn new(in_channels: usize, width: usize, stride: usize, device: &Device) -> Self {
        Self {
            first: ConvBn::new(in_channels, width, 3, stride, device),
            second: ConvBn::new(width, width, 3, 1, device),
            pad_channels: (width - in_channels) / 2,
            // A 1x1 max-pool with stride 2 is exactly x[:, :, ::2, ::2].
            subsample: (stride != 1).then(|| {
                MaxPool2dConfig::new([1, 1])
                    .with_strides([stride, stride])
                    .init()
            }),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = self.second.forward(self.first.forward_relu(x.clone()));
        let mut skip = match &self.subsample {
            Some(pool) => pool.forward(x),
            None => x,
        };
        if self.pad_channels > 0 {
            let [b, _, h, w] = skip.dims();
            let zeros = Tensor::zeros([b, self.pad_channels, h, w], (&skip.device(), skip.dtype()));
            skip = Tensor::cat(vec![zeros.clone(), skip, zeros], 1);
        }
        relu(out + skip)
    }
}

#[derive(Module, Debug)]
pub struct CifarResNet {
    stem: ConvBn,
    blocks: Vec<CifarBlock>,
    head: Linear,
}

impl CifarResNet {
    /// `depth` must be 6n+2.
    pub fn new(depth: usize, in_channels: usize, num_classes: usize, device: &Device) -> Self {
        let per_stage = (depth - 2) / 6;
        let blocks: Vec<CifarBlock> = block_plan(16, &[per_stage; 3], &[16, 32, 64], 1)
            .into_iter()
            .map(|b| CifarBlock::new(b.in_channels, b.width, b.stride, device))
            .collect();
        let channels = 64;
        Self {
            stem: ConvBn::new(in_channels, 16, 3, 1, device),
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
        for block in &self.blocks {
            x = block.forward(x);
        }
        global_avg_pool(x)
    }
}

/// The `[model]` options of `arch = "cifar_resnet"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CifarResNetOptions {
    /// 6n+2.
    pub depth: usize,
}

impl Architecture for CifarResNet {
    type Options = CifarResNetOptions;

    fn check(o: &CifarResNetOptions) -> anyhow::Result<()> {
        if o.depth < 8 || !(o.depth - 2).is_multiple_of(6) {
            return Err(crate::usage_error!(
                "key `model.depth`: expected 6n+2 with n >= 1, got {}",
                o.depth
            ));
        }
        Ok(())
    }

    fn build(
        o: &CifarResNetOptions,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        Ok(CifarResNet::new(o.depth, input[0], classes, device))
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        CifarResNet::forward(self, images)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        CifarResNet::features(self, images)
    }
}
