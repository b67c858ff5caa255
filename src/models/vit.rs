//! Vision Transformer (Dosovitskiy et al.; DeiT's training-friendly defaults) for small images:
//! a patch embedding (a conv with kernel = stride = patch), a class token or global average
//! pooling, learned position embeddings, pre-norm encoder blocks (multi-head self-attention
//! whose softmax is stoke's two-pass kernel, an MLP with GELU), stochastic depth growing
//! linearly over the blocks, a final LayerNorm and a linear head. LayerNorm epsilon 1e-6 and
//! biases everywhere, as timm's `VisionTransformer`, so the parameter counts of DeiT-Tiny and
//! DeiT-Small at 224x224 are reproduced exactly (tests/models.rs).

use super::architecture::Architecture;
use crate::kernels::softmax::softmax;
use crate::models::layers::NormInF32;
use burn::module::{Flag, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use serde::{Deserialize, Serialize};

/// How the token sequence becomes one feature vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// A learned class token, read out after the last block.
    #[default]
    Cls,
    /// The mean of the patch tokens (no class token).
    Avg,
}

/// Hyper-parameters of a ViT.
#[derive(Clone, Debug, PartialEq)]
pub struct VitConfig {
    pub patch: usize,
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_ratio: f64,
    pub pool: Pool,
    /// Stochastic depth rate of the last block (0 for the first, linear in between).
    pub drop_path: f64,
}

const LN_EPS: f64 = 1e-6;

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    // timm initialises ViT linears with a truncated normal of std 0.02; a normal of std 0.02
    // differs only beyond 2 std (4.6% of draws).
    LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(device)
}

#[derive(Module, Debug)]
pub struct Attention {
    qkv: Linear,
    proj: Linear,
    heads: usize,
}

impl Attention {
    fn new(dim: usize, heads: usize, device: &Device) -> Self {
        Self {
            qkv: linear(dim, 3 * dim, device),
            proj: linear(dim, dim, device),
            heads,
        }
    }

    /// `[B, N, D] -> [B, N, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, tokens, dim] = x.dims();
        let head_dim = dim / self.heads;
        // [B, N, 3, H, Dh] -> [3, B, H, N, Dh]
        let qkv = self
            .qkv
            .forward(x)
            .reshape([batch, tokens, 3, self.heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let part = |i: usize| -> Tensor<4> { qkv.clone().narrow(0, i, 1).squeeze_dim(0) };
        let (q, k, v) = (part(0), part(1), part(2));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar((head_dim as f64).powf(-0.5));
        let attention = softmax(scores, 3);
        let out = attention
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, tokens, dim]);
        self.proj.forward(out)
    }
}

#[derive(Module, Debug)]
pub struct Block {
    norm1: LayerNorm,
    attention: Attention,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    drop_path: f64,
    /// Whether stochastic depth is on: cleared by `freeze` (evaluation on the training
    /// device, as attacks and per-example gradients run), like Burn's own dropout.
    training: Param<Flag>,
}

/// Drops the whole residual branch per sample with probability `p` (training only), scaling
/// the kept ones by 1/(1-p).
fn drop_path(x: Tensor<3>, p: f64, training: bool) -> Tensor<3> {
    if p == 0.0 || !training || !x.device().is_autodiff() {
        return x;
    }
    let [batch, _, _] = x.dims();
    let keep = Tensor::<3>::random([batch, 1, 1], Distribution::Bernoulli(1.0 - p), &x.device())
        .cast(FloatDType::from(x.dtype()));
    x * keep.div_scalar(1.0 - p)
}

impl Block {
    fn new(dim: usize, heads: usize, hidden: usize, drop_path: f64, device: &Device) -> Self {
        Self {
            norm1: LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device),
            attention: Attention::new(dim, heads, device),
            norm2: LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device),
            fc1: linear(dim, hidden, device),
            fc2: linear(hidden, dim, device),
            drop_path,
            training: Param::from_bool(true),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let attended = self.attention.forward(self.norm1.forward_f32(x.clone()));
        let training = self.training.is_enabled();
        let x = x + drop_path(attended, self.drop_path, training);
        let hidden =
            burn::tensor::activation::gelu(self.fc1.forward(self.norm2.forward_f32(x.clone())));
        x.clone() + drop_path(self.fc2.forward(hidden), self.drop_path, training)
    }
}

#[derive(Module, Debug)]
pub struct Vit {
    patch_embed: Conv2d,
    cls_token: Option<Param<Tensor<3>>>,
    pos_embed: Param<Tensor<3>>,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head: Linear,
}

impl Vit {
    /// A ViT for `[in_channels, height, width]` images; the sides must be multiples of the
    /// patch (checked by the spec).
    pub fn new(config: &VitConfig, input: [usize; 3], num_classes: usize, device: &Device) -> Self {
        let [in_channels, height, width] = input;
        let patches = (height / config.patch) * (width / config.patch);
        let hidden = (config.dim as f64 * config.mlp_ratio).round() as usize;
        let tokens = patches + usize::from(config.pool == Pool::Cls);
        let normal = |shape: [usize; 3], std: f64| {
            Param::from_tensor(Tensor::<3>::random(
                shape,
                Distribution::Normal(0.0, std),
                device,
            ))
        };
        let blocks = (0..config.depth)
            .map(|i| {
                let rate = if config.depth > 1 {
                    config.drop_path * i as f64 / (config.depth - 1) as f64
                } else {
                    config.drop_path
                };
                Block::new(config.dim, config.heads, hidden, rate, device)
            })
            .collect();
        Self {
            patch_embed: Conv2dConfig::new([in_channels, config.dim], [config.patch, config.patch])
                .with_stride([config.patch, config.patch])
                .init(device),
            cls_token: (config.pool == Pool::Cls).then(|| normal([1, 1, config.dim], 1e-6)),
            pos_embed: normal([1, tokens, config.dim], 0.02),
            blocks,
            norm: LayerNormConfig::new(config.dim)
                .with_epsilon(LN_EPS)
                .init(device),
            head: linear(config.dim, num_classes, device),
        }
    }

    /// Logits `[B, classes]` for normalised images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(images))
    }

    /// The input of the classification head: the class token or the mean patch token.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let patches = self.patch_embed.forward(images); // [B, D, h, w]
        let [batch, dim, h, w] = patches.dims();
        let mut x = patches.reshape([batch, dim, h * w]).swap_dims(1, 2); // [B, N, D]
        if let Some(cls) = &self.cls_token {
            x = Tensor::cat(vec![cls.val().expand([batch, 1, dim]), x], 1);
        }
        let mut x = x + self.pos_embed.val();
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.norm.forward_f32(x);
        match self.cls_token {
            Some(_) => x.narrow(1, 0, 1).squeeze_dim(1),
            None => x.mean_dim(1).squeeze_dim(1),
        }
    }
}

/// The `[model]` options of `arch = "vit"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitOptions {
    /// Patch side in pixels; image sides must be multiples of it.
    pub patch: usize,
    /// Token width.
    pub dim: usize,
    /// Encoder blocks.
    pub depth: usize,
    /// Attention heads (must divide `dim`).
    pub heads: usize,
    #[serde(default = "mlp_ratio")]
    pub mlp_ratio: f64,
    /// `cls` (class token) or `avg` (mean of patch tokens).
    #[serde(default)]
    pub pool: Pool,
    /// Stochastic depth rate of the last block.
    #[serde(default)]
    pub drop_path: f64,
}

fn mlp_ratio() -> f64 {
    4.0
}

impl Architecture for Vit {
    type Options = VitOptions;

    fn check(o: &VitOptions) -> anyhow::Result<()> {
        if o.patch == 0 || o.dim == 0 || o.depth == 0 || o.heads == 0 {
            return Err(crate::usage_error!(
                "key `model.patch`: patch, dim, depth and heads must be positive"
            ));
        }
        if !o.dim.is_multiple_of(o.heads) {
            return Err(crate::usage_error!(
                "key `model.heads`: expected a divisor of `dim`"
            ));
        }
        if !(o.mlp_ratio.is_finite() && o.mlp_ratio > 0.0) {
            return Err(crate::usage_error!(
                "key `model.mlp_ratio`: expected a positive number"
            ));
        }
        super::architecture::check_probability("drop_path", o.drop_path)
    }

    fn build(
        o: &VitOptions,
        input: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let [_, height, width] = input;
        let patch = o.patch;
        if height % patch != 0 || width % patch != 0 {
            return Err(crate::usage_error!(
                "key `model.patch`: {height}x{width} images are not a whole number of {patch}x{patch} patches"
            ));
        }
        let config = VitConfig {
            patch,
            dim: o.dim,
            depth: o.depth,
            heads: o.heads,
            mlp_ratio: o.mlp_ratio,
            pool: o.pool,
            drop_path: o.drop_path,
        };
        Ok(Vit::new(&config, input, classes, device))
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        Vit::forward(self, images)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        Vit::features(self, images)
    }
}
