//! Per image and category: detections matched greedily to ground truth, highest score first,
//! at each IoU threshold and for each area range, by pycocotools' `evaluateImg` and the LVIS
//! API's `evaluate_img` rules (which differ only in crowd regions, LVIS's federated labels
//! and where the per-image cap applies).

use super::boxes::box_iou;
use super::detections::Detection;
use super::ground_truth::{GroundTruth, Protocol};
use std::collections::HashMap;

/// The most IoU thresholds one evaluation takes (they are bits of a `u32`).
pub const MAX_THRESHOLDS: usize = 32;

/// A detection after matching: bit `t` of `matched` says it matched an object at threshold
/// `t`, bit `t` of `ignored` that it counts neither as a true nor as a false positive there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchedDetection {
    pub score: f64,
    pub matched: u32,
    pub ignored: u32,
}

/// One image's detections of one category in one area range, best score first.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageResult {
    pub image: usize,
    pub detections: Vec<MatchedDetection>,
    /// Objects to find (not ignored, inside the area range).
    pub objects: usize,
}

/// What a matching pass needs besides the data.
#[derive(Clone, Debug)]
pub struct MatchingSettings {
    pub iou_thresholds: Vec<f64>,
    /// `[low, high]` object areas, inclusive; each range is matched separately.
    pub area_ranges: Vec<[f64; 2]>,
    /// pycocotools' cap on detections per image *and category* (its `maxDets[-1]`).
    pub per_image_category_cap: Option<usize>,
}

/// `results[category][area]`: the images with objects or detections of that category,
/// ascending.
pub type Matches = Vec<Vec<Vec<ImageResult>>>;

/// Matches `detections` (already limited by any per-image or per-category cap) to the ground
/// truth. `progress(done, total)` is told after each (image, category) pair.
pub fn match_detections(
    truth: &GroundTruth,
    detections: &[Detection],
    settings: &MatchingSettings,
    progress: &dyn Fn(u64, u64),
) -> Matches {
    assert!(
        settings.iou_thresholds.len() <= MAX_THRESHOLDS,
        "at most 32 IoU thresholds"
    );
    let pairs = group_by_image_and_category(truth, detections);
    let mut results: Matches =
        vec![vec![Vec::new(); settings.area_ranges.len()]; truth.categories.len()];
    let total = pairs.len() as u64;
    for (done, ((image, category), (objects, mut dets))) in pairs.into_iter().enumerate() {
        // Highest score first; ties keep file order (numpy's stable mergesort).
        dets.sort_by(|&a, &b| {
            let (a, b) = (detections[a].score, detections[b].score);
            b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal)
        });
        if let Some(cap) = settings.per_image_category_cap {
            dets.truncate(cap);
        }
        let not_exhaustive = truth.protocol == Protocol::Lvis
            && truth.federated[image].not_exhaustive.contains(&category);
        let ious: Vec<Vec<f64>> = dets
            .iter()
            .map(|&d| {
                let o = &truth.objects;
                objects
                    .iter()
                    .map(|&g| box_iou(&detections[d].bbox, &o[g].bbox, o[g].crowd))
                    .collect()
            })
            .collect();
        for (area, range) in settings.area_ranges.iter().enumerate() {
            let pair = PairView {
                truth,
                detections,
                objects: &objects,
                dets: &dets,
                ious: &ious,
            };
            let result =
                pair.match_in_range(image, *range, not_exhaustive, &settings.iou_thresholds);
            results[category][area].push(result);
        }
        progress(done as u64 + 1, total);
    }
    for per_area in &mut results {
        for images in per_area {
            images.sort_by_key(|r| r.image);
        }
    }
    results
}

/// One (image, category) pair: indices of its objects and of its detections.
type Pair = ((usize, usize), (Vec<usize>, Vec<usize>));

/// The objects and detections of each (image, category) pair that has any. LVIS: a
/// detection counts only on images where its category is annotated present or verified
/// absent (the federated rule).
fn group_by_image_and_category(truth: &GroundTruth, detections: &[Detection]) -> Vec<Pair> {
    let mut pairs: HashMap<(usize, usize), (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (i, o) in truth.objects.iter().enumerate() {
        pairs.entry((o.image, o.category)).or_default().0.push(i);
    }
    for (i, d) in detections.iter().enumerate() {
        let key = (d.image, d.category);
        if truth.protocol == Protocol::Lvis {
            // The LVIS API fetches detections with 0 < area < inf (after its caps).
            let unlabelled = !pairs.contains_key(&key)
                && !truth.federated[d.image].negative.contains(&d.category);
            if unlabelled || d.area() <= 0.0 {
                continue;
            }
        }
        pairs.entry(key).or_default().1.push(i);
    }
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort_by_key(|(key, _)| *key);
    pairs
}

struct PairView<'a> {
    truth: &'a GroundTruth,
    detections: &'a [Detection],
    /// Indices into `truth.objects`, file order.
    objects: &'a [usize],
    /// Indices into `detections`, best score first.
    dets: &'a [usize],
    /// `ious[d][g]` for `dets[d]`, `objects[g]`.
    ious: &'a [Vec<f64>],
}

impl PairView<'_> {
    fn match_in_range(
        &self,
        image: usize,
        [low, high]: [f64; 2],
        not_exhaustive: bool,
        thresholds: &[f64],
    ) -> ImageResult {
        let outside = |area: f64| area < low || area > high;
        let objects = &self.truth.objects;
        let ignored_object =
            |g: usize| objects[self.objects[g]].ignore || outside(objects[self.objects[g]].area);
        // Objects to find first, ignored ones after (stable, as numpy's mergesort).
        let mut order: Vec<usize> = (0..self.objects.len()).collect();
        order.sort_by_key(|&g| ignored_object(g));
        let ignored: Vec<bool> = order.iter().map(|&g| ignored_object(g)).collect();
        let crowd: Vec<bool> = order
            .iter()
            .map(|&g| objects[self.objects[g]].crowd)
            .collect();

        let mut matched_detections: Vec<MatchedDetection> = self
            .dets
            .iter()
            .map(|&d| MatchedDetection {
                score: self.detections[d].score,
                matched: 0,
                ignored: 0,
            })
            .collect();
        for (t, &threshold) in thresholds.iter().enumerate() {
            let bit = 1u32 << t;
            let mut taken = vec![false; order.len()];
            for (d, matched) in matched_detections.iter_mut().enumerate() {
                let mut best_iou = threshold.min(1.0 - 1e-10);
                let mut best: Option<usize> = None;
                for (k, &g) in order.iter().enumerate() {
                    if taken[k] && !crowd[k] {
                        continue;
                    }
                    // Matched to an object to find: an ignored object cannot take it over.
                    if best.is_some_and(|b| !ignored[b]) && ignored[k] {
                        break;
                    }
                    let iou = self.ious[d][g];
                    if iou < best_iou {
                        continue;
                    }
                    best_iou = iou;
                    best = Some(k);
                }
                if let Some(k) = best {
                    taken[k] = true;
                    matched.matched |= bit;
                    if ignored[k] {
                        matched.ignored |= bit;
                    }
                }
            }
        }
        // Unmatched detections outside the range, or of a category not exhaustively
        // annotated on this image (LVIS), are ignored.
        let all = if thresholds.len() == 32 {
            u32::MAX
        } else {
            (1u32 << thresholds.len()) - 1
        };
        for (matched, &d) in matched_detections.iter_mut().zip(self.dets) {
            if outside(self.detections[d].area()) || not_exhaustive {
                matched.ignored |= all & !matched.matched;
            }
        }
        ImageResult {
            image,
            detections: matched_detections,
            objects: ignored.iter().filter(|&&i| !i).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::parse_detections;

    fn settings() -> MatchingSettings {
        MatchingSettings {
            iou_thresholds: vec![0.5],
            area_ranges: vec![[0.0, 1e10]],
            per_image_category_cap: None,
        }
    }

    fn run(truth: &str, detections: &str) -> Matches {
        let truth = GroundTruth::parse(truth).unwrap();
        let detections = parse_detections(detections, &truth).unwrap();
        match_detections(&truth, &detections, &settings(), &|_, _| {})
    }

    #[test]
    fn a_crowd_region_absorbs_any_number_of_detections() {
        // One object and a crowd region; three detections: the best finds the object, the
        // other two fall in the crowd (IoU = intersection / detection area = 1) and are ignored.
        let truth = r#"{"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 40, 40], "area": 1600, "iscrowd": 1}]}"#;
        let dets = r#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [55, 55, 5, 5], "score": 0.8},
            {"image_id": 1, "category_id": 1, "bbox": [60, 60, 5, 5], "score": 0.7}]"#;
        let result = &run(truth, dets)[0][0][0];
        assert_eq!(result.objects, 1);
        let flags: Vec<(u32, u32)> = result
            .detections
            .iter()
            .map(|d| (d.matched, d.ignored))
            .collect();
        assert_eq!(flags, vec![(1, 0), (1, 1), (1, 1)]);
    }

    #[test]
    fn lvis_federated_labels_decide_what_counts() {
        // Image 1 shows category 1 (not exhaustively annotated) and is verified free of 2;
        // nothing is known of 3 there. A miss of 1 is ignored, a detection of 2 is a false
        // positive, a detection of 3 is not evaluated at all.
        let truth = r#"{"images": [{"id": 1, "neg_category_ids": [2], "not_exhaustive_category_ids": [1]}],
            "categories": [{"id": 1}, {"id": 2}, {"id": 3}], "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100}]}"#;
        let dets = r#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [30, 30, 10, 10], "score": 0.8},
            {"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.7},
            {"image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.6}]"#;
        let matches = run(truth, dets);
        let flags = |c: usize| -> Vec<(u32, u32)> {
            matches[c][0]
                .iter()
                .flat_map(|r| r.detections.iter().map(|d| (d.matched, d.ignored)))
                .collect()
        };
        assert_eq!(flags(0), vec![(1, 0), (0, 1)]);
        assert_eq!(flags(1), vec![(0, 0)]);
        assert!(matches[2][0].is_empty());
    }
}
