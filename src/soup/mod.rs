//! Weight-space ensembles of finished runs: model soups (Wortsman et al., 2022; the official
//! `mlfoundations/model-soups`) and WiSE-FT's interpolation (Wortsman et al., 2022).
//! Ingredients are stoke run directories of one architecture (their latest checkpoints);
//! a soup is written as a run directory that `stoke eval` and `stoke export` read. Batch-norm
//! statistics of averaged weights are recomputed on training batches ([`statistics`]) unless
//! asked to be averaged like the other tensors.

pub mod greedy;
pub mod interpolate;
pub mod statistics;
pub mod sweep;

use crate::config::RunConfig;
use crate::datasets::LoadedData;
use crate::train::checkpoint::CheckpointDir;
use crate::train::run_dir::load_run_config;
use crate::train::{Evaluation, Setup, Trainer, Weights};
use crate::usage_error;
use burn::tensor::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One finished run: where it is, its config and its latest weights.
#[derive(Clone, Debug)]
pub struct Ingredient {
    pub run: PathBuf,
    pub config: RunConfig,
    pub weights: Weights,
}

/// Reads the runs' configs and latest weights; runs whose tensors differ in name or shape
/// from the first run's are an error naming the run and the tensor.
pub fn load_ingredients(runs: &[PathBuf]) -> anyhow::Result<Vec<Ingredient>> {
    if runs.is_empty() {
        return Err(usage_error!("give at least one run directory"));
    }
    let mut ingredients: Vec<Ingredient> = Vec::with_capacity(runs.len());
    for run in runs {
        let (config, _) = load_run_config(run, &[])?;
        let device = crate::device::parse(&config.device)?;
        let latest = CheckpointDir::new(run).latest()?;
        let weights = Trainer::from_checkpoint(&config, &latest, &device)?.weights();
        if let Some(first) = ingredients.first() {
            check_same_tensors(&first.weights, &weights, &first.run, run)?;
        }
        ingredients.push(Ingredient {
            run: run.clone(),
            config,
            weights,
        });
    }
    Ok(ingredients)
}

fn check_same_tensors(a: &Weights, b: &Weights, run_a: &Path, run_b: &Path) -> anyhow::Result<()> {
    for (name, tensor) in a.iter() {
        match b.get(name) {
            None => {
                return Err(usage_error!(
                    "{} has no tensor `{name}` (shape {:?} in {}): soups need runs of one \
                     architecture",
                    run_b.display(),
                    tensor.shape,
                    run_a.display()
                ));
            }
            Some(other) if other.shape != tensor.shape => {
                return Err(usage_error!(
                    "tensor `{name}` has shape {:?} in {} but {:?} in {}: soups need runs of one \
                     architecture",
                    tensor.shape,
                    run_a.display(),
                    other.shape,
                    run_b.display()
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(name) = b.names().find(|n| a.get(n).is_none()) {
        return Err(usage_error!(
            "{} has a tensor `{name}` that {} lacks: soups need runs of one architecture",
            run_b.display(),
            run_a.display()
        ));
    }
    Ok(())
}

/// How a soup's batch-norm statistics are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Buffers {
    /// Recomputed on this many training batches (the default; 20).
    Recompute { batches: usize },
    /// Averaged with the same weights as the parameters.
    Average,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers::Recompute { batches: 20 }
    }
}

/// Scores weights: puts them (with their statistics made as `buffers` says) into a Trainer
/// built from a run's config and evaluates on the test split and, when the config holds
/// images out, on the holdout split. Every call starts a fresh Trainer, so the statistics
/// come from the same training batches whatever was scored before.
pub struct Scorer {
    config: RunConfig,
    data: LoadedData,
    device: Device,
    buffers: Buffers,
}

/// What a scorer measured of one set of weights.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Scores {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
}

impl Scorer {
    /// A scorer on `config`'s data (its training batches for statistics, its holdout and
    /// test splits for scores).
    pub fn new(config: &RunConfig, buffers: Buffers) -> anyhow::Result<Self> {
        let mut config = config.clone();
        // Enough steps for the statistics' batches; the schedule is never used.
        config.train.epochs = 0;
        config.train.steps = match buffers {
            Buffers::Recompute { batches } => batches.max(1),
            Buffers::Average => 1,
        };
        config.robust_eval.images = 0;
        let device = crate::device::parse(&config.device)?;
        let data = crate::datasets::load(&config.dataset, config.seed)?;
        Ok(Self {
            config,
            data,
            device,
            buffers,
        })
    }

    /// A Trainer holding `weights` with their statistics made as `buffers` says.
    pub fn prepare(&self, weights: &Weights) -> anyhow::Result<Trainer> {
        let mut trainer = Trainer::build(
            &self.config,
            &self.device,
            Some(self.data.clone()),
            Setup::default(),
        )?;
        match self.buffers {
            Buffers::Average => trainer.set_weights(weights)?,
            Buffers::Recompute { batches } => {
                statistics::recompute(&mut trainer, weights, batches)?;
            }
        }
        Ok(trainer)
    }

    /// Prepares `weights` and scores them; returns the prepared weights too.
    pub fn score(&self, weights: &Weights) -> anyhow::Result<(Weights, Scores)> {
        let trainer = self.prepare(weights)?;
        let test: Evaluation = trainer.evaluate()?;
        let holdout = trainer.evaluate_holdout()?;
        let scores = Scores {
            holdout_accuracy: holdout.and_then(|h| h.test_accuracy),
            test_accuracy: test.test_accuracy,
            test_loss: test.test_loss,
        };
        Ok((trainer.weights(), scores))
    }

    /// Whether the config holds images out (what a greedy soup selects on).
    pub fn has_holdout(&self) -> bool {
        self.data.holdout.is_some()
    }

    /// The data the scores come from.
    pub fn data(&self) -> &LoadedData {
        &self.data
    }
}

/// The uniform soup: the mean of the ingredients' weights.
pub fn uniform(ingredients: &[Ingredient]) -> anyhow::Result<Weights> {
    let all: Vec<&Weights> = ingredients.iter().map(|i| &i.weights).collect();
    Weights::mean(&all)
}

/// What soup.json of a soup's run directory records.
#[derive(Clone, Debug, Serialize)]
pub struct SoupSummary {
    pub kind: &'static str,
    pub buffers: Buffers,
    /// Every ingredient, with its own scores, in the order given.
    pub ingredients: Vec<IngredientScores>,
    /// The runs the soup averages.
    pub kept: Vec<PathBuf>,
    pub scores: Scores,
    pub out: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct IngredientScores {
    pub run: PathBuf,
    pub scores: Scores,
}

/// Writes `weights` as a run directory `out` (the first ingredient's config, a checkpoint
/// `stoke eval` and `stoke export` read) with `summary` as soup.json.
pub fn write_soup(
    out: &Path,
    config: &RunConfig,
    weights: &Weights,
    summary: &impl Serialize,
) -> anyhow::Result<()> {
    if out.join("config.toml").exists() {
        return Err(usage_error!(
            "{} already holds a run; choose another --out",
            out.display()
        ));
    }
    let device = crate::device::parse(&config.device)?;
    let mut trainer = Trainer::build(config, &device, None, Setup::default())?;
    trainer.set_weights(weights)?;
    trainer.save(out)?;
    crate::atomic::write_atomic(
        &out.join("soup.json"),
        serde_json::to_string_pretty(summary)?.as_bytes(),
    )?;
    Ok(())
}

/// Scores every ingredient alone (statistics made as `buffers` says, so the comparison with
/// the soup is like for like).
pub fn score_ingredients(
    scorer: &Scorer,
    ingredients: &[Ingredient],
) -> anyhow::Result<Vec<IngredientScores>> {
    ingredients
        .iter()
        .map(|i| {
            Ok(IngredientScores {
                run: i.run.clone(),
                scores: scorer.score(&i.weights)?.1,
            })
        })
        .collect()
}

/// `stoke soup uniform`: averages every run, scores the soup and writes it to `out`.
pub fn uniform_soup(runs: &[PathBuf], buffers: Buffers, out: &Path) -> anyhow::Result<SoupSummary> {
    let ingredients = load_ingredients(runs)?;
    let scorer = Scorer::new(&ingredients[0].config, buffers)?;
    let each = score_ingredients(&scorer, &ingredients)?;
    let (soup, scores) = scorer.score(&uniform(&ingredients)?)?;
    let summary = SoupSummary {
        kind: "uniform",
        buffers,
        ingredients: each,
        kept: runs.to_vec(),
        scores,
        out: out.to_path_buf(),
    };
    write_soup(out, &ingredients[0].config, &soup, &summary)?;
    Ok(summary)
}
