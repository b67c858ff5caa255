//! One training run of one recipe: the state a [`crate::Trainer`] owns and the step it takes.
//!
//! [`Engine::step`] is one optimizer step, top to bottom: the batch, the recipe's loss, its
//! gradient (averaged over data-parallel ranks), the optional second-order and batch-size
//! extras of the optimizer, clipping, the update, the schedule. [`Engine::run`] repeats it to
//! the end of the config's budget with evaluations at their cadence, and tells the attached
//! observers (metrics file, checkpoints, progress) what happened.

use super::accumulate::{BatchFigures, add_gradients, micro_batches};
use super::adaptive_batch::{AdaptiveBatch, BatchSizeTest};
use super::cancel::CancelToken;
use super::checkpoint::{CheckpointDir, TrainState, load_model, load_training, read_if_listed};
use super::evaluate::{Evaluation, RobustEvaluation, evaluate_robust, evaluate_shared};
use super::extension::{AfterEvaluation, EvalView, EvaluationExtension, StepExtension, StepView};
use super::masks::{MASKS_FILE, Masks};
use super::masks_on_device::DeviceMasks;
use super::observer::{
    CollapseReport, EvalReport, Event, LogReport, Observers, StepReport, TrainerAccess,
};
use super::precision::{LossScale, check_backend, compute_copy, compute_dtype};
use super::predict::{Predictions, example_gradient_norms, predict};
use super::robustness::{RobustProbe, RobustnessMonitor};
use super::schedule::Schedule;
use super::session::{Interrupted, RunComplete, Summary};
use super::weights::Weights;
use crate::attacks::evaluation::EvalAttack;
use crate::batch::to_device;
use crate::config::Precision;
use crate::config::RunConfig;
use crate::config::schema::OnNonFinite;
use crate::datasets::augment::Augment;
use crate::datasets::loader::SamplingWeights;
use crate::datasets::{BatchPlan, ImageSet, LoadedData, Pipeline, TrainLoader};
use crate::diffusion::generate::{GeneratedImages, SampleRequest};
use crate::distributed::World;
use crate::distributed::gradients;
use crate::distributed::shard::Shard;
use crate::optim::grad_norm::{GradNorms, clip_global_norm, grad_norms, scale_gradients};
use crate::optim::hessian_step::HessianDiagonal;
use crate::optim::lr_scaling::LrScaling;
use crate::recipes::{Batch, DataInfo, Recipe, Reduce, StepContext};
use crate::rng::{self, Stream};
use crate::usage_error;
use anyhow::Context;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::FloatDType;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// How a Trainer is set up beyond its config.
#[derive(Clone, Default)]
pub struct Setup {
    /// The data-parallel ranks it trains with (one process by default).
    pub world: World,
    /// Distinguishes Trainers of one process: it keys the per-step draws of the device
    /// generator (dropout), so clients of a federated simulation with one seed draw
    /// differently. Trainer 0 draws exactly what `stoke train` draws.
    pub id: u64,
}

/// The pieces of a step computed before the update ([`Engine::gradients`]).
struct Pending {
    /// The running statistics before the step's forward pass (restored if it is rejected).
    buffers: Weights,
    batch: Batch,
    ctx: StepContext,
    figures: StepFigures,
    step_started: Instant,
    step_key: u64,
}

/// Timing of this process's part of the run.
struct Clock {
    started: Instant,
    wall_before: f64,
    first_sample: usize,
    training_seconds: f64,
    window_seconds: f64,
    window_images: usize,
}

pub(crate) struct Engine<R: Recipe> {
    recipe: R,
    config: RunConfig,
    setup: Setup,
    device: Device,
    train_device: Device,
    model: R::Model,
    optim: ModuleOptimizer,
    /// What optimizers and features add to each step (AdaHessian, adaptive batches).
    extensions: Vec<Box<dyn StepExtension<R::Model>>>,
    schedule: Schedule,
    lr_scaling: LrScaling,
    adaptive: Option<AdaptiveBatch>,
    sample_budget: Option<usize>,
    /// What looks at each evaluation of `run` (robust accuracy, the collapse guard).
    evaluation_extensions: Vec<Box<dyn EvaluationExtension<R>>>,
    pipeline: Pipeline,
    train_set: Arc<ImageSet>,
    test_set: ImageSet,
    /// `dataset.holdout`'s images: scored at each evaluation, and what picks the best.
    holdout_set: Option<ImageSet>,
    /// The last evaluation on the holdout split.
    last_holdout: Option<Evaluation>,
    steps_per_epoch: usize,
    total_steps: usize,
    trainable: usize,
    state: TrainState,
    /// Whether the state came from a checkpoint (the recipe's own state is then restored).
    resumed: bool,
    /// Set once the ranks agreed on the starting state and the loader runs.
    loader: Option<TrainLoader>,
    upcoming: Option<Batch>,
    pending: Option<Pending>,
    clock: Clock,
    last_eval: Option<Evaluation>,
    /// An evaluation extension asked to stop: its weights and the step they come from.
    early_stop: Option<(Option<R::Model>, Option<usize>)>,
    /// The checkpoint written last (what an interrupted run reports).
    last_checkpoint: Option<PathBuf>,
    /// A pruned model's masks: masked weights stay exactly zero.
    masks: Option<ActiveMasks>,
}

/// Masks in force, on the host (for checkpoints) and on the model's device.
struct ActiveMasks {
    masks: Masks,
    device: DeviceMasks,
}

/// Held while a training initialises its model from the device generator.
static INITIALISING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn data_info(set: &ImageSet) -> DataInfo {
    DataInfo {
        channels: set.channels,
        height: set.height,
        width: set.width,
        num_classes: set.num_classes,
    }
}

/// How the config normalises and augments images.
pub(crate) fn pipeline(config: &RunConfig) -> Pipeline {
    Pipeline {
        mean: config.dataset.mean.clone(),
        std: config.dataset.std.clone(),
        augment: Augment {
            crop_padding: config.data.crop_padding,
            hflip: config.data.hflip,
        },
    }
}

impl<R: Recipe> Engine<R> {
    pub(crate) fn new(
        recipe: R,
        config: &RunConfig,
        data: LoadedData,
        device: &Device,
        setup: Setup,
    ) -> anyhow::Result<Self> {
        let config = config.clone();
        for (split, set) in [("training", &data.train), ("test", &data.test)] {
            if set.is_empty() {
                return Err(usage_error!(
                    "the {split} split of the dataset (format `{}`, path `{}`) holds no images",
                    config.dataset.format,
                    config.dataset.path
                ));
            }
        }
        let train_len = data.train.len();
        let batch = config.data.batch_size;
        if batch == 0 || batch > train_len {
            return Err(usage_error!(
                "key `data.batch_size`: expected 1..={train_len} (the training set size), got {batch}"
            ));
        }
        let ranks = setup.world.size();
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
        for (key, values) in [("mean", &config.dataset.mean), ("std", &config.dataset.std)] {
            if values.len() != data.train.channels {
                return Err(usage_error!(
                    "key `dataset.{key}`: {} values for images of {} channels",
                    values.len(),
                    data.train.channels
                ));
            }
        }
        let steps_per_epoch = train_len / batch;
        let total_steps = match config.train.steps {
            0 => config.train.epochs * steps_per_epoch,
            steps => steps,
        };
        if total_steps == 0 {
            return Err(usage_error!(
                "key `train.epochs`: training needs at least one step (set train.epochs or train.steps)"
            ));
        }
        let train_device = device.clone().autodiff();
        let model = {
            // Initialisation draws from the seed alone (ranks in threads take turns at the
            // generator they may share).
            let _turn = INITIALISING.lock().unwrap_or_else(|e| e.into_inner());
            train_device.seed(rng::key(config.seed, Stream::Init, 0, 0));
            let model = recipe.build_model(&config, &data_info(&data.train), &train_device)?;
            // All of it now, before any rank compares weights.
            crate::models::initialise_now(&model);
            model
        };
        probe_model(&recipe, &model, &data.test, &pipeline(&config), device)?;
        let trainable = crate::models::trainable_params(&model);
        let built = crate::optim::build(&config.optimizer)?;
        let schedule = Schedule::new(
            &config.schedule,
            config.optimizer.lr,
            steps_per_epoch,
            total_steps,
        )?;
        // Under adaptive batches the official AdAdaGrad keeps the rate constant: no scaling
        // unless the config asks for it.
        let mut optimizer_config = config.optimizer.clone();
        if config.adaptive_batch.is_some() && optimizer_config.lr_scaling.is_none() {
            optimizer_config.lr_scaling = Some(crate::config::schema::LrScalingRule::None);
        }
        let lr_scaling = LrScaling::from_config(&optimizer_config, batch)?;
        let mut extensions: Vec<Box<dyn StepExtension<R::Model>>> = Vec::new();
        if let Some(hutchinson) = built.curvature {
            extensions.push(Box::new(HessianDiagonal::new(hutchinson)));
        }
        let adaptive = config
            .adaptive_batch
            .as_ref()
            .map(|c| AdaptiveBatch::from_config(c, batch))
            .transpose()?;
        if let Some(test) = adaptive {
            extensions.push(Box::new(BatchSizeTest::new(test)));
        }
        if !extensions.is_empty() && !recipe.repeatable_loss() {
            return Err(usage_error!(
                "recipe `{}` cannot re-evaluate its loss within a step, which optimizer `{}` \
                 and [adaptive_batch] need",
                config.recipe.name,
                config.optimizer.name
            ));
        }
        check_accumulation(
            &config,
            &recipe,
            batch / ranks.max(1),
            !extensions.is_empty(),
        )?;
        check_precision(
            &config,
            &recipe,
            &train_device,
            ranks,
            !extensions.is_empty(),
        )?;
        if recipe.samples_training_data() && setup.world.size() > 1 {
            return Err(usage_error!(
                "recipe `{}` samples the training data by importance, which data-parallel \
                 training does not support: run it in one process",
                config.recipe.name
            ));
        }
        // With a growing batch an epoch budget ends the run by samples, not steps, so only
        // schedules that do not need the run's length in steps apply.
        let sample_budget = match adaptive {
            Some(_) if config.train.steps == 0 => {
                if config.schedule.name != crate::config::schema::ScheduleName::Constant {
                    return Err(usage_error!(
                        "key `schedule.name`: with [adaptive_batch] and train.epochs the number of \
                         steps is not known in advance; use schedule.name = \"constant\" or set train.steps"
                    ));
                }
                Some(config.train.epochs * train_len)
            }
            _ => None,
        };
        let mut evaluation_extensions: Vec<Box<dyn EvaluationExtension<R>>> = Vec::new();
        if let Some(probe) = RobustProbe::from_config(&config.robust_eval, recipe.attack_eps())? {
            let guard = recipe.stop_on_collapse();
            evaluation_extensions.push(Box::new(RobustnessMonitor::new(probe, guard)));
        }
        Ok(Self {
            pipeline: pipeline(&config),
            recipe,
            setup,
            device: device.clone(),
            train_device,
            model,
            optim: built.optim,
            extensions,
            schedule,
            lr_scaling,
            adaptive,
            sample_budget,
            evaluation_extensions,
            train_set: Arc::new(data.train),
            test_set: data.test,
            holdout_set: data.holdout,
            last_holdout: None,
            steps_per_epoch,
            total_steps,
            trainable,
            state: TrainState::default(),
            resumed: false,
            loader: None,
            upcoming: None,
            pending: None,
            clock: Clock {
                started: Instant::now(),
                wall_before: 0.0,
                first_sample: 0,
                training_seconds: 0.0,
                window_seconds: 0.0,
                window_images: 0,
            },
            last_eval: None,
            early_stop: None,
            last_checkpoint: None,
            masks: None,
            config,
        })
    }

    pub(crate) fn config(&self) -> &RunConfig {
        &self.config
    }

    pub(crate) fn total_steps(&self) -> usize {
        self.total_steps
    }

    pub(crate) fn state(&self) -> &TrainState {
        &self.state
    }

    pub(crate) fn trainable_params(&self) -> usize {
        self.trainable
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.step >= self.total_steps || self.budget_spent()
    }

    fn budget_spent(&self) -> bool {
        self.sample_budget
            .is_some_and(|b| self.state.samples_seen >= b)
    }

    /// Epochs done: by samples when the batch size can change.
    fn epochs_done(&self) -> f64 {
        match self.adaptive {
            Some(_) => self.state.samples_seen as f64 / self.train_set.len() as f64,
            None => self.state.step as f64 / self.steps_per_epoch as f64,
        }
    }

    fn every(&self, value: usize) -> usize {
        match value {
            0 => self.steps_per_epoch,
            value => value,
        }
    }

    fn wall_seconds(&self) -> f64 {
        self.clock.wall_before + self.clock.started.elapsed().as_secs_f64()
    }

    /// This Trainer's kernel choices, set before it computes (they are process-wide switches).
    fn select_kernels(&self) {
        use crate::config::schema::{KernelChoice, SoftmaxKernel};
        let kernels = &self.config.kernels;
        crate::kernels::softmax::use_builtin(kernels.softmax == SoftmaxKernel::Builtin);
        crate::kernels::max_pool::use_builtin(kernels.max_pool == KernelChoice::Builtin);
        crate::kernels::batch_norm::use_builtin(kernels.batch_norm == KernelChoice::Builtin);
    }

    /// Loads model, optimizer, engine and recipe state from a checkpoint directory (on rank 0;
    /// the others receive them when training starts).
    pub(crate) fn load_checkpoint(&mut self, dir: &Path) -> anyhow::Result<()> {
        if !self.setup.world.is_leader() {
            self.resumed = true;
            return Ok(());
        }
        let model = load_model(dir, self.model.clone())?;
        let optim = std::mem::replace(
            &mut self.optim,
            crate::optim::build(&self.config.optimizer)?.optim,
        );
        let (optim, state) = load_training(dir, optim)?;
        self.model = model;
        self.load_masks(dir)?;
        self.optim = optim;
        self.state = state;
        self.resumed = true;
        self.loader = None;
        self.upcoming = None;
        Ok(())
    }

    /// Loads only the weights of a checkpoint (evaluation, sampling, export).
    pub(crate) fn load_weights_file(&mut self, dir: &Path) -> anyhow::Result<()> {
        self.model = load_model(dir, self.model.clone())?;
        self.load_masks(dir)
    }

    /// The masks a checkpoint holds (none when it has no masks file).
    fn load_masks(&mut self, dir: &Path) -> anyhow::Result<()> {
        let masks = match read_if_listed(dir, MASKS_FILE)? {
            Some(bytes) => Some(Masks::from_safetensors_bytes(
                &bytes,
                &dir.join(MASKS_FILE),
            )?),
            None => None,
        };
        self.set_masks(masks)
    }

    /// Puts `masks` in force (their masked weights are zeroed now and after every update),
    /// or removes them.
    pub(crate) fn set_masks(&mut self, masks: Option<Masks>) -> anyhow::Result<()> {
        let Some(masks) = masks else {
            self.masks = None;
            return Ok(());
        };
        if self.setup.world.size() > 1 {
            return Err(usage_error!(
                "pruning masks under {} MPI ranks are not supported yet: train the pruned \
                 model in one process",
                self.setup.world.size()
            ));
        }
        masks.check_against(&self.weights())?;
        let device = DeviceMasks::new(&masks, &self.model);
        self.model = device.apply_to_model(self.model.clone());
        self.masks = Some(ActiveMasks { masks, device });
        Ok(())
    }

    pub(crate) fn masks(&self) -> Option<&Masks> {
        self.masks.as_ref().map(|active| &active.masks)
    }

    /// Before the first step: every rank takes rank 0's weights and state (new run or
    /// resumed), the recipe its saved state, and the loader starts at the current step.
    fn begin(&mut self) -> anyhow::Result<()> {
        if self.loader.is_some() {
            return Ok(());
        }
        let world = self.setup.world.clone();
        let optim = std::mem::replace(
            &mut self.optim,
            crate::optim::build(&self.config.optimizer)?.optim,
        );
        let (model, optim, state) = super::broadcast::broadcast_training(
            &world,
            self.model.clone(),
            optim,
            std::mem::take(&mut self.state),
        )?;
        self.model = model;
        self.optim = optim;
        self.state = state;
        self.state.loss_scale = match self.config.train.precision {
            Precision::F16 => Some(self.state.loss_scale.unwrap_or(LossScale {
                scale: self.config.train.loss_scale.unwrap_or(LossScale::INITIAL),
                good_steps: 0,
            })),
            _ => None,
        };
        if world.averages_gradients_in_backward() {
            self.model = gradients::mark_distributed(self.model.clone());
        }
        if self.resumed {
            self.recipe.load_state(&self.state.recipe)?;
        }
        for extension in &mut self.evaluation_extensions {
            if self.resumed {
                let state = self.state.extensions.get(extension.key());
                extension.load_state(state.unwrap_or(&serde_json::Value::Null))?;
            }
            extension.on_start(&self.model);
        }
        self.clock = Clock {
            started: Instant::now(),
            wall_before: self.state.wall_seconds,
            first_sample: self.state.samples_seen,
            training_seconds: 0.0,
            window_seconds: 0.0,
            window_images: 0,
        };
        self.start_loader();
        Ok(())
    }

    fn batch_size(&self) -> usize {
        match self.state.batch_size {
            0 => self.config.data.batch_size,
            resumed => resumed,
        }
    }

    fn shard(&self) -> Shard {
        Shard {
            rank: self.setup.world.rank(),
            ranks: self.setup.world.size(),
        }
    }

    /// (Re)starts the loader at the current step and sample.
    fn start_loader(&mut self) {
        let plan = BatchPlan {
            batch_size: self.batch_size(),
            seed: self.config.seed,
            start: self.state.step,
            end: self.total_steps,
            prefetch: self.config.data.prefetch,
            cursor: self.adaptive.map(|_| self.state.samples_seen),
            shard: self.shard(),
            weights: self.sampling_weights(),
        };
        self.loader = Some(TrainLoader::new(
            self.train_set.clone(),
            self.pipeline.clone(),
            plan,
        ));
        self.upcoming = None;
    }

    /// The sampling weights the state holds, checked against the training set.
    fn sampling_weights(&self) -> Option<Arc<SamplingWeights>> {
        let weights = self.state.sampling_weights.clone()?;
        SamplingWeights::new(weights, self.train_set.len())
            .ok()
            .map(Arc::new)
    }

    /// Draws training examples with probability proportional to `weights` (one per training
    /// image, with replacement) from the next step on; `None` returns to epoch orders.
    pub(crate) fn set_sampling_weights(&mut self, weights: Option<Vec<f64>>) -> anyhow::Result<()> {
        if let Some(weights) = &weights {
            if self.adaptive.is_some() {
                return Err(usage_error!(
                    "sampling weights and [adaptive_batch] cannot be combined (the batch test \
                     reads the data in epoch order)"
                ));
            }
            SamplingWeights::new(weights.clone(), self.train_set.len())
                .map_err(|e| usage_error!("{e}"))?;
        }
        self.state.sampling_weights = weights;
        if self.loader.is_some() {
            self.start_loader();
        }
        Ok(())
    }

    fn next_batch(&mut self) -> anyhow::Result<Batch> {
        let loader = self
            .loader
            .as_mut()
            .context("the data loader is not running")?;
        let host = loader
            .next_batch()
            .context("the data loader stopped before the last step (the run's budget is spent)")?;
        Ok(to_device(host, &self.train_device))
    }

    /// The model in training mode over the `batches` training batches from the current step
    /// on (augmented as in training, no loss, no gradient, no step): every batch norm folds
    /// each batch's statistics into its running statistics. What recomputing the statistics
    /// of averaged weights runs; recipes whose training loss transforms the batch (MixUp,
    /// attacks) do not change it. A loader of its own reads the batches, so the training
    /// data stream and the step are as before.
    pub(crate) fn forward_training_batches(&mut self, batches: usize) -> anyhow::Result<()> {
        self.begin()?;
        self.select_kernels();
        let start = self.state.step;
        let plan = BatchPlan {
            batch_size: self.batch_size(),
            seed: self.config.seed,
            start,
            end: start + batches,
            prefetch: self.config.data.prefetch,
            cursor: self.adaptive.map(|_| self.state.samples_seen),
            shard: self.shard(),
            weights: self.sampling_weights(),
        };
        let mut loader = TrainLoader::new(self.train_set.clone(), self.pipeline.clone(), plan);
        let index = self.setup.world.rank() as u64 | (self.setup.id << 32);
        // A copy whose parameters need no gradient: the pass records no autodiff graph (a
        // graph no backward ever consumes is never freed, ~1 GB per 20 batches of a small
        // CNN), while its batch norms, sharing running statistics with the model, still
        // take the training path on the autodiff device.
        let model = self.model.clone().no_grad();
        for step in start..start + batches {
            let host = loader
                .next_batch()
                .context("the statistics loader stopped early")?;
            // Dropout before a batch norm draws what the training step would.
            let step_key = rng::key(self.config.seed, Stream::Step, step as u64, index);
            self.train_device.seed(step_key);
            let batch = to_device(host, &self.train_device);
            if self.recipe.logits(&model, batch.images).is_none() {
                return Err(usage_error!(
                    "recipe `{}` gives no class logits to run batches through",
                    self.config.recipe.name
                ));
            }
        }
        Ok(())
    }

    /// Forward and backward on the next batch: the gradient of the global batch's mean loss,
    /// nothing applied yet.
    fn forward_backward(&mut self) -> anyhow::Result<(GradientsParams, Pending)> {
        if self.is_finished() {
            return Err(usage_error!(
                "the run is complete ({} steps); extend train.steps or train.epochs to train on",
                self.state.step
            ));
        }
        self.begin()?;
        self.select_kernels();
        let step = self.state.step;
        let step_started = Instant::now();
        // Dropout and any other backend draw of this step depend on (seed, step, rank,
        // trainer) only: each rank draws its own numbers for its shard.
        let index = self.setup.world.rank() as u64 | (self.setup.id << 32);
        let step_key = rng::key(self.config.seed, Stream::Step, step as u64, index);
        self.train_device.seed(step_key);
        let batch = match self.upcoming.take() {
            Some(batch) => batch,
            None => self.next_batch()?,
        };
        // Recipes that look one batch ahead get it loaded a step early.
        if self.recipe.wants_next_batch() && step + 1 < self.total_steps {
            self.upcoming = self
                .loader
                .as_mut()
                .and_then(|l| l.next_batch())
                .map(|h| to_device(h, &self.train_device));
        }
        let ctx = StepContext {
            step,
            epoch: self.epochs_done() as usize,
            seed: self.config.seed,
            first: self.shard().range(self.batch_size()).start,
            epoch_ends: self.adaptive.is_none() && (step + 1).is_multiple_of(self.steps_per_epoch),
            total_epochs: self.total_steps as f64 / self.steps_per_epoch.max(1) as f64,
            device: self.train_device.clone(),
            next_batch: self.upcoming.clone(),
        };
        let buffers = Weights::buffers_of(&self.model);
        let (local, local_figures) = self.local_gradients(&batch, &ctx);
        // The global batch's figures: every rank then takes the same decisions.
        let world = &self.setup.world;
        let recipe = &self.recipe;
        let figures = StepFigures::reduce(world, &local_figures, batch.size, step, |name| {
            recipe.reduce_metric(name)
        });
        let grads = match world.averages_gradients_in_backward() {
            true => local,
            false => {
                // The rank's share of the global batch weighs its gradient in the average.
                let share = batch.size as f64 / figures.samples as f64;
                let what = format!("the gradient all-reduce of step {step}");
                gradients::all_reduce(world, &self.model, local, share, &what)
            }
        };
        let pending = Pending {
            buffers,
            batch,
            ctx,
            figures,
            step_started,
            step_key,
        };
        Ok((grads, pending))
    }

    /// The gradient of this rank's batch mean loss and the batch's figures: one backward,
    /// or with `train.accumulate = k` one per micro-batch ([`super::accumulate`]).
    fn local_gradients(
        &mut self,
        batch: &Batch,
        ctx: &StepContext,
    ) -> (GradientsParams, BatchFigures) {
        let parts = micro_batches(batch.size, self.config.train.accumulate);
        let dtype = compute_dtype(self.config.train.precision);
        let loss_scale = self.state.loss_scale.map_or(1.0, |s| s.scale);
        let mut sum: Option<GradientsParams> = None;
        let mut figures = BatchFigures::default();
        for (i, &(start, len)) in parts.iter().enumerate() {
            let (mut part, part_ctx) = match parts.len() {
                1 => (batch.clone(), ctx.clone()),
                _ => {
                    // Per-image draws (attack starts, MixUp) keep the image's batch position.
                    let mut part_ctx = ctx.clone();
                    part_ctx.first += start;
                    (batch.slice(start, len), part_ctx)
                }
            };
            // Mixed precision: a half-precision copy per micro-batch (a backward pass
            // consumes the graph of the casts it went through).
            let compute = dtype.map(|dtype| {
                part.images = part.images.clone().cast(dtype);
                compute_copy(&self.model, dtype)
            });
            let model = compute.as_ref().unwrap_or(&self.model);
            let output = self.recipe.train_loss(model, &part, &part_ctx);
            let output_loss = output.loss.cast(FloatDType::F32);
            let share = len as f64 / batch.size as f64;
            let loss: f64 = output_loss.clone().into_scalar::<f64>();
            let recipe = &self.recipe;
            figures.add(
                i == 0,
                share,
                loss,
                output.correct,
                &output.metrics,
                |name| recipe.reduce_metric(name),
            );
            let weight = share * loss_scale;
            let weighted = match weight == 1.0 {
                true => output_loss,
                false => output_loss.mul_scalar(weight),
            };
            let grads = GradientsParams::from_grads(weighted.backward(), &self.model);
            sum = Some(match sum {
                None => grads,
                Some(sum) => add_gradients(&self.model, sum, grads),
            });
        }
        let mut grads = sum.unwrap_or_default();
        if loss_scale != 1.0 {
            scale_gradients(&self.model, &mut grads, 1.0 / loss_scale);
        }
        (grads, figures)
    }

    /// One optimizer step on the next batch.
    pub(crate) fn step(&mut self, observers: &mut Observers) -> anyhow::Result<StepReport> {
        let (grads, pending) = self.forward_backward()?;
        self.pending = None;
        self.update(grads, Some(pending), observers)
    }

    /// The next batch's gradients, not applied: [`Engine::apply_gradients`] completes the step.
    pub(crate) fn gradients(&mut self) -> anyhow::Result<(Weights, StepReport)> {
        if self.config.train.precision == Precision::F16 {
            // An overflowing step must be skipped before anyone uses its gradient.
            return Err(usage_error!(
                "key `train.precision` = \"f16\": loss-scaled gradients cannot be handed out \
                 (a driver would use an overflowed step); use bf16 or f32"
            ));
        }
        let (grads, pending) = self.forward_backward()?;
        let norms = grad_norms(&self.model, &grads);
        let weights = gradient_weights(&self.model, &grads);
        let report = StepReport {
            step: self.state.step,
            loss: pending.figures.loss,
            lr: self.lr(pending.figures.samples),
            batch_size: pending.figures.samples,
            grad_l2: norms.l2,
            grad_l1: norms.l1,
            correct: pending.figures.correct,
            metrics: pending.figures.metrics.clone(),
            next_batch_size: None,
            seconds: pending.step_started.elapsed().as_secs_f64(),
            skipped: false,
        };
        self.pending = Some(pending);
        Ok((weights, report))
    }

    /// Clipping, the optimizer update and the schedule with `gradients` (named as
    /// [`Engine::gradients`] gives them).
    pub(crate) fn apply_gradients(
        &mut self,
        gradients: &Weights,
        observers: &mut Observers,
    ) -> anyhow::Result<StepReport> {
        if self.is_finished() {
            return Err(usage_error!(
                "the run is complete ({} steps); extend train.steps or train.epochs to train on",
                self.state.step
            ));
        }
        self.begin()?;
        let grads = gradients_params(&self.model, gradients)?;
        let pending = self.pending.take();
        self.update(grads, pending, observers)
    }

    fn lr(&self, samples: usize) -> f64 {
        self.schedule.lr(self.state.step) * self.lr_scaling.factor(samples)
    }

    /// The second half of a step: checks, optimizer extras, clipping, the update. The update
    /// is computed, checked (loss, gradient norm, the new weights all finite) and only then
    /// committed; a rejected step leaves the model and optimizer as they were.
    fn update(
        &mut self,
        mut grads: GradientsParams,
        pending: Option<Pending>,
        observers: &mut Observers,
    ) -> anyhow::Result<StepReport> {
        let step = self.state.step;
        if let Some(active) = &self.masks {
            grads = active.device.apply_to_gradients(&self.model, grads);
        }
        let norms = grad_norms(&self.model, &grads);
        let figures = match &pending {
            Some(p) => p.figures.clone(),
            None => StepFigures::external(self.config.data.batch_size),
        };
        let lr = self.lr(figures.samples);
        let mut recipe_metrics = Vec::new();
        // f16: a non-finite step the loss scale explains is skipped and the scale halved.
        let mut overflow = false;
        let mut scale_metrics = Vec::new();
        if let (Some(scaler), Some(_)) = (self.state.loss_scale.as_mut(), &pending) {
            scale_metrics.push(("loss_scale", scaler.scale));
            let finite = figures.loss.is_finite() && norms.l2.is_finite();
            overflow = !finite && scaler.explains_overflow();
            scaler.update(finite);
        }
        // Without a forward pass here (gradients handed in) the loss is unknown, not bad.
        let mut rejected = match () {
            _ if overflow => None,
            _ if pending.is_some() && !figures.loss.is_finite() => Some(("loss", figures.loss)),
            _ if !norms.l2.is_finite() => Some(("gradient norm", norms.l2)),
            _ => None,
        };
        if rejected.is_none() && !overflow {
            match &pending {
                Some(pending) => self.after_backward(&grads, pending),
                None if !self.extensions.is_empty() => {
                    return Err(usage_error!(
                        "apply_gradients: {} needs the step's batch; get the gradients from this \
                         Trainer's gradients() first",
                        self.extensions[0].name()
                    ));
                }
                None => {}
            }
            if let Some(max_norm) = self.config.optimizer.grad_clip_norm {
                clip_global_norm(&self.model, &mut grads, norms.l2, max_norm);
            }
            if let Some(pending) = &pending {
                recipe_metrics = self
                    .recipe
                    .after_backward(&self.model, &grads, &pending.ctx);
            }
            for extension in &mut self.extensions {
                grads = extension.before_update(&self.model, grads);
            }
            // Tensors are shared handles: keeping the old model and optimizer state costs no copy.
            let optim_before = self.optim.clone();
            let mut updated = self.optim.step(lr, self.model.clone(), grads);
            if let Some(active) = &self.masks {
                updated = active.device.apply_to_model(updated);
            }
            let finite = weights_finite(&updated);
            if self
                .setup
                .world
                .any(!finite, "agreeing on a non-finite update")
            {
                self.optim = optim_before;
                rejected = Some(("updated weights", f64::NAN));
            } else {
                self.model = self.recipe.after_step(updated, step);
            }
        }
        if let Some((what, value)) = rejected {
            if let Some(pending) = &pending {
                self.model = pending.buffers.restore_into(self.model.clone())?;
            }
            let failure = NonFinite {
                what,
                value,
                step: step + 1,
                checkpoint: None,
            };
            if self.config.train.on_nonfinite == OnNonFinite::Stop {
                return Err(failure.into());
            }
            self.state.skipped_steps += 1;
        }
        if overflow {
            if let Some(pending) = &pending {
                self.model = pending.buffers.restore_into(self.model.clone())?;
            }
            self.state.skipped_steps += 1;
        }
        let skipped = rejected.is_some() || overflow;
        self.state.step += 1;
        self.state.samples_seen += figures.samples;
        if let Some(weights) = self.recipe.take_sampling_weights(self.train_set.len())
            && self.state.step < self.total_steps
        {
            self.set_sampling_weights(Some(weights))?;
        }
        let next_batch_size = match skipped {
            true => None,
            false => self
                .extensions
                .iter_mut()
                .find_map(|extension| extension.next_batch_size()),
        };
        if let Some(next) = next_batch_size
            && next != self.batch_size()
            && self.state.step < self.total_steps
        {
            // The loader restarts at the current sample with the new size.
            self.state.batch_size = next;
            self.start_loader();
        }
        let seconds = pending
            .as_ref()
            .map_or(0.0, |p| p.step_started.elapsed().as_secs_f64());
        let report = StepReport {
            step: self.state.step,
            loss: figures.loss,
            lr,
            batch_size: figures.samples,
            grad_l2: norms.l2,
            grad_l1: norms.l1,
            correct: figures.correct,
            metrics: [figures.metrics, recipe_metrics, scale_metrics].concat(),
            next_batch_size,
            seconds,
            skipped,
        };
        self.notify(observers, &Event::Step(&report))?;
        self.account(&report, &norms, observers)?;
        Ok(report)
    }

    /// The extensions' look at the step: they may re-evaluate the recipe's loss on the step's
    /// batch (with the step's dropout draws) and average gradients over the ranks.
    fn after_backward(&mut self, grads: &GradientsParams, p: &Pending) {
        let (world, device, recipe) = (&self.setup.world, &self.train_device, &mut self.recipe);
        let mut loss_at = |model: &R::Model, batch: &Batch| {
            device.seed(p.step_key);
            recipe.train_loss(model, batch, &p.ctx).loss
        };
        let all_reduce = |model: &R::Model, grads, weight, what: &str| {
            gradients::all_reduce(world, model, grads, weight, what)
        };
        let mut view = StepView {
            model: &self.model,
            batch: &p.batch,
            step: p.ctx.step,
            seed: self.config.seed,
            first: p.ctx.first,
            global_samples: p.figures.samples,
            train_len: self.train_set.len(),
            loss_at: &mut loss_at,
            all_reduce: &all_reduce,
        };
        for extension in &mut self.extensions {
            extension.after_backward(&mut view, grads);
        }
    }

    /// Adds a step to the logging window; every `train.log_every` steps, reports the window.
    fn account(
        &mut self,
        report: &StepReport,
        norms: &GradNorms,
        observers: &mut Observers,
    ) -> anyhow::Result<()> {
        self.clock.training_seconds += report.seconds;
        self.clock.window_seconds += report.seconds;
        self.clock.window_images += report.batch_size;
        let window = &mut self.state.window;
        if report.skipped {
            window.skipped += 1;
        } else {
            window.steps += 1;
            // A step on gradients handed in has no loss; NaN would also not survive JSON.
            if report.loss.is_finite() {
                window.loss_sum += report.loss;
                window.loss_steps = Some(window.loss_steps.unwrap_or(window.steps - 1) + 1);
            } else {
                window.loss_steps.get_or_insert(window.steps - 1);
            }
            window.grad_norm_sum += norms.l2;
            window.samples += report.batch_size;
            window.correct += report.correct.unwrap_or(0);
        }
        let log_every = self.config.train.log_every.max(1);
        if !(self.state.step.is_multiple_of(log_every) || self.is_finished()) {
            return Ok(());
        }
        let window = std::mem::take(&mut self.state.window);
        let log = LogReport {
            step: self.state.step,
            total_steps: self.total_steps,
            epoch: self.epochs_done(),
            loss: window.loss_sum / window.loss_steps.unwrap_or(window.steps) as f64,
            accuracy: report
                .correct
                .map(|_| window.correct as f64 / window.samples.max(1) as f64),
            lr: report.lr,
            grad_norm: window.grad_norm_sum / window.steps as f64,
            batch_size: report.batch_size,
            images_per_second: self.clock.window_images as f64
                / f64::max(self.clock.window_seconds, 1e-9),
            wall_seconds: self.wall_seconds(),
            skipped: window.skipped,
        };
        self.clock.window_seconds = 0.0;
        self.clock.window_images = 0;
        self.notify(observers, &Event::Log(&log))
    }

    fn notify(&mut self, observers: &mut Observers, event: &Event<'_>) -> anyhow::Result<()> {
        observers.notify(event, self)
    }

    /// Trains to the end of the config's budget, evaluating at `train.eval_every`; stops
    /// early when `cancel` is set (after the observers saw [`Event::Interrupted`]) or after
    /// `stop_after` steps.
    pub(crate) fn run(
        &mut self,
        observers: &mut Observers,
        cancel: &CancelToken,
        stop_after: Option<usize>,
    ) -> anyhow::Result<Summary> {
        self.begin()?;
        if self.is_finished() {
            return Err(RunComplete {
                steps: self.state.step,
                length: "train.steps or train.epochs",
            }
            .into());
        }
        let started = Event::Started {
            step: self.state.step,
            total_steps: self.total_steps,
        };
        self.notify(observers, &started)?;
        let eval_every = self.every(self.config.train.eval_every);
        let checkpoint_every = self.every(self.config.train.checkpoint_every);
        while !self.is_finished() {
            let stop = cancel.is_cancelled() || stop_after == Some(self.state.step);
            if self.setup.world.any(stop, "agreeing on an interrupt") {
                let step = self.state.step;
                self.last_checkpoint = None;
                self.notify(observers, &Event::Interrupted { step })?;
                let checkpoint = self.last_checkpoint.take();
                return Err(Interrupted { step, checkpoint }.into());
            }
            if let Err(error) = self.step(observers) {
                return Err(self.checkpoint_before_failure(error, observers));
            }
            let done = self.is_finished();
            let mut best = false;
            if self.state.step.is_multiple_of(eval_every) || done {
                best = self.evaluate_at_cadence(observers)?;
            }
            if let Some((weights, restored_step)) = self.early_stop.take() {
                self.stop_early(weights, restored_step, observers)?;
                let end = Event::StepEnd {
                    step: self.state.step,
                    checkpoint_due: true,
                    best: false,
                };
                self.notify(observers, &end)?;
                break;
            }
            let end = Event::StepEnd {
                step: self.state.step,
                checkpoint_due: self.state.step.is_multiple_of(checkpoint_every) || done,
                best,
            };
            self.notify(observers, &end)?;
        }
        let summary = self.summary()?;
        self.notify(observers, &Event::Finished(&summary))?;
        Ok(summary)
    }

    /// A step that was not finite ends `run` with a checkpoint of the step before it, which
    /// the error then names; other errors pass through.
    fn checkpoint_before_failure(
        &mut self,
        error: anyhow::Error,
        observers: &mut Observers,
    ) -> anyhow::Error {
        let mut failure = match error.downcast::<NonFinite>() {
            Ok(failure) => failure,
            Err(error) => return error,
        };
        self.last_checkpoint = None;
        let event = Event::NonFinite { step: failure.step };
        if let Err(error) = self.notify(observers, &event) {
            return error.context(failure.to_string());
        }
        failure.checkpoint = self.last_checkpoint.take();
        failure.into()
    }

    /// The summary of the run so far (evaluating now if no evaluation ran in this process).
    fn summary(&mut self) -> anyhow::Result<Summary> {
        let eval = match self.last_eval.clone() {
            Some(eval) => eval,
            // Resumed from the final checkpoint: nothing left to train, evaluate what is there.
            None => self.evaluate()?,
        };
        let clock = &self.clock;
        let mut summary = Summary {
            test_accuracy: eval.test_accuracy,
            test_loss: eval.test_loss,
            best_test_accuracy: match self.holdout_set {
                Some(_) => None,
                None => self.state.best_accuracy.or(eval.test_accuracy),
            },
            holdout_accuracy: match self.holdout_set {
                Some(_) => match &self.last_holdout {
                    Some(held) => held.test_accuracy,
                    None => self.evaluate_holdout()?.and_then(|e| e.test_accuracy),
                },
                None => None,
            },
            best_holdout_accuracy: self.holdout_set.as_ref().and(self.state.best_accuracy),
            best_step: self.state.best_step,
            test_loss_parts: eval.parts.clone(),
            steps: self.state.step,
            epochs: self.epochs_done(),
            wall_seconds: self.wall_seconds(),
            images_per_second: (self.state.samples_seen - clock.first_sample) as f64
                / clock.training_seconds.max(1e-9),
            trainable_params: Some(self.trainable),
            ranks: self.setup.world.size(),
            robust_accuracy: None,
            catastrophic_overfitting_step: None,
            stopped_on_collapse: None,
            skipped_steps: (self.state.skipped_steps > 0).then_some(self.state.skipped_steps),
        };
        for extension in &self.evaluation_extensions {
            extension.summarize(&mut summary);
        }
        Ok(summary)
    }

    /// The evaluation of `train.eval_every`: test split, robust probe, best tracking.
    /// Returns whether it is the best so far.
    fn evaluate_at_cadence(&mut self, observers: &mut Observers) -> anyhow::Result<bool> {
        let eval = self.evaluate()?;
        let step = self.state.step;
        let epoch = self.epochs_done();
        let mut record = serde_json::json!({ "step": step, "epoch": epoch });
        for (key, value) in serde_json::to_value(&eval)?
            .as_object()
            .into_iter()
            .flatten()
        {
            if key != "images" {
                record[key] = value.clone();
            }
        }
        let mut text = format!("epoch {epoch:.2} step {step}: {}", eval.describe("test"));
        let holdout = self.evaluate_holdout()?;
        if let Some(held) = &holdout {
            record["holdout_loss"] = held.test_loss.into();
            if let Some(accuracy) = held.test_accuracy {
                record["holdout_accuracy"] = accuracy.into();
            }
            text.push_str(&format!(", {}", held.describe("holdout")));
        }
        let view = EvalView {
            recipe: &self.recipe,
            model: &self.model,
            test_set: &self.test_set,
            pipeline: &self.pipeline,
            eval_batch_size: self.config.data.eval_batch_size,
            device: &self.train_device,
            world: &self.setup.world,
            seed: self.config.seed,
            step,
        };
        for extension in &mut self.evaluation_extensions {
            let decision = extension.after_evaluation(&view, &mut record, &mut text);
            if let AfterEvaluation::Stop {
                weights,
                restored_step,
            } = decision
            {
                self.early_stop.get_or_insert((weights, restored_step));
            }
        }
        record["wall_seconds"] = self.wall_seconds().into();
        // The holdout split selects when there is one; the test split only reports then.
        let selecting = holdout.as_ref().unwrap_or(&eval);
        let is_best = selecting.improves_on(self.state.best_accuracy, self.state.best_loss);
        if is_best {
            self.state.best_accuracy = selecting.test_accuracy;
            self.state.best_loss = Some(selecting.test_loss);
            self.state.best_step = Some(step);
        }
        self.last_holdout = holdout;
        self.last_eval = Some(eval.clone());
        let report = EvalReport {
            step,
            evaluation: eval,
            is_best,
            record,
            text,
        };
        self.notify(observers, &Event::Evaluation(&report))?;
        Ok(is_best)
    }

    /// Early stop: the final model is the one the extension chose (Fast-AT's guard: the
    /// weights of the best robust accuracy), evaluated.
    fn stop_early(
        &mut self,
        weights: Option<R::Model>,
        restored_step: Option<usize>,
        observers: &mut Observers,
    ) -> anyhow::Result<()> {
        if let Some(weights) = weights {
            self.model = weights;
        }
        let evaluation = self.evaluate()?;
        let report = CollapseReport {
            step: self.state.step,
            restored_step,
            evaluation: evaluation.clone(),
        };
        self.last_eval = Some(evaluation);
        self.notify(observers, &Event::CollapseStop(&report))
    }

    /// The test split's evaluation (ranks share the images).
    pub(crate) fn evaluate(&self) -> anyhow::Result<Evaluation> {
        self.evaluate_on(&self.test_set)
    }

    /// Evaluates on `set` with the config's normalisation and no augmentation.
    pub(crate) fn evaluate_on(&self, set: &ImageSet) -> anyhow::Result<Evaluation> {
        self.check_compatible(set)?;
        self.select_kernels();
        evaluate_shared(
            &self.setup.world,
            &self.recipe,
            &self.model.valid(),
            set,
            &self.pipeline,
            self.config.data.eval_batch_size,
            &self.device,
        )
    }

    /// The evaluation on `dataset.holdout`'s images, when the run holds some out.
    pub(crate) fn evaluate_holdout(&self) -> anyhow::Result<Option<Evaluation>> {
        self.holdout_set
            .as_ref()
            .map(|set| self.evaluate_on(set))
            .transpose()
    }

    /// The training split, for scoring it like the test split.
    pub(crate) fn train_set(&self) -> &ImageSet {
        &self.train_set
    }

    fn check_compatible(&self, set: &ImageSet) -> anyhow::Result<()> {
        let train = &self.train_set;
        if set.is_empty() {
            return Err(usage_error!("the data to evaluate holds no images"));
        }
        if set.num_classes != train.num_classes {
            return Err(usage_error!(
                "data of {} classes for a model trained on {}",
                set.num_classes,
                train.num_classes
            ));
        }
        if (set.channels, set.height, set.width) != (train.channels, train.height, train.width) {
            return Err(usage_error!(
                "data of {}x{}x{} images for a model trained on {}x{}x{}",
                set.channels,
                set.height,
                set.width,
                train.channels,
                train.height,
                train.width
            ));
        }
        Ok(())
    }

    /// Per-example logits and losses on `set`.
    pub(crate) fn predict(&self, set: &ImageSet) -> anyhow::Result<Predictions> {
        self.check_compatible(set)?;
        self.select_kernels();
        predict(
            &self.recipe,
            &self.model.valid(),
            set,
            &self.pipeline,
            self.config.data.eval_batch_size,
            &self.device,
        )
        .ok_or_else(|| {
            usage_error!(
                "recipe `{}` gives no per-example predictions (its model is not a classifier)",
                self.config.recipe.name
            )
        })?
    }

    /// Per-example gradient norms (GraNd) on `set`.
    pub(crate) fn example_gradient_norms(&self, set: &ImageSet) -> anyhow::Result<Vec<f64>> {
        self.check_compatible(set)?;
        self.select_kernels();
        example_gradient_norms(
            &self.recipe,
            &self.model,
            set,
            &self.pipeline,
            self.config.data.eval_batch_size,
            &self.train_device,
        )
        .ok_or_else(|| {
            usage_error!(
                "recipe `{}` gives no per-example gradients (its model is not a classifier)",
                self.config.recipe.name
            )
        })?
    }

    /// Clean and robust accuracy under `attack` on the first `limit` test images.
    pub(crate) fn evaluate_robust(
        &self,
        attack: &EvalAttack,
        limit: Option<usize>,
    ) -> anyhow::Result<RobustEvaluation> {
        self.select_kernels();
        // Random starts draw from the device generator: seeded, so an evaluation repeats.
        self.train_device
            .seed(rng::key(self.config.seed, Stream::Recipe, u64::MAX, 0));
        evaluate_robust(
            &self.recipe,
            &self.model,
            &self.test_set,
            &self.pipeline,
            self.config.data.eval_batch_size,
            &self.train_device,
            attack,
            limit,
        )
        .ok_or_else(|| {
            usage_error!(
                "recipe `{}` has no robust evaluation (its model is not an image classifier)",
                self.config.recipe.name
            )
        })
    }

    /// Generates images (diffusion recipes).
    pub(crate) fn generate(&self, request: &SampleRequest) -> anyhow::Result<GeneratedImages> {
        self.select_kernels();
        self.recipe
            .generate(&self.model.valid(), request)
            .unwrap_or_else(|| {
                Err(usage_error!(
                    "recipe `{}` does not generate images (sampling needs a ddpm or edm run)",
                    self.config.recipe.name
                ))
            })
    }

    pub(crate) fn weights(&self) -> Weights {
        Weights::of(&self.model)
    }

    pub(crate) fn set_weights(&mut self, weights: &Weights) -> anyhow::Result<()> {
        // Through the inference copy: running statistics are then set, not averaged with a
        // pending update.
        let model = weights.load_into(self.model.valid())?;
        self.model = model.train();
        if let Some(active) = &self.masks {
            self.model = active.device.apply_to_model(self.model.clone());
        }
        if self.setup.world.averages_gradients_in_backward() && self.loader.is_some() {
            self.model = gradients::mark_distributed(self.model.clone());
        }
        Ok(())
    }

    /// Forgets the optimizer's state (moments, step counts): a fresh optimizer.
    pub(crate) fn reset_optimizer(&mut self) -> anyhow::Result<()> {
        self.optim = crate::optim::build(&self.config.optimizer)?.optim;
        Ok(())
    }

    /// The optimizer's state as the bytes of an `optim.bpk` file.
    pub(crate) fn optimizer_state(&self) -> anyhow::Result<Vec<u8>> {
        super::checkpoint::encode_optim(&self.optim)
    }

    pub(crate) fn set_optimizer_state(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        let optim = std::mem::replace(
            &mut self.optim,
            crate::optim::build(&self.config.optimizer)?.optim,
        );
        self.optim = super::checkpoint::decode_optim(bytes, optim, "the optimizer state")?;
        Ok(())
    }

    pub(crate) fn world(&self) -> &World {
        &self.setup.world
    }
}

impl<R: Recipe> TrainerAccess for Engine<R> {
    fn completed_steps(&self) -> usize {
        self.state.step
    }

    fn save_checkpoint(
        &mut self,
        checkpoints: &CheckpointDir,
        best: bool,
        keep_last: usize,
    ) -> anyhow::Result<PathBuf> {
        self.state.wall_seconds = self.wall_seconds();
        self.state.recipe = self.recipe.state();
        for extension in &self.evaluation_extensions {
            let key = extension.key().to_string();
            self.state.extensions.insert(key, extension.state());
        }
        let extra = match &self.masks {
            Some(active) => vec![(MASKS_FILE, active.masks.to_safetensors_bytes()?)],
            None => Vec::new(),
        };
        let dir = checkpoints.save(
            &self.model,
            &self.optim,
            &self.state,
            extra,
            best,
            keep_last,
        )?;
        self.last_checkpoint = Some(dir.clone());
        Ok(dir)
    }

    fn weights(&self) -> Weights {
        Engine::weights(self)
    }

    fn generate_images(&self, request: &SampleRequest) -> Option<anyhow::Result<GeneratedImages>> {
        self.select_kernels();
        self.recipe.generate(&self.model.valid(), request)
    }
}

/// A step's loss, accuracy count and recipe metrics over the global batch.
#[derive(Clone)]
struct StepFigures {
    loss: f64,
    samples: usize,
    correct: Option<usize>,
    /// The recipe's metrics, in its order.
    metrics: Vec<(&'static str, f64)>,
}

impl StepFigures {
    /// Combines the ranks' figures (one all-reduce of a few numbers): loss and accuracy
    /// weighted by samples, the recipe's metrics as `reduce` says.
    fn reduce(
        world: &World,
        output: &BatchFigures,
        samples: usize,
        step: usize,
        reduce: impl Fn(&str) -> Reduce,
    ) -> Self {
        let loss = output.loss;
        if world.size() == 1 {
            return Self {
                loss,
                samples,
                correct: output.correct,
                metrics: output.metrics.clone(),
            };
        }
        let (rank, ranks) = (world.rank(), world.size());
        let mut values = vec![
            loss * samples as f64,
            samples as f64,
            output.correct.unwrap_or(0) as f64,
        ];
        // A maximum travels as each rank's value in its own slot of a summed vector.
        let slots = |kind| match kind {
            Reduce::Max => ranks,
            _ => 1,
        };
        for (name, value) in &output.metrics {
            let kind = reduce(name);
            let mut own = vec![0.0; slots(kind)];
            match kind {
                Reduce::SampleMean => own[0] = value * samples as f64,
                Reduce::Sum => own[0] = *value,
                Reduce::Max => own[rank] = *value,
            }
            values.extend(own);
        }
        world.sum_f64(&mut values, &format!("the loss all-reduce of step {step}"));
        let total = values[1];
        let mut rest = &values[3..];
        let mut metrics = Vec::with_capacity(output.metrics.len());
        for (name, _) in &output.metrics {
            let kind = reduce(name);
            let (own, after) = rest.split_at(slots(kind));
            rest = after;
            let value = match kind {
                Reduce::SampleMean => own[0] / total,
                Reduce::Sum => own[0],
                Reduce::Max => own.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            };
            metrics.push((*name, value));
        }
        Self {
            loss: values[0] / total,
            samples: total.round() as usize,
            correct: output.correct.map(|_| values[2].round() as usize),
            metrics,
        }
    }

    /// Gradients handed in from elsewhere: no loss is known.
    fn external(batch_size: usize) -> Self {
        Self {
            loss: f64::NAN,
            samples: batch_size,
            correct: None,
            metrics: Vec::new(),
        }
    }
}

/// A step whose loss, gradient norm or updated weights were not finite; nothing of it was
/// applied, and the Trainer holds the weights and optimizer state of the step before.
#[derive(Debug)]
pub struct NonFinite {
    pub what: &'static str,
    pub value: f64,
    /// The step that failed, numbered as metrics.jsonl numbers steps (from 1).
    pub step: usize,
    /// The checkpoint of step `step - 1` written on the way out (None when no observer
    /// writes checkpoints).
    pub checkpoint: Option<PathBuf>,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.what {
            "updated weights" => "the updated weights were not finite".to_string(),
            what => format!("the {what} became {}", self.value),
        };
        write!(
            f,
            "{what} at step {}; nothing of that step was applied",
            self.step
        )?;
        if let Some(dir) = &self.checkpoint {
            write!(
                f,
                " and step {} is saved in {}",
                self.step - 1,
                dir.display()
            )?;
        }
        write!(
            f,
            ". Lower optimizer.lr or set optimizer.grad_clip_norm (`stoke train --resume RUN \
             optimizer.lr=...` continues from there), or set train.on_nonfinite = \"skip\" to \
             drop such batches"
        )
    }
}

impl std::error::Error for NonFinite {}

/// Scores one test image before training: a model whose feature maps shrink to nothing in
/// its poolings or strides (or with a non-finite option) gives NaN already, which is a
/// mismatch of model and data to report now, not a diverged step later.
fn probe_model<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    test: &ImageSet,
    pipeline: &Pipeline,
    device: &Device,
) -> anyhow::Result<()> {
    let one = ImageSet {
        pixels: test.pixels[..test.image_size()].to_vec(),
        labels: test.labels[..1].to_vec(),
        ..*test
    };
    let loss =
        super::evaluate::evaluate(recipe, &model.valid(), &one, pipeline, 1, device).test_loss;
    if !loss.is_finite() {
        return Err(usage_error!(
            "the model gives a loss of {loss} on a test image of {}x{}x{} before any training: \
             its feature maps shrink to nothing at this image size (too many poolings or \
             strides; use larger images or fewer stages), or a model option is not finite",
            test.channels,
            test.height,
            test.width
        ));
    }
    Ok(())
}

/// `train.accumulate` against what it cannot be combined with; `batch` is one rank's.
fn check_accumulation<R: Recipe>(
    config: &RunConfig,
    recipe: &R,
    batch: usize,
    re_evaluates_the_batch: bool,
) -> anyhow::Result<()> {
    let k = config.train.accumulate;
    let refuse = |why: String| Err(usage_error!("key `train.accumulate`: {why}"));
    match () {
        _ if k == 0 => refuse("expected a positive number of micro-batches, got 0".into()),
        _ if k == 1 => Ok(()),
        _ if k > batch => refuse(format!(
            "{k} micro-batches of a batch of {batch} per process (data.batch_size over the \
             ranks) leave some empty"
        )),
        _ if config.adaptive_batch.is_some() => refuse(
            "[adaptive_batch] tests the gradient of the whole batch; run it without accumulation"
                .into(),
        ),
        _ if recipe.wants_next_batch() => refuse(format!(
            "recipe `{}` prepares the next whole batch during a step; it cannot be split",
            config.recipe.name
        )),
        _ if recipe.loss_couples_the_batch() => refuse(format!(
            "recipe `{}` weighs its images against each other within the batch; micro-batches \
             would change its objective",
            config.recipe.name
        )),
        _ if re_evaluates_the_batch => refuse(format!(
            "optimizer `{}` re-evaluates the whole batch's loss each step, which accumulation \
             cannot split",
            config.optimizer.name
        )),
        _ => Ok(()),
    }
}

/// `train.precision` against what the backend, the recipe and the run support.
fn check_precision<R: Recipe>(
    config: &RunConfig,
    recipe: &R,
    device: &Device,
    ranks: usize,
    has_extensions: bool,
) -> anyhow::Result<()> {
    let precision = config.train.precision;
    if let Some(scale) = config.train.loss_scale {
        if precision != Precision::F16 {
            return Err(usage_error!(
                "key `train.loss_scale`: loss scaling is for train.precision = \"f16\" (this run \
                 computes in {})",
                precision.name()
            ));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(usage_error!(
                "key `train.loss_scale`: expected a positive finite scale, got {scale}"
            ));
        }
    }
    if precision == Precision::F32 {
        return Ok(());
    }
    check_backend(precision, device, &config.device)
        .map_err(|e| usage_error!("key `train.precision`: {e}"))?;
    let name = precision.name();
    let refuse = |why: String| Err(usage_error!("key `train.precision` = \"{name}\": {why}"));
    if !recipe.supports_mixed_precision() {
        return refuse(format!(
            "recipe `{}` creates tensors of its own in its loss and is not yet checked in \
             mixed precision; use precision = \"f32\"",
            config.recipe.name
        ));
    }
    if ranks > 1 {
        return refuse("data-parallel mixed precision is not supported yet".into());
    }
    if has_extensions {
        return refuse(format!(
            "optimizer `{}` and [adaptive_batch] re-evaluate the loss in f32; they are not \
             combined with mixed precision",
            config.optimizer.name
        ));
    }
    Ok(())
}

/// Whether every float tensor of `model` is finite, by the sum of each (one read of the
/// weights, ~0.4% of a ResNet-18 step; a tensor summing beyond f32's range counts as
/// diverged too).
fn weights_finite<M: Module>(model: &M) -> bool {
    struct Finite {
        sums: Vec<Tensor<1>>,
    }
    impl burn::module::ModuleVisitor for Finite {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let values = param.val().detach();
            self.sums.push(values.sum());
        }
    }
    let mut visitor = Finite { sums: Vec::new() };
    model.visit(&mut visitor);
    if visitor.sums.is_empty() {
        return true;
    }
    Tensor::cat(visitor.sums, 0)
        .sum()
        .into_scalar::<f64>()
        .is_finite()
}

/// The gradients of trainable parameters, named as [`Weights`] names tensors.
fn gradient_weights<M: Module>(model: &M, grads: &GradientsParams) -> Weights {
    let all = Weights::of(model);
    let values = super::weights::gradient_values(model, grads);
    let tensors = values.into_iter().filter_map(|(name, values)| {
        let tensor = all.get(&name)?;
        Some((
            name,
            super::weights::WeightTensor {
                shape: tensor.shape.clone(),
                values,
                kind: super::weights::TensorKind::Parameter,
            },
        ))
    });
    Weights::from_tensors(tensors).unwrap_or_default()
}

/// Gradients named as [`Weights`] names tensors, as Burn's gradients of `model`.
fn gradients_params<M: Module>(model: &M, gradients: &Weights) -> anyhow::Result<GradientsParams> {
    super::weights::gradients_params(model, gradients)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::threads::ThreadGroup;

    /// Two ranks (threads) combine their step figures: the loss and `mean` weighted by their
    /// samples, `count` summed, `largest` the maximum.
    #[test]
    fn ranks_combine_metrics_as_their_recipe_says() {
        let group = ThreadGroup::new(2, std::time::Duration::from_secs(30));
        let reduce = |name: &str| match name {
            "count" => Reduce::Sum,
            "largest" => Reduce::Max,
            _ => Reduce::SampleMean,
        };
        // (samples, loss, correct, mean, count, largest) per rank.
        let shards = [(10, 1.0, 4, 0.5, 3.0, 7.0), (30, 2.0, 6, 0.1, 5.0, 2.0)];
        let results: Vec<StepFigures> = std::thread::scope(|scope| {
            let handles: Vec<_> = shards
                .iter()
                .enumerate()
                .map(|(rank, &(samples, loss, correct, mean, count, largest))| {
                    let member = group.member(rank);
                    scope.spawn(move || {
                        let world = World::new(member);
                        let output = BatchFigures {
                            loss,
                            correct: Some(correct),
                            metrics: vec![("mean", mean), ("count", count), ("largest", largest)],
                        };
                        StepFigures::reduce(&world, &output, samples, 0, reduce)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for figures in results {
            assert_eq!(figures.samples, 40);
            assert_eq!(figures.correct, Some(10));
            // (10 * 1 + 30 * 2) / 40 and (10 * 0.5 + 30 * 0.1) / 40, exact in f64 here.
            assert_eq!(figures.loss, 1.75);
            assert_eq!(
                figures.metrics,
                vec![("mean", 0.2), ("count", 8.0), ("largest", 7.0)]
            );
        }
    }
}
