//! `stoke bench recipes`: training throughput of recipes side by side on the same data and
//! model, e.g. ConAdv's concurrent attack against the same attack in line, PGD-AT and Fast-AT.
//! Each variant trains `steps` steps from scratch `repeats` times, round-robin (so slow
//! phases of a noisy machine hit every variant alike); the figure is the median of the
//! engine's training images/second (steps only: evaluation and checkpoints excluded).

use crate::config::resolve;
use crate::train::TrainOptions;
use crate::usage_error;
use serde::Serialize;

#[derive(Clone, Debug)]
pub struct RecipeBench {
    /// The run config (preset or file) every variant starts from.
    pub base: String,
    /// `name` or `name+key=value+...` (overrides applied after `recipe.name=name`).
    pub variants: Vec<String>,
    pub steps: usize,
    pub repeats: usize,
    /// Overrides applied to every variant.
    pub overrides: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecipeTiming {
    pub variant: String,
    pub median_images_per_second: f64,
    pub images_per_second: Vec<f64>,
    /// Wall time per step relative to the first variant's.
    pub step_time_ratio: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecipeBenchResult {
    pub base: String,
    pub steps: usize,
    pub repeats: usize,
    pub threads: usize,
    pub timings: Vec<RecipeTiming>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The overrides of one variant.
fn variant_overrides(variant: &str, common: &[String], steps: usize) -> Vec<String> {
    let mut parts = variant.split('+');
    let name = parts.next().unwrap_or_default();
    let mut all = vec![
        format!("recipe.name={name}"),
        "train.epochs=0".into(),
        format!("train.steps={steps}"),
        "robust_eval.images=0".into(),
    ];
    all.extend(common.iter().cloned());
    all.extend(parts.map(str::to_string));
    all
}

pub fn recipes(bench: &RecipeBench) -> anyhow::Result<RecipeBenchResult> {
    if bench.variants.is_empty() || bench.steps == 0 || bench.repeats == 0 {
        return Err(usage_error!(
            "--variants, --steps and --repeats must be non-empty and positive"
        ));
    }
    let scratch = std::env::temp_dir().join(format!("stoke-bench-recipes-{}", std::process::id()));
    let mut speeds = vec![Vec::new(); bench.variants.len()];
    for repeat in 0..bench.repeats {
        for (i, variant) in bench.variants.iter().enumerate() {
            let overrides = variant_overrides(variant, &bench.overrides, bench.steps);
            let (config, resolved) = resolve(&bench.base, &overrides)?;
            let out = scratch.join(format!("{i}-{repeat}"));
            let options = TrainOptions {
                out_dir: out.clone(),
                ..Default::default()
            };
            let summary = crate::train::train(&config, &resolved, &options, Vec::new());
            let _ = std::fs::remove_dir_all(&out);
            speeds[i].push(summary?.images_per_second);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let first = median(&speeds[0]);
    let timings = bench
        .variants
        .iter()
        .zip(speeds)
        .map(|(variant, speeds)| {
            let m = median(&speeds);
            RecipeTiming {
                variant: variant.clone(),
                median_images_per_second: m,
                images_per_second: speeds,
                step_time_ratio: first / m,
            }
        })
        .collect();
    Ok(RecipeBenchResult {
        base: bench.base.clone(),
        steps: bench.steps,
        repeats: bench.repeats,
        threads: rayon::current_num_threads(),
        timings,
    })
}
