//! `stoke solve oomd`: regret of optimistic online mirror descent against the baselines in a
//! simulated SEA environment, a thin caller of [`crate::solve::online`].

use super::metric::write_out;
use super::solve::{ReportFlags, dedup, serde_name};
use crate::solve::online::environment::{LossKind, SeaSpec};
use crate::solve::online::experiment::{OnlineReport, OnlineSettings, checkpoints, run};
use crate::solve::online::learner::{Curvature, Method};
use crate::train::CancelToken;
use crate::train::session::Interrupted;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct OomdArgs {
    /// The loss family: linear (ball), quadratic (strongly convex), regression
    /// (exp-concave), experts (linear on the simplex).
    #[arg(long, value_enum, default_value = "linear")]
    loss: LossKind,
    #[arg(long, default_value_t = 10)]
    dim: usize,
    /// Stochastic noise scale sigma.
    #[arg(long, default_value_t = 0.5)]
    sigma: f64,
    /// Per-round movement ||theta_t - theta_t-1|| of the adversarial centre, in [0, 1].
    #[arg(long, default_value_t = 0.01)]
    variation: f64,
    /// The curvature the learners' steps assume (default: the loss's own).
    #[arg(long, value_enum)]
    curvature: Option<Curvature>,
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["oomd", "ogd"])]
    methods: Vec<Method>,
    #[arg(long, default_value_t = 65_536)]
    rounds: usize,
    #[arg(long, value_delimiter = ',', default_values_t = [0u64, 1, 2])]
    seeds: Vec<u64>,
    /// Write the mean regret against rounds (log-log) as an SVG line chart.
    #[arg(long)]
    svg: Option<PathBuf>,
    #[command(flatten)]
    report: ReportFlags,
}

pub fn oomd(mut args: OomdArgs) -> anyhow::Result<()> {
    dedup(&mut args.methods);
    dedup(&mut args.seeds);
    let settings = OnlineSettings {
        environment: SeaSpec {
            loss: args.loss,
            dim: args.dim,
            sigma: args.sigma,
            variation: args.variation,
            seed: 0,
        },
        curvature: args.curvature,
        methods: args.methods.clone(),
        rounds: args.rounds,
        seeds: args.seeds.clone(),
    };
    settings.validate()?;
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let total = (settings.methods.len() * settings.seeds.len()) as u64;
    let bar = super::progress::work_bar(total, "oomd", args.report.silent());
    let report = run(
        &settings,
        &mut |done| bar.set_position(done as u64),
        &cancel,
    )?;
    bar.finish_and_clear();
    if report.cancelled {
        return Err(anyhow::Error::new(Interrupted {
            step: report.runs.len(),
            checkpoint: None,
        }));
    }
    if let Some(path) = &args.svg {
        crate::atomic::write_atomic(path, regret_chart(&report).as_bytes())?;
    }
    if args.report.json {
        write_out(&serde_json::to_string(&report)?);
        return Ok(());
    }
    write_out(&regret_table(&report));
    Ok(())
}

/// The mean over seeds of each method's regret at each checkpoint.
fn mean_regrets(report: &OnlineReport, method: Method) -> Vec<f64> {
    let runs: Vec<_> = report.runs.iter().filter(|r| r.method == method).collect();
    let points = checkpoints(report.settings.rounds).len();
    (0..points)
        .map(|k| runs.iter().map(|r| r.points[k].regret).sum::<f64>() / runs.len() as f64)
        .collect()
}

fn regret_table(report: &OnlineReport) -> String {
    let s = &report.settings;
    let marks = checkpoints(s.rounds);
    let shown: Vec<usize> = (0..marks.len())
        .rev()
        .step_by(2)
        .take(4)
        .collect::<Vec<_>>();
    let shown: Vec<usize> = shown.into_iter().rev().collect();
    let first = &report.runs[0].points;
    let mut text = format!(
        "{} loss, d = {}, sigma = {}, variation = {}, {} curvature, seeds {:?}\n",
        serde_name(s.environment.loss),
        s.environment.dim,
        s.environment.sigma,
        s.environment.variation,
        serde_name(report.curvature),
        s.seeds
    );
    text += &format!("{:<18}", "T");
    for &k in &shown {
        text += &format!(" {:>12}", marks[k]);
    }
    text += &format!(" {:>8} {:>8}\n", "growth", "seconds");
    for (label, values) in [
        (
            "sigma^2_1:T",
            shown
                .iter()
                .map(|&k| first[k].stochastic_variance)
                .collect::<Vec<_>>(),
        ),
        (
            "Sigma^2_1:T",
            shown
                .iter()
                .map(|&k| first[k].adversarial_variation)
                .collect(),
        ),
        (
            "sqrt(s2)+sqrt(S2)",
            shown
                .iter()
                .map(|&k| {
                    first[k].stochastic_variance.sqrt() + first[k].adversarial_variation.sqrt()
                })
                .collect(),
        ),
    ] {
        text += &format!("{label:<18}");
        for v in values {
            text += &format!(" {v:>12.4}");
        }
        text += "\n";
    }
    for &method in &s.methods {
        let regrets = mean_regrets(report, method);
        let runs: Vec<_> = report.runs.iter().filter(|r| r.method == method).collect();
        let growths: Vec<f64> = runs.iter().filter_map(|r| r.growth).collect();
        let growth = if growths.len() == runs.len() {
            format!("{:.2}", growths.iter().sum::<f64>() / growths.len() as f64)
        } else {
            "-".to_string()
        };
        let seconds = runs.iter().map(|r| r.seconds).sum::<f64>() / runs.len() as f64;
        text += &format!("{:<18}", format!("regret {}", serde_name(method)));
        for &k in &shown {
            text += &format!(" {:>12.4}", regrets[k]);
        }
        text += &format!(" {growth:>8} {seconds:>8.2}\n");
    }
    text.trim_end().to_string()
}

fn regret_chart(report: &OnlineReport) -> String {
    let marks = checkpoints(report.settings.rounds);
    let series: Vec<crate::plot::Series> = report
        .settings
        .methods
        .iter()
        .map(|&method| crate::plot::Series {
            label: serde_name(method),
            points: marks
                .iter()
                .zip(mean_regrets(report, method))
                .map(|(&t, r)| ((t as f64).log10(), r.max(1e-3).log10()))
                .collect(),
        })
        .collect();
    let s = &report.settings.environment;
    crate::plot::line_chart(
        &format!(
            "{} loss, sigma {}, variation {}: mean regret",
            serde_name(s.loss),
            s.sigma,
            s.variation
        ),
        "log10 rounds",
        "log10 regret (floor 1e-3)",
        &series,
    )
}
