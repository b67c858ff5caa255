//! The `stoke` command line: parse, resolve the config, call the library. Exit codes: 0
//! success, 2 usage or config error, 1 runtime error, 130 interrupted by Ctrl-C and 143 by
//! SIGTERM (after a checkpoint).

mod bench;
mod fid;
mod interrupt;
mod launch;
mod ls;
mod metric;
mod nas;
mod online;
mod optim;
mod plot;
mod progress;
mod prune;
mod quantile;
mod run;
mod sample;
mod schedule;
mod score;
mod solve;
mod soup;

use crate::error::exit_code;
use crate::train::session::{Interrupted, RunComplete};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "stoke",
    version,
    about = "Train models with recipes from the literature, on any Burn backend"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List recipes, models, optimizers, datasets or devices.
    Ls {
        /// recipes, models, optimizers, datasets or devices (all when omitted).
        what: Option<String>,
    },
    /// Train a recipe: `stoke train recipes/quickstart.toml optimizer.lr=0.05`.
    Train(run::TrainArgs),
    /// Train data-parallel as N MPI ranks: `stoke launch -n 2 -- train quickstart`.
    Launch(launch::LaunchArgs),
    /// Print the resolved config of a recipe with overrides applied.
    Config {
        recipe: String,
        overrides: Vec<String>,
    },
    /// Copy a recipe preset to a file to edit.
    Cp { recipe: String, path: PathBuf },
    /// Test loss and accuracy of a run's latest (or best) checkpoint.
    Eval {
        /// A run directory or a checkpoint directory.
        target: PathBuf,
        /// Evaluate on the data in this directory instead (sets dataset.path).
        #[arg(long)]
        data: Option<String>,
        /// Use the best checkpoint instead of the latest.
        #[arg(long)]
        best: bool,
        /// The split scored: test, or train (without augmentation; the gap to the test
        /// score measures overfitting).
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        attack: run::AttackArgs,
    },
    /// Generate images with a trained diffusion run: `stoke sample runs/edm --n 64 --out grid.png`.
    Sample(sample::SampleArgs),
    /// Fréchet distance of a diffusion run's samples to a data split, with the features of a
    /// stoke classifier run (FID-classifier) or of the FID Inception weights.
    Fid(fid::FidArgs),
    /// Plot a metric of runs against epochs or steps as an SVG line chart.
    Plot(plot::PlotArgs),
    /// Average finished runs' weights: `stoke soup greedy RUN... --out DIR`.
    Soup(soup::SoupArgs),
    /// Score the weights between two runs (WiSE-FT): `stoke interpolate RUN_A RUN_B`.
    Interpolate(soup::InterpolateArgs),
    /// Fine-tune a config from one run over a grid: `stoke sweep CONFIG --from RUN --grid
    /// optimizer.lr=0.01,0.03 --out DIR` (the ingredients of a soup).
    Sweep(soup::SweepArgs),
    /// Score every training example (Data Diet's EL2N or GraNd) for `dataset.keep`.
    Score(score::ScoreArgs),
    /// Per-layer and global sparsity of a run's weights (and its pruning masks).
    Sparsity(prune::SparsityArgs),
    /// One-shot NAS: `stoke nas rank SUPERNET --standalone RUN...` (Kendall's tau-b).
    #[command(subcommand)]
    Nas(nas::NasCommand),
    /// Scoring and ranking tools: `stoke metric rank SCORES.csv` (mean, Borda, Kemeny),
    /// `stoke metric ap GT.json DETS.json` (standard AP, AP-fixed, AP-pool).
    #[command(subcommand)]
    Metric(metric::MetricCommand),
    /// Quantile regression and model aggregation on a CSV data set (Fakoor et al. 2023).
    Quantile(quantile::QuantileArgs),
    /// Optimisation solvers on generated problems: `stoke solve colide` (DAG learning).
    #[command(subcommand)]
    Solve(solve::SolveCommand),
    /// Export a run's weights for other frameworks.
    Export {
        /// A run directory or a checkpoint directory.
        target: PathBuf,
        /// Output format (safetensors).
        #[arg(long, default_value = "safetensors")]
        format: String,
        /// Output file.
        path: PathBuf,
        #[arg(long)]
        best: bool,
        /// Overwrite an existing file (never one of a run directory's own files).
        #[arg(long)]
        force: bool,
    },
    /// Import weights (a safetensors file as `stoke export` writes it) into a new run
    /// directory: `stoke import weights.safetensors quickstart --out runs/imported`.
    Import {
        /// The safetensors file.
        file: PathBuf,
        /// The config (preset name or TOML file) whose model the weights are for.
        recipe: String,
        /// Overrides (key=value).
        overrides: Vec<String>,
        /// A model preset (`model.name`), for short.
        #[arg(long)]
        model: Option<String>,
        /// The run directory to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// The optimizer playground: optimizers on test functions.
    Optim {
        #[command(subcommand)]
        what: optim::OptimCommand,
    },
    /// Learning-rate schedules refined from a previous run.
    Schedule {
        #[command(subcommand)]
        what: schedule::ScheduleCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
    /// Print a shell completion script: `stoke completions bash > ~/.local/share/bash-
    /// completion/completions/stoke` (zsh: a file `_stoke` on $fpath; fish: ~/.config/fish/
    /// completions/stoke.fish).
    Completions { shell: clap_complete::Shell },
}

/// Runs the command line of this process and returns its exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    if matches!(
        cli.command,
        Command::Ls { .. }
            | Command::Config { .. }
            | Command::Optim { .. }
            | Command::Completions { .. }
    ) {
        default_sigpipe();
    }
    match dispatch(cli.command) {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<RunComplete>().is_some() => {
            eprintln!("stoke: {e}");
            0
        }
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("stoke: {e}");
            match interrupt::terminated() {
                true => 143,
                false => 130,
            }
        }
        Err(e) => {
            eprintln!("stoke: error: {e:#}");
            exit_code(&e)
        }
    }
}

/// Rust ignores SIGPIPE, so printing a listing into a closed pipe (`stoke ls | head`) would
/// panic; for commands that only print, the default action ends the process quietly, as
/// other command-line tools do. Training keeps ignoring it: a closed pipe must not kill a
/// run before its interrupt checkpoint.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: restores a signal's default disposition, before any thread of this process
    // starts; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ls { what } => ls::run(what.as_deref()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "stoke", &mut std::io::stdout());
            Ok(())
        }
        Command::Train(args) => run::train(args),
        Command::Launch(args) => launch::run(args),
        Command::Config { recipe, overrides } => run::print_config(&recipe, &overrides),
        Command::Cp { recipe, path } => run::copy_preset(&recipe, &path),
        Command::Eval {
            target,
            data,
            best,
            split,
            json,
            attack,
        } => run::eval(&target, data, best, &split, json, &attack),
        Command::Export {
            target,
            format,
            path,
            best,
            force,
        } => run::export(&target, &format, &path, best, force),
        Command::Import {
            file,
            recipe,
            mut overrides,
            model,
            out,
        } => {
            if let Some(model) = model {
                overrides.push(format!("model.name={model:?}"));
            }
            run::import(&file, &recipe, &overrides, &out)
        }
        Command::Optim { what } => optim::run(what),
        Command::Plot(args) => plot::run(args),
        Command::Soup(args) => soup::soup(args),
        Command::Interpolate(args) => soup::interpolate_runs(args),
        Command::Sweep(args) => soup::sweep(args),
        Command::Score(args) => score::run(args),
        Command::Sparsity(args) => prune::sparsity(args),
        Command::Nas(command) => nas::run(command),
        Command::Metric(command) => metric::run(command),
        Command::Quantile(args) => quantile::run(args),
        Command::Solve(command) => solve::run(command),
        Command::Sample(args) => sample::run(args),
        Command::Fid(args) => fid::run(args),
        Command::Schedule { what } => schedule::run(what),
        Command::Bench { what } => bench::run(what),
    }
}
