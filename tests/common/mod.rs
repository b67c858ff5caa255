//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use stoke::config::{RunConfig, resolve};
use stoke::train::{Summary, TrainOptions};

/// The `smoke` preset (tiny CNN, synthetic data) with overrides.
pub fn smoke(overrides: &[&str]) -> (RunConfig, toml::Table) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    resolve("smoke", &overrides).expect("smoke preset resolves")
}

/// Burn seeds a backend's generator per process, so trainings that must be reproducible run
/// one at a time.
static ONE_TRAINING_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn train(
    config: &RunConfig,
    resolved: &toml::Table,
    out: &Path,
    resume: bool,
    stop_after: Option<usize>,
) -> anyhow::Result<Summary> {
    let _guard = ONE_TRAINING_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut session = stoke::recipes::registry::build(config)?;
    let options = TrainOptions {
        out_dir: out.to_path_buf(),
        resume,
        quiet: true,
        stop_after,
    };
    session.train(config, resolved, &options)
}

/// Runs the `stoke` binary.
pub fn stoke(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args(args)
        .output()
        .expect("running stoke")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}
