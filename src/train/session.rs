//! A recipe bound to the engine: training, evaluation and export of its model, behind an
//! object-safe trait so the registry can hand any recipe to the CLI.

use super::adaptive_batch::{AdaptiveBatch, Share};
use super::atomic::write_atomic;
use super::checkpoint::{CheckpointDir, TrainState, load_model, load_training};
use super::evaluate::{
    Evaluation, RobustEvaluation, evaluate, evaluate_robust, evaluate_shared, to_device,
};
use super::interrupt;
use super::metrics::MetricsLog;
use super::progress::{Progress, Status};
use super::robustness::{RobustProbe, Verdict};
use super::schedule::Schedule;
use crate::attacks::evaluation::EvalAttack;
use crate::config::RunConfig;
use crate::datasets::augment::Augment;
use crate::datasets::{BatchPlan, LoadedData, Pipeline, TrainLoader};
use crate::diffusion::generate::{GeneratedImages, SampleRequest};
use crate::distributed::World;
use crate::distributed::gradients;
use crate::distributed::shard::Shard;
use crate::optim::grad_norm::{clip_global_norm, grad_norms};
use crate::optim::hutchinson::stack_with_diagonal;
use crate::optim::lr_scaling::LrScaling;
use crate::recipes::{DataInfo, Recipe, StepContext};
use crate::rng::{self, Stream};
use crate::usage_error;
use anyhow::Context;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// How to run a training (everything else is in the config).
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// The run directory.
    pub out_dir: PathBuf,
    /// Continue from the latest checkpoint in `out_dir`.
    pub resume: bool,
    /// No progress output (the summary is still returned).
    pub quiet: bool,
    /// Stop as Ctrl-C would once this many steps are done (checkpoint, then `Interrupted`).
    pub stop_after: Option<usize>,
    /// The data-parallel ranks this process trains with (one process by default).
    pub world: World,
}

/// What `summary.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// None for models that do not classify (diffusion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_test_accuracy: Option<f64>,
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
}

/// Error a run ends with when Ctrl-C stopped it after a checkpoint.
#[derive(Debug)]
pub struct Interrupted {
    pub step: usize,
    pub checkpoint: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted at step {}; checkpoint saved in {}",
            self.step,
            self.checkpoint.display()
        )
    }
}

impl std::error::Error for Interrupted {}

pub trait SessionOps {
    /// Trains per `config`, writing the run directory; `resolved` is saved as config.toml.
    fn train(
        &mut self,
        config: &RunConfig,
        resolved: &toml::Table,
        options: &TrainOptions,
    ) -> anyhow::Result<Summary>;
    /// Evaluates the weights of a checkpoint directory on the config's test split (or its
    /// training split, without augmentation, when `on_train`).
    fn evaluate(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        on_train: bool,
    ) -> anyhow::Result<Evaluation>;
    /// Clean and robust accuracy of a checkpoint's weights on (the first `limit` images of)
    /// the test split under `attack`.
    fn evaluate_robust(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        attack: &EvalAttack,
        limit: Option<usize>,
    ) -> anyhow::Result<RobustEvaluation>;
    /// Generates images with a checkpoint's weights (diffusion recipes).
    fn sample(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        request: &SampleRequest,
    ) -> anyhow::Result<GeneratedImages>;
    /// Writes the weights of a checkpoint directory as safetensors; returns the tensor count.
    fn export_safetensors(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        out: &Path,
    ) -> anyhow::Result<usize>;
}

pub struct Session<R: Recipe> {
    recipe: R,
}

impl<R: Recipe> Session<R> {
    pub fn new(recipe: R) -> Self {
        Self { recipe }
    }
}

fn data_info(data: &LoadedData) -> DataInfo {
    DataInfo {
        channels: data.train.channels,
        height: data.train.height,
        width: data.train.width,
        num_classes: data.num_classes(),
    }
}

fn pipeline(config: &RunConfig) -> Pipeline {
    Pipeline {
        mean: config.dataset.mean.clone(),
        std: config.dataset.std.clone(),
        augment: Augment {
            crop_padding: config.data.crop_padding,
            hflip: config.data.hflip,
        },
    }
}

/// Builds the recipe's model for the config's data with weights from `checkpoint`.
fn restore<R: Recipe>(
    recipe: &R,
    config: &RunConfig,
    checkpoint: &Path,
) -> anyhow::Result<(R::Model, LoadedData, Device)> {
    let device = crate::device::parse(&config.device)?;
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let model = recipe.build_model(config, &data_info(&data), &device)?;
    let model = load_model(checkpoint, model)?;
    Ok((model, data, device))
}

impl<R: Recipe> SessionOps for Session<R> {
    fn train(
        &mut self,
        config: &RunConfig,
        resolved: &toml::Table,
        options: &TrainOptions,
    ) -> anyhow::Result<Summary> {
        Engine::new(&mut self.recipe, config, options)?.run(resolved)
    }

    fn evaluate(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        on_train: bool,
    ) -> anyhow::Result<Evaluation> {
        if config.data.eval_batch_size == 0 {
            return Err(usage_error!(
                "key `data.eval_batch_size`: expected a positive number"
            ));
        }
        let (model, data, device) = restore(&self.recipe, config, checkpoint)?;
        let pipeline = pipeline(config);
        let split = if on_train { &data.train } else { &data.test };
        Ok(evaluate(
            &self.recipe,
            &model,
            split,
            &pipeline,
            config.data.eval_batch_size,
            &device,
        ))
    }

    fn evaluate_robust(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        attack: &EvalAttack,
        limit: Option<usize>,
    ) -> anyhow::Result<RobustEvaluation> {
        let device = crate::device::parse(&config.device)?.autodiff();
        // Random starts draw from the device generator: seeded, so an evaluation repeats.
        device.seed(rng::key(config.seed, Stream::Recipe, u64::MAX, 0));
        let data = crate::datasets::load(&config.dataset, config.seed)?;
        let model = self
            .recipe
            .build_model(config, &data_info(&data), &device)?;
        let model = load_model(checkpoint, model)?;
        let pipeline = pipeline(config);
        let batch_size = config.data.eval_batch_size.max(1);
        evaluate_robust(
            &self.recipe,
            &model,
            &data.test,
            &pipeline,
            batch_size,
            &device,
            attack,
            limit,
        )
        .ok_or_else(|| {
            usage_error!(
                "recipe `{}` has no robust evaluation (its model is not an image classifier)",
                config.recipe.name
            )
        })
    }

    fn sample(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        request: &SampleRequest,
    ) -> anyhow::Result<GeneratedImages> {
        let (model, _, _) = restore(&self.recipe, config, checkpoint)?;
        self.recipe.generate(&model, request).unwrap_or_else(|| {
            Err(usage_error!(
                "recipe `{}` does not generate images (sampling needs a ddpm or edm run)",
                config.recipe.name
            ))
        })
    }

    fn export_safetensors(
        &mut self,
        config: &RunConfig,
        checkpoint: &Path,
        out: &Path,
    ) -> anyhow::Result<usize> {
        let (model, _, _) = restore(&self.recipe, config, checkpoint)?;
        crate::export::write_safetensors(&model, out)
    }
}

/// One training run in progress.
struct Engine<'a, R: Recipe> {
    recipe: &'a mut R,
    config: &'a RunConfig,
    options: &'a TrainOptions,
    data: LoadedData,
    device: Device,
    steps_per_epoch: usize,
    total_steps: usize,
}

impl<'a, R: Recipe> Engine<'a, R> {
    fn new(
        recipe: &'a mut R,
        config: &'a RunConfig,
        options: &'a TrainOptions,
    ) -> anyhow::Result<Self> {
        let device = crate::device::parse(&config.device)?;
        let data = crate::datasets::load(&config.dataset, config.seed)?;
        let batch = config.data.batch_size;
        if batch == 0 || batch > data.train.len() {
            return Err(usage_error!(
                "key `data.batch_size`: expected 1..={} (the training set size), got {batch}",
                data.train.len()
            ));
        }
        let ranks = options.world.size();
        if batch < ranks {
            return Err(usage_error!(
                "key `data.batch_size`: the global batch of {batch} cannot be shared by {ranks} \
                 ranks (each needs at least one sample)"
            ));
        }
        if config.data.eval_batch_size == 0 {
            return Err(usage_error!(
                "key `data.eval_batch_size`: expected a positive number"
            ));
        }
        let steps_per_epoch = data.train.len() / batch;
        let total_steps = if config.train.steps > 0 {
            config.train.steps
        } else {
            config.train.epochs * steps_per_epoch
        };
        if total_steps == 0 {
            return Err(usage_error!(
                "key `train.epochs`: training needs at least one step (set train.epochs or train.steps)"
            ));
        }
        Ok(Self {
            recipe,
            config,
            options,
            data,
            device,
            steps_per_epoch,
            total_steps,
        })
    }

    fn every(&self, value: usize) -> usize {
        if value == 0 {
            self.steps_per_epoch
        } else {
            value
        }
    }

    fn run(mut self, resolved: &toml::Table) -> anyhow::Result<Summary> {
        let config = self.config;
        let out_dir = &self.options.out_dir;
        let world = self.options.world.clone();
        // Rank 0 alone writes the run directory; the others train and evaluate with it.
        let leader = world.is_leader();
        let train_device = self.device.clone().autodiff();
        let info = data_info(&self.data);
        let mut model = {
            // Initialisation draws from the seed alone (ranks in threads take turns at the
            // generator they may share).
            let _turn = INITIALISING.lock().unwrap_or_else(|e| e.into_inner());
            train_device.seed(rng::key(config.seed, Stream::Init, 0, 0));
            let model = self.recipe.build_model(config, &info, &train_device)?;
            // All of it now, before any rank compares weights.
            crate::models::initialise_now(&model);
            model
        };
        let trainable = crate::models::trainable_params(&model);
        let built = crate::optim::build(&config.optimizer)?;
        let (mut optim, curvature) = (built.optim, built.curvature);
        let schedule = Schedule::new(
            &config.schedule,
            config.optimizer.lr,
            self.steps_per_epoch,
            self.total_steps,
        )?;
        // Under adaptive batches the official AdAdaGrad keeps the rate constant: no scaling
        // unless the config asks for it.
        let mut optimizer_config = config.optimizer.clone();
        if config.adaptive_batch.is_some() && optimizer_config.lr_scaling.is_none() {
            optimizer_config.lr_scaling = Some("none".into());
        }
        let lr_scaling = LrScaling::from_config(&optimizer_config, config.data.batch_size)?;
        crate::kernels::softmax::use_builtin(match config.kernels.softmax.as_str() {
            "two-pass" => false,
            "builtin" => true,
            other => {
                return Err(usage_error!(
                    "key `kernels.softmax`: expected two-pass or builtin, got `{other}`"
                ));
            }
        });
        if (curvature.is_some() || config.adaptive_batch.is_some())
            && !self.recipe.repeatable_loss()
        {
            return Err(usage_error!(
                "recipe `{}` cannot re-evaluate its loss within a step, which optimizer `{}` \
                 and [adaptive_batch] need",
                config.recipe.name,
                config.optimizer.name
            ));
        }
        let train_len = self.data.train.len();
        let adaptive = config
            .adaptive_batch
            .as_ref()
            .map(|c| AdaptiveBatch::from_config(c, config.data.batch_size))
            .transpose()?;
        // With a growing batch an epoch budget ends the run by samples, not steps, so only
        // schedules that do not need the run's length in steps apply.
        let sample_budget = match adaptive {
            Some(_) if config.train.steps == 0 => {
                if config.schedule.name != "constant" {
                    return Err(usage_error!(
                        "key `schedule.name`: with [adaptive_batch] and train.epochs the number of \
                         steps is not known in advance; use schedule.name = \"constant\" or set train.steps"
                    ));
                }
                Some(config.train.epochs * train_len)
            }
            _ => None,
        };
        let checkpoints = CheckpointDir::new(out_dir);
        let probe = RobustProbe::from_config(&config.robust_eval, self.recipe.attack_eps())?;

        let mut state = TrainState::default();
        if self.options.resume && leader {
            let dir = checkpoints.latest()?;
            model = load_model(&dir, model)?;
            (optim, state) = load_training(&dir, optim)?;
        } else if !leader {
            // Rank 0 checks and creates the run directory.
        } else {
            if out_dir.join("checkpoints").exists() || out_dir.join("metrics.jsonl").exists() {
                return Err(usage_error!(
                    "{} already holds a run; continue it with --resume {0}, or choose another --out",
                    out_dir.display()
                ));
            }
            std::fs::create_dir_all(out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            write_atomic(
                &out_dir.join("config.toml"),
                toml::to_string_pretty(resolved)?.as_bytes(),
            )?;
        }
        // Every rank starts from rank 0's weights and state, new run or resumed.
        (model, optim, state) =
            crate::distributed::state::broadcast_training(&world, model, optim, state)?;
        if world.averages_gradients_in_backward() {
            model = gradients::mark_distributed(model);
        }
        if self.options.resume {
            self.recipe.load_state(&state.recipe)?;
        }
        let mut metrics = match leader {
            true => MetricsLog::open(out_dir, state.step)?,
            false => MetricsLog::discard(),
        };
        // Fast-AT's guard: the weights of the best robust accuracy, restored on a collapse
        // (after a resume, the resumed weights until the next evaluation).
        let guard_on_collapse = probe.is_some() && self.recipe.stop_on_collapse();
        // A snapshot, not a clone: clones share batch-norm running statistics, which the
        // following steps would go on updating.
        let snapshot = |model: &R::Model| model.valid().train();
        let mut guard_weights = guard_on_collapse.then(|| snapshot(&model));
        let mut stopped_on_collapse = None;
        let mut last_robust = None;

        let pipeline = pipeline(config);
        let mut batch_size = match state.batch_size {
            0 => config.data.batch_size,
            resumed => resumed,
        };
        let shard = Shard {
            rank: world.rank(),
            ranks: world.size(),
        };
        // The loader thread owns the training images from here on; the engine keeps the test split.
        let train_set = Arc::new(std::mem::take(&mut self.data.train));
        let plan = BatchPlan {
            batch_size,
            seed: config.seed,
            start: state.step,
            end: self.total_steps,
            prefetch: config.data.prefetch,
            cursor: adaptive.map(|_| state.samples_seen),
            shard,
        };
        let mut loader = TrainLoader::new(train_set.clone(), pipeline.clone(), plan);
        let (eval_every, checkpoint_every) = (
            self.every(config.train.eval_every),
            self.every(config.train.checkpoint_every),
        );
        let log_every = config.train.log_every.max(1);
        let spe = self.steps_per_epoch as f64;
        // Epochs done: by samples when the batch size can change.
        let epochs_done = |step: usize, samples_seen: usize| match adaptive {
            Some(_) => samples_seen as f64 / train_len as f64,
            None => step as f64 / spe,
        };
        let budget_spent = |samples_seen: usize| sample_budget.is_some_and(|b| samples_seen >= b);

        // Recipes that look one batch ahead get it loaded a step early.
        let lookahead = self.recipe.wants_next_batch();
        let mut upcoming = None;
        interrupt::install();
        let progress = Progress::new(self.total_steps, state.step, self.options.quiet || !leader);
        let started = Instant::now();
        let wall_before = state.wall_seconds;
        let first_sample = state.samples_seen;
        // Time spent in training steps (data wait included, evaluation and checkpoints not).
        let mut window_seconds = 0.0;
        let mut window_images = 0usize;
        let mut last_eval: Option<Evaluation> = None;
        let mut training_seconds = 0.0;

        while state.step < self.total_steps && !budget_spent(state.samples_seen) {
            let stop = interrupt::requested() || self.options.stop_after == Some(state.step);
            if agreed(&world, stop, "agreeing on an interrupt") {
                interrupt::clear();
                state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
                state.recipe = self.recipe.state();
                let dir = match leader {
                    true => {
                        checkpoints.save(&model, &optim, &state, false, config.train.keep_last)?
                    }
                    false => checkpoints.step_dir(state.step),
                };
                progress.finish();
                return Err(Interrupted {
                    step: state.step,
                    checkpoint: dir,
                }
                .into());
            }
            let step = state.step;
            let step_started = Instant::now();
            // Dropout and any other backend draw of this step depend on (seed, step, rank)
            // only: each rank draws its own numbers for its shard.
            let step_key = rng::key(config.seed, Stream::Step, step as u64, world.rank() as u64);
            train_device.seed(step_key);
            let batch = match upcoming.take() {
                Some(batch) => batch,
                None => to_device(
                    loader
                        .next_batch()
                        .context("the data loader stopped before the last step")?,
                    &train_device,
                ),
            };
            if lookahead && step + 1 < self.total_steps {
                upcoming = loader.next_batch().map(|h| to_device(h, &train_device));
            }
            let ctx = StepContext {
                step,
                epoch: epochs_done(state.step, state.samples_seen) as usize,
                seed: config.seed,
                first: shard.range(batch_size).start,
                device: train_device.clone(),
                next_batch: upcoming.clone(),
            };
            let output = self.recipe.train_loss(&model, &batch, &ctx);
            let local_loss: f64 = output.loss.clone().into_scalar::<f64>();
            // The global batch's figures: every rank then takes the same decisions.
            let global = StepFigures::reduce(&world, local_loss, batch.size, &output, step);
            let loss = global.loss;
            if !loss.is_finite() {
                progress.finish();
                return Err(non_finite("loss", loss, step, &checkpoints));
            }
            // The rank's share of the global batch weighs its gradient in the average.
            let share = batch.size as f64 / global.samples as f64;
            let average = |module: &R::Model, grads: GradientsParams, what: &str| {
                gradients::all_reduce(&world, module, grads, share, what)
            };
            let local = GradientsParams::from_grads(output.loss.backward(), &model);
            let mut grads = match world.averages_gradients_in_backward() {
                true => local,
                false => average(
                    &model,
                    local,
                    &format!("the gradient all-reduce of step {step}"),
                ),
            };
            let norms = grad_norms(&model, &grads);
            if !norms.l2.is_finite() {
                progress.finish();
                return Err(non_finite("gradient norm", norms.l2, step, &checkpoints));
            }
            // AdaHessian: Hessian-vector products from the loss at perturbed weights, on the
            // same batch with the same dropout draws.
            let hessian_vector = curvature.filter(|c| c.due(step)).map(|c| {
                let recipe = &mut *self.recipe;
                c.hessian_vector(
                    &model,
                    &grads,
                    config.seed,
                    step,
                    |moved| {
                        train_device.seed(step_key);
                        recipe.train_loss(moved, &batch, &ctx).loss
                    },
                    |moved, grads| {
                        average(
                            moved,
                            grads,
                            &format!("the Hessian-vector all-reduce of step {step}"),
                        )
                    },
                )
            });
            // AdAdaGrad: the variance test on this batch decides the next batch size.
            // (Skipped once the batch is as large as it may get, as the official code does.)
            let at_cap = |a: &AdaptiveBatch| batch_size >= a.max_batch_size.min(train_len);
            let next_batch_size = adaptive.filter(|a| a.due(step) && !at_cap(a)).map(|a| {
                let recipe = &mut *self.recipe;
                let share = Share {
                    first: ctx.first,
                    global: global.samples,
                };
                let stats = a.measure_share(
                    &model,
                    &batch,
                    share,
                    |copy, part| {
                        train_device.seed(step_key);
                        recipe.train_loss(copy, part, &ctx).loss
                    },
                    |copy, grads, weight| {
                        let what = format!("the batch-size test's all-reduce at step {step}");
                        gradients::all_reduce(&world, copy, grads, weight, &what)
                    },
                );
                a.next_batch_size(&stats, batch_size).min(train_len)
            });
            if let Some(max_norm) = config.optimizer.grad_clip_norm {
                clip_global_norm(&model, &mut grads, norms.l2, max_norm);
            }
            if let Some(hz) = &hessian_vector {
                grads = stack_with_diagonal(&model, grads, hz);
            }
            let lr = schedule.lr(step) * lr_scaling.factor(global.samples);
            model = optim.step(lr, model, grads);
            model = self.recipe.after_step(model, step);
            state.step += 1;
            state.samples_seen += global.samples;
            // Every step, so any run can be refined into a schedule (`stoke schedule refine`).
            let mut line = json!({
                "step": state.step,
                "batch_loss": loss,
                "lr": lr,
                "grad_l2": norms.l2,
                "grad_l1": norms.l1,
                "batch_size": global.samples,
            });
            for (name, value) in output.metrics.iter().zip(&global.metrics) {
                line[name.0] = (*value).into();
            }
            if let Some(next) = next_batch_size {
                line["next_batch_size"] = next.into();
                if next != batch_size && state.step < self.total_steps {
                    // The loader restarts at the current sample with the new size.
                    batch_size = next;
                    state.batch_size = next;
                    let plan = BatchPlan {
                        batch_size,
                        start: state.step,
                        cursor: Some(state.samples_seen),
                        ..plan
                    };
                    loader = TrainLoader::new(train_set.clone(), pipeline.clone(), plan);
                    upcoming = None;
                }
            }
            metrics.write(&line)?;
            let step_seconds = step_started.elapsed().as_secs_f64();
            training_seconds += step_seconds;
            window_seconds += step_seconds;

            let window = &mut state.window;
            window.steps += 1;
            window.loss_sum += loss;
            window.grad_norm_sum += norms.l2;
            window.samples += global.samples;
            window.correct += global.correct;
            let has_accuracy = output.correct.is_some();
            window_images += global.samples;

            let done = state.step == self.total_steps || budget_spent(state.samples_seen);
            if state.step % log_every == 0 || done {
                let accuracy =
                    has_accuracy.then(|| window.correct as f64 / window.samples.max(1) as f64);
                let status = Status {
                    step: state.step,
                    total: self.total_steps,
                    epoch: epochs_done(state.step, state.samples_seen),
                    loss: window.loss_sum / window.steps as f64,
                    accuracy,
                    lr,
                    images_per_second: window_images as f64 / f64::max(window_seconds, 1e-9),
                };
                metrics.write(&json!({
                    "step": status.step,
                    "epoch": status.epoch,
                    "loss": status.loss,
                    "accuracy": accuracy,
                    "lr": lr,
                    "grad_norm": window.grad_norm_sum / window.steps as f64,
                    "batch_size": global.samples,
                    "images_per_second": status.images_per_second,
                    "wall_seconds": wall_before + started.elapsed().as_secs_f64(),
                }))?;
                progress.update(&status);
                state.window = Default::default();
                window_seconds = 0.0;
                window_images = 0;
            }

            let mut is_best = false;
            if state.step % eval_every == 0 || done {
                let eval_model = model.valid();
                let eval = evaluate_shared(
                    &world,
                    &*self.recipe,
                    &eval_model,
                    &self.data.test,
                    &pipeline,
                    config.data.eval_batch_size,
                    &self.device,
                )?;
                let mut line = json!({
                    "step": state.step,
                    "epoch": epochs_done(state.step, state.samples_seen),
                });
                for (key, value) in serde_json::to_value(&eval)?
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if key != "images" {
                        line[key] = value.clone();
                    }
                }
                let mut report = format!(
                    "epoch {:.2} step {}: {}",
                    epochs_done(state.step, state.samples_seen),
                    state.step,
                    eval.describe("test")
                );
                let figures = probe.as_ref().and_then(|probe| {
                    // Every rank probes the same images with the same random starts...
                    train_device.seed(rng::key(config.seed, Stream::Step, step as u64, u64::MAX));
                    probe.measure(
                        &*self.recipe,
                        &model,
                        &self.data.test,
                        &pipeline,
                        config.data.eval_batch_size,
                        &train_device,
                    )
                });
                // ...and takes rank 0's figures, so that their verdicts (a collapse stops
                // training) cannot differ.
                let figures = figures.map(|mut f| {
                    let mut values = match leader {
                        true => [f.robust, f.fgsm],
                        false => [0.0, 0.0],
                    };
                    if world.size() > 1 {
                        world.sum_f64(&mut values, "sharing rank 0's robust accuracy");
                        [f.robust, f.fgsm] = values;
                    }
                    f
                });
                if let (Some(probe), Some(figures)) = (&probe, figures) {
                    last_robust = Some(figures.robust);
                    let verdict = state.collapse.observe(
                        state.step,
                        figures.robust,
                        figures.fgsm,
                        probe.collapse_drop,
                    );
                    figures.describe(probe, verdict, &mut line, &mut report);
                    match verdict {
                        Verdict::Healthy { best: true } if guard_on_collapse => {
                            guard_weights = Some(snapshot(&model));
                        }
                        Verdict::Collapsed { .. } if guard_on_collapse => {
                            stopped_on_collapse = Some(state.step);
                        }
                        _ => {}
                    }
                }
                line["wall_seconds"] = (wall_before + started.elapsed().as_secs_f64()).into();
                metrics.write(&line)?;
                progress.println(&report);
                if eval.improves_on(state.best_accuracy, state.best_loss) {
                    state.best_accuracy = eval.test_accuracy;
                    state.best_loss = Some(eval.test_loss);
                    state.best_step = Some(state.step);
                    is_best = true;
                }
                last_eval = Some(eval);
            }
            if let Some(step) = stopped_on_collapse {
                // Early stop: the final model is the one of the best robust accuracy.
                if let Some(weights) = guard_weights.take() {
                    model = weights;
                }
                let eval = evaluate_shared(
                    &world,
                    &*self.recipe,
                    &model.valid(),
                    &self.data.test,
                    &pipeline,
                    config.data.eval_batch_size,
                    &self.device,
                )?;
                progress.println(&format!(
                    "stopping at step {step}: restored the weights of step {}, {}",
                    state.collapse.best_step.unwrap_or(0),
                    eval.describe("test")
                ));
                metrics.write(&json!({
                    "step": state.step,
                    "stopped_on_collapse": step,
                    "restored_step": state.collapse.best_step,
                    "test_loss": eval.test_loss,
                    "test_accuracy": eval.test_accuracy,
                }))?;
                last_robust = state.collapse.best_robust;
                last_eval = Some(eval);
                state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
                state.recipe = self.recipe.state();
                if leader {
                    checkpoints.save(&model, &optim, &state, false, config.train.keep_last)?;
                }
                break;
            }
            if leader && (state.step % checkpoint_every == 0 || done || is_best) {
                state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
                state.recipe = self.recipe.state();
                checkpoints.save(&model, &optim, &state, is_best, config.train.keep_last)?;
            }
        }
        progress.finish();

        let eval = match last_eval {
            Some(eval) => eval,
            // Resumed from the final checkpoint: nothing left to train, evaluate what is there.
            None => evaluate_shared(
                &world,
                &*self.recipe,
                &model.valid(),
                &self.data.test,
                &pipeline,
                config.data.eval_batch_size,
                &self.device,
            )?,
        };
        let summary = Summary {
            test_accuracy: eval.test_accuracy,
            test_loss: eval.test_loss,
            best_test_accuracy: state.best_accuracy.or(eval.test_accuracy),
            best_step: state.best_step,
            test_loss_parts: eval.parts.clone(),
            steps: state.step,
            epochs: epochs_done(state.step, state.samples_seen),
            wall_seconds: wall_before + started.elapsed().as_secs_f64(),
            images_per_second: (state.samples_seen - first_sample) as f64
                / training_seconds.max(1e-9),
            trainable_params: Some(trainable),
            ranks: world.size(),
            robust_accuracy: last_robust,
            catastrophic_overfitting_step: state.collapse.detected_at,
            stopped_on_collapse,
        };
        if leader {
            write_atomic(
                &out_dir.join("summary.json"),
                serde_json::to_string_pretty(&summary)?.as_bytes(),
            )?;
        }
        Ok(summary)
    }
}

/// Held while a training initialises its model from the device generator.
static INITIALISING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether any rank asks for `flag` (on one rank, the flag itself).
fn agreed(world: &World, flag: bool, what: &str) -> bool {
    if world.size() == 1 {
        return flag;
    }
    let mut votes = [f64::from(u8::from(flag))];
    world.sum_f64(&mut votes, what);
    votes[0] > 0.0
}

/// A step's loss, accuracy count and recipe metrics over the global batch.
struct StepFigures {
    loss: f64,
    samples: usize,
    correct: usize,
    /// The recipe's metrics, in its order.
    metrics: Vec<f64>,
}

impl StepFigures {
    /// Sums the ranks' sample-weighted figures (one all-reduce of a few numbers).
    fn reduce(
        world: &World,
        loss: f64,
        samples: usize,
        output: &crate::recipes::StepOutput,
        step: usize,
    ) -> Self {
        if world.size() == 1 {
            return Self {
                loss,
                samples,
                correct: output.correct.unwrap_or(0),
                metrics: output.metrics.iter().map(|(_, v)| *v).collect(),
            };
        }
        let mut values = vec![
            loss * samples as f64,
            samples as f64,
            output.correct.unwrap_or(0) as f64,
        ];
        values.extend(output.metrics.iter().map(|(_, v)| v * samples as f64));
        world.sum_f64(&mut values, &format!("the loss all-reduce of step {step}"));
        let total = values[1];
        Self {
            loss: values[0] / total,
            samples: total.round() as usize,
            correct: values[2].round() as usize,
            metrics: values[3..].iter().map(|v| v / total).collect(),
        }
    }
}

fn non_finite(what: &str, value: f64, step: usize, checkpoints: &CheckpointDir) -> anyhow::Error {
    let kept = match checkpoints.latest() {
        Ok(dir) => format!("the last good checkpoint is {}", dir.display()),
        Err(_) => "no checkpoint was written yet".to_string(),
    };
    anyhow::anyhow!(
        "the {what} became {value} at step {step}; training stopped and {kept}. \
         Lower optimizer.lr or set optimizer.grad_clip_norm, then --resume or start again"
    )
}
