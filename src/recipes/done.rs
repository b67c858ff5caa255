//! `done`: doubly robust instance reweighting (Sow, Lin, Wang & Liang, ICLR 2024), the
//! first-order version: PGD adversarial training in which the batch's adversarial losses are
//! reweighted by the KL-regularised DRO solution `w = softmax(l / r)` (detached), so the
//! hardest examples weigh most; `r` trades uniform weights (large r) for the worst case
//! (small r). The paper's implicit-differentiation algorithm is not implemented.

use super::adversarial::{
    AttackMode, check_iterative, clean_figures, figures, loss_and_accuracy, normalization,
    pgd_examples,
};
use super::{Batch, Recipe, StepContext, StepOutput};
use crate::attacks::Normalization;
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy_per_sample};
use crate::models::Classifier;
use crate::usage_error;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoneOptions {
    /// Budget in 1/255 units.
    pub eps: f64,
    /// Step size in 1/255 units.
    pub step: f64,
    pub steps: usize,
    /// Temperature of the KL-regularised weights.
    pub r: f64,
    /// `train` (batch statistics) or `eval`.
    pub attack_mode: AttackMode,
}

impl Default for DoneOptions {
    fn default() -> Self {
        Self {
            eps: 8.0,
            step: 2.0,
            steps: 10,
            r: 1.0,
            attack_mode: AttackMode::Train,
        }
    }
}

/// The DRO weights `softmax(losses / r)` over the batch (detached).
pub fn done_weights(losses: Tensor<1>, r: f64) -> Tensor<1> {
    softmax(losses.detach().div_scalar(r), 0)
}

/// The reweighted loss `sum_i w_i l_i`.
pub fn done_objective(losses: Tensor<1>, r: f64) -> Tensor<1> {
    (done_weights(losses.clone(), r) * losses).sum()
}

pub struct Done {
    options: DoneOptions,
    norm: Normalization,
}

impl Recipe for Done {
    type Model = Classifier;

    /// The batch's weights (or abnormal / normal means) couple its images.
    fn loss_couples_the_batch(&self) -> bool {
        true
    }

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: DoneOptions = typed_section(&config.recipe.options, "recipe")?;
        check_iterative(options.eps, options.step, options.steps)?;
        if !(options.r.is_finite() && options.r > 0.0) {
            return Err(usage_error!(
                "key `recipe.r`: expected a positive temperature, got {}",
                options.r
            ));
        }
        Ok(Self {
            options,
            norm: normalization(config),
        })
    }

    fn reduce_metric(&self, name: &str) -> crate::recipes::Reduce {
        match name {
            "done_max_weight" => crate::recipes::Reduce::Max,
            _ => crate::recipes::Reduce::SampleMean,
        }
    }

    fn attack_eps(&self) -> Option<f64> {
        Some(self.options.eps)
    }

    fn train_loss(&mut self, model: &Classifier, batch: &Batch, ctx: &StepContext) -> StepOutput {
        let o = &self.options;
        let budget = (o.eps, o.step, o.steps, 1);
        let adversarial = pgd_examples(model, &self.norm, batch, budget, o.attack_mode, ctx);
        let logits = model.forward(self.norm.to_model(adversarial));
        let correct = count_correct(logits.clone().detach(), batch.labels.clone());
        let attacked = loss_and_accuracy(logits.clone(), &batch.labels);
        let losses = cross_entropy_per_sample(logits, batch.labels.clone(), 0.0);
        let weights = done_weights(losses.clone(), o.r);
        let max_weight = weights.max().into_scalar::<f64>();
        let mut metrics = figures(clean_figures(model, batch), attacked);
        // 1 when the weights are uniform, falling towards 1/B as they concentrate.
        metrics.push(("done_max_weight", max_weight));
        StepOutput {
            loss: done_objective(losses, o.r),
            correct: Some(correct),
            metrics,
        }
    }
}
