//! Object-detection evaluation: box AP as pycocotools (COCO) and the LVIS API compute it, and
//! Dave et al.'s AP-fixed and AP-pool for large vocabularies ("Evaluating Large-Vocabulary
//! Object Detectors: The Devil is in the Details", 2021; `achalddave/large-vocab-devil`).
//! Read a ground truth ([`GroundTruth::read`]) and its detections ([`read_detections`]),
//! then call [`standard_ap`], [`fixed_ap`] or [`pooled_ap`].

pub mod average_precision;
pub mod boxes;
pub mod curve_table;
pub mod detections;
pub mod ground_truth;
mod json;
pub mod matching;
pub mod metrics;
pub mod precision_curve;
pub mod selection;

pub use average_precision::{fixed_ap, pooled_ap, standard_ap};
pub use detections::{Detection, parse_detections, read_detections};
pub use ground_truth::{GroundTruth, Protocol};
pub use metrics::{IouThresholds, Metrics};
