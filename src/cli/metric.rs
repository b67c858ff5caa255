//! `stoke metric rank SCORES.csv [--method all|mean|borda|kemeny] [--json]`: systems ranked
//! across tasks, a thin caller of [`crate::ranking`]; `stoke metric ap GT.json DETS.json`:
//! detection AP (standard, AP-fixed, AP-pool), a thin caller of [`crate::detection`].

use crate::detection::{
    GroundTruth, IouThresholds, Metrics, Protocol, fixed_ap, pooled_ap, read_detections,
    standard_ap,
};
use crate::ranking::{Method, Ranking, ScoreTable, rank};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum MetricCommand {
    /// Rank systems across tasks from a CSV of scores (a system column, one column per task,
    /// higher is better; empty or NA for missing) by mean, Borda count and Kemeny consensus.
    Rank(RankArgs),
    /// Box AP of detections (COCO/LVIS results JSON) against a COCO or LVIS ground truth:
    /// standard AP (pycocotools or the LVIS API), AP-fixed and AP-pool (Dave et al. 2021).
    Ap(ApArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum ApKind {
    All,
    Standard,
    Fixed,
    Pooled,
}

#[derive(Args, Debug)]
pub struct ApArgs {
    /// Ground truth: COCO or LVIS JSON (LVIS when images carry neg_category_ids).
    ground_truth: PathBuf,
    /// Detections: a JSON list of {image_id, category_id, bbox, score}.
    detections: PathBuf,
    /// Which protocols to compute.
    #[arg(long, value_enum, default_value = "all")]
    metric: ApKind,
    /// Standard AP's per-image cap (COCO: per image and category, default 100; LVIS: 300).
    #[arg(long)]
    max_dets: Option<usize>,
    /// AP-fixed's and AP-pool's budget of detections per category over the dataset.
    #[arg(long, default_value_t = 10_000)]
    dets_per_category: usize,
    /// IoU thresholds (default 0.50:0.05:0.95).
    #[arg(long, num_args = 1..)]
    iou: Option<Vec<f64>>,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Which {
    All,
    Mean,
    Borda,
    Kemeny,
}

#[derive(Args, Debug)]
pub struct RankArgs {
    scores: PathBuf,
    #[arg(long, value_enum, default_value = "all")]
    method: Which,
    #[arg(long)]
    json: bool,
}

pub fn run(command: MetricCommand) -> anyhow::Result<()> {
    match command {
        MetricCommand::Rank(args) => rank_command(args),
        MetricCommand::Ap(args) => ap_command(args),
    }
}

fn ap_command(args: ApArgs) -> anyhow::Result<()> {
    let truth = GroundTruth::read(&args.ground_truth)?;
    let detections = read_detections(&args.detections, &truth)?;
    let thresholds = match args.iou {
        Some(values) => IouThresholds::checked(values)?,
        None => IouThresholds::default(),
    };
    let wanted = |kind| args.metric == ApKind::All || args.metric == kind;
    let mut reports: Vec<(&str, String, Metrics)> = Vec::new();
    let bar = super::progress::work_bar(0, "matching", args.quiet || args.json);
    let progress = super::progress::report_to(&bar);
    let progress = |done, total| (progress.0)(done, total);
    let k = args.dets_per_category;
    if wanted(ApKind::Standard) {
        let metrics = standard_ap(&truth, &detections, args.max_dets, &thresholds, &progress)?;
        let rule = match (truth.protocol, args.max_dets) {
            (Protocol::Coco, cap) => format!(
                "pycocotools' rules, at most {} detections per image and category",
                cap.unwrap_or(100)
            ),
            (Protocol::Lvis, cap) => format!(
                "the LVIS API's rules, at most {} detections per image",
                cap.unwrap_or(300)
            ),
        };
        reports.push(("standard", format!("standard AP ({rule})"), metrics));
    }
    if wanted(ApKind::Fixed) {
        let metrics = fixed_ap(&truth, &detections, k, &thresholds, &progress)?;
        let title = format!("AP-fixed (top {k} detections per category, no per-image cap)");
        reports.push(("fixed", title, metrics));
    }
    if wanted(ApKind::Pooled) {
        let metrics = pooled_ap(&truth, &detections, k, &thresholds, &progress)?;
        let title = format!("AP-pool (top {k} detections per category, pooled curves)");
        reports.push(("pooled", title, metrics));
    }
    bar.finish_and_clear();
    let short = short_categories(&truth, &detections, k);
    if args.json {
        let mut value = serde_json::json!({
            "protocol": truth.protocol,
            "images": truth.image_ids.len(),
            "categories": truth.categories.len(),
            "objects": truth.objects.len(),
            "detections": detections.len(),
        });
        if wanted(ApKind::Fixed) || wanted(ApKind::Pooled) {
            value["categories_below_budget"] = short.into();
        }
        for (key, _, metrics) in &reports {
            value[*key] = serde_json::to_value(metrics)?;
        }
        write_out(&serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut text = format!(
        "{} ground truth: {} images, {} categories, {} objects; {} detections\n",
        match truth.protocol {
            Protocol::Coco => "COCO",
            Protocol::Lvis => "LVIS (federated)",
        },
        truth.image_ids.len(),
        truth.categories.len(),
        truth.objects.len(),
        detections.len()
    );
    for (_, title, metrics) in &reports {
        text += &format!("{title}:\n");
        for (name, value) in &metrics.0 {
            let value = value.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            text += &format!("  {name:<14} {value}\n");
        }
    }
    if truth.protocol == Protocol::Lvis && !truth.has_frequencies() {
        text += "note: not every category has a `frequency`: no APr/APc/APf or r/c/f pools\n";
    }
    if short > 0 && (wanted(ApKind::Fixed) || wanted(ApKind::Pooled)) {
        text += &format!(
            "note: {short} categories have fewer than {k} detections; a detector that outputs \
             {k} per category scores higher AP-fixed (Dave et al.)\n"
        );
    }
    write_out(text.trim_end());
    Ok(())
}

/// Categories with fewer detections than AP-fixed's budget.
fn short_categories(
    truth: &GroundTruth,
    detections: &[crate::detection::Detection],
    k: usize,
) -> usize {
    let mut counts = vec![0usize; truth.categories.len()];
    for d in detections {
        counts[d.category] += 1;
    }
    counts.iter().filter(|&&c| c < k).count()
}

fn rank_command(args: RankArgs) -> anyhow::Result<()> {
    let table = ScoreTable::read_csv(&args.scores)?;
    let methods = match args.method {
        Which::All => vec![Method::Mean, Method::Borda, Method::Kemeny],
        Which::Mean => vec![Method::Mean],
        Which::Borda => vec![Method::Borda],
        Which::Kemeny => vec![Method::Kemeny],
    };
    let rankings: Vec<Ranking> = methods.into_iter().map(|m| rank(&table, m)).collect();
    if args.json {
        let named: Vec<serde_json::Value> = rankings
            .iter()
            .map(|r| {
                let mut value = serde_json::to_value(r).expect("a ranking encodes");
                value["systems"] = r.order.iter().map(|&i| table.systems[i].clone()).collect();
                value
            })
            .collect();
        write_out(&serde_json::to_string_pretty(&named)?);
        return Ok(());
    }
    let mut text = String::new();
    for r in &rankings {
        let mut line = format!("{:?}", r.method).to_lowercase();
        if let (Some(d), Some(exact)) = (r.disagreement, r.exact) {
            let kind = if exact { "exact" } else { "local optimum" };
            line += &format!(" (Kendall disagreement {d}, {kind})");
        }
        text += &format!("{line}:\n");
        for (place, &i) in r.order.iter().enumerate() {
            let score = match r.method {
                Method::Mean => format!("{:.4}", r.scores[i]),
                _ => format!("{}", r.scores[i]),
            };
            text += &format!("  {:>3}. {}  {score}\n", place + 1, table.systems[i]);
        }
    }
    write_out(text.trim_end());
    Ok(())
}

/// Prints `text`; a closed pipe (`| head`) is not an error.
pub(super) fn write_out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}
