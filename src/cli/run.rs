//! `stoke train`, `config`, `cp`, `eval` and `export`.

use super::progress::ProgressObserver;
use crate::config::overrides::string_override;
use crate::config::{presets, resolve};
use crate::distributed::World;
use crate::train::run_dir::{check_output, load_run_config, locate, run_of_checkpoint};
use crate::train::session::{Interrupted, RunComplete};
use crate::train::{CancelToken, TrainOptions, Trainer};
use crate::usage_error;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prints a training command's last line: a closed standard output (`stoke train ... |
/// head -1`) is no error once the run is saved (training keeps SIGPIPE ignored so a closed
/// pipe cannot kill a run before its checkpoint; `println!` would panic instead).
macro_rules! say {
    ($($arg:tt)*) => {
        print_line(format_args!($($arg)*))
    };
}

pub(super) fn print_line(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// A recipe config file or preset name (not needed with --resume).
    pub recipe: Option<String>,
    /// Dotted overrides, `key.sub=value`.
    pub overrides: Vec<String>,
    /// Backend: flex, ndarray, wgpu, vulkan, opengl, tch, cuda[:N].
    #[arg(long, conflicts_with = "devices")]
    pub device: Option<String>,
    /// Data-parallel over the GPUs of this machine with Burn's DDP (feature cuda):
    /// `cuda:0,cuda:1`. CPU ranks run under mpirun instead (`stoke launch`).
    #[arg(long, value_name = "LIST")]
    pub devices: Option<String>,
    /// Run directory (default runs/<recipe>-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory from its latest checkpoint (overrides may change
    /// the optimizer hyper-parameters, schedule, length and cadences; see README).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Seed of every random draw.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many steps as Ctrl-C would: checkpoint, then exit with code 130
    /// (continue with --resume).
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<usize>,
    /// Under mpirun: seconds a collective may wait for the other ranks before the job ends
    /// with an error (a stuck or unreachable rank).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::distributed::DEFAULT_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
}

/// `stoke train`, alone or as one rank of an `mpirun` job.
pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(usage_error!(
            "--timeout: expected a positive number of seconds, got {}",
            args.timeout
        ));
    }
    let world = crate::distributed::launch::join(Duration::from_secs_f64(args.timeout))?;
    let result = train_in(world.clone(), args);
    // Interrupts, a finished run and a non-finite step reach every rank at the same step
    // (the ranks agree on them); any other error may be this rank's alone.
    let shared = |error: &anyhow::Error| {
        error.downcast_ref::<Interrupted>().is_some()
            || error.downcast_ref::<RunComplete>().is_some()
            || error.downcast_ref::<crate::train::NonFinite>().is_some()
    };
    if let Err(error) = &result
        && world.size() > 1
        && !shared(error)
    {
        // Alone in its error, this rank would leave the others waiting in a collective.
        eprintln!("stoke: error: rank {}: {error:#}", world.rank());
        world.abort(crate::error::exit_code(error));
    }
    result
}

fn train_in(world: World, args: TrainArgs) -> anyhow::Result<()> {
    let mut overrides = args.overrides.clone();
    if let Some(device) = &args.device {
        overrides.push(string_override("device", device));
    }
    let (config, resolved, out_dir, resume) = match &args.resume {
        Some(dir) => {
            // After --resume the first positional argument is an override, not a recipe.
            if let Some(first) = &args.recipe {
                if !first.contains('=') {
                    return Err(usage_error!(
                        "--resume continues a run with its saved config: give overrides \
                         (key=value) but no recipe (`{first}`)"
                    ));
                }
                overrides.insert(0, first.clone());
            }
            if args.seed.is_some() {
                return Err(usage_error!(
                    "--seed cannot change when a run resumes (it decides the data order and the \
                     initial weights)"
                ));
            }
            let (config, resolved) = load_run_config(dir, &overrides)?;
            (config, resolved, dir.clone(), true)
        }
        None => {
            let recipe = args.recipe.as_deref().ok_or_else(|| {
                usage_error!(
                    "give a recipe config or preset name (see `stoke ls recipes`), or --resume DIR"
                )
            })?;
            if let Some(seed) = args.seed {
                overrides.push(format!("seed={seed}"));
            }
            let (config, resolved) = resolve(recipe, &overrides)?;
            let out = args.out.clone().unwrap_or_else(|| default_run_dir(recipe));
            (config, resolved, out, false)
        }
    };
    if config.federated.is_some() {
        return train_federated(&world, &args, &config, &resolved, &out_dir, resume);
    }
    if config.byzantine.is_some() {
        return train_byzantine(&world, &args, &config, &resolved, &out_dir, resume);
    }
    if config.gossip.is_some() {
        return train_gossip(&world, &args, &config, &resolved, &out_dir, resume);
    }
    if config.pruning.is_some() {
        let ranks = world.size() > 1;
        return super::prune::train_pruning(&args, &config, &resolved, &out_dir, resume, ranks);
    }
    let options = TrainOptions {
        out_dir: out_dir.clone(),
        resume,
        stop_after: args.stop_after,
        world: world.clone(),
        cancel: CancelToken::new(),
        data: None,
    };
    super::interrupt::cancel_on_signals(&options.cancel);
    let quiet = args.quiet || !world.is_leader();
    let summary = match &args.devices {
        Some(list) => {
            let progress = || -> Vec<Box<dyn crate::train::Observer>> {
                vec![Box::new(ProgressObserver::new(quiet))]
            };
            crate::train::devices::train_on_devices(&config, &resolved, &options, list, &progress)?
        }
        None => {
            let progress = Box::new(ProgressObserver::new(quiet));
            crate::train::train(&config, &resolved, &options, vec![progress])?
        }
    };
    if !world.is_leader() {
        return Ok(());
    }
    if args.json {
        say!("{}", serde_json::to_string(&summary)?);
    } else {
        let scores = scores(summary.test_accuracy, summary.test_loss);
        say!(
            "{scores} after {} steps ({:.2} epochs) in {:.1} s; run saved in {}",
            summary.steps,
            summary.epochs,
            summary.wall_seconds,
            out_dir.display()
        );
    }
    Ok(())
}

/// Refuses, rather than ignores, what a driver does not support yet: `--stop-after`,
/// `--devices`, (`ranks`) several MPI ranks, and the single run's initial weights and
/// TensorBoard files.
pub(super) fn refuse_unsupported(
    args: &TrainArgs,
    config: &crate::config::RunConfig,
    ranks: bool,
    runs: &str,
) -> anyhow::Result<()> {
    let unsupported = [
        (args.stop_after.is_some(), "--stop-after"),
        (args.devices.is_some(), "--devices"),
        (ranks, "several MPI ranks"),
        (config.train.init_from.is_some(), "key `train.init_from`"),
        (config.model.init().is_some(), "key `model.init`"),
        (config.train.tensorboard, "key `train.tensorboard`"),
        (!config.train.precision.is_f32(), "key `train.precision`"),
    ];
    match unsupported.iter().find(|(given, _)| *given) {
        Some((_, what)) => Err(usage_error!("{what} is not supported for {runs} yet")),
        None => Ok(()),
    }
}

/// `stoke train` of a config with `[byzantine]`: workers, attacks and a robust rule.
fn train_byzantine(
    world: &World,
    args: &TrainArgs,
    config: &crate::config::RunConfig,
    resolved: &toml::Table,
    out_dir: &Path,
    resume: bool,
) -> anyhow::Result<()> {
    refuse_unsupported(args, config, false, "Byzantine runs")?;
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let quiet = args.quiet || !world.is_leader();
    let mut on_step = |report: &crate::byzantine::driver::ByzantineStep| {
        let Some(eval) = &report.evaluation else {
            return;
        };
        if !quiet {
            eprintln!(
                "step {}/{}: honest loss {:.4}, {}",
                report.step,
                report.steps,
                report.honest_loss,
                eval.describe("test")
            );
        }
    };
    let options = crate::byzantine::driver::ByzantineOptions {
        out_dir: out_dir.to_path_buf(),
        resume,
        cancel,
        world: world.clone(),
    };
    let summary = crate::byzantine::driver::run(config, resolved, &options, &mut on_step)?;
    if !world.is_leader() {
        return Ok(());
    }
    if args.json {
        say!("{}", serde_json::to_string(&summary)?);
    } else {
        say!(
            "{} after {} steps of {} workers ({} faulty, {:?}, rule {}) in {:.1} s; run saved in {}",
            scores(summary.test_accuracy, summary.test_loss),
            summary.steps,
            summary.workers,
            summary.faulty,
            summary.attack,
            summary.rule,
            summary.wall_seconds,
            out_dir.display()
        );
    }
    Ok(())
}

/// `stoke train` of a config with `[gossip]`: nodes on a graph, alone or over MPI ranks.
fn train_gossip(
    world: &World,
    args: &TrainArgs,
    config: &crate::config::RunConfig,
    resolved: &toml::Table,
    out_dir: &Path,
    resume: bool,
) -> anyhow::Result<()> {
    refuse_unsupported(args, config, false, "gossip runs")?;
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let quiet = args.quiet || !world.is_leader();
    let mut on_round = |report: &crate::gossip::driver::GossipRound| {
        let Some(scores) = report.scores.as_ref().filter(|_| !quiet) else {
            return;
        };
        let accuracy = match (scores.mean_accuracy(), scores.accuracy_spread()) {
            (Some(mean), Some((std, min, max))) => format!(
                "node test accuracy {:.2}% +- {:.2} (min {:.2}%, max {:.2}%)",
                100.0 * mean,
                100.0 * std,
                100.0 * min,
                100.0 * max
            ),
            _ => format!("node test loss {:.4}", scores.mean_loss()),
        };
        eprintln!(
            "round {}/{}: train loss {:.4}, {accuracy}, consensus distance {:.4}, weight \
             variance ratio {:.3}",
            report.round,
            report.rounds,
            report.train_loss,
            report.consensus_distance,
            report.variance_ratio()
        );
    };
    let options = crate::gossip::driver::GossipOptions {
        out_dir: out_dir.to_path_buf(),
        resume,
        cancel,
        world: world.clone(),
    };
    let summary = crate::gossip::driver::run(config, resolved, &options, &mut on_round)?;
    if !world.is_leader() {
        return Ok(());
    }
    if args.json {
        say!("{}", serde_json::to_string(&summary)?);
    } else {
        say!(
            "{} (mean of {} nodes) after {} rounds ({:?}, degree {}, variance correction {}) in \
             {:.1} s; run saved in {}",
            scores(summary.test_accuracy, summary.test_loss),
            summary.nodes,
            summary.rounds,
            summary.topology,
            summary.degree,
            if summary.variance_correction {
                "on"
            } else {
                "off"
            },
            summary.wall_seconds,
            out_dir.display()
        );
    }
    Ok(())
}

/// `stoke train` of a config with `[federated]`: the in-process simulator.
fn train_federated(
    world: &World,
    args: &TrainArgs,
    config: &crate::config::RunConfig,
    resolved: &toml::Table,
    out_dir: &Path,
    resume: bool,
) -> anyhow::Result<()> {
    refuse_unsupported(
        args,
        config,
        false,
        "federated runs (the simulator runs in one process)",
    )?;
    let cancel = CancelToken::new();
    super::interrupt::cancel_on_signals(&cancel);
    let quiet = args.quiet || !world.is_leader();
    let mut on_round = |report: &crate::federated::simulator::RoundReport| {
        if quiet {
            return;
        }
        let scores = match &report.evaluation {
            Some(eval) => format!(", {}", eval.describe("test")),
            None => String::new(),
        };
        let loss = match report.client_loss {
            Some(loss) => format!(", client loss {loss:.4}"),
            None => String::new(),
        };
        eprintln!(
            "round {}/{}: {} clients{loss}{scores}",
            report.round,
            report.rounds,
            report.participants.len(),
        );
    };
    let options = crate::federated::simulator::FederatedOptions {
        out_dir: out_dir.to_path_buf(),
        resume,
        cancel,
        world: world.clone(),
    };
    let summary = crate::federated::simulator::run(config, resolved, &options, &mut on_round)?;
    if !world.is_leader() {
        return Ok(());
    }
    if args.json {
        say!("{}", serde_json::to_string(&summary)?);
    } else {
        let scores = scores(summary.test_accuracy, summary.test_loss);
        say!(
            "{scores} after {} rounds of {} clients in {:.1} s; run saved in {} (server model: {})",
            summary.rounds,
            summary.clients,
            summary.wall_seconds,
            out_dir.display(),
            summary.server_run.display()
        );
    }
    Ok(())
}

/// "test accuracy A% (test loss L)", or the loss alone for models without an accuracy.
pub(super) fn scores(accuracy: Option<f64>, loss: f64) -> String {
    match accuracy {
        Some(accuracy) => format!(
            "test accuracy {:.2}% (test loss {loss:.4})",
            100.0 * accuracy
        ),
        None => format!("test loss {loss:.4}"),
    }
}

fn default_run_dir(recipe: &str) -> PathBuf {
    let stem = Path::new(recipe)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from("runs").join(format!("{stem}-{now}"))
}

pub fn print_config(recipe: &str, overrides: &[String]) -> anyhow::Result<()> {
    let (config, resolved) = resolve(recipe, overrides)?;
    crate::train::validate::validate(&config)?;
    print!("{}", toml::to_string_pretty(&resolved)?);
    Ok(())
}

pub fn copy_preset(recipe: &str, path: &Path) -> anyhow::Result<()> {
    let text = presets::recipe(recipe).ok_or_else(|| {
        usage_error!(
            "no recipe preset `{recipe}`; presets: {}",
            presets::recipe_names().join(", ")
        )
    })?;
    if path.exists() {
        return Err(usage_error!(
            "{} exists; not overwriting it",
            path.display()
        ));
    }
    crate::train::run_dir::check_output(path, false, &[])?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("copied preset `{recipe}` to {}", path.display());
    Ok(())
}

/// `stoke eval --attack ...`: robust accuracy under an attack (budgets in 1/255 units).
#[derive(clap::Args, Debug)]
pub struct AttackArgs {
    /// Attack the test images: fgsm, pgd or apgd-ce (prints clean and robust accuracy).
    #[arg(long)]
    attack: Option<String>,
    /// Budget in 1/255 units.
    #[arg(long, default_value_t = 8.0)]
    eps: f64,
    /// Step size in 1/255 units (default eps/4 for pgd, eps for fgsm).
    #[arg(long)]
    step: Option<f64>,
    /// Attack iterations (default 20 for pgd, 100 for apgd-ce).
    #[arg(long)]
    steps: Option<usize>,
    /// Restarts (pgd keeps the worst case per image; apgd-ce restarts on the images still
    /// robust).
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// Attack only the first N test images.
    #[arg(long)]
    limit: Option<usize>,
}

pub fn eval(
    target: &Path,
    data: Option<String>,
    best: bool,
    split: &str,
    json: bool,
    attack: &AttackArgs,
) -> anyhow::Result<()> {
    let on_train = match split {
        "test" => false,
        "train" if attack.attack.is_none() => true,
        "train" => {
            return Err(usage_error!(
                "--split train: robust evaluation (--attack) runs on the test split"
            ));
        }
        other => return Err(usage_error!("--split {other}: expected test or train")),
    };
    let overrides: Vec<String> = data
        .iter()
        .map(|d| string_override("dataset.path", d))
        .collect();
    let located = locate(target, best, &overrides)?;
    if let Some(dir) = &data
        && located.config.dataset.format == "synthetic"
    {
        return Err(usage_error!(
            "--data {dir}: the run's data is synthetic (generated from its config), not read \
             from a directory"
        ));
    }
    let device = crate::device::parse(&located.config.device)?;
    let trainer = Trainer::from_checkpoint(&located.config, &located.checkpoint, &device)?;
    if attack.limit == Some(0) {
        return Err(usage_error!(
            "--limit 0: no images to attack; give a positive number or leave it out"
        ));
    }
    if let Some(kind) = &attack.attack {
        let spec = crate::attacks::evaluation::EvalAttack::parse(
            kind,
            attack.eps,
            attack.step,
            attack
                .steps
                .unwrap_or(if kind == "apgd-ce" { 100 } else { 20 }),
            attack.restarts,
        )?;
        let result = trainer.evaluate_robust(&spec, attack.limit)?;
        if json {
            let mut value = serde_json::to_value(&result)?;
            value["checkpoint"] = located.checkpoint.display().to_string().into();
            println!("{value}");
        } else {
            println!(
                "{}: clean accuracy {:.2}%, robust accuracy {:.2}% under {} eps {}/255 ({} images)",
                located.checkpoint.display(),
                100.0 * result.clean_accuracy,
                100.0 * result.robust_accuracy,
                spec.kind,
                attack.eps,
                result.images
            );
        }
        return Ok(());
    }
    let eval = match on_train {
        true => trainer.evaluate_train_split()?,
        false => trainer.evaluate()?,
    };
    if json {
        let mut value = serde_json::to_value(&eval)?;
        value["checkpoint"] = located.checkpoint.display().to_string().into();
        value["split"] = split.into();
        println!("{value}");
    } else {
        println!(
            "{}: {} on {} {split} images",
            located.checkpoint.display(),
            eval.describe(split),
            eval.images
        );
    }
    Ok(())
}

pub fn export(
    target: &Path,
    format: &str,
    path: &Path,
    best: bool,
    force: bool,
) -> anyhow::Result<()> {
    if format != "safetensors" {
        return Err(usage_error!(
            "--format {format}: only safetensors is supported"
        ));
    }
    let located = locate(target, best, &[])?;
    let run = run_of_checkpoint(&located.checkpoint)
        .into_iter()
        .collect::<Vec<_>>();
    check_output(path, force, &run)?;
    let device = crate::device::parse(&located.config.device)?;
    let trainer = Trainer::from_checkpoint(&located.config, &located.checkpoint, &device)?;
    let count = trainer.export_safetensors(path)?;
    println!(
        "wrote {count} tensors from {} to {}",
        located.checkpoint.display(),
        path.display()
    );
    Ok(())
}

/// `stoke import`: a thin caller of [`crate::train::import::import`].
pub fn import(file: &Path, recipe: &str, overrides: &[String], out: &Path) -> anyhow::Result<()> {
    let (config, _) = crate::config::resolve(recipe, overrides)?;
    let summary = crate::train::import::import(file, &config, out)?;
    println!(
        "imported {} tensors ({} values) from {} into {}",
        summary.tensors,
        summary.values,
        summary.file.display(),
        summary.out.display()
    );
    Ok(())
}
