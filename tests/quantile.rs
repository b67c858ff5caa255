//! `stoke quantile`: a small run end to end (every method scored, reproducible from its
//! seed, post-sorting never worse), and usage errors naming the bad input.

mod common;

use common::{assert_usage_error, stdout, stoke};

const ENGEL: &str = "datasets/regression/engel.csv";

fn small_run() -> serde_json::Value {
    let output = stoke(&[
        "quantile",
        ENGEL,
        "--seeds",
        "3",
        "--levels",
        "9",
        "--folds",
        "2",
        "--max-steps",
        "200",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn a_small_run_scores_every_method_and_repeats_exactly() {
    let run = small_run();
    assert_eq!(run["rows"], 235);
    let methods: Vec<&str> = run["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    for expected in [
        "linear",
        "dqr",
        "cgn",
        "knn",
        "average",
        "best-single",
        "global-coarse",
        "global-medium",
        "global-fine",
        "local-coarse",
        "local-medium",
        "local-fine",
    ] {
        assert!(
            methods.contains(&expected),
            "{expected} missing from {methods:?}"
        );
    }
    for m in run["summary"].as_array().unwrap() {
        let wis = m["wis_sorted_mean"].as_f64().unwrap();
        // Standardized targets: a useful model's WIS is well under the spread of the data
        // (measured 0.19-0.25, and 0.39 for the linear model, barely trained in 200 steps).
        assert!(wis > 0.0 && wis < 0.5, "{m}");
    }
    for seed in run["seeds"].as_array().unwrap() {
        for m in seed["methods"].as_array().unwrap() {
            let raw = m["wis_raw"].as_f64().unwrap();
            assert!(m["wis_sorted"].as_f64().unwrap() <= raw + 1e-12, "{m}");
            assert!(m["wis_isotonic"].as_f64().unwrap() <= raw + 1e-12, "{m}");
        }
    }
    assert_eq!(run["repairs_worse"], 0);
    assert_eq!(run["repairs_checked"], 11);
    // Same seed, same numbers: splits, folds, minibatches and initialisations are seeded.
    assert_eq!(small_run()["seeds"], run["seeds"]);
}

#[test]
fn bad_input_is_a_usage_error_naming_it() {
    assert_usage_error(
        &stoke(&["quantile", ENGEL, "--levels", "999"]),
        "use fewer levels (--levels)",
    );
    assert_usage_error(
        &stoke(&["quantile", ENGEL, "--target", "price"]),
        "no target column \"price\"",
    );
    assert_usage_error(
        &stoke(&["quantile", ENGEL, "--levels", "10"]),
        "the levels do not include 0.100 and 0.900",
    );
    assert_usage_error(
        &stoke(&["quantile", ENGEL, "--folds", "1"]),
        "folds must be at least 2",
    );
    assert_usage_error(
        &stoke(&["quantile", "/nonexistent/data.csv"]),
        "/nonexistent/data.csv",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let text = std::fs::read_to_string(ENGEL)
        .unwrap()
        .replacen("420.157650843928", "n/a", 1);
    std::fs::write(&path, text).unwrap();
    assert_usage_error(
        &stoke(&["quantile", path.to_str().unwrap()]),
        "row 2, column \"income\"",
    );
}

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string("tests/golden/quantile.json").unwrap()).unwrap()
}

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Pinball losses against scikit-learn's `mean_pinball_loss`, isotonic fits against its
/// `IsotonicRegression` (scripts/golden_quantile.py).
#[test]
fn pinball_and_isotonic_match_scikit_learn() {
    use stoke::quantile::noncrossing::isotonic_in_place;
    use stoke::quantile::scores::pinball;
    let g = golden();
    let levels = numbers(&g["levels"]);
    let rows: Vec<Vec<f64>> = g["rows"].as_array().unwrap().iter().map(numbers).collect();
    let targets = numbers(&g["targets"]);
    for (k, expected) in numbers(&g["pinball_per_level"]).into_iter().enumerate() {
        let ours = rows
            .iter()
            .zip(&targets)
            .map(|(r, &y)| pinball(levels[k], y, r[k]))
            .sum::<f64>()
            / rows.len() as f64;
        // f64 on both sides, sums of six terms: rounding only.
        assert!(
            (ours - expected).abs() < 1e-14,
            "level {k}: {ours} vs {expected}"
        );
    }
    for (row, expected) in rows.iter().zip(g["isotonic"].as_array().unwrap()) {
        let mut fit = row.clone();
        isotonic_in_place(&mut fit);
        for (a, b) in fit.iter().zip(numbers(expected)) {
            assert!((a - b).abs() < 1e-14, "{fit:?} vs {expected}");
        }
    }
}

/// Coarse global aggregation fitted by stoke's loop (no crossing penalty, early stopping on
/// the training rows themselves) reaches the exact optimum of the linear programme over the
/// simplex (scipy's HiGHS): loss within 0.05% (measured 0.018%), weights within 0.01
/// (measured 0.0041; softmax weights only approach the optimum's exact zero).
#[test]
fn coarse_aggregation_reaches_the_linear_programme_optimum() {
    use stoke::quantile::aggregator::{
        Aggregator, CrossingPenalty, Granularity, Weighting, fit_aggregator,
    };
    use stoke::quantile::fit::FitSettings;
    use stoke::quantile::scores::{QuantilePredictions, mean_pinball};
    let g = golden();
    let a = &g["aggregation"];
    let levels = numbers(&g["levels"]);
    let y = numbers(&a["y"]);
    let x: Vec<Vec<f64>> = numbers(&a["x"]).into_iter().map(|v| vec![v]).collect();
    let models: Vec<Vec<Vec<f64>>> = a["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(numbers).collect())
        .collect();
    let base: Vec<QuantilePredictions> = (0..3)
        .map(|m| QuantilePredictions {
            levels: levels.clone(),
            values: models.iter().flat_map(|r| r[m].clone()).collect(),
        })
        .collect();
    let device = burn::prelude::Device::flex().autodiff();
    let settings = FitSettings {
        learning_rate: 0.01,
        batch: 200,
        max_steps: 3000,
        patience: 3000,
        ..FitSettings::default()
    };
    let aggregator = Aggregator::new(
        3,
        levels.len(),
        Granularity::Coarse,
        Weighting::Global,
        1,
        &device,
    );
    let penalty = CrossingPenalty {
        weight: 0.0,
        delta: 0.0,
    };
    let data = (&base[..], &x[..], &y[..]);
    let fitted = fit_aggregator(
        aggregator, data, data, &levels, penalty, &settings, 0, &device,
    );
    let loss = mean_pinball(&fitted.predict(&base, &x, &device), &y);
    let optimum = a["optimal_loss"].as_f64().unwrap();
    assert!(
        loss >= optimum - 1e-6 && loss < optimum * 1.0005,
        "{loss} vs {optimum}"
    );
    let weights = fitted.weights();
    for (w, best) in weights.iter().zip(numbers(&a["optimal_weights"])) {
        assert!((w - best).abs() < 0.01, "{weights:?}");
    }
}
