//! Precision-recall curves per category and area range, and the means over them that
//! pycocotools and the LVIS API report (AP by IoU threshold, area and frequency group; AR).

use super::ground_truth::{Frequency, GroundTruth};
use super::matching::{ImageResult, Matches};
use super::metrics::{IouThresholds, Metrics};
use super::precision_curve::{Curve, interpolated_curve, recall_levels, sort_by_score};

/// The curve of some images' results, each limited to its first `limit` detections
/// (pycocotools' smaller `maxDets`).
pub fn curve_of(
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
pub fn mean_precision<'a>(
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
pub struct CurveTable<'a> {
    truth: &'a GroundTruth,
    matches: Matches,
    thresholds: &'a IouThresholds,
    levels: Vec<f64>,
    /// `curves[area][category]`.
    curves: Vec<Vec<Option<Curve>>>,
}

impl<'a> CurveTable<'a> {
    pub fn new(
        truth: &'a GroundTruth,
        matches: Matches,
        areas: usize,
        thresholds: &'a IouThresholds,
    ) -> Self {
        let mut table = CurveTable {
            truth,
            matches,
            thresholds,
            levels: recall_levels(),
            curves: Vec::new(),
        };
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
                curve_of(&images, limit, self.thresholds.values().len(), &self.levels)
            })
            .collect()
    }

    /// AP, AP50, AP75 and AP by area range.
    pub fn precision_metrics(&self, metrics: &mut Metrics) {
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
    pub fn frequency_metrics(&self, metrics: &mut Metrics) {
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
    pub fn mean_recall(&self, area: usize, limit: Option<usize>) -> Option<f64> {
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

    pub fn area_recalls(&self, metrics: &mut Metrics, cap: usize) {
        for (area, letter) in ["s", "m", "l"].into_iter().enumerate() {
            metrics.push(
                format!("AR{letter}@{cap}"),
                self.mean_recall(area + 1, None),
            );
        }
    }
}
