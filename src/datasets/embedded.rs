//! Data built into the binary, so the quickstart runs on a fresh machine with no set-up: a
//! class-balanced Fashion-MNIST subset (10,000 train / 2,000 test images) made from the Debian
//! package by `scripts/make_fashion_subset.py`.

use super::idx::parse_idx_pair;
use super::registry::LoadedData;
use crate::usage_error;
use std::path::Path;

const FASHION_DIR: &str = "datasets/fashion-mnist-subset";

macro_rules! embed {
    ($file:literal) => {
        (
            $file,
            include_bytes!(concat!("../../datasets/fashion-mnist-subset/", $file)).as_slice(),
        )
    };
}

const FASHION_TRAIN: [(&str, &[u8]); 2] = [
    embed!("train-images-idx3-ubyte.gz"),
    embed!("train-labels-idx1-ubyte.gz"),
];
const FASHION_TEST: [(&str, &[u8]); 2] = [
    embed!("t10k-images-idx3-ubyte.gz"),
    embed!("t10k-labels-idx1-ubyte.gz"),
];

/// Fashion-MNIST's class names, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Loads embedded data set `name` (the part after `embedded:` in `dataset.path`).
pub fn load(name: &str) -> anyhow::Result<LoadedData> {
    match name {
        "fashion-mnist-subset" => {
            let split = |[(images, image_bytes), (labels, label_bytes)]: [(&str, &[u8]); 2]| {
                let dir = Path::new(FASHION_DIR);
                parse_idx_pair(
                    &dir.join(images),
                    image_bytes,
                    &dir.join(labels),
                    label_bytes,
                    10,
                )
            };
            Ok(LoadedData {
                train: split(FASHION_TRAIN)?,
                test: split(FASHION_TEST)?,
                class_names: FASHION_CLASSES.iter().map(|s| s.to_string()).collect(),
                holdout: None,
            })
        }
        other => Err(usage_error!(
            "key `dataset.path`: no embedded data set `{other}`; embedded: fashion-mnist-subset"
        )),
    }
}
