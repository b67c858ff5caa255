//! `fast-at`: "Fast is better than free" (Wong, Rice & Kolter; `locuslab/fast_adversarial`):
//! one FGSM step from a uniform random start (alpha = 1.25 eps by default), projected onto the
//! eps-ball and [0, 1], then cross-entropy on the result. The early-stopping guard against
//! catastrophic overfitting is `early_stop = true`.

use super::adversarial::{
    AttackMode, adversarial_step, attack_model, check_budget, normalization, pixel_loss,
};
use super::{Batch, Recipe, StepContext, StepOutput};
use crate::attacks::{Normalization, fgsm, from_255};
use crate::config::{RunConfig, typed_section};
use crate::models::Classifier;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FastAtOptions {
    /// Budget in 1/255 units.
    pub eps: f64,
    /// Step size in 1/255 units.
    pub alpha: f64,
    /// `train` (batch statistics, as locuslab) or `eval`.
    pub attack_mode: AttackMode,
    /// Stop when robust accuracy collapses (catastrophic overfitting) and keep the weights of
    /// the best robust accuracy: locuslab's `--early-stop`, checked at each evaluation with
    /// `[robust_eval]` (locuslab: PGD-5 on one training batch per epoch, drop > 0.2).
    pub early_stop: bool,
}

impl Default for FastAtOptions {
    fn default() -> Self {
        Self {
            eps: 8.0,
            alpha: 10.0,
            attack_mode: AttackMode::Train,
            early_stop: false,
        }
    }
}

pub struct FastAt {
    options: FastAtOptions,
    norm: Normalization,
}

impl Recipe for FastAt {
    type Model = Classifier;

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: FastAtOptions = typed_section(&config.recipe.options, "recipe")?;
        check_budget("eps", options.eps)?;
        check_budget("alpha", options.alpha)?;
        Ok(Self {
            options,
            norm: normalization(config),
        })
    }

    fn attack_eps(&self) -> Option<f64> {
        Some(self.options.eps)
    }

    fn stop_on_collapse(&self) -> bool {
        self.options.early_stop
    }

    fn train_loss(&mut self, model: &Classifier, batch: &Batch, _ctx: &StepContext) -> StepOutput {
        let o = &self.options;
        let pixels = self.norm.to_pixels(batch.images.clone().detach());
        let attacker = attack_model(model, o.attack_mode);
        let adversarial = fgsm(
            &pixels,
            from_255(o.eps),
            from_255(o.alpha),
            true,
            pixel_loss(&attacker, &self.norm, &batch.labels),
        );
        adversarial_step(model, &self.norm, batch, adversarial)
    }
}
