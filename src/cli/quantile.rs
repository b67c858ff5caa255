//! `stoke quantile DATA.csv`: base quantile regressors and their aggregations compared on a
//! CSV data set, a thin caller of [`crate::quantile::experiment`].

use super::metric::write_out;
use crate::quantile::base_models::BaseKind;
use crate::quantile::experiment::{ExperimentSettings, levels, run_experiment};
use crate::quantile::summary::{repairs_never_worse, summarize};
use crate::quantile::table::RegressionTable;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct QuantileArgs {
    /// CSV with a header and numeric columns.
    data: PathBuf,
    /// The target column (default: the last).
    #[arg(long)]
    target: Option<String>,
    /// Seeds (each a different split and initialisation).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Number of quantile levels k / (n + 1) (99 as in the paper; it must include the 80%
    /// interval's 0.1 and 0.9, e.g. 9, 19, 49, 99).
    #[arg(long, default_value_t = 99)]
    levels: usize,
    /// Cross-fitting folds for the aggregators' training predictions.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Base models.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "linear,dqr,cgn,knn"
    )]
    base: Vec<BaseKind>,
    /// Training steps at most, for base models and aggregators (early stopping decides).
    #[arg(long, default_value_t = 5000)]
    max_steps: usize,
    /// Device to train on.
    #[arg(long, default_value = "flex")]
    device: String,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: QuantileArgs) -> anyhow::Result<()> {
    let table = RegressionTable::read_csv(&args.data, args.target.as_deref())?;
    let device = crate::device::parse(&args.device)?.autodiff();
    let mut settings = ExperimentSettings::paper(args.seeds.clone());
    settings.levels = levels(args.levels);
    settings.folds = args.folds;
    settings.base = args.base.clone();
    settings.base_fit.max_steps = args.max_steps;
    // The official code's minibatch: 2^(3 + floor(log10 rows)), 32 for a few hundred rows.
    let batch = 1usize << (3 + (table.rows() as f64).log10().floor() as u32).min(9);
    settings.base_fit.batch = batch;
    settings.aggregator_fit.batch = batch;
    settings.aggregator_fit.max_steps = args.max_steps;
    let quiet = args.quiet || args.json;
    let bar = super::progress::work_bar(args.seeds.len() as u64, "quantile", quiet);
    let progress = |seed: u64, stage: &str| bar.set_message(format!("seed {seed}: {stage}"));
    let results = run_experiment(&table, &settings, &device, &progress)?;
    bar.finish_and_clear();
    let summary = summarize(&results);
    let (checked, worse) = repairs_never_worse(&results);
    if args.json {
        let value = serde_json::json!({
            "data": args.data, "rows": table.rows(), "features": table.features.len(),
            "target": table.target, "settings": settings, "summary": summary,
            "seeds": results, "repairs_checked": checked, "repairs_worse": worse,
        });
        write_out(&serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut text = format!(
        "{}: {} rows, {} features, target {:?}; {} levels, {} seeds; WIS in target standard deviations\n",
        args.data.display(),
        table.rows(),
        table.features.len(),
        table.target,
        settings.levels.len(),
        settings.seeds.len()
    );
    let nominal = settings.nominal_coverage * 100.0;
    text += &format!(
        "{:<16} {:>16} {:>9} {:>9} {:>9} {:>9}\n",
        "method",
        "WIS sorted (sd)",
        "WIS raw",
        "WIS iso",
        format!("cov{nominal:.0}"),
        "cov CQR"
    );
    for m in &summary {
        text += &format!(
            "{:<16} {:>8.4} ({:.4}) {:>9.4} {:>9.4} {:>9.3} {:>9.3}\n",
            m.method,
            m.wis_sorted_mean,
            m.wis_sorted_sd,
            m.wis_raw_mean,
            m.wis_isotonic_mean,
            m.coverage_mean,
            m.coverage_cqr_mean
        );
    }
    text += &format!(
        "post-sorting or isotonic regression worsened the WIS in {worse} of {checked} (method, seed) pairs"
    );
    write_out(&text);
    Ok(())
}
