//! `aaer`: Abnormal Adversarial Examples Regularization (Lin, Yu & Liu, NeurIPS 2023;
//! `tmllab/2023_NeurIPS_AAER`, CIFAR10/AAER.py). Single-step adversarial training in which an
//! example whose loss *falls* after the FGSM step is abnormal (AAE); the number of AAEs and the
//! change of their logits are penalised, which keeps FGSM training from catastrophic
//! overfitting at large budgets.
//!
//! Per step, as the released code (both passes in training mode):
//! `z0 = f(x + delta0)`, `delta1 = delta0 + alpha sign(grad mean CE(z0))`, `z1 = f(x + delta1)`;
//! AAE = `{i : l0_i > l1_i}`; `L = mean(l1) + lambda1 |AAE|/B (lambda2 ce_A + lambda3
//! max(var_A - var_N, 0))` when both sets are non-empty, with `var` the mean squared L2
//! distance between the two logit vectors over a set and `ce_A` the mean loss decrease of the
//! AAEs. In the released code `ce_A` is built from detached losses, so it changes the loss
//! value but not the gradient; `differentiable_ce = true` lets its gradient flow through both
//! passes as the paper's equation states (one more forward pass per step). `var_N` is a
//! constant and `z0` is detached in both versions. Variants: RS-AAER (`delta0 ~ U(-eps,
//! eps)`, alpha 1.25 eps, projected onto the eps-ball) and N-AAER (`delta0 ~ U(-2eps, 2eps)`,
//! alpha 1.0 eps, image range only). The lambdas default to the paper's CIFAR-10 table.

use super::adversarial::{
    AttackMode, attack_model, check_budget, check_weight, clean_figures, figures,
    loss_and_accuracy, normalization,
};
use super::{Batch, Recipe, StepContext, StepOutput};
use crate::attacks::{Normalization, from_255, input_gradient, project};
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy_per_sample};
use crate::models::Classifier;
use crate::usage_error;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Random start in the eps-ball, step 1.25 eps, projected (RS-AAER).
    Rs,
    /// Random start in the 2 eps ball, step eps, not projected (N-AAER).
    N,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AaerOptions {
    pub variant: Variant,
    /// Budget in 1/255 units.
    pub eps: f64,
    /// Step size as a multiple of eps (default 1.25 for rs, 1.0 for n).
    pub alpha: Option<f64>,
    pub lambda1: f64,
    /// Weight of the CE variation (default: the paper's table for the variant and eps).
    pub lambda2: Option<f64>,
    /// Weight of the logit variation (default: the paper's table).
    pub lambda3: Option<f64>,
    /// Let the CE-variation term carry gradient (the paper's equation), unlike the release.
    pub differentiable_ce: bool,
    /// `train` (batch statistics, as the released code) or `eval`.
    pub attack_mode: AttackMode,
}

impl Default for AaerOptions {
    fn default() -> Self {
        Self {
            variant: Variant::Rs,
            eps: 8.0,
            alpha: None,
            lambda1: 1.0,
            lambda2: None,
            lambda3: None,
            differentiable_ce: false,
            attack_mode: AttackMode::Train,
        }
    }
}

/// The released CIFAR-10 commands' (lambda2, lambda3) for a variant and eps (1/255 units).
pub fn paper_lambdas(variant: Variant, eps: f64) -> Option<(f64, f64)> {
    let table: &[(f64, f64, f64)] = match variant {
        Variant::Rs => &[
            (8.0, 2.5, 1.5),
            (12.0, 5.0, 2.75),
            (16.0, 7.0, 3.25),
            (32.0, 5.75, 1.5),
        ],
        Variant::N => &[
            (8.0, 1.5, 0.15),
            (12.0, 5.0, 0.55),
            (16.0, 8.5, 1.5),
            (32.0, 2.75, 0.75),
        ],
    };
    table
        .iter()
        .find(|(e, ..)| (e - eps).abs() < 1e-9)
        .map(|&(_, l2, l3)| (l2, l3))
}

/// The three lambdas of the regulariser.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lambdas {
    pub lambda1: f64,
    pub lambda2: f64,
    pub lambda3: f64,
}

/// The AAER loss and its parts for one batch.
pub struct AaerTerms {
    pub loss: Tensor<1>,
    /// Which examples are abnormal (`l0 > l1`).
    pub abnormal: Vec<bool>,
    pub abnormal_count: usize,
    /// Mean loss decrease over the AAEs (0 when there are none).
    pub ce_variation: f64,
    /// Mean squared logit change over the AAEs and over the others (0 when a set is empty).
    pub var_abnormal: f64,
    pub var_normal: f64,
    /// The term added to `mean(l1)` (0 unless both sets are non-empty).
    pub regularizer: f64,
}

/// The AAER objective from the logits before (`z0`, detached here) and after (`z1`) the FGSM
/// step and the per-example losses `l0`, `l1`. The CE variation `mean_A(l0 - l1)` carries
/// gradient (through whichever of `l0`, `l1` has it) only when `differentiable_ce`; the
/// released code detaches both.
pub fn aaer_objective(
    z0: Tensor<2>,
    z1: Tensor<2>,
    l0: Tensor<1>,
    l1: Tensor<1>,
    lambdas: Lambdas,
    differentiable_ce: bool,
) -> AaerTerms {
    let [batch, _] = z1.dims();
    let abnormal_mask = l0.clone().detach().greater(l1.clone().detach());
    let abnormal: Vec<bool> = (abnormal_mask.clone().int().into_data().iter::<i64>())
        .map(|flag| flag != 0)
        .collect();
    let count_a = abnormal.iter().filter(|&&a| a).count();
    let count_n = batch - count_a;
    let mean_l1 = l1.clone().mean();
    let m = abnormal_mask.float();
    let distance = (z1 - z0.detach()).square().sum_dim(1).reshape([batch]);
    let over = |weights: Tensor<1>, values: Tensor<1>, count: usize| {
        (weights * values).sum().div_scalar(count.max(1) as f64)
    };
    let var_a = over(m.clone(), distance.clone(), count_a);
    let var_n = over(m.clone().neg().add_scalar(1.0), distance, count_n).detach();
    let decrease = if differentiable_ce {
        l0 - l1
    } else {
        (l0 - l1).detach()
    };
    let ce_a = over(m, decrease, count_a);
    let scalar = |t: &Tensor<1>| t.clone().into_scalar::<f64>();
    let (ce_variation, var_abnormal, var_normal) = (scalar(&ce_a), scalar(&var_a), scalar(&var_n));
    if count_a == 0 || count_n == 0 {
        return AaerTerms {
            loss: mean_l1,
            abnormal,
            abnormal_count: count_a,
            ce_variation,
            var_abnormal,
            var_normal,
            regularizer: 0.0,
        };
    }
    let regularizer = (ce_a.mul_scalar(lambdas.lambda2)
        + (var_a - var_n).clamp_min(0.0).mul_scalar(lambdas.lambda3))
    .mul_scalar(lambdas.lambda1 * count_a as f64 / batch as f64);
    let added = scalar(&regularizer);
    AaerTerms {
        loss: mean_l1 + regularizer,
        abnormal,
        abnormal_count: count_a,
        ce_variation,
        var_abnormal,
        var_normal,
        regularizer: added,
    }
}

pub struct Aaer {
    options: AaerOptions,
    lambdas: Lambdas,
    norm: Normalization,
}

impl Recipe for Aaer {
    type Model = Classifier;

    /// The batch's weights (or abnormal / normal means) couple its images.
    fn loss_couples_the_batch(&self) -> bool {
        true
    }

    classifier_methods!();

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: AaerOptions = typed_section(&config.recipe.options, "recipe")?;
        check_budget("eps", options.eps)?;
        let table = paper_lambdas(options.variant, options.eps);
        let (lambda2, lambda3) = match (options.lambda2, options.lambda3, table) {
            (Some(l2), Some(l3), _) => (l2, l3),
            (l2, l3, Some((t2, t3))) => (l2.unwrap_or(t2), l3.unwrap_or(t3)),
            _ => {
                return Err(usage_error!(
                    "keys `recipe.lambda2`/`recipe.lambda3`: the paper gives them for eps 8, 12, 16 \
                     and 32 only; set both for eps = {}",
                    options.eps
                ));
            }
        };
        let lambdas = Lambdas {
            lambda1: options.lambda1,
            lambda2,
            lambda3,
        };
        check_weight("lambda1", lambdas.lambda1)?;
        check_weight("lambda2", lambda2)?;
        check_weight("lambda3", lambda3)?;
        if let Some(alpha) = options.alpha
            && !(alpha.is_finite() && alpha > 0.0)
        {
            return Err(usage_error!(
                "key `recipe.alpha`: expected a positive multiple of eps, got {alpha}"
            ));
        }
        Ok(Self {
            options,
            lambdas,
            norm: normalization(config),
        })
    }

    fn reduce_metric(&self, name: &str) -> crate::recipes::Reduce {
        match name {
            "abnormal_count" => crate::recipes::Reduce::Sum,
            _ => crate::recipes::Reduce::SampleMean,
        }
    }

    fn attack_eps(&self) -> Option<f64> {
        Some(self.options.eps)
    }

    fn train_loss(&mut self, model: &Classifier, batch: &Batch, _ctx: &StepContext) -> StepOutput {
        let o = &self.options;
        let norm = &self.norm;
        let eps = from_255(o.eps);
        let (start_radius, alpha) = match o.variant {
            Variant::Rs => (eps, o.alpha.unwrap_or(1.25) * eps),
            Variant::N => (2.0 * eps, o.alpha.unwrap_or(1.0) * eps),
        };
        let pixels = norm.to_pixels(batch.images.clone().detach());
        let noise = Tensor::<4>::random(
            pixels.dims(),
            Distribution::Uniform(-start_radius, start_radius),
            &pixels.device(),
        );
        let x0 = (pixels.clone() + noise).clamp(0.0, 1.0).detach();
        let attacker = attack_model(model, o.attack_mode);
        let labels = &batch.labels;
        let mut z0_out = None;
        let (gradient, l0) = input_gradient(&x0, &mut |x| {
            let z0 = attacker.forward(norm.to_model(x));
            z0_out = Some(z0.clone().detach());
            cross_entropy_per_sample(z0, labels.clone(), 0.0)
        });
        let z0 = z0_out.expect("the attack ran one forward pass");
        let step = Tensor::from_inner(gradient.sign().mul_scalar(alpha).inner());
        let x1 = match o.variant {
            Variant::Rs => project(x0.clone() + step, &pixels, eps),
            Variant::N => (x0.clone() + step).clamp(0.0, 1.0),
        }
        .detach();
        let z1 = model.forward(norm.to_model(x1));
        let l1 = cross_entropy_per_sample(z1.clone(), labels.clone(), 0.0);
        let l0 = if o.differentiable_ce {
            cross_entropy_per_sample(model.forward(norm.to_model(x0)), labels.clone(), 0.0)
        } else {
            l0
        };
        let correct = count_correct(z1.clone().detach(), labels.clone());
        let attacked = loss_and_accuracy(z1.clone(), labels);
        let terms = aaer_objective(z0, z1, l0, l1, self.lambdas, o.differentiable_ce);
        let mut metrics = figures(clean_figures(model, batch), attacked);
        metrics.extend([
            ("abnormal_count", terms.abnormal_count as f64),
            ("abnormal_ce", terms.ce_variation),
            ("abnormal_variation", terms.var_abnormal - terms.var_normal),
            ("aaer_regularizer", terms.regularizer),
        ]);
        StepOutput {
            loss: terms.loss,
            correct: Some(correct),
            metrics,
        }
    }
}
