//! One-shot NAS on the cell space: the `supernet` recipe trains one architecture alone
//! (only its operations' weights move) or the supernet on uniformly drawn architectures
//! (every operation of every edge trains); bad keys name themselves.

mod common;

use common::{stderr, stoke};
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
        ("model.channels=0", "model.channels"),
    ] {
        let output = stoke(&[
            "train",
            "supernet-fashion-mnist",
            key,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2), "{key}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(named),
            "{key}: {}",
            stderr(&output)
        );
    }
    // The recipe needs the supernet model.
    let output = stoke(&[
        "train",
        "smoke",
        "recipe.name=\"supernet\"",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cell_supernet"),
        "{}",
        stderr(&output)
    );
}
