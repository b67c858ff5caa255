//! `stoke solve <method>`: optimisation solvers on generated problems, thin callers of
//! [`crate::solve`].

use super::metric::write_out;
use crate::solve::bilevel::experiment::{
    BilevelMethod, BilevelReport, BilevelSettings, run as run_bilevel,
};
use crate::solve::bilevel::settings::{BsvrbSettings, Quirks};
use crate::solve::coordinate::compare::{
    Comparison, Figure, Method, ProblemKind, ProblemSpec, build, compare, preset,
};
use crate::solve::coordinate::selection::{Blocks, Rule};
use crate::solve::coordinate::update::Update;
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
    /// Greedy block coordinate descent: selection rules, fixed and variable blocks, forest
    /// blocks with message passing, gradient / matrix / Newton / projected updates; f - f*
    /// against iterations and time on a generated problem.
    Bcd(BcdArgs),
    /// Multi-block bilevel optimisation: BSVRB v1 / v2 against the RSVRB baseline on a
    /// generated data re-weighting task (the official code's hyper-parameter optimisation),
    /// with the speed-up of the per-block work across threads.
    Bsvrb(BsvrbArgs),
    /// Online convex optimisation in the SEA model: optimistic online mirror descent against
    /// online gradient descent / ONS / Hedge; regret against rounds in a simulated
    /// environment with tunable stochastic variance and adversarial variation.
    Oomd(super::online::OomdArgs),
}

pub fn run(command: SolveCommand) -> anyhow::Result<()> {
    match command {
        SolveCommand::Colide(args) => colide(args),
        SolveCommand::Transport(args) => transport(args),
        SolveCommand::Bcd(args) => bcd(args),
        SolveCommand::Bsvrb(args) => bsvrb(args),
        SolveCommand::Oomd(args) => super::online::oomd(args),
    }
}

/// How a solver command reports: a table on stdout with progress bars, or JSON.
#[derive(Args, Debug)]
pub(super) struct ReportFlags {
    /// Print the report as JSON (no progress bars).
    #[arg(long)]
    pub(super) json: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

impl ReportFlags {
    pub(super) fn silent(&self) -> bool {
        self.quiet || self.json
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
    #[command(flatten)]
    report: ReportFlags,
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
    let bar = super::progress::work_bar(jobs, "colide", args.report.silent());
    let runs = run_experiment(&experiment, &cancel, &|_| bar.inc(1))?;
    bar.finish_and_clear();
    if cancel.is_cancelled() {
        return Err(anyhow::Error::new(Interrupted {
            step: runs.len(),
            checkpoint: None,
        }));
    }
    let summary = summarize(&args.methods, &runs);
    if args.report.json {
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
    #[command(flatten)]
    report: ReportFlags,
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
    let quiet = args.report.silent();
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
    if args.report.json {
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

#[derive(Args, Debug)]
pub struct BcdArgs {
    /// Run the methods of one of the paper's figures (its problem unless --problem is
    /// given); otherwise every valid combination of --rules, --blocks and --updates.
    #[arg(long, value_enum)]
    figure: Option<Figure>,
    #[arg(long, value_enum)]
    problem: Option<ProblemKind>,
    /// Rows and columns of A (least squares 200 x 2,000; logistic 2,000 x 400; the same
    /// for the non-negative lasso as for least squares).
    #[arg(long)]
    rows: Option<usize>,
    #[arg(long)]
    cols: Option<usize>,
    /// Lattice side, labelled nodes and edge weight (the paper's data set D: 50, 100, 1e5).
    #[arg(long, default_value_t = 50)]
    side: usize,
    #[arg(long, default_value_t = 100)]
    labels: usize,
    #[arg(long, default_value_t = 1e5)]
    weight: f64,
    /// The non-negative lasso's L1 weight as a fraction of max_j (A^T b)_j.
    #[arg(long, default_value_t = 0.1)]
    l1_fraction: f64,
    #[arg(long, value_enum, value_delimiter = ',', default_value = "gs,gsl")]
    rules: Vec<Rule>,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fixed,variable"
    )]
    blocks: Vec<Blocks>,
    #[arg(long, value_enum, value_delimiter = ',', default_value = "lipschitz")]
    updates: Vec<Update>,
    /// Block size.
    #[arg(long, default_value_t = 5)]
    tau: usize,
    #[arg(long, default_value_t = 500)]
    iterations: usize,
    /// Seed of the problem and of the random rules.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write log10(f - f*) against iterations as an SVG line chart.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write log10(f - f*) against seconds as an SVG line chart.
    #[arg(long)]
    svg_seconds: Option<PathBuf>,
    #[command(flatten)]
    report: ReportFlags,
}

fn bcd(mut args: BcdArgs) -> anyhow::Result<()> {
    if args.iterations == 0 || args.iterations > 1_000_000 {
        return Err(crate::usage_error!(
            "--iterations {}: expected 1 to 1,000,000",
            args.iterations
        ));
    }
    dedup(&mut args.rules);
    dedup(&mut args.blocks);
    dedup(&mut args.updates);
    let kind = args
        .problem
        .or(args.figure.map(|f| preset(f, args.tau, 0).0))
        .unwrap_or(ProblemKind::LeastSquares);
    let (rows, cols) = match kind {
        ProblemKind::Logistic => (2000, 400),
        _ => (200, 2000),
    };
    let spec = ProblemSpec {
        kind,
        rows: args.rows.unwrap_or(rows),
        cols: args.cols.unwrap_or(cols),
        side: args.side,
        labels: args.labels,
        weight: args.weight,
        l1_fraction: args.l1_fraction,
        seed: args.seed,
    };
    let problem = build(&spec)?;
    let methods: Vec<Method> = match args.figure {
        Some(figure) => preset(figure, args.tau, problem.len()).1,
        None => args
            .rules
            .iter()
            .flat_map(|&rule| args.blocks.iter().map(move |&blocks| (rule, blocks)))
            .flat_map(|(rule, blocks)| {
                args.updates.iter().map(move |&update| Method {
                    rule,
                    blocks,
                    update,
                    tau: args.tau,
                })
            })
            .collect(),
    };
    if methods.is_empty() {
        return Err(crate::usage_error!(
            "--rules, --blocks and --updates need at least one value each"
        ));
    }
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let bar = super::progress::work_bar(methods.len() as u64, "bcd", args.report.silent());
    let comparison = compare(
        problem.as_ref(),
        &methods,
        args.iterations,
        args.seed,
        &cancel,
        &|done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    if cancel.is_cancelled() {
        return Err(anyhow::Error::new(Interrupted {
            step: comparison.runs.len(),
            checkpoint: None,
        }));
    }
    let title = format!(
        "{kind:?}, {} coordinates, seed {}",
        comparison.coordinates, args.seed
    );
    for (path, seconds) in [(&args.svg, false), (&args.svg_seconds, true)] {
        if let Some(path) = path {
            let svg = bcd_chart(&comparison, &title, seconds);
            crate::atomic::write_atomic(path, svg.as_bytes())?;
        }
    }
    if args.report.json {
        let value = serde_json::json!({
            "problem": spec, "iterations": args.iterations, "comparison": comparison,
        });
        write_out(&serde_json::to_string(&value)?);
        return Ok(());
    }
    let n = args.iterations;
    let checkpoints = [n / 10, n / 2, n];
    let mut text = format!(
        "{title}: f* = {:.10e}, f(0) - f* = {:.3e}; f - f* after iterations\n",
        comparison.optimum, comparison.initial_gap
    );
    text += &format!("{:<42}", "rule / blocks / update / tau");
    for k in checkpoints {
        text += &format!(" {:>11}", k);
    }
    text += &format!(" {:>9} {:>11}\n", "seconds", "coordinates");
    for run in &comparison.runs {
        text += &format!("{:<42}", method_label(&run.method));
        for k in checkpoints {
            text += &match run.trace.gaps.get(k) {
                Some(gap) => format!(" {gap:>11.3e}"),
                None => format!(" {:>11}", "-"),
            };
        }
        text += &format!(
            " {:>9.3} {:>11}\n",
            run.trace.seconds.last().copied().unwrap_or(0.0),
            run.trace.coordinates_updated
        );
    }
    for (method, reason) in &comparison.skipped {
        text += &format!("skipped {}: {reason}\n", method_label(method));
    }
    write_out(text.trim_end());
    Ok(())
}

#[derive(Args, Debug)]
pub struct BsvrbArgs {
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "bsvrb-v1,bsvrb-v2,rsvrb"
    )]
    methods: Vec<BilevelMethod>,
    /// Blocks (tasks), each a logistic regression with its own scale sigma_i.
    #[arg(long, default_value_t = 20)]
    tasks: usize,
    #[arg(long, default_value_t = 10)]
    features: usize,
    #[arg(long, default_value_t = 1000)]
    train: usize,
    #[arg(long, default_value_t = 500)]
    val: usize,
    #[arg(long, default_value_t = 500)]
    test: usize,
    /// Probability that a training label is flipped (the weights p learn to drop them).
    #[arg(long, default_value_t = 0.3)]
    label_noise: f64,
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    #[arg(long, default_value_t = 400)]
    eval_every: usize,
    /// Thread counts to run with; each runs every method (the iterates must agree) and the
    /// table shows the speed-up over the first.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// The official step settings (eta 1e-3, H_bound 10, v_bound 10, tau_v 0.5, I 10,
    /// B 32) instead of the ones tuned for this small problem.
    #[arg(long)]
    official_steps: bool,
    /// Reproduce the official code's negated Hessian and v2 indexing bugs.
    #[arg(long)]
    official_quirks: bool,
    #[arg(long)]
    eta: Option<f64>,
    #[arg(long)]
    tau: Option<f64>,
    #[arg(long)]
    tau_v: Option<f64>,
    #[arg(long)]
    h_bound: Option<f64>,
    #[arg(long)]
    v_bound: Option<f64>,
    /// I: tasks sampled per iteration.
    #[arg(long)]
    task_batch: Option<usize>,
    /// B: samples per sampled task.
    #[arg(long)]
    data_batch: Option<usize>,
    /// Seed of the data, the initial point and the batches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the upper objective against iterations as an SVG line chart.
    #[arg(long)]
    svg: Option<PathBuf>,
    #[command(flatten)]
    report: ReportFlags,
}

fn bsvrb(mut args: BsvrbArgs) -> anyhow::Result<()> {
    dedup(&mut args.methods);
    dedup(&mut args.threads);
    if args.threads.is_empty() {
        return Err(crate::usage_error!("--threads needs at least one value"));
    }
    let mut settings = BilevelSettings::small();
    if args.official_steps {
        settings.step = BsvrbSettings::official();
    }
    let step = &mut settings.step;
    for (value, target) in [
        (args.eta, &mut step.eta),
        (args.tau, &mut step.tau),
        (args.tau_v, &mut step.tau_v),
        (args.h_bound, &mut step.h_bound),
        (args.v_bound, &mut step.v_bound),
    ] {
        if let Some(v) = value {
            *target = v;
        }
    }
    step.task_batch = args.task_batch.unwrap_or(step.task_batch);
    step.data_batch = args.data_batch.unwrap_or(step.data_batch);
    settings.problem.tasks = args.tasks;
    settings.problem.features = args.features;
    settings.problem.train = args.train;
    settings.problem.val = args.val;
    settings.problem.test = args.test;
    settings.problem.label_noise = args.label_noise;
    settings.problem.seed = args.seed;
    settings.seed = args.seed;
    settings.methods = args.methods.clone();
    settings.iterations = args.iterations;
    settings.eval_every = args.eval_every;
    settings.quirks = if args.official_quirks {
        Quirks::OFFICIAL
    } else {
        Quirks::NONE
    };
    settings.validate()?;
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let quiet = args.report.silent();
    let mut reports: Vec<BilevelReport> = Vec::new();
    for &threads in &args.threads {
        settings.threads = threads;
        let total = (args.iterations * settings.methods.len()) as u64;
        let bar = super::progress::work_bar(total, &format!("bsvrb, {threads} threads"), quiet);
        let mut done = 0;
        let report = run_bilevel(
            &settings,
            &mut |p| {
                if p.iteration == 0 {
                    done = bar.position();
                }
                bar.set_position(done + p.iteration as u64);
            },
            &cancel,
        )?;
        bar.finish_and_clear();
        if report.cancelled {
            return Err(anyhow::Error::new(Interrupted {
                step: reports.len(),
                checkpoint: None,
            }));
        }
        reports.push(report);
    }
    // The iterates do not depend on the thread count: every evaluation must agree.
    let evaluations = |r: &BilevelReport| -> Vec<_> {
        r.runs
            .iter()
            .flat_map(|run| run.evaluations.iter().map(|e| e.evaluation))
            .collect()
    };
    let identical = reports
        .iter()
        .all(|r| evaluations(r) == evaluations(&reports[0]));
    if let Some(path) = &args.svg {
        let series: Vec<crate::plot::Series> = reports[0]
            .runs
            .iter()
            .map(|run| crate::plot::Series {
                label: serde_name(run.method),
                points: run
                    .evaluations
                    .iter()
                    .map(|e| (e.iteration as f64, e.evaluation.upper_objective))
                    .collect(),
            })
            .collect();
        let svg = crate::plot::line_chart(
            "multi-block bilevel: validation loss",
            "iteration",
            "upper objective",
            &series,
        );
        crate::atomic::write_atomic(path, svg.as_bytes())?;
    }
    if args.report.json {
        let value = serde_json::json!({
            "threads": args.threads, "identical_across_threads": identical, "reports": reports,
        });
        write_out(&serde_json::to_string(&value)?);
        return Ok(());
    }
    let p = &settings.problem;
    let mut text = format!(
        "{} tasks, {} features, {}/{}/{} samples, {:.0}% flipped; I = {}, B = {}, {} iterations\n",
        p.tasks,
        p.features,
        p.train,
        p.val,
        p.test,
        100.0 * p.label_noise,
        settings.step.task_batch,
        settings.step.data_batch,
        settings.iterations
    );
    text += &format!(
        "{:<10} {:>9} {:>9} {:>10} {:>9}",
        "method", "F start", "F end", "test loss", "test acc"
    );
    for t in &args.threads {
        text += &format!(" {:>11}", format!("s, {t} thr"));
    }
    text += "\n";
    for (k, run) in reports[0].runs.iter().enumerate() {
        let (Some(first), Some(last)) = (run.evaluations.first(), run.evaluations.last()) else {
            continue;
        };
        text += &format!(
            "{:<10} {:>9.4} {:>9.4} {:>10.4} {:>9.3}",
            serde_name(run.method),
            first.evaluation.upper_objective,
            last.evaluation.upper_objective,
            last.evaluation.test_loss,
            last.evaluation.test_accuracy
        );
        let base = last.seconds;
        for report in &reports {
            let seconds = report.runs[k].evaluations.last().map_or(0.0, |e| e.seconds);
            text += &format!(
                " {:>11}",
                format!("{seconds:.2} ({:.2}x)", base / seconds.max(1e-12))
            );
        }
        text += if run.diverged { " diverged\n" } else { "\n" };
    }
    if reports.len() > 1 {
        text += &format!("iterates identical across thread counts: {identical}\n");
    }
    write_out(text.trim_end());
    Ok(())
}

/// The serialised (kebab-case) name of a unit enum value.
pub(super) fn serde_name(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn method_label(m: &Method) -> String {
    let rule = serde_name(m.rule);
    if m.rule.forest() {
        return rule;
    }
    format!(
        "{rule} / {} / {} / {}",
        serde_name(m.blocks),
        serde_name(m.update),
        m.tau
    )
}

/// log10(f - f*) of every run against iterations or seconds (gaps at or below 1e-16 of the
/// start are drawn at that floor).
fn bcd_chart(comparison: &Comparison, title: &str, seconds: bool) -> String {
    let floor = (comparison.initial_gap.abs() * 1e-16).max(f64::MIN_POSITIVE);
    let series: Vec<crate::plot::Series> = comparison
        .runs
        .iter()
        .map(|run| crate::plot::Series {
            label: method_label(&run.method),
            points: run
                .trace
                .gaps
                .iter()
                .zip(&run.trace.seconds)
                .enumerate()
                .map(|(k, (gap, s))| {
                    let x = if seconds {
                        s.max(1e-5).log10()
                    } else {
                        k as f64
                    };
                    (x, gap.max(floor).log10())
                })
                .collect(),
        })
        .collect();
    let x_label = if seconds {
        "log10 seconds"
    } else {
        "iteration"
    };
    crate::plot::line_chart(title, x_label, "log10 (f - f*)", &series)
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
pub(super) fn dedup<T: PartialEq + Copy>(values: &mut Vec<T>) {
    let mut seen = Vec::new();
    values.retain(|v| {
        let new = !seen.contains(v);
        seen.push(*v);
        new
    });
}
