//! `stoke import`: export -> import gives back the same weights bit for bit (the export of
//! the imported run is the same file, evaluation the same figures); a file of another shape
//! or another format is a usage error naming the tensor and both shapes, or the file; a
//! weights file starts a fine-tuning run exactly as the run it came from.

mod common;

use common::{assert_usage_error, stderr, stdout, stoke};
use std::path::Path;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(args: &[&str]) -> String {
    let output = stoke(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

#[test]
fn export_import_round_trip_is_exact_and_mismatches_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let (run, weights) = (dir.path().join("run"), dir.path().join("w.safetensors"));
    ok(&[
        "train",
        "smoke",
        "train.epochs=1",
        "--out",
        path(&run),
        "--quiet",
    ]);
    ok(&["export", path(&run), path(&weights)]);
    let imported = dir.path().join("imported");
    let said = ok(&["import", path(&weights), "smoke", "--out", path(&imported)]);
    assert!(said.contains("imported"), "{said}");
    let again = dir.path().join("again.safetensors");
    ok(&["export", path(&imported), path(&again)]);
    assert!(std::fs::read(&weights).unwrap() == std::fs::read(&again).unwrap());
    let eval = |run: &Path| {
        let mut figures: serde_json::Value =
            serde_json::from_str(&ok(&["eval", path(run), "--json"])).unwrap();
        figures.as_object_mut().unwrap().remove("checkpoint");
        figures
    };
    assert_eq!(eval(&run), eval(&imported));

    // Into an existing run: refused.
    let output = stoke(&["import", path(&weights), "smoke", "--out", path(&imported)]);
    assert_usage_error(&output, "already holds a run");
    // Another width: the tensor and both shapes are named.
    let other = dir.path().join("other");
    let output = stoke(&[
        "import",
        path(&weights),
        "smoke",
        "model.widths=[8,32]",
        "--out",
        path(&other),
    ]);
    assert_usage_error(
        &output,
        "tensor `convs.1.bn.bias` has shape [16], the model expects [32]",
    );
    assert!(!other.join("config.toml").exists());
    // Not a safetensors file.
    let output = stoke(&[
        "import",
        path(&run.join("metrics.jsonl")),
        "smoke",
        "--out",
        path(&other),
    ]);
    assert_usage_error(&output, "metrics.jsonl");

    // Fine-tuning from the file starts exactly where fine-tuning from the run does.
    let first_loss = |from: &Path, out: &Path| {
        let init = format!("train.init_from={:?}", path(from));
        ok(&[
            "train",
            "smoke",
            "train.steps=2",
            &init,
            "--out",
            path(out),
            "--quiet",
        ]);
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        let line: serde_json::Value =
            serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
        line["batch_loss"].as_f64().unwrap()
    };
    assert_eq!(
        first_loss(&weights, &dir.path().join("from-file")),
        first_loss(&run, &dir.path().join("from-run"))
    );
}
