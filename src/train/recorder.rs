//! The run directory as an observer: `metrics.jsonl` (a line per step, per logging window,
//! per evaluation), checkpoints at their cadence and on interruption, and `summary.json` at
//! the end. What `stoke train` attaches to its Trainer on rank 0.

use super::checkpoint::CheckpointDir;
use super::config_change::Change;
use super::metrics::MetricsLog;
use super::observer::{Event, Observer, TrainerAccess};
use crate::atomic::write_atomic;
use crate::usage_error;
use std::path::{Path, PathBuf};

pub struct RunRecorder {
    dir: PathBuf,
    checkpoints: CheckpointDir,
    metrics: MetricsLog,
    keep_last: usize,
    /// A resumed run's new config and what it changed, written once training goes on.
    config_change: Option<(toml::Table, Vec<Change>)>,
}

pub use super::config_change::CONFIG_HISTORY_FILE;

impl RunRecorder {
    /// A new run directory holding `resolved` as config.toml; refuses one that holds a run.
    pub fn create(dir: &Path, resolved: &toml::Table, keep_last: usize) -> anyhow::Result<Self> {
        if dir.join("checkpoints").exists() || dir.join("metrics.jsonl").exists() {
            return Err(usage_error!(
                "{} already holds a run; continue it with --resume {0}, or choose another --out",
                dir.display()
            ));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(usage_error!(
                "--out {}: a file is there; a run needs a directory",
                dir.display()
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            usage_error!("--out {}: cannot create the directory: {e}", dir.display())
        })?;
        write_atomic(
            &dir.join("config.toml"),
            toml::to_string_pretty(resolved)?.as_bytes(),
        )?;
        Self::reopen(dir, 0, keep_last)
    }

    /// An existing run directory continued from step `step` (later metrics lines are dropped).
    pub fn reopen(dir: &Path, step: usize, keep_last: usize) -> anyhow::Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            checkpoints: CheckpointDir::new(dir),
            metrics: MetricsLog::open(dir, step)?,
            keep_last,
            config_change: None,
        })
    }

    /// Makes `resolved` the run's config.toml when training resumes, with `changes` appended
    /// to config_history.jsonl (a run resumed only to find it complete changes nothing).
    pub fn with_config_change(mut self, resolved: toml::Table, changes: Vec<Change>) -> Self {
        if !changes.is_empty() {
            self.config_change = Some((resolved, changes));
        }
        self
    }

    fn write_config_change(&mut self, step: usize) -> anyhow::Result<()> {
        match self.config_change.take() {
            Some((resolved, changes)) => {
                super::config_change::record(&self.dir, step, &resolved, &changes)
            }
            None => Ok(()),
        }
    }
}

impl Observer for RunRecorder {
    fn on_event(
        &mut self,
        event: &Event<'_>,
        trainer: &mut dyn TrainerAccess,
    ) -> anyhow::Result<()> {
        match event {
            Event::Started { step, .. } => self.write_config_change(*step),
            Event::Step(report) => self.metrics.write(&report.to_json()),
            Event::Log(log) => self.metrics.write(&log.to_json()),
            Event::Evaluation(eval) => self.metrics.write(&eval.record),
            Event::CollapseStop(stop) => self.metrics.write(&stop.to_json()),
            Event::StepEnd {
                checkpoint_due,
                best,
                ..
            } if *checkpoint_due || *best => {
                trainer.save_checkpoint(&self.checkpoints, *best, self.keep_last)?;
                Ok(())
            }
            Event::Interrupted { .. } | Event::NonFinite { .. } => {
                trainer.save_checkpoint(&self.checkpoints, false, self.keep_last)?;
                Ok(())
            }
            Event::Finished(summary) => write_atomic(
                &self.dir.join("summary.json"),
                serde_json::to_string_pretty(summary)?.as_bytes(),
            ),
            _ => Ok(()),
        }
    }
}
