//! Learning rates in real runs: per-step logging, refined schedules from a previous run's
//! gradient norms (`schedule.name = "file"`), and batch-size scaling.

mod common;

use common::{smoke, train};
use stoke::train::refine::{Norm, Smoothing, refine_run};

fn step_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("grad_l2").is_some())
        .collect()
}

#[test]
fn every_step_is_logged_and_a_refined_schedule_drives_the_next_run() {
    let first = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&[]);
    train(&config, &resolved, first.path(), false, None).unwrap();
    let lines = step_lines(first.path());
    assert_eq!(lines.len(), 48);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["step"], i + 1);
        assert_eq!(line["batch_size"], 32);
        assert!(line["grad_l1"].as_f64().unwrap() > line["grad_l2"].as_f64().unwrap());
    }

    // SGD: l2 norms by default; the schedule is stretched to a 96-step run.
    let schedule = refine_run(first.path(), None, Some(96), Smoothing::default()).unwrap();
    assert_eq!(schedule.norm, Norm::L2);
    assert_eq!(schedule.lr_factors.len(), 96);
    assert_eq!(*schedule.lr_factors.last().unwrap(), 0.0);
    let peak = schedule.lr_factors.iter().copied().fold(0.0, f64::max);
    assert!((peak - 1.0).abs() < 1e-12);
    let path = first.path().join("schedule.json");
    std::fs::write(&path, serde_json::to_string(&schedule).unwrap()).unwrap();

    let second = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&[
        "train.epochs=6",
        "schedule.name=file",
        &format!("schedule.path={}", path.display()),
    ]);
    train(&config, &resolved, second.path(), false, None).unwrap();
    let lines = step_lines(second.path());
    assert_eq!(lines.len(), 96);
    for (line, factor) in lines.iter().zip(&schedule.lr_factors) {
        let lr = line["lr"].as_f64().unwrap();
        assert!(
            (lr - 0.05 * factor).abs() < 1e-12,
            "{lr} vs {}",
            0.05 * factor
        );
    }
}

#[test]
fn bad_schedule_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&["schedule.name=file"]);
    let err = train(&config, &resolved, dir.path(), false, None).unwrap_err();
    assert!(err.to_string().contains("schedule.path"), "{err}");

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"lr_factors\": [1.0, -2.0], \"norm\": \"l2\", \"source\": \"x\"}",
    )
    .unwrap();
    let (config, resolved) = smoke(&[
        "schedule.name=file",
        &format!("schedule.path={}", bad.display()),
    ]);
    let err = train(&config, &resolved, &dir.path().join("run"), false, None).unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");

    let err = refine_run(dir.path(), None, None, Smoothing::default()).unwrap_err();
    assert!(err.to_string().contains("config.toml"), "{err}");
}

#[test]
fn learning_rate_scales_with_batch_size_against_the_reference() {
    // SGD-family default: linear. Batch 32 against a reference of 16 doubles the rate.
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&[
        "optimizer.reference_batch_size=16",
        "schedule.name=constant",
    ]);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    assert!(step_lines(dir.path()).iter().all(|l| l["lr"] == 0.1));

    // Adam-family default: square root.
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&[
        "optimizer.name=adamp",
        "optimizer.lr=0.01",
        "optimizer.reference_batch_size=8",
        "schedule.name=constant",
    ]);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    assert!(step_lines(dir.path()).iter().all(|l| l["lr"] == 0.02));
}
