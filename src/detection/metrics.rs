//! Named metric values, the IoU thresholds and the area ranges of COCO and LVIS.

use super::matching::MAX_THRESHOLDS;
use super::precision_curve::linspace;
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

    pub fn push(&mut self, name: impl Into<String>, value: Option<f64>) {
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
pub struct IouThresholds(Vec<f64>);

impl Default for IouThresholds {
    fn default() -> Self {
        IouThresholds(linspace(0.5, 0.95, 10))
    }
}

impl IouThresholds {
    pub fn checked(values: Vec<f64>) -> anyhow::Result<IouThresholds> {
        if values.is_empty() || values.len() > MAX_THRESHOLDS {
            return Err(usage_error!(
                "IoU thresholds (--iou): 1 to {MAX_THRESHOLDS} values, got {}",
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
    pub fn index_of(&self, value: f64) -> Option<usize> {
        self.0.iter().position(|&t| t == value)
    }

    pub fn values(&self) -> &[f64] {
        &self.0
    }
}
