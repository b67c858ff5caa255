//! The DDPM UNet (Ho et al., 2020; the architecture of the official release as ported in
//! `pesser/pytorch_diffusion`): residual blocks with group norm, swish, a projection of the
//! noise embedding and dropout; self-attention (stoke's softmax) at the listed resolutions;
//! strided-conv downsampling with the release's asymmetric (0, 1, 0, 1) padding; nearest
//! upsampling and a conv; skip connections from every down-path activation.
//!
//! The noise level enters through the sinusoidal embedding of the release (of the timestep
//! for DDPM, of `c_noise` for EDM) and two linear layers. Optional additions for stoke's
//! recipes, absent from the release and from its parameter count: a class embedding (class-
//! conditional sampling) and a linear embedding of an augmentation label (ScoreAug), both
//! added to the noise embedding.

use crate::kernels::softmax::softmax;
use crate::models::layers::NormInF32;
use crate::usage_error;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, Linear,
    LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::sigmoid;

/// Hyper-parameters of a UNet. The CIFAR-10 DDPM model: `ch 128, ch_mult [1, 2, 2, 2],
/// res_blocks 2, attn_resolutions [16], dropout 0.1` on 3x32x32 (35,746,307 parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct UNetConfig {
    pub ch: usize,
    pub ch_mult: Vec<usize>,
    pub res_blocks: usize,
    pub attn_resolutions: Vec<usize>,
    pub dropout: f64,
    pub in_channels: usize,
    pub out_channels: usize,
    pub resolution: usize,
    /// Classes of a class-conditional model (None: unconditional).
    pub num_classes: Option<usize>,
    /// Length of the augmentation label vector (None: no augmentation conditioning).
    pub aug_dim: Option<usize>,
}

/// Group norm as the release: 32 groups, eps 1e-6.
const GROUPS: usize = 32;
const GN_EPS: f64 = 1e-6;

/// Group norm with the release's 32 groups; narrower models (not in the release) use the
/// largest group count dividing the channels, gcd(32, channels).
fn group_norm(channels: usize, device: &Device) -> GroupNorm {
    let (mut a, mut b) = (GROUPS, channels);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    GroupNormConfig::new(a, channels)
        .with_epsilon(GN_EPS)
        .init(device)
}

fn conv(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([in_ch, out_ch], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device)
}

fn swish<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() * sigmoid(x)
}

/// The release's sinusoidal embedding of `values` `[B]`: `[sin(v f_i), cos(v f_i)]` with
/// `f_i = exp(-ln(10000) i / (half - 1))`, zero-padded to an odd `dim`.
pub fn sinusoidal_embedding(values: Tensor<1>, dim: usize) -> Tensor<2> {
    let [batch] = values.dims();
    let half = dim / 2;
    let scale = (10000f64).ln() / (half.max(2) - 1) as f64;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(i as f64) * scale).exp() as f32)
        .collect();
    let device = values.device();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device)
        .cast(FloatDType::from(values.dtype()))
        .reshape([1, half]);
    let args = values.reshape([batch, 1]) * freqs;
    let mut emb = Tensor::cat(vec![args.clone().sin(), args.cos()], 1);
    if dim % 2 == 1 {
        let zeros = Tensor::zeros([batch, 1], (&device, emb.dtype()));
        emb = Tensor::cat(vec![emb, zeros], 1);
    }
    emb
}

#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    temb_proj: Linear,
    norm2: GroupNorm,
    dropout: Dropout,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl ResBlock {
    fn new(in_ch: usize, out_ch: usize, temb_ch: usize, dropout: f64, device: &Device) -> Self {
        Self {
            norm1: group_norm(in_ch, device),
            conv1: conv(in_ch, out_ch, 3, 1, 1, device),
            temb_proj: LinearConfig::new(temb_ch, out_ch).init(device),
            norm2: group_norm(out_ch, device),
            dropout: DropoutConfig::new(dropout).init(),
            conv2: conv(out_ch, out_ch, 3, 1, 1, device),
            shortcut: (in_ch != out_ch).then(|| conv(in_ch, out_ch, 1, 1, 0, device)),
        }
    }

    fn forward(&self, x: Tensor<4>, temb: &Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(swish(self.norm1.forward_f32(x.clone())));
        let [batch, channels, ..] = h.dims();
        let t = self
            .temb_proj
            .forward(swish(temb.clone()))
            .reshape([batch, channels, 1, 1]);
        let h = h + t;
        let h = self
            .conv2
            .forward(self.dropout.forward(swish(self.norm2.forward_f32(h))));
        let x = match &self.shortcut {
            Some(shortcut) => shortcut.forward(x),
            None => x,
        };
        x + h
    }
}

/// Single-head self-attention over the pixels, with 1x1 convolutions for q, k, v and out.
#[derive(Module, Debug)]
pub struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj_out: Conv2d,
}

impl AttnBlock {
    fn new(ch: usize, device: &Device) -> Self {
        Self {
            norm: group_norm(ch, device),
            q: conv(ch, ch, 1, 1, 0, device),
            k: conv(ch, ch, 1, 1, 0, device),
            v: conv(ch, ch, 1, 1, 0, device),
            proj_out: conv(ch, ch, 1, 1, 0, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let normed = self.norm.forward_f32(x.clone());
        let tokens = |t: Tensor<4>| t.reshape([b, c, h * w]).swap_dims(1, 2); // [B, HW, C]
        let q = tokens(self.q.forward(normed.clone()));
        let k = tokens(self.k.forward(normed.clone()));
        let v = tokens(self.v.forward(normed));
        let scores = q
            .matmul(k.swap_dims(1, 2))
            .mul_scalar((c as f64).powf(-0.5));
        let attended = softmax(scores, 2).matmul(v); // [B, HW, C]
        let out = attended.swap_dims(1, 2).reshape([b, c, h, w]);
        x + self.proj_out.forward(out)
    }
}

/// One resolution of the down or up path.
#[derive(Module, Debug)]
pub struct Level {
    blocks: Vec<ResBlock>,
    attns: Vec<AttnBlock>,
    /// Downsampling (stride 2) or upsampling (after nearest x2) convolution.
    resample: Option<Conv2d>,
}

#[derive(Module, Debug)]
pub struct UNet {
    temb_dense0: Linear,
    temb_dense1: Linear,
    class_embed: Option<Embedding>,
    aug_embed: Option<Linear>,
    conv_in: Conv2d,
    down: Vec<Level>,
    mid_block1: ResBlock,
    mid_attn: AttnBlock,
    mid_block2: ResBlock,
    /// In the order they run: lowest resolution first.
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    ch: usize,
    resolution: usize,
}

/// Nearest-neighbour x2 upsampling.
fn upsample_nearest(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

impl UNet {
    pub fn new(config: &UNetConfig, device: &Device) -> anyhow::Result<Self> {
        let c = config;
        if c.ch == 0 || c.ch_mult.is_empty() || c.res_blocks == 0 || c.resolution == 0 {
            return Err(usage_error!(
                "unet: ch, ch_mult, res_blocks and resolution must be positive"
            ));
        }
        let temb_ch = 4 * c.ch;
        let levels = c.ch_mult.len();
        let mut res = c.resolution;
        let mut block_in = c.ch;
        // Channels of each down-path activation, consumed in reverse by the up path.
        let mut skips = vec![c.ch];
        let mut down = Vec::new();
        for level in 0..levels {
            let block_out = c.ch * c.ch_mult[level];
            let (mut blocks, mut attns) = (Vec::new(), Vec::new());
            for _ in 0..c.res_blocks {
                blocks.push(ResBlock::new(
                    block_in, block_out, temb_ch, c.dropout, device,
                ));
                block_in = block_out;
                if c.attn_resolutions.contains(&res) {
                    attns.push(AttnBlock::new(block_in, device));
                }
                skips.push(block_in);
            }
            let resample = (level + 1 != levels).then(|| {
                res /= 2;
                skips.push(block_in);
                // Stride 2 after padding right and bottom by one (the release's (0, 1, 0, 1)).
                Conv2dConfig::new([block_in, block_in], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
                    .init(device)
            });
            down.push(Level {
                blocks,
                attns,
                resample,
            });
        }
        let mid_block1 = ResBlock::new(block_in, block_in, temb_ch, c.dropout, device);
        let mid_attn = AttnBlock::new(block_in, device);
        let mid_block2 = ResBlock::new(block_in, block_in, temb_ch, c.dropout, device);
        let mut up = Vec::new();
        for level in (0..levels).rev() {
            let block_out = c.ch * c.ch_mult[level];
            let (mut blocks, mut attns) = (Vec::new(), Vec::new());
            for _ in 0..=c.res_blocks {
                let skip = skips.pop().expect("one skip per up block");
                blocks.push(ResBlock::new(
                    block_in + skip,
                    block_out,
                    temb_ch,
                    c.dropout,
                    device,
                ));
                block_in = block_out;
                if c.attn_resolutions.contains(&res) {
                    attns.push(AttnBlock::new(block_in, device));
                }
            }
            let resample = (level != 0).then(|| {
                res *= 2;
                conv(block_in, block_in, 3, 1, 1, device)
            });
            up.push(Level {
                blocks,
                attns,
                resample,
            });
        }
        Ok(Self {
            temb_dense0: LinearConfig::new(c.ch, temb_ch).init(device),
            temb_dense1: LinearConfig::new(temb_ch, temb_ch).init(device),
            class_embed: c
                .num_classes
                .map(|n| EmbeddingConfig::new(n, temb_ch).init(device)),
            aug_embed: c
                .aug_dim
                .map(|d| LinearConfig::new(d, temb_ch).with_bias(false).init(device)),
            conv_in: conv(c.in_channels, c.ch, 3, 1, 1, device),
            down,
            mid_block1,
            mid_attn,
            mid_block2,
            up,
            norm_out: group_norm(block_in, device),
            conv_out: conv(block_in, c.out_channels, 3, 1, 1, device),
            ch: c.ch,
            resolution: c.resolution,
        })
    }

    /// The network output `[B, out, H, W]` for inputs `x` `[B, in, H, W]` at noise values
    /// `noise` `[B]` (timesteps or `c_noise`), with optional class labels `[B]` and
    /// augmentation labels `[B, aug_dim]`.
    pub fn forward(
        &self,
        x: Tensor<4>,
        noise: Tensor<1>,
        classes: Option<Tensor<1, Int>>,
        augmentation: Option<Tensor<2>>,
    ) -> Tensor<4> {
        let mut temb = self.temb_dense1.forward(swish(
            self.temb_dense0
                .forward(sinusoidal_embedding(noise, self.ch)),
        ));
        if let (Some(embed), Some(classes)) = (&self.class_embed, classes) {
            let [batch] = classes.dims();
            let e: Tensor<3> = embed.forward(classes.reshape([batch, 1]));
            temb = temb + e.reshape([batch, self.ch * 4]);
        }
        if let (Some(embed), Some(augmentation)) = (&self.aug_embed, augmentation) {
            temb = temb + embed.forward(augmentation);
        }
        let mut skips = vec![self.conv_in.forward(x)];
        for level in &self.down {
            for (i, block) in level.blocks.iter().enumerate() {
                let mut h = block.forward(skips.last().expect("input").clone(), &temb);
                if let Some(attn) = level.attns.get(i) {
                    h = attn.forward(h);
                }
                skips.push(h);
            }
            if let Some(resample) = &level.resample {
                skips.push(resample.forward(skips.last().expect("input").clone()));
            }
        }
        let mut h = skips.last().expect("input").clone();
        h = self.mid_block1.forward(h, &temb);
        h = self.mid_attn.forward(h);
        h = self.mid_block2.forward(h, &temb);
        for level in &self.up {
            for (i, block) in level.blocks.iter().enumerate() {
                let skip = skips.pop().expect("one skip per up block");
                h = block.forward(Tensor::cat(vec![h, skip], 1), &temb);
                if let Some(attn) = level.attns.get(i) {
                    h = attn.forward(h);
                }
            }
            if let Some(resample) = &level.resample {
                h = resample.forward(upsample_nearest(h));
            }
        }
        self.conv_out.forward(swish(self.norm_out.forward_f32(h)))
    }

    pub fn resolution(&self) -> usize {
        self.resolution
    }

    /// Image channels in (and out).
    pub fn channels(&self) -> usize {
        self.conv_in.weight.dims()[1]
    }

    /// Classes of a class-conditional model.
    pub fn num_classes(&self) -> Option<usize> {
        self.class_embed.as_ref().map(|e| e.weight.dims()[0])
    }

    /// Whether the model takes augmentation labels.
    pub fn takes_augmentation(&self) -> bool {
        self.aug_embed.is_some()
    }
}

/// The `[model]` options of `arch = "unet"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetOptions {
    /// Base channel count (the release's 32 norm groups need a multiple of 32; other counts
    /// use gcd(32, channels) groups).
    pub ch: usize,
    /// Channel multiplier of each resolution level; each level after the first halves the
    /// resolution.
    pub ch_mult: Vec<usize>,
    /// Residual blocks per level.
    pub res_blocks: usize,
    /// Resolutions (image sides) with self-attention after each block.
    #[serde(default)]
    pub attn_resolutions: Vec<usize>,
    #[serde(default)]
    pub dropout: f64,
}

fn check(o: &UNetOptions) -> anyhow::Result<()> {
    if o.ch == 0 {
        return Err(usage_error!(
            "key `model.ch`: expected a positive channel count"
        ));
    }
    if o.ch_mult.is_empty() || o.ch_mult.contains(&0) {
        return Err(usage_error!(
            "key `model.ch_mult`: expected a non-empty list of positive multipliers"
        ));
    }
    if o.res_blocks == 0 {
        return Err(usage_error!(
            "key `model.res_blocks`: expected a positive integer"
        ));
    }
    super::architecture::check_probability("dropout", o.dropout)
}

/// The registry's check of `arch = "unet"`: the options with defaults filled.
pub fn check_options(options: &toml::Table) -> anyhow::Result<toml::Table> {
    super::architecture::checked::<UNetOptions>(options, check).map(|(_, table)| table)
}

impl UNetConfig {
    /// The configuration for `[channels, side, side]` images from the `[model]` options, with
    /// optional class and augmentation-label conditioning.
    pub fn from_options(
        options: &toml::Table,
        input: [usize; 3],
        num_classes: Option<usize>,
        aug_dim: Option<usize>,
    ) -> anyhow::Result<UNetConfig> {
        let (o, _) = super::architecture::checked::<UNetOptions>(options, check)?;
        let [channels, height, width] = input;
        let halvings = o.ch_mult.len() - 1;
        if height != width || height % (1 << halvings) != 0 {
            return Err(usage_error!(
                "key `model.ch_mult`: {} levels halve the side {halvings} times, which needs square \
                 images with a side divisible by {}; the data is {height}x{width}",
                o.ch_mult.len(),
                1 << halvings
            ));
        }
        Ok(UNetConfig {
            ch: o.ch,
            ch_mult: o.ch_mult,
            res_blocks: o.res_blocks,
            attn_resolutions: o.attn_resolutions,
            dropout: o.dropout,
            in_channels: channels,
            out_channels: channels,
            resolution: height,
            num_classes,
            aug_dim,
        })
    }
}
