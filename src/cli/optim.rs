//! `stoke optim trace` and `stoke optim viz`: the optimizer playground on the command line.

use crate::config::overrides;
use crate::optim::playground::viz::{VizRequest, viz};
use crate::optim::playground::{TraceRequest, trace};
use crate::usage_error;
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum OptimCommand {
    /// Run an optimizer on a test function; print the trajectory and losses.
    Trace(TraceArgs),
    /// Draw several optimizers' trajectories on a 2-D function's contour plot (.png or .svg).
    Viz(VizArgs),
}

#[derive(Args, Debug)]
pub struct VizArgs {
    /// rosenbrock, rosenbrock100, quadratic, beale or rastrigin.
    #[arg(long)]
    problem: String,
    /// `name:lr` pairs, comma-separated (`adam:0.01,adamp:0.01,sgdp:0.002`); default options.
    #[arg(long)]
    optimizers: String,
    #[arg(long, value_parser = parse_point, allow_hyphen_values = true)]
    start: Option<[f64; 2]>,
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// `x_min,x_max,y_min,y_max` (default: around the trajectories and the minimum).
    #[arg(long, allow_hyphen_values = true)]
    range: Option<String>,
    /// Side of the square plot in pixels.
    #[arg(long, default_value_t = 600)]
    size: u32,
    #[arg(long, default_value = "flex")]
    device: String,
    /// The plot to write: `.png` or `.svg`.
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// An optimizer from `stoke ls optimizers`.
    #[arg(long)]
    optimizer: String,
    /// rosenbrock, rosenbrock100, quadratic, beale, rastrigin, scale-invariant or conv.
    #[arg(long)]
    problem: String,
    /// Start `X,Y` of a 2-D problem (default 1.5,1.5).
    #[arg(long, value_parser = parse_point, allow_hyphen_values = true)]
    start: Option<[f64; 2]>,
    #[arg(long, default_value_t = 100)]
    steps: usize,
    #[arg(long)]
    lr: f64,
    /// Seed of AdaHessian's Rademacher probes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "flex")]
    device: String,
    /// Print `{"trajectory": [...], "loss": [...]}` (otherwise a table).
    #[arg(long)]
    json: bool,
    /// The optimizer's own options: `key=value` as in `[optimizer]` (`beta1=0.95`).
    options: Vec<String>,
}

fn parse_point(text: &str) -> Result<[f64; 2], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [x, y] => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => Ok([x, y]),
            _ => Err(format!("expected two finite numbers X,Y, got `{text}`")),
        },
        _ => Err(format!("expected X,Y, got `{text}`")),
    }
}

pub fn run(command: OptimCommand) -> anyhow::Result<()> {
    match command {
        OptimCommand::Trace(args) => run_trace(args),
        OptimCommand::Viz(args) => run_viz(args),
    }
}

fn run_viz(args: VizArgs) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for pair in args.optimizers.split(',') {
        let (name, lr) = pair
            .split_once(':')
            .ok_or_else(|| usage_error!("--optimizers: expected name:lr pairs, got `{pair}`"))?;
        let lr: f64 = lr
            .trim()
            .parse()
            .map_err(|_| usage_error!("--optimizers: `{lr}` is not a learning rate"))?;
        runs.push((name.trim().to_string(), lr));
    }
    let range = match &args.range {
        None => None,
        Some(text) => {
            let bad = || {
                usage_error!(
                    "--range: expected four finite numbers x_min,x_max,y_min,y_max, got `{text}`"
                )
            };
            let values = text
                .split(',')
                .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(bad)?;
            Some(values.try_into().map_err(|_| bad())?)
        }
    };
    let legend = viz(
        &VizRequest {
            problem: args.problem,
            runs,
            start: args.start,
            steps: args.steps,
            range,
            size: args.size,
            device: args.device,
        },
        &args.out,
    )?;
    println!("wrote {}", args.out.display());
    for (label, [r, g, b]) in legend {
        println!("  rgb({r}, {g}, {b})  {label}");
    }
    Ok(())
}

fn run_trace(args: TraceArgs) -> anyhow::Result<()> {
    let mut options = toml::Table::new();
    for option in &args.options {
        let (key, value) = option.split_once('=').ok_or_else(|| {
            usage_error!("optimizer option `{option}` is not of the form key=value")
        })?;
        options.insert(key.trim().to_string(), overrides::parse_value(value.trim()));
    }
    let trace = trace(&TraceRequest {
        optimizer: args.optimizer,
        problem: args.problem,
        start: args.start,
        steps: args.steps,
        lr: args.lr,
        options,
        seed: args.seed,
        device: args.device,
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&trace)?);
        return Ok(());
    }
    for (step, (point, loss)) in trace.trajectory.iter().zip(&trace.loss).enumerate() {
        let shown: Vec<String> = point.iter().take(4).map(|v| format!("{v:.6}")).collect();
        let more = if point.len() > 4 { ", ..." } else { "" };
        println!("{step:>6}  loss {loss:<14.8e} [{}{more}]", shown.join(", "));
    }
    Ok(())
}
