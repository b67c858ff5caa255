//! `stoke bench ...`

use crate::bench::{TrainStepBench, train_step};
use crate::usage_error;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Median images/second and peak memory of full training steps on random data.
    TrainStep {
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
                .map_err(|_| usage_error!("--input {input}: expected CxHxW, e.g. 3x32x32"))?;
            let result = train_step(&TrainStepBench {
                model,
                batch,
                steps,
                warmup,
                input,
                classes,
                device,
            })?;
            if json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                println!(
                    "{} batch {} on {}: median {:.1} images/s, peak memory {:.0} MB ({} steps)",
                    result.model,
                    result.batch,
                    result.device,
                    result.median_images_per_second,
                    result.peak_memory_mb,
                    result.steps
                );
            }
            Ok(())
        }
        BenchCommand::Data {
            recipe,
            overrides,
            batches,
            json,
        } => {
            let (config, _) = crate::config::resolve(&recipe, &overrides)?;
            let result = crate::bench::data_loading(&config, batches)?;
            if json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                println!(
                    "{}: {:.0} images/s from the loader alone (batch {}, {} batches)",
                    result.dataset, result.images_per_second, result.batch, result.batches
                );
            }
            Ok(())
        }
    }
}
