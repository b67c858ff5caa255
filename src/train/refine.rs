//! Refined learning-rate schedules (Defazio, Cutkosky, Mehta, Mishchenko, "When, Why and How
//! Much? Adaptive Learning Rate Scheduling by Refinement", arXiv 2310.07831).
//!
//! From the per-step gradient norms `g_t` of a previous run, with weights `w_t = g_t^-2`
//! (SGD-family, l2 norms) or `w_t = g_t^-1` (Adam-family, l1 norms), the schedule is
//! `eta_t ∝ w_t * sum_{p > t} w_p`, so `eta_{T-1} = 0`, normalised to a peak of 1. Constant
//! norms give linear decay `(T-1-t)/(T-1)`; large early norms give a warm-up.
//!
//! The norms are smoothed first, following the reference code
//! (`facebookresearch/adaptive_scheduling`): non-finite values and `trim` samples at each end
//! are dropped; the sequence is resampled linearly onto `max(len, grid)` points; a running
//! median of odd width `2 floor(floor(fraction n) / 2) + 1` is applied, with the left edge
//! replicated and the right edge reflected; the result is resampled to the new run's length.

use crate::optim::registry::Family;
use crate::usage_error;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which norm the weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// l2 norms, weights `g^-2` (SGD-family).
    L2,
    /// l1 norms, weights `g^-1` (Adam-family, coordinate-wise).
    L1,
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Norm::L2 => "l2",
            Norm::L1 => "l1",
        })
    }
}

/// Smoothing of the norm sequence (defaults as in the reference code).
#[derive(Clone, Copy, Debug)]
pub struct Smoothing {
    /// Samples dropped at each end.
    pub trim: usize,
    /// Minimum number of points the median filter runs on.
    pub grid: usize,
    /// Median window as a fraction of the grid.
    pub fraction: f64,
}

impl Default for Smoothing {
    fn default() -> Self {
        Self {
            trim: 2,
            grid: 10_000,
            fraction: 0.1,
        }
    }
}

/// `values` resampled linearly onto `n` evenly spaced points over the same span.
pub fn resample(values: &[f64], n: usize) -> Vec<f64> {
    match (values.len(), n) {
        (_, 0) => Vec::new(),
        (0, _) => vec![f64::NAN; n],
        (1, _) => vec![values[0]; n],
        (len, 1) => vec![values[len - 1]],
        (len, n) => (0..n)
            .map(|i| {
                let x = i as f64 * (len - 1) as f64 / (n - 1) as f64;
                let lo = (x.floor() as usize).min(len - 2);
                let frac = x - lo as f64;
                values[lo] * (1.0 - frac) + values[lo + 1] * frac
            })
            .collect(),
    }
}

/// Running median of odd width; the left edge replicates the first value, the right edge
/// reflects the sequence.
pub fn median_filter(values: &[f64], width: usize) -> Vec<f64> {
    let n = values.len();
    let half = width / 2;
    let at = |j: isize| -> f64 {
        if j < 0 {
            values[0]
        } else if (j as usize) < n {
            values[j as usize]
        } else {
            let reflected = 2 * (n as isize - 1) - j;
            values[reflected.clamp(0, n as isize - 1) as usize]
        }
    };
    let mut window = Vec::with_capacity(width);
    (0..n)
        .map(|i| {
            window.clear();
            window.extend((0..width).map(|k| at(i as isize + k as isize - half as isize)));
            *window.select_nth_unstable_by(half, f64::total_cmp).1
        })
        .collect()
}

/// The smoothed norm sequence, `steps` long.
pub fn smooth(norms: &[f64], steps: usize, smoothing: Smoothing) -> anyhow::Result<Vec<f64>> {
    // Non-finite and zero norms carry no weight information; drop them like the reference
    // drops non-finite values.
    let finite: Vec<f64> = norms
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if finite.len() <= 2 * smoothing.trim {
        return Err(usage_error!(
            "refining needs more than {} finite, positive gradient norms, got {}",
            2 * smoothing.trim,
            finite.len()
        ));
    }
    let kept = &finite[smoothing.trim..finite.len() - smoothing.trim];
    // The reference resamples onto its 10,000-point grid and filters with a window of 10% of
    // that grid (1001 points); longer runs keep their points and the same window.
    let n = kept.len().max(smoothing.grid);
    let dense = resample(kept, n);
    let width = 2 * ((smoothing.fraction * smoothing.grid as f64).floor() as usize / 2) + 1;
    Ok(resample(&median_filter(&dense, width), steps))
}

/// The closed-form refined schedule for (already smoothed) norms, peak 1.
pub fn closed_form(norms: &[f64], norm: Norm) -> Vec<f64> {
    let weights: Vec<f64> = norms
        .iter()
        .map(|g| match norm {
            Norm::L2 => g.powi(-2),
            Norm::L1 => g.recip(),
        })
        .collect();
    let mut schedule = vec![0.0; weights.len()];
    let mut tail = 0.0;
    for t in (0..weights.len()).rev() {
        schedule[t] = weights[t] * tail;
        tail += weights[t];
    }
    let peak = schedule.iter().copied().fold(0.0, f64::max);
    if peak > 0.0 {
        schedule.iter_mut().for_each(|v| *v /= peak);
    }
    schedule
}

/// What `stoke schedule refine` writes and `schedule.name = "file"` reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduleFile {
    /// The run the norms came from.
    pub source: String,
    pub norm: Norm,
    /// Per-step factors on `optimizer.lr`, peak 1.
    pub lr_factors: Vec<f64>,
}

/// Refines the schedule of a run directory from the per-step norms in its metrics.jsonl.
/// `norm` defaults by the run's optimizer family, `steps` to the run's own length.
pub fn refine_run(
    run_dir: &Path,
    norm: Option<Norm>,
    steps: Option<usize>,
    smoothing: Smoothing,
) -> anyhow::Result<ScheduleFile> {
    let config_path = run_dir.join("config.toml");
    if !config_path.exists() {
        return Err(usage_error!(
            "{} is not a run directory: {} is missing",
            run_dir.display(),
            config_path.display()
        ));
    }
    let (config, _) = crate::config::resolve(&config_path.to_string_lossy(), &[])?;
    let norm = match norm {
        Some(norm) => norm,
        None => match crate::optim::registry::entry(&config.optimizer.name)?.family {
            Family::Sgd => Norm::L2,
            Family::Adam => Norm::L1,
        },
    };
    let key = match norm {
        Norm::L2 => "grad_l2",
        Norm::L1 => "grad_l1",
    };
    let metrics_path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics_path).map_err(|e| {
        usage_error!(
            "reading {}: {e}: the run has no metrics to refine from",
            metrics_path.display()
        )
    })?;
    let mut norms = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            usage_error!(
                "{} line {}: not JSON: {e}",
                metrics_path.display(),
                number + 1
            )
        })?;
        if let Some(v) = value.get(key).and_then(serde_json::Value::as_f64) {
            norms.push(v);
        }
    }
    if norms.is_empty() {
        return Err(usage_error!(
            "{}: no per-step `{key}` values (runs from before stoke logged them per step cannot be refined)",
            metrics_path.display()
        ));
    }
    let steps = steps.unwrap_or(norms.len());
    if steps < 2 {
        return Err(usage_error!("--steps: a schedule needs at least 2 steps"));
    }
    let smoothed = smooth(&norms, steps, smoothing)?;
    Ok(ScheduleFile {
        source: run_dir.display().to_string(),
        norm,
        lr_factors: closed_form(&smoothed, norm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_norms_refine_to_exactly_linear_decay() {
        for norm in [Norm::L2, Norm::L1] {
            let smoothed = smooth(&[3.0; 500], 200, Smoothing::default()).unwrap();
            let schedule = closed_form(&smoothed, norm);
            for (t, v) in schedule.iter().enumerate() {
                let linear = (199 - t) as f64 / 199.0;
                assert!(
                    (v - linear).abs() < 1e-12,
                    "{norm:?} step {t}: {v} vs {linear}"
                );
            }
        }
    }

    #[test]
    fn large_early_norms_give_a_warmup_then_decay_to_zero() {
        let norms: Vec<f64> = (0..1000)
            .map(|t| 1.0 + 20.0 * (-(t as f64) / 50.0).exp())
            .collect();
        let schedule = closed_form(
            &smooth(&norms, 1000, Smoothing::default()).unwrap(),
            Norm::L2,
        );
        let peak = schedule
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert!(peak > 20, "peak at step {peak}");
        assert!(schedule[0] < 0.2 * schedule[peak]);
        assert_eq!(*schedule.last().unwrap(), 0.0);
    }

    #[test]
    fn median_filter_removes_spikes_and_resample_is_linear() {
        let mut values = vec![1.0; 21];
        values[10] = 100.0;
        assert_eq!(median_filter(&values, 5), vec![1.0; 21]);
        assert_eq!(resample(&[0.0, 2.0], 5), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert!(smooth(&[1.0, f64::NAN, 2.0], 10, Smoothing::default()).is_err());
    }
}
