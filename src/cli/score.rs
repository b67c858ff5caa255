//! `stoke score CONFIG --method el2n|grand --epochs E --seeds S --out scores.json`: Data
//! Diet's example scores, a thin caller of [`crate::data_diet::score`].

use crate::atomic::write_atomic;
use crate::usage_error;
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
    let scores = crate::data_diet::score(&config, method, args.epochs, seeds, &mut |run| {
        eprintln!("scored run {}/{seeds}", run + 1);
    })?;
    write_atomic(&args.out, serde_json::to_string(&scores)?.as_bytes())?;
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
