//! CoLiDE and DAGMA against the official code (scripts/golden_dag.py runs SAMiatto/colide and
//! PyPI dagma 1.1.1 on shipped data): the raw estimate W, the noise scales, every stage
//! attempt (mu, s, learning rate, success: the retry and backoff branches) and the structure
//! metrics after thresholding.

mod common;

use faer::Mat;
use serde_json::Value;
use stoke::solve::dag::accuracy::{count_accuracy, threshold_to_dag};
use stoke::solve::dag::path_following::{DagMethod, PathSettings, fit};
use stoke::train::CancelToken;

fn golden() -> Value {
    let text = std::fs::read_to_string("tests/golden/dag_learning.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn method(name: &str) -> DagMethod {
    match name {
        "dagma" => DagMethod::Dagma,
        "colide-ev" => DagMethod::ColideEv,
        "colide-nv" => DagMethod::ColideNv,
        other => panic!("unknown method {other}"),
    }
}

fn settings(s: &Value) -> PathSettings {
    let f = |k: &str| s[k].as_f64().unwrap();
    PathSettings {
        lambda1: f("lambda1"),
        stages: s["T"].as_u64().unwrap() as usize,
        s: s["s"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect(),
        warm_iterations: f("warm_iter") as usize,
        last_iterations: f("max_iter") as usize,
        learning_rate: f("lr"),
        checkpoint: f("checkpoint") as usize,
        ..PathSettings::official()
    }
}

/// Tolerances on W and sigma, each ~5x the largest difference measured (f64 rounding of
/// faer's matmul and LU against OpenBLAS/LAPACK, amplified by the iterations): 1.3e-17 over
/// the first 10 steps, 2.8e-12 over 9,000 steps, 2.1e-13 with early stopping, 2.2e-10 with
/// learning rate 0.5 (retries and backoffs amplify rounding). The branch decisions (stage
/// attempts) must match exactly. Sigma is compared relatively, within the same tolerance but
/// at least 4e-15 (a few ulps: 1.8e-15 measured after 10 steps).
fn tolerance(schedule: &str) -> f64 {
    match schedule {
        "first_steps" => 1e-16,
        "short" => 1.5e-11,
        "official" => 1e-12,
        "retries" => 1e-9,
        other => panic!("unknown schedule {other}"),
    }
}

#[test]
fn estimates_match_the_official_code() {
    let golden = golden();
    let mut worst: Vec<(String, f64, f64)> = Vec::new();
    for run in golden["runs"].as_array().unwrap() {
        let data = &golden["datasets"][run["dataset"].as_str().unwrap()];
        let x = matrix(&data["x"]);
        let x = Mat::from_fn(x.len(), x[0].len(), |i, j| x[i][j]);
        let schedule = run["schedule"].as_str().unwrap();
        let m = method(run["method"].as_str().unwrap());
        let label = format!("{} {} {:?}", run["dataset"], schedule, m);
        let fit = fit(
            &x,
            m,
            &settings(&run["settings"]),
            &CancelToken::new(),
            &mut |_| {},
        )
        .unwrap();
        let attempts: Vec<(f64, f64, f64, bool)> = fit
            .attempts
            .iter()
            .map(|a| (a.mu, a.s, a.learning_rate, a.success))
            .collect();
        let expected: Vec<(f64, f64, f64, bool)> = run["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let f = |k: &str| a[k].as_f64().unwrap();
                (f("mu"), f("s"), f("lr"), a["success"].as_bool().unwrap())
            })
            .collect();
        assert_eq!(attempts, expected, "{label}: stage attempts");
        let w = matrix(&run["weights"]);
        assert_eq!(
            (w.len(), w[0].len()),
            (fit.weights.len(), fit.weights[0].len())
        );
        let diff = w
            .iter()
            .flatten()
            .zip(fit.weights.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let sigma_diff = run["sigma"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&fit.sigma)
            .map(|(a, b)| (a.as_f64().unwrap() - b).abs() / b)
            .fold(0.0, f64::max);
        assert_eq!(fit.sigma.len(), run["sigma"].as_array().unwrap().len());
        assert!(
            diff <= tolerance(schedule) && sigma_diff <= tolerance(schedule).max(4e-15),
            "{label}: max |dW| {diff:e}, relative |d sigma| {sigma_diff:e}"
        );
        worst.push((label.clone(), diff, sigma_diff));
        let truth = matrix(&data["weights"]);
        let accuracy = count_accuracy(&truth, &threshold_to_dag(&fit.weights, 0.3));
        let a = &run["accuracy"];
        assert_eq!(
            accuracy.shd as u64,
            a["shd"].as_u64().unwrap(),
            "{label}: shd"
        );
        assert_eq!(
            accuracy.edges as u64,
            a["edges"].as_u64().unwrap(),
            "{label}: edges"
        );
        for (k, v) in [
            ("tpr", accuracy.tpr),
            ("fdr", accuracy.fdr),
            ("fpr", accuracy.fpr),
        ] {
            assert!((a[k].as_f64().unwrap() - v).abs() < 1e-15, "{label}: {k}");
        }
    }
    for (label, diff, sigma_diff) in worst {
        println!("{label}: max |dW| {diff:.1e}, relative |d sigma| {sigma_diff:.1e}");
    }
}

/// The official code's first Adam step from W = 0 moves every entry by lr (1 - 1e-8 / |g|)
/// in the direction of -g with g = -C / sigma_0 (bias-corrected Adam on one gradient), the
/// diagonal included: a closed form independent of the golden file.
#[test]
fn constant_variables_are_refused() {
    let x = Mat::from_fn(
        20,
        3,
        |i, j| if j == 1 { 2.0 } else { (i * (j + 1)) as f64 },
    );
    let err = fit(
        &x,
        DagMethod::ColideNv,
        &PathSettings::official(),
        &CancelToken::new(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("variable 1 is constant"), "{err}");
}

#[test]
fn first_step_is_the_bias_corrected_sign_step() {
    let x = Mat::from_fn(50, 3, |i, j| ((i * (j + 2)) as f64 * 0.37).sin() + j as f64);
    let settings = PathSettings {
        stages: 1,
        warm_iterations: 1,
        last_iterations: 1,
        ..PathSettings::official()
    };
    let fit = fit(
        &x,
        DagMethod::ColideEv,
        &settings,
        &CancelToken::new(),
        &mut |_| {},
    )
    .unwrap();
    let n = 50.0;
    let centred: Vec<Vec<f64>> = (0..3)
        .map(|j| {
            let mean = (0..50).map(|i| x[(i, j)]).sum::<f64>() / n;
            (0..50).map(|i| x[(i, j)] - mean).collect()
        })
        .collect();
    let cov = |a: usize, b: usize| -> f64 {
        centred[a]
            .iter()
            .zip(&centred[b])
            .map(|(p, q)| p * q)
            .sum::<f64>()
            / n
    };
    let sigma0 = (0..3)
        .map(|j| cov(j, j).sqrt())
        .fold(f64::INFINITY, f64::min);
    for i in 0..3 {
        for j in 0..3 {
            let g = -cov(i, j) / sigma0 + 2.0 * 0.0;
            let expected = -3e-4 * g / (g.abs() + 1e-8);
            assert!(
                (fit.weights[i][j] - expected).abs() < 1e-15,
                "W[{i}][{j}] {} vs {expected}",
                fit.weights[i][j]
            );
        }
    }
}

/// The command: a 6-node comparison as JSON (every method on every seed), and a bad noise
/// variance refused with exit code 2.
#[test]
fn command_line() {
    let out = common::stoke_ok(&[
        "solve",
        "colide",
        "--nodes",
        "6",
        "--edges",
        "6",
        "--samples",
        "300",
        "--seeds",
        "0,1",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 6);
    assert_eq!(v["summary"].as_array().unwrap().len(), 3);
    // Each summary row is the mean of its method's runs.
    for summary in v["summary"].as_array().unwrap() {
        let shds: Vec<f64> = v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == summary["method"])
            .map(|r| r["accuracy"]["shd"].as_f64().unwrap())
            .collect();
        assert_eq!(shds.len(), 2);
        assert_eq!(
            summary["shd_mean"].as_f64().unwrap(),
            (shds[0] + shds[1]) / 2.0
        );
    }
    for (flag, names) in [
        ("--variance=abc", "variance"),
        ("--nodes=1", "nodes"),
        ("--threshold=-1", "threshold"),
    ] {
        let bad = common::stoke(&["solve", "colide", flag]);
        common::assert_usage_error(&bad, names);
    }
}
