//! `stoke score CONFIG --method el2n|grand --epochs E --seeds S --out scores.json`: Data
//! Diet's example scores, a thin caller of [`crate::data_diet::score`].

use super::progress::ProgressObserver;
use crate::atomic::write_atomic;
use crate::data_diet::ScoreHooks;
use crate::usage_error;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Method {
    /// ||softmax(f(x)) - onehot(y)||_2 after `--epochs` of training.
    El2n,
    /// The L2 norm of each example's loss gradient over all parameters (the paper scores
    /// at initialisation: `--epochs 0`).
    Grand,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// The config (preset name or TOML file) whose training split is scored.
    recipe: String,
    /// Overrides (key=value).
    overrides: Vec<String>,
    #[arg(long, value_enum, default_value = "el2n")]
    method: Method,
    /// Epochs each run trains before scoring.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Independent runs the scores average (seeds seed, seed + 1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// The scores file to write (what `dataset.keep = "FILE:top:F"` reads).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let method = match args.method {
        Method::El2n => crate::data_diet::Method::El2n,
        Method::Grand => crate::data_diet::Method::Grand,
    };
    if args.out.exists() && !args.force {
        return Err(usage_error!(
            "{} exists; pass --force to overwrite it",
            args.out.display()
        ));
    }
    let (config, _) = crate::config::resolve(&args.recipe, &args.overrides)?;
    let seeds = args.seeds;
    // Each finished run's scores wait beside the output, so a rerun resumes.
    let mut parts = args.out.clone().into_os_string();
    parts.push(".parts");
    let parts = PathBuf::from(parts);
    if args.force {
        // Overwriting starts over.
        let _ = std::fs::remove_dir_all(&parts);
    }
    std::fs::create_dir_all(&parts).with_context(|| format!("creating {}", parts.display()))?;
    let quiet = args.quiet;
    let observers =
        || -> Vec<Box<dyn crate::train::Observer>> { vec![Box::new(ProgressObserver::new(quiet))] };
    let mut on_run = |run: usize, reused: bool| {
        if !quiet {
            let how = if reused { "read back" } else { "scored" };
            eprintln!("run {}/{seeds} {how}", run + 1);
        }
    };
    let scores = crate::data_diet::score(
        &config,
        method,
        args.epochs,
        seeds,
        ScoreHooks {
            parts: Some(&parts),
            observers: Some(&observers),
            on_run: Some(&mut on_run),
        },
    )?;
    write_atomic(&args.out, serde_json::to_string(&scores)?.as_bytes())?;
    // The parts are in the output now.
    let _ = std::fs::remove_dir_all(&parts);
    println!(
        "{} of {} training images ({} runs of {} epochs) written to {}",
        scores.method,
        scores.train_images,
        scores.seeds,
        scores.epochs,
        args.out.display()
    );
    Ok(())
}
