//! Data Diet (Paul, Ganguli, Dziugaite, 2021; the official `mansheej/data_diet`): score every
//! training example early in training and train on a subset chosen by the scores. This
//! module scores ([`score`], what `stoke score` calls); `dataset.keep`
//! ([`crate::datasets::keep`]) selects when the data loads.
//!
//! Scores, averaged over independently initialised runs after a few epochs (0: at
//! initialisation, where the paper computes GraNd): EL2N, the L2 norm of
//! softmax(f(x)) - onehot(y); GraNd, the L2 norm over all parameters of the gradient of the
//! example's cross-entropy ([`crate::Trainer::example_gradient_norms`]). Both with the model
//! as at evaluation, as the official code's `train=False` forward.

pub use crate::datasets::keep::ScoreFile;

use crate::atomic::write_atomic;
use crate::config::RunConfig;
use crate::datasets::ImageSet;
use crate::train::Observer;
use crate::train::{Predictions, Setup, Trainer};
use crate::usage_error;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// EL2N of one example: ||softmax(logits) - onehot(label)||_2.
pub fn el2n(logits: &[f32], label: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter()
        .enumerate()
        .map(|(c, e)| {
            let target = if c == label { 1.0 } else { 0.0 };
            (e / total - target).powi(2)
        })
        .sum::<f64>()
        .sqrt()
}

/// EL2N of every example of `predictions`.
pub fn el2n_scores(predictions: &Predictions) -> Vec<f64> {
    (0..predictions.len())
        .map(|i| el2n(predictions.logits_of(i), predictions.labels[i] as usize))
        .collect()
}

/// How an example is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// ||softmax(f(x)) - onehot(y)||_2.
    El2n,
    /// ||grad_theta CE(f(x), y)||_2.
    Grand,
}

impl Method {
    /// The name a scores file records.
    pub fn name(self) -> &'static str {
        match self {
            Method::El2n => "el2n",
            Method::Grand => "grand",
        }
    }

    /// The scores of every image of `set` under `trainer`'s current model.
    pub fn scores(self, trainer: &Trainer, set: &ImageSet) -> anyhow::Result<Vec<f64>> {
        match self {
            Method::El2n => Ok(el2n_scores(&trainer.predict(set)?)),
            Method::Grand => trainer.example_gradient_norms(set),
        }
    }
}

/// What `score` does besides scoring: where finished runs' scores are kept so that an
/// interrupted scoring resumes, what watches each run's training, and what hears of each
/// finished run.
#[derive(Default)]
pub struct ScoreHooks<'a> {
    /// A directory for one file per finished run (`run-SEED.json`, with the run's whole
    /// config); a run whose file holds the same config, method and epochs is read back
    /// instead of trained again.
    pub parts: Option<&'a Path>,
    /// Observers attached to each run's Trainer (a progress bar, say).
    pub observers: Option<&'a dyn Fn() -> Vec<Box<dyn Observer>>>,
    /// Called after each run with its index and whether its scores were read back.
    pub on_run: Option<&'a mut dyn FnMut(usize, bool)>,
}

/// One finished run's scores as a parts file keeps them.
#[derive(Serialize, Deserialize)]
struct RunScores {
    config: serde_json::Value,
    method: String,
    epochs: usize,
    scores: Vec<f64>,
}

/// Trains `seeds` runs of `config` (seeds config.seed, config.seed + 1, ...) for `epochs`
/// epochs each and averages their `method` scores of every training image.
pub fn score(
    config: &RunConfig,
    method: Method,
    epochs: usize,
    seeds: usize,
    mut hooks: ScoreHooks<'_>,
) -> anyhow::Result<ScoreFile> {
    if seeds == 0 {
        return Err(usage_error!("--seeds: expected at least 1 run"));
    }
    let device = crate::device::parse(&config.device)?;
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let steps_per_epoch = data.train.len().div_ceil(config.data.batch_size.max(1));
    let mut sums = vec![0.0; data.train.len()];
    for run in 0..seeds {
        let mut local = config.clone();
        local.seed = config.seed.wrapping_add(run as u64);
        local.train.epochs = 0;
        local.train.steps = (epochs * steps_per_epoch).max(1);
        local.robust_eval.images = 0;
        let part = hooks
            .parts
            .map(|dir| dir.join(format!("run-{}.json", local.seed)));
        let expected = RunScores {
            config: serde_json::to_value(&local)?,
            method: method.name().into(),
            epochs,
            scores: Vec::new(),
        };
        let kept = part
            .as_deref()
            .and_then(|path| read_part(path, &expected, data.train.len()));
        let reused = kept.is_some();
        let scores = match kept {
            Some(scores) => scores,
            None => {
                let mut trainer =
                    Trainer::build(&local, &device, Some(data.clone()), Setup::default())?;
                if let Some(observers) = hooks.observers {
                    for observer in observers() {
                        trainer.attach_boxed(observer);
                    }
                }
                trainer.run_steps(epochs * steps_per_epoch)?;
                let scores = method.scores(&trainer, &data.train)?;
                if let Some(path) = &part {
                    let file = RunScores {
                        scores: scores.clone(),
                        ..expected
                    };
                    write_atomic(path, serde_json::to_string(&file)?.as_bytes())?;
                }
                scores
            }
        };
        for (sum, s) in sums.iter_mut().zip(scores) {
            *sum += s;
        }
        if let Some(on_run) = hooks.on_run.as_mut() {
            on_run(run, reused);
        }
    }
    Ok(ScoreFile {
        method: method.name().into(),
        epochs,
        seeds,
        train_images: data.train.len(),
        scores: sums.iter().map(|s| s / seeds as f64).collect(),
    })
}

/// A finished run's scores, if `path` holds them for the same config, method and epochs and
/// one per training image (anything else is scored again and overwritten).
fn read_part(path: &Path, expected: &RunScores, images: usize) -> Option<Vec<f64>> {
    let bytes = std::fs::read(path).ok()?;
    let file: RunScores = serde_json::from_slice(&bytes).ok()?;
    let matches = file.config == expected.config
        && file.method == expected.method
        && file.epochs == expected.epochs
        && file.scores.len() == images;
    matches.then_some(file.scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn el2n_is_the_distance_of_the_softmax_to_the_label() {
        // logits (0, ln 3): softmax (1/4, 3/4); label 0: sqrt((3/4)^2 + (3/4)^2).
        let score = el2n(&[0.0, 3f32.ln()], 0);
        assert!((score - (2.0f64 * 0.5625).sqrt()).abs() < 1e-7, "{score}");
        // Label 1: sqrt((1/4)^2 + (1/4)^2).
        let score = el2n(&[0.0, 3f32.ln()], 1);
        assert!((score - (2.0f64 * 0.0625).sqrt()).abs() < 1e-7, "{score}");
        // Confident and right: near 0; confident and wrong: near sqrt(2).
        assert!(el2n(&[30.0, 0.0, 0.0], 0) < 1e-9);
        assert!((el2n(&[30.0, 0.0, 0.0], 1) - 2f64.sqrt()).abs() < 1e-9);
    }
}
