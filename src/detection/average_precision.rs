//! The three AP protocols of Dave et al. ("Evaluating Large-Vocabulary Object Detectors: The
//! Devil is in the Details"): standard AP (pycocotools' COCO rules or the LVIS API's, with
//! their per-image caps), AP-fixed (each category's top K detections over the dataset, no
//! per-image cap) and AP-pool (AP-fixed's detections, one precision-recall curve per pool of
//! categories, so scores must be calibrated across categories).

use super::curve_table::{CurveTable, curve_of, mean_precision};
use super::detections::Detection;
use super::ground_truth::{Frequency, GroundTruth, Protocol};
use super::matching::{ImageResult, MatchingSettings, match_detections};
use super::metrics::{AREA_RANGES, IouThresholds, Metrics};
use super::precision_curve::recall_levels;
use super::selection::{top_per_category, top_per_image};
use crate::usage_error;

/// Standard AP. COCO: pycocotools' COCOeval, at most `max_detections` (default 100) per
/// image and category, AR also at 1 and 10. LVIS: the LVIS API, at most `max_detections`
/// (default 300) per image over all categories.
pub fn standard_ap(
    truth: &GroundTruth,
    detections: &[Detection],
    max_detections: Option<usize>,
    thresholds: &IouThresholds,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Metrics> {
    let cap = match (max_detections, truth.protocol) {
        (Some(0), _) => {
            return Err(usage_error!(
                "the per-image cap (--max-dets) must be at least 1"
            ));
        }
        (Some(cap), _) => cap,
        (None, Protocol::Coco) => 100,
        (None, Protocol::Lvis) => 300,
    };
    let mut metrics = Metrics::default();
    match truth.protocol {
        Protocol::Coco => {
            let table = curve_table(truth, detections, thresholds, Some(cap), progress);
            // Matching kept `cap` per image and category: only AR@1 and AR@10 limit further.
            table.precision_metrics(&mut metrics);
            for limit in [1, 10].into_iter().filter(|&l| l < cap) {
                metrics.push(format!("AR@{limit}"), table.mean_recall(0, Some(limit)));
            }
            metrics.push(format!("AR@{cap}"), table.mean_recall(0, None));
            table.area_recalls(&mut metrics, cap);
        }
        Protocol::Lvis => {
            let kept = top_per_image(detections, cap);
            let table = curve_table(truth, &kept, thresholds, None, progress);
            table.precision_metrics(&mut metrics);
            table.frequency_metrics(&mut metrics);
            metrics.push(format!("AR@{cap}"), table.mean_recall(0, None));
            table.area_recalls(&mut metrics, cap);
        }
    }
    Ok(metrics)
}

/// AP-fixed: each category's `per_category` highest-scoring detections over the dataset
/// (10,000 in the paper), no per-image cap, then the protocol's per-category AP.
pub fn fixed_ap(
    truth: &GroundTruth,
    detections: &[Detection],
    per_category: usize,
    thresholds: &IouThresholds,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Metrics> {
    let kept = checked_budget(detections, per_category)?;
    let table = curve_table(truth, &kept, thresholds, None, progress);
    let mut metrics = Metrics::default();
    table.precision_metrics(&mut metrics);
    table.frequency_metrics(&mut metrics);
    Ok(metrics)
}

/// AP-pool: AP-fixed's detections, matched per category as usual, then one curve over all
/// detections of a pool of categories (all; LVIS's rare, common, frequent), area "all".
/// The official code evaluates LVIS only; on COCO files the same rule gives the "all" pool.
pub fn pooled_ap(
    truth: &GroundTruth,
    detections: &[Detection],
    per_category: usize,
    thresholds: &IouThresholds,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Metrics> {
    let kept = checked_budget(detections, per_category)?;
    let settings = matching(thresholds, 1, None);
    let matches = match_detections(truth, &kept, &settings, progress);
    let levels = recall_levels();
    let mut pools: Vec<(String, Vec<usize>)> =
        vec![("all".into(), (0..truth.categories.len()).collect())];
    if truth.has_frequencies() {
        for group in Frequency::ALL {
            let members = (0..truth.categories.len())
                .filter(|&c| truth.categories[c].frequency == Some(group));
            pools.push((group.letter().to_string(), members.collect()));
        }
    }
    let mut metrics = Metrics::default();
    for (name, categories) in pools {
        // The official order before the stable score sort: image by image, category by
        // category within an image.
        let mut results: Vec<(usize, usize, &ImageResult)> = categories
            .iter()
            .flat_map(|&c| matches[c][0].iter().map(move |r| (r.image, c, r)))
            .collect();
        results.sort_by_key(|&(image, category, _)| (image, category));
        let images: Vec<&ImageResult> = results.into_iter().map(|(_, _, r)| r).collect();
        let curve = curve_of(&images, None, thresholds.values().len(), &levels);
        metrics.push(
            format!("AP-pooled-{name}"),
            mean_precision([curve].iter(), None),
        );
    }
    Ok(metrics)
}

/// Matches `detections` in every area range and builds the per-category curves.
fn curve_table<'a>(
    truth: &'a GroundTruth,
    detections: &[Detection],
    thresholds: &'a IouThresholds,
    per_image_category_cap: Option<usize>,
    progress: &dyn Fn(u64, u64),
) -> CurveTable<'a> {
    let settings = matching(thresholds, AREA_RANGES.len(), per_image_category_cap);
    let matches = match_detections(truth, detections, &settings, progress);
    CurveTable::new(truth, matches, AREA_RANGES.len(), thresholds)
}

fn checked_budget(detections: &[Detection], per_category: usize) -> anyhow::Result<Vec<Detection>> {
    if per_category == 0 {
        return Err(usage_error!(
            "the per-category budget (--dets-per-category) must be at least 1"
        ));
    }
    Ok(top_per_category(detections, per_category))
}

fn matching(
    thresholds: &IouThresholds,
    areas: usize,
    per_image_category_cap: Option<usize>,
) -> MatchingSettings {
    MatchingSettings {
        iou_thresholds: thresholds.values().to_vec(),
        area_ranges: AREA_RANGES[..areas].iter().map(|(_, r)| *r).collect(),
        per_image_category_cap,
    }
}
