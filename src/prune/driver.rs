//! The pruning driver (`stoke train` of a config with `[pruning]`): dense training, then per
//! phase magnitude pruning, `soup_size` retrained copies with the same masks, and their soup
//! as the next phase's model, as the official Sparse Model Soups code runs its `Dense`,
//! `IMP` and `Ensemble` strategies one after another.
//!
//! Every model is a stoke run directory under `out_dir` (`stoke eval` and `stoke export`
//! read each; pruned ones carry their masks):
//!
//! ```text
//! dense/                       the dense run (the config without [pruning])
//! phase-NN/pruned/             the phase's starting point: pruned (or rewound) weights, masks
//! phase-NN/copy-MM/            the retrained copies (train.init_from = pruned/)
//! phase-NN/model/              the phase's model: the soup (or the single copy)
//! pruning.json                 every phase's scores so far (what a resume continues from)
//! summary.json                 at the end
//! ```
//!
//! All runs share one split of the data (the base seed's holdout), whatever their seeds, and
//! every score is taken with batch-norm statistics recomputed on `bn_batches` training
//! batches (the official code recalibrates every candidate, soup and IMP model alike).

use super::masks::{Masks, amount_per_phase};
use crate::config::RunConfig;
use crate::config::overrides::string_override;
use crate::config::pruning::{PruningConfig, RetrainSchedule, SoupMethod};
use crate::datasets::LoadedData;
use crate::soup::greedy::select;
use crate::soup::{Buffers, Scorer, Scores};
use crate::train::checkpoint::{CheckpointDir, manifest_step};
use crate::train::run_dir::locate;
use crate::train::schedule::Schedule;
use crate::train::{CancelToken, Setup, TrainOptions, Trainer, Weights};
use crate::usage_error;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

const PROGRESS_FILE: &str = "pruning.json";

/// Where and how a pruning run trains.
#[derive(Clone, Debug, Default)]
pub struct PruningOptions {
    pub out_dir: PathBuf,
    /// Continue the run in `out_dir`: finished runs are kept, an interrupted one resumes.
    pub resume: bool,
    /// Stops the run between steps of whichever run trains, with a checkpoint.
    pub cancel: CancelToken,
}

/// One retrained copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyReport {
    pub run: PathBuf,
    /// What this copy's config changes (seed or the varied key).
    pub change: String,
    pub scores: Scores,
}

/// One prune-retrain-average phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    /// 1-based.
    pub phase: usize,
    /// The fraction of prunable weights removed after this phase's pruning.
    pub sparsity: f64,
    /// The pruned model before retraining.
    pub pruned: Scores,
    pub copies: Vec<CopyReport>,
    /// The copies the soup averages (indices; all of them for a uniform soup).
    pub kept: Vec<usize>,
    /// The phase's model: the soup, or the single copy.
    pub model: Scores,
    pub model_run: PathBuf,
}

impl PhaseReport {
    /// The copy with the highest selection score (held-out accuracy when there is a holdout
    /// split, else test accuracy): the "best single retrain" of the paper's comparison.
    pub fn best_copy(&self) -> Option<&CopyReport> {
        self.copies
            .iter()
            .max_by(|a, b| selection(&a.scores).total_cmp(&selection(&b.scores)))
    }

    /// The copies' mean test accuracy.
    pub fn mean_copy_accuracy(&self) -> Option<f64> {
        let all: Option<Vec<f64>> = self.copies.iter().map(|c| c.scores.test_accuracy).collect();
        all.map(|a| a.iter().sum::<f64>() / a.len().max(1) as f64)
    }
}

/// What a selection among models goes by.
fn selection(scores: &Scores) -> f64 {
    scores
        .holdout_accuracy
        .or(scores.test_accuracy)
        .unwrap_or(-scores.test_loss)
}

/// What pruning.json holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Progress {
    dense: Option<Scores>,
    phases: Vec<PhaseReport>,
    wall_seconds: f64,
}

/// What the driver reports as it goes.
pub enum PruningEvent<'a> {
    Dense(&'a Scores),
    Phase(&'a PhaseReport),
}

/// What summary.json of a pruning run holds.
#[derive(Clone, Debug, Serialize)]
pub struct PruningSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    pub sparsity: f64,
    pub dense: Scores,
    pub phases: Vec<PhaseReport>,
    /// The final model's run directory.
    pub model_run: PathBuf,
    pub wall_seconds: f64,
}

/// The learning rates of the dense run's schedule the retraining schedules start from: the
/// largest, and the smallest after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenseRates {
    pub max: f64,
    pub min: f64,
}

impl DenseRates {
    pub fn of(config: &RunConfig, steps_per_epoch: usize) -> anyhow::Result<DenseRates> {
        let total = match config.train.steps {
            0 => config.train.epochs * steps_per_epoch,
            steps => steps,
        };
        let schedule = Schedule::new(
            &config.schedule,
            config.optimizer.lr,
            steps_per_epoch,
            total,
        )?;
        let warmup = (config.schedule.warmup_epochs * steps_per_epoch as f64).round() as usize;
        let rates: Vec<f64> = (0..total.max(1)).map(|s| schedule.lr(s)).collect();
        let max = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let after = &rates[warmup.min(rates.len() - 1)..];
        let min = after.iter().copied().fold(f64::INFINITY, f64::min);
        Ok(DenseRates { max, min })
    }
}

/// The overrides of a retrained copy's config (besides `train.init_from`): its length and
/// learning-rate schedule (`pruning.retrain_*`, with the official 10% warm-up of `llr` and
/// `clr`) and what varies between copies.
pub fn copy_overrides(
    pruning: &PruningConfig,
    base_seed: u64,
    rates: DenseRates,
    steps_per_epoch: usize,
    phase: usize,
    copy: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let epochs = match pruning.retrain_steps {
        0 => {
            out.push(format!("train.epochs={}", pruning.retrain_epochs));
            out.push("train.steps=0".into());
            pruning.retrain_epochs as f64
        }
        steps => {
            out.push(format!("train.steps={steps}"));
            out.push("train.epochs=0".into());
            steps as f64 / steps_per_epoch.max(1) as f64
        }
    };
    let (name, lr, warmup, last) = match pruning.retrain_schedule {
        RetrainSchedule::Llr => ("linear", rates.max, 0.1 * epochs, 0.0),
        RetrainSchedule::Clr => ("cosine", rates.max, 0.1 * epochs, rates.min / rates.max),
        RetrainSchedule::Ft => ("constant", rates.min, 0.0, 0.0),
    };
    out.push(string_override("schedule.name", name));
    out.push(format!("optimizer.lr={lr:?}"));
    out.push(format!("schedule.warmup_epochs={warmup:?}"));
    out.push(format!("schedule.final_lr_fraction={last:?}"));
    out.push(copy_change(pruning, base_seed, phase, copy));
    out
}

/// What copy `copy` of `phase` changes: its seed, or the varied key's value.
fn copy_change(pruning: &PruningConfig, base_seed: u64, phase: usize, copy: usize) -> String {
    match pruning.vary.as_str() {
        "seed" => format!(
            "seed={}",
            base_seed.wrapping_add(100 * phase as u64 + copy as u64)
        ),
        key => format!("{key}={}", pruning.values[copy]),
    }
}

/// Runs the pruning experiment `config` (which has `[pruning]`) in `options.out_dir`.
pub fn run(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &PruningOptions,
    on_event: &mut dyn FnMut(PruningEvent<'_>),
) -> anyhow::Result<PruningSummary> {
    let pruning = config
        .pruning
        .clone()
        .ok_or_else(|| usage_error!("the config has no [pruning] section"))?;
    crate::train::validate::validate(config)?;
    if pruning.soup == SoupMethod::Greedy && config.dataset.holdout == 0 {
        return Err(usage_error!(
            "key `pruning.soup` = \"greedy\" selects copies on held-out images: set \
             dataset.holdout=N (the test split never selects)"
        ));
    }
    let started = Instant::now();
    let out = options.out_dir.as_path();
    let mut progress = start_or_resume(out, resolved, options.resume)?;
    let wall_before = progress.wall_seconds;
    let mut base = resolved.clone();
    base.remove("pruning");
    let base_text = toml::to_string(&base).context("encoding the base config")?;
    let origin = out.join("config.toml").display().to_string();
    let resolve = |overrides: &[String]| -> anyhow::Result<(RunConfig, toml::Table)> {
        crate::config::resolve_str(&base_text, &origin, overrides)
    };
    let (dense_config, dense_table) = resolve(&[])?;
    let device = crate::device::parse(&config.device)?;
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let steps_per_epoch = data.train.len() / config.data.batch_size.max(1);
    let runs = Runs {
        data: &data,
        cancel: &options.cancel,
        device: &device,
    };

    // The dense run, and with rewinding its weights at the rewind step.
    let dense_dir = out.join("dense");
    let rewind = match pruning.rewind_step {
        Some(step) => Some(runs.rewind_weights(&dense_config, &dense_table, &dense_dir, step)?),
        None => None,
    };
    runs.train(&dense_config, &dense_table, &dense_dir, None)?;
    let scorer = Scorer::new(
        &dense_config,
        Buffers::Recompute {
            batches: pruning.bn_batches,
        },
    )?;
    let (dense_weights, _) = runs.load(&dense_dir)?;
    let dense_scores = match &progress.dense {
        Some(scores) => scores.clone(),
        None => scorer.score(&dense_weights)?.1,
    };
    if progress.dense.is_none() {
        on_event(PruningEvent::Dense(&dense_scores));
        progress.dense = Some(dense_scores.clone());
        save_progress(
            out,
            &progress,
            wall_before + started.elapsed().as_secs_f64(),
        )?;
    }

    let rates = DenseRates::of(&dense_config, steps_per_epoch)?;
    let amount = amount_per_phase(pruning.sparsity, pruning.phases);
    let mut weights = dense_weights;
    let mut masks = Masks::dense(&weights);
    for phase in 1..=pruning.phases {
        let phase_dir = out.join(format!("phase-{phase:02}"));
        if let Some(done) = progress.phases.get(phase - 1) {
            (weights, masks) = runs.load_pruned(&done.model_run)?;
            continue;
        }
        masks = masks.prune_by_magnitude(&weights, amount, pruning.selector)?;
        let pruned_weights = masks.apply(&weights)?;
        let pruned_scores = scorer.score(&pruned_weights)?.1;
        let start = match &rewind {
            Some(rewound) => masks.apply(rewound)?,
            None => pruned_weights,
        };
        let pruned_dir = phase_dir.join("pruned");
        runs.save(&dense_config, &pruned_dir, &start, &masks)?;

        let mut copies = Vec::new();
        let mut copy_weights = Vec::new();
        for copy in 0..pruning.soup_size {
            let mut overrides =
                copy_overrides(&pruning, config.seed, rates, steps_per_epoch, phase, copy);
            let change = overrides.last().cloned().unwrap_or_default();
            overrides.push(string_override(
                "train.init_from",
                &pruned_dir.to_string_lossy(),
            ));
            let (copy_config, copy_table) = resolve(&overrides)?;
            let dir = phase_dir.join(format!("copy-{copy:02}"));
            runs.train(&copy_config, &copy_table, &dir, None)?;
            let (trained, trained_masks) = runs.load(&dir)?;
            if trained_masks.as_ref() != Some(&masks) {
                anyhow::bail!(
                    "{}: the retrained copy lost its pruning masks (its checkpoint holds {})",
                    dir.display(),
                    match trained_masks {
                        Some(_) => "other masks",
                        None => "none",
                    }
                );
            }
            let scores = scorer.score(&trained)?.1;
            copies.push(CopyReport {
                run: dir,
                change,
                scores,
            });
            copy_weights.push(trained);
        }

        let mean_of = |members: &[usize]| -> anyhow::Result<Weights> {
            let all: Vec<&Weights> = members.iter().map(|&m| &copy_weights[m]).collect();
            masks.apply(&Weights::mean(&all)?)
        };
        let kept = match pruning.soup {
            SoupMethod::Uniform => (0..copies.len()).collect(),
            SoupMethod::Greedy => {
                let alone: Vec<f64> = copies.iter().map(|c| selection(&c.scores)).collect();
                // The official GreedySoup accepts ties.
                let soup_selection = |members: &[usize]| -> anyhow::Result<f64> {
                    Ok(selection(&scorer.score(&mean_of(members)?)?.1))
                };
                select(&alone, soup_selection, false)?.0
            }
        };
        let (model_weights, model_scores) = scorer.score(&mean_of(&kept)?)?;
        let model_dir = phase_dir.join("model");
        runs.save(&dense_config, &model_dir, &model_weights, &masks)?;
        let report = PhaseReport {
            phase,
            sparsity: masks.sparsity(),
            pruned: pruned_scores,
            copies,
            kept,
            model: model_scores,
            model_run: model_dir,
        };
        on_event(PruningEvent::Phase(&report));
        progress.phases.push(report);
        save_progress(
            out,
            &progress,
            wall_before + started.elapsed().as_secs_f64(),
        )?;
        weights = model_weights;
    }

    let last = progress.phases.last().expect("at least one phase");
    let summary = PruningSummary {
        test_accuracy: last.model.test_accuracy,
        test_loss: last.model.test_loss,
        sparsity: last.sparsity,
        dense: dense_scores,
        phases: progress.phases.clone(),
        model_run: last.model_run.clone(),
        wall_seconds: wall_before + started.elapsed().as_secs_f64(),
    };
    crate::atomic::write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok(summary)
}

/// A new run directory holding `resolved`, or the progress of the one being resumed.
fn start_or_resume(out: &Path, resolved: &toml::Table, resume: bool) -> anyhow::Result<Progress> {
    let progress_path = out.join(PROGRESS_FILE);
    if resume {
        if !out.join("config.toml").is_file() {
            return Err(usage_error!(
                "--resume {}: no pruning run there (config.toml is missing)",
                out.display()
            ));
        }
        return match progress_path.is_file() {
            true => {
                let text = std::fs::read_to_string(&progress_path)
                    .with_context(|| format!("reading {}", progress_path.display()))?;
                serde_json::from_str(&text).with_context(|| {
                    format!("{}: not a pruning run's progress", progress_path.display())
                })
            }
            false => Ok(Progress::default()),
        };
    }
    if out.join("config.toml").exists() {
        return Err(usage_error!(
            "{} already holds a run; choose another --out or --resume it",
            out.display()
        ));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| usage_error!("--out {}: cannot create the directory: {e}", out.display()))?;
    crate::atomic::write_atomic(
        &out.join("config.toml"),
        toml::to_string_pretty(resolved)?.as_bytes(),
    )?;
    Ok(Progress::default())
}

fn save_progress(out: &Path, progress: &Progress, wall_seconds: f64) -> anyhow::Result<()> {
    let progress = Progress {
        wall_seconds,
        ..progress.clone()
    };
    crate::atomic::write_atomic(
        &out.join(PROGRESS_FILE),
        serde_json::to_string_pretty(&progress)?.as_bytes(),
    )
}

/// Trains, reads and writes the driver's run directories on its shared data.
struct Runs<'a> {
    data: &'a LoadedData,
    cancel: &'a CancelToken,
    device: &'a burn::tensor::Device,
}

impl Runs<'_> {
    /// Trains the run `dir` to its end: skipped when finished, resumed when it has a
    /// checkpoint, (re)started otherwise; with `stop_after`, stops there.
    fn train(
        &self,
        config: &RunConfig,
        resolved: &toml::Table,
        dir: &Path,
        stop_after: Option<usize>,
    ) -> anyhow::Result<()> {
        if dir.join("summary.json").is_file() {
            return Ok(());
        }
        let resume = dir.join("checkpoints").join("latest").is_file();
        if !resume && dir.exists() {
            // Started but killed before its first checkpoint: nothing to keep.
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("clearing the unfinished run {}", dir.display()))?;
        }
        let options = TrainOptions {
            out_dir: dir.to_path_buf(),
            resume,
            stop_after,
            cancel: self.cancel.clone(),
            data: Some(self.data.clone()),
            ..Default::default()
        };
        crate::train::train(config, resolved, &options, Vec::new())?;
        Ok(())
    }

    /// The weights and masks of a run's latest checkpoint.
    fn load(&self, dir: &Path) -> anyhow::Result<(Weights, Option<Masks>)> {
        let located = locate(dir, false, &[])?;
        let mut trainer = Trainer::build(
            &located.config,
            self.device,
            Some(self.data.clone()),
            Setup::default(),
        )?;
        trainer.load_weights(&located.checkpoint)?;
        Ok((trainer.weights(), trainer.masks().cloned()))
    }

    /// [`Runs::load`] of a run that must have masks.
    fn load_pruned(&self, dir: &Path) -> anyhow::Result<(Weights, Masks)> {
        match self.load(dir)? {
            (weights, Some(masks)) => Ok((weights, masks)),
            (_, None) => anyhow::bail!("{}: the pruned model has no masks", dir.display()),
        }
    }

    /// Writes `weights` under `masks` as the run directory `dir` (replacing what an
    /// interrupted write left there).
    fn save(
        &self,
        config: &RunConfig,
        dir: &Path,
        weights: &Weights,
        masks: &Masks,
    ) -> anyhow::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("replacing {}", dir.display()))?;
        }
        let mut trainer = Trainer::build(
            config,
            self.device,
            Some(self.data.clone()),
            Setup::default(),
        )?;
        trainer.set_weights(weights)?;
        trainer.set_masks(Some(masks.clone()))?;
        trainer.save(dir)?;
        Ok(())
    }

    /// The dense run's weights after `step` steps (its initial weights for 0), saved in
    /// `dense/rewind.safetensors` the first time: the dense run is trained to `step` first.
    fn rewind_weights(
        &self,
        config: &RunConfig,
        resolved: &toml::Table,
        dense_dir: &Path,
        step: usize,
    ) -> anyhow::Result<Weights> {
        let path = dense_dir.join("rewind.safetensors");
        if path.is_file() {
            let reference = self.fresh(config)?.weights();
            return Ok(Weights::read_safetensors(&path)?.with_kinds_of(&reference));
        }
        let weights = match step {
            0 => self.fresh(config)?.weights(),
            step => {
                let latest = CheckpointDir::new(dense_dir).latest().ok();
                let done = latest.map(|l| manifest_step(&l)).transpose()?.unwrap_or(0);
                if done > step {
                    return Err(usage_error!(
                        "{}: the dense run is past the rewind step {step} (at step {done}) \
                         without its weights there (pruning.rewind_step was changed after it \
                         started?)",
                        dense_dir.display()
                    ));
                }
                match self.train(config, resolved, dense_dir, Some(step)) {
                    // Stopped at the rewind step, as asked (a cancel stops elsewhere).
                    Err(e)
                        if e.downcast_ref::<crate::train::Interrupted>()
                            .is_some_and(|i| i.step == step) => {}
                    other => other?,
                }
                self.load(dense_dir)?.0
            }
        };
        std::fs::create_dir_all(dense_dir)?;
        weights.write_safetensors(&path)?;
        Ok(weights)
    }

    /// A Trainer of `config` as built (its initial weights).
    fn fresh(&self, config: &RunConfig) -> anyhow::Result<Trainer> {
        Trainer::build(
            config,
            self.device,
            Some(self.data.clone()),
            Setup::default(),
        )
    }
}
