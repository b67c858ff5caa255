//! Finding a run's config and checkpoint from what the user points at.

use crate::config::{RunConfig, resolve_str};
use crate::train::checkpoint::{CheckpointDir, MODEL_FILE};
use crate::train::metrics::MetricsLog;
use crate::usage_error;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// A run directory's config (with `overrides` applied) and the checkpoint to use.
pub struct Located {
    pub config: RunConfig,
    pub checkpoint: PathBuf,
}

/// Accepts a run directory (uses its latest, or best, checkpoint) or a checkpoint directory
/// inside one.
pub fn locate(target: &Path, best: bool, overrides: &[String]) -> anyhow::Result<Located> {
    let (run_dir, checkpoint) = if target.join("config.toml").is_file() {
        let checkpoints = CheckpointDir::new(target);
        let checkpoint = if best {
            checkpoints.best().ok_or_else(|| {
                usage_error!(
                    "{} has no best checkpoint (no evaluation ran)",
                    target.display()
                )
            })?
        } else {
            checkpoints.latest()?
        };
        (target.to_path_buf(), checkpoint)
    } else if target.join(MODEL_FILE).is_file() {
        let run_dir = target
            .parent()
            .and_then(Path::parent)
            .filter(|dir| dir.join("config.toml").is_file())
            .ok_or_else(|| {
                usage_error!(
                    "{}: a checkpoint outside a run directory (no ../../config.toml)",
                    target.display()
                )
            })?;
        (run_dir.to_path_buf(), target.to_path_buf())
    } else {
        return Err(usage_error!(
            "{} is neither a run directory (with config.toml) nor a checkpoint directory (with {MODEL_FILE})",
            target.display()
        ));
    };
    let (config, _) = load_run_config(&run_dir, overrides)?;
    Ok(Located { config, checkpoint })
}

/// The saved config of a run directory, with overrides.
pub fn load_run_config(
    run_dir: &Path,
    overrides: &[String],
) -> anyhow::Result<(RunConfig, toml::Table)> {
    let path = run_dir.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(|e| usage_error!("{e:#}: is {} a stoke run directory?", run_dir.display()))?;
    resolve_str(&text, &path.display().to_string(), overrides)
}

/// Checks that a command may write `path`: not a directory, not one of the own files of a run
/// directory in `protected` (config, metrics, summary, checkpoints), whatever `force` says
/// (exporting onto a run's checkpoint or config would lose the run), and not an existing
/// file unless `force`.
pub fn check_output(path: &Path, force: bool, protected: &[&Path]) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(usage_error!(
            "{} is a directory; give a file name",
            path.display()
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(usage_error!(
            "{}: the directory {} does not exist",
            path.display(),
            parent.display()
        ));
    }
    if !path.exists() {
        return Ok(());
    }
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    for run in protected {
        let run = run.canonicalize().unwrap_or_else(|_| run.to_path_buf());
        let own = [
            "config.toml",
            "metrics.jsonl",
            "summary.json",
            "config_history.jsonl",
        ]
        .iter()
        .any(|file| canonical == run.join(file))
            || canonical.starts_with(run.join("checkpoints"));
        if own {
            return Err(usage_error!(
                "{} belongs to the run directory {}; stoke never writes over a run's own \
                 files, choose another path",
                path.display(),
                run.display()
            ));
        }
    }
    if !force {
        return Err(usage_error!(
            "{} exists; pass --force to overwrite it",
            path.display()
        ));
    }
    Ok(())
}

/// The run directory of a checkpoint directory (`RUN/checkpoints/step-N`).
pub fn run_of_checkpoint(checkpoint: &Path) -> Option<&Path> {
    checkpoint.parent().and_then(Path::parent)
}

/// The metrics log of a new driver run (federated, Byzantine, gossip) on this rank: rank 0
/// (`leader`) creates the run directory holding `resolved`, refusing one that holds a run;
/// the other ranks log nothing.
pub fn create_driver_run(
    dir: &Path,
    resolved: &toml::Table,
    leader: bool,
) -> anyhow::Result<MetricsLog> {
    if !leader {
        return Ok(MetricsLog::discard());
    }
    if dir.join("metrics.jsonl").exists() {
        return Err(usage_error!(
            "{} already holds a run; choose another --out",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| usage_error!("--out {}: cannot create the directory: {e}", dir.display()))?;
    crate::atomic::write_atomic(
        &dir.join("config.toml"),
        toml::to_string_pretty(resolved)?.as_bytes(),
    )?;
    MetricsLog::open(dir, 0)
}

/// The metrics log of a driver run resumed after `done` steps or rounds: rank 0 records
/// the config's `changes` and keeps the metrics lines through `done`; the others log
/// nothing.
pub fn resume_driver_run(
    dir: &Path,
    done: usize,
    resolved: &toml::Table,
    changes: &[super::config_change::Change],
    leader: bool,
) -> anyhow::Result<MetricsLog> {
    if !leader {
        return Ok(MetricsLog::discard());
    }
    super::config_change::record(dir, done, resolved, changes)?;
    MetricsLog::open(dir, done)
}
