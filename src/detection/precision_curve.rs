//! The interpolated precision-recall curve of COCO and LVIS: precision made non-increasing
//! from the right, then read at 101 recall levels (0, 0.01, ..., 1), zero past the last
//! recall reached.

use super::matching::{MAX_THRESHOLDS, MatchedDetection};
use std::cmp::Ordering;

/// Precision at each recall level and the final recall, per IoU threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// `precision[t][r]`.
    pub precision: Vec<Vec<f64>>,
    /// `recall[t]`: the recall of all detections.
    pub recall: Vec<f64>,
}

/// `count` points from `start` to `stop` as numpy's `linspace` computes them (`i * step +
/// start`, the last point exactly `stop`), so thresholds compare equal to the references'.
pub fn linspace(start: f64, stop: f64, count: usize) -> Vec<f64> {
    if count <= 1 {
        return vec![start; count];
    }
    let step = (stop - start) / (count - 1) as f64;
    let mut points: Vec<f64> = (0..count).map(|i| i as f64 * step + start).collect();
    points[count - 1] = stop;
    points
}

/// The recall levels: 0, 0.01, ..., 1.
pub fn recall_levels() -> Vec<f64> {
    linspace(0.0, 1.0, 101)
}

/// Sorts detections best score first, keeping the given order among equal scores (numpy's
/// stable mergesort, which breaks ties the way the references do).
pub fn sort_by_score(detections: &mut [MatchedDetection]) {
    detections.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
}

/// The curve of `detections` (sorted by [`sort_by_score`]) against `objects` objects to find,
/// at `thresholds` IoU thresholds; `None` when there is nothing to find (the references'
/// -1, left out of every mean).
pub fn interpolated_curve(
    detections: &[MatchedDetection],
    objects: usize,
    thresholds: usize,
    recall_levels: &[f64],
) -> Option<Curve> {
    assert!(thresholds <= MAX_THRESHOLDS, "at most 32 IoU thresholds");
    if objects == 0 {
        return None;
    }
    let mut precision = Vec::with_capacity(thresholds);
    let mut recall = Vec::with_capacity(thresholds);
    for t in 0..thresholds {
        let bit = 1u32 << t;
        let (mut tp, mut fp) = (0.0f64, 0.0f64);
        let mut recalls = Vec::with_capacity(detections.len());
        let mut precisions = Vec::with_capacity(detections.len());
        for d in detections {
            if d.ignored & bit == 0 {
                if d.matched & bit != 0 {
                    tp += 1.0;
                } else {
                    fp += 1.0;
                }
            }
            recalls.push(tp / objects as f64);
            precisions.push(tp / (fp + tp + f64::EPSILON));
        }
        for i in (1..precisions.len()).rev() {
            if precisions[i] > precisions[i - 1] {
                precisions[i - 1] = precisions[i];
            }
        }
        let at_levels = recall_levels
            .iter()
            .map(|&level| {
                // numpy's searchsorted(side="left"): the first detection reaching the level.
                let i = recalls.partition_point(|&r| r < level);
                precisions.get(i).copied().unwrap_or(0.0)
            })
            .collect();
        precision.push(at_levels);
        recall.push(recalls.last().copied().unwrap_or(0.0));
    }
    Some(Curve { precision, recall })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f64, hit: bool) -> MatchedDetection {
        MatchedDetection {
            score,
            matched: hit as u32,
            ignored: 0,
        }
    }

    #[test]
    fn linspace_matches_numpy() {
        // np.linspace(0.5, 0.95, 10) (printed with repr by numpy 1.23).
        let t = linspace(0.5, 0.95, 10);
        assert_eq!(t[1], 0.55);
        assert_eq!(t[3], 0.65);
        assert_eq!(t[8], 0.8999999999999999);
        assert_eq!(t[5], 0.75);
        assert_eq!(t[9], 0.95);
        let r = recall_levels();
        assert_eq!((r.len(), r[0], r[100]), (101, 0.0, 1.0));
        assert_eq!(r[7], 0.07);
    }

    #[test]
    fn hand_computed_curve() {
        // Hits at ranks 1 and 3 of 4 detections, 4 objects: recall 0.25 at precision 1 and
        // 0.5 at precision 2/3; the interpolated curve is 1 up to recall 0.25, 2/3 up to 0.5,
        // 0 beyond: AP = (26 * 1 + 25 * 2/3) / 101.
        let dets = [
            det(0.9, true),
            det(0.8, false),
            det(0.7, true),
            det(0.6, false),
        ];
        let curve = interpolated_curve(&dets, 4, 1, &recall_levels()).unwrap();
        let ap: f64 = curve.precision[0].iter().sum::<f64>() / 101.0;
        let expected = (26.0 + 25.0 * 2.0 / 3.0) / 101.0;
        // Tolerance: the eps in the precision's denominator and summation order, ~1e-15.
        assert!((ap - expected).abs() < 1e-12, "{ap} vs {expected}");
        assert_eq!(curve.recall, vec![0.5]);
        assert!(interpolated_curve(&dets, 0, 1, &recall_levels()).is_none());
    }

    #[test]
    fn ignored_detections_neither_help_nor_hurt() {
        let mut ignored = det(0.85, false);
        ignored.ignored = 1;
        let plain = [det(0.9, true), det(0.8, false), det(0.7, true)];
        let with_ignored = [plain[0], ignored, plain[1], plain[2]];
        let a = interpolated_curve(&plain, 3, 1, &recall_levels()).unwrap();
        let b = interpolated_curve(&with_ignored, 3, 1, &recall_levels()).unwrap();
        assert_eq!(a, b);
    }
}
