//! Dataset formats by name. Adding a format: a reader file in this folder and one line in
//! [`FORMATS`].

use super::cifar::{Cifar100Label, read_cifar10, read_cifar100};
use super::embedded;
use super::idx::read_idx_pair;
use super::image_folder::read_image_folder;
use super::image_set::ImageSet;
use super::multicolor::{self, Colouring};
use super::synthetic::{SyntheticSpec, generate};
use crate::config::DatasetConfig;
use crate::registry::{Entry, find};
use crate::usage_error;
use std::path::{Path, PathBuf};

/// Both splits of a dataset, in memory.
#[derive(Clone, Debug)]
pub struct LoadedData {
    pub train: ImageSet,
    pub test: ImageSet,
    pub class_names: Vec<String>,
    /// Training images kept out of training for selection (`dataset.holdout`).
    pub holdout: Option<ImageSet>,
}

impl LoadedData {
    pub fn channels(&self) -> usize {
        self.train.channels
    }

    pub fn num_classes(&self) -> usize {
        self.train.num_classes
    }
}

type Reader = fn(&DatasetConfig, u64) -> anyhow::Result<LoadedData>;

/// A dataset format: its reader and the optional `[dataset]` keys it reads (besides
/// `format`, `name`, `mean` and `std`, which every format has).
pub struct Format {
    pub read: Reader,
    pub options: &'static [&'static str],
}

/// Dataset formats: what each reads, and its reader.
pub const FORMATS: &[Entry<Format>] = &[
    Entry {
        name: "idx",
        description: "MNIST / Fashion-MNIST IDX files, gzipped or raw",
        item: Format {
            read: read_idx,
            options: &["path", "train_size", "test_size"],
        },
    },
    Entry {
        name: "cifar10",
        description: "CIFAR-10 binary batches",
        item: Format {
            read: read_cifar10_set,
            options: &["path", "train_size", "test_size"],
        },
    },
    Entry {
        name: "cifar100",
        description: "CIFAR-100 binary files, fine or coarse labels",
        item: Format {
            read: read_cifar100_set,
            options: &["path", "labels", "train_size", "test_size"],
        },
    },
    Entry {
        name: "image-folder",
        description: "train/ and test/ folders with one sub-folder of PNG/JPEG per class",
        item: Format {
            read: read_folder,
            options: &["path", "channels", "image_size", "train_size", "test_size"],
        },
    },
    Entry {
        name: "synthetic",
        description: "seeded synthetic patterns, for tests",
        item: Format {
            read: read_synthetic,
            options: &[
                "channels",
                "image_size",
                "num_classes",
                "train_size",
                "test_size",
            ],
        },
    },
    Entry {
        name: "multicolor",
        description: "grey 28x28 IDX images framed by 32 spuriously coloured patches",
        item: Format {
            read: read_multicolor,
            options: &[
                "path",
                "train_size",
                "test_size",
                "correlation",
                "test_correlation",
                "spurious_patches",
            ],
        },
    },
];

/// Refuses `[dataset]` keys the format does not read (they would be ignored silently).
pub fn check_options(config: &DatasetConfig) -> anyhow::Result<()> {
    let entry = find(FORMATS, &config.format, "dataset.format", "format")?;
    let set = [
        ("path", !config.path.is_empty()),
        ("labels", config.labels.is_some()),
        ("channels", config.channels.is_some()),
        ("image_size", config.image_size.is_some()),
        ("num_classes", config.num_classes.is_some()),
        ("train_size", config.train_size.is_some()),
        ("test_size", config.test_size.is_some()),
        ("correlation", config.correlation.is_some()),
        ("test_correlation", config.test_correlation.is_some()),
        ("spurious_patches", config.spurious_patches.is_some()),
    ];
    match set
        .iter()
        .find(|(key, given)| *given && !entry.item.options.contains(key))
    {
        Some((key, _)) => Err(usage_error!(
            "key `dataset.{key}`: the `{}` format does not use it (it reads {}); remove it",
            config.format,
            entry.item.options.join(", ")
        )),
        None => Ok(()),
    }
}

/// Loads the dataset a config describes, checking that mean/std match its channels.
pub fn load(config: &DatasetConfig, seed: u64) -> anyhow::Result<LoadedData> {
    check_options(config)?;
    let reader = find(FORMATS, &config.format, "dataset.format", "format")?
        .item
        .read;
    let mut data = reader(config, seed)?;
    if config.format != "synthetic" {
        // Data-limited runs: the first images of each split (the stored order is shuffled).
        for (key, size, set) in [
            ("train_size", config.train_size, &mut data.train),
            ("test_size", config.test_size, &mut data.test),
        ] {
            if let Some(size) = size {
                set.truncate(size).map_err(|available| {
                    usage_error!(
                        "key `dataset.{key}`: expected 1..={available} (the images in the split), got {size}"
                    )
                })?;
            }
        }
    }
    for (key, values) in [("mean", &config.mean), ("std", &config.std)] {
        if values.len() != data.channels() {
            return Err(usage_error!(
                "key `dataset.{key}`: expected {} value(s), one per image channel, got {}",
                data.channels(),
                values.len()
            ));
        }
    }
    if config.std.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
        return Err(usage_error!(
            "key `dataset.std`: every value must be positive"
        ));
    }
    if (data.test.channels, data.test.height, data.test.width)
        != (data.train.channels, data.train.height, data.train.width)
    {
        return Err(usage_error!(
            "dataset `{}`: train and test images differ in shape",
            config.path
        ));
    }
    if config.holdout > 0 {
        let (train, holdout) = super::holdout::split_holdout(&data.train, config.holdout, seed)?;
        data.train = train;
        data.holdout = Some(holdout);
    }
    if let Some(spec) = &config.keep {
        let kept = super::keep::kept_indices(spec, &data.train, seed)?;
        data.train = data.train.select(&kept);
    }
    Ok(data)
}

fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

fn dir(config: &DatasetConfig) -> anyhow::Result<PathBuf> {
    if config.path.is_empty() {
        return Err(usage_error!(
            "key `dataset.path`: the `{}` format needs a directory",
            config.format
        ));
    }
    let path = PathBuf::from(&config.path);
    if !path.is_dir() {
        return Err(usage_error!(
            "key `dataset.path`: directory {} does not exist",
            path.display()
        ));
    }
    Ok(path)
}

/// The first of `names` present in `dir` (gzipped and raw IDX files go by different names).
fn first_existing(dir: &Path, names: &[&str]) -> PathBuf {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join(names[0]))
}

fn read_idx(config: &DatasetConfig, _seed: u64) -> anyhow::Result<LoadedData> {
    if let Some(name) = config.path.strip_prefix("embedded:") {
        return embedded::load(name);
    }
    let dir = dir(config)?;
    let split = |prefix: &str| -> anyhow::Result<ImageSet> {
        let images = first_existing(
            &dir,
            &[
                &format!("{prefix}-images-idx3-ubyte.gz"),
                &format!("{prefix}-images-idx3-ubyte"),
            ],
        );
        let labels = first_existing(
            &dir,
            &[
                &format!("{prefix}-labels-idx1-ubyte.gz"),
                &format!("{prefix}-labels-idx1-ubyte"),
            ],
        );
        Ok(read_idx_pair(&images, &labels, 10)?)
    };
    Ok(LoadedData {
        train: split("train")?,
        test: split("t10k")?,
        class_names: numbered_classes(10),
        holdout: None,
    })
}

/// The IDX images of `dataset.path` (embedded or a directory), coloured per split.
fn read_multicolor(config: &DatasetConfig, seed: u64) -> anyhow::Result<LoadedData> {
    let mut base = read_idx(config, seed)?;
    // Colour only the images kept (a size beyond the split is reported by `load`); an
    // image's colours depend on its index, so they are those of the whole split's.
    for (size, set) in [
        (config.train_size, &mut base.train),
        (config.test_size, &mut base.test),
    ] {
        if let Some(size) = size.filter(|&s| s <= set.len()) {
            let _ = set.truncate(size);
        }
    }
    let patches = config.spurious_patches.unwrap_or(multicolor::PATCHES);
    let train = Colouring {
        correlation: config.correlation.unwrap_or(1.0),
        patches,
    };
    train.check("correlation")?;
    let test = Colouring {
        correlation: config.test_correlation.unwrap_or(train.correlation),
        patches,
    };
    test.check("test_correlation")?;
    let colour = |set: &ImageSet, colouring: Colouring, split: u64| {
        multicolor::colour(set, colouring, split)
            .map_err(|e| usage_error!("key `dataset.path` ({}): {e}", config.path))
    };
    Ok(LoadedData {
        train: colour(&base.train, train, 0)?,
        test: colour(&base.test, test, 1)?,
        class_names: base.class_names,
        holdout: None,
    })
}

fn read_cifar10_set(config: &DatasetConfig, _seed: u64) -> anyhow::Result<LoadedData> {
    let dir = dir(config)?;
    Ok(LoadedData {
        train: read_cifar10(&dir, true)?,
        test: read_cifar10(&dir, false)?,
        class_names: numbered_classes(10),
        holdout: None,
    })
}

fn read_cifar100_set(config: &DatasetConfig, _seed: u64) -> anyhow::Result<LoadedData> {
    let dir = dir(config)?;
    let label = match config.labels.as_deref().unwrap_or("fine") {
        "fine" => Cifar100Label::Fine,
        "coarse" => Cifar100Label::Coarse,
        other => {
            return Err(usage_error!(
                "key `dataset.labels`: expected \"fine\" or \"coarse\", got \"{other}\""
            ));
        }
    };
    let train = read_cifar100(&dir, true, label)?;
    let classes = train.num_classes;
    Ok(LoadedData {
        train,
        test: read_cifar100(&dir, false, label)?,
        class_names: numbered_classes(classes),
        holdout: None,
    })
}

fn read_folder(config: &DatasetConfig, _seed: u64) -> anyhow::Result<LoadedData> {
    let dir = dir(config)?;
    let channels = config.channels.unwrap_or(3);
    if channels != 1 && channels != 3 {
        return Err(usage_error!(
            "key `dataset.channels`: expected 1 or 3, got {channels}"
        ));
    }
    let size = config.image_size.map(|[h, w]| (h, w));
    let (train, class_names) = read_image_folder(&dir.join("train"), channels, size)?;
    let size = size.or(Some((train.height, train.width)));
    let (test, test_names) = read_image_folder(&dir.join("test"), channels, size)?;
    if test_names != class_names {
        return Err(usage_error!(
            "dataset {}: test/ has classes {:?} but train/ has {:?}",
            dir.display(),
            test_names,
            class_names
        ));
    }
    Ok(LoadedData {
        train,
        test,
        class_names,
        holdout: None,
    })
}

fn read_synthetic(config: &DatasetConfig, seed: u64) -> anyhow::Result<LoadedData> {
    let [height, width] = config.image_size.unwrap_or([16, 16]);
    let spec = SyntheticSpec {
        num_classes: config.num_classes.unwrap_or(4),
        channels: config.channels.unwrap_or(3),
        height,
        width,
    };
    if spec.num_classes < 2 || spec.channels == 0 || height < 4 || width < 4 {
        return Err(usage_error!(
            "dataset synthetic: need num_classes >= 2, channels >= 1 and images of at least 4x4"
        ));
    }
    Ok(LoadedData {
        train: generate(spec, config.train_size.unwrap_or(512), 0, seed),
        test: generate(spec, config.test_size.unwrap_or(128), 1, seed),
        class_names: numbered_classes(spec.num_classes),
        holdout: None,
    })
}
