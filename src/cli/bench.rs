//! `stoke bench ...`

use crate::bench::optimizers::OptimizerBench;
use crate::bench::{TrainStepBench, data_loading, train_step};
use crate::config::Precision;
use crate::usage_error;
use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Median images/second and peak memory of full training steps on random data.
    TrainStep {
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Compute precision of the step (f32, bf16 or f16; f32 master weights as
        /// train.precision).
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Burn's operations instead of stoke's kernels (max pooling, batch norm), to compare.
        #[arg(long)]
        builtin: bool,
        #[command(flatten)]
        common: ModelBenchArgs,
    },
    /// Optimizer step time per optimizer vs Burn's Adam; AdaHessian's whole step vs Adam's.
    Optimizers {
        /// Optimizers to time besides Adam (comma-separated).
        #[arg(long, default_value = "sgd,adamw,diffgrad,adamp,sgdp,adahessian")]
        optimizers: String,
        /// Batch of the whole-step comparison (0 skips it).
        #[arg(long, default_value_t = 32)]
        whole_step_batch: usize,
        #[command(flatten)]
        common: ModelBenchArgs,
    },
    /// Each layer of a model's training step alone: forward, data and weight gradients,
    /// median ms (`benches/ops_vs_pytorch.sh` compares with PyTorch).
    Ops {
        #[arg(long, default_value = "small_cnn")]
        model: String,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Input shape CxHxW.
        #[arg(long, default_value = "1x28x28")]
        input: String,
        #[arg(long, default_value_t = 5)]
        reps: usize,
        #[arg(long, default_value = "flex")]
        device: String,
        /// Burn's operations instead of stoke's kernels (max pooling, batch norm).
        #[arg(long)]
        builtin: bool,
        #[arg(long)]
        json: bool,
    },
    /// The two-pass softmax kernel vs Burn's built-in and a same-SIMD three-pass, GB/s.
    Softmax {
        /// Row lengths (comma-separated).
        #[arg(long, default_value = "128,512,2048,8192,10000,100000,1000000")]
        rows: String,
        /// Total input sizes in MB (comma-separated): in cache and out of cache.
        #[arg(long, default_value = "0.25,64")]
        sizes: String,
        #[arg(long, default_value_t = 9)]
        reps: usize,
        #[arg(long)]
        json: bool,
    },
    /// Training images/second of recipes side by side (ConAdv vs PGD-AT and Fast-AT).
    Recipes {
        /// The run config (preset or file) every variant starts from.
        #[arg(long, default_value = "fast-at-fashion-mnist")]
        base: String,
        /// Comma-separated `recipe[+key=value...]` variants; the first is the reference.
        #[arg(
            long,
            default_value = "pgd-at+recipe.steps=2,conadv+recipe.steps=2,conadv+recipe.steps=2+recipe.concurrent=false,fast-at"
        )]
        variants: String,
        #[arg(long, default_value_t = 30)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Dotted overrides applied to every variant.
        overrides: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Time and bandwidth of one gradient all-reduce of a model's size across MPI ranks:
    /// `stoke launch -n 2 -- bench all-reduce`.
    AllReduce {
        /// A model preset: its trainable parameter count is the size reduced.
        #[arg(long, default_value = "resnet18")]
        model: String,
        #[arg(long, default_value_t = 20)]
        repeats: usize,
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

/// What every benchmark on a model takes.
#[derive(Args, Debug)]
pub struct ModelBenchArgs {
    /// A model preset or a TOML file with a `[model]`-style table.
    #[arg(long, default_value = "resnet18")]
    model: String,
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

fn parse_input(input: &str) -> anyhow::Result<[usize; 3]> {
    let dims: Vec<usize> = input.split('x').filter_map(|d| d.parse().ok()).collect();
    dims.try_into()
        .ok()
        .filter(|dims: &[usize; 3]| dims.iter().all(|&d| d > 0))
        .ok_or_else(|| usage_error!("--input {input}: expected positive CxHxW, e.g. 3x32x32"))
}

fn parse_list<T: std::str::FromStr>(flag: &str, text: &str) -> anyhow::Result<Vec<T>> {
    text.split(',')
        .map(|v| v.trim().parse::<T>().ok())
        .collect::<Option<Vec<T>>>()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            usage_error!("{flag}: expected a comma-separated list of numbers, got `{text}`")
        })
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ops {
            model,
            batch,
            input,
            reps,
            device,
            builtin,
            json,
        } => {
            let spec = crate::bench::model_spec(&model)?;
            let layers = crate::bench::ops::layers(&spec, parse_input(&input)?)?;
            let device = crate::device::parse(&device)?;
            let result = crate::bench::ops::time_ops(&layers, batch, reps, &device, builtin)?;
            let mut lines = vec![format!(
                "{model}, batch {batch}, {} threads; median ms of {reps}\n{:<44} {:>5} {:>9} {:>9} {:>9}",
                result.threads, "layer", "count", "forward", "data/bwd", "weight"
            )];
            for t in &result.ops {
                let weight = t.weight_grad_ms.map_or("-".into(), |w| format!("{w:.2}"));
                lines.push(format!(
                    "{:<44} {:>5} {:>9.2} {:>9.2} {:>9}",
                    format!("{:?}", t.op),
                    t.count,
                    t.forward_ms,
                    t.data_grad_ms,
                    weight
                ));
            }
            report(&result, json, lines.join("\n"))
        }
        BenchCommand::Softmax {
            rows,
            sizes,
            reps,
            json,
        } => {
            let rows: Vec<usize> = parse_list("--rows", &rows)?;
            let sizes: Vec<f64> = parse_list("--sizes", &sizes)?;
            if rows.contains(&0) || sizes.iter().any(|s| s.is_nan() || *s <= 0.0) || reps == 0 {
                return Err(usage_error!("--rows, --sizes and --reps must be positive"));
            }
            let result = crate::bench::softmax::softmax(&rows, &sizes, reps);
            let mut lines = vec![format!(
                "softmax, f32, {} kernels, {} threads; input GB/s (median of {reps})\n{:>9} {:>8} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9}",
                result.version,
                result.threads,
                "row",
                "MB",
                "two-pass",
                "2p-tensor",
                "2p-inpl",
                "3-pass",
                "builtin",
                "bound",
                "2pT/built",
                "2p/3p",
                "2p/bound"
            )];
            for c in &result.cases {
                lines.push(format!(
                    "{:>9} {:>8.2} {:>9.2} {:>10.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}x {:>9.2}x {:>8.0}%",
                    c.row_len,
                    c.megabytes,
                    c.two_pass_gbs,
                    c.two_pass_tensor_gbs,
                    c.two_pass_in_place_gbs,
                    c.three_pass_gbs,
                    c.builtin_gbs,
                    c.bound_gbs,
                    c.two_pass_over_builtin,
                    c.two_pass_over_three_pass,
                    100.0 * c.two_pass_of_bound
                ));
            }
            lines.push(format!(
                "ViT-Tiny forward, batch 64 of 3x32x32: {:.1} images/s with the two-pass softmax, {:.1} with Burn's ({:.2}x)",
                result.vit_tiny_two_pass_images_per_second,
                result.vit_tiny_builtin_images_per_second,
                result.vit_tiny_two_pass_images_per_second / result.vit_tiny_builtin_images_per_second
            ));
            report(&result, json, lines.join("\n"))
        }
        BenchCommand::Optimizers {
            optimizers,
            whole_step_batch,
            common: c,
        } => {
            let (steps, json) = (c.steps, c.json);
            let bench = OptimizerBench {
                model: c.model,
                optimizers: optimizers
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
                steps,
                warmup: c.warmup,
                input: parse_input(&c.input)?,
                classes: c.classes,
                whole_step_batch,
                device: c.device,
            };
            let result = crate::bench::optimizers::optimizers(&bench)?;
            let mut lines = vec![format!(
                "{} ({} trained parameters) on {}: optimizer step, median of {steps}",
                result.model, result.parameters, result.device
            )];
            for s in &result.optimizer_steps {
                lines.push(format!(
                    "  {:<11} {:>9.2} ms   {:.2}x Burn's Adam",
                    s.optimizer, s.median_ms, s.ratio_to_adam
                ));
            }
            if let Some(w) = &result.whole_step {
                lines.push(format!(
                    "whole training step, batch {}: Adam {:.3} s, AdaHessian {:.3} s ({:.2}x)",
                    w.batch, w.adam_median_s, w.adahessian_median_s, w.ratio
                ));
            }
            report(&result, json, lines.join("\n"))
        }
        BenchCommand::TrainStep {
            batch,
            precision,
            builtin,
            common: c,
        } => {
            let json = c.json;
            crate::kernels::max_pool::use_builtin(builtin);
            crate::kernels::batch_norm::use_builtin(builtin);
            let bench = TrainStepBench {
                model: c.model,
                batch,
                precision: Precision::parse(&precision)?,
                steps: c.steps,
                warmup: c.warmup,
                input: parse_input(&c.input)?,
                classes: c.classes,
                device: c.device,
            };
            let r = train_step(&bench)?;
            let line = format!(
                "{} batch {} on {} in {}: median {:.1} images/s, peak memory {:.0} MB ({} steps)",
                r.model,
                r.batch,
                r.device,
                r.precision,
                r.median_images_per_second,
                r.peak_memory_mb,
                r.steps
            );
            report(&r, json, line)
        }
        BenchCommand::Recipes {
            base,
            variants,
            steps,
            repeats,
            overrides,
            json,
        } => {
            let bench = crate::bench::recipes::RecipeBench {
                base,
                variants: variants.split(',').map(|s| s.trim().to_string()).collect(),
                steps,
                repeats,
                overrides,
            };
            let r = crate::bench::recipes::recipes(&bench)?;
            let mut lines = vec![format!(
                "{}: {} training steps, median of {} runs, {} threads",
                r.base, r.steps, r.repeats, r.threads
            )];
            for t in &r.timings {
                lines.push(format!(
                    "  {:<50} {:>8.1} images/s   step time {:.2}x the first",
                    t.variant, t.median_images_per_second, t.step_time_ratio
                ));
            }
            report(&r, json, lines.join("\n"))
        }
        BenchCommand::AllReduce {
            model,
            repeats,
            json,
        } => {
            let world = crate::distributed::launch::join(crate::distributed::DEFAULT_TIMEOUT)?;
            if world.size() < 2 || repeats == 0 {
                return Err(usage_error!(
                    "the all-reduce benchmark needs several ranks and --repeats > 0: \
                     `stoke launch -n 2 -- bench all-reduce`"
                ));
            }
            let r = crate::bench::all_reduce::all_reduce(&world, &model, repeats)?;
            if !world.is_leader() {
                return Ok(());
            }
            let line = format!(
                "{} gradient ({:.1} M floats, {} buckets) over {} ranks: median {:.2} ms, \
                 algorithm bandwidth {:.2} GB/s, bus bandwidth {:.2} GB/s",
                r.model,
                r.floats as f64 / 1e6,
                r.buckets,
                r.ranks,
                r.median_seconds * 1e3,
                r.algorithm_gb_per_s,
                r.bus_gb_per_s
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
