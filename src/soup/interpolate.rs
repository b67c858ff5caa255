//! WiSE-FT's curve (Wortsman et al., 2022; `mlfoundations/wise-ft`): the weights
//! (1 - alpha) theta_a + alpha theta_b for several alpha, each scored on the test split, on a
//! shifted split and, when the config holds images out, on the holdout split. The data are
//! those of run b's config (the task b was fine-tuned for). Each point also counts Lin et
//! al.'s "FalseFalseTrue" cases (ICLR 2024): images both endpoint models get wrong and the
//! interpolated model gets right.

use super::{Buffers, Scorer, load_ingredients};
use crate::config::{DatasetConfig, RunConfig};
use crate::datasets::ImageSet;
use crate::plot::{Series, line_chart};
use crate::rng::{Rng, Stream};
use crate::train::Weights;
use crate::usage_error;
use serde::Serialize;
use std::path::Path;

/// The distribution shift the curve is also scored under.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shift {
    /// The test images with seeded Gaussian pixel noise of this standard deviation (in
    /// units of the pixel range [0, 1]), clipped.
    GaussianNoise { std: f64 },
    /// The test split of the config's dataset with these `dataset.KEY=VALUE` overrides
    /// (a multicolour test split with its spurious correlation broken or reversed, say).
    Dataset { overrides: Vec<String> },
}

impl Shift {
    /// The shifted split of `config`'s test split `test`.
    pub fn split(&self, config: &RunConfig, test: &ImageSet) -> anyhow::Result<ImageSet> {
        match self {
            Shift::GaussianNoise { std } => Ok(noisy(test, *std)),
            Shift::Dataset { overrides } => {
                let dataset = shifted_dataset(&config.dataset, overrides)?;
                let shifted = crate::datasets::load(&dataset, config.seed)?.test;
                if (
                    shifted.channels,
                    shifted.height,
                    shifted.width,
                    shifted.num_classes,
                ) != (test.channels, test.height, test.width, test.num_classes)
                {
                    return Err(usage_error!(
                        "the shifted split ({}) differs from the test split in image shape or \
                         classes",
                        overrides.join(" ")
                    ));
                }
                Ok(shifted)
            }
        }
    }
}

/// `test` with seeded Gaussian pixel noise of standard deviation `std` (pixel range 1),
/// clipped.
fn noisy(test: &ImageSet, std: f64) -> ImageSet {
    let mut shifted = test.clone();
    let image = test.channels * test.height * test.width;
    for (i, pixels) in shifted.pixels.chunks_mut(image.max(1)).enumerate() {
        let mut rng = Rng::new(0, Stream::Probe, u64::MAX - 3, i as u64);
        for p in pixels {
            let noisy = *p as f64 + 255.0 * std * rng.normal();
            *p = noisy.round().clamp(0.0, 255.0) as u8;
        }
    }
    shifted
}

/// `dataset` with `dataset.KEY=VALUE` overrides applied, type-checked as a config file is.
fn shifted_dataset(dataset: &DatasetConfig, overrides: &[String]) -> anyhow::Result<DatasetConfig> {
    let mut doc = toml::Table::new();
    doc.insert("dataset".into(), toml::Value::try_from(dataset)?);
    for assignment in overrides {
        if !assignment.trim_start().starts_with("dataset.") {
            return Err(usage_error!(
                "--shift `{assignment}`: expected `noise:STD` or dataset.KEY=VALUE overrides"
            ));
        }
        crate::config::overrides::apply(&mut doc, assignment)?;
    }
    let section = doc
        .remove("dataset")
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    section
        .try_into()
        .map_err(|e| usage_error!("--shift {}: {e}", overrides.join(" ")))
}

/// A model's answers on one split: which images it gets right, its accuracy and mean
/// cross-entropy.
struct Answers {
    correct: Vec<bool>,
    accuracy: f64,
    loss: f64,
}

fn answers(trainer: &crate::Trainer, set: &ImageSet) -> anyhow::Result<Answers> {
    let predictions = trainer.predict(set)?;
    let correct: Vec<bool> = (0..predictions.len())
        .map(|i| predictions.predicted(i) == predictions.labels[i] as usize)
        .collect();
    let n = correct.len().max(1) as f64;
    Ok(Answers {
        accuracy: correct.iter().filter(|&&c| c).count() as f64 / n,
        loss: predictions.losses.iter().map(|&l| l as f64).sum::<f64>() / n,
        correct,
    })
}

/// Images both endpoints get wrong and `mixed` gets right.
pub fn false_false_true(a: &[bool], b: &[bool], mixed: &[bool]) -> usize {
    a.iter()
        .zip(b)
        .zip(mixed)
        .filter(|((a, b), m)| !**a && !**b && **m)
        .count()
}

/// One alpha of the curve.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub alpha: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    /// Test images both endpoints get wrong and this point gets right.
    pub test_false_false_true: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shifted_accuracy: Option<f64>,
    pub shifted_loss: f64,
    /// The same on the shifted split.
    pub shifted_false_false_true: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_accuracy: Option<f64>,
}

/// The curve between runs `a` (alpha 0) and `b` (alpha 1), in the order of `alphas`.
pub fn interpolate(
    a: &Path,
    b: &Path,
    alphas: &[f64],
    buffers: Buffers,
    shift: Shift,
    on_point: &mut dyn FnMut(&Point),
) -> anyhow::Result<Vec<Point>> {
    if let Some(bad) = alphas.iter().find(|a| !a.is_finite()) {
        return Err(usage_error!("--alpha: expected finite numbers, got {bad}"));
    }
    if alphas.is_empty() {
        return Err(usage_error!("--alpha: give at least one value"));
    }
    let ingredients = load_ingredients(&[a.to_path_buf(), b.to_path_buf()])?;
    let config = &ingredients[1].config;
    let scorer = Scorer::new(config, buffers)?;
    let test_split = &scorer.data().test;
    let shifted = shift.split(config, test_split)?;
    let mix = |alpha: f64| {
        Weights::weighted_average(&[
            (&ingredients[0].weights, 1.0 - alpha),
            (&ingredients[1].weights, alpha),
        ])
    };
    // Each alpha's answers on the test, shifted and holdout splits.
    let answer = |alpha: f64| -> anyhow::Result<(Answers, Answers, Option<f64>)> {
        let trainer = scorer.prepare(&mix(alpha)?)?;
        let holdout = trainer.evaluate_holdout()?.and_then(|h| h.test_accuracy);
        Ok((
            answers(&trainer, test_split)?,
            answers(&trainer, &shifted)?,
            holdout,
        ))
    };
    let ends = [answer(0.0)?, answer(1.0)?];
    let mut points = Vec::with_capacity(alphas.len());
    for &alpha in alphas {
        // The endpoints are prepared once.
        let computed;
        let (test, moved, holdout) = if alpha == 0.0 {
            &ends[0]
        } else if alpha == 1.0 {
            &ends[1]
        } else {
            computed = answer(alpha)?;
            &computed
        };
        let point = Point {
            alpha,
            test_accuracy: Some(test.accuracy),
            test_loss: test.loss,
            test_false_false_true: false_false_true(
                &ends[0].0.correct,
                &ends[1].0.correct,
                &test.correct,
            ),
            shifted_accuracy: Some(moved.accuracy),
            shifted_loss: moved.loss,
            shifted_false_false_true: false_false_true(
                &ends[0].1.correct,
                &ends[1].1.correct,
                &moved.correct,
            ),
            holdout_accuracy: *holdout,
        };
        on_point(&point);
        points.push(point);
    }
    Ok(points)
}

/// An SVG chart of the curve's accuracies against alpha.
pub fn chart(points: &[Point], title: &str) -> String {
    let series = |label: &str, pick: fn(&Point) -> Option<f64>| Series {
        label: label.to_string(),
        points: points
            .iter()
            .filter_map(|p| pick(p).map(|y| (p.alpha, y)))
            .collect(),
    };
    let mut all = vec![
        series("test", |p| p.test_accuracy),
        series("shifted test", |p| p.shifted_accuracy),
    ];
    if points.iter().any(|p| p.holdout_accuracy.is_some()) {
        all.push(series("holdout", |p| p.holdout_accuracy));
    }
    line_chart(title, "alpha", "accuracy", &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn false_false_true_counts_what_only_the_mixture_gets_right() {
        let a = [false, false, true, false, false];
        let b = [false, true, false, false, false];
        let m = [true, true, true, false, true];
        // Images 0 and 4: both endpoints wrong, the mixture right.
        assert_eq!(false_false_true(&a, &b, &m), 2);
    }

    #[test]
    fn dataset_shifts_override_the_dataset_section_only() {
        let dataset: DatasetConfig = toml::from_str(
            "format = \"multicolor\"\npath = \"embedded:x\"\ncorrelation = 0.9\n\
             mean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]",
        )
        .unwrap();
        let shifted =
            shifted_dataset(&dataset, &["dataset.test_correlation=-1".to_string()]).unwrap();
        assert_eq!(shifted.test_correlation, Some(-1.0));
        assert_eq!(shifted.correlation, Some(0.9));
        let error = shifted_dataset(&dataset, &["optimizer.lr=1".to_string()]).unwrap_err();
        assert!(error.to_string().contains("dataset.KEY=VALUE"), "{error}");
        let error = shifted_dataset(&dataset, &["dataset.colour=1".to_string()]).unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn noise_is_seeded_clipped_and_keeps_labels() {
        let test = ImageSet {
            pixels: vec![0, 128, 255, 10, 20, 30],
            labels: vec![1, 2],
            channels: 1,
            height: 1,
            width: 3,
            num_classes: 3,
        };
        let a = noisy(&test, 0.2);
        assert_eq!(a.pixels, noisy(&test, 0.2).pixels);
        assert_ne!(a.pixels, test.pixels);
        assert_eq!(a.labels, test.labels);
        assert_eq!(noisy(&test, 0.0).pixels, test.pixels);
    }
}
