//! The Byzantine training loop: per step, every worker computes the gradient of its next
//! batch at the server's weights (each its own [`Trainer`] on its share of the data), the
//! faulty ones replace theirs by the attack's ([`super::attack`]), the rule
//! ([`crate::aggregate`]) combines the n vectors in worker order and the server's optimizer
//! steps on the result; its batch-norm statistics are the workers' mean after their
//! forward passes (attacks forge gradients only). The server is a stoke run in
//! `out_dir/server`, checkpointed at each evaluation; a resumed run equals the uninterrupted
//! one bit for bit (each worker's batches follow from its seed and the step, which workers
//! take from the server's checkpoint). Over MPI ranks, worker w computes on rank w mod size,
//! every rank receives every vector and steps its own copy of the server identically, and
//! rank 0 writes.

use super::attack;
use crate::aggregate::{self, Rule};
use crate::config::RunConfig;
use crate::config::byzantine::AttackName;
use crate::distributed::World;
use crate::federated::fedavg::with_buffer_mean;
use crate::federated::partition::{Split, split_indices};
use crate::federated::simulator::client_data;
use crate::rng::{self, Stream};
use crate::train::checkpoint::CheckpointDir;
use crate::train::config_change;
use crate::train::run_dir::{create_driver_run, load_run_config, resume_driver_run};
use crate::train::session::{Interrupted, RunComplete};
use crate::train::{CancelToken, Evaluation, Setup, TensorKind, Trainer, Weights};
use crate::usage_error;
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Where a Byzantine run trains.
#[derive(Clone, Debug, Default)]
pub struct ByzantineOptions {
    pub out_dir: PathBuf,
    /// Continue from the server's latest checkpoint in `out_dir/server`.
    pub resume: bool,
    /// Stops the run between steps, with a checkpoint.
    pub cancel: CancelToken,
    /// The ranks sharing the workers (worker w on rank w mod size); the result is the
    /// one-process run's bit for bit. A resume reads the checkpoint on every rank (a shared
    /// filesystem, as `--resume` needs for config.toml).
    pub world: World,
}

/// One server step, as metrics.jsonl records it.
#[derive(Clone, Debug)]
pub struct ByzantineStep {
    /// Steps completed, this one included.
    pub step: usize,
    pub steps: usize,
    /// The honest workers' mean loss on their batches.
    pub honest_loss: f64,
    /// Seconds the rule took.
    pub rule_seconds: f64,
    /// Workers the rule selected (Krum, Multi-Krum, Bulyan).
    pub selected: Option<Vec<usize>>,
    /// IRLS iterations (Flag).
    pub iterations: Option<usize>,
    pub evaluation: Option<Evaluation>,
    pub wall_seconds: f64,
}

impl ByzantineStep {
    fn to_json(&self) -> serde_json::Value {
        let mut line = json!({
            "step": self.step,
            "honest_loss": self.honest_loss,
            "rule_seconds": self.rule_seconds,
            "wall_seconds": self.wall_seconds,
        });
        if let Some(selected) = &self.selected {
            line["selected"] = json!(selected);
        }
        if let Some(iterations) = self.iterations {
            line["iterations"] = iterations.into();
        }
        if let Some(eval) = &self.evaluation {
            eval.add_test_scores(&mut line);
        }
        line
    }
}

/// What summary.json of a Byzantine run holds.
#[derive(Clone, Debug, Serialize)]
pub struct ByzantineSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    pub steps: usize,
    pub workers: usize,
    pub faulty: usize,
    pub attack: AttackName,
    pub rule: String,
    /// Mean seconds per step of the rule, over this process's steps.
    pub rule_seconds: f64,
    pub wall_seconds: f64,
    /// The server model as a stoke run directory.
    pub server_run: PathBuf,
}

/// Trains the Byzantine run `config` in `out_dir` (a new run directory holding `resolved`,
/// or with `resume` the one there). `on_step` sees each step; cancelled, it checkpoints and
/// stops between steps.
pub fn run(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &ByzantineOptions,
    on_step: &mut dyn FnMut(&ByzantineStep),
) -> anyhow::Result<ByzantineSummary> {
    let byz = config
        .byzantine
        .as_ref()
        .ok_or_else(|| usage_error!("the config has no [byzantine] section"))?;
    crate::train::validate::validate(config)?;
    super::check_rule(byz)?;
    let (out_dir, started) = (options.out_dir.as_path(), Instant::now());
    let world = &options.world;
    let leader = world.is_leader();
    let is_mine = |w: usize| w % world.size() == world.rank();
    let device = crate::device::parse(&config.device)?;
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let split = Split {
        parts: byz.workers,
        kind: byz.partition,
        alpha: byz.alpha,
        shards_per_part: 1,
        section: "byzantine",
        count_key: "workers",
    };
    let parts = split_indices(&data.train.labels, data.num_classes(), &split, config.seed)?;
    let rule = super::rule(byz);
    let first_faulty = byz.workers - byz.faulty;
    let server_run = out_dir.join("server");
    let mut server = Trainer::build(
        &server_config(config),
        &device,
        Some(data.clone()),
        Setup::default(),
    )?;
    let mut workers = (0..byz.workers)
        .filter(|&w| is_mine(w))
        .map(|w| {
            let mut local = client_data(&data, &parts[w]);
            if w >= first_faulty && byz.attack == AttackName::LabelFlip {
                let classes = local.num_classes() as u32;
                local
                    .train
                    .labels
                    .iter_mut()
                    .for_each(|y| *y = classes - 1 - *y);
            }
            if w >= first_faulty && byz.attack == AttackName::Augmented {
                super::augment::warp_images(&mut local.train, byz.augment_time);
            }
            let worker = worker_config(config, w, local.train.len());
            Ok((
                w,
                Trainer::build(&worker, &device, Some(local), Setup::default())?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (mut metrics, mut done) = match options.resume {
        true => {
            let (_, saved) = load_run_config(out_dir, &[])?;
            let changes = config_change::changes(&saved, resolved);
            config_change::check_resumable(&changes)?;
            // The server run's config follows what the resume may change (train.steps, the
            // optimizer's hyper-parameters), so its checkpoints keep saving.
            let latest = CheckpointDir::new(&server_run).latest()?;
            if leader {
                let server_toml = toml::to_string_pretty(&server_config(config))?;
                let path = server_run.join("config.toml");
                crate::atomic::write_atomic(&path, server_toml.as_bytes())?;
            }
            server.load_checkpoint(&latest)?;
            // The workers take the server's step (hence their next batch) from it too.
            for (_, worker) in &mut workers {
                worker.load_checkpoint(&latest)?;
            }
            let done = server.completed_steps();
            if done >= config.train.steps {
                return Err(RunComplete {
                    steps: done,
                    length: "train.steps",
                }
                .into());
            }
            (
                resume_driver_run(out_dir, done, resolved, &changes, leader)?,
                done,
            )
        }
        false => (create_driver_run(out_dir, resolved, leader)?, 0),
    };
    let save = |server: &mut Trainer| -> anyhow::Result<Option<PathBuf>> {
        match leader {
            true => Ok(Some(server.save(&server_run)?)),
            false => Ok(None),
        }
    };
    let mut evaluation = None;
    let (mut rule_total, mut rule_steps) = (0.0, 0usize);
    while done < config.train.steps {
        if world.any(
            options.cancel.is_cancelled(),
            "agreeing on an interrupt between steps",
        ) {
            let checkpoint = save(&mut server)?;
            return Err(Interrupted {
                step: done,
                checkpoint,
            }
            .into());
        }
        let weights = server.weights();
        let layout = weights.only(TensorKind::Parameter);
        let buffers = weights.only(TensorKind::Buffer);
        // Each worker's slot: its gradient, its batch-norm statistics and its loss; the
        // slots of other ranks' workers stay zero until the exchange.
        let mut vectors = vec![vec![0.0; layout.num_values()]; byz.workers];
        let mut statistics = vec![vec![0.0; buffers.num_values()]; byz.workers];
        let mut losses = vec![0.0; byz.workers];
        for (w, worker) in &mut workers {
            worker.set_weights(&weights)?;
            let (gradient, report) = worker.gradients()?;
            // Batch-norm statistics as the forward pass left them (the worker's own images).
            statistics[*w] = flatten(&worker.weights().only(TensorKind::Buffer));
            // Advances the worker's step (its next batch); its weights are reset next step.
            worker.apply_gradients(&gradient)?;
            losses[*w] = report.loss;
            vectors[*w] = flatten(&gradient.only(TensorKind::Parameter));
        }
        if world.size() > 1 {
            // x + 0 = x: every rank ends with every worker's values, bit for bit.
            let what = format!("the workers' gradients of step {}", done + 1);
            world.sum_f32(&mut vectors, &what);
            world.sum_f32(&mut statistics, &what);
            world.sum_f64(&mut losses, &what);
        }
        let honest_loss = losses[..first_faulty]
            .iter()
            .fold(0.0, |total, loss| total + loss / first_faulty as f64);
        let statistics: Vec<Weights> = statistics
            .iter()
            .map(|values| aggregate::unflatten(&buffers, values))
            .collect();
        let forged = attack::forge(
            byz,
            &vectors[first_faulty..],
            config.seed,
            done,
            first_faulty,
        );
        vectors.truncate(first_faulty);
        vectors.extend(forged);
        let rule_started = Instant::now();
        let combined = aggregate::combine_flat(&rule, &vectors)?;
        let rule_seconds = rule_started.elapsed().as_secs_f64();
        (rule_total, rule_steps) = (rule_total + rule_seconds, rule_steps + 1);
        server.apply_gradients(&aggregate::unflatten(&layout, &combined.vector))?;
        // Attacks forge gradients, not statistics: the server keeps the workers' mean.
        if statistics.iter().any(|s| !s.is_empty()) {
            server.set_weights(&with_buffer_mean(server.weights(), &statistics)?)?;
        }
        done += 1;
        let due = done.is_multiple_of(byz.evaluate_every) || done == config.train.steps;
        // Only rank 0 reports scores; the others train on.
        evaluation = match due && leader {
            true => Some(server.evaluate()?),
            false => None,
        }
        .or(evaluation);
        let report = ByzantineStep {
            step: done,
            steps: config.train.steps,
            honest_loss,
            rule_seconds,
            selected: combined.selected,
            iterations: combined.iterations,
            evaluation: due.then(|| evaluation.clone()).flatten(),
            wall_seconds: started.elapsed().as_secs_f64(),
        };
        metrics.write(&report.to_json())?;
        if due {
            save(&mut server)?;
        }
        on_step(&report);
    }
    let last = match evaluation {
        Some(eval) => eval,
        None => server.evaluate()?,
    };
    let summary = ByzantineSummary {
        test_accuracy: last.test_accuracy,
        test_loss: last.test_loss,
        steps: done,
        workers: byz.workers,
        faulty: byz.faulty,
        attack: byz.attack,
        rule: rule_label(&rule),
        rule_seconds: rule_total / rule_steps.max(1) as f64,
        wall_seconds: started.elapsed().as_secs_f64(),
        server_run,
    };
    if leader {
        crate::atomic::write_atomic(
            &out_dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
    }
    Ok(summary)
}

fn rule_label(rule: &Rule) -> String {
    rule.name().to_string()
}

fn flatten(weights: &Weights) -> Vec<f32> {
    weights
        .iter()
        .flat_map(|(_, t)| t.values.iter().copied())
        .collect()
}

/// The server model's own config: the run without `[byzantine]`.
fn server_config(config: &RunConfig) -> RunConfig {
    let mut server = config.clone();
    server.byzantine = None;
    server
}

/// Worker `w`'s config: its own seed (data order, augmentation) and a batch no larger than
/// its data.
pub fn worker_config(config: &RunConfig, w: usize, images: usize) -> RunConfig {
    let mut worker = server_config(config);
    worker.seed = rng::key(config.seed, Stream::Byzantine, u64::MAX, w as u64);
    worker.data.batch_size = config.data.batch_size.min(images);
    worker.robust_eval.images = 0;
    worker
}
