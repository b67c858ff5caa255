//! The three AP protocols of Dave et al. ("Evaluating Large-Vocabulary Object Detectors: The
//! Devil is in the Details"): standard AP (pycocotools' COCO rules or the LVIS API's, with
//! their per-image caps), AP-fixed (each category's top K detections over the dataset, no
//! per-image cap) and AP-pool (AP-fixed's detections, one precision-recall curve per pool of
//! categories, so scores must be calibrated across categories).

use super::detections::Detection;
use super::ground_truth::{Frequency, GroundTruth, Protocol};
use super::matching::{ImageResult, MAX_THRESHOLDS, Matches, MatchingSettings, match_detections};
use super::precision_curve::{Curve, interpolated_curve, linspace, recall_levels, sort_by_score};
use super::selection::{top_per_category, top_per_image};
use crate::usage_error;

/// Object area ranges (pixels²) of COCO and LVIS.
pub const AREA_RANGES: [(&str, [f64; 2]); 4] = [
    ("all", [0.0, 1e10]),
    ("small", [0.0, 1024.0]),
    ("medium", [1024.0, 9216.0]),
    ("large", [9216.0, 1e10]),
];

/// Metric values by name in report order (pycocotools' and the LVIS API's names); `None`
/// where there was nothing to measure (the references' -1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics(pub Vec<(String, Option<f64>)>);

impl Metrics {
    pub fn get(&self, name: &str) -> Option<Option<f64>> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    fn push(&mut self, name: impl Into<String>, value: Option<f64>) {
        self.0.push((name.into(), value));
    }
}

impl serde::Serialize for Metrics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The IoU thresholds (default 0.50:0.05:0.95, as numpy's linspace makes them).
#[derive(Clone, Debug, PartialEq)]
pub struct IouThresholds(pub Vec<f64>);

impl Default for IouThresholds {
    fn default() -> Self {
        IouThresholds(linspace(0.5, 0.95, 10))
    }
}

impl IouThresholds {
    pub fn checked(values: Vec<f64>) -> anyhow::Result<IouThresholds> {
        if values.is_empty() || values.len() > MAX_THRESHOLDS {
            return Err(usage_error!(
                "--iou takes 1 to {MAX_THRESHOLDS} thresholds, got {}",
                values.len()
            ));
        }
        if let Some(bad) = values.iter().find(|t| !(**t > 0.0 && **t <= 1.0)) {
            return Err(usage_error!(
                "IoU threshold {bad}: expected a number in (0, 1]"
            ));
        }
        Ok(IouThresholds(values))
    }

    /// The index of a threshold equal to `value` (AP50, AP75), compared exactly as the
    /// references do.
    fn index_of(&self, value: f64) -> Option<usize> {
        self.0.iter().position(|&t| t == value)
    }
}

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
        (Some(0), _) => return Err(usage_error!("--max-dets must be at least 1")),
        (Some(cap), _) => cap,
        (None, Protocol::Coco) => 100,
        (None, Protocol::Lvis) => 300,
    };
    let mut metrics = Metrics::default();
    match truth.protocol {
        Protocol::Coco => {
            let settings = matching(thresholds, AREA_RANGES.len(), Some(cap));
            let table = CurveTable::new(
                truth,
                match_detections(truth, detections, &settings, progress),
                thresholds,
            );
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
            let settings = matching(thresholds, AREA_RANGES.len(), None);
            let table = CurveTable::new(
                truth,
                match_detections(truth, &kept, &settings, progress),
                thresholds,
            );
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
    let settings = matching(thresholds, AREA_RANGES.len(), None);
    let table = CurveTable::new(
        truth,
        match_detections(truth, &kept, &settings, progress),
        thresholds,
    );
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
        let curve = curve_of(&images, None, thresholds.0.len(), &levels);
        metrics.push(
            format!("AP-pooled-{name}"),
            mean_precision([curve].iter(), None),
        );
    }
    Ok(metrics)
}

fn checked_budget(detections: &[Detection], per_category: usize) -> anyhow::Result<Vec<Detection>> {
    if per_category == 0 {
        return Err(usage_error!("--dets-per-category must be at least 1"));
    }
    Ok(top_per_category(detections, per_category))
}

fn matching(
    thresholds: &IouThresholds,
    areas: usize,
    per_image_category_cap: Option<usize>,
) -> MatchingSettings {
    MatchingSettings {
        iou_thresholds: thresholds.0.clone(),
        area_ranges: AREA_RANGES[..areas].iter().map(|(_, r)| *r).collect(),
        per_image_category_cap,
    }
}

/// The curve of some images' results, each limited to its first `limit` detections
/// (pycocotools' smaller `maxDets`).
fn curve_of(
    images: &[&ImageResult],
    limit: Option<usize>,
    thresholds: usize,
    levels: &[f64],
) -> Option<Curve> {
    let objects = images.iter().map(|r| r.objects).sum();
    let mut detections: Vec<_> = images
        .iter()
        .flat_map(|r| r.detections.iter().take(limit.unwrap_or(usize::MAX)))
        .copied()
        .collect();
    sort_by_score(&mut detections);
    interpolated_curve(&detections, objects, thresholds, levels)
}

/// The mean of the interpolated precisions of every present curve (at threshold `t`, or all),
/// as the references average all entries above -1.
fn mean_precision<'a>(
    curves: impl Iterator<Item = &'a Option<Curve>>,
    t: Option<usize>,
) -> Option<f64> {
    let (mut sum, mut count) = (0.0, 0usize);
    for curve in curves.flatten() {
        for (i, row) in curve.precision.iter().enumerate() {
            if t.is_none_or(|t| t == i) {
                sum += row.iter().sum::<f64>();
                count += row.len();
            }
        }
    }
    (count > 0).then(|| sum / count as f64)
}

/// Per-category curves of each area range, all detections.
struct CurveTable<'a> {
    truth: &'a GroundTruth,
    matches: Matches,
    thresholds: &'a IouThresholds,
    levels: Vec<f64>,
    /// `curves[area][category]`.
    curves: Vec<Vec<Option<Curve>>>,
}

impl<'a> CurveTable<'a> {
    fn new(truth: &'a GroundTruth, matches: Matches, thresholds: &'a IouThresholds) -> Self {
        let mut table = CurveTable {
            truth,
            matches,
            thresholds,
            levels: recall_levels(),
            curves: Vec::new(),
        };
        let areas = table.matches.first().map_or(0, Vec::len);
        table.curves = (0..areas)
            .map(|area| table.limited_curves(area, None))
            .collect();
        table
    }

    /// The curves when each image keeps only its first `limit` detections of a category.
    fn limited_curves(&self, area: usize, limit: Option<usize>) -> Vec<Option<Curve>> {
        self.matches
            .iter()
            .map(|per_area| {
                let images: Vec<&ImageResult> = per_area[area].iter().collect();
                curve_of(&images, limit, self.thresholds.0.len(), &self.levels)
            })
            .collect()
    }

    /// AP, AP50, AP75 and AP by area range.
    fn precision_metrics(&self, metrics: &mut Metrics) {
        metrics.push("AP", mean_precision(self.curves[0].iter(), None));
        for (name, value) in [("AP50", 0.5), ("AP75", 0.75)] {
            if let Some(t) = self.thresholds.index_of(value) {
                metrics.push(name, mean_precision(self.curves[0].iter(), Some(t)));
            }
        }
        for (area, label) in ["APs", "APm", "APl"].into_iter().enumerate() {
            metrics.push(label, mean_precision(self.curves[area + 1].iter(), None));
        }
    }

    /// LVIS's APr, APc, APf (when every category has a frequency).
    fn frequency_metrics(&self, metrics: &mut Metrics) {
        if !self.truth.has_frequencies() {
            return;
        }
        for group in Frequency::ALL {
            let members = self.curves[0]
                .iter()
                .zip(&self.truth.categories)
                .filter(|(_, c)| c.frequency == Some(group))
                .map(|(curve, _)| curve);
            metrics.push(
                format!("AP{}", group.letter()),
                mean_precision(members, None),
            );
        }
    }

    /// The mean final recall over categories and thresholds (pycocotools' and the LVIS API's
    /// AR), each image limited to `limit` detections per category if given.
    fn mean_recall(&self, area: usize, limit: Option<usize>) -> Option<f64> {
        let limited;
        let curves = match limit {
            Some(limit) => {
                limited = self.limited_curves(area, Some(limit));
                &limited
            }
            None => &self.curves[area],
        };
        let values: Vec<f64> = curves
            .iter()
            .flatten()
            .flat_map(|c| c.recall.iter().copied())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    fn area_recalls(&self, metrics: &mut Metrics, cap: usize) {
        for (area, letter) in ["s", "m", "l"].into_iter().enumerate() {
            metrics.push(
                format!("AR{letter}@{cap}"),
                self.mean_recall(area + 1, None),
            );
        }
    }
}
