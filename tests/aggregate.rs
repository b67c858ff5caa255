//! stoke::aggregate's rules against their reference code (tests/golden/aggregators.json,
//! written by scripts/golden_aggregators.py: byzfl 0.0.11 for the median, trimmed mean,
//! MeaMed and geometric median; the official Flag repository for Krum, Multi-Krum and the
//! Flag Aggregator; torch 2.9, f32), and the library's contract on plain vectors and
//! weights.

use stoke::aggregate::flag::{FlagOptions, flag_from};
use stoke::aggregate::{Rule, combine, combine_flat};

fn golden() -> serde_json::Value {
    let text = std::fs::read_to_string("tests/golden/aggregators.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Largest |a - b| relative to the reference's largest magnitude.
fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
    got.iter()
        .zip(want)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
        .fold(0.0, f64::max)
        / scale.max(1e-30)
}

/// Every rule on every golden case, errors relative to the reference's largest value. The
/// references compute in f32 and stoke in f64: the coordinate and selection rules differ by
/// the f32 rounding of a mean of 7 to 15 terms (measured at most 1.3e-7: 3e-7 allowed; the
/// median and Krum pick the very same values, error 0); the Flag Aggregator by torch's f32
/// SVD against faer's f64 eigendecomposition (measured at most 8.9e-7: 2e-6 allowed).
#[test]
fn rules_match_their_reference_code() {
    const TOLERANCE: f64 = 3e-7;
    const FLAG_TOLERANCE: f64 = 2e-6;
    let golden = golden();
    for case in golden["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let f = case["f"].as_u64().unwrap() as usize;
        let vectors: Vec<Vec<f32>> = case["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let rules = [
            ("median", Rule::Median),
            ("trimmed_mean", Rule::TrimmedMean { f }),
            ("meamed", Rule::Meamed { f }),
            (
                "geometric_median",
                Rule::GeometricMedian {
                    nu: 0.1,
                    iterations: 3,
                },
            ),
            ("krum", Rule::Krum { f }),
            ("multi_krum", Rule::MultiKrum { f, m: None }),
        ];
        for (key, rule) in rules {
            let want = floats(&case["results"][key]);
            let got = combine_flat(&rule, &vectors).unwrap().vector;
            let error = relative_error(&got, &want);
            eprintln!("{name} {key}: relative error {error:.2e}");
            assert!(error <= TOLERANCE, "{name} {key}: {got:?} vs {want:?}");
        }
        for run in case["flag"].as_array().unwrap() {
            let options = FlagOptions::new(
                run["rank"].as_u64().unwrap() as usize,
                run["lambda"].as_f64().unwrap(),
                run["iterations"].as_u64().unwrap() as usize,
            );
            let start: Vec<Vec<f64>> = run["start"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect()
                })
                .collect();
            let want = floats(&run["output"]);
            let got = flag_from(&vectors, &options, &start).unwrap().vector;
            let error = relative_error(&got, &want);
            eprintln!("{name} flag {options:?}: relative error {error:.2e}");
            assert!(
                error <= FLAG_TOLERANCE,
                "{name} flag {options:?}: {got:?} vs {want:?}"
            );
        }
    }
}

/// Impossible settings are errors that say what the rule needs, never a panic.
#[test]
fn impossible_settings_name_what_the_rule_needs() {
    let vectors = vec![vec![1.0f32; 3]; 6];
    let cases = [
        (Rule::TrimmedMean { f: 3 }, "f < n/2"),
        (Rule::Krum { f: 2 }, "n >= 2f + 3 = 7"),
        (Rule::MultiKrum { f: 1, m: Some(4) }, "m <= n - f - 2 = 3"),
        (Rule::Bulyan { f: 1 }, "n >= 4f + 3 = 7"),
        (
            Rule::Flag {
                rank: 7,
                lambda: 0.0,
                iterations: 1,
            },
            "rank must be 1..=6",
        ),
        (
            Rule::GeometricMedian {
                nu: 0.0,
                iterations: 3,
            },
            "nu must be positive",
        ),
    ];
    for (rule, expected) in cases {
        let error = combine_flat(&rule, &vectors).unwrap_err().to_string();
        assert!(error.contains(expected), "{rule:?}: {error}");
    }
    assert!(combine_flat(&Rule::Mean, &[]).is_err());
    let ragged = vec![vec![1.0f32; 3], vec![1.0; 2]];
    let error = combine_flat(&Rule::Median, &ragged)
        .unwrap_err()
        .to_string();
    assert!(error.contains("vector 1 has 2 values"), "{error}");
}

/// `combine` on weights flattens the parameters in name order, combines, and gives back
/// the first update's tensors and shapes; buffers are left out.
#[test]
fn combine_works_on_weights() {
    use stoke::train::{TensorKind, WeightTensor, Weights};
    let update = |w: [f32; 2], b: f32| {
        Weights::from_tensors([
            (
                "layer.weight".to_string(),
                WeightTensor {
                    shape: vec![2],
                    values: w.to_vec(),
                    kind: TensorKind::Parameter,
                },
            ),
            (
                "layer.bias".to_string(),
                WeightTensor {
                    shape: vec![1],
                    values: vec![b],
                    kind: TensorKind::Parameter,
                },
            ),
            (
                "bn.running_mean".to_string(),
                WeightTensor {
                    shape: vec![1],
                    values: vec![7.0],
                    kind: TensorKind::Buffer,
                },
            ),
        ])
        .unwrap()
    };
    let updates = [
        update([1.0, 2.0], 0.0),
        update([3.0, -2.0], 9.0),
        update([2.0, 0.0], 1.0),
    ];
    let median = combine(&Rule::Median, &updates).unwrap();
    assert_eq!(median.get("layer.weight").unwrap().values, [2.0, 0.0]);
    assert_eq!(median.get("layer.bias").unwrap().values, [1.0]);
    assert!(median.get("bn.running_mean").is_none());
}
