//! Detections in the COCO/LVIS results format: a JSON list of
//! `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`.

use super::boxes::parse_box;
use super::ground_truth::GroundTruth;
use crate::usage_error;
use serde::Deserialize;
use std::path::Path;

/// A detection; `image` and `category` index the ground truth's sorted ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub image: usize,
    pub category: usize,
    pub bbox: [f64; 4],
    pub score: f64,
}

impl Detection {
    /// The box's area, which places a detection in an area range (pycocotools and the LVIS
    /// API both use `w * h` for box results).
    pub fn area(&self) -> f64 {
        self.bbox[2] * self.bbox[3]
    }
}

#[derive(Deserialize)]
struct RawDetection {
    image_id: i64,
    category_id: i64,
    bbox: Option<Vec<f64>>,
    score: f64,
}

/// Reads a results file against its ground truth.
pub fn read_detections(path: &Path, truth: &GroundTruth) -> anyhow::Result<Vec<Detection>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage_error!("cannot read detections {}: {e}", path.display()))?;
    parse_detections(&text, truth).map_err(|e| usage_error!("detections {}: {e}", path.display()))
}

/// Parses a results list. Unlike pycocotools, which drops them silently, detections of a
/// category absent from the ground truth are an error: they usually mean a shifted label map.
pub fn parse_detections(text: &str, truth: &GroundTruth) -> anyhow::Result<Vec<Detection>> {
    let raw: Vec<RawDetection> =
        super::json::parse(text, "a list of {image_id, category_id, bbox, score}")?;
    raw.iter()
        .enumerate()
        .map(|(i, d)| {
            detection_of(d, truth).map_err(|e| anyhow::anyhow!("detection {i} (from 0): {e}"))
        })
        .collect()
}

fn detection_of(d: &RawDetection, truth: &GroundTruth) -> anyhow::Result<Detection> {
    let image = truth
        .image_index(d.image_id)
        .ok_or_else(|| anyhow::anyhow!("image_id {} is not in the ground truth", d.image_id))?;
    let category = truth.category_index(d.category_id).ok_or_else(|| {
        anyhow::anyhow!("category_id {} is not in the ground truth", d.category_id)
    })?;
    let bbox = d.bbox.as_deref().ok_or_else(|| {
        anyhow::anyhow!("no `bbox`: only box AP is computed (segmentation masks are not)")
    })?;
    if !d.score.is_finite() {
        anyhow::bail!("score {}, expected a finite number", d.score);
    }
    Ok(Detection {
        image,
        category,
        bbox: parse_box(bbox)?,
        score: d.score,
    })
}
