//! Held-out splits, model soups and WiSE-FT interpolation: the holdout split trains on
//! nothing and selects the best checkpoint; soups average exactly, greedy soups select on
//! held-out accuracy consistently, batch-norm statistics are recomputed from the weights
//! alone; mismatched runs are errors naming the tensor; the CLI writes runs `stoke eval`
//! reads.

mod common;

use common::{stderr, stoke};
use std::path::{Path, PathBuf};
use stoke::soup::greedy::greedy_soup;
use stoke::soup::{Buffers, Scorer, load_ingredients, uniform, uniform_soup};
use stoke::train::TensorKind;

/// A base run: 4 steps, 64 of the 512 synthetic training images held out.
fn base_run(dir: &Path) -> PathBuf {
    let base = dir.join("base");
    let args = [
        "train",
        "smoke",
        "train.epochs=0",
        "train.steps=4",
        "train.eval_every=4",
        "dataset.holdout=64",
        "--quiet",
        "--out",
        base.to_str().unwrap(),
    ];
    let output = stoke(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    base
}

/// The base run and `n` runs continued from it with other learning rates: ingredients of
/// one soup.
fn ingredients(dir: &Path, n: usize) -> Vec<PathBuf> {
    let base = base_run(dir);
    (0..n)
        .map(|i| {
            let run = dir.join(format!("run-{i}"));
            copy_dir(&base, &run);
            let lr = format!("optimizer.lr={}", [0.02, 0.05, 0.1, 0.2][i % 4]);
            let run_s = run.to_str().unwrap();
            let output = stoke(&["train", "--resume", run_s, "train.steps=8", &lr, "--quiet"]);
            assert!(output.status.success(), "{}", stderr(&output));
            run
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

/// `dataset.holdout` takes its images out of training (512 - 64 = 448 left: 14 steps of 32
/// are exactly one epoch), scores them at every evaluation, and the best checkpoint is the
/// one of the best holdout accuracy (the first on a tie).
#[test]
fn the_holdout_split_trains_nothing_and_selects_the_best_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = stoke(&[
        "train",
        "smoke",
        "train.epochs=0",
        "train.steps=14",
        "train.eval_every=7",
        "dataset.holdout=64",
        "--quiet",
        "--json",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    // 14 steps x 32 images over 448 training images: exactly 1 epoch.
    assert_eq!(summary["epochs"].as_f64(), Some(1.0));
    assert!(summary.get("best_test_accuracy").is_none(), "{summary}");
    let metrics = stoke::train::metrics::read_without_timing(&run.join("metrics.jsonl")).unwrap();
    let evaluations: Vec<&serde_json::Value> = metrics
        .iter()
        .filter(|l| l.get("holdout_accuracy").is_some())
        .collect();
    assert_eq!(evaluations.len(), 2);
    let best = evaluations
        .iter()
        .max_by(|a, b| {
            let key = |l: &serde_json::Value| l["holdout_accuracy"].as_f64().unwrap();
            key(a).total_cmp(&key(b)).then(std::cmp::Ordering::Greater)
        })
        .unwrap();
    assert_eq!(summary["best_step"], best["step"]);
    assert_eq!(summary["best_holdout_accuracy"], best["holdout_accuracy"]);
}

/// A uniform soup's parameters are the ingredients' mean bit for bit; with averaged
/// statistics so are its buffers. Recomputed statistics depend only on the weights (the
/// soup's stored statistics do not enter), and variances come out positive.
#[test]
fn uniform_soups_average_exactly_and_recompute_statistics_from_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let runs = ingredients(dir.path(), 3);
    let _generator = common::device_generator();
    let loaded = load_ingredients(&runs).unwrap();
    let mean = uniform(&loaded).unwrap();
    let averaged = uniform_soup(&runs, Buffers::Average, &dir.path().join("avg")).unwrap();
    let soup_weights = |out: &Path| {
        let config = stoke::train::run_dir::load_run_config(out, &[]).unwrap().0;
        let latest = stoke::train::checkpoint::CheckpointDir::new(out)
            .latest()
            .unwrap();
        let device = stoke::device::parse(&config.device).unwrap();
        stoke::Trainer::from_checkpoint(&config, &latest, &device)
            .unwrap()
            .weights()
    };
    assert!(soup_weights(&averaged.out) == mean);
    let recomputed = uniform_soup(&runs, Buffers::default(), &dir.path().join("bn")).unwrap();
    let stored = soup_weights(&recomputed.out);
    assert!(stored.only(TensorKind::Parameter) == mean.only(TensorKind::Parameter));
    assert!(stored.only(TensorKind::Buffer) != mean.only(TensorKind::Buffer));
    // Garbage statistics in, the same statistics out.
    let scorer = Scorer::new(&loaded[0].config, Buffers::default()).unwrap();
    let mut garbage = mean.clone();
    for name in garbage.names().map(str::to_string).collect::<Vec<_>>() {
        if name.ends_with("running_var") || name.ends_with("running_mean") {
            garbage.values_mut(&name).unwrap().fill(123.0);
        }
    }
    let (from_garbage, _) = scorer.score(&garbage).unwrap();
    assert!(from_garbage == stored);
    // Statistics come from clean batches: a config that trains with MixUp gives the same.
    let mut mixing = loaded[0].config.clone();
    mixing
        .recipe
        .options
        .insert("mixup".into(), toml::Value::Float(0.4));
    let (with_mixup, _) = Scorer::new(&mixing, Buffers::default())
        .unwrap()
        .score(&garbage)
        .unwrap();
    assert!(with_mixup == stored);
    let vars = from_garbage
        .iter()
        .filter(|(n, _)| n.ends_with("running_var"));
    assert!(vars.flat_map(|(_, t)| &t.values).all(|&v| v > 0.0));
}

/// The greedy soup starts from the best held-out ingredient, keeps only what raises the
/// held-out accuracy, and its final score is the last kept trial's (statistics are a pure
/// function of the weights, so rescoring gives the same number).
#[test]
fn greedy_soups_select_on_held_out_accuracy_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let runs = ingredients(dir.path(), 4);
    let _generator = common::device_generator();
    let summary = greedy_soup(&runs, Buffers::default(), true, &dir.path().join("greedy")).unwrap();
    let alone: Vec<f64> = summary
        .soup
        .ingredients
        .iter()
        .map(|i| i.scores.holdout_accuracy.unwrap())
        .collect();
    let best = alone.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(summary.trials[0].accuracy, best);
    assert_eq!(summary.soup.kept[0], runs[summary.trials[0].ingredient]);
    let mut level = best;
    for trial in &summary.trials[1..] {
        assert_eq!(trial.kept, trial.accuracy > level, "{trial:?}");
        if trial.kept {
            level = trial.accuracy;
        }
    }
    assert_eq!(summary.soup.scores.holdout_accuracy, Some(level));
    assert_eq!(
        summary.soup.kept.len(),
        summary.trials.iter().filter(|t| t.kept).count()
    );
}

/// Runs of different widths cannot be averaged: the error names the tensor; a greedy soup
/// of runs without held-out images is refused, naming `dataset.holdout`; `stoke eval` reads
/// a soup; `stoke interpolate` writes its curve.
#[test]
fn the_cli_writes_soups_and_curves_and_refuses_what_cannot_be_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let runs = ingredients(dir.path(), 2);
    let wide = dir.path().join("wide");
    let output = stoke(&[
        "train",
        "smoke",
        "train.epochs=0",
        "train.steps=2",
        "model.widths=[8,32]",
        "--quiet",
        "--out",
        wide.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let out = dir.path().join("soup");
    let output = stoke(&[
        "soup",
        "uniform",
        &path(&runs[0]),
        &path(&wide),
        "--out",
        &path(&out),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("convs.1"), "{}", stderr(&output));
    let plain = dir.path().join("plain");
    let output = stoke(&[
        "train",
        "smoke",
        "train.epochs=0",
        "train.steps=2",
        "--quiet",
        "--out",
        &path(&plain),
    ]);
    assert!(output.status.success());
    let output = stoke(&[
        "soup",
        "greedy",
        &path(&plain),
        &path(&plain),
        "--out",
        &path(&out),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("dataset.holdout"),
        "{}",
        stderr(&output)
    );
    let output = stoke(&[
        "soup",
        "greedy",
        &path(&runs[0]),
        &path(&runs[1]),
        "--out",
        &path(&out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = stoke(&["eval", &path(&out)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let curve = dir.path().join("curve");
    let output = stoke(&[
        "interpolate",
        &path(&runs[0]),
        &path(&runs[1]),
        "--alpha",
        "0,0.5,1",
        "--out",
        &path(&curve),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let points: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(curve.join("interpolation.json")).unwrap()).unwrap();
    assert_eq!(points.len(), 3);
    assert!(curve.join("interpolation.svg").is_file());
    let output = stoke(&[
        "interpolate",
        &path(&runs[0]),
        &path(&runs[1]),
        "--alpha",
        "0,x",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--alpha"), "{}", stderr(&output));
}

/// `stoke sweep` fine-tunes every grid point from the run's weights (`train.init_from`): at a
/// learning rate of 1e-30 one step cannot move a parameter (the update is far below an f32
/// ulp of any weight here, so the parameters are the base run's bit for bit) while each
/// seed's batch sets other batch-norm statistics; points run as separate processes
/// (`--jobs 2`) equal those run in this process bit for bit, and a finished sweep reruns as
/// a no-op.
#[test]
fn sweeps_fine_tune_every_grid_point_from_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_run(dir.path());
    let sweep = |out: &Path, jobs: &str| {
        let output = stoke(&[
            "sweep",
            "smoke",
            "train.epochs=0",
            "train.steps=1",
            "optimizer.lr=1e-30",
            "optimizer.momentum=0",
            "schedule.name=\"constant\"",
            "--from",
            base.to_str().unwrap(),
            "--grid",
            "seed=1,2",
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            jobs,
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        common::stdout(&output)
            .lines()
            .map(PathBuf::from)
            .collect::<Vec<_>>()
    };
    let here = dir.path().join("here");
    let points = sweep(&here, "1");
    assert_eq!(points, vec![here.join("point-00"), here.join("point-01")]);
    let _generator = common::device_generator();
    let weights = |runs: &[PathBuf]| -> Vec<stoke::Weights> {
        load_ingredients(runs)
            .unwrap()
            .into_iter()
            .map(|i| i.weights)
            .collect()
    };
    let base_weights = weights(std::slice::from_ref(&base)).remove(0);
    let tuned = weights(&[here.join("point-00"), here.join("point-01")]);
    for point in &tuned {
        assert!(point.only(TensorKind::Parameter) == base_weights.only(TensorKind::Parameter));
    }
    assert!(tuned[0].only(TensorKind::Buffer) != tuned[1].only(TensorKind::Buffer));
    drop(_generator);
    let apart = dir.path().join("apart");
    assert_eq!(
        sweep(&apart, "2"),
        vec![apart.join("point-00"), apart.join("point-01")]
    );
    let _generator = common::device_generator();
    assert!(weights(&[apart.join("point-00"), apart.join("point-01")]) == tuned);
    drop(_generator);
    // Finished: nothing trains again.
    let before = std::fs::metadata(here.join("point-00/summary.json"))
        .unwrap()
        .modified()
        .unwrap();
    sweep(&here, "1");
    let after = std::fs::metadata(here.join("point-00/summary.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

/// Running batches through for statistics leaves training as it was: after
/// `forward_training_batches(3)` four steps train on the same batches as without it (the
/// parameters agree bit for bit; only the running statistics moved), and a Trainer whose
/// step budget the statistics batches would exceed still trains to its end.
#[test]
fn statistics_batches_leave_the_training_stream_and_step_alone() {
    let (config, _) = common::smoke(&["train.epochs=0", "train.steps=4", "model.dropout=0.3"]);
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let build = || {
        stoke::Trainer::build(
            &config,
            &device,
            Some(data.clone()),
            stoke::train::Setup::default(),
        )
        .unwrap()
    };
    let mut plain = build();
    plain.run_steps(4).unwrap();
    let mut probed = build();
    probed.forward_training_batches(3).unwrap();
    assert_eq!(probed.completed_steps(), 0);
    let before = probed.weights();
    probed.run_steps(4).unwrap();
    assert!(
        probed.weights().only(TensorKind::Parameter) == plain.weights().only(TensorKind::Parameter)
    );
    assert!(before.only(TensorKind::Buffer) != build().weights().only(TensorKind::Buffer));
}
