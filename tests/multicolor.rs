//! WiSE-FT and BANG's setting: the multicolour dataset format trains, a pre-trained and a
//! fine-tuned run interpolate with the test split re-coloured out of distribution
//! (`--shift dataset.KEY=VALUE`), and the FalseFalseTrue counts come with every point.

mod common;

use common::{stderr, stdout, stoke};
use std::path::PathBuf;
use stoke::soup::{Buffers, Scorer, load_ingredients};

/// Tiny runs: 256 training and 200 test images of the multicolour preset, a few steps.
const TINY: [&str; 5] = [
    "dataset.train_size=256",
    "dataset.test_size=200",
    "train.epochs=0",
    "train.steps=4",
    "model.widths=[8,16]",
];

#[test]
fn pre_trained_and_fine_tuned_runs_interpolate_under_a_recoloured_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec!["train", "multicolor-fashion-mnist"];
        args.extend(TINY);
        args.extend(extra);
        let out = path(out);
        args.extend(["--quiet", "--out", &out]);
        let output = stoke(&args);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    run("pre", &[]);
    let init = format!("train.init_from={}", path("pre"));
    run(
        "ft",
        &[
            &init,
            "dataset.correlation=1",
            "dataset.test_correlation=1",
            "recipe.mixup=0.4",
            "recipe.label_smoothing=0.1",
        ],
    );
    let (pre, ft) = (path("pre"), path("ft"));
    let output = stoke(&[
        "interpolate",
        &pre,
        &ft,
        "--alpha",
        "0,0.5,1",
        "--shift",
        "dataset.test_correlation=-1",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let points: Vec<serde_json::Value> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(points.len(), 3);
    for end in [&points[0], &points[2]] {
        // An endpoint cannot be right where it is wrong.
        assert_eq!(end["test_false_false_true"], 0);
        assert_eq!(end["shifted_false_false_true"], 0);
    }
    // The curve's fine-tuned end on the reversed split is the library's: the run's weights
    // with statistics recomputed, predicting the test images re-coloured at q = -1.
    let _generator = common::device_generator();
    let loaded = load_ingredients(&[PathBuf::from(&ft)]).unwrap();
    let config = &loaded[0].config;
    let scorer = Scorer::new(config, Buffers::default()).unwrap();
    let trainer = scorer.prepare(&loaded[0].weights).unwrap();
    let mut dataset = config.dataset.clone();
    dataset.test_correlation = Some(-1.0);
    let reversed = stoke::datasets::load(&dataset, config.seed).unwrap().test;
    let test = &scorer.data().test;
    assert_eq!((reversed.len(), &reversed.labels), (200, &test.labels));
    assert_ne!(reversed.pixels, test.pixels);
    let predictions = trainer.predict(&reversed).unwrap();
    let right = (0..200)
        .filter(|&i| predictions.predicted(i) == predictions.labels[i] as usize)
        .count();
    assert_eq!(
        points[2]["shifted_accuracy"].as_f64(),
        Some(right as f64 / 200.0)
    );
    for (shift, named) in [
        ("optimizer.lr=1", "dataset.KEY=VALUE"),
        ("noise:-1", "noise:"),
        ("dataset.test_correlation=3", "test_correlation"),
    ] {
        let output = stoke(&["interpolate", &pre, &ft, "--shift", shift]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{shift}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(named),
            "{shift}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn bad_multicolour_keys_are_usage_errors_naming_them() {
    for (key, named) in [
        ("dataset.correlation=2", "dataset.correlation"),
        ("dataset.spurious_patches=3", "dataset.spurious_patches"),
        ("recipe.mixup=-1", "recipe.mixup"),
    ] {
        let mut args = vec!["train", "multicolor-fashion-mnist", key];
        args.extend(TINY);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        args.extend(["--quiet", "--out", out.to_str().unwrap()]);
        let output = stoke(&args);
        assert_eq!(output.status.code(), Some(2), "{key}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(named),
            "{key}: {}",
            stderr(&output)
        );
    }
    // Other formats refuse its keys.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = stoke(&[
        "train",
        "smoke",
        "dataset.correlation=0.5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("dataset.correlation"),
        "{}",
        stderr(&output)
    );
}
