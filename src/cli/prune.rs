//! `stoke train` of a config with `[pruning]` (iterative magnitude pruning, Sparse Model
//! Soups) and `stoke sparsity RUN`: thin callers of [`crate::prune`].

use super::run::{TrainArgs, print_line, refuse_unsupported, scores};
use crate::prune::driver::{PruningEvent, PruningOptions};
use crate::train::CancelToken;
use std::path::{Path, PathBuf};

/// Percent of an optional accuracy, or "-".
fn percent(accuracy: Option<f64>) -> String {
    accuracy.map_or("-".into(), |a| format!("{:.2}%", 100.0 * a))
}

/// `stoke train` of a config with `[pruning]`.
pub(super) fn train_pruning(
    args: &TrainArgs,
    config: &crate::config::RunConfig,
    resolved: &toml::Table,
    out_dir: &Path,
    resume: bool,
    ranks: bool,
) -> anyhow::Result<()> {
    refuse_unsupported(args, config, ranks, "pruning runs")?;
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let quiet = args.quiet;
    let mut on_event = |event: PruningEvent<'_>| {
        if quiet {
            return;
        }
        match event {
            PruningEvent::Dense(scores) => eprintln!(
                "dense: test accuracy {} (batch-norm statistics recomputed)",
                percent(scores.test_accuracy)
            ),
            PruningEvent::Phase(phase) => {
                let copies: Vec<String> = phase
                    .copies
                    .iter()
                    .map(|c| percent(c.scores.test_accuracy))
                    .collect();
                eprintln!(
                    "phase {}: sparsity {:.2}%, pruned {}, copies [{}], model {} (kept copies {:?})",
                    phase.phase,
                    100.0 * phase.sparsity,
                    percent(phase.pruned.test_accuracy),
                    copies.join(", "),
                    percent(phase.model.test_accuracy),
                    phase.kept
                );
            }
        }
    };
    let options = PruningOptions {
        out_dir: out_dir.to_path_buf(),
        resume,
        cancel,
    };
    let summary = crate::prune::driver::run(config, resolved, &options, &mut on_event)?;
    // Not println!: training keeps SIGPIPE ignored, and a closed pipe must not turn a saved
    // run into a panic.
    if args.json {
        print_line(format_args!("{}", serde_json::to_string(&summary)?));
    } else {
        print_line(format_args!(
            "{} at {:.2}% sparsity after {} phases in {:.1} s; model in {}",
            scores(summary.test_accuracy, summary.test_loss),
            100.0 * summary.sparsity,
            summary.phases.len(),
            summary.wall_seconds,
            summary.model_run.display()
        ));
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SparsityArgs {
    /// A run directory or a checkpoint directory.
    target: PathBuf,
    /// The best checkpoint instead of the latest.
    #[arg(long)]
    best: bool,
    #[arg(long)]
    json: bool,
}

/// `stoke sparsity RUN`: per-layer and global sparsity of the prunable weights.
pub fn sparsity(args: SparsityArgs) -> anyhow::Result<()> {
    let report = crate::prune::report::sparsity_of_run(&args.target, args.best)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let width = report
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:width$}  {:>10}  {:>10}  {:>9}  masked",
        "tensor", "params", "zeros", "sparsity"
    );
    for t in &report.tensors {
        let masked = t.masked.map_or("-".into(), |m| m.to_string());
        println!(
            "{:width$}  {:>10}  {:>10}  {:>8.2}%  {masked}",
            t.name,
            t.params,
            t.zeros,
            100.0 * t.sparsity()
        );
    }
    let masked = report.masked_sparsity.map_or("no masks".into(), |m| {
        format!("masks remove {:.2}%", 100.0 * m)
    });
    println!(
        "global: {} of {} prunable weights are zero ({:.2}%; {masked}); the model has {} values",
        report.zeros,
        report.params,
        100.0 * report.sparsity,
        report.model_params
    );
    Ok(())
}
