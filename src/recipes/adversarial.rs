//! What the adversarial-training recipes share: the attack options (budgets in 1/255 units),
//! the model the attack sees (training or evaluation mode), and the clean/adversarial figures
//! every step logs.

use super::{Batch, StepOutput};
use crate::attacks::{Normalization, eval_mode};
use crate::config::RunConfig;
use crate::loss::{count_correct, cross_entropy, cross_entropy_per_sample};
use crate::models::Classifier;
use crate::usage_error;
use burn::module::Module;
use burn::prelude::*;
use serde::Deserialize;

/// Whether batch norm and dropout run as in training (batch statistics) or as in evaluation
/// while the attack computes its input gradients.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AttackMode {
    Train,
    Eval,
}

/// The model the attack differentiates: a detached copy (the flags of the trained model's
/// parameters are shared between clones, so they are not touched), without parameter
/// gradients. In train mode its batch norm uses batch statistics; their running averages are
/// updated on the copy only, so attack passes do not move the trained model's statistics.
pub fn attack_model(model: &Classifier, mode: AttackMode) -> Classifier {
    match mode {
        AttackMode::Train => model.valid().train().no_grad(),
        AttackMode::Eval => eval_mode(model),
    }
}

/// The dataset's normalisation, for moving between pixels and model inputs.
pub fn normalization(config: &RunConfig) -> Normalization {
    Normalization {
        mean: config.dataset.mean.clone(),
        std: config.dataset.std.clone(),
    }
}

/// A positive budget in 1/255 units, or a usage error naming the key.
pub fn check_budget(key: &str, value: f64) -> anyhow::Result<()> {
    if value.is_finite() && value > 0.0 && value <= 255.0 {
        Ok(())
    } else {
        Err(usage_error!(
            "key `recipe.{key}`: expected a budget in 1/255 units in (0, 255], got {value}"
        ))
    }
}

/// The budget, step size (1/255 units) and number of steps of an iterative attack.
pub fn check_iterative(eps: f64, step: f64, steps: usize) -> anyhow::Result<()> {
    check_budget("eps", eps)?;
    check_budget("step", step)?;
    if steps == 0 {
        return Err(usage_error!(
            "key `recipe.steps`: expected a positive number of attack steps"
        ));
    }
    Ok(())
}

/// A non-negative finite loss weight, or a usage error naming the key.
pub fn check_weight(key: &str, value: f64) -> anyhow::Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(usage_error!(
            "key `recipe.{key}`: expected a non-negative weight, got {value}"
        ))
    }
}

/// Per-example cross-entropy of `model` on pixel inputs: the loss the attacks maximise.
pub fn pixel_loss<'a>(
    model: &'a Classifier,
    norm: &'a Normalization,
    labels: &'a Tensor<1, Int>,
) -> impl FnMut(Tensor<4>) -> Tensor<1> + 'a {
    move |x| cross_entropy_per_sample(model.forward(norm.to_model(x)), labels.clone(), 0.0)
}

/// Mean cross-entropy and accuracy of (detached) `logits`, for the per-step log.
pub fn loss_and_accuracy(logits: Tensor<2>, labels: &Tensor<1, Int>) -> (f64, f64) {
    let logits = logits.detach();
    let [batch, _] = logits.dims();
    let correct = count_correct(logits.clone(), labels.clone());
    let loss: f64 = cross_entropy(logits, labels.clone(), 0.0).into_scalar();
    (loss, correct as f64 / batch.max(1) as f64)
}

/// Loss and accuracy on the clean batch in evaluation mode (an inference pass, no gradient).
pub fn clean_figures(model: &Classifier, batch: &Batch) -> (f64, f64) {
    let logits = model.valid().forward(batch.images.clone().inner());
    loss_and_accuracy(logits, &batch.labels.clone().inner())
}

/// The per-step figures every adversarial recipe logs.
pub fn figures(clean: (f64, f64), adversarial: (f64, f64)) -> Vec<(&'static str, f64)> {
    vec![
        ("adv_loss", adversarial.0),
        ("adv_accuracy", adversarial.1),
        ("clean_loss", clean.0),
        ("clean_accuracy", clean.1),
    ]
}

/// PGD adversarial pixels of `batch` (random start, budgets in 1/255 units), attacking the
/// copy of `model` in `mode`. Each image's random start depends on (seed, step, its position
/// in the global batch) only, so data-parallel shards start as one process would.
pub fn pgd_examples(
    model: &Classifier,
    norm: &Normalization,
    batch: &Batch,
    (eps, step, steps, restarts): (f64, f64, usize, usize),
    mode: AttackMode,
    ctx: &crate::recipes::StepContext,
) -> Tensor<4> {
    let pixels = norm.to_pixels(batch.images.clone().detach());
    let attacker = attack_model(model, mode);
    let attack = crate::attacks::Pgd {
        eps: crate::attacks::from_255(eps),
        step: crate::attacks::from_255(step),
        steps,
        restarts,
        random_start: true,
        start_key: Some(crate::attacks::StartKey {
            seed: ctx.seed,
            step: ctx.step as u64,
            first: ctx.first,
        }),
    };
    crate::attacks::pgd(&pixels, attack, pixel_loss(&attacker, norm, &batch.labels))
}

/// Trains on the adversarial pixels `adversarial` of `batch`: the adversarial cross-entropy is
/// the loss; clean loss and accuracy (evaluation mode, no gradient) and the adversarial ones
/// are logged.
pub fn adversarial_step(
    model: &Classifier,
    norm: &Normalization,
    batch: &Batch,
    adversarial: Tensor<4>,
) -> StepOutput {
    let logits = model.forward(norm.to_model(adversarial));
    let correct = count_correct(logits.clone().detach(), batch.labels.clone());
    let adversarial = loss_and_accuracy(logits.clone(), &batch.labels);
    let loss = cross_entropy(logits, batch.labels.clone(), 0.0);
    StepOutput {
        metrics: figures(clean_figures(model, batch), adversarial),
        loss,
        correct: Some(correct),
    }
}
