//! One-shot NAS on the cell space: the `supernet` recipe trains one architecture alone
//! (only its operations' weights move) or the supernet on uniformly drawn architectures
//! (every operation of every edge trains) or by PA&DA's importance sampling (distributions
//! as the official code makes them, resumed exactly); `stoke nas rank` scores every
//! architecture with inherited weights against stand-alone runs; bad keys name themselves.

mod common;

use common::{assert_usage_error, stderr, stdout, stoke, train};
use serde_json::Value;
use std::path::Path;
use stoke::train::metrics::read_without_timing;
use stoke::train::{Setup, TensorKind, Weights};

/// The edge-operation tensors of the supernet's weights that differ between `a` and `b`,
/// as (edge, operation) pairs.
fn moved(a: &Weights, b: &Weights) -> std::collections::BTreeSet<(usize, String)> {
    a.iter()
        .filter(|(name, t)| b.get(name).map(|u| u.values != t.values).unwrap_or(false))
        .filter_map(|(name, _)| {
            let rest = name.split(".edges.").nth(1)?;
            let mut parts = rest.split('.');
            let edge: usize = parts.next()?.parse().ok()?;
            Some((edge, parts.next()?.to_string()))
        })
        .collect()
}

fn trained(overrides: &[&str]) -> (Weights, Weights) {
    let mut all = vec![
        "dataset.train_size=256",
        "dataset.test_size=100",
        "train.epochs=0",
        "train.steps=6",
        "data.batch_size=32",
    ];
    all.extend(overrides);
    let overrides: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    let (config, _) = stoke::config::resolve("supernet-fashion-mnist", &overrides).unwrap();
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let mut trainer = stoke::Trainer::build(&config, &device, None, Setup::default()).unwrap();
    let before = trainer.weights();
    trainer.run_steps(6).unwrap();
    (before, trainer.weights())
}

#[test]
fn a_fixed_architecture_trains_only_its_operations() {
    // Architecture 5: conv3x3 on edge 0, conv1x1 on edge 1, pooling (no weights) on edge 2.
    let (before, after) = trained(&["recipe.architecture=5"]);
    let expected: std::collections::BTreeSet<(usize, String)> =
        [(0, "conv3x3".to_string()), (1, "conv1x1".to_string())].into();
    assert_eq!(moved(&before, &after), expected);
    // Parameters outside the cells (stem, head) train too.
    let outside = |w: &Weights| {
        w.only(TensorKind::Parameter)
            .iter()
            .filter(|(n, _)| !n.contains(".edges."))
            .map(|(_, t)| t.values.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(outside(&before), outside(&after));
}

/// The supernet trains, step by step, the architectures drawn for the run's seed: the
/// operations whose weights moved are exactly the convolutions of those 6 paths, and the
/// paths differ from step to step.
#[test]
fn the_supernet_trains_the_drawn_paths() {
    let (before, after) = trained(&[]);
    let paths: Vec<[usize; 3]> = (0..6)
        .map(|step| stoke::recipes::supernet::uniform_path(0, step))
        .collect();
    let names = ["conv3x3", "conv1x1"];
    let expected: std::collections::BTreeSet<(usize, String)> = paths
        .iter()
        .flat_map(|p| {
            (0..3)
                .filter(|&e| p[e] < 2)
                .map(move |e| (e, names[p[e]].to_string()))
        })
        .collect();
    assert_eq!(moved(&before, &after), expected);
    assert!(paths.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn bad_supernet_keys_are_usage_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (key, named) in [
        ("recipe.architecture=27", "recipe.architecture"),
        (
            "recipe.data_sampling=\"importance\" recipe.architecture=1",
            "recipe.data_sampling",
        ),
        ("model.channels=0", "model.channels"),
    ] {
        let mut args = vec!["train", "supernet-fashion-mnist"];
        args.extend(key.split(' '));
        args.extend(["--out", out.to_str().unwrap()]);
        let output = stoke(&args);
        assert_usage_error(&output, named);
    }
    // The recipe needs the supernet model.
    let output = stoke(&[
        "train",
        "smoke",
        "recipe.name=\"supernet\"",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_usage_error(&output, "cell_supernet");
}

/// 192 training images (64 held out) in batches of 32: 6 steps an epoch, 3 epochs.
const TINY: [&str; 8] = [
    "dataset.train_size=256",
    "dataset.holdout=64",
    "dataset.test_size=100",
    "data.batch_size=32",
    "model.channels=4",
    "train.epochs=3",
    "train.log_every=100",
    "train.eval_every=0",
];

fn tiny(overrides: &[&str]) -> (stoke::config::RunConfig, toml::Table) {
    let all: Vec<String> = TINY
        .iter()
        .chain(overrides)
        .map(|s| s.to_string())
        .collect();
    stoke::config::resolve("supernet-fashion-mnist", &all).unwrap()
}

fn lines_with(dir: &Path, field: &str) -> Vec<Value> {
    read_without_timing(&dir.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|l| l.get(field).is_some())
        .collect()
}

const PADA: [&str; 2] = [
    "recipe.path_sampling=\"importance\"",
    "recipe.data_sampling=\"importance\"",
];

/// At each epoch's end PA&DA logs its path distribution and the epoch's gradient variance.
/// Pooling has no weights, so its importance is 0 and its probability after epoch e (of E)
/// is exactly the uniform part, (1 - e/E) / 3, as in the official code; the others share
/// the rest. A run stopped mid-epoch (importances, data scores and variance sums half
/// gathered) and resumed writes the same metrics as one that never stopped.
#[test]
fn pada_distributions_follow_the_official_update_and_resume_exactly() {
    let mut overrides = PADA.to_vec();
    overrides.push("train.checkpoint_every=5");
    let (config, resolved) = tiny(&overrides);
    let full = tempfile::tempdir().unwrap();
    train(&config, &resolved, full.path(), false, None).unwrap();
    let ends = lines_with(full.path(), "p_avg_pool3x3");
    let steps: Vec<u64> = ends.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [6, 12, 18]);
    for (epoch, line) in ends.iter().enumerate() {
        let p = |name: &str| line[name].as_f64().unwrap();
        let pool = (1.0 - epoch as f64 / 3.0) / 3.0;
        assert!((p("p_avg_pool3x3") - pool).abs() < 1e-12, "{line}");
        let total = p("p_conv3x3") + p("p_conv1x1") + p("p_avg_pool3x3");
        assert!((total - 1.0).abs() < 1e-12, "{line}");
        assert!(p("grad_variance") > 0.0, "{line}");
    }
    // After the last epoch the convolutions' shares differ (their gradient norms do).
    assert_ne!(ends[2]["p_conv3x3"], ends[2]["p_conv1x1"]);

    let parts = tempfile::tempdir().unwrap();
    train(&config, &resolved, parts.path(), false, Some(15)).unwrap_err();
    train(&config, &resolved, parts.path(), true, None).unwrap();
    assert_eq!(
        read_without_timing(&full.path().join("metrics.jsonl")).unwrap(),
        read_without_timing(&parts.path().join("metrics.jsonl")).unwrap()
    );
}

/// Data importance takes over the loader at the first epoch's end: the run matches uniform
/// data sampling step for step through epoch 0 and departs from it in epoch 1 (examples are
/// then drawn with replacement by their scores). Uniform runs log the gradient variance too.
#[test]
fn data_importance_takes_over_at_the_first_epoch_end() {
    let run = |overrides: &[&str]| {
        let (config, resolved) = tiny(overrides);
        let dir = tempfile::tempdir().unwrap();
        train(&config, &resolved, dir.path(), false, None).unwrap();
        lines_with(dir.path(), "grad_l2")
    };
    let uniform = run(&[]);
    let data = run(&["recipe.data_sampling=\"importance\""]);
    let loss = |lines: &[Value], step: usize| lines[step - 1]["batch_loss"].as_f64().unwrap();
    for step in 1..=6 {
        assert_eq!(loss(&uniform, step), loss(&data, step), "step {step}");
    }
    assert!((7..=12).any(|step| loss(&uniform, step) != loss(&data, step)));
    let variances: Vec<f64> = uniform
        .iter()
        .filter_map(|l| l.get("grad_variance")?.as_f64())
        .collect();
    assert_eq!(variances.len(), 3);
    assert!(variances.iter().all(|&v| v > 0.0));
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn train_cli(out: &Path, overrides: &[&str]) {
    let mut args = vec!["train", "supernet-fashion-mnist"];
    args.extend(TINY);
    args.extend(["train.epochs=1", "--quiet"]);
    args.extend(overrides);
    let out = path(out);
    args.extend(["--out", &out]);
    let output = stoke(&args);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `stoke nas rank` scores all 27 architectures with the supernet's weights on held-out
/// images, takes each stand-alone run's test accuracy as `stoke eval` measures it, and
/// ranks the architectures that have both; runs that are not what it needs are usage errors.
#[test]
fn nas_rank_scores_every_architecture_against_standalone_runs() {
    let dir = tempfile::tempdir().unwrap();
    let supernet = dir.path().join("supernet");
    train_cli(&supernet, &[]);
    let alone: Vec<_> = [0, 13, 26]
        .iter()
        .map(|a| {
            let run = dir.path().join(format!("arch{a}"));
            train_cli(&run, &[&format!("recipe.architecture={a}")]);
            run
        })
        .collect();
    let output = stoke(&[
        "nas",
        "rank",
        &path(&supernet),
        "--standalone",
        &path(&alone[0]),
        &path(&alone[1]),
        &path(&alone[2]),
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let ranking: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let architectures = ranking["architectures"].as_array().unwrap();
    assert_eq!(architectures.len(), 27);
    assert_eq!(ranking["ranked_architectures"], 3);
    for (run, index) in alone.iter().zip([0, 13, 26]) {
        let eval = stoke(&["eval", &path(run), "--json"]);
        assert!(eval.status.success(), "{}", stderr(&eval));
        let eval: Value = serde_json::from_str(&stdout(&eval)).unwrap();
        assert_eq!(
            architectures[index]["standalone_test_accuracy"], eval["test_accuracy"],
            "architecture {index}"
        );
    }
    // Inherited accuracies depend on the architecture (the override reaches the model).
    let mut inherited: Vec<f64> = architectures
        .iter()
        .map(|a| a["inherited_holdout_accuracy"].as_f64().unwrap())
        .collect();
    inherited.dedup();
    assert!(inherited.len() > 1, "{inherited:?}");
    // Tau-b over exactly the three architectures with stand-alone runs.
    let pick = |field: &str| -> Vec<f64> {
        [0, 13, 26]
            .iter()
            .map(|&i| architectures[i][field].as_f64().unwrap())
            .collect()
    };
    let expected = stoke::nas::kendall::kendall_tau_b(
        &pick("inherited_holdout_accuracy"),
        &pick("standalone_test_accuracy"),
    );
    assert_eq!(ranking["kendall_tau"].as_f64(), expected);

    // A stand-alone run is no supernet; a supernet without held-out images cannot rank.
    let output = stoke(&["nas", "rank", &path(&alone[0])]);
    assert_usage_error(&output, "recipe.architecture");
    let no_holdout = dir.path().join("no_holdout");
    train_cli(&no_holdout, &["dataset.holdout=0"]);
    let output = stoke(&["nas", "rank", &path(&no_holdout)]);
    assert_usage_error(&output, "dataset.holdout");
    // Importance sampling of paths has no meaning for one architecture.
    let output = stoke(&[
        "train",
        "supernet-fashion-mnist",
        "recipe.architecture=3",
        "recipe.path_sampling=\"importance\"",
        "--out",
        &path(&dir.path().join("bad")),
    ]);
    assert_usage_error(&output, "recipe.path_sampling");
}
