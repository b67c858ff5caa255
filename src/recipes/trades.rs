//! `trades`: TRADES (Zhang et al., 2019; `yaodongyu/TRADES`): the natural cross-entropy plus
//! `beta` times the KL divergence between the predictions on clean and adversarial inputs,
//! the adversarial input found by the KL attack ([`crate::attacks::trades_attack`]) in
//! evaluation mode. As in `trades.py`, the KL's clean side is not detached; the clean logits
//! are computed once (the official code runs the clean forward pass twice, which differs
//! only in batch-norm running-average updates).

use super::adversarial::{
    AttackMode, attack_model, check_iterative, check_weight, figures, loss_and_accuracy,
    normalization,
};
use super::{Batch, Recipe, StepContext, StepOutput};
use crate::attacks::{Normalization, from_255, trades_attack};
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy, kl_per_sample};
use crate::models::Classifier;
use burn::prelude::*;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradesOptions {
    /// Budget in 1/255 units (official CIFAR-10: 0.031 = 7.9/255).
    pub eps: f64,
    /// Step size in 1/255 units (official: 0.007 = 1.785/255).
    pub step: f64,
    pub steps: usize,
    /// Weight of the robust (KL) term; 1/lambda in the paper.
    pub beta: f64,
    /// `eval` as the official code, or `train`.
    pub attack_mode: AttackMode,
}

impl Default for TradesOptions {
    fn default() -> Self {
        Self {
            eps: 8.0,
            step: 2.0,
            steps: 10,
            beta: 6.0,
            attack_mode: AttackMode::Eval,
        }
    }
}

/// The TRADES objective on natural and adversarial logits: `(loss, natural_ce, robust_kl)`,
/// `loss = CE(nat, y) + beta * mean_i KL(p_nat,i || p_adv,i)`.
pub fn trades_objective(
    logits_nat: Tensor<2>,
    logits_adv: Tensor<2>,
    labels: Tensor<1, Int>,
    beta: f64,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let natural = cross_entropy(logits_nat.clone(), labels, 0.0);
    let robust = kl_per_sample(logits_nat, logits_adv).mean();
    (
        natural.clone() + robust.clone().mul_scalar(beta),
        natural,
        robust,
    )
}

/// The training logits of the clean batch and of its TRADES adversarial examples (the KL
/// attack run on the attack copy of `model` in `options.attack_mode`); shared with WEAT.
pub fn trades_logits(
    model: &Classifier,
    norm: &Normalization,
    batch: &Batch,
    options: &TradesOptions,
) -> (Tensor<2>, Tensor<2>) {
    let pixels = norm.to_pixels(batch.images.clone().detach());
    let attacker = attack_model(model, options.attack_mode);
    let adversarial = trades_attack(
        &pixels,
        attacker.forward(batch.images.clone().detach()),
        from_255(options.eps),
        from_255(options.step),
        options.steps,
        |x| attacker.forward(norm.to_model(x)),
    );
    let logits_nat = model.forward(batch.images.clone());
    let logits_adv = model.forward(norm.to_model(adversarial));
    (logits_nat, logits_adv)
}

pub struct Trades {
    options: TradesOptions,
    norm: Normalization,
}

impl Recipe for Trades {
    type Model = Classifier;

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: TradesOptions = typed_section(&config.recipe.options, "recipe")?;
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
        let (logits_nat, logits_adv) = trades_logits(model, &self.norm, batch, o);
        let clean = loss_and_accuracy(logits_nat.clone(), &batch.labels);
        let attacked = loss_and_accuracy(logits_adv.clone(), &batch.labels);
        let correct = count_correct(logits_nat.clone().detach(), batch.labels.clone());
        let (loss, _, robust_kl) =
            trades_objective(logits_nat, logits_adv, batch.labels.clone(), o.beta);
        let mut metrics = figures(clean, attacked);
        metrics.push(("robust_kl", robust_kl.into_scalar::<f64>()));
        StepOutput {
            loss,
            correct: Some(correct),
            metrics,
        }
    }
}
