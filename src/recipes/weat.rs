//! `weat`: Weighted Energy Adversarial Training (Mirza et al.;
//! `OmnAI-Lab/Robust-Classifiers-under-the-lens-of-EBM`, `Adversarial ML/WEAT_loss.py`).
//! TRADES with each example weighted by its energy: `E(x) = -logsumexp(f(x))` on the natural
//! logits (training mode, detached) and `w = 1 / softplus(|E|)`, not normalised. Low-energy
//! (confident) examples count less.
//!
//! `WEAT_nat`: `(1/B) sum w_i CE(f(x_i), y_i) + beta (1/B) sum w_i KL(p(x_i) || p(x'_i))`;
//! `WEAT_adv`: the same with the cross-entropy of the adversarial logits. The adversarial
//! input comes from the TRADES KL attack in evaluation mode. The official code takes
//! `log(softmax + 1e-12)` for the adversarial log-probabilities; stoke uses `log_softmax`
//! (the two differ by about 1e-11 on ordinary logits).

use super::adversarial::{
    AttackMode, check_iterative, check_weight, figures, loss_and_accuracy, normalization,
};
use super::trades::{TradesOptions, trades_logits};
use super::{Batch, Recipe, StepContext, StepOutput};
use crate::attacks::Normalization;
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy_per_sample, kl_per_sample};
use crate::models::Classifier;
use burn::prelude::*;
use burn::tensor::activation::softplus;
use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WeatVariant {
    /// Cross-entropy on the natural logits (`WEAT_nat`, the official default).
    Nat,
    /// Cross-entropy on the adversarial logits (`WEAT_adv`).
    Adv,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeatOptions {
    pub variant: WeatVariant,
    /// Budget in 1/255 units.
    pub eps: f64,
    /// Step size in 1/255 units.
    pub step: f64,
    pub steps: usize,
    pub beta: f64,
    /// `eval` as the official code, or `train`.
    pub attack_mode: AttackMode,
}

impl Default for WeatOptions {
    fn default() -> Self {
        Self {
            variant: WeatVariant::Nat,
            eps: 8.0,
            step: 2.0,
            steps: 10,
            beta: 6.0,
            attack_mode: AttackMode::Eval,
        }
    }
}

/// Energies `E = -logsumexp(logits)` and weights `1 / softplus(|E|)` (both detached).
pub fn energy_weights(logits: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
    let [batch, _] = logits.dims();
    let logits = logits.detach();
    // logsumexp, shifted by the row maximum so large logits do not overflow.
    let max = logits.clone().max_dim(1);
    let log_sum_exp = (logits - max.clone()).exp().sum_dim(1).log() + max;
    let energy = log_sum_exp.reshape([batch]).neg();
    let weights = softplus(energy.clone().abs(), 1.0).recip();
    (energy, weights)
}

/// The WEAT loss from natural and adversarial logits; the weights come from `logits_nat`.
pub fn weat_objective(
    logits_nat: Tensor<2>,
    logits_adv: Tensor<2>,
    labels: Tensor<1, Int>,
    beta: f64,
    variant: WeatVariant,
) -> Tensor<1> {
    let (_, weights) = energy_weights(logits_nat.clone());
    let ce = match variant {
        WeatVariant::Nat => cross_entropy_per_sample(logits_nat.clone(), labels, 0.0),
        WeatVariant::Adv => cross_entropy_per_sample(logits_adv.clone(), labels, 0.0),
    };
    let kl = kl_per_sample(logits_nat, logits_adv);
    (weights * (ce + kl.mul_scalar(beta))).mean()
}

pub struct Weat {
    options: WeatOptions,
    norm: Normalization,
}

impl Recipe for Weat {
    type Model = Classifier;

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: WeatOptions = typed_section(&config.recipe.options, "recipe")?;
        check_iterative(options.eps, options.step, options.steps)?;
        check_weight("beta", options.beta)?;
        Ok(Self {
            options,
            norm: normalization(config),
        })
    }

    fn attack_eps(&self) -> Option<f64> {
        Some(self.options.eps)
    }

    fn train_loss(&mut self, model: &Classifier, batch: &Batch, _ctx: &StepContext) -> StepOutput {
        let o = &self.options;
        let attack = TradesOptions {
            eps: o.eps,
            step: o.step,
            steps: o.steps,
            beta: o.beta,
            attack_mode: o.attack_mode,
        };
        let (logits_nat, logits_adv) = trades_logits(model, &self.norm, batch, &attack);
        let clean = loss_and_accuracy(logits_nat.clone(), &batch.labels);
        let attacked = loss_and_accuracy(logits_adv.clone(), &batch.labels);
        let scored = match o.variant {
            WeatVariant::Nat => &logits_nat,
            WeatVariant::Adv => &logits_adv,
        };
        let correct = count_correct(scored.clone().detach(), batch.labels.clone());
        let (energy, weights) = energy_weights(logits_nat.clone());
        let loss = weat_objective(
            logits_nat,
            logits_adv,
            batch.labels.clone(),
            o.beta,
            o.variant,
        );
        let mut metrics = figures(clean, attacked);
        metrics.extend([
            ("mean_energy", energy.mean().into_scalar::<f64>()),
            ("mean_weight", weights.mean().into_scalar::<f64>()),
        ]);
        StepOutput {
            loss,
            correct: Some(correct),
            metrics,
        }
    }
}
