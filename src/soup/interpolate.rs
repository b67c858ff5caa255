//! WiSE-FT's curve (Wortsman et al., 2022; `mlfoundations/wise-ft`): the weights
//! (1 - alpha) theta_a + alpha theta_b for several alpha, each scored on the test split, on a
//! shifted copy of it and, when the config holds images out, on the holdout split.

use super::{Buffers, Scorer, load_ingredients};
use crate::datasets::ImageSet;
use crate::plot::{Series, line_chart};
use crate::rng::{Rng, Stream};
use crate::train::Weights;
use crate::usage_error;
use serde::Serialize;
use std::path::Path;

/// The distribution shift the curve is also scored under.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shift {
    /// The test images with seeded Gaussian pixel noise of this standard deviation (in
    /// units of the pixel range [0, 1]), clipped.
    GaussianNoise { std: f64 },
}

impl Shift {
    /// A shifted copy of `test`.
    pub fn apply(&self, test: &ImageSet) -> ImageSet {
        match *self {
            Shift::GaussianNoise { std } => {
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
        }
    }
}

/// One alpha of the curve.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub alpha: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shifted_accuracy: Option<f64>,
    pub shifted_loss: f64,
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
    let scorer = Scorer::new(&ingredients[0].config, buffers)?;
    let shifted = shift.apply(&scorer.data().test);
    let mut points = Vec::with_capacity(alphas.len());
    for &alpha in alphas {
        let weights = Weights::weighted_average(&[
            (&ingredients[0].weights, 1.0 - alpha),
            (&ingredients[1].weights, alpha),
        ])?;
        let trainer = scorer.prepare(&weights)?;
        let test = trainer.evaluate()?;
        let moved = trainer.evaluate_on(&shifted)?;
        let holdout = trainer.evaluate_holdout()?;
        let point = Point {
            alpha,
            test_accuracy: test.test_accuracy,
            test_loss: test.test_loss,
            shifted_accuracy: moved.test_accuracy,
            shifted_loss: moved.test_loss,
            holdout_accuracy: holdout.and_then(|h| h.test_accuracy),
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
    fn noise_is_seeded_clipped_and_keeps_labels() {
        let test = ImageSet {
            pixels: vec![0, 128, 255, 10, 20, 30],
            labels: vec![1, 2],
            channels: 1,
            height: 1,
            width: 3,
            num_classes: 3,
        };
        let shift = Shift::GaussianNoise { std: 0.2 };
        let a = shift.apply(&test);
        assert_eq!(a.pixels, shift.apply(&test).pixels);
        assert_ne!(a.pixels, test.pixels);
        assert_eq!(a.labels, test.labels);
        assert_eq!(
            Shift::GaussianNoise { std: 0.0 }.apply(&test).pixels,
            test.pixels
        );
    }
}
