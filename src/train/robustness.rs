//! Robust accuracy during training, and catastrophic-overfitting detection.
//!
//! At each evaluation the engine attacks a fixed set of test images (the first
//! `robust_eval.images`) with the configured attack (PGD-10 by default) and with FGSM. Fast
//! adversarial training can collapse within an epoch (Wong et al.; Andriushchenko &
//! Flammarion): the model becomes robust to FGSM alone while its PGD accuracy falls to near
//! zero. [`CollapseTracker`] watches for exactly that signature: robust accuracy more than
//! `collapse_drop` below its best while FGSM accuracy stands above its value at that best.

use super::evaluate::evaluate_robust;
use super::extension::{AfterEvaluation, EvalView, EvaluationExtension};
use super::session::Summary;
use crate::attacks::evaluation::EvalAttack;
use crate::config::RobustEvalConfig;
use crate::datasets::{ImageSet, Pipeline};
use crate::recipes::Recipe;
use crate::rng::{self, Stream};
use crate::usage_error;
use burn::prelude::Device;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The attacks run at each evaluation.
#[derive(Clone, Debug)]
pub struct RobustProbe {
    /// The configured attack (robust accuracy).
    pub attack: EvalAttack,
    /// FGSM at the same budget, no random start (the accuracy that rises under collapse).
    pub fgsm: EvalAttack,
    pub images: usize,
    pub collapse_drop: f64,
}

impl RobustProbe {
    /// The probe for a run, or `None` when robust evaluation is off: `images = 0`, or neither
    /// the config nor the recipe gives a budget (`recipe_eps`, in 1/255 units).
    pub fn from_config(
        config: &RobustEvalConfig,
        recipe_eps: Option<f64>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(eps) = config.eps.or(recipe_eps) else {
            return Ok(None);
        };
        if config.images == 0 {
            return Ok(None);
        }
        if !(0.0..=1.0).contains(&config.collapse_drop) {
            return Err(usage_error!(
                "key `robust_eval.collapse_drop`: expected an accuracy drop in [0, 1], got {}",
                config.collapse_drop
            ));
        }
        let attack = EvalAttack::parse(
            config.attack.as_str(),
            eps,
            config.step,
            config.steps,
            config.restarts,
        )
        .map_err(|e| usage_error!("[robust_eval]: {e}"))?;
        let fgsm = EvalAttack::parse("fgsm", eps, None, 1, 1)?;
        Ok(Some(Self {
            attack,
            fgsm,
            images: config.images,
            collapse_drop: config.collapse_drop,
        }))
    }
}

/// Accuracy under the configured attack and under FGSM on the probe's images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RobustFigures {
    pub robust: f64,
    pub fgsm: f64,
    pub images: usize,
}

impl RobustProbe {
    /// Attacks the first `images` of `set` with `model` (on the autodiff `device`); `None`
    /// when the recipe has no robust evaluation.
    pub fn measure<R: Recipe>(
        &self,
        recipe: &R,
        model: &R::Model,
        set: &ImageSet,
        pipeline: &Pipeline,
        batch_size: usize,
        device: &Device,
    ) -> Option<RobustFigures> {
        let run = |attack| {
            evaluate_robust(
                recipe,
                model,
                set,
                pipeline,
                batch_size,
                device,
                attack,
                Some(self.images),
            )
        };
        let attacked = run(&self.attack)?;
        let fgsm = run(&self.fgsm)?;
        Some(RobustFigures {
            robust: attacked.robust_accuracy,
            fgsm: fgsm.robust_accuracy,
            images: attacked.images,
        })
    }
}

impl RobustFigures {
    /// Adds the figures and the verdict to an evaluation's metrics line and printed report.
    pub fn describe(
        &self,
        probe: &RobustProbe,
        verdict: Verdict,
        line: &mut Value,
        report: &mut String,
    ) {
        line["robust_accuracy"] = self.robust.into();
        line["fgsm_accuracy"] = self.fgsm.into();
        line["robust_images"] = self.images.into();
        report.push_str(&format!(
            ", {} accuracy {:.2}%, fgsm {:.2}% ({} images)",
            probe.attack.kind,
            100.0 * self.robust,
            100.0 * self.fgsm,
            self.images
        ));
        if let Verdict::Collapsed {
            best_robust,
            best_step,
            fgsm_rose,
        } = verdict
        {
            line["robust_collapse"] = true.into();
            line["catastrophic_overfitting"] = fgsm_rose.into();
            report.push_str(&format!(
                "\n  robust accuracy collapsed from {:.2}% (step {best_step}){}",
                100.0 * best_robust,
                if fgsm_rose {
                    " while FGSM accuracy rose: catastrophic overfitting"
                } else {
                    ""
                }
            ));
        }
    }
}

/// What one evaluation's robust figures mean for the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Robust accuracy is at or near its best.
    Healthy { best: bool },
    /// Robust accuracy fell more than `collapse_drop` below its best; `fgsm_rose` says
    /// whether FGSM accuracy is above its value at the best (catastrophic overfitting).
    Collapsed {
        best_robust: f64,
        best_step: usize,
        fgsm_rose: bool,
    },
}

/// Best robust accuracy so far and the FGSM accuracy measured with it; kept in checkpoints
/// so detection survives a resume.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CollapseTracker {
    pub best_robust: Option<f64>,
    pub fgsm_at_best: Option<f64>,
    pub best_step: Option<usize>,
    /// The step at which catastrophic overfitting was first reported.
    pub detected_at: Option<usize>,
}

impl CollapseTracker {
    /// Records the figures measured at `step` and judges them.
    pub fn observe(&mut self, step: usize, robust: f64, fgsm: f64, drop: f64) -> Verdict {
        match (self.best_robust, self.fgsm_at_best, self.best_step) {
            (Some(best), Some(fgsm_best), Some(best_step)) if robust < best => {
                if best - robust > drop {
                    let fgsm_rose = fgsm > fgsm_best;
                    if fgsm_rose && self.detected_at.is_none() {
                        self.detected_at = Some(step);
                    }
                    Verdict::Collapsed {
                        best_robust: best,
                        best_step,
                        fgsm_rose,
                    }
                } else {
                    Verdict::Healthy { best: false }
                }
            }
            _ => {
                self.best_robust = Some(robust);
                self.fgsm_at_best = Some(fgsm);
                self.best_step = Some(step);
                Verdict::Healthy { best: true }
            }
        }
    }
}

/// Robust accuracy at each evaluation (`[robust_eval]`), catastrophic-overfitting detection,
/// and, for recipes that ask for it, Fast-AT's guard: when robust accuracy collapses,
/// training stops with the weights of the best robust accuracy.
pub struct RobustnessMonitor<M> {
    probe: RobustProbe,
    tracker: CollapseTracker,
    /// Whether a collapse stops training.
    guard: bool,
    /// The weights of the best robust accuracy so far (with `guard`).
    best_weights: Option<M>,
    last_robust: Option<f64>,
    stopped_at: Option<usize>,
}

impl<M> RobustnessMonitor<M> {
    pub fn new(probe: RobustProbe, guard: bool) -> Self {
        Self {
            probe,
            tracker: CollapseTracker::default(),
            guard,
            best_weights: None,
            last_robust: None,
            stopped_at: None,
        }
    }
}

/// A copy with its own batch-norm running statistics (a clone shares them, and the following
/// steps would go on updating them).
fn snapshot<M: burn::module::Module>(model: &M) -> M {
    model.valid().train()
}

impl<R: Recipe> EvaluationExtension<R> for RobustnessMonitor<R::Model> {
    fn key(&self) -> &'static str {
        "collapse"
    }

    /// After a resume, the guard holds the resumed weights until the next evaluation.
    fn on_start(&mut self, model: &R::Model) {
        if self.guard {
            self.best_weights = Some(snapshot(model));
        }
    }

    fn after_evaluation(
        &mut self,
        view: &EvalView<'_, R>,
        record: &mut Value,
        text: &mut String,
    ) -> AfterEvaluation<R::Model> {
        let step = view.step;
        // Every rank probes the same images with the same random starts...
        let key = rng::key(view.seed, Stream::Step, (step - 1) as u64, u64::MAX);
        view.device.seed(key);
        let figures = self.probe.measure(
            view.recipe,
            view.model,
            view.test_set,
            view.pipeline,
            view.eval_batch_size,
            view.device,
        );
        let Some(mut figures) = figures else {
            return AfterEvaluation::Continue;
        };
        // ...and takes rank 0's figures, so that their verdicts (a collapse stops training)
        // cannot differ.
        let world = view.world;
        if world.size() > 1 {
            let mut values = match world.is_leader() {
                true => [figures.robust, figures.fgsm],
                false => [0.0, 0.0],
            };
            world.sum_f64(&mut values, "sharing rank 0's robust accuracy");
            [figures.robust, figures.fgsm] = values;
        }
        self.last_robust = Some(figures.robust);
        let verdict =
            self.tracker
                .observe(step, figures.robust, figures.fgsm, self.probe.collapse_drop);
        figures.describe(&self.probe, verdict, record, text);
        match verdict {
            Verdict::Healthy { best: true } if self.guard => {
                self.best_weights = Some(snapshot(view.model));
            }
            Verdict::Collapsed { .. } if self.guard => {
                self.stopped_at = Some(step);
                self.last_robust = self.tracker.best_robust;
                return AfterEvaluation::Stop {
                    weights: self.best_weights.take(),
                    restored_step: self.tracker.best_step,
                };
            }
            _ => {}
        }
        AfterEvaluation::Continue
    }

    fn summarize(&self, summary: &mut Summary) {
        summary.robust_accuracy = self.last_robust;
        summary.catastrophic_overfitting_step = self.tracker.detected_at;
        summary.stopped_on_collapse = self.stopped_at;
    }

    fn state(&self) -> Value {
        serde_json::to_value(&self.tracker).unwrap_or(Value::Null)
    }

    fn load_state(&mut self, state: &Value) -> anyhow::Result<()> {
        self.tracker = match state {
            Value::Null => CollapseTracker::default(),
            state => serde_json::from_value(state.clone())
                .map_err(|e| anyhow::anyhow!("the checkpoint's robust-accuracy history: {e}"))?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rise_is_healthy_and_tracks_the_best() {
        let mut t = CollapseTracker::default();
        assert_eq!(t.observe(1, 0.3, 0.4, 0.2), Verdict::Healthy { best: true });
        assert_eq!(t.observe(2, 0.4, 0.5, 0.2), Verdict::Healthy { best: true });
        assert_eq!(
            t.observe(3, 0.35, 0.6, 0.2),
            Verdict::Healthy { best: false }
        );
        assert_eq!(t.best_step, Some(2));
        assert_eq!(t.detected_at, None);
    }

    #[test]
    fn a_robust_collapse_with_rising_fgsm_is_catastrophic_overfitting() {
        let mut t = CollapseTracker::default();
        t.observe(10, 0.45, 0.5, 0.2);
        let v = t.observe(20, 0.02, 0.9, 0.2);
        assert_eq!(
            v,
            Verdict::Collapsed {
                best_robust: 0.45,
                best_step: 10,
                fgsm_rose: true
            }
        );
        assert_eq!(t.detected_at, Some(20));
        // Reported once: the first step stays.
        t.observe(30, 0.01, 0.95, 0.2);
        assert_eq!(t.detected_at, Some(20));
    }

    #[test]
    fn a_collapse_with_falling_fgsm_is_not_called_overfitting() {
        let mut t = CollapseTracker::default();
        t.observe(10, 0.45, 0.5, 0.2);
        let v = t.observe(20, 0.1, 0.3, 0.2);
        assert!(matches!(
            v,
            Verdict::Collapsed {
                fgsm_rose: false,
                ..
            }
        ));
        assert_eq!(t.detected_at, None);
    }

    #[test]
    fn a_drop_within_the_margin_is_healthy() {
        let mut t = CollapseTracker::default();
        t.observe(10, 0.45, 0.5, 0.2);
        assert_eq!(
            t.observe(20, 0.26, 0.9, 0.2),
            Verdict::Healthy { best: false }
        );
    }
}
