//! `stoke solve <method>`: optimisation solvers on generated problems, thin callers of
//! [`crate::solve`].

use super::metric::write_out;
use crate::solve::dag::experiment::{DagExperiment, run_experiment, summarize};
use crate::solve::dag::path_following::{DagMethod, PathSettings};
use crate::solve::dag::simulate::{GraphKind, SemSpec};
use crate::solve::transport::compare::{TransportMethod, TransportReport, solve};
use crate::solve::transport::generate::{TransportKind, generate};
use crate::solve::transport::sparse_newton::NewtonSettings;
use crate::solve::transport::trace::Stop;
use crate::train::CancelToken;
use crate::train::session::Interrupted;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum SolveCommand {
    /// Linear DAG structure learning with CoLiDE (equal / non-equal noise variances) against
    /// DAGMA, on simulated linear SEMs: SHD, TPR and FDR per method.
    Colide(ColideArgs),
    /// Entropic optimal transport: Sinkhorn against Sinkhorn-Newton-Sparse (iterations and
    /// time to each marginal error) on a random or a Fashion-MNIST image-pair problem.
    Transport(TransportArgs),
}

pub fn run(command: SolveCommand) -> anyhow::Result<()> {
    match command {
        SolveCommand::Colide(args) => colide(args),
        SolveCommand::Transport(args) => transport(args),
    }
}

#[derive(Args, Debug)]
pub struct ColideArgs {
    /// Methods to compare.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "dagma,colide-ev,colide-nv"
    )]
    methods: Vec<DagMethod>,
    /// Random graph: er (Erdos-Renyi) or sf (scale-free).
    #[arg(long, value_enum, default_value = "er")]
    graph: GraphKind,
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Expected number of edges (default 4 per node, the papers' ER4 / SF4, at most all
    /// pairs).
    #[arg(long)]
    edges: Option<usize>,
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Every noise variance (equal variances); `nv` draws each uniformly in [0.5, 10].
    #[arg(long, default_value = "1")]
    variance: String,
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// The L1 weight lambda.
    #[arg(long, default_value_t = 0.05)]
    lambda1: f64,
    /// Edges with |weight| at most this are dropped.
    #[arg(long, default_value_t = 0.3)]
    threshold: f64,
    /// Adam iterations of the warm stages and of the last stage (early stopping decides).
    #[arg(long, default_value_t = 20_000)]
    warm_iterations: usize,
    #[arg(long, default_value_t = 70_000)]
    last_iterations: usize,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    quiet: bool,
}

fn colide(mut args: ColideArgs) -> anyhow::Result<()> {
    dedup(&mut args.methods);
    if args.seeds.is_empty() || args.methods.is_empty() {
        return Err(crate::usage_error!(
            "--seeds and --methods need at least one value"
        ));
    }
    if !(args.threshold >= 0.0 && args.threshold.is_finite()) {
        return Err(crate::usage_error!(
            "--threshold {}: expected a non-negative number",
            args.threshold
        ));
    }
    let variance = match args.variance.as_str() {
        "nv" => None,
        v => Some(v.parse::<f64>().map_err(|_| {
            crate::usage_error!("--variance {v:?}: expected a positive number or nv")
        })?),
    };
    let mut settings = PathSettings::official();
    settings.lambda1 = args.lambda1;
    settings.warm_iterations = args.warm_iterations;
    settings.last_iterations = args.last_iterations;
    let experiment = DagExperiment {
        spec: SemSpec {
            graph: args.graph,
            nodes: args.nodes,
            edges: args.edges.unwrap_or(
                (4 * args.nodes).min(args.nodes.min(2000) * args.nodes.saturating_sub(1) / 2),
            ),
            samples: args.samples,
            variance,
            seed: 0,
        },
        seeds: args.seeds.clone(),
        methods: args.methods.clone(),
        settings,
        threshold: args.threshold,
    };
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let jobs = (args.seeds.len() * args.methods.len()) as u64;
    let bar = super::progress::work_bar(jobs, "colide", args.quiet || args.json);
    let runs = run_experiment(&experiment, &cancel, &|_| bar.inc(1))?;
    bar.finish_and_clear();
    if cancel.is_cancelled() {
        return Err(anyhow::Error::new(Interrupted {
            step: runs.len(),
            checkpoint: None,
        }));
    }
    let summary = summarize(&args.methods, &runs);
    if args.json {
        let value = serde_json::json!({
            "experiment": experiment, "summary": summary, "runs": runs,
        });
        write_out(&serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let spec = &experiment.spec;
    let mut text = format!(
        "{:?} graph, {} nodes, {} edges, {} samples, noise variance {}; {} seeds; threshold {}\n",
        spec.graph,
        spec.nodes,
        spec.edges,
        spec.samples,
        args.variance,
        args.seeds.len(),
        args.threshold
    );
    text += &format!(
        "{:<10} {:>14} {:>7} {:>7} {:>7} {:>9}\n",
        "method", "SHD (sd)", "TPR", "FDR", "edges", "seconds"
    );
    for s in &summary {
        text += &format!(
            "{:<10} {:>7.1} ({:>4.1}) {:>7.3} {:>7.3} {:>7.1} {:>9.2}\n",
            serde_json::to_value(s.method)?.as_str().unwrap_or_default(),
            s.shd_mean,
            s.shd_sd,
            s.tpr_mean,
            s.fdr_mean,
            s.edges_mean,
            s.seconds_mean
        );
    }
    write_out(text.trim_end());
    Ok(())
}

#[derive(Args, Debug)]
pub struct TransportArgs {
    /// random (n x n, costs uniform in [0, 1]), images-l2 or images-l1 (two Fashion-MNIST
    /// images, pixel positions in [0, 1]^2).
    #[arg(long, value_enum, default_value = "random")]
    problem: TransportKind,
    /// n for the random problem.
    #[arg(long, default_value_t = 500)]
    size: usize,
    /// Inverse entropic regularisation (POT's reg = 1 / eta).
    #[arg(long, default_value_t = 1200.0)]
    eta: f64,
    /// Seed of the random costs, or of the image pair.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sinkhorn,sns"
    )]
    methods: Vec<TransportMethod>,
    /// Stop at this marginal error ||P 1 - a||_1 + ||P^T 1 - b||_1.
    #[arg(long, default_value_t = 1e-13)]
    tolerance: f64,
    /// Iterations at most (Sinkhorn sweeps plus Newton steps).
    #[arg(long, default_value_t = 200_000)]
    max_iterations: usize,
    /// SNS: Sinkhorn sweeps before the Newton steps (the paper: 20; 700 for the L1 images).
    #[arg(long, default_value_t = 20)]
    sinkhorn_sweeps: usize,
    /// SNS: plan entries kept in the sparsified Hessian per row (3 = the paper's lambda 2/n;
    /// it used 15/n, i.e. 29, for the L1 images).
    #[arg(long, default_value_t = 10.0)]
    density: f64,
    /// Write the error-against-time curves as an SVG line chart.
    #[arg(long)]
    svg: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    quiet: bool,
}

fn transport(mut args: TransportArgs) -> anyhow::Result<()> {
    dedup(&mut args.methods);
    if !(args.tolerance >= 0.0 && args.tolerance.is_finite()) {
        return Err(crate::usage_error!(
            "--tolerance {}: expected a non-negative number",
            args.tolerance
        ));
    }
    if args.methods.is_empty() {
        return Err(crate::usage_error!("--methods needs at least one value"));
    }
    let problem = generate(args.problem, args.size, args.eta, args.seed)?;
    let newton = NewtonSettings {
        sinkhorn_sweeps: args.sinkhorn_sweeps,
        density: args.density,
        ..NewtonSettings::default()
    };
    if !(args.density > 0.0 && args.density.is_finite()) {
        return Err(crate::usage_error!(
            "--density {}: expected a positive number",
            args.density
        ));
    }
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let quiet = args.quiet || args.json;
    let mut reports: Vec<TransportReport> = Vec::new();
    for &method in &args.methods {
        let bar =
            super::progress::work_bar(args.max_iterations as u64, &format!("{method:?}"), quiet);
        let shown = bar.clone();
        let stop = Stop {
            cancel: cancel.clone(),
            observer: Some(Arc::new(move |it| {
                shown.set_position(it.iteration as u64);
                shown.set_message(format!("error {:.2e}", it.marginal_error));
            })),
            ..Stop::new(args.tolerance, args.max_iterations)
        };
        let (_, report) = solve(&problem, method, &newton, &stop);
        bar.finish_and_clear();
        reports.push(report);
        if cancel.is_cancelled() {
            return Err(anyhow::Error::new(Interrupted {
                step: reports.len(),
                checkpoint: None,
            }));
        }
    }
    if let Some(path) = &args.svg {
        let series: Vec<crate::plot::Series> = reports
            .iter()
            .map(|r| crate::plot::Series {
                label: format!("{:?}", r.method),
                points: thinned(&r.trace.iterates)
                    .map(|i| {
                        (
                            i.seconds.max(1e-4).log10(),
                            i.marginal_error.max(1e-17).log10(),
                        )
                    })
                    .collect(),
            })
            .collect();
        let title = format!(
            "{:?}, {} x {}, eta {}",
            args.problem,
            problem.rows(),
            problem.cols(),
            args.eta
        );
        let svg = crate::plot::line_chart(&title, "log10 seconds", "log10 marginal error", &series);
        crate::atomic::write_atomic(path, svg.as_bytes())?;
    }
    if args.json {
        let value = serde_json::json!({
            "problem": args.problem, "rows": problem.rows(), "cols": problem.cols(),
            "eta": args.eta, "seed": args.seed, "newton_settings": newton, "reports": reports,
        });
        write_out(&serde_json::to_string(&value)?);
        return Ok(());
    }
    let mut text = format!(
        "{:?}, {} x {}, eta {}, seed {}: iterations (seconds) to marginal error\n",
        args.problem,
        problem.rows(),
        problem.cols(),
        args.eta,
        args.seed
    );
    text += &format!("{:<9}", "method");
    for level in crate::solve::transport::compare::ERROR_LEVELS {
        text += &format!(" {:>18}", format!("<= {level:.0e}"));
    }
    text += &format!(" {:>10} {:>16}\n", "final", "<C, P>");
    for r in &reports {
        text += &format!("{:<9}", format!("{:?}", r.method).to_lowercase());
        for (_, reached) in &r.reached {
            text += &match reached {
                Some(i) => format!(" {:>18}", format!("{} ({:.3})", i.iteration, i.seconds)),
                None => format!(" {:>18}", "-"),
            };
        }
        text += &format!(" {:>10.2e} {:>16.12}\n", r.marginal_error, r.transport_cost);
    }
    write_out(text.trim_end());
    Ok(())
}

/// At most ~2,000 points of a long trace, for a chart of readable size.
fn thinned(
    iterates: &[crate::solve::transport::trace::Iterate],
) -> impl Iterator<Item = &crate::solve::transport::trace::Iterate> {
    let every = iterates.len().div_ceil(2000).max(1);
    iterates
        .iter()
        .enumerate()
        .filter(move |(k, _)| k % every == 0 || *k + 1 == iterates.len())
        .map(|(_, i)| i)
}

/// Drops repeated values, keeping the first of each (a method named twice runs once).
fn dedup<T: PartialEq + Copy>(values: &mut Vec<T>) {
    let mut seen = Vec::new();
    values.retain(|v| {
        let new = !seen.contains(v);
        seen.push(*v);
        new
    });
}
