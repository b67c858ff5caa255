//! `stoke bench ...`

use crate::bench::{TrainStepBench, data_loading, train_step};
use crate::usage_error;
use clap::Subcommand;
use serde::Serialize;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Median images/second and peak memory of full training steps on random data.
    TrainStep {
        /// A model preset or a TOML file with a `[model]`-style table.
        #[arg(long, default_value = "resnet18")]
        model: String,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Input shape CxHxW.
        #[arg(long, default_value = "3x32x32")]
        input: String,
        #[arg(long, default_value_t = 10)]
        classes: usize,
        #[arg(long, default_value = "flex")]
        device: String,
        #[arg(long)]
        json: bool,
    },
    /// Images/second of a recipe's training data pipeline alone (loading, augmentation).
    Data {
        /// A recipe config file or preset name.
        recipe: String,
        /// Dotted overrides, `key.sub=value`.
        overrides: Vec<String>,
        #[arg(long, default_value_t = 200)]
        batches: usize,
        #[arg(long)]
        json: bool,
    },
}

/// Prints `result` as one JSON object, or as the human-readable `line`.
fn report<T: Serialize>(result: &T, json: bool, line: String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(result)?);
    } else {
        println!("{line}");
    }
    Ok(())
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::TrainStep {
            model,
            batch,
            steps,
            warmup,
            input,
            classes,
            device,
            json,
        } => {
            let dims: Vec<usize> = input.split('x').filter_map(|d| d.parse().ok()).collect();
            let input: [usize; 3] = dims
                .try_into()
                .ok()
                .filter(|dims: &[usize; 3]| dims.iter().all(|&d| d > 0))
                .ok_or_else(|| {
                    usage_error!("--input {input}: expected positive CxHxW, e.g. 3x32x32")
                })?;
            let bench = TrainStepBench {
                model,
                batch,
                steps,
                warmup,
                input,
                classes,
                device,
            };
            let r = train_step(&bench)?;
            let line = format!(
                "{} batch {} on {}: median {:.1} images/s, peak memory {:.0} MB ({} steps)",
                r.model, r.batch, r.device, r.median_images_per_second, r.peak_memory_mb, r.steps
            );
            report(&r, json, line)
        }
        BenchCommand::Data {
            recipe,
            overrides,
            batches,
            json,
        } => {
            let (config, _) = crate::config::resolve(&recipe, &overrides)?;
            let r = data_loading(&config, batches)?;
            let line = format!(
                "{}: {:.0} images/s from the loader alone (batch {}, {} batches)",
                r.dataset, r.images_per_second, r.batch, r.batches
            );
            report(&r, json, line)
        }
    }
}
