//! Robust evaluation: clean and adversarial accuracy of a classifier under a named attack.

use super::{Apgd, Normalization, Pgd, apgd_ce, eval_mode, fgsm, pgd};
use crate::batch::Batch;
use crate::loss::{count_correct, cross_entropy_per_sample};
use crate::models::Classifier;
use crate::usage_error;
use burn::prelude::*;
use serde::Serialize;

/// An attack for evaluation, budgets in pixel units.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EvalAttack {
    /// `fgsm`, `pgd` or `apgd-ce`.
    pub kind: &'static str,
    pub eps: f64,
    pub step: f64,
    pub steps: usize,
    pub restarts: usize,
}

impl EvalAttack {
    /// Parses `--attack`, with budgets in 1/255 units; the step defaults to eps/4 for PGD
    /// (AAER's evaluation) and to eps for FGSM; APGD-CE sets its own steps (from 2 eps).
    pub fn parse(
        kind: &str,
        eps_255: f64,
        step_255: Option<f64>,
        steps: usize,
        restarts: usize,
    ) -> anyhow::Result<Self> {
        if !(eps_255.is_finite() && eps_255 > 0.0 && eps_255 <= 255.0) {
            return Err(usage_error!(
                "--eps: expected a budget in (0, 255] (1/255 units)"
            ));
        }
        let kind = match kind {
            "fgsm" => "fgsm",
            "pgd" => "pgd",
            "apgd-ce" => "apgd-ce",
            other => {
                return Err(usage_error!(
                    "--attack: expected fgsm, pgd or apgd-ce, got `{other}`"
                ));
            }
        };
        if kind != "fgsm" && (steps == 0 || restarts == 0) {
            return Err(usage_error!("--steps and --restarts must be positive"));
        }
        let default_step = if kind == "pgd" {
            eps_255 / 4.0
        } else {
            eps_255
        };
        // FGSM is one step from the clean image, whatever --steps says.
        let (steps, restarts) = if kind == "fgsm" {
            (1, 1)
        } else {
            (steps, restarts)
        };
        Ok(Self {
            kind,
            eps: eps_255 / 255.0,
            step: step_255.unwrap_or(default_step) / 255.0,
            steps,
            restarts,
        })
    }
}

/// Counts over one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RobustSums {
    pub clean_correct: usize,
    pub robust_correct: usize,
    pub count: usize,
}

/// Clean and robust correct counts of `model` (on an autodiff device, attacked in evaluation
/// mode) on a normalised `batch`.
pub fn robust_sums(
    model: &Classifier,
    norm: &Normalization,
    batch: &Batch,
    attack: &EvalAttack,
) -> RobustSums {
    let model = eval_mode(model);
    let pixels = norm.to_pixels(batch.images.clone().detach());
    let labels = batch.labels.clone();
    let loss = |x: Tensor<4>| {
        cross_entropy_per_sample(model.forward(norm.to_model(x)), labels.clone(), 0.0)
    };
    let adversarial = match attack.kind {
        "fgsm" => fgsm(&pixels, attack.eps, attack.step, false, loss),
        "apgd-ce" => apgd_ce(
            &pixels,
            &labels,
            Apgd {
                steps: attack.steps,
                restarts: attack.restarts,
                ..Apgd::new(attack.eps)
            },
            |x| model.forward(norm.to_model(x)),
        ),
        _ => pgd(
            &pixels,
            Pgd {
                eps: attack.eps,
                step: attack.step,
                steps: attack.steps,
                restarts: attack.restarts,
                random_start: true,
                start_key: None,
            },
            loss,
        ),
    };
    let clean = model.forward(batch.images.clone()).detach();
    let robust = model.forward(norm.to_model(adversarial)).detach();
    RobustSums {
        clean_correct: count_correct(clean, labels.clone()),
        robust_correct: count_correct(robust, labels),
        count: batch.size,
    }
}
