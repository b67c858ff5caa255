//! One type for every image classifier, so the engine, checkpoints and optimizers handle them
//! uniformly (Burn modules are not object-safe; an enum is), and the registry of classifier
//! architectures. Both come from one list: adding an architecture is one line here.

use super::architecture::{Arch, Architecture, Entry, build, check};
use super::cifar_resnet::CifarResNet;
use super::preact_resnet::PreActResNet;
use super::resnet::ResNet;
use super::small_cnn::SmallCnn;
use super::vit::Vit;
use super::wide_resnet::WideResNet;
use burn::prelude::*;

macro_rules! classifiers {
    ($($arch:literal => $variant:ident: $about:literal),* $(,)?) => {
        #[derive(Module, Debug)]
        pub enum Classifier {
            $($variant($variant)),*
        }

        impl Classifier {
            /// Logits `[B, classes]` for normalised images `[B, C, H, W]`.
            pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
                match self {
                    $(Classifier::$variant(m) => Architecture::forward(m, images)),*
                }
            }

            /// The penultimate activations `[B, D]` (the input of the final linear layer),
            /// e.g. as features for a Fréchet distance.
            pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
                match self {
                    $(Classifier::$variant(m) => Architecture::features(m, images)),*
                }
            }
        }

        $(impl From<$variant> for Classifier {
            fn from(model: $variant) -> Self {
                Classifier::$variant(model)
            }
        })*

        /// The classifier architectures, by `arch` name.
        pub const CLASSIFIERS: &[Entry] = &[$(Entry {
            name: $arch,
            description: $about,
            item: Arch {
                check: check::<$variant>,
                build: Some(build::<$variant>),
            },
        }),*];
    };
}

classifiers! {
    "resnet" => ResNet: "ResNet-18/34/50 for small images (3x3 stem, no max-pool; stem = imagenet for torchvision's)",
    "preact_resnet" => PreActResNet: "pre-activation ResNet (He et al. 2016b)",
    "wide_resnet" => WideResNet: "Wide ResNet-depth-k (Zagoruyko & Komodakis)",
    "cifar_resnet" => CifarResNet: "He et al.'s CIFAR ResNet-(6n+2)",
    "small_cnn" => SmallCnn: "small conv-BN-ReLU-pool network",
    "vit" => Vit: "Vision Transformer (pre-norm, DeiT defaults)",
}
