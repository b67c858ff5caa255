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

/// Holds the device generator for anything else that draws from it (building a model to
/// load a checkpoint into, for one), so it cannot interleave with a training's draws.
pub fn device_generator() -> std::sync::MutexGuard<'static, ()> {
    ONE_TRAINING_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

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
    let options = TrainOptions {
        out_dir: out.to_path_buf(),
        resume,
        stop_after,
        ..Default::default()
    };
    stoke::train::train(config, resolved, &options, Vec::new())
}

/// Whether a system package a test needs is installed (`present`). When it is not, the test
/// fails if `STOKE_REQUIRE_SYSTEM_DEPS=1` (CI, which installs the packages) and otherwise
/// prints why it skips and returns false.
pub fn system_dependency(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("STOKE_REQUIRE_SYSTEM_DEPS").is_ok_and(|v| v == "1") {
        panic!("{what} is missing and STOKE_REQUIRE_SYSTEM_DEPS=1 requires it");
    }
    // Straight to the stream: the test harness captures `eprintln!` of passing tests.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {what} is not installed (CI installs it; see .ci/run)"
    );
    false
}

/// Whether `program` is on the PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A JSON array of numbers (a golden file's values) as f64.
pub fn floats(value: &serde_json::Value) -> Vec<f64> {
    let array = value.as_array().expect("a JSON array");
    array
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Runs the `stoke` binary.
pub fn stoke(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args(args)
        .output()
        .expect("running stoke")
}

/// Runs the `stoke` binary and asserts it succeeded, showing its stderr when it did not.
#[track_caller]
pub fn stoke_ok(args: &[&str]) -> Output {
    let output = stoke(args);
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Asserts that a `stoke` run was a usage error (exit code 2) whose message contains `names`
/// (the key, file or tensor it is about).
#[track_caller]
pub fn assert_usage_error(output: &Output, names: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains(names), "expected `{names}` in: {text}");
}

/// Asserts that `stoke train smoke OVERRIDES --out DIR` is a usage error naming `key` and
/// the case's own word, for each case.
#[track_caller]
pub fn assert_smoke_refuses(key: &str, cases: &[(Vec<&str>, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (overrides, says) in cases {
        let mut args = vec!["train", "smoke"];
        args.extend(overrides);
        args.extend(["--out", out.to_str().unwrap()]);
        let output = stoke(&args);
        assert_usage_error(&output, key);
        assert_usage_error(&output, says);
    }
}

/// A smoke model trained to 100% on its synthetic data, on an autodiff device, with test
/// pixels in [0, 1] and labels.
pub fn trained_smoke_classifier() -> (
    stoke::models::Classifier,
    burn::tensor::Tensor<4>,
    burn::tensor::Tensor<1, burn::tensor::Int>,
    stoke::attacks::Normalization,
) {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&[]);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    let device = burn::tensor::Device::flex().autodiff();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let test = &data.test;
    let model = config
        .model
        .build(
            [test.channels, test.height, test.width],
            data.num_classes(),
            &device,
        )
        .unwrap();
    let latest = stoke::train::checkpoint::CheckpointDir::new(dir.path()).latest();
    let model = stoke::train::checkpoint::load_model(&latest.unwrap(), model).unwrap();
    let n = 64;
    let pixels: Vec<f32> = test.pixels[..n * test.image_size()]
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    let labels: Vec<i64> = test.labels[..n].iter().map(|&l| l as i64).collect();
    let images = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(pixels, [n, test.channels, test.height, test.width]),
        &device,
    );
    let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(labels, [n]),
        &device,
    );
    let norm = stoke::attacks::Normalization {
        mean: config.dataset.mean.clone(),
        std: config.dataset.std.clone(),
    };
    (model, images, labels, norm)
}
