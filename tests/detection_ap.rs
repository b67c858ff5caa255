//! `stoke metric ap`: standard box AP against pycocotools and the LVIS API, AP-fixed and
//! AP-pool against the official large-vocab-devil code, on the seeded files of
//! tests/golden/detection_ap (scripts/golden_detection_ap.py writes files and numbers).

mod common;

use common::{assert_usage_error, stdout, stoke};
use stoke::detection::{
    Detection, GroundTruth, IouThresholds, Metrics, fixed_ap, parse_detections, pooled_ap,
    standard_ap,
};

const DIR: &str = "tests/golden/detection_ap";

/// The same algorithm in f64 on both sides; only the order of the final means' sums differs
/// (numpy sums pairwise): the largest difference measured is 3.9e-16.
const TOLERANCE: f64 = 2e-15;

fn truth(name: &str) -> GroundTruth {
    GroundTruth::read(std::path::Path::new(&format!("{DIR}/{name}"))).unwrap()
}

fn detections(name: &str, truth: &GroundTruth) -> Vec<Detection> {
    parse_detections(
        &std::fs::read_to_string(format!("{DIR}/{name}")).unwrap(),
        truth,
    )
    .unwrap()
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/expected.json")).unwrap()).unwrap()
}

fn no_progress(_: u64, _: u64) {}

/// Every reference value equals ours (`-1` is "nothing measured", `None` here); `rename`
/// maps a reference name to ours.
fn assert_matches(
    ours: &Metrics,
    reference: &serde_json::Value,
    rename: &dyn Fn(&str) -> String,
    what: &str,
) {
    let reference = reference.as_object().unwrap();
    assert!(!reference.is_empty());
    for (name, value) in reference {
        let value = value.as_f64().unwrap();
        let ours = ours
            .get(&rename(name))
            .unwrap_or_else(|| panic!("{what}: no {name} in {ours:?}"));
        match ours {
            None => assert_eq!(value, -1.0, "{what} {name}"),
            Some(v) => assert!(
                (v - value).abs() <= TOLERANCE,
                "{what} {name}: {v} vs {value}"
            ),
        }
    }
}

fn same(name: &str) -> String {
    name.to_string()
}

#[test]
fn lvis_standard_fixed_and_pooled_match_the_official_code() {
    let expected = expected();
    let gt = truth("lvis_gt.json");
    let t = IouThresholds::default();
    for file in ["lvis_dets.json", "lvis_dets_tied.json"] {
        let dets = detections(file, &gt);
        let cases = [
            (
                "standard",
                standard_ap(&gt, &dets, None, &t, &no_progress).unwrap(),
            ),
            (
                "standard_cap10",
                standard_ap(&gt, &dets, Some(10), &t, &no_progress).unwrap(),
            ),
            (
                "fixed",
                fixed_ap(&gt, &dets, 10_000, &t, &no_progress).unwrap(),
            ),
            (
                "fixed_k15",
                fixed_ap(&gt, &dets, 15, &t, &no_progress).unwrap(),
            ),
            (
                "pooled",
                pooled_ap(&gt, &dets, 10_000, &t, &no_progress).unwrap(),
            ),
            (
                "pooled_k15",
                pooled_ap(&gt, &dets, 15, &t, &no_progress).unwrap(),
            ),
        ];
        for (key, ours) in cases {
            assert_matches(&ours, &expected[file][key], &same, &format!("{file} {key}"));
            assert_eq!(
                ours.0.len(),
                expected[file][key].as_object().unwrap().len(),
                "{key}"
            );
        }
    }
}

#[test]
fn coco_standard_and_fixed_match_pycocotools() {
    let expected = expected();
    let gt = truth("coco_gt.json");
    assert!(
        gt.objects.iter().any(|o| o.crowd),
        "the file has crowd regions"
    );
    let t = IouThresholds::default();
    // pycocotools' stats names against ours.
    let rename = |name: &str| match name {
        "AR1" => "AR@1".to_string(),
        "AR10" => "AR@10".to_string(),
        "AR100" => "AR@100".to_string(),
        "ARs" | "ARm" | "ARl" => format!("{name}@100"),
        other => other.to_string(),
    };
    for file in ["coco_dets.json", "coco_dets_tied.json"] {
        let dets = detections(file, &gt);
        let standard = standard_ap(&gt, &dets, None, &t, &no_progress).unwrap();
        assert_matches(&standard, &expected[file]["standard"], &rename, file);
        assert_eq!(standard.0.len(), 12);
        let fixed = fixed_ap(&gt, &dets, 12, &t, &no_progress).unwrap();
        assert_matches(&fixed, &expected[file]["fixed_k12"], &same, file);
    }
}

/// Images without annotations, a category nobody annotated (LVIS: the only common one, so
/// APc and AP-pooled-c are -1), ignored and zero-area objects, zero-area detections, scores
/// 0.0 and -0.0, custom IoU thresholds and a COCO cap of 5.
#[test]
fn edge_cases_match_the_references() {
    let expected = expected();
    let gt = truth("lvis_edge_gt.json");
    let dets = detections("lvis_edge_dets.json", &gt);
    let e = &expected["lvis_edge_dets.json"];
    let t = IouThresholds::default();
    let custom = IouThresholds::checked(vec![0.3, 0.5, 0.62, 0.75, 1.0]).unwrap();
    let cases = [
        (
            "standard",
            standard_ap(&gt, &dets, None, &t, &no_progress).unwrap(),
        ),
        (
            "standard_iou",
            standard_ap(&gt, &dets, None, &custom, &no_progress).unwrap(),
        ),
        (
            "fixed_k8",
            fixed_ap(&gt, &dets, 8, &t, &no_progress).unwrap(),
        ),
        (
            "pooled",
            pooled_ap(&gt, &dets, 10_000, &t, &no_progress).unwrap(),
        ),
    ];
    for (key, ours) in cases {
        assert_matches(&ours, &e[key], &same, key);
        assert_eq!(ours.0.len(), e[key].as_object().unwrap().len(), "{key}");
    }
    let gt = truth("coco_edge_gt.json");
    let dets = detections("coco_edge_dets.json", &gt);
    let e = &expected["coco_edge_dets.json"];
    let capped = standard_ap(&gt, &dets, Some(5), &t, &no_progress).unwrap();
    assert_matches(&capped, &e["capped5"], &same, "coco cap 5");
    assert_eq!(capped.0.len(), 11);
}

#[test]
fn empty_inputs_give_no_values_and_no_panic() {
    let gt = GroundTruth::parse(r#"{"images": [{"id": 1}], "annotations": [], "categories": []}"#)
        .unwrap();
    let t = IouThresholds::default();
    for metrics in [
        standard_ap(&gt, &[], None, &t, &no_progress).unwrap(),
        fixed_ap(&gt, &[], 10, &t, &no_progress).unwrap(),
        pooled_ap(&gt, &[], 10, &t, &no_progress).unwrap(),
    ] {
        assert!(
            !metrics.0.is_empty() && metrics.0.iter().all(|(_, v)| v.is_none()),
            "{metrics:?}"
        );
    }
}

/// The paper's point: a per-image cap decides rankings. The "crowded" detector finds every
/// rare object but spends its per-image budget on frequent-category guesses; under a cap of
/// 20 it ranks below the "sparse" one, under AP-fixed above it (both by the official code too).
#[test]
fn a_per_image_cap_changes_the_ranking() {
    let expected = expected();
    let gt = truth("cap_gt.json");
    let t = IouThresholds::default();
    let mut capped = Vec::new();
    let mut fixed = Vec::new();
    for file in ["cap_sparse.json", "cap_crowded.json"] {
        let dets = detections(file, &gt);
        let c = standard_ap(&gt, &dets, Some(20), &t, &no_progress).unwrap();
        let f = fixed_ap(&gt, &dets, 10_000, &t, &no_progress).unwrap();
        assert_matches(&c, &expected[file]["standard_cap20"], &same, file);
        assert_matches(&f, &expected[file]["fixed"], &same, file);
        capped.push(c.get("AP").unwrap().unwrap());
        fixed.push(f.get("AP").unwrap().unwrap());
    }
    assert!(capped[0] > capped[1] + 0.1, "capped: {capped:?}");
    assert!(fixed[1] > fixed[0] + 0.1, "fixed: {fixed:?}");
}

/// AP-fixed only compares detections within a category, so rescaling one category's scores
/// leaves it unchanged; AP-pool compares across categories and changes (its point: it
/// rewards calibration).
#[test]
fn ap_fixed_ignores_cross_category_calibration_and_ap_pool_does_not() {
    let gt = truth("lvis_gt.json");
    let dets = detections("lvis_dets.json", &gt);
    let t = IouThresholds::default();
    let mut rescaled = dets.clone();
    for d in rescaled.iter_mut().filter(|d| d.category == 0) {
        d.score *= 0.01;
    }
    let fixed = |d: &[Detection]| fixed_ap(&gt, d, 10_000, &t, &no_progress).unwrap();
    let pooled = |d: &[Detection]| pooled_ap(&gt, d, 10_000, &t, &no_progress).unwrap();
    assert_eq!(fixed(&dets), fixed(&rescaled));
    let before = pooled(&dets).get("AP-pooled-all").unwrap().unwrap();
    let after = pooled(&rescaled).get("AP-pooled-all").unwrap().unwrap();
    assert!((before - after).abs() > 1e-3, "{before} vs {after}");
}

#[test]
fn command_reports_all_three_as_json() {
    let output = stoke(&[
        "metric",
        "ap",
        &format!("{DIR}/lvis_gt.json"),
        &format!("{DIR}/lvis_dets.json"),
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let expected = expected();
    assert_eq!(json["protocol"], "lvis");
    assert_eq!(json["images"], 24);
    for (ours, reference) in [
        ("standard", "standard"),
        ("fixed", "fixed"),
        ("pooled", "pooled"),
    ] {
        let value = json[ours]["AP"]
            .as_f64()
            .or(json[ours]["AP-pooled-all"].as_f64())
            .unwrap();
        let golden = expected["lvis_dets.json"][reference]["AP"]
            .as_f64()
            .or(expected["lvis_dets.json"][reference]["AP-pooled-all"].as_f64())
            .unwrap();
        assert!(
            (value - golden).abs() <= TOLERANCE,
            "{ours}: {value} vs {golden}"
        );
    }
    // Every category has fewer than 10,000 detections: the text output says so.
    let text = stoke(&[
        "metric",
        "ap",
        &format!("{DIR}/coco_gt.json"),
        &format!("{DIR}/coco_dets.json"),
        "--metric",
        "fixed",
    ]);
    assert!(text.status.success(), "{text:?}");
    let text = stdout(&text);
    assert!(
        text.contains("COCO ground truth: 20 images") && text.contains("AP-fixed"),
        "{text}"
    );
    assert!(
        text.contains("6 categories have fewer than 10000 detections"),
        "{text}"
    );
}

#[test]
fn bad_input_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let gt = format!("{DIR}/lvis_gt.json");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let unknown_image = write(
        "dets.json",
        r#"[{"image_id": 999999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]"#,
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &gt, &unknown_image]),
        "image_id 999999",
    );
    let first_image = truth("lvis_gt.json").image_ids[0];
    let unknown_category = write(
        "dets_category.json",
        &format!(
            r#"[{{"image_id": {first_image}, "category_id": 123456, "bbox": [0, 0, 1, 1], "score": 0.5}}]"#
        ),
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &gt, &unknown_category]),
        "category_id 123456",
    );
    let wrong_type = write(
        "type.json",
        r#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high"}]"#,
    );
    assert_usage_error(&stoke(&["metric", "ap", &gt, &wrong_type]), "[0].score");
    let no_bbox = write(
        "segm.json",
        r#"[{"image_id": 1, "category_id": 1, "segmentation": {}, "score": 0.5}]"#,
    );
    let no_bbox = std::fs::read_to_string(&no_bbox)
        .unwrap()
        .replace("\"image_id\": 1", &format!("\"image_id\": {first_image}"));
    let first_category = truth("lvis_gt.json").categories[0].id;
    let no_bbox = write(
        "segm2.json",
        &no_bbox.replace(
            "\"category_id\": 1",
            &format!("\"category_id\": {first_category}"),
        ),
    );
    assert_usage_error(&stoke(&["metric", "ap", &gt, &no_bbox]), "no `bbox`");
    let not_json = write("broken.json", "{\"images\": [");
    assert_usage_error(
        &stoke(&["metric", "ap", &not_json, &no_bbox]),
        "broken.json",
    );
    let half_lvis = write(
        "half.json",
        r#"{"images": [{"id": 1, "neg_category_ids": [], "not_exhaustive_category_ids": []}, {"id": 2}],
            "annotations": [], "categories": [{"id": 1}]}"#,
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &half_lvis, &no_bbox]),
        "image 2 lacks neg_category_ids",
    );
    let bad_box = write(
        "box.json",
        r#"{"images": [{"id": 1}], "categories": [{"id": 1}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "area": 1}]}"#,
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &bad_box, &no_bbox]),
        "annotation 7: bbox",
    );
    let dets = format!("{DIR}/lvis_dets.json");
    assert_usage_error(
        &stoke(&["metric", "ap", &gt, &dets, "--iou", "1.5"]),
        "IoU threshold 1.5",
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &gt, &dets, "--dets-per-category", "0"]),
        "--dets-per-category",
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &gt, &dets, "--max-dets", "0"]),
        "--max-dets",
    );
    assert_usage_error(
        &stoke(&["metric", "ap", &gt, "/nonexistent/dets.json"]),
        "/nonexistent/dets.json",
    );
}
