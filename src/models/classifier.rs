//! One type for every image classifier, so the engine, checkpoints and optimizers handle them
//! uniformly (Burn modules are not object-safe; an enum is).

use super::cifar_resnet::CifarResNet;
use super::preact_resnet::PreActResNet;
use super::resnet::ResNet;
use super::small_cnn::SmallCnn;
use super::vit::Vit;
use super::wide_resnet::WideResNet;
use burn::prelude::*;

#[derive(Module, Debug)]
pub enum Classifier {
    ResNet(ResNet),
    PreActResNet(PreActResNet),
    WideResNet(WideResNet),
    CifarResNet(CifarResNet),
    SmallCnn(SmallCnn),
    Vit(Vit),
}

impl Classifier {
    /// Logits `[B, classes]` for normalised images `[B, C, H, W]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::ResNet(m) => m.forward(images),
            Classifier::PreActResNet(m) => m.forward(images),
            Classifier::WideResNet(m) => m.forward(images),
            Classifier::CifarResNet(m) => m.forward(images),
            Classifier::SmallCnn(m) => m.forward(images),
            Classifier::Vit(m) => m.forward(images),
        }
    }

    /// The penultimate activations `[B, D]` (the input of the final linear layer), e.g. as
    /// features for a Fréchet distance.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::ResNet(m) => m.features(images),
            Classifier::PreActResNet(m) => m.features(images),
            Classifier::WideResNet(m) => m.features(images),
            Classifier::CifarResNet(m) => m.features(images),
            Classifier::SmallCnn(m) => m.features(images),
            Classifier::Vit(m) => m.features(images),
        }
    }
}
