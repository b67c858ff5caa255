//! `stoke schedule refine`: a per-step learning-rate schedule from a previous run's gradient
//! norms (Defazio et al., 2023), for `schedule.name = "file"`.

use crate::atomic::write_atomic;
use crate::train::refine::{Norm, Smoothing, refine_run};
use crate::usage_error;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Write the refined schedule of a run: `stoke schedule refine runs/x --out schedule.json`.
    Refine(RefineArgs),
}

#[derive(Args, Debug)]
pub struct RefineArgs {
    /// A run directory (with metrics.jsonl and config.toml).
    run_dir: PathBuf,
    /// The schedule JSON to write.
    #[arg(long)]
    out: PathBuf,
    /// l2 (SGD-family) or l1 (Adam-family); default by the run's optimizer.
    #[arg(long)]
    norm: Option<String>,
    /// Length of the new run in steps (default: the old run's).
    #[arg(long)]
    steps: Option<usize>,
    /// Median-filter window as a fraction of the smoothing grid.
    #[arg(long, default_value_t = 0.1)]
    window: f64,
    /// Overwrite an existing output file (never one of a run directory's own files).
    #[arg(long)]
    force: bool,
}

pub fn run(command: ScheduleCommand) -> anyhow::Result<()> {
    let ScheduleCommand::Refine(args) = command;
    let norm = match args.norm.as_deref() {
        None => None,
        Some("l2") => Some(Norm::L2),
        Some("l1") => Some(Norm::L1),
        Some(other) => return Err(usage_error!("--norm: expected l2 or l1, got `{other}`")),
    };
    if !(args.window > 0.0 && args.window < 1.0) {
        return Err(usage_error!("--window: expected a fraction in (0, 1)"));
    }
    let max_steps = crate::train::validate::MAX_STEPS;
    if let Some(steps) = args.steps
        && !(1..=max_steps).contains(&steps)
    {
        return Err(usage_error!("--steps {steps}: expected 1..={max_steps}"));
    }
    crate::train::run_dir::check_output(&args.out, args.force, &[&args.run_dir])?;
    let smoothing = Smoothing {
        fraction: args.window,
        ..Smoothing::default()
    };
    let schedule = refine_run(&args.run_dir, norm, args.steps, smoothing)?;
    write_atomic(&args.out, serde_json::to_string(&schedule)?.as_bytes())?;
    let factors = &schedule.lr_factors;
    let peak = factors
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |p| p.0);
    eprintln!(
        "wrote {} ({} steps, {} norms; peak at step {peak}, start {:.3}, middle {:.3}); \
         use it with schedule.name=file schedule.path={}",
        args.out.display(),
        factors.len(),
        schedule.norm,
        factors[0],
        factors[factors.len() / 2],
        args.out.display()
    );
    Ok(())
}
