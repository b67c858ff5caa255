//! `conadv`: Concurrent Adversarial Learning for large-batch training (Liu et al., ICLR 2022;
//! no public code). Adversarial training normally doubles a step's sequential work: first the
//! attack's input gradients, then the parameter gradients. ConAdv builds the adversarial
//! examples of step t+1 with the (stale) parameters of step t, on a second thread, while step
//! t's forward and backward passes run, so on a multi-core machine the attack costs little
//! extra wall time. Loss: `clean_weight * CE(f(x)) + adv_weight * CE(f_aux(x_adv))`, with the
//! adversarial batch normalised by auxiliary batch norms ([`DualBn`], AdvProp style);
//! evaluation uses the main ones. Large-batch runs pair it with `optimizer.name = "lars"` or
//! `"lamb"`.
//!
//! The attack is PGD-k with a uniform random start (k = 1 with step 1.25 eps is Fast-AT's
//! FGSM), run on a detached copy of the step-t weights in training mode (batch statistics of
//! the auxiliary batch norms). The start noise is drawn on the main thread, so a run is
//! reproducible; `concurrent = false` runs the same computation in line (identical results,
//! for measuring what the second thread saves). The first step, and the first step after a
//! resume, attack their own batch with current weights (staleness 0). Dropout in the attacked
//! model would draw from the shared generator on the second thread, making runs of such models
//! not bitwise reproducible (the CNNs here have none). The paper's attack
//! budget for ImageNet was not retrieved; the defaults match Fast-AT's.

use super::adversarial::{
    check_iterative, check_weight, figures, loss_and_accuracy, normalization,
};
use super::{Batch, DataInfo, EvalSums, Recipe, StepContext, StepOutput};
use crate::attacks::evaluation::{EvalAttack, RobustSums, robust_sums};
use crate::attacks::{Normalization, Pgd, from_255, pgd_from, uniform_start};
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy, cross_entropy_per_sample};
use crate::models::dual_bn::DualBn;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::Deserialize;
use std::thread::JoinHandle;
use std::time::Instant;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConAdvOptions {
    /// Budget in 1/255 units.
    pub eps: f64,
    /// Step size in 1/255 units.
    pub step: f64,
    pub steps: usize,
    pub clean_weight: f64,
    pub adv_weight: f64,
    /// Attack on a second thread (true) or in line (false; same results).
    pub concurrent: bool,
}

impl Default for ConAdvOptions {
    fn default() -> Self {
        Self {
            eps: 8.0,
            step: 10.0,
            steps: 1,
            clean_weight: 1.0,
            adv_weight: 1.0,
            concurrent: true,
        }
    }
}

/// The adversarial pixels of the next step's batch, being computed or done.
enum Pending {
    Running(JoinHandle<Tensor<4>>),
    Ready(Box<Tensor<4>>),
    /// Restored from a checkpoint: on the host until the step's device takes it.
    Saved(TensorData),
}

/// The pending attack as a checkpoint holds it.
#[derive(serde::Serialize, Deserialize)]
struct SavedAttack {
    step: usize,
    shape: Vec<usize>,
    pixels: Vec<f32>,
}

pub struct ConAdv {
    options: ConAdvOptions,
    norm: Normalization,
    /// The step the pending attack is for, and the attack.
    pending: Option<(usize, Pending)>,
}

impl ConAdv {
    fn attack(&self) -> Pgd {
        Pgd {
            eps: from_255(self.options.eps),
            step: from_255(self.options.step),
            steps: self.options.steps,
            restarts: 1,
            random_start: true,
            start_key: None,
        }
    }

    /// Starts the attack of `batch` with the current weights of `model`: the start noise is
    /// drawn here, the gradient steps run on a detached copy, in line or on a new thread.
    fn launch(&self, model: &DualBn, batch: &Batch, concurrent: bool) -> Pending {
        let attack = self.attack();
        let norm = self.norm.clone();
        let pixels = norm.to_pixels(batch.images.clone().detach());
        let start = pixels.clone() + uniform_start(&pixels, attack.eps);
        let labels = batch.labels.clone();
        // Stale weights: a copy without parameter gradients, batch statistics in its own
        // (auxiliary) batch norms.
        let attacker = model.valid().train().no_grad().adversarial_view();
        let work = move || {
            let mut loss = |x: Tensor<4>| {
                cross_entropy_per_sample(attacker.forward(norm.to_model(x)), labels.clone(), 0.0)
            };
            pgd_from(&pixels, start, attack, &mut loss)
        };
        if concurrent {
            Pending::Running(std::thread::spawn(work))
        } else {
            Pending::Ready(Box::new(work()))
        }
    }
}

impl Recipe for ConAdv {
    type Model = DualBn;

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: ConAdvOptions = typed_section(&config.recipe.options, "recipe")?;
        check_iterative(options.eps, options.step, options.steps)?;
        check_weight("clean_weight", options.clean_weight)?;
        check_weight("adv_weight", options.adv_weight)?;
        Ok(Self {
            options,
            norm: normalization(config),
            pending: None,
        })
    }

    fn build_model(
        &self,
        config: &RunConfig,
        data: &DataInfo,
        device: &Device,
    ) -> anyhow::Result<DualBn> {
        let shape = [data.channels, data.height, data.width];
        let main = config.model.build(shape, data.num_classes, device)?;
        let aux = config.model.build(shape, data.num_classes, device)?;
        Ok(DualBn::new(main, aux))
    }

    fn eval_batch(&self, model: &DualBn, batch: &Batch, _first: usize) -> EvalSums {
        crate::recipes::erm::clean_eval(&model.main, batch)
    }

    fn logits(&self, model: &DualBn, images: Tensor<4>) -> Option<Tensor<2>> {
        Some(model.main.forward(images))
    }

    fn robust_eval_batch(
        &self,
        model: &DualBn,
        batch: &Batch,
        attack: &EvalAttack,
    ) -> Option<RobustSums> {
        Some(robust_sums(&model.main, &self.norm, batch, attack))
    }

    fn attack_eps(&self) -> Option<f64> {
        Some(self.options.eps)
    }

    fn wants_next_batch(&self) -> bool {
        true
    }

    fn repeatable_loss(&self) -> bool {
        // The pending attack is consumed by each call.
        false
    }

    /// The attack prepared for the next step (finished first if it is still running), so a
    /// resumed run trains on the same stale adversarial batch as the uninterrupted one.
    fn state(&mut self) -> serde_json::Value {
        let Some((step, pending)) = self.pending.take() else {
            return serde_json::Value::Null;
        };
        let data = match pending {
            Pending::Running(handle) => handle
                .join()
                .expect("the attack thread panicked")
                .into_data(),
            Pending::Ready(pixels) => pixels.into_data(),
            Pending::Saved(data) => data,
        };
        let saved = SavedAttack {
            step,
            shape: data.shape().to_vec(),
            pixels: data.iter::<f32>().collect(),
        };
        self.pending = Some((step, Pending::Saved(data)));
        serde_json::to_value(saved).unwrap_or(serde_json::Value::Null)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> anyhow::Result<()> {
        if state.is_null() {
            self.pending = None;
            return Ok(());
        }
        let saved: SavedAttack = serde_json::from_value(state.clone())
            .map_err(|e| anyhow::anyhow!("the checkpoint's pending ConAdv attack: {e}"))?;
        if saved.shape.len() != 4 || saved.shape.iter().product::<usize>() != saved.pixels.len() {
            anyhow::bail!(
                "the checkpoint's pending ConAdv attack: {} values for shape {:?}",
                saved.pixels.len(),
                saved.shape
            );
        }
        let data = TensorData::new(saved.pixels, saved.shape);
        self.pending = Some((saved.step, Pending::Saved(data)));
        Ok(())
    }

    fn train_loss(&mut self, model: &DualBn, batch: &Batch, ctx: &StepContext) -> StepOutput {
        let o = self.options.clone();
        let waited = Instant::now();
        let (adversarial, staleness) = match self.pending.take() {
            Some((step, pending)) if step == ctx.step => {
                let pixels = match pending {
                    Pending::Running(handle) => handle.join().expect("the attack thread panicked"),
                    Pending::Ready(pixels) => *pixels,
                    Pending::Saved(data) => Tensor::from_data(data, &ctx.device),
                };
                (pixels, 1.0)
            }
            _ => match self.launch(model, batch, false) {
                Pending::Ready(pixels) => (*pixels, 0.0),
                _ => unreachable!("an in-line attack is ready"),
            },
        };
        let wait_ms = 1000.0 * waited.elapsed().as_secs_f64();
        // The next step's attack starts now, with this step's weights, and runs while this
        // step's passes do.
        if let Some(next) = &ctx.next_batch {
            self.pending = Some((ctx.step + 1, self.launch(model, next, o.concurrent)));
        }
        let clean_logits = model.main.forward(batch.images.clone());
        let adv_logits = model
            .adversarial_view()
            .forward(self.norm.to_model(adversarial));
        let clean = loss_and_accuracy(clean_logits.clone(), &batch.labels);
        let attacked = loss_and_accuracy(adv_logits.clone(), &batch.labels);
        let correct = count_correct(clean_logits.clone().detach(), batch.labels.clone());
        let loss = cross_entropy(clean_logits, batch.labels.clone(), 0.0)
            .mul_scalar(o.clean_weight)
            + cross_entropy(adv_logits, batch.labels.clone(), 0.0).mul_scalar(o.adv_weight);
        let mut metrics = figures(clean, attacked);
        metrics.extend([("staleness", staleness), ("attack_wait_ms", wait_ms)]);
        StepOutput {
            loss,
            correct: Some(correct),
            metrics,
        }
    }
}
