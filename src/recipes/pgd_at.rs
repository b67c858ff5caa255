//! `pgd-at`: adversarial training with PGD (Madry et al.; `MadryLab/cifar10_challenge`):
//! each batch is replaced by its PGD-k adversarial examples (random start, signed steps,
//! projection onto the eps-ball and [0, 1]) and the model trains on their cross-entropy.

use super::adversarial::{
    AttackMode, adversarial_step, check_iterative, normalization, pgd_examples,
};
use super::{Batch, Recipe, StepContext, StepOutput};
use crate::attacks::Normalization;
use crate::config::{RunConfig, typed_section};
use crate::models::Classifier;
use crate::usage_error;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgdAtOptions {
    /// Budget in 1/255 units.
    pub eps: f64,
    /// Step size in 1/255 units.
    pub step: f64,
    pub steps: usize,
    pub restarts: usize,
    /// `train` (batch statistics, as the released PyTorch codes) or `eval`.
    pub attack_mode: AttackMode,
}

impl Default for PgdAtOptions {
    fn default() -> Self {
        Self {
            eps: 8.0,
            step: 2.0,
            steps: 10,
            restarts: 1,
            attack_mode: AttackMode::Train,
        }
    }
}

pub struct PgdAt {
    options: PgdAtOptions,
    norm: Normalization,
}

impl Recipe for PgdAt {
    type Model = Classifier;

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: PgdAtOptions = typed_section(&config.recipe.options, "recipe")?;
        check_iterative(options.eps, options.step, options.steps)?;
        if options.restarts == 0 {
            return Err(usage_error!(
                "key `recipe.restarts`: expected a positive number"
            ));
        }
        Ok(Self {
            options,
            norm: normalization(config),
        })
    }

    fn attack_eps(&self) -> Option<f64> {
        Some(self.options.eps)
    }

    fn train_loss(&mut self, model: &Classifier, batch: &Batch, ctx: &StepContext) -> StepOutput {
        let o = &self.options;
        let budget = (o.eps, o.step, o.steps, o.restarts);
        let adversarial = pgd_examples(model, &self.norm, batch, budget, o.attack_mode, ctx);
        adversarial_step(model, &self.norm, batch, adversarial)
    }
}
