//! `stoke plot`: a metric of several runs against epochs (or steps), as an SVG line chart.

use crate::atomic::write_atomic;
use crate::plot::plot_runs;
use crate::usage_error;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Run directories (each with a metrics.jsonl).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The metric on the y axis, e.g. test_accuracy, robust_accuracy, fgsm_accuracy, loss.
    #[arg(long, default_value = "test_accuracy")]
    metric: String,
    /// The x axis: epoch or step.
    #[arg(long, default_value = "epoch")]
    x: String,
    /// Output file (.svg).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    title: Option<String>,
    /// Overwrite an existing file (never one of a run directory's own files).
    #[arg(long)]
    force: bool,
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("svg") {
        return Err(usage_error!(
            "--out {}: stoke plot writes SVG; name the file *.svg",
            args.out.display()
        ));
    }
    let svg = plot_runs(&args.runs, &args.x, &args.metric, args.title.as_deref())?;
    let runs: Vec<&std::path::Path> = args.runs.iter().map(PathBuf::as_path).collect();
    crate::train::run_dir::check_output(&args.out, args.force, &runs)?;
    write_atomic(&args.out, svg.as_bytes())?;
    println!("wrote {} ({} runs)", args.out.display(), args.runs.len());
    Ok(())
}
