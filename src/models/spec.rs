//! The `[model]` section: which architecture, with which hyper-parameters. Presets in the
//! top-level models/ folder are instances of this. Adding an architecture: a file in this
//! folder, a variant here and its arm in [`ModelSpec::build`].

use super::Classifier;
use super::cifar_resnet::CifarResNet;
use super::preact_resnet::PreActResNet;
use super::resnet::{BlockKind, ResNet};
use super::small_cnn::{Head, SmallCnn};
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
