//! `erm`: standard supervised training (empirical risk minimisation) with cross-entropy,
//! optional label smoothing and optional MixUp.

use super::mixup::Mixing;
use super::{Batch, EvalSums, Recipe, StepContext, StepOutput};
use crate::attacks::Normalization;
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy};
use crate::models::Classifier;
use burn::prelude::*;
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErmOptions {
    /// Label smoothing epsilon in [0, 1).
    #[serde(default)]
    pub label_smoothing: f64,
    /// MixUp's alpha: each batch trains on lambda x + (1 - lambda) x_partner with
    /// lambda ~ Beta(alpha, alpha); 0 turns MixUp off (the original paper uses 1 on CIFAR).
    #[serde(default)]
    pub mixup: f64,
}

pub struct Erm {
    options: ErmOptions,
    norm: Normalization,
}

impl Recipe for Erm {
    type Model = Classifier;

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: ErmOptions = typed_section(&config.recipe.options, "recipe")?;
        if !(0.0..1.0).contains(&options.label_smoothing) {
            return Err(crate::usage_error!(
                "key `recipe.label_smoothing`: expected a value in [0, 1)"
            ));
        }
        if !(options.mixup.is_finite() && options.mixup >= 0.0) {
            return Err(crate::usage_error!(
                "key `recipe.mixup`: expected a non-negative Beta parameter (0: off), got {}",
                options.mixup
            ));
        }
        Ok(Self {
            options,
            norm: super::adversarial::normalization(config),
        })
    }

    fn supports_mixed_precision(&self) -> bool {
        true
    }

    fn train_loss(&mut self, model: &Classifier, batch: &Batch, ctx: &StepContext) -> StepOutput {
        let (smoothing, labels) = (self.options.label_smoothing, batch.labels.clone());
        let (loss, correct) = if self.options.mixup > 0.0 {
            let alpha = self.options.mixup;
            let mixing = Mixing::draw(alpha, ctx.seed, ctx.step, ctx.first, batch.size);
            let logits = model.forward(mixing.images(batch.images.clone()));
            // Accuracy against mixed labels is not meaningful.
            (mixing.loss(logits, labels, smoothing), None)
        } else {
            let logits = model.forward(batch.images.clone());
            let correct = count_correct(logits.clone().detach(), labels.clone());
            (cross_entropy(logits, labels, smoothing), Some(correct))
        };
        StepOutput {
            loss,
            correct,
            metrics: Vec::new(),
        }
    }
}

/// Clean cross-entropy and accuracy of a test batch (shared by the classification recipes).
pub fn clean_eval(model: &Classifier, batch: &Batch) -> EvalSums {
    logits_eval(model.forward(batch.images.clone()), batch)
}

/// Cross-entropy and accuracy of a test batch's `logits` (any classifying model).
pub fn logits_eval(logits: Tensor<2>, batch: &Batch) -> EvalSums {
    let correct = count_correct(logits.clone(), batch.labels.clone());
    let loss = cross_entropy(logits, batch.labels.clone(), 0.0).into_scalar::<f64>();
    EvalSums {
        loss_sum: loss * batch.size as f64,
        correct: Some(correct),
        count: batch.size,
        parts: Vec::new(),
    }
}
