//! Never lose a run: a non-finite step is never applied (stop with a checkpoint of the step
//! before, or skip the batch), a resumed run may change its hyper-parameters but not its
//! shapes, and a finished run resumed again changes nothing.

mod common;

use common::{smoke, stderr, stoke};
use std::collections::BTreeMap;
use std::path::Path;
use stoke::train::NonFinite;
use stoke::{Trainer, Weights};

fn trainer(overrides: &[&str]) -> Trainer {
    let (config, _) = smoke(overrides);
    let device = stoke::device::parse(&config.device).unwrap();
    Trainer::new(&config, &device).unwrap()
}

fn same_weights(a: &Weights, b: &Weights) -> bool {
    a.names().eq(b.names())
        && a.names()
            .all(|n| a.get(n).unwrap().values == b.get(n).unwrap().values)
}

/// lr = 1e25 makes the first update finite but huge and the second step's loss NaN: the
/// failing step is numbered as metrics.jsonl numbers it and leaves the weights of step 1.
#[test]
fn a_non_finite_loss_is_not_applied() {
    let _generator = common::device_generator();
    let mut trainer = trainer(&["optimizer.lr=1e25", "train.steps=5"]);
    trainer.step().unwrap();
    let after_first = trainer.weights();
    let error = trainer.step().unwrap_err();
    let failure = error
        .downcast_ref::<NonFinite>()
        .expect("a NonFinite error");
    assert_eq!((failure.what, failure.step), ("loss", 2));
    assert_eq!(trainer.completed_steps(), 1);
    assert!(same_weights(&trainer.weights(), &after_first));
}

/// Gradients that are finite (norm ~4e16) with lr = 1e30 give infinite weights: only the check
/// of the new weights catches it, and the model and optimizer keep the state before.
#[test]
fn an_update_to_infinite_weights_is_not_applied() {
    let _generator = common::device_generator();
    let mut trainer = trainer(&[
        "optimizer.lr=1e30",
        "optimizer.momentum=0.9",
        "train.steps=5",
    ]);
    let before = trainer.weights();
    let (mut gradients, _) = trainer.gradients().unwrap();
    for name in gradients.names().map(str::to_string).collect::<Vec<_>>() {
        let values = gradients.values_mut(&name).unwrap();
        values.iter_mut().for_each(|v| *v = 1e15);
    }
    let error = trainer.apply_gradients(&gradients).unwrap_err();
    let failure = error
        .downcast_ref::<NonFinite>()
        .expect("a NonFinite error");
    assert_eq!((failure.what, failure.step), ("updated weights", 1));
    assert_eq!(trainer.completed_steps(), 0);
    assert!(same_weights(&trainer.weights(), &before));
    // The optimizer kept nothing of it: with a momentum buffer of 1e15 left behind, zero
    // gradients would move the weights by lr * 0.9 * 1e15; from a clean state they move none.
    let zeros = gradients.scale(0.0);
    trainer.apply_gradients(&zeros).unwrap();
    assert!(same_weights(&trainer.weights(), &before));
}

fn hashes(dir: &Path) -> BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&entry).unwrap().hash(&mut hasher);
        out.insert(entry.display().to_string(), hasher.finish());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        match path.is_dir() {
            true => files.extend(walk(&path)),
            false => files.push(path),
        }
    }
    files.sort();
    files
}

/// `stoke train` stops on a non-finite step with exit 1 and a checkpoint of the last applied
/// step that `stoke eval` scores; `--resume` with a corrected schedule continues, recording
/// the change; `skip` trains through, counting what it dropped. The trigger is a schedule
/// file whose factor at step 2 is 1e300: the learning rate overflows f32 and the update
/// turns the weights infinite, which only the check of the new weights sees.
#[test]
fn the_cli_checkpoints_before_a_nan_and_resumes_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut factors = vec![1.0; 12];
    factors[1] = 1e300;
    let schedule = dir.path().join("spike.json");
    let file = serde_json::json!({ "source": "test", "norm": "l2", "lr_factors": factors });
    std::fs::write(&schedule, file.to_string()).unwrap();
    let schedule_path = format!("schedule.path=\"{}\"", schedule.display());
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let output = stoke(&[
        "train",
        "smoke",
        "--out",
        run_s,
        "train.steps=12",
        "schedule.name=file",
        &schedule_path,
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("updated weights were not finite at step 2")
            && message.contains("step-00000001"),
        "{message}"
    );
    let eval = stoke(&["eval", run_s, "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let scores: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(
        scores["test_loss"].as_f64().unwrap().is_finite(),
        "{scores}"
    );

    let resumed = stoke(&[
        "train",
        "--resume",
        run_s,
        "schedule.name=cosine",
        "--quiet",
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let history = std::fs::read_to_string(run.join("config_history.jsonl")).unwrap();
    assert!(
        history.contains("schedule.name") && history.contains("\"step\":1"),
        "{history}"
    );
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("name = \"cosine\""), "{config}");

    let skipping = dir.path().join("skip");
    let output = stoke(&[
        "train",
        "smoke",
        "--out",
        skipping.to_str().unwrap(),
        "train.steps=12",
        "schedule.name=file",
        &schedule_path,
        "train.on_nonfinite=skip",
        "--quiet",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["skipped_steps"], 1, "{summary}");
    assert!(
        summary["test_loss"].as_f64().unwrap().is_finite(),
        "{summary}"
    );
    let metrics = std::fs::read_to_string(skipping.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.matches("\"skipped\":true").count(), 1);
}

/// A resumed run refuses changes of shapes or data (naming the key, writing nothing), and a
/// finished run resumed without a longer budget says so and changes no file.
#[test]
fn resume_takes_hyper_parameters_only_and_leaves_a_finished_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let output = stoke(&["train", "smoke", "--out", run_s, "train.steps=6", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = hashes(&run);
    for (key, value) in [
        ("model.widths", "[4,4]"),
        ("dataset.image_size", "[8,8]"),
        ("data.batch_size", "16"),
        ("optimizer.name", "adam"),
    ] {
        let assignment = format!("{key}={value}");
        let output = stoke(&["train", "--resume", run_s, &assignment]);
        assert_eq!(output.status.code(), Some(2), "{key}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(&format!("`{key}`")),
            "{}",
            stderr(&output)
        );
        assert_eq!(hashes(&run), before, "{key} changed a file");
    }
    for extra in [&[][..], &["optimizer.lr=0.01"][..]] {
        let mut args = vec!["train", "--resume", run_s];
        args.extend_from_slice(extra);
        let output = stoke(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("already complete"),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            hashes(&run),
            before,
            "resuming a finished run changed a file"
        );
    }
    let longer = stoke(&[
        "train",
        "--resume",
        run_s,
        "train.steps=8",
        "--json",
        "--quiet",
    ]);
    assert!(longer.status.success(), "{}", stderr(&longer));
    let summary: serde_json::Value = serde_json::from_slice(&longer.stdout).unwrap();
    assert_eq!(summary["steps"], 8);
}

/// A resumable run of `steps` steps with a complete checkpoint at its end, in `dir/run`.
fn finished_run(dir: &Path, steps: usize) -> std::path::PathBuf {
    let run = dir.join("run");
    let steps = format!("train.steps={steps}");
    let output = stoke(&[
        "train",
        "smoke",
        "--out",
        run.to_str().unwrap(),
        &steps,
        "--quiet",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    run
}

/// The latest checkpoint loads (verified against its manifest) and is the one of `step`.
fn latest_is_complete(run: &Path, step: usize) {
    let latest = stoke::train::checkpoint::CheckpointDir::new(run)
        .latest()
        .unwrap();
    assert!(
        latest.ends_with(format!("step-{step:08}")),
        "{}",
        latest.display()
    );
    let eval = stoke(&["eval", run.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", stderr(&eval));
}

/// A full disk while a checkpoint is written (fault injection: ENOSPC before its manifest)
/// ends the run with exit 1 naming the file, and the previous checkpoint stays the latest.
#[test]
fn a_full_disk_during_a_checkpoint_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = finished_run(dir.path(), 4);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args([
            "train",
            "--resume",
            run.to_str().unwrap(),
            "train.steps=8",
            "--quiet",
        ])
        .env("STOKE_FAULT", "checkpoint:full")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("manifest.json") && message.contains("No space left"),
        "{message}"
    );
    latest_is_complete(&run, 4);
}

/// A second Ctrl-C while the interrupt's checkpoint is being written (stalled by fault
/// injection) quits at once; the half-written checkpoint is never published, the previous
/// one stays the latest and the run resumes from it.
#[test]
fn a_second_signal_during_a_checkpoint_write_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = finished_run(dir.path(), 4);
    let metrics = run.join("metrics.jsonl");
    let before = std::fs::metadata(&metrics).unwrap().len();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args([
            "train",
            "--resume",
            run.to_str().unwrap(),
            "train.steps=1000000",
        ])
        .args(["train.checkpoint_every=1000000", "--quiet"])
        .env("STOKE_FAULT", "checkpoint:stall=5000")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&metrics).unwrap().len() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no training after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let interrupt = || {
        let kill = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    };
    interrupt();
    // The checkpoint starts after the current step and stalls for 5 s before its manifest.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    interrupt();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("second interrupt"),
        "{}",
        stderr(&output)
    );
    latest_is_complete(&run, 4);
    let resumed = stoke(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "train.steps=6",
        "--quiet",
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    latest_is_complete(&run, 6);
}
