//! `stoke plot`: a metric of several runs against epochs (or steps), as an SVG line chart.

use crate::plot::{Series, line_chart};
use crate::train::atomic::write_atomic;
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
}

pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("svg") {
        return Err(usage_error!(
            "--out {}: stoke plot writes SVG; name the file *.svg",
            args.out.display()
        ));
    }
    let mut series = Vec::new();
    for run in &args.runs {
        let path = run.join("metrics.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            usage_error!(
                "{}: cannot read it ({e}); is this a run directory?",
                path.display()
            )
        })?;
        let mut points = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| usage_error!("{} line {}: not JSON ({e})", path.display(), n + 1))?;
            if let (Some(x), Some(y)) = (
                value.get(&args.x).and_then(|v| v.as_f64()),
                value.get(&args.metric).and_then(|v| v.as_f64()),
            ) {
                points.push((x, y));
            }
        }
        if points.is_empty() {
            return Err(usage_error!(
                "{}: no line has both `{}` and `{}`",
                path.display(),
                args.x,
                args.metric
            ));
        }
        let label = run
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| run.display().to_string());
        series.push(Series { label, points });
    }
    let title = args
        .title
        .unwrap_or_else(|| format!("{} by {}", args.metric, args.x));
    let svg = line_chart(&title, &args.x, &args.metric, &series);
    write_atomic(&args.out, svg.as_bytes())?;
    println!("wrote {} ({} runs)", args.out.display(), series.len());
    Ok(())
}
