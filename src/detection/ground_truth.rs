//! Ground truth in COCO or LVIS JSON (`images`, `annotations`, `categories`). A file whose
//! images carry `neg_category_ids` and `not_exhaustive_category_ids` is LVIS (federated
//! annotation, evaluated by the LVIS API's rules); otherwise COCO (pycocotools' rules, with
//! crowd regions). Only boxes are read: masks and polygons are ignored.

use super::boxes::parse_box;
use crate::usage_error;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Which evaluation rules a ground-truth file calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Coco,
    Lvis,
}

/// LVIS's category frequency groups (images of the training set showing the category:
/// rare < 10, common < 100, frequent otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Rare,
    Common,
    Frequent,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Rare, Frequency::Common, Frequency::Frequent];

    /// The letter LVIS files and the metric names use: `r`, `c`, `f`.
    pub fn letter(self) -> char {
        match self {
            Frequency::Rare => 'r',
            Frequency::Common => 'c',
            Frequency::Frequent => 'f',
        }
    }
}

#[derive(Clone, Debug)]
pub struct Category {
    pub id: i64,
    pub frequency: Option<Frequency>,
}

/// A ground-truth object; `image` and `category` index [`GroundTruth::image_ids`] and
/// [`GroundTruth::categories`].
#[derive(Clone, Debug)]
pub struct Object {
    pub image: usize,
    pub category: usize,
    /// `[x, y, width, height]`.
    pub bbox: [f64; 4],
    /// The annotation's `area` (a mask's area in COCO and LVIS, not the box's): it decides
    /// the small / medium / large ranges.
    pub area: f64,
    /// COCO crowd region: matches any number of detections, which are then ignored.
    pub crowd: bool,
    /// Left out of the count of objects to find (COCO: crowd; LVIS: an `ignore` flag).
    pub ignore: bool,
}

/// LVIS's federated labels of one image.
#[derive(Clone, Debug, Default)]
pub struct FederatedLabels {
    /// Categories verified absent: detections of them are false positives.
    pub negative: HashSet<usize>,
    /// Categories not exhaustively annotated: their unmatched detections are ignored.
    pub not_exhaustive: HashSet<usize>,
}

#[derive(Clone, Debug)]
pub struct GroundTruth {
    pub protocol: Protocol,
    /// Image ids, ascending (the evaluation's image order).
    pub image_ids: Vec<i64>,
    /// Categories by ascending id.
    pub categories: Vec<Category>,
    /// In file order.
    pub objects: Vec<Object>,
    /// LVIS only: per image (index of `image_ids`).
    pub federated: Vec<FederatedLabels>,
    image_index: HashMap<i64, usize>,
    category_index: HashMap<i64, usize>,
}

#[derive(Deserialize)]
struct RawFile {
    images: Vec<RawImage>,
    annotations: Vec<RawAnnotation>,
    categories: Vec<RawCategory>,
}

#[derive(Deserialize)]
struct RawImage {
    id: i64,
    neg_category_ids: Option<Vec<i64>>,
    not_exhaustive_category_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
struct RawCategory {
    id: i64,
    frequency: Option<String>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    id: i64,
    image_id: i64,
    category_id: i64,
    bbox: Option<Vec<f64>>,
    area: Option<f64>,
    iscrowd: Option<serde_json::Value>,
    ignore: Option<serde_json::Value>,
}

impl GroundTruth {
    pub fn read(path: &Path) -> anyhow::Result<GroundTruth> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage_error!("cannot read ground truth {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| usage_error!("ground truth {}: {e}", path.display()))
    }

    /// Parses a COCO or LVIS ground-truth JSON text; errors name the image, annotation or
    /// category id and the key.
    pub fn parse(text: &str) -> anyhow::Result<GroundTruth> {
        let raw: RawFile =
            super::json::parse(text, "COCO/LVIS JSON with images, annotations, categories")?;
        let protocol = protocol_of(&raw.images)?;

        let mut image_ids: Vec<i64> = raw.images.iter().map(|i| i.id).collect();
        image_ids.sort_unstable();
        if let Some(w) = image_ids.windows(2).find(|w| w[0] == w[1]) {
            anyhow::bail!("image id {} appears twice in `images`", w[0]);
        }
        let image_index: HashMap<i64, usize> = image_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i))
            .collect();

        let mut categories = Vec::with_capacity(raw.categories.len());
        for c in &raw.categories {
            let frequency = match c.frequency.as_deref() {
                None => None,
                Some("r") => Some(Frequency::Rare),
                Some("c") => Some(Frequency::Common),
                Some("f") => Some(Frequency::Frequent),
                Some(other) => anyhow::bail!(
                    "category {}: frequency {other:?}, expected \"r\", \"c\" or \"f\"",
                    c.id
                ),
            };
            categories.push(Category {
                id: c.id,
                frequency,
            });
        }
        categories.sort_by_key(|c| c.id);
        if let Some(w) = categories.windows(2).find(|w| w[0].id == w[1].id) {
            anyhow::bail!("category id {} appears twice in `categories`", w[0].id);
        }
        let category_index: HashMap<i64, usize> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();

        let mut objects = Vec::with_capacity(raw.annotations.len());
        let mut annotation_ids = HashSet::with_capacity(raw.annotations.len());
        for a in &raw.annotations {
            if !annotation_ids.insert(a.id) {
                anyhow::bail!("annotation id {} appears twice in `annotations`", a.id);
            }
            let object = object_of(a, protocol, &image_index, &category_index)
                .map_err(|e| anyhow::anyhow!("annotation {}: {e}", a.id))?;
            // The LVIS API selects annotations with 0 < area < inf: others never count.
            if protocol == Protocol::Lvis && object.area <= 0.0 {
                continue;
            }
            objects.push(object);
        }

        let mut federated = vec![FederatedLabels::default(); image_ids.len()];
        if protocol == Protocol::Lvis {
            for image in &raw.images {
                let labels = &mut federated[image_index[&image.id]];
                let lists = [
                    (
                        "neg_category_ids",
                        &image.neg_category_ids,
                        &mut labels.negative,
                    ),
                    (
                        "not_exhaustive_category_ids",
                        &image.not_exhaustive_category_ids,
                        &mut labels.not_exhaustive,
                    ),
                ];
                for (key, ids, set) in lists {
                    for id in ids.iter().flatten() {
                        let &category = category_index.get(id).ok_or_else(|| {
                            anyhow::anyhow!("image {}: {key} names unknown category {id}", image.id)
                        })?;
                        set.insert(category);
                    }
                }
            }
        }
        Ok(GroundTruth {
            protocol,
            image_ids,
            categories,
            objects,
            federated,
            image_index,
            category_index,
        })
    }

    pub fn image_index(&self, id: i64) -> Option<usize> {
        self.image_index.get(&id).copied()
    }

    pub fn category_index(&self, id: i64) -> Option<usize> {
        self.category_index.get(&id).copied()
    }

    /// Whether every category has a frequency group (LVIS's APr, APc, APf and pools).
    pub fn has_frequencies(&self) -> bool {
        !self.categories.is_empty() && self.categories.iter().all(|c| c.frequency.is_some())
    }
}

fn protocol_of(images: &[RawImage]) -> anyhow::Result<Protocol> {
    let federated =
        |i: &RawImage| i.neg_category_ids.is_some() || i.not_exhaustive_category_ids.is_some();
    let complete =
        |i: &RawImage| i.neg_category_ids.is_some() && i.not_exhaustive_category_ids.is_some();
    if !images.iter().any(federated) {
        return Ok(Protocol::Coco);
    }
    if let Some(image) = images.iter().find(|i| !complete(i)) {
        anyhow::bail!(
            "image {} lacks neg_category_ids or not_exhaustive_category_ids, which other \
             images have (an LVIS file needs both on every image)",
            image.id
        );
    }
    Ok(Protocol::Lvis)
}

fn object_of(
    a: &RawAnnotation,
    protocol: Protocol,
    image_index: &HashMap<i64, usize>,
    category_index: &HashMap<i64, usize>,
) -> anyhow::Result<Object> {
    let image = *image_index
        .get(&a.image_id)
        .ok_or_else(|| anyhow::anyhow!("image_id {} is not in `images`", a.image_id))?;
    let category = *category_index
        .get(&a.category_id)
        .ok_or_else(|| anyhow::anyhow!("category_id {} is not in `categories`", a.category_id))?;
    let bbox = a
        .bbox
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("no `bbox` (box AP needs [x, y, width, height])"))?;
    let bbox = parse_box(bbox)?;
    let area = a
        .area
        .ok_or_else(|| anyhow::anyhow!("no `area` (it decides the small/medium/large ranges)"))?;
    if !area.is_finite() || area < 0.0 {
        anyhow::bail!("area {area}, expected a finite number >= 0");
    }
    let crowd = flag(&a.iscrowd, "iscrowd")?;
    // pycocotools replaces `ignore` by `iscrowd`; the LVIS API keeps `ignore` (no crowds).
    let ignore = match protocol {
        Protocol::Coco => crowd,
        Protocol::Lvis => flag(&a.ignore, "ignore")?,
    };
    Ok(Object {
        image,
        category,
        bbox,
        area,
        crowd: protocol == Protocol::Coco && crowd,
        ignore,
    })
}

/// A 0/1 or boolean flag; absent is false.
fn flag(value: &Option<serde_json::Value>, key: &str) -> anyhow::Result<bool> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(serde_json::Value::Number(n)) if n.as_f64().is_some() => Ok(n.as_f64() != Some(0.0)),
        Some(other) => anyhow::bail!("{key} is {other}, expected 0, 1 or a boolean"),
    }
}
