//! `stoke metric rank`: the official code's mean and Borda aggregations on committed tables
//! (tests/golden/ranking.json from scripts/golden_ranking.py), and the command's output.

mod common;

use common::{assert_usage_error, stdout, stoke};
use stoke::ranking::{Method, ScoreTable, rank};

fn golden() -> Vec<(ScoreTable, Vec<f64>, Vec<f64>)> {
    let text = std::fs::read_to_string("tests/golden/ranking.json").unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let table = ScoreTable {
                systems: strings(&case["systems"]),
                tasks: strings(&case["tasks"]),
                scores: case["scores"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|row| numbers(row).into_iter().map(Some).collect())
                    .collect(),
            };
            (table, numbers(&case["mean"]), numbers(&case["borda"]))
        })
        .collect()
}

/// Borda counts are integers and equal exactly; means equal to f64 summation order (1e-12
/// relative; measured 0 or one ulp).
#[test]
fn mean_and_borda_match_the_official_code() {
    for (table, mean, borda) in golden() {
        assert_eq!(rank(&table, Method::Borda).scores, borda);
        let ours = rank(&table, Method::Mean).scores;
        for (a, b) in ours.iter().zip(&mean) {
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
        }
        // Kemeny of up to 20 systems is exact; 30 systems get the local search.
        let kemeny = rank(&table, Method::Kemeny);
        assert_eq!(kemeny.exact, Some(table.systems.len() <= 20));
    }
}

#[test]
fn the_command_ranks_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scores.csv");
    // A: best mean (task 1's scale), C: best on tasks 2 and 3; B misses task 3.
    std::fs::write(&file, "Model,T1,T2,T3\nA,100,0,0\nB,50,0.5,\nC,0,1,1\n").unwrap();
    let path = file.to_str().unwrap();
    let output = stoke(&["metric", "rank", path, "--json"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let systems = |i: usize| json[i]["systems"].clone();
    assert_eq!(json[0]["method"], "mean");
    assert_eq!(systems(0), serde_json::json!(["A", "B", "C"]));
    assert_eq!(json[1]["method"], "borda");
    assert_eq!(systems(1), serde_json::json!(["C", "B", "A"]));
    assert_eq!(json[2]["method"], "kemeny");
    // C A B and C B A both disagree with 3 of the pairwise task preferences (B and A split
    // their two common tasks): the consensus puts C first either way.
    assert_eq!(systems(2)[0], "C");
    assert_eq!(json[2]["disagreement"], 3.0);
    assert_eq!(json[2]["exact"], true);
    let text = stdout(&stoke(&["metric", "rank", path, "--method", "borda"]));
    assert!(text.starts_with("borda:\n    1. C"), "{text}");
    std::fs::write(&file, "Model,T1\nA,1\nB,x\n").unwrap();
    assert_usage_error(&stoke(&["metric", "rank", path]), "row 3, column `T1`: `x`");
    assert_usage_error(
        &stoke(&["metric", "rank", "/nonexistent.csv"]),
        "/nonexistent.csv",
    );
}
