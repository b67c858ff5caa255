//! `stoke train` as a library function: a [`Trainer`] for a new or resumed run directory,
//! with the run recorder attached, trained to the end. Also the run's summary and the error
//! of an interrupted run.

use super::cancel::CancelToken;
use super::checkpoint::CheckpointDir;
use super::config_change;
use super::engine::Setup;
use super::masks::Masks;
use super::observer::Observer;
use super::recorder::RunRecorder;
use super::run_dir::load_run_config;
use super::tensorboard::TensorBoardObserver;
use super::trainer::Trainer;
use super::weights::Weights;
use crate::config::RunConfig;
use crate::datasets::LoadedData;
use crate::distributed::World;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How to run a training (everything else is in the config).
#[derive(Clone, Default)]
pub struct TrainOptions {
    /// The run directory.
    pub out_dir: PathBuf,
    /// Continue from the latest checkpoint in `out_dir`.
    pub resume: bool,
    /// Stop as Ctrl-C would once this many steps are done (checkpoint, then `Interrupted`).
    pub stop_after: Option<usize>,
    /// The data-parallel ranks this process trains with (one process by default).
    pub world: World,
    /// Stops the run between steps, with a checkpoint (the CLI wires Ctrl-C to it).
    pub cancel: CancelToken,
    /// The data to train on instead of the config's (a driver's runs sharing one split
    /// whatever their seeds).
    pub data: Option<LoadedData>,
}

/// What `summary.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// None for models that do not classify (diffusion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    /// The best test accuracy at an evaluation (absent when a holdout split selects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_test_accuracy: Option<f64>,
    /// The last accuracy on `dataset.holdout`'s images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_accuracy: Option<f64>,
    /// The best holdout accuracy (what picked `best_step`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_holdout_accuracy: Option<f64>,
    /// The step of the `best` checkpoint: highest test accuracy, or lowest test loss.
    pub best_step: Option<usize>,
    /// The final evaluation's named loss parts (`test_loss_<name>`).
    #[serde(flatten)]
    pub test_loss_parts: std::collections::BTreeMap<String, f64>,
    pub steps: usize,
    pub epochs: f64,
    pub wall_seconds: f64,
    pub images_per_second: f64,
    pub trainable_params: Option<usize>,
    /// Data-parallel ranks that trained (`images_per_second` sums over them).
    pub ranks: usize,
    /// Robust accuracy at the last evaluation (`[robust_eval]`), when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub robust_accuracy: Option<f64>,
    /// The step at which catastrophic overfitting was detected, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catastrophic_overfitting_step: Option<usize>,
    /// The step at which a robust-accuracy collapse stopped training (the weights of the best
    /// robust accuracy were restored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_on_collapse: Option<usize>,
    /// Steps dropped as non-finite (`train.on_nonfinite = "skip"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_steps: Option<usize>,
}

/// Error a run ends with when Ctrl-C stopped it after a checkpoint.
#[derive(Debug)]
pub struct Interrupted {
    pub step: usize,
    /// The checkpoint written on the way out (None when no observer wrote one).
    pub checkpoint: Option<PathBuf>,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.checkpoint {
            Some(dir) => write!(
                f,
                "interrupted at step {}; checkpoint saved in {}",
                self.step,
                dir.display()
            ),
            None => write!(
                f,
                "interrupted at step {} (no checkpoint written)",
                self.step
            ),
        }
    }
}

impl std::error::Error for Interrupted {}

/// Error of [`crate::Trainer::run`] on a run that has no step left (a finished run resumed
/// without a longer `train.steps` or `train.epochs`); nothing was trained or written.
#[derive(Debug)]
pub struct RunComplete {
    pub steps: usize,
    /// The keys that would extend the run.
    pub length: &'static str,
}

impl std::fmt::Display for RunComplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the run is already complete ({} steps); nothing changed. Extend {} to train on",
            self.steps, self.length
        )
    }
}

impl std::error::Error for RunComplete {}

/// Trains per `config` into the run directory `options.out_dir` (a new one holding `resolved`
/// as config.toml, or the one `options.resume` continues); `observers` (progress display)
/// are attached after the recorder. Rank 0 alone writes the directory.
pub fn train(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &TrainOptions,
    observers: Vec<Box<dyn Observer>>,
) -> anyhow::Result<Summary> {
    let device = crate::device::parse(&config.device)?;
    let setup = Setup {
        world: options.world.clone(),
        id: 0,
    };
    let leader = options.world.is_leader();
    let keep_last = config.train.keep_last;
    let mut trainer = match options.resume {
        true => {
            let (_, saved) = load_run_config(&options.out_dir, &[])?;
            let changes = config_change::changes(&saved, resolved);
            config_change::check_resumable(&changes)?;
            let mut trainer = Trainer::build(config, &device, options.data.clone(), setup)?;
            if leader {
                let latest = CheckpointDir::new(&options.out_dir).latest()?;
                trainer.load_checkpoint(&latest)?;
                let step = trainer.completed_steps();
                let recorder = RunRecorder::reopen(&options.out_dir, step, keep_last)?
                    .with_config_change(resolved.clone(), changes);
                trainer.attach(recorder);
            } else {
                trainer.load_checkpoint(&PathBuf::new())?;
            }
            trainer
        }
        false => {
            let mut trainer = Trainer::build(config, &device, options.data.clone(), setup)?;
            // Rank 0's weights reach the other ranks when training starts.
            // `train.init_from` replaces `model.init`: a sweep's points start from its run.
            let (init_from, key) = match (&config.train.init_from, config.model.init()) {
                (Some(from), _) => (Some(from.as_str()), "train.init_from"),
                (None, init) => (init, "model.init"),
            };
            if let (Some(from), true) = (init_from, leader) {
                let (weights, masks) = initial_weights(Path::new(from), config, &device)
                    .map_err(|e| crate::usage_error!("key `{key}`: {e:#}"))?;
                trainer.set_weights(&weights)?;
                // A pruned run's masks come with its weights: fine-tuning keeps it sparse.
                if masks.is_some() {
                    trainer
                        .set_masks(masks)
                        .map_err(|e| crate::usage_error!("key `{key}`: {e:#}"))?;
                }
            }
            if leader {
                trainer.attach(RunRecorder::create(&options.out_dir, resolved, keep_last)?);
            }
            trainer
        }
    };
    if leader && config.train.tensorboard {
        trainer.attach(TensorBoardObserver::new(
            &options.out_dir.join("tensorboard"),
            config.train.tensorboard_samples,
            config.seed,
        )?);
    }
    for observer in observers {
        trainer.attach_boxed(observer);
    }
    trainer.set_cancel_token(options.cancel.clone());
    match options.stop_after {
        Some(step) => trainer.run_stopping_at(step),
        None => trainer.run(),
    }
}

/// The weights `train.init_from` names (a run's latest checkpoint, or a checkpoint), with
/// the run's pruning masks.
fn initial_weights(
    from: &Path,
    config: &RunConfig,
    device: &burn::tensor::Device,
) -> anyhow::Result<(Weights, Option<Masks>)> {
    // A weights file (`stoke export`'s safetensors) rather than a run.
    if from.is_file() {
        let weights =
            super::import::read_for(from, config).map_err(|e| crate::usage_error!("{e:#}"))?;
        return Ok((weights, None));
    }
    let located =
        super::run_dir::locate(from, false, &[]).map_err(|e| crate::usage_error!("{e:#}"))?;
    let source = Trainer::from_checkpoint(&located.config, &located.checkpoint, device)?;
    Ok((source.weights(), source.masks().cloned()))
}
