//! [`Trainer`]: one training run as a library object. Drivers (federated simulation, soups,
//! pruning, data scoring) step it, read and set its weights, evaluate it and save it;
//! `stoke train` is one such caller.
//!
//! ```no_run
//! use stoke::{Trainer, Weights};
//! let (config, _) = stoke::config::resolve("smoke", &[]).unwrap();
//! let device = stoke::device::parse(&config.device).unwrap();
//! let mut trainer = Trainer::new(&config, &device).unwrap();
//! let reports = trainer.run_steps(10).unwrap();
//! assert!(reports.iter().all(|r| r.loss.is_finite()));
//! let weights: Weights = trainer.weights();
//! trainer.set_weights(&weights.scale(1.0)).unwrap();
//! let accuracy = trainer.evaluate().unwrap().test_accuracy;
//! ```
//!
//! A Trainer prints and writes nothing unless an [`Observer`] is attached
//! ([`crate::train::recorder::RunRecorder`] writes a run directory as `stoke train` does);
//! [`Trainer::run`] stops between steps when its [`CancelToken`] is cancelled.
//!
//! Several Trainers in one process: each step re-seeds Burn's device generator from keys of
//! (seed, step, rank, [`Setup::id`]), so Trainers stepped alternately on one thread give
//! exactly what each gives alone. The generator and the softmax kernel choice are
//! process-wide switches that each Trainer sets as it computes, so Trainers stepped
//! *concurrently* on several threads train correctly but are reproducible only where their
//! recipes draw nothing from the device generator (no dropout, no random attack starts). A
//! Trainer is not `Send` (its data-parallel world may hold an MPI communicator): build it on
//! the thread that uses it.

use super::cancel::CancelToken;
use super::checkpoint::{CheckpointDir, TrainState};
use super::engine::{Engine, Setup};
use super::evaluate::{Evaluation, RobustEvaluation};
use super::masks::Masks;
use super::observer::{Observer, Observers, StepReport, TrainerAccess};
use super::predict::Predictions;
use super::run_dir::load_run_config;
use super::session::Summary;
use super::weights::Weights;
use crate::attacks::evaluation::EvalAttack;
use crate::config::RunConfig;
use crate::datasets::{ImageSet, LoadedData};
use crate::diffusion::generate::{GeneratedImages, SampleRequest};
use crate::recipes::Recipe;
use crate::usage_error;
use anyhow::Context;
use burn::prelude::Device;
use std::path::{Path, PathBuf};

/// A recipe built from a config's options, not yet bound to data and a model.
pub trait UnboundRecipe {
    /// Builds model, optimizer and schedule for `data` on `device`.
    fn bind(
        self: Box<Self>,
        config: &RunConfig,
        data: LoadedData,
        device: &Device,
        setup: Setup,
    ) -> anyhow::Result<Box<dyn Core>>;
}

/// A recipe of type `R` awaiting its data.
pub struct Unbound<R>(pub R);

impl<R: Recipe + 'static> UnboundRecipe for Unbound<R> {
    fn bind(
        self: Box<Self>,
        config: &RunConfig,
        data: LoadedData,
        device: &Device,
        setup: Setup,
    ) -> anyhow::Result<Box<dyn Core>> {
        Ok(Box::new(Engine::new(self.0, config, data, device, setup)?))
    }
}

/// The recipe-independent face of [`Engine`] (what hides the recipe's type).
#[doc(hidden)]
pub trait Core: TrainerAccess {
    fn config(&self) -> &RunConfig;
    fn total_steps(&self) -> usize;
    fn state(&self) -> &TrainState;
    fn trainable_params(&self) -> usize;
    fn is_finished(&self) -> bool;
    fn step(&mut self, observers: &mut Observers) -> anyhow::Result<StepReport>;
    fn gradients(&mut self) -> anyhow::Result<(Weights, StepReport)>;
    fn forward_training_batches(&mut self, batches: usize) -> anyhow::Result<()>;
    fn apply_gradients(
        &mut self,
        gradients: &Weights,
        observers: &mut Observers,
    ) -> anyhow::Result<StepReport>;
    fn run(
        &mut self,
        observers: &mut Observers,
        cancel: &CancelToken,
        stop_after: Option<usize>,
    ) -> anyhow::Result<Summary>;
    fn evaluate(&self) -> anyhow::Result<Evaluation>;
    fn evaluate_on(&self, set: &ImageSet) -> anyhow::Result<Evaluation>;
    fn train_set(&self) -> &ImageSet;
    fn evaluate_holdout(&self) -> anyhow::Result<Option<Evaluation>>;
    fn predict(&self, set: &ImageSet) -> anyhow::Result<Predictions>;
    fn example_gradient_norms(&self, set: &ImageSet) -> anyhow::Result<Vec<f64>>;
    fn evaluate_robust(
        &self,
        attack: &EvalAttack,
        limit: Option<usize>,
    ) -> anyhow::Result<RobustEvaluation>;
    fn generate(&self, request: &SampleRequest) -> anyhow::Result<GeneratedImages>;
    fn set_weights(&mut self, weights: &Weights) -> anyhow::Result<()>;
    fn reset_optimizer(&mut self) -> anyhow::Result<()>;
    fn optimizer_state(&self) -> anyhow::Result<Vec<u8>>;
    fn set_optimizer_state(&mut self, bytes: Vec<u8>) -> anyhow::Result<()>;
    fn load_checkpoint(&mut self, dir: &Path) -> anyhow::Result<()>;
    fn set_sampling_weights(&mut self, weights: Option<Vec<f64>>) -> anyhow::Result<()>;
    fn load_weights_file(&mut self, dir: &Path) -> anyhow::Result<()>;
    fn is_leader(&self) -> bool;
    fn set_masks(&mut self, masks: Option<Masks>) -> anyhow::Result<()>;
    fn masks(&self) -> Option<&Masks>;
}

impl<R: Recipe> Core for Engine<R> {
    fn config(&self) -> &RunConfig {
        Engine::config(self)
    }
    fn total_steps(&self) -> usize {
        Engine::total_steps(self)
    }
    fn state(&self) -> &TrainState {
        Engine::state(self)
    }
    fn trainable_params(&self) -> usize {
        Engine::trainable_params(self)
    }
    fn is_finished(&self) -> bool {
        Engine::is_finished(self)
    }
    fn step(&mut self, observers: &mut Observers) -> anyhow::Result<StepReport> {
        Engine::step(self, observers)
    }
    fn gradients(&mut self) -> anyhow::Result<(Weights, StepReport)> {
        Engine::gradients(self)
    }
    fn forward_training_batches(&mut self, batches: usize) -> anyhow::Result<()> {
        Engine::forward_training_batches(self, batches)
    }
    fn apply_gradients(
        &mut self,
        gradients: &Weights,
        observers: &mut Observers,
    ) -> anyhow::Result<StepReport> {
        Engine::apply_gradients(self, gradients, observers)
    }
    fn run(
        &mut self,
        observers: &mut Observers,
        cancel: &CancelToken,
        stop_after: Option<usize>,
    ) -> anyhow::Result<Summary> {
        Engine::run(self, observers, cancel, stop_after)
    }
    fn evaluate(&self) -> anyhow::Result<Evaluation> {
        Engine::evaluate(self)
    }
    fn evaluate_on(&self, set: &ImageSet) -> anyhow::Result<Evaluation> {
        Engine::evaluate_on(self, set)
    }
    fn train_set(&self) -> &ImageSet {
        Engine::train_set(self)
    }
    fn evaluate_holdout(&self) -> anyhow::Result<Option<Evaluation>> {
        Engine::evaluate_holdout(self)
    }
    fn predict(&self, set: &ImageSet) -> anyhow::Result<Predictions> {
        Engine::predict(self, set)
    }
    fn example_gradient_norms(&self, set: &ImageSet) -> anyhow::Result<Vec<f64>> {
        Engine::example_gradient_norms(self, set)
    }
    fn evaluate_robust(
        &self,
        attack: &EvalAttack,
        limit: Option<usize>,
    ) -> anyhow::Result<RobustEvaluation> {
        Engine::evaluate_robust(self, attack, limit)
    }
    fn generate(&self, request: &SampleRequest) -> anyhow::Result<GeneratedImages> {
        Engine::generate(self, request)
    }
    fn set_weights(&mut self, weights: &Weights) -> anyhow::Result<()> {
        Engine::set_weights(self, weights)
    }
    fn reset_optimizer(&mut self) -> anyhow::Result<()> {
        Engine::reset_optimizer(self)
    }
    fn optimizer_state(&self) -> anyhow::Result<Vec<u8>> {
        Engine::optimizer_state(self)
    }
    fn set_optimizer_state(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        Engine::set_optimizer_state(self, bytes)
    }
    fn load_checkpoint(&mut self, dir: &Path) -> anyhow::Result<()> {
        Engine::load_checkpoint(self, dir)
    }
    fn load_weights_file(&mut self, dir: &Path) -> anyhow::Result<()> {
        Engine::load_weights_file(self, dir)
    }
    fn set_sampling_weights(&mut self, weights: Option<Vec<f64>>) -> anyhow::Result<()> {
        Engine::set_sampling_weights(self, weights)
    }
    fn is_leader(&self) -> bool {
        self.world().is_leader()
    }
    fn set_masks(&mut self, masks: Option<Masks>) -> anyhow::Result<()> {
        Engine::set_masks(self, masks)
    }
    fn masks(&self) -> Option<&Masks> {
        Engine::masks(self)
    }
}

/// One training run: data, model, optimizer, schedule, step counter and random keys.
pub struct Trainer {
    core: Box<dyn Core>,
    observers: Observers,
    cancel: CancelToken,
}

impl Trainer {
    /// Loads the config's data and builds recipe, model, optimizer and schedule exactly as
    /// `stoke train` does (same seed, same initial weights).
    pub fn new(config: &RunConfig, device: &Device) -> anyhow::Result<Trainer> {
        Self::build(config, device, None, Setup::default())
    }

    /// The same on data the caller provides (a client's shard), normalised and augmented as
    /// the config says; the model's input shape and classes come from `train`.
    pub fn with_data(
        config: &RunConfig,
        train: ImageSet,
        test: ImageSet,
        device: &Device,
    ) -> anyhow::Result<Trainer> {
        let data = LoadedData {
            train,
            test,
            class_names: Vec::new(),
            holdout: None,
        };
        Self::build(config, device, Some(data), Setup::default())
    }

    /// The general constructor: the config's data unless `data` is given, in the
    /// data-parallel world and with the trainer id of `setup`.
    pub fn build(
        config: &RunConfig,
        device: &Device,
        data: Option<LoadedData>,
        setup: Setup,
    ) -> anyhow::Result<Trainer> {
        super::validate::validate(config)?;
        let recipe = crate::train::recipes::build(config)?;
        let data = match data {
            Some(data) => check_data(data)?,
            None => crate::datasets::load(&config.dataset, config.seed)?,
        };
        Ok(Trainer {
            core: recipe.bind(config, data, device, setup)?,
            observers: Observers::default(),
            cancel: CancelToken::new(),
        })
    }

    /// Continues the run saved in `dir` (by `stoke train` or [`Trainer::save`]) from its
    /// latest checkpoint; `overrides` are applied to its saved config and may change only
    /// what [`super::config_change::RESUMABLE`] lists.
    pub fn resume(dir: &Path, overrides: &[String], device: &Device) -> anyhow::Result<Trainer> {
        Self::resume_with(dir, overrides, device, Setup::default())
    }

    /// [`Trainer::resume`] in a data-parallel world: rank 0 reads the checkpoint, the other
    /// ranks receive it when training starts.
    pub fn resume_with(
        dir: &Path,
        overrides: &[String],
        device: &Device,
        setup: Setup,
    ) -> anyhow::Result<Trainer> {
        let (config, resolved) = load_run_config(dir, overrides)?;
        let (_, saved) = load_run_config(dir, &[])?;
        super::config_change::check_resumable(&super::config_change::changes(&saved, &resolved))?;
        let leader = setup.world.is_leader();
        let mut trainer = Self::build(&config, device, None, setup)?;
        let latest = match leader {
            true => CheckpointDir::new(dir).latest()?,
            false => PathBuf::new(),
        };
        trainer.load_checkpoint(&latest)?;
        Ok(trainer)
    }

    /// A Trainer with the weights of a checkpoint directory (optimizer and progress fresh):
    /// what evaluation, sampling and export start from.
    pub fn from_checkpoint(
        config: &RunConfig,
        checkpoint: &Path,
        device: &Device,
    ) -> anyhow::Result<Trainer> {
        let mut trainer = Self::new(config, device)?;
        trainer.core.load_weights_file(checkpoint)?;
        Ok(trainer)
    }

    /// Takes the weights (and pruning masks) of a checkpoint directory; optimizer state and
    /// progress are kept.
    pub fn load_weights(&mut self, checkpoint: &Path) -> anyhow::Result<()> {
        self.core.load_weights_file(checkpoint)
    }

    /// Adds an observer; observers see events in the order they were attached.
    pub fn attach(&mut self, observer: impl Observer + 'static) -> &mut Self {
        self.attach_boxed(Box::new(observer))
    }

    /// [`Trainer::attach`] for an observer already boxed.
    pub fn attach_boxed(&mut self, observer: Box<dyn Observer>) -> &mut Self {
        self.observers.push(observer);
        self
    }

    /// Continues from a checkpoint directory: weights, optimizer state, progress and the
    /// recipe's state (on rank 0; other ranks receive them when training starts).
    pub fn load_checkpoint(&mut self, dir: &Path) -> anyhow::Result<()> {
        self.core.load_checkpoint(dir)
    }

    /// The token that stops [`Trainer::run`] between steps (clone it into a signal handler or
    /// another thread).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Uses `token` (shared with other Trainers or the caller's own) instead of its own.
    pub fn set_cancel_token(&mut self, token: CancelToken) {
        self.cancel = token;
    }

    /// One optimizer step on the next batch.
    pub fn step(&mut self) -> anyhow::Result<StepReport> {
        self.core.step(&mut self.observers)
    }

    /// `n` optimizer steps (fewer if the run's budget ends first).
    pub fn run_steps(&mut self, n: usize) -> anyhow::Result<Vec<StepReport>> {
        let mut reports = Vec::with_capacity(n);
        for _ in 0..n {
            if self.core.is_finished() {
                break;
            }
            reports.push(self.step()?);
        }
        Ok(reports)
    }

    /// Trains to the end of the config's budget with evaluations at `train.eval_every` (what
    /// `stoke train` calls). Cancelled, it returns an [`super::session::Interrupted`] error.
    pub fn run(&mut self) -> anyhow::Result<Summary> {
        self.core.run(&mut self.observers, &self.cancel, None)
    }

    /// [`Trainer::run`] that stops as a cancellation would once `step` steps are done.
    pub fn run_stopping_at(&mut self, step: usize) -> anyhow::Result<Summary> {
        self.core.run(&mut self.observers, &self.cancel, Some(step))
    }

    /// The next batch's gradients (of the global batch's mean loss), nothing applied.
    /// [`Trainer::apply_gradients`] of them completes a step identical to [`Trainer::step`].
    pub fn gradients(&mut self) -> anyhow::Result<(Weights, StepReport)> {
        self.core.gradients()
    }

    /// Runs the model in training mode over the `batches` training batches from the current
    /// step on, without a loss or an update: batch norms fold the batches' statistics into
    /// their running statistics (classifier recipes). The step and the data the next steps
    /// train on do not move.
    pub fn forward_training_batches(&mut self, batches: usize) -> anyhow::Result<()> {
        self.core.forward_training_batches(batches)
    }

    /// Clipping, the optimizer update and the schedule, with `gradients` named as
    /// [`Trainer::gradients`] gives them (any subset of the trainable tensors).
    pub fn apply_gradients(&mut self, gradients: &Weights) -> anyhow::Result<StepReport> {
        self.core.apply_gradients(gradients, &mut self.observers)
    }

    /// Loss and accuracy (and the recipe's named loss parts) on the test split.
    pub fn evaluate(&self) -> anyhow::Result<Evaluation> {
        self.core.evaluate()
    }

    /// The same on other data (normalised as the config says, not augmented).
    pub fn evaluate_on(&self, data: &ImageSet) -> anyhow::Result<Evaluation> {
        check_set(data, "the data to evaluate on")?;
        self.core.evaluate_on(data)
    }

    /// The same on the Trainer's own training split (without augmentation).
    pub fn evaluate_train_split(&self) -> anyhow::Result<Evaluation> {
        self.core.evaluate_on(self.core.train_set())
    }

    /// The evaluation on the images `dataset.holdout` keeps out of training (None without).
    pub fn evaluate_holdout(&self) -> anyhow::Result<Option<Evaluation>> {
        self.core.evaluate_holdout()
    }

    /// Per-example logits and losses on `data`, in its order (classifier recipes).
    pub fn predict(&self, data: &ImageSet) -> anyhow::Result<Predictions> {
        check_set(data, "the data to predict")?;
        self.core.predict(data)
    }

    /// The L2 norm of each image's cross-entropy gradient over all parameters (Data Diet's
    /// GraNd), in the order of `data`, with the model as at evaluation (classifier recipes).
    pub fn example_gradient_norms(&self, data: &ImageSet) -> anyhow::Result<Vec<f64>> {
        check_set(data, "the data to score")?;
        self.core.example_gradient_norms(data)
    }

    /// Clean and robust accuracy under `attack` on the first `limit` test images.
    pub fn evaluate_robust(
        &self,
        attack: &EvalAttack,
        limit: Option<usize>,
    ) -> anyhow::Result<RobustEvaluation> {
        self.core.evaluate_robust(attack, limit)
    }

    /// Generates images (diffusion recipes).
    pub fn generate(&self, request: &SampleRequest) -> anyhow::Result<GeneratedImages> {
        self.core.generate(request)
    }

    /// Every float tensor of the model by export name, tagged parameter or buffer.
    pub fn weights(&self) -> Weights {
        self.core.weights()
    }

    /// Replaces the model's tensors; names and shapes must match (the error names the
    /// tensor). Optimizer state and progress are kept; under pruning masks the masked
    /// entries are zeroed.
    pub fn set_weights(&mut self, weights: &Weights) -> anyhow::Result<()> {
        self.core.set_weights(weights)
    }

    /// Prunes the model with `masks` (by export name; see [`super::masks`]): masked
    /// weights are zeroed now, their gradients are zeroed before and the weights again after
    /// every update, and checkpoints carry the masks. `None` lifts them.
    pub fn set_masks(&mut self, masks: Option<Masks>) -> anyhow::Result<()> {
        self.core.set_masks(masks)
    }

    /// The pruning masks in force.
    pub fn masks(&self) -> Option<&Masks> {
        self.core.masks()
    }

    /// From the next step on, batches draw training examples with probability proportional
    /// to `weights` (one per training image, in the training set's order), with replacement,
    /// keyed by (seed, step) and kept in checkpoints (importance sampling, as PA&DA's; any
    /// reweighting of the loss is the caller's). `None` returns to shuffled epochs.
    pub fn set_sampling_weights(&mut self, weights: Option<Vec<f64>>) -> anyhow::Result<()> {
        self.core.set_sampling_weights(weights)
    }

    /// Forgets the optimizer's state (momentum, moments).
    pub fn reset_optimizer(&mut self) -> anyhow::Result<()> {
        self.core.reset_optimizer()
    }

    /// The optimizer's state, as the bytes of a checkpoint's `optim.bpk`.
    pub fn optimizer_state(&self) -> anyhow::Result<Vec<u8>> {
        self.core.optimizer_state()
    }

    /// Restores state from [`Trainer::optimizer_state`].
    pub fn set_optimizer_state(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.core.set_optimizer_state(bytes)
    }

    /// Saves the run into `dir` in `stoke train`'s format (config.toml and a checkpoint that
    /// [`Trainer::resume`] and `stoke train --resume` continue); returns the checkpoint.
    pub fn save(&mut self, dir: &Path) -> anyhow::Result<PathBuf> {
        let config_path = dir.join("config.toml");
        let ours = toml::to_string_pretty(self.core.config()).context("encoding the config")?;
        if config_path.exists() {
            let (theirs, _) = load_run_config(dir, &[])?;
            if toml::to_string_pretty(&theirs)? != ours {
                return Err(usage_error!(
                    "{} holds another run's config; save into another directory",
                    dir.display()
                ));
            }
        } else {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            crate::atomic::write_atomic(&config_path, ours.as_bytes())?;
        }
        let keep_last = self.core.config().train.keep_last;
        self.core
            .save_checkpoint(&CheckpointDir::new(dir), false, keep_last)
    }

    /// Writes the model's weights as safetensors (what `stoke export` writes). A pruned
    /// model's header says so: `stoke.sparsity` (the fraction of prunable weights its masks
    /// remove) and `stoke.pruned_tensors` (their names, comma-separated); the removed weights
    /// are exact zeros in the file.
    pub fn export_safetensors(&self, path: &Path) -> anyhow::Result<usize> {
        let weights = self.weights();
        let mut metadata = std::collections::BTreeMap::new();
        if let Some(masks) = self.masks() {
            metadata.insert("stoke.sparsity".into(), format!("{}", masks.sparsity()));
            let names: Vec<&str> = masks.iter().map(|(name, _)| name).collect();
            metadata.insert("stoke.pruned_tensors".into(), names.join(","));
        }
        weights.write_safetensors_with(path, metadata)?;
        Ok(weights.len())
    }

    pub fn config(&self) -> &RunConfig {
        self.core.config()
    }

    /// Optimizer steps completed.
    pub fn completed_steps(&self) -> usize {
        self.core.completed_steps()
    }

    /// The steps the config's budget allows.
    pub fn total_steps(&self) -> usize {
        self.core.total_steps()
    }

    /// Whether the config's budget is spent.
    pub fn is_finished(&self) -> bool {
        self.core.is_finished()
    }

    pub fn trainable_params(&self) -> usize {
        self.core.trainable_params()
    }

    /// Whether this process is rank 0 of its data-parallel world (the one that writes).
    pub fn is_leader(&self) -> bool {
        self.core.is_leader()
    }
}

/// Data a caller hands in: consistent and not empty.
fn check_data(data: LoadedData) -> anyhow::Result<LoadedData> {
    check_set(&data.train, "the training data")?;
    check_set(&data.test, "the test data")?;
    let (train, test) = (&data.train, &data.test);
    if (train.channels, train.height, train.width) != (test.channels, test.height, test.width) {
        return Err(usage_error!(
            "the training images are {}x{}x{}, the test images {}x{}x{}",
            train.channels,
            train.height,
            train.width,
            test.channels,
            test.height,
            test.width
        ));
    }
    Ok(data)
}

fn check_set(set: &ImageSet, what: &str) -> anyhow::Result<()> {
    if set.is_empty() {
        return Err(usage_error!("{what} holds no images"));
    }
    if set.pixels.len() != set.len() * set.image_size() {
        return Err(usage_error!(
            "{what}: {} pixel bytes for {} images of {}x{}x{}",
            set.pixels.len(),
            set.len(),
            set.channels,
            set.height,
            set.width
        ));
    }
    if let Some(label) = set.labels.iter().find(|&&l| l as usize >= set.num_classes) {
        return Err(usage_error!(
            "{what}: label {label} for {} classes",
            set.num_classes
        ));
    }
    Ok(())
}
