//! The `[model]` section: which architecture, with which hyper-parameters. Presets in the
//! top-level models/ folder are instances of this. Adding an architecture: a file in this
//! folder, a variant here and its arm in [`ModelSpec::build`].

use super::Classifier;
use super::cifar_resnet::CifarResNet;
use super::preact_resnet::PreActResNet;
use super::resnet::{BlockKind, ResNet};
use super::small_cnn::{Head, SmallCnn};
use super::unet::UNetConfig;
use super::vit::{Pool, Vit, VitConfig};
use super::wide_resnet::WideResNet;
use crate::usage_error;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    /// ResNet-18/34/50 for small images.
    Resnet {
        block: BlockKind,
        layers: Vec<usize>,
        #[serde(default = "resnet_widths")]
        widths: Vec<usize>,
    },
    /// Pre-activation ResNet.
    PreactResnet {
        layers: Vec<usize>,
        #[serde(default = "resnet_widths")]
        widths: Vec<usize>,
    },
    /// Wide ResNet-depth-k.
    WideResnet {
        depth: usize,
        widen_factor: usize,
        #[serde(default)]
        dropout: f64,
    },
    /// He et al.'s CIFAR ResNet-(6n+2).
    CifarResnet { depth: usize },
    /// Small conv-BN-ReLU-pool network.
    SmallCnn {
        widths: Vec<usize>,
        #[serde(default = "one")]
        convs_per_stage: usize,
        #[serde(default)]
        dropout: f64,
        /// `avg` (global average pool) or `flatten` (all pooled pixels) before the head.
        #[serde(default)]
        head: Head,
    },
    /// Vision Transformer (pre-norm, DeiT defaults).
    Vit {
        /// Patch side in pixels; image sides must be multiples of it.
        patch: usize,
        /// Token width.
        dim: usize,
        /// Encoder blocks.
        depth: usize,
        /// Attention heads (must divide `dim`).
        heads: usize,
        #[serde(default = "mlp_ratio")]
        mlp_ratio: f64,
        /// `cls` (class token) or `avg` (mean of patch tokens).
        #[serde(default)]
        pool: Pool,
        /// Stochastic depth rate of the last block.
        #[serde(default)]
        drop_path: f64,
    },
    /// The DDPM UNet, the denoiser of the `ddpm` and `edm` recipes (not a classifier).
    Unet {
        /// Base channel count (the release's 32 norm groups need a multiple of 32; other
        /// counts use gcd(32, channels) groups).
        ch: usize,
        /// Channel multiplier of each resolution level; each level after the first halves
        /// the resolution.
        ch_mult: Vec<usize>,
        /// Residual blocks per level.
        res_blocks: usize,
        /// Resolutions (image sides) with self-attention after each block.
        #[serde(default)]
        attn_resolutions: Vec<usize>,
        #[serde(default)]
        dropout: f64,
    },
}

fn mlp_ratio() -> f64 {
    4.0
}

fn resnet_widths() -> Vec<usize> {
    vec![64, 128, 256, 512]
}

fn one() -> usize {
    1
}

impl ModelSpec {
    /// Checks the hyper-parameters, naming the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let fail = |key: &str, what: &str| Err(usage_error!("key `model.{key}`: {what}"));
        let probability = |p: f64| (0.0..1.0).contains(&p);
        match self {
            ModelSpec::Resnet { layers, widths, .. }
            | ModelSpec::PreactResnet { layers, widths } => {
                if layers.is_empty() || layers.contains(&0) {
                    return fail(
                        "layers",
                        "expected a non-empty list of positive block counts",
                    );
                }
                if widths.len() != layers.len() || widths.contains(&0) {
                    return fail(
                        "widths",
                        "expected one positive width per entry of `layers`",
                    );
                }
            }
            ModelSpec::WideResnet {
                depth,
                widen_factor,
                dropout,
            } => {
                if *depth < 10 || (depth - 4) % 6 != 0 {
                    return fail("depth", &format!("expected 6n+4 with n >= 1, got {depth}"));
                }
                if *widen_factor == 0 {
                    return fail("widen_factor", "expected a positive integer");
                }
                if !probability(*dropout) {
                    return fail("dropout", "expected a probability in [0, 1)");
                }
            }
            ModelSpec::CifarResnet { depth } => {
                if *depth < 8 || (depth - 2) % 6 != 0 {
                    return fail("depth", &format!("expected 6n+2 with n >= 1, got {depth}"));
                }
            }
            ModelSpec::Vit {
                patch,
                dim,
                depth,
                heads,
                mlp_ratio,
                drop_path,
                ..
            } => {
                if *patch == 0 || *dim == 0 || *depth == 0 || *heads == 0 {
                    return fail("patch", "patch, dim, depth and heads must be positive");
                }
                if dim % heads != 0 {
                    return fail("heads", "expected a divisor of `dim`");
                }
                if !(mlp_ratio.is_finite() && *mlp_ratio > 0.0) {
                    return fail("mlp_ratio", "expected a positive number");
                }
                if !probability(*drop_path) {
                    return fail("drop_path", "expected a probability in [0, 1)");
                }
            }
            ModelSpec::Unet {
                ch,
                ch_mult,
                res_blocks,
                dropout,
                ..
            } => {
                if *ch == 0 {
                    return fail("ch", "expected a positive channel count");
                }
                if ch_mult.is_empty() || ch_mult.contains(&0) {
                    return fail(
                        "ch_mult",
                        "expected a non-empty list of positive multipliers",
                    );
                }
                if *res_blocks == 0 {
                    return fail("res_blocks", "expected a positive integer");
                }
                if !probability(*dropout) {
                    return fail("dropout", "expected a probability in [0, 1)");
                }
            }
            ModelSpec::SmallCnn {
                widths,
                convs_per_stage,
                dropout,
                ..
            } => {
                if widths.is_empty() || widths.contains(&0) {
                    return fail("widths", "expected a non-empty list of positive widths");
                }
                if *convs_per_stage == 0 {
                    return fail("convs_per_stage", "expected a positive integer");
                }
                if !probability(*dropout) {
                    return fail("dropout", "expected a probability in [0, 1)");
                }
            }
        }
        Ok(())
    }

    /// Builds the model for `[channels, height, width]` images and `num_classes` classes.
    pub fn build(
        &self,
        input: [usize; 3],
        num_classes: usize,
        device: &Device,
    ) -> anyhow::Result<Classifier> {
        self.validate()?;
        let [in_channels, height, width] = input;
        Ok(match self {
            ModelSpec::Unet { .. } => {
                return Err(usage_error!(
                    "key `model.arch`: `unet` is a denoiser for the ddpm and edm recipes, not a classifier"
                ));
            }
            ModelSpec::Resnet {
                block,
                layers,
                widths,
            } => Classifier::ResNet(ResNet::new(
                *block,
                layers,
                widths,
                in_channels,
                num_classes,
                device,
            )),
            ModelSpec::PreactResnet { layers, widths } => Classifier::PreActResNet(
                PreActResNet::new(layers, widths, in_channels, num_classes, device),
            ),
            ModelSpec::WideResnet {
                depth,
                widen_factor,
                dropout,
            } => Classifier::WideResNet(WideResNet::new(
                *depth,
                *widen_factor,
                *dropout,
                in_channels,
                num_classes,
                device,
            )),
            ModelSpec::CifarResnet { depth } => {
                Classifier::CifarResNet(CifarResNet::new(*depth, in_channels, num_classes, device))
            }
            ModelSpec::Vit {
                patch,
                dim,
                depth,
                heads,
                mlp_ratio,
                pool,
                drop_path,
            } => {
                if height % patch != 0 || width % patch != 0 {
                    return Err(usage_error!(
                        "key `model.patch`: {height}x{width} images are not a whole number of {patch}x{patch} patches"
                    ));
                }
                let config = VitConfig {
                    patch: *patch,
                    dim: *dim,
                    depth: *depth,
                    heads: *heads,
                    mlp_ratio: *mlp_ratio,
                    pool: *pool,
                    drop_path: *drop_path,
                };
                Classifier::Vit(Vit::new(&config, input, num_classes, device))
            }
            ModelSpec::SmallCnn {
                widths,
                convs_per_stage,
                dropout,
                head,
            } => {
                let pooled = [height, width].map(|side| side >> widths.len());
                if *head == Head::Flatten && pooled.contains(&0) {
                    return Err(crate::usage_error!(
                        "key `model.head`: {height}x{width} images pooled {} times leave no pixels to flatten",
                        widths.len()
                    ));
                }
                Classifier::SmallCnn(SmallCnn::new(
                    widths,
                    *convs_per_stage,
                    *dropout,
                    *head,
                    in_channels,
                    pooled,
                    num_classes,
                    device,
                ))
            }
        })
    }
}

impl ModelSpec {
    /// The UNet configuration for `[channels, side, side]` images, with optional class and
    /// augmentation-label conditioning; an error for any other architecture or image shape.
    pub fn unet_config(
        &self,
        input: [usize; 3],
        num_classes: Option<usize>,
        aug_dim: Option<usize>,
    ) -> anyhow::Result<UNetConfig> {
        self.validate()?;
        let ModelSpec::Unet {
            ch,
            ch_mult,
            res_blocks,
            attn_resolutions,
            dropout,
        } = self
        else {
            return Err(usage_error!(
                "key `model.arch`: diffusion recipes need arch = \"unet\" (e.g. model.name = \"unet_small\")"
            ));
        };
        let [channels, height, width] = input;
        let halvings = ch_mult.len() - 1;
        if height != width || height % (1 << halvings) != 0 {
            return Err(usage_error!(
                "key `model.ch_mult`: {} levels halve the side {halvings} times, which needs square \
                 images with a side divisible by {}; the data is {height}x{width}",
                ch_mult.len(),
                1 << halvings
            ));
        }
        Ok(UNetConfig {
            ch: *ch,
            ch_mult: ch_mult.clone(),
            res_blocks: *res_blocks,
            attn_resolutions: attn_resolutions.clone(),
            dropout: *dropout,
            in_channels: channels,
            out_channels: channels,
            resolution: height,
            num_classes,
            aug_dim,
        })
    }
}
