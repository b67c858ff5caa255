//! `metrics.jsonl`: one JSON object per line, appended and flushed as training goes. On resume
//! the lines after the checkpoint's step are dropped, so the file reads as if the run had
//! never stopped.

use anyhow::Context;
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Fields that measure the machine, not the training; they differ between identical runs.
pub const TIMING_FIELDS: [&str; 4] = [
    "images_per_second",
    "wall_seconds",
    "attack_wait_ms",
    "rule_seconds",
];

pub struct MetricsLog {
    path: PathBuf,
    /// None on data-parallel ranks other than 0, which log nothing.
    file: Option<File>,
}

impl MetricsLog {
    /// Opens `metrics.jsonl` in `run_dir`, keeping only lines with `step <= keep_through`.
    pub fn open(run_dir: &Path, keep_through: usize) -> anyhow::Result<Self> {
        let path = run_dir.join("metrics.jsonl");
        let kept = match File::open(&path) {
            Ok(file) => {
                let mut kept = String::new();
                for line in BufReader::new(file).lines() {
                    let line = line.with_context(|| format!("reading {}", path.display()))?;
                    let step = serde_json::from_str::<Value>(&line)
                        .ok()
                        .and_then(|v| v.get("step").and_then(Value::as_u64));
                    if step.is_some_and(|s| s as usize <= keep_through) {
                        kept.push_str(&line);
                        kept.push('\n');
                    }
                }
                kept
            }
            Err(_) => String::new(),
        };
        crate::atomic::write_atomic(&path, kept.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    /// A log that drops every record.
    pub fn discard() -> Self {
        Self {
            path: PathBuf::new(),
            file: None,
        }
    }

    pub fn write(&mut self, record: &Value) -> anyhow::Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        writeln!(file, "{record}")
            .and_then(|_| file.flush())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Reads a metrics file with the timing fields removed (for comparing runs).
pub fn read_without_timing(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line)?;
            if let Some(object) = value.as_object_mut() {
                for field in TIMING_FIELDS {
                    object.remove(field);
                }
            }
            Ok(value)
        })
        .collect()
}
