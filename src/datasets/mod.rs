//! Datasets: readers for each on-disk format, the in-memory [`ImageSet`], augmentation and the
//! prefetching loader. [`registry`] maps a `dataset.format` to its reader.

pub mod augment;
pub mod cifar;
pub mod embedded;
pub mod holdout;
pub mod idx;
pub mod image_folder;
pub mod image_set;
pub mod keep;
pub mod loader;
pub mod multicolor;
pub mod registry;
pub mod synthetic;

pub use image_set::{DataError, ImageSet};
pub use loader::{BatchPlan, HostBatch, Pipeline, TrainLoader};
pub use registry::{LoadedData, check_options, load};
