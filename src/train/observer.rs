//! What a Trainer tells the code watching it. Everything around a training step that is not
//! the optimisation itself (progress display, printed lines, metrics.jsonl, checkpoints,
//! summary.json) is an [`Observer`] attached to the Trainer; a Trainer with none attached
//! writes and prints nothing.

use super::checkpoint::CheckpointDir;
use super::evaluate::Evaluation;
use super::session::Summary;
use super::weights::Weights;
use serde_json::{Value, json};
use std::path::PathBuf;

/// One optimizer step, as [`crate::Trainer::step`] returns it.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// Steps completed, this one included (the `step` of metrics.jsonl and of checkpoints).
    pub step: usize,
    /// The batch's mean training loss over the global batch; NaN when the gradients came from
    /// elsewhere ([`crate::Trainer::apply_gradients`] without [`crate::Trainer::gradients`]).
    pub loss: f64,
    /// The learning rate the update used (schedule and batch-size scaling applied).
    pub lr: f64,
    /// Samples in the global batch.
    pub batch_size: usize,
    /// Global L2 and L1 norms of the gradient, before clipping.
    pub grad_l2: f64,
    pub grad_l1: f64,
    /// Correctly classified training samples (None when the recipe has no accuracy).
    pub correct: Option<usize>,
    /// The recipe's own per-step figures (clean and adversarial loss, counts, ...).
    pub metrics: Vec<(&'static str, f64)>,
    /// The batch size chosen for the next steps, when an adaptive-batch test ran.
    pub next_batch_size: Option<usize>,
    /// Seconds the step took (data wait included).
    pub seconds: f64,
    /// The step was not finite and was dropped (`train.on_nonfinite = "skip"`): the weights
    /// are those of the step before.
    pub skipped: bool,
}

impl StepReport {
    /// The step's line of metrics.jsonl.
    pub fn to_json(&self) -> Value {
        let mut line = json!({
            "step": self.step,
            "batch_loss": self.loss,
            "lr": self.lr,
            "grad_l2": self.grad_l2,
            "grad_l1": self.grad_l1,
            "batch_size": self.batch_size,
        });
        for (name, value) in &self.metrics {
            line[*name] = (*value).into();
        }
        if let Some(next) = self.next_batch_size {
            line["next_batch_size"] = next.into();
        }
        if self.skipped {
            line["skipped"] = true.into();
        }
        line
    }
}

/// Averages over the steps since the previous log line (every `train.log_every` steps).
#[derive(Clone, Debug)]
pub struct LogReport {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: f64,
    pub loss: f64,
    pub accuracy: Option<f64>,
    pub lr: f64,
    pub grad_norm: f64,
    pub batch_size: usize,
    pub images_per_second: f64,
    pub wall_seconds: f64,
    /// Steps of the window dropped as non-finite (not in `loss` and `grad_norm`).
    pub skipped: usize,
}

impl LogReport {
    pub fn to_json(&self) -> Value {
        let mut line = json!({
            "step": self.step,
            "epoch": self.epoch,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "lr": self.lr,
            "grad_norm": self.grad_norm,
            "batch_size": self.batch_size,
            "images_per_second": self.images_per_second,
            "wall_seconds": self.wall_seconds,
        });
        if self.skipped > 0 {
            line["skipped"] = self.skipped.into();
        }
        line
    }
}

/// An evaluation at the configured cadence (`train.eval_every`).
#[derive(Clone, Debug)]
pub struct EvalReport {
    pub step: usize,
    pub evaluation: Evaluation,
    /// Whether it is the best so far (the `best` checkpoint).
    pub is_best: bool,
    /// Its line of metrics.jsonl (robust-accuracy figures included).
    pub record: Value,
    /// One line for people: "epoch 1.00 step 78: test loss ..., test accuracy ...".
    pub text: String,
}

/// Training stopped early because robust accuracy collapsed (Fast-AT's guard); the weights
/// of the best robust accuracy were restored.
#[derive(Clone, Debug)]
pub struct CollapseReport {
    pub step: usize,
    pub restored_step: Option<usize>,
    pub evaluation: Evaluation,
}

impl CollapseReport {
    pub fn to_json(&self) -> Value {
        json!({
            "step": self.step,
            "stopped_on_collapse": self.step,
            "restored_step": self.restored_step,
            "test_loss": self.evaluation.test_loss,
            "test_accuracy": self.evaluation.test_accuracy,
        })
    }

    pub fn text(&self) -> String {
        format!(
            "stopping at step {}: restored the weights of step {}, {}",
            self.step,
            self.restored_step.unwrap_or(0),
            self.evaluation.describe("test")
        )
    }
}

/// What happened.
#[derive(Debug)]
pub enum Event<'a> {
    /// [`crate::Trainer::run`] starts (at `step`, more than 0 after a resume).
    Started {
        step: usize,
        total_steps: usize,
    },
    Step(&'a StepReport),
    Log(&'a LogReport),
    Evaluation(&'a EvalReport),
    CollapseStop(&'a CollapseReport),
    /// The end of one iteration of [`crate::Trainer::run`]: whether a checkpoint is due
    /// (`train.checkpoint_every`, the last step, an early stop) and whether this step's
    /// evaluation was the best so far.
    StepEnd {
        step: usize,
        checkpoint_due: bool,
        best: bool,
    },
    /// The cancellation token stopped [`crate::Trainer::run`] before `step`.
    Interrupted {
        step: usize,
    },
    /// Step `step` was not finite and was not applied; `run` stops at the step before it
    /// (`train.on_nonfinite = "stop"`) once the observers saw this.
    NonFinite {
        step: usize,
    },
    /// [`crate::Trainer::run`] reached the end.
    Finished(&'a Summary),
}

/// What observers may ask of the Trainer they watch, while it is paused in an event.
pub trait TrainerAccess {
    /// Steps completed.
    fn completed_steps(&self) -> usize;
    /// Writes a checkpoint of the current state into `checkpoints` (which becomes its
    /// `latest`; with `best`, its `best` too), keeping the newest `keep_last`.
    fn save_checkpoint(
        &mut self,
        checkpoints: &CheckpointDir,
        best: bool,
        keep_last: usize,
    ) -> anyhow::Result<PathBuf>;
    /// The current weights.
    fn weights(&self) -> Weights;
    /// Images generated with the current weights; `None` for recipes that do not generate.
    fn generate_images(
        &self,
        request: &crate::diffusion::generate::SampleRequest,
    ) -> Option<anyhow::Result<crate::diffusion::generate::GeneratedImages>>;
}

/// Watches a Trainer. An error returned from an observer stops the Trainer's call with it.
pub trait Observer {
    fn on_event(
        &mut self,
        event: &Event<'_>,
        trainer: &mut dyn TrainerAccess,
    ) -> anyhow::Result<()>;
}

/// The observers of one Trainer, called in the order they were attached.
#[derive(Default)]
pub struct Observers(Vec<Box<dyn Observer>>);

impl Observers {
    pub fn push(&mut self, observer: Box<dyn Observer>) {
        self.0.push(observer);
    }

    pub fn notify(
        &mut self,
        event: &Event<'_>,
        trainer: &mut dyn TrainerAccess,
    ) -> anyhow::Result<()> {
        for observer in &mut self.0 {
            observer.on_event(event, trainer)?;
        }
        Ok(())
    }
}
