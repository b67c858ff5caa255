//! "FID-classifier": Fréchet distances in the feature space of a classifier stoke trained
//! itself (the penultimate activations of a classification run), for machines without the
//! Inception weights. The numbers rank models on one dataset; they are not comparable to
//! published FIDs.

use super::features::FeatureExtractor;
use crate::attacks::Normalization;
use crate::config::RunConfig;
use crate::models::Classifier;
use crate::train::checkpoint::load_model;
use crate::usage_error;
use anyhow::Context;
use burn::prelude::*;
use std::path::Path;

pub struct ClassifierFeatures {
    model: Classifier,
    norm: Normalization,
    /// `[channels, height, width]` of the images it was trained on.
    pub input: [usize; 3],
}

impl ClassifierFeatures {
    /// The classifier of a run's checkpoint (a recipe whose model is a plain classifier:
    /// erm, pgd-at, trades, ...), as an inference model on `device`.
    pub fn load(config: &RunConfig, checkpoint: &Path, device: &Device) -> anyhow::Result<Self> {
        let data = crate::datasets::load(&config.dataset, config.seed)?;
        let input = [data.train.channels, data.train.height, data.train.width];
        let model = config
            .model
            .build(input, data.num_classes(), device)
            .with_context(|| format!("the classifier of {}", checkpoint.display()))?;
        let model = load_model(checkpoint, model).map_err(|e| {
            usage_error!(
                "{}: not the checkpoint of a plain classifier (recipe `{}`): {e:#}",
                checkpoint.display(),
                config.recipe.name
            )
        })?;
        Ok(Self {
            model,
            norm: crate::recipes::adversarial::normalization(config),
            input,
        })
    }
}

impl FeatureExtractor for ClassifierFeatures {
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        self.model.features(self.norm.to_model(images))
    }
}
