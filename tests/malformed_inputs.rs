//! A corpus of malformed inputs fed to the `stoke` binary: broken data files, configs,
//! overrides, flags and damaged run directories. Every case runs the binary as a subprocess
//! and must end with the expected exit code (2: a usage error, 1: a runtime error), without a
//! panic or a signal, with a message on stderr that names the input at fault, without
//! changing or removing any file that existed before the command ran and, when it fails,
//! without leaving any new file behind.
//!
//! Adding a case is one row in [`CASES`]. `setup` builds the inputs in the case's own empty
//! directory, which is also the command's working directory, so `args` (split at spaces) and
//! `mentions` name files by paths relative to it.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Builds a case's inputs in its directory and returns the directory, so calls chain:
/// `|d| d.mnist(false).remove(TRAIN_LABELS)`; `|d| d` builds nothing.
type Setup = for<'a> fn(&'a Dir<'a>) -> &'a Dir<'a>;

/// One malformed input and what `stoke` must do with it.
struct Case {
    name: &'static str,
    setup: Setup,
    /// The command line after `stoke`, split at spaces.
    args: &'static str,
    /// The exit code: 2 for a usage error, 1 for a runtime error (0 for the controls that
    /// show a fixture is valid before the other rows damage it).
    exit: i32,
    /// Text stderr must contain: the file, key, flag or value at fault.
    mentions: &'static [&'static str],
}

/// A command may run this long before the case fails as hung.
const TIMEOUT: Duration = Duration::from_secs(120);

/// `stoke train smoke` for two steps into `out/`, with more arguments.
macro_rules! train {
    ($more:literal) => {
        concat!("train smoke --quiet --out out train.steps=2 ", $more)
    };
}

/// `stoke train FILE` for two steps into `out/`, with more arguments.
macro_rules! train_file {
    ($file:literal, $more:literal) => {
        concat!("train ", $file, " --quiet --out out train.steps=2 ", $more)
    };
}

const TRAIN_IMAGES: &str = "data/train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "data/train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "data/t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "data/t10k-labels-idx1-ubyte";
const CHECKPOINT: &str = "run/checkpoints/step-00000006";
const MODEL: &str = "run/checkpoints/step-00000006/model.bpk";
const OPTIM: &str = "run/checkpoints/step-00000006/optim.bpk";
const STATE: &str = "run/checkpoints/step-00000006/state.json";
const FEDERATED_MIFA: &str = "run/checkpoints/step-00000004/mifa.safetensors";

const CASES: &[Case] = &[
    // ---- IDX files (MNIST layout), raw and gzipped ----
    Case {
        name: "idx control: valid raw files train",
        setup: |d| d.mnist(false),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 0,
        mentions: &[],
    },
    Case {
        name: "idx control: valid gzipped files train",
        setup: |d| d.mnist(true),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 0,
        mentions: &[],
    },
    Case {
        name: "idx: dataset directory missing",
        setup: |d| d,
        args: train!("dataset.name=mnist dataset.path=nodata"),
        exit: 2,
        mentions: &["dataset.path", "nodata"],
    },
    Case {
        name: "idx: dataset path is a file",
        setup: |d| d.write("data", b"not a directory"),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 2,
        mentions: &["dataset.path", "data"],
    },
    Case {
        name: "idx: empty dataset path",
        setup: |d| d,
        args: train!("dataset.name=mnist dataset.path=\"\""),
        exit: 2,
        mentions: &["dataset.path"],
    },
    Case {
        name: "idx: empty directory",
        setup: |d| d.mkdir("data"),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["train-images-idx3-ubyte", "missing file"],
    },
    Case {
        name: "idx: train labels missing",
        setup: |d| d.mnist(false).remove(TRAIN_LABELS),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["train-labels-idx1-ubyte", "missing file"],
    },
    Case {
        name: "idx: test images missing",
        setup: |d| d.mnist(false).remove(TEST_IMAGES),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["t10k-images-idx3-ubyte", "missing file"],
    },
    Case {
        name: "idx: test labels missing",
        setup: |d| d.mnist(false).remove(TEST_LABELS),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["t10k-labels-idx1-ubyte", "missing file"],
    },
    Case {
        name: "idx: train images is a directory",
        setup: |d| d.mnist(false).remove(TRAIN_IMAGES).mkdir(TRAIN_IMAGES),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["train-images-idx3-ubyte"],
    },
    Case {
        name: "idx: empty images file",
        setup: |d| d.mnist(false).write(TRAIN_IMAGES, b""),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "truncated"],
    },
    Case {
        name: "idx: images header cut after the count",
        setup: |d| d.mnist(false).edit(TRAIN_IMAGES, |b| b.truncate(8)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "header"],
    },
    Case {
        name: "idx: images file holds labels (swapped files)",
        setup: |d| d.mnist(false).write(TRAIN_IMAGES, &idx_labels(64, 10)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "wrong magic number", "0x00000801"],
    },
    Case {
        name: "idx: images file is a zip",
        setup: |d| {
            d.mnist(false)
                .write(TRAIN_IMAGES, b"PK\x03\x04 not an idx file at all")
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "wrong magic number", "0x504b0304"],
    },
    Case {
        name: "idx: labels file holds images",
        setup: |d| d.mnist(false).write(TRAIN_LABELS, &idx_images(64, 28, 28)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_LABELS, "wrong magic number", "0x00000803"],
    },
    Case {
        name: "idx: images magic of a signed-byte file",
        setup: |d| d.mnist(false).edit(TRAIN_IMAGES, |b| b[2] = 0x09),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "wrong magic number"],
    },
    Case {
        name: "idx: images truncated in the pixels",
        setup: |d| d.mnist(false).edit(TRAIN_IMAGES, |b| b.truncate(5000)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "truncated"],
    },
    Case {
        name: "idx: images missing their last byte",
        setup: |d| {
            d.mnist(false).edit(TRAIN_IMAGES, |b| {
                b.pop();
            })
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "truncated"],
    },
    Case {
        name: "idx: images with trailing bytes",
        setup: |d| {
            d.mnist(false)
                .edit(TRAIN_IMAGES, |b| b.extend_from_slice(b"junk"))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "trailing data"],
    },
    Case {
        name: "idx: images header claims 4 billion huge images",
        setup: |d| d.mnist(false).edit(TRAIN_IMAGES, |b| b[4..16].fill(0xff)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "4294967295"],
    },
    Case {
        name: "idx: images header claims one image more than the file holds",
        setup: |d| d.mnist(false).edit(TRAIN_IMAGES, |b| b[7] = 65),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "truncated"],
    },
    Case {
        name: "idx: image and label counts differ",
        setup: |d| d.mnist(false).write(TRAIN_LABELS, &idx_labels(63, 10)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, TRAIN_LABELS, "count mismatch"],
    },
    Case {
        name: "idx: test image and label counts differ",
        setup: |d| d.mnist(false).write(TEST_LABELS, &idx_labels(33, 10)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TEST_IMAGES, TEST_LABELS, "count mismatch"],
    },
    Case {
        name: "idx: label 10 with 10 classes",
        setup: |d| d.mnist(false).edit(TRAIN_LABELS, |b| b[8 + 5] = 10),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_LABELS, "label out of range", "label 5 is 10"],
    },
    Case {
        name: "idx: label 255",
        setup: |d| {
            d.mnist(false)
                .edit(TEST_LABELS, |b| *b.last_mut().unwrap() = 255)
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TEST_LABELS, "label out of range", "255"],
    },
    Case {
        name: "idx: labels truncated",
        setup: |d| d.mnist(false).edit(TRAIN_LABELS, |b| b.truncate(20)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_LABELS, "truncated"],
    },
    Case {
        name: "idx: labels with trailing bytes",
        setup: |d| d.mnist(false).edit(TRAIN_LABELS, |b| b.push(0)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_LABELS, "trailing data"],
    },
    Case {
        name: "idx: test images of another size than the train images",
        setup: |d| d.mnist(false).write(TEST_IMAGES, &idx_images(32, 14, 14)),
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 2,
        mentions: &["dataset `data`", "differ in shape"],
    },
    Case {
        name: "idx gz: truncated stream",
        setup: |d| {
            d.mnist(true).edit("data/train-images-idx3-ubyte.gz", |b| {
                b.truncate(b.len() / 2)
            })
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/train-images-idx3-ubyte.gz", "gzip"],
    },
    Case {
        name: "idx gz: only the gzip magic",
        setup: |d| {
            d.mnist(true)
                .write("data/t10k-labels-idx1-ubyte.gz", b"\x1f\x8b")
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/t10k-labels-idx1-ubyte.gz", "gzip"],
    },
    Case {
        name: "idx gz: corrupt checksum",
        setup: |d| {
            d.mnist(true).edit("data/train-labels-idx1-ubyte.gz", |b| {
                let n = b.len();
                b[n - 6] ^= 0xff;
            })
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/train-labels-idx1-ubyte.gz", "gzip"],
    },
    Case {
        name: "idx gz: damaged deflate data",
        setup: |d| {
            d.mnist(true)
                .edit("data/train-images-idx3-ubyte.gz", |b| b[20..40].fill(0xff))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/train-images-idx3-ubyte.gz", "gzip"],
    },
    Case {
        name: "idx gz: garbage after the stream",
        setup: |d| {
            d.mnist(true).edit("data/t10k-images-idx3-ubyte.gz", |b| {
                b.extend_from_slice(b"garbage")
            })
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/t10k-images-idx3-ubyte.gz"],
    },
    Case {
        name: "idx gz: wrong magic inside",
        setup: |d| {
            d.mnist(true).write(
                "data/train-images-idx3-ubyte.gz",
                &gzip(&idx_labels(64, 10)),
            )
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/train-images-idx3-ubyte.gz", "wrong magic number"],
    },
    Case {
        name: "idx gz: truncated images inside",
        setup: |d| {
            let mut bytes = idx_images(32, 28, 28);
            bytes.truncate(1000);
            d.mnist(true)
                .write("data/t10k-images-idx3-ubyte.gz", &gzip(&bytes))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/t10k-images-idx3-ubyte.gz", "truncated"],
    },
    Case {
        name: "idx gz: label out of range inside",
        setup: |d| {
            let mut bytes = idx_labels(64, 10);
            bytes[8] = 42;
            d.mnist(true)
                .write("data/train-labels-idx1-ubyte.gz", &gzip(&bytes))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[
            "data/train-labels-idx1-ubyte.gz",
            "label out of range",
            "42",
        ],
    },
    Case {
        name: "idx gz: count mismatch inside",
        setup: |d| {
            d.mnist(true)
                .write("data/t10k-labels-idx1-ubyte.gz", &gzip(&idx_labels(31, 10)))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &["data/t10k-labels-idx1-ubyte.gz", "count mismatch"],
    },
    Case {
        name: "idx: embedded dataset that does not exist",
        setup: |d| d,
        args: train!("dataset.name=mnist dataset.path=embedded:nope"),
        exit: 2,
        mentions: &["nope"],
    },
    Case {
        name: "idx: train_size above the images in the split",
        setup: |d| d.mnist(false),
        args: train!("dataset.name=mnist dataset.path=data dataset.train_size=1000"),
        exit: 2,
        mentions: &["dataset.train_size", "1000"],
    },
    Case {
        name: "idx: test_size 0",
        setup: |d| d.mnist(false),
        args: train!("dataset.name=mnist dataset.path=data dataset.test_size=0"),
        exit: 2,
        mentions: &["dataset.test_size"],
    },
    Case {
        name: "idx: mean with 3 values for 1 channel",
        setup: |d| d.mnist(false),
        args: train!("dataset.name=mnist dataset.path=data dataset.mean=[0.5,0.5,0.5]"),
        exit: 2,
        mentions: &["dataset.mean"],
    },
    Case {
        name: "idx: std 0",
        setup: |d| d.mnist(false),
        args: train!("dataset.name=mnist dataset.path=data dataset.std=[0.0]"),
        exit: 2,
        mentions: &["dataset.std"],
    },
    Case {
        name: "idx: std negative",
        setup: |d| d.mnist(false),
        args: train!("dataset.name=mnist dataset.path=data dataset.std=[-0.3]"),
        exit: 2,
        mentions: &["dataset.std"],
    },
    Case {
        name: "idx: no train images",
        setup: |d| {
            d.mnist(false)
                .write(TRAIN_IMAGES, &idx_images(0, 28, 28))
                .write(TRAIN_LABELS, &idx_labels(0, 10))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 2,
        mentions: &["training split", "`data`", "no images"],
    },
    Case {
        name: "idx: no test images",
        setup: |d| {
            d.mnist(true)
                .write(
                    "data/t10k-images-idx3-ubyte.gz",
                    &gzip(&idx_images(0, 28, 28)),
                )
                .write("data/t10k-labels-idx1-ubyte.gz", &gzip(&idx_labels(0, 10)))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 2,
        mentions: &["test split", "`data`", "no images"],
    },
    Case {
        name: "idx: no images of 100000x100000",
        setup: |d| {
            d.mnist(false)
                .write(TRAIN_IMAGES, &idx_images(0, 100_000, 100_000))
                .write(TRAIN_LABELS, &idx_labels(0, 10))
                .write(TEST_IMAGES, &idx_images(0, 100_000, 100_000))
                .write(TEST_LABELS, &idx_labels(0, 10))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 2,
        mentions: &["`data`", "no images"],
    },
    // ---- CIFAR-10 / CIFAR-100 binary files ----
    Case {
        name: "cifar10 control: valid files train",
        setup: |d| d.cifar10(),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 0,
        mentions: &[],
    },
    Case {
        name: "cifar10: test batch cut inside a record",
        setup: |d| {
            d.cifar10()
                .edit("data/test_batch.bin", |b| b.truncate(b.len() - 5))
        },
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data/test_batch.bin", "truncated record"],
    },
    Case {
        name: "cifar10: train batch one byte too long",
        setup: |d| d.cifar10().edit("data/data_batch_5.bin", |b| b.push(0)),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data/data_batch_5.bin", "3073-byte record"],
    },
    Case {
        name: "cifar10: test batch of one record less a byte",
        setup: |d| d.cifar10().write("data/test_batch.bin", &[0; 3072]),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data/test_batch.bin", "truncated record"],
    },
    Case {
        name: "cifar10: CIFAR-100 records",
        setup: |d| d.cifar10().write("data/data_batch_1.bin", &[0; 3074 * 3]),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data/data_batch_1.bin", "3073-byte record"],
    },
    Case {
        name: "cifar10: empty train batch",
        setup: |d| d.cifar10().write("data/data_batch_2.bin", b""),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data/data_batch_2.bin", "empty file"],
    },
    Case {
        name: "cifar10: train batch 3 missing",
        setup: |d| d.cifar10().remove("data/data_batch_3.bin"),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data_batch_3.bin", "missing file"],
    },
    Case {
        name: "cifar10: test batch missing",
        setup: |d| d.cifar10().remove("data/test_batch.bin"),
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["test_batch.bin", "missing file"],
    },
    Case {
        name: "cifar10: train batch is a directory",
        setup: |d| {
            d.cifar10()
                .remove("data/data_batch_4.bin")
                .mkdir("data/data_batch_4.bin")
        },
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data_batch_4.bin"],
    },
    Case {
        name: "cifar10: label 10",
        setup: |d| {
            d.cifar10()
                .edit("data/test_batch.bin", |b| b[3073 * 2] = 10)
        },
        args: train!("dataset.name=cifar10 dataset.path=data"),
        exit: 1,
        mentions: &["data/test_batch.bin", "label out of range", "record 2"],
    },
    Case {
        name: "cifar10: path is one of the files",
        setup: |d| d.cifar10(),
        args: train!("dataset.name=cifar10 dataset.path=data/test_batch.bin"),
        exit: 2,
        mentions: &["dataset.path", "data/test_batch.bin"],
    },
    Case {
        name: "cifar10: mean of one value for 3 channels",
        setup: |d| d.cifar10(),
        args: train!("dataset.name=cifar10 dataset.path=data dataset.mean=[0.5]"),
        exit: 2,
        mentions: &["dataset.mean"],
    },
    Case {
        name: "cifar100 control: valid files train",
        setup: |d| d.cifar100(),
        args: train!("dataset.name=cifar100 dataset.path=data"),
        exit: 0,
        mentions: &[],
    },
    Case {
        name: "cifar100: CIFAR-10 records",
        setup: |d| d.cifar100().write("data/train.bin", &[0; 3073 * 4]),
        args: train!("dataset.name=cifar100 dataset.path=data"),
        exit: 1,
        mentions: &["data/train.bin", "3074-byte record"],
    },
    Case {
        name: "cifar100: fine label 100",
        setup: |d| d.cifar100().edit("data/test.bin", |b| b[1] = 100),
        args: train!("dataset.name=cifar100 dataset.path=data"),
        exit: 1,
        mentions: &[
            "data/test.bin",
            "label out of range",
            "record 0 has label 100",
        ],
    },
    Case {
        name: "cifar100: coarse label 20",
        setup: |d| d.cifar100().edit("data/train.bin", |b| b[3074 * 3] = 20),
        args: train!("dataset.name=cifar100 dataset.path=data dataset.labels=coarse"),
        exit: 1,
        mentions: &["data/train.bin", "record 3 has label 20"],
    },
    Case {
        name: "cifar100: labels neither fine nor coarse",
        setup: |d| d.cifar100(),
        args: train!("dataset.name=cifar100 dataset.path=data dataset.labels=medium"),
        exit: 2,
        mentions: &["dataset.labels", "medium"],
    },
    Case {
        name: "cifar100: test file missing",
        setup: |d| d.cifar100().remove("data/test.bin"),
        args: train!("dataset.name=cifar100 dataset.path=data"),
        exit: 1,
        mentions: &["test.bin", "missing file"],
    },
    Case {
        name: "cifar100: empty train file",
        setup: |d| d.cifar100().write("data/train.bin", b""),
        args: train!("dataset.name=cifar100 dataset.path=data"),
        exit: 1,
        mentions: &["data/train.bin", "empty file"],
    },
    // ---- Image folders ----
    Case {
        name: "image-folder control: valid folders train",
        setup: |d| d.image_folder(),
        args: train_file!("folder.toml", ""),
        exit: 0,
        mentions: &[],
    },
    Case {
        name: "image-folder: train/ missing",
        setup: |d| d.image_folder().remove("data/train"),
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train", "missing directory"],
    },
    Case {
        name: "image-folder: test/ missing",
        setup: |d| d.image_folder().remove("data/test"),
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/test", "missing directory"],
    },
    Case {
        name: "image-folder: train/ holds files, no class folders",
        setup: |d| {
            d.image_folder()
                .remove("data/train")
                .png("data/train/0.png", 16, 16)
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train", "no class sub-folders"],
    },
    Case {
        name: "image-folder: only a hidden folder",
        setup: |d| {
            d.image_folder()
                .remove("data/test")
                .png("data/test/.ipynb_checkpoints/0.png", 16, 16)
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/test", "no class sub-folders"],
    },
    Case {
        name: "image-folder: empty class folder",
        setup: |d| {
            d.image_folder()
                .remove("data/train/dog")
                .mkdir("data/train/dog")
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train/dog", "no images"],
    },
    Case {
        name: "image-folder: class folder of text files",
        setup: |d| {
            d.image_folder()
                .remove("data/test/cat")
                .write("data/test/cat/notes.txt", b"a cat")
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/test/cat", "no images"],
    },
    Case {
        name: "image-folder: PNG of text",
        setup: |d| d.image_folder().write("data/train/cat/1.png", b"not a png"),
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train/cat/1.png", "cannot decode"],
    },
    Case {
        name: "image-folder: empty PNG",
        setup: |d| d.image_folder().write("data/test/dog/0.png", b""),
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/test/dog/0.png", "cannot decode"],
    },
    Case {
        name: "image-folder: truncated PNG",
        setup: |d| {
            d.image_folder()
                .edit("data/train/dog/0.png", |b| b.truncate(b.len() / 2))
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train/dog/0.png", "cannot decode"],
    },
    Case {
        name: "image-folder: PNG with a damaged header chunk",
        setup: |d| {
            d.image_folder()
                .edit("data/train/cat/0.png", |b| b[16..24].fill(0))
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train/cat/0.png", "cannot decode"],
    },
    Case {
        name: "image-folder: JPEG of garbage",
        setup: |d| {
            d.image_folder()
                .write("data/train/cat/2.jpg", b"\xff\xd8\xff garbage")
        },
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train/cat/2.jpg", "cannot decode"],
    },
    Case {
        name: "image-folder: images of two sizes",
        setup: |d| d.image_folder().png("data/train/dog/9.png", 12, 16),
        args: train_file!("folder.toml", ""),
        exit: 1,
        mentions: &["data/train/dog/9.png"],
    },
    Case {
        name: "image-folder: test classes differ from train classes",
        setup: |d| d.image_folder().png("data/test/bird/0.png", 16, 16),
        args: train_file!("folder.toml", ""),
        exit: 2,
        mentions: &["dataset data", "bird"],
    },
    Case {
        name: "image-folder: 2 channels",
        setup: |d| d.image_folder(),
        args: train_file!("folder.toml", "dataset.channels=2"),
        exit: 2,
        mentions: &["dataset.channels", "2"],
    },
    Case {
        name: "image-folder: resize to 0 rows",
        setup: |d| d.image_folder(),
        args: train_file!("folder.toml", "dataset.image_size=[0,16]"),
        exit: 2,
        mentions: &["dataset.image_size", "[0, 16]"],
    },
    Case {
        name: "image-folder: grey images with RGB mean",
        setup: |d| d.image_folder(),
        args: train_file!("folder.toml", "dataset.channels=1"),
        exit: 2,
        mentions: &["dataset.mean"],
    },
    // ---- Config files ----
    Case {
        name: "config: unclosed section header",
        setup: |d| d.write("bad.toml", b"[dataset\nname = \"synthetic\"\n"),
        args: "config bad.toml",
        exit: 2,
        mentions: &["bad.toml", "TOML"],
    },
    Case {
        name: "config: unterminated string",
        setup: |d| d.smoke_file("bad.toml", "description = \"oops\n"),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "TOML"],
    },
    Case {
        name: "config: duplicate key",
        setup: |d| d.smoke_file("bad.toml", "seed = 1\nseed = 2\n"),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "seed"],
    },
    Case {
        name: "config: duplicate section",
        setup: |d| d.smoke_file("bad.toml", "[train]\nsteps = 2\n"),
        args: "config bad.toml",
        exit: 2,
        mentions: &["bad.toml", "train"],
    },
    Case {
        name: "config: empty file",
        setup: |d| d.write("bad.toml", b""),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "recipe"],
    },
    Case {
        name: "config: binary garbage",
        setup: |d| d.write("bad.toml", &[0x00, 0x13, 0x37, 0x7f, 0x01, 0x02]),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml"],
    },
    Case {
        name: "config: a directory named like a config",
        setup: |d| d.mkdir("bad.toml"),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml"],
    },
    Case {
        name: "config: file does not exist",
        setup: |d| d,
        args: "config missing.toml",
        exit: 2,
        mentions: &["missing.toml"],
    },
    Case {
        name: "config: no [optimizer] section",
        setup: |d| {
            d.write(
                "bad.toml",
                SMOKE.replace("[optimizer]", "[unused]").as_bytes(),
            )
        },
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml"],
    },
    Case {
        name: "config: no optimizer.lr",
        setup: |d| d.write("bad.toml", SMOKE.replace("lr = 0.05", "").as_bytes()),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "lr"],
    },
    Case {
        name: "config: no recipe.name",
        setup: |d| d.write("bad.toml", SMOKE.replace("name = \"erm\"", "").as_bytes()),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "recipe"],
    },
    Case {
        name: "config: seed is a string",
        setup: |d| {
            d.write(
                "bad.toml",
                SMOKE.replace("seed = 0", "seed = \"zero\"").as_bytes(),
            )
        },
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "seed", "zero"],
    },
    Case {
        name: "config: unknown top-level key",
        setup: |d| d.smoke_file("bad.toml", ""),
        args: "config bad.toml epochs=3",
        exit: 2,
        mentions: &["bad.toml", "epochs"],
    },
    Case {
        name: "config: unknown section",
        setup: |d| d.smoke_file("bad.toml", "[trainer]\nsteps = 2\n"),
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "trainer"],
    },
    Case {
        name: "config: a section given as a value",
        setup: |d| d.write("bad.toml", SMOKE.replace("seed = 0", "data = 3").as_bytes()),
        args: "config bad.toml",
        exit: 2,
        mentions: &["bad.toml", "data"],
    },
    Case {
        name: "config: model widths as a string",
        setup: |d| {
            d.write(
                "bad.toml",
                SMOKE
                    .replace("widths = [8, 16]", "widths = \"8,16\"")
                    .as_bytes(),
            )
        },
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml", "widths"],
    },
    Case {
        name: "config: model preset file with a syntax error",
        setup: |d| d.write("model.toml", b"arch = \"small_cnn\"\nwidths = [8,\n"),
        args: train!("model.name=model.toml"),
        exit: 2,
        mentions: &["model.toml", "TOML"],
    },
    Case {
        name: "config: dataset preset file with a syntax error",
        setup: |d| d.write("data.toml", b"format = = \"idx\"\n"),
        args: train!("dataset.name=data.toml"),
        exit: 2,
        mentions: &["data.toml", "TOML"],
    },
    Case {
        name: "config: model preset of another architecture than the section's",
        setup: |d| d,
        args: train!("model.name=resnet18"),
        exit: 2,
        mentions: &["model.name", "resnet18"],
    },
    Case {
        name: "config: dataset format against its preset",
        setup: |d| d,
        args: train!("dataset.format=idx"),
        exit: 2,
        mentions: &["dataset.name", "idx"],
    },
    Case {
        name: "config: unknown dataset format",
        setup: |d| {
            d.write(
                "bad.toml",
                SMOKE
                    .replace("name = \"synthetic\"", FORMAT_NOPE)
                    .as_bytes(),
            )
        },
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["dataset.format", "nope"],
    },
    Case {
        name: "config: schedule file without a path",
        setup: |d| d,
        args: train!("schedule.name=file"),
        exit: 2,
        mentions: &["schedule.path"],
    },
    Case {
        name: "config: schedule file missing",
        setup: |d| d,
        args: train!("schedule.name=file schedule.path=missing.json"),
        exit: 2,
        mentions: &["schedule.path", "missing.json"],
    },
    Case {
        name: "config: schedule file not JSON",
        setup: |d| d.write("sched.json", b"{\"lr_factors\": [1.0, "),
        args: train!("schedule.name=file schedule.path=sched.json"),
        exit: 2,
        mentions: &["sched.json"],
    },
    Case {
        name: "config: schedule file without factors",
        setup: |d| {
            d.write(
                "sched.json",
                b"{\"source\": \"run\", \"norm\": \"l2\", \"lr_factors\": []}",
            )
        },
        args: train!("schedule.name=file schedule.path=sched.json"),
        exit: 2,
        mentions: &["sched.json", "lr_factors"],
    },
    Case {
        name: "config: schedule file with a negative factor",
        setup: |d| {
            d.write(
                "sched.json",
                b"{\"source\": \"run\", \"norm\": \"l2\", \"lr_factors\": [1.0, -0.5]}",
            )
        },
        args: train!("schedule.name=file schedule.path=sched.json"),
        exit: 2,
        mentions: &["sched.json", "lr_factors"],
    },
    Case {
        name: "config: schedule file is a directory",
        setup: |d| d.mkdir("sched.json"),
        args: train!("schedule.name=file schedule.path=sched.json"),
        exit: 2,
        mentions: &["schedule.path", "sched.json"],
    },
    // ---- Overrides ----
    Case {
        name: "override: no equals sign",
        setup: |d| d,
        args: train!("foo"),
        exit: 2,
        mentions: &["`foo`", "key.sub=value"],
    },
    Case {
        name: "override: empty key",
        setup: |d| d,
        args: train!("=1"),
        exit: 2,
        mentions: &["empty part"],
    },
    Case {
        name: "override: empty part in the middle",
        setup: |d| d,
        args: train!("a..b=1"),
        exit: 2,
        mentions: &["a..b", "empty part"],
    },
    Case {
        name: "override: trailing dot",
        setup: |d| d,
        args: "config smoke optimizer.=1",
        exit: 2,
        mentions: &["optimizer.", "empty part"],
    },
    Case {
        name: "override: leading dot",
        setup: |d| d,
        args: "config smoke .lr=1",
        exit: 2,
        mentions: &[".lr", "empty part"],
    },
    Case {
        name: "override: a value used as a section",
        setup: |d| d,
        args: train!("optimizer.lr.x=1"),
        exit: 2,
        mentions: &["optimizer.lr.x", "`lr` is a value"],
    },
    Case {
        name: "override: top-level value used as a section",
        setup: |d| d,
        args: "config smoke seed.x=1",
        exit: 2,
        mentions: &["seed.x"],
    },
    Case {
        name: "override: unknown top-level section",
        setup: |d| d,
        args: train!("foo.bar=1"),
        exit: 2,
        mentions: &["foo", "unknown field"],
    },
    Case {
        name: "override: unknown train key",
        setup: |d| d,
        args: train!("train.epoch=1"),
        exit: 2,
        mentions: &["train.epoch", "unknown field"],
    },
    Case {
        name: "override: unknown optimizer option",
        setup: |d| d,
        args: train!("optimizer.foo=1"),
        exit: 2,
        mentions: &["optimizer.foo"],
    },
    Case {
        name: "override: unknown optimizer option (config)",
        setup: |d| d,
        args: "config smoke optimizer.betas=[0.9,0.99]",
        exit: 2,
        mentions: &["optimizer.betas"],
    },
    Case {
        name: "override: unknown recipe option",
        setup: |d| d,
        args: train!("recipe.foo=1"),
        exit: 2,
        mentions: &["recipe.foo"],
    },
    Case {
        name: "override: unknown model option",
        setup: |d| d,
        args: train!("model.foo=1"),
        exit: 2,
        mentions: &["model.foo"],
    },
    Case {
        name: "override: unknown dataset key",
        setup: |d| d,
        args: train!("dataset.foo=1"),
        exit: 2,
        mentions: &["dataset.foo"],
    },
    Case {
        name: "override: unknown data key",
        setup: |d| d,
        args: train!("data.batchsize=8"),
        exit: 2,
        mentions: &["data.batchsize"],
    },
    Case {
        name: "override: unknown schedule key",
        setup: |d| d,
        args: train!("schedule.warmup=1"),
        exit: 2,
        mentions: &["schedule.warmup"],
    },
    Case {
        name: "override: unknown kernels key",
        setup: |d| d,
        args: "config smoke kernels.matmul=fast",
        exit: 2,
        mentions: &["kernels.matmul"],
    },
    Case {
        name: "override: lr not a number",
        setup: |d| d,
        args: train!("optimizer.lr=abc"),
        exit: 2,
        mentions: &["optimizer.lr", "abc"],
    },
    Case {
        name: "override: lr a list",
        setup: |d| d,
        args: train!("optimizer.lr=[1,2]"),
        exit: 2,
        mentions: &["optimizer.lr"],
    },
    Case {
        name: "override: negative batch size",
        setup: |d| d,
        args: train!("data.batch_size=-1"),
        exit: 2,
        mentions: &["data.batch_size", "-1"],
    },
    Case {
        name: "override: fractional batch size",
        setup: |d| d,
        args: train!("data.batch_size=1.5"),
        exit: 2,
        mentions: &["data.batch_size", "1.5"],
    },
    Case {
        name: "override: epochs not a number",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=three",
        exit: 2,
        mentions: &["train.epochs", "three"],
    },
    Case {
        name: "override: steps negative",
        setup: |d| d,
        args: "train smoke --quiet --out out train.steps=-2",
        exit: 2,
        mentions: &["train.steps", "-2"],
    },
    Case {
        name: "override: hflip not a boolean",
        setup: |d| d,
        args: train!("data.hflip=maybe"),
        exit: 2,
        mentions: &["data.hflip", "maybe"],
    },
    Case {
        name: "override: negative seed",
        setup: |d| d,
        args: train!("seed=-3"),
        exit: 2,
        mentions: &["seed", "-3"],
    },
    Case {
        name: "override: image size of one number",
        setup: |d| d,
        args: train!("dataset.image_size=[16]"),
        exit: 2,
        mentions: &["dataset.image_size"],
    },
    Case {
        name: "override: model widths of strings",
        setup: |d| d,
        args: train!("model.widths=[\"a\",\"b\"]"),
        exit: 2,
        mentions: &["model.widths[0]", "\"a\""],
    },
    Case {
        name: "override: momentum not a number",
        setup: |d| d,
        args: train!("optimizer.momentum=lots"),
        exit: 2,
        mentions: &["optimizer.momentum", "lots"],
    },
    Case {
        name: "override: label smoothing not a number",
        setup: |d| d,
        args: "config smoke recipe.label_smoothing=abc",
        exit: 2,
        mentions: &["recipe.label_smoothing", "abc"],
    },
    Case {
        name: "override: unknown optimizer",
        setup: |d| d,
        args: train!("optimizer.name=nope"),
        exit: 2,
        mentions: &["optimizer.name", "nope"],
    },
    Case {
        name: "override: unknown recipe",
        setup: |d| d,
        args: train!("recipe.name=nope"),
        exit: 2,
        mentions: &["recipe.name", "nope"],
    },
    Case {
        name: "override: unknown model preset",
        setup: |d| d,
        args: train!("model.name=nope"),
        exit: 2,
        mentions: &["model.name", "nope"],
    },
    Case {
        name: "override: unknown dataset preset",
        setup: |d| d,
        args: train!("dataset.name=nope"),
        exit: 2,
        mentions: &["dataset.name", "nope"],
    },
    Case {
        name: "override: unknown architecture",
        setup: |d| d,
        args: "config smoke model.arch=mlp",
        exit: 2,
        mentions: &["mlp"],
    },
    Case {
        name: "override: unknown schedule",
        setup: |d| d,
        args: train!("schedule.name=exp"),
        exit: 2,
        mentions: &["schedule.name", "exp"],
    },
    Case {
        name: "override: unknown softmax kernel",
        setup: |d| d,
        args: "config smoke kernels.softmax=fast",
        exit: 2,
        mentions: &["kernels.softmax", "fast"],
    },
    Case {
        name: "override: unknown robust-eval attack",
        setup: |d| d,
        args: "config smoke robust_eval.attack=cw",
        exit: 2,
        mentions: &["robust_eval.attack", "cw"],
    },
    Case {
        name: "override: unknown lr scaling rule",
        setup: |d| d,
        args: "config smoke optimizer.lr_scaling=cubic",
        exit: 2,
        mentions: &["optimizer.lr_scaling", "cubic"],
    },
    Case {
        name: "override: unknown adaptive batch test",
        setup: |d| d,
        args: "config smoke adaptive_batch.test=t adaptive_batch.max_batch_size=64",
        exit: 2,
        mentions: &["adaptive_batch.test", "t"],
    },
    Case {
        name: "override: unknown device",
        setup: |d| d,
        args: train!("device=tpu"),
        exit: 2,
        mentions: &["unknown device `tpu`"],
    },
    Case {
        name: "override: empty value for a number",
        setup: |d| d,
        args: "config smoke optimizer.lr=",
        exit: 2,
        mentions: &["optimizer.lr"],
    },
    Case {
        name: "override: lr out of f64 range",
        setup: |d| d,
        args: "config smoke optimizer.lr=1e999",
        exit: 2,
        mentions: &["optimizer.lr", "1e999"],
    },
    Case {
        name: "override: lr NaN",
        setup: |d| d,
        args: train!("optimizer.lr=nan"),
        exit: 2,
        mentions: &["optimizer.lr", "NaN"],
    },
    Case {
        name: "override: lr infinite",
        setup: |d| d,
        args: train!("optimizer.lr=inf"),
        exit: 2,
        mentions: &["optimizer.lr", "inf"],
    },
    Case {
        name: "override: lr negative",
        setup: |d| d,
        args: train!("optimizer.lr=-1"),
        exit: 2,
        mentions: &["optimizer.lr", "-1"],
    },
    Case {
        name: "override: lr 0",
        setup: |d| d,
        args: "config smoke optimizer.lr=0",
        exit: 2,
        mentions: &["optimizer.lr", "0"],
    },
    Case {
        name: "override: lr a quoted string",
        setup: |d| d,
        args: "config smoke optimizer.lr=\"0.1\"",
        exit: 2,
        mentions: &["optimizer.lr", "0.1"],
    },
    Case {
        name: "override: a section set to a number",
        setup: |d| d,
        args: "config smoke optimizer=3",
        exit: 2,
        mentions: &["key `optimizer`"],
    },
    Case {
        name: "override: a section set to a preset name",
        setup: |d| d,
        args: train!("model=resnet18"),
        exit: 2,
        mentions: &["key `model`", "resnet18"],
    },
    Case {
        name: "override: dataset path a list",
        setup: |d| d,
        args: "config smoke dataset.path=[1]",
        exit: 2,
        mentions: &["dataset.path"],
    },
    Case {
        name: "override: neither steps nor epochs",
        setup: |d| d,
        args: train!("train.steps=0 train.epochs=0"),
        exit: 2,
        mentions: &["train.epochs", "train.steps"],
    },
    Case {
        name: "override: eval batch size 0",
        setup: |d| d,
        args: train!("data.eval_batch_size=0"),
        exit: 2,
        mentions: &["data.eval_batch_size"],
    },
    Case {
        name: "override: batch size above the training set",
        setup: |d| d,
        args: train!("data.batch_size=100000"),
        exit: 2,
        mentions: &["data.batch_size", "100000"],
    },
    Case {
        name: "override: reference batch size 0",
        setup: |d| d,
        args: train!("optimizer.reference_batch_size=0"),
        exit: 2,
        mentions: &["optimizer.reference_batch_size"],
    },
    Case {
        name: "override: negative gradient clip",
        setup: |d| d,
        args: train!("optimizer.grad_clip_norm=-1"),
        exit: 2,
        mentions: &["optimizer.grad_clip_norm", "-1"],
    },
    Case {
        name: "override: no model widths",
        setup: |d| d,
        args: train!("model.widths=[]"),
        exit: 2,
        mentions: &["model.widths"],
    },
    Case {
        name: "override: model widths of 0",
        setup: |d| d,
        args: train!("model.widths=[0,0]"),
        exit: 2,
        mentions: &["model.widths"],
    },
    Case {
        name: "override: synthetic data of one class",
        setup: |d| d,
        args: train!("dataset.num_classes=1"),
        exit: 2,
        mentions: &["dataset.num_classes", "got 1"],
    },
    Case {
        name: "override: synthetic data of 0 channels",
        setup: |d| d,
        args: train!("dataset.channels=0"),
        exit: 2,
        mentions: &["dataset.channels", "got 0"],
    },
    Case {
        name: "override: synthetic images of 2x2",
        setup: |d| d,
        args: train!("dataset.image_size=[2,2]"),
        exit: 2,
        mentions: &["synthetic", "4x4"],
    },
    Case {
        name: "override: synthetic training set of 0 images",
        setup: |d| d,
        args: train!("dataset.train_size=0"),
        exit: 2,
        mentions: &["dataset.train_size", "got 0"],
    },
    Case {
        name: "override: synthetic test set of 0 images",
        setup: |d| d,
        args: train!("dataset.test_size=0"),
        exit: 2,
        mentions: &["dataset.test_size", "got 0"],
    },
    // ---- Flags and subcommands ----
    Case {
        name: "flag: unknown subcommand",
        setup: |d| d,
        args: "frobnicate",
        exit: 2,
        mentions: &["frobnicate"],
    },
    Case {
        name: "flag: unknown train flag",
        setup: |d| d,
        args: train!("--bogus"),
        exit: 2,
        mentions: &["--bogus"],
    },
    Case {
        name: "flag: train without a recipe",
        setup: |d| d,
        args: "train --quiet",
        exit: 2,
        mentions: &["recipe"],
    },
    Case {
        name: "flag: unknown recipe preset",
        setup: |d| d,
        args: "train no-such-recipe --quiet --out out",
        exit: 2,
        mentions: &["no-such-recipe"],
    },
    Case {
        name: "flag: seed not a number",
        setup: |d| d,
        args: train!("--seed abc"),
        exit: 2,
        mentions: &["--seed", "abc"],
    },
    Case {
        name: "flag: seed negative",
        setup: |d| d,
        args: train!("--seed -1"),
        exit: 2,
        mentions: &["'-1'"],
    },
    Case {
        name: "flag: timeout 0",
        setup: |d| d,
        args: train!("--timeout 0"),
        exit: 2,
        mentions: &["--timeout"],
    },
    Case {
        name: "flag: timeout NaN",
        setup: |d| d,
        args: train!("--timeout NaN"),
        exit: 2,
        mentions: &["--timeout"],
    },
    Case {
        name: "flag: stop-after not a number",
        setup: |d| d,
        args: train!("--stop-after soon"),
        exit: 2,
        mentions: &["--stop-after", "soon"],
    },
    Case {
        name: "flag: --out without a value",
        setup: |d| d,
        args: "train smoke --out",
        exit: 2,
        mentions: &["--out"],
    },
    Case {
        name: "flag: unknown device",
        setup: |d| d,
        args: train!("--device tpu"),
        exit: 2,
        mentions: &["unknown device `tpu`"],
    },
    Case {
        name: "flag: device and devices together",
        setup: |d| d,
        args: train!("--device flex --devices cuda:0,cuda:1"),
        exit: 2,
        mentions: &["--devices"],
    },
    Case {
        name: "flag: resume a directory that does not exist",
        setup: |d| d,
        args: "train --resume missing --quiet",
        exit: 2,
        mentions: &["missing"],
    },
    Case {
        name: "flag: resume a directory that is not a run",
        setup: |d| d.write("notrun/readme.txt", b"hello"),
        args: "train --resume notrun --quiet",
        exit: 2,
        mentions: &["notrun"],
    },
    Case {
        name: "flag: resume with a recipe",
        setup: |d| d.smoke_run(),
        args: "train smoke --resume run --quiet",
        exit: 2,
        mentions: &["--resume"],
    },
    Case {
        name: "flag: config without a recipe",
        setup: |d| d,
        args: "config",
        exit: 2,
        mentions: &["<RECIPE>"],
    },
    Case {
        name: "flag: ls of an unknown kind",
        setup: |d| d,
        args: "ls everything",
        exit: 2,
        mentions: &["everything"],
    },
    Case {
        name: "flag: cp of an unknown preset",
        setup: |d| d,
        args: "cp nope mine.toml",
        exit: 2,
        mentions: &["nope"],
    },
    Case {
        name: "flag: cp onto an existing file",
        setup: |d| d.write("mine.toml", b"# mine\n"),
        args: "cp smoke mine.toml",
        exit: 2,
        mentions: &["mine.toml", "exists"],
    },
    Case {
        name: "flag: eval without a target",
        setup: |d| d,
        args: "eval",
        exit: 2,
        mentions: &["<TARGET>"],
    },
    Case {
        name: "flag: eval of a directory that does not exist",
        setup: |d| d,
        args: "eval missing",
        exit: 2,
        mentions: &["missing"],
    },
    Case {
        name: "flag: eval of a directory that is not a run",
        setup: |d| d.mnist(false),
        args: "eval data",
        exit: 2,
        mentions: &["data is neither a run directory"],
    },
    Case {
        name: "flag: eval of a file",
        setup: |d| d.write("notes.txt", b"notes"),
        args: "eval notes.txt",
        exit: 2,
        mentions: &["notes.txt"],
    },
    Case {
        name: "flag: eval of an unknown split",
        setup: |d| d.smoke_run(),
        args: "eval run --split val",
        exit: 2,
        mentions: &["--split", "val"],
    },
    Case {
        name: "flag: eval with an unknown attack",
        setup: |d| d.smoke_run(),
        args: "eval run --attack cw",
        exit: 2,
        mentions: &["cw"],
    },
    Case {
        name: "flag: eval attacking 0 images",
        setup: |d| d.smoke_run(),
        args: "eval run --attack fgsm --limit 0",
        exit: 2,
        mentions: &["--limit"],
    },
    Case {
        name: "flag: eval attack on the train split",
        setup: |d| d.smoke_run(),
        args: "eval run --split train --attack fgsm",
        exit: 2,
        mentions: &["--split train"],
    },
    Case {
        name: "flag: eval eps not a number",
        setup: |d| d.smoke_run(),
        args: "eval run --attack fgsm --eps big",
        exit: 2,
        mentions: &["--eps", "big"],
    },
    Case {
        name: "flag: eval --data of a missing directory on an idx run",
        setup: |d| d.mnist(false).run_on_mnist(),
        args: "eval run --data nodata",
        exit: 2,
        mentions: &["nodata"],
    },
    Case {
        name: "flag: eval --data of a corrupt dataset",
        setup: |d| {
            d.mnist(false)
                .run_on_mnist()
                .idx_files("other", false)
                .write("other/train-images-idx3-ubyte", b"garbage!")
        },
        args: "eval run --data other",
        exit: 1,
        mentions: &["other/train-images-idx3-ubyte"],
    },
    Case {
        name: "flag: export without a path",
        setup: |d| d.smoke_run(),
        args: "export run",
        exit: 2,
        mentions: &["<PATH>"],
    },
    Case {
        name: "flag: export of a directory that is not a run",
        setup: |d| d.mkdir("empty"),
        args: "export empty weights.safetensors",
        exit: 2,
        mentions: &["empty is neither a run directory"],
    },
    Case {
        name: "flag: export to an unknown format",
        setup: |d| d.smoke_run(),
        args: "export run weights.onnx --format onnx",
        exit: 2,
        mentions: &["onnx"],
    },
    Case {
        name: "flag: export onto an existing file without --force",
        setup: |d| d.smoke_run().write("weights.safetensors", b"precious"),
        args: "export run weights.safetensors",
        exit: 2,
        mentions: &["weights.safetensors", "--force"],
    },
    Case {
        name: "flag: export onto a directory",
        setup: |d| d.smoke_run().mkdir("outdir"),
        args: "export run outdir --force",
        exit: 2,
        mentions: &["outdir", "directory"],
    },
    Case {
        name: "flag: export onto the run's config with --force",
        setup: |d| d.smoke_run(),
        args: "export run run/config.toml --force",
        exit: 2,
        mentions: &["run/config.toml", "belongs to the run directory"],
    },
    Case {
        name: "flag: export onto the run's metrics with --force",
        setup: |d| d.smoke_run(),
        args: "export run run/metrics.jsonl --force",
        exit: 2,
        mentions: &["run/metrics.jsonl", "belongs to the run directory"],
    },
    Case {
        name: "flag: export onto the run's summary with --force",
        setup: |d| d.smoke_run(),
        args: "export run run/summary.json --force",
        exit: 2,
        mentions: &["run/summary.json", "belongs to the run directory"],
    },
    Case {
        name: "flag: export onto the checkpoint's model with --force",
        setup: |d| d.smoke_run(),
        args: "export run run/checkpoints/step-00000006/model.bpk --force",
        exit: 2,
        mentions: &[MODEL, "belongs to the run directory"],
    },
    Case {
        name: "flag: export onto the latest pointer with --force",
        setup: |d| d.smoke_run(),
        args: "export run run/checkpoints/latest --force",
        exit: 2,
        mentions: &["run/checkpoints/latest", "belongs to the run directory"],
    },
    Case {
        name: "flag: export onto the run's config through ./ with --force",
        setup: |d| d.smoke_run(),
        args: "export run ./run/../run/config.toml --force",
        exit: 2,
        mentions: &["config.toml", "belongs to the run directory"],
    },
    Case {
        name: "flag: export of a checkpoint onto its own state with --force",
        setup: |d| d.smoke_run(),
        args: "export run/checkpoints/step-00000006 run/checkpoints/step-00000006/state.json --force",
        exit: 2,
        mentions: &[STATE, "belongs to the run directory"],
    },
    Case {
        name: "flag: export --best without a best checkpoint",
        setup: |d| d.smoke_run().remove("run/checkpoints/best"),
        args: "export run weights.safetensors --best",
        exit: 2,
        mentions: &["run has no best checkpoint"],
    },
    Case {
        name: "flag: sample of a classifier run",
        setup: |d| d.smoke_run(),
        args: "sample run --n 2 --quiet",
        exit: 2,
        mentions: &["recipe `erm`", "ddpm or edm"],
    },
    Case {
        name: "flag: sample of a directory that is not a run",
        setup: |d| d.mkdir("empty"),
        args: "sample empty --n 2 --quiet",
        exit: 2,
        mentions: &["empty is neither a run directory"],
    },
    Case {
        name: "flag: sample onto an existing grid without --force",
        setup: |d| d.ddpm_run().write("grid.png", b"precious"),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out grid.png",
        exit: 2,
        mentions: &["grid.png", "--force"],
    },
    Case {
        name: "flag: sample onto the run's config with --force",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out run/config.toml --force",
        exit: 2,
        mentions: &["run/config.toml", "belongs to the run directory"],
    },
    Case {
        name: "flag: sample raw values onto the run's model with --force",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out grid.png --raw run/checkpoints/step-00000006/model.bpk --force",
        exit: 2,
        mentions: &[MODEL, "belongs to the run directory"],
    },
    Case {
        name: "flag: sample with an unknown sampler",
        setup: |d| d.ddpm_run(),
        args: "sample run --sampler euler",
        exit: 2,
        mentions: &["--sampler", "euler"],
    },
    Case {
        name: "flag: sample of a damaged diffusion model",
        setup: |d| d.ddpm_run().edit(MODEL, |b| b.truncate(b.len() / 3)),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out grid.png",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "flag: plot without runs",
        setup: |d| d,
        args: "plot --out p.svg",
        exit: 2,
        mentions: &["<RUNS>"],
    },
    Case {
        name: "flag: plot to a PNG",
        setup: |d| d.smoke_run(),
        args: "plot run --out p.png",
        exit: 2,
        mentions: &["p.png", "svg"],
    },
    Case {
        name: "flag: plot of a directory that is not a run",
        setup: |d| d.mkdir("empty"),
        args: "plot empty --out p.svg",
        exit: 2,
        mentions: &["empty/metrics.jsonl"],
    },
    Case {
        name: "flag: plot of an unknown metric",
        setup: |d| d.smoke_run(),
        args: "plot run --out p.svg --metric happiness",
        exit: 2,
        mentions: &["run/metrics.jsonl", "happiness"],
    },
    Case {
        name: "flag: plot onto an existing file without --force",
        setup: |d| d.smoke_run().write("p.svg", b"<svg/>"),
        args: "plot run --out p.svg --x step --metric loss",
        exit: 2,
        mentions: &["p.svg", "--force"],
    },
    Case {
        name: "flag: schedule refine with an unknown norm",
        setup: |d| d.smoke_run(),
        args: "schedule refine run --out s.json --norm l3",
        exit: 2,
        mentions: &["--norm", "l3"],
    },
    Case {
        name: "flag: schedule refine with a window of 2",
        setup: |d| d.smoke_run(),
        args: "schedule refine run --out s.json --window 2",
        exit: 2,
        mentions: &["--window"],
    },
    Case {
        name: "flag: schedule refine of a directory that is not a run",
        setup: |d| d.mkdir("empty"),
        args: "schedule refine empty --out s.json",
        exit: 2,
        mentions: &["empty/config.toml"],
    },
    Case {
        name: "flag: optim trace of an unknown optimizer",
        setup: |d| d,
        args: "optim trace --optimizer nope --problem rosenbrock --lr 0.01",
        exit: 2,
        mentions: &["nope"],
    },
    Case {
        name: "flag: optim trace of an unknown problem",
        setup: |d| d,
        args: "optim trace --optimizer adam --problem everest --lr 0.01",
        exit: 2,
        mentions: &["everest"],
    },
    Case {
        name: "flag: train into a directory that holds a run",
        setup: |d| d.smoke_run(),
        args: "train smoke --quiet --out run train.steps=2",
        exit: 2,
        mentions: &["run already holds a run", "--resume"],
    },
    Case {
        name: "flag: empty --out",
        setup: |d| d,
        args: "train smoke --quiet train.steps=2 --out=",
        exit: 2,
        mentions: &["--out"],
    },
    Case {
        name: "flag: empty override",
        setup: |d| d,
        args: "config smoke seed=1 =",
        exit: 2,
        mentions: &["empty part"],
    },
    Case {
        name: "flag: launch without a rank count",
        setup: |d| d,
        args: "launch -- train smoke",
        exit: 2,
        mentions: &["--ranks"],
    },
    Case {
        name: "flag: eval attack of 0 steps",
        setup: |d| d.smoke_run(),
        args: "eval run --attack pgd --steps 0",
        exit: 2,
        mentions: &["--steps"],
    },
    Case {
        name: "flag: eval attack of 0 restarts",
        setup: |d| d.smoke_run(),
        args: "eval run --attack pgd --restarts 0",
        exit: 2,
        mentions: &["--restarts"],
    },
    Case {
        name: "flag: eval attack budget NaN",
        setup: |d| d.smoke_run(),
        args: "eval run --attack fgsm --eps NaN",
        exit: 2,
        mentions: &["--eps"],
    },
    Case {
        name: "flag: eval attack budget above 255",
        setup: |d| d.smoke_run(),
        args: "eval run --attack fgsm --eps 300",
        exit: 2,
        mentions: &["--eps"],
    },
    Case {
        name: "flag: eval attack of a diffusion run",
        setup: |d| d.ddpm_run(),
        args: "eval run --attack fgsm",
        exit: 2,
        mentions: &["recipe `ddpm`"],
    },
    Case {
        name: "flag: sample of 0 images",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 0 --quiet",
        exit: 2,
        mentions: &["--n"],
    },
    Case {
        name: "flag: sample in batches of 0",
        setup: |d| d.ddpm_run(),
        args: "sample run --batch-size 0 --quiet",
        exit: 2,
        mentions: &["--batch-size"],
    },
    Case {
        name: "flag: sample a class of an unconditional model",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --sampler ddim --steps 2 --class 99 --quiet",
        exit: 2,
        mentions: &["--class"],
    },
    Case {
        name: "flag: sample a DDPM run with the EDM sampler",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --sampler heun --quiet",
        exit: 2,
        mentions: &["heun"],
    },
    Case {
        name: "flag: sample DDPM ancestral with fewer steps",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --steps 2 --quiet",
        exit: 2,
        mentions: &["--steps 2", "ddim"],
    },
    Case {
        name: "flag: sample onto a directory",
        setup: |d| d.ddpm_run().mkdir("grids"),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out grids",
        exit: 2,
        mentions: &["grids", "directory"],
    },
    Case {
        name: "flag: fid without a feature network",
        setup: |d| d.ddpm_run(),
        args: "fid run --n 2 --sampler ddim --steps 2 --quiet",
        exit: 2,
        mentions: &["--classifier", "--inception"],
    },
    Case {
        name: "flag: fid with Inception weights that do not exist",
        setup: |d| d.ddpm_run(),
        args: "fid run --n 2 --sampler ddim --steps 2 --quiet --inception pt_inception.safetensors",
        exit: 2,
        mentions: &["pt_inception.safetensors"],
    },
    Case {
        name: "flag: fid with Inception weights of garbage",
        setup: |d| d.ddpm_run().write("pt_inception.safetensors", b"junk"),
        args: "fid run --n 2 --sampler ddim --steps 2 --quiet --inception pt_inception.safetensors",
        exit: 2,
        mentions: &["pt_inception.safetensors"],
    },
    Case {
        name: "flag: fid with a classifier that is not a run",
        setup: |d| d.ddpm_run().mkdir("empty"),
        args: "fid run --n 2 --sampler ddim --steps 2 --quiet --classifier empty",
        exit: 2,
        mentions: &["empty is neither a run directory"],
    },
    Case {
        name: "flag: fid against an unknown split",
        setup: |d| d.ddpm_run(),
        args: "fid run --n 2 --sampler ddim --steps 2 --quiet --classifier run --reference val",
        exit: 2,
        mentions: &["--reference", "val"],
    },
    Case {
        name: "flag: plot against an unknown x axis",
        setup: |d| d.smoke_run(),
        args: "plot run --out p.svg --x minutes",
        exit: 2,
        mentions: &["run/metrics.jsonl", "minutes"],
    },
    Case {
        name: "flag: schedule refine to 1 step",
        setup: |d| d.smoke_run(),
        args: "schedule refine run --out s.json --steps 1",
        exit: 2,
        mentions: &["--steps"],
    },
    Case {
        name: "flag: schedule refine with a window of NaN",
        setup: |d| d.smoke_run(),
        args: "schedule refine run --out s.json --window NaN",
        exit: 2,
        mentions: &["--window"],
    },
    Case {
        name: "flag: optim trace at lr NaN",
        setup: |d| d,
        args: "optim trace --optimizer adam --problem rosenbrock --lr NaN",
        exit: 2,
        mentions: &["lr", "NaN"],
    },
    Case {
        name: "flag: optim trace from a start that is not a point",
        setup: |d| d,
        args: "optim trace --optimizer adam --problem rosenbrock --lr 0.1 --start abc",
        exit: 2,
        mentions: &["--start", "abc"],
    },
    Case {
        name: "flag: optim viz with a learning rate that is not a number",
        setup: |d| d,
        args: "optim viz --problem rosenbrock --optimizers adam:x --out v.png",
        exit: 2,
        mentions: &["--optimizers", "`x`"],
    },
    Case {
        name: "flag: optim viz to a GIF",
        setup: |d| d,
        args: "optim viz --problem rosenbrock --optimizers adam:0.1 --out v.gif",
        exit: 2,
        mentions: &["v.gif"],
    },
    Case {
        name: "flag: optim viz with a range of 3 numbers",
        setup: |d| d,
        args: "optim viz --problem rosenbrock --optimizers adam:0.1 --out v.png --range 1,2,3",
        exit: 2,
        mentions: &["--range", "1,2,3"],
    },
    // ---- Damaged run directories ----
    Case {
        name: "run: eval without checkpoints/latest",
        setup: |d| d.smoke_run().remove("run/checkpoints/latest"),
        args: "eval run",
        exit: 2,
        mentions: &["run/checkpoints/latest"],
    },
    Case {
        name: "run: eval without a checkpoints directory",
        setup: |d| d.smoke_run().remove("run/checkpoints"),
        args: "eval run",
        exit: 2,
        mentions: &["run/checkpoints"],
    },
    Case {
        name: "run: latest names a step that does not exist",
        setup: |d| {
            d.smoke_run()
                .write("run/checkpoints/latest", b"step-00000099")
        },
        args: "eval run",
        exit: 1,
        mentions: &["step-00000099"],
    },
    Case {
        name: "run: latest is empty",
        setup: |d| d.smoke_run().write("run/checkpoints/latest", b""),
        args: "eval run",
        exit: 1,
        mentions: &["run/checkpoints"],
    },
    Case {
        name: "run: best names a step that does not exist",
        setup: |d| {
            d.smoke_run()
                .write("run/checkpoints/best", b"step-00000042")
        },
        args: "eval run --best",
        exit: 1,
        mentions: &["step-00000042"],
    },
    Case {
        name: "run: eval --best without checkpoints/best",
        setup: |d| d.smoke_run().remove("run/checkpoints/best"),
        args: "eval run --best",
        exit: 2,
        mentions: &["run has no best checkpoint"],
    },
    Case {
        name: "run: model.bpk missing",
        setup: |d| d.smoke_run().remove(MODEL),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: model.bpk empty",
        setup: |d| d.smoke_run().write(MODEL, b""),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: model.bpk truncated",
        setup: |d| d.smoke_run().edit(MODEL, |b| b.truncate(b.len() / 2)),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: model.bpk cut by one byte",
        setup: |d| {
            d.smoke_run().edit(MODEL, |b| {
                b.pop();
            })
        },
        args: "export run weights.safetensors",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: model.bpk of garbage",
        setup: |d| d.smoke_run().write(MODEL, &garbage(9000)),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: model.bpk of another architecture",
        setup: |d| d.smoke_run().widths("[4, 8]"),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL, "does not fit"],
    },
    Case {
        name: "run: model.bpk is a directory",
        setup: |d| d.smoke_run().remove(MODEL).mkdir(MODEL),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: export with a truncated model.bpk",
        setup: |d| d.smoke_run().edit(MODEL, |b| b.truncate(100)),
        args: "export run weights.safetensors",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: export without checkpoints/latest",
        setup: |d| d.smoke_run().remove("run/checkpoints/latest"),
        args: "export run weights.safetensors",
        exit: 2,
        mentions: &["run/checkpoints/latest"],
    },
    Case {
        name: "run: config.toml missing",
        setup: |d| d.smoke_run().remove("run/config.toml"),
        args: "eval run",
        exit: 2,
        mentions: &["run is neither a run directory"],
    },
    Case {
        name: "run: config.toml is a directory",
        setup: |d| {
            d.smoke_run()
                .remove("run/config.toml")
                .mkdir("run/config.toml")
        },
        args: "eval run",
        exit: 2,
        mentions: &["run is neither a run directory"],
    },
    Case {
        name: "run: config.toml with a syntax error",
        setup: |d| {
            d.smoke_run()
                .edit("run/config.toml", |b| b.extend_from_slice(b"\n[model\n"))
        },
        args: "eval run",
        exit: 2,
        mentions: &["run/config.toml", "TOML"],
    },
    Case {
        name: "run: config.toml empty",
        setup: |d| d.smoke_run().write("run/config.toml", b""),
        args: "eval run",
        exit: 2,
        mentions: &["run/config.toml"],
    },
    Case {
        name: "run: config.toml with an unknown key",
        setup: |d| {
            d.smoke_run().edit("run/config.toml", |b| {
                b.extend_from_slice(b"\n[extra]\nx = 1\n")
            })
        },
        args: "eval run",
        exit: 2,
        mentions: &["run/config.toml", "extra"],
    },
    Case {
        name: "run: config.toml not UTF-8",
        setup: |d| {
            d.smoke_run()
                .write("run/config.toml", &[0xff, 0xfe, 0x00, 0x80])
        },
        args: "eval run",
        exit: 2,
        mentions: &["run/config.toml"],
    },
    Case {
        name: "run: checkpoint directory outside a run",
        setup: |d| d.smoke_run().remove("run/config.toml"),
        args: "eval run/checkpoints/step-00000006",
        exit: 2,
        mentions: &[CHECKPOINT, "outside a run directory"],
    },
    Case {
        name: "run: eval of the checkpoints directory",
        setup: |d| d.smoke_run(),
        args: "eval run/checkpoints",
        exit: 2,
        mentions: &["run/checkpoints", "neither a run directory"],
    },
    Case {
        name: "run: resume without checkpoints/latest",
        setup: |d| d.interrupted_run().remove("run/checkpoints/latest"),
        args: "train --resume run --quiet",
        exit: 2,
        mentions: &["run/checkpoints/latest"],
    },
    Case {
        name: "run: resume with latest naming a missing step",
        setup: |d| {
            d.interrupted_run()
                .write("run/checkpoints/latest", b"step-00000077")
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &["step-00000077"],
    },
    Case {
        name: "run: resume with a truncated model.bpk",
        setup: |d| {
            d.interrupted_run()
                .edit(MODEL, |b| b.truncate(b.len() - 10))
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: resume with optim.bpk missing",
        setup: |d| d.interrupted_run().remove(OPTIM),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: resume with optim.bpk empty",
        setup: |d| d.interrupted_run().write(OPTIM, b""),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: resume with optim.bpk of garbage",
        setup: |d| d.interrupted_run().write(OPTIM, &garbage(8000)),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: resume with a truncated optim.bpk",
        setup: |d| d.interrupted_run().edit(OPTIM, |b| b.truncate(b.len() / 2)),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: resume with state.json missing",
        setup: |d| d.interrupted_run().remove(STATE),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE],
    },
    Case {
        name: "run: resume with state.json empty",
        setup: |d| d.interrupted_run().write(STATE, b""),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE],
    },
    Case {
        name: "run: resume with state.json not JSON",
        setup: |d| d.interrupted_run().write(STATE, b"{\"step\": 6,"),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE],
    },
    Case {
        name: "run: resume with a string step in state.json",
        setup: |d| {
            d.interrupted_run()
                .edit(STATE, |b| replace(b, "\"step\": 6", "\"step\": \"two\""))
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE, "step"],
    },
    Case {
        name: "run: resume with a negative step in state.json",
        setup: |d| {
            d.interrupted_run()
                .edit(STATE, |b| replace(b, "\"step\": 6", "\"step\": -2"))
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE, "step"],
    },
    Case {
        name: "run: resume with state.json an array",
        setup: |d| d.interrupted_run().write(STATE, b"[1, 2, 3]"),
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE],
    },
    Case {
        name: "run: resume with config.toml missing",
        setup: |d| d.interrupted_run().remove("run/config.toml"),
        args: "train --resume run --quiet",
        exit: 2,
        mentions: &["run/config.toml"],
    },
    Case {
        name: "run: resume with config.toml with a syntax error",
        setup: |d| d.interrupted_run().write("run/config.toml", b"seed = \n"),
        args: "train --resume run --quiet",
        exit: 2,
        mentions: &["run/config.toml", "TOML"],
    },
    Case {
        name: "run: resume with an unknown optimizer in config.toml",
        setup: |d| {
            d.interrupted_run().edit("run/config.toml", |b| {
                replace(b, "name = \"sgd\"", "name = \"sgdx\"")
            })
        },
        args: "train --resume run --quiet",
        exit: 2,
        mentions: &["optimizer.name", "sgdx"],
    },
    Case {
        name: "run: plot with metrics.jsonl of garbage",
        setup: |d| {
            d.smoke_run()
                .write("run/metrics.jsonl", b"{\"step\": 1\nnot json\n")
        },
        args: "plot run --out p.svg",
        exit: 2,
        mentions: &["run/metrics.jsonl", "line 1"],
    },
    Case {
        name: "run: schedule refine with metrics.jsonl of garbage",
        setup: |d| d.smoke_run().write("run/metrics.jsonl", b"]]]\n"),
        args: "schedule refine run --out s.json",
        exit: 2,
        mentions: &["run/metrics.jsonl", "line 1"],
    },
    Case {
        name: "run: latest names an absolute path that does not exist",
        setup: |d| {
            d.smoke_run()
                .write("run/checkpoints/latest", b"/nonexistent/step-1")
        },
        args: "eval run",
        exit: 1,
        mentions: &["/nonexistent/step-1"],
    },
    Case {
        name: "run: latest is a directory",
        setup: |d| {
            d.smoke_run()
                .remove("run/checkpoints/latest")
                .mkdir("run/checkpoints/latest")
        },
        args: "eval run",
        exit: 2,
        mentions: &["run/checkpoints/latest"],
    },
    Case {
        name: "run: model.bpk with a damaged header",
        setup: |d| d.smoke_run().edit(MODEL, |b| flip(&mut b[..64])),
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: model.bpk of a run with another class count",
        setup: |d| {
            d.smoke_run().edit("run/config.toml", |b| {
                replace(b, "num_classes = 4", "num_classes = 5")
            })
        },
        args: "eval run",
        exit: 1,
        mentions: &[MODEL, "does not fit"],
    },
    Case {
        name: "run: model.bpk of a diffusion model in a classifier run",
        setup: |d| {
            d.ddpm_run_at("ddpm");
            let unet = std::fs::read(d.path("ddpm/checkpoints/step-00000006/model.bpk")).unwrap();
            d.smoke_run().write(MODEL, &unet)
        },
        args: "export run weights.safetensors",
        exit: 1,
        mentions: &[MODEL],
    },
    // ---- Federated runs ----
    Case {
        name: "federated control: a finished MIFA run loads its checkpoint and says so",
        setup: |d| d.federated_run(),
        args: "train --resume run --quiet",
        exit: 0,
        mentions: &[],
    },
    Case {
        name: "federated: MIFA's stored updates damaged",
        setup: |d| {
            d.federated_run()
                .edit(FEDERATED_MIFA, |b| *b.last_mut().unwrap() ^= 1)
        },
        args: "train --resume run --quiet federated.rounds=6",
        exit: 1,
        mentions: &[FEDERATED_MIFA],
    },
    Case {
        name: "federated: a client-state file on disk damaged",
        setup: |d| d.federated_disk_run().damage_client_state(),
        args: "train --resume run --quiet federated.rounds=6",
        exit: 1,
        mentions: &["client-state/rank-0/mifa/", "is damaged"],
    },
    Case {
        name: "federated: client state in an unknown place",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 schedule.name=\"constant\" federated={clients=4,rounds=1,local_steps=1,client_state=\"cloud\"}",
        exit: 2,
        mentions: &["client_state", "cloud"],
    },
    Case {
        name: "byzantine: Bulyan with too few workers",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 train.steps=2 byzantine={workers=6,faulty=1,rule=\"bulyan\"}",
        exit: 2,
        mentions: &["byzantine.rule", "n >= 4f + 3 = 7"],
    },
    Case {
        name: "byzantine: an attack nobody carries out",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 train.steps=2 byzantine={workers=4,attack=\"reversed\"}",
        exit: 2,
        mentions: &["byzantine.attack", "byzantine.faulty"],
    },
    Case {
        name: "byzantine: a run measured in epochs",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=2 byzantine={workers=4}",
        exit: 2,
        mentions: &["train.steps"],
    },
    Case {
        name: "byzantine: federated too",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 train.steps=2 byzantine={workers=4} federated={clients=4,rounds=1,local_steps=1}",
        exit: 2,
        mentions: &["[byzantine]", "[federated]"],
    },
    Case {
        name: "dataset: a holdout larger than a class",
        setup: |d| d,
        args: "train smoke --quiet --out out dataset.holdout=510",
        exit: 2,
        mentions: &["dataset.holdout", "hold out fewer"],
    },
    Case {
        name: "soup: a run directory that is not one",
        setup: |d| d,
        args: "soup uniform nowhere --out soup",
        exit: 2,
        mentions: &["nowhere", "config.toml"],
    },
    Case {
        name: "sweep: a grid axis without values",
        setup: |d| d,
        args: "sweep smoke --from nowhere --grid optimizer.lr --out sweep",
        exit: 2,
        mentions: &["--grid", "key=v1,v2"],
    },
    Case {
        name: "train: init_from a directory that is no run",
        setup: |d| d,
        args: "train smoke --quiet --out out train.init_from=\"nowhere\"",
        exit: 2,
        mentions: &["train.init_from", "nowhere"],
    },
    Case {
        name: "gossip: a regular graph that cannot exist",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 gossip={nodes=5,degree=3,rounds=1}",
        exit: 2,
        mentions: &["gossip.degree", "nodes x degree even", "got 3"],
    },
    Case {
        name: "gossip: a torus of a prime number of nodes",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 gossip={nodes=11,topology=\"torus\",rounds=1}",
        exit: 2,
        mentions: &["gossip.nodes", "torus", "got 11"],
    },
    Case {
        name: "gossip: a ring with another degree",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 gossip={nodes=6,topology=\"ring\",degree=3,rounds=1}",
        exit: 2,
        mentions: &["gossip.degree", "degree 2", "got 3"],
    },
    Case {
        name: "gossip: a node that ignores its neighbours",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 gossip={nodes=4,degree=2,rounds=1,self_weight=1.0}",
        exit: 2,
        mentions: &["gossip.self_weight", "[0, 1)"],
    },
    Case {
        name: "gossip: a length in steps",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 train.steps=5 gossip={nodes=4,degree=2,rounds=1}",
        exit: 2,
        mentions: &["train.steps", "gossip.rounds"],
    },
    Case {
        name: "gossip: Byzantine too",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 gossip={nodes=4,degree=2,rounds=1} byzantine={workers=4}",
        exit: 2,
        mentions: &["gossip", "Byzantine"],
    },
    Case {
        name: "federated: MIFA's stored updates missing",
        setup: |d| d.federated_run().remove(FEDERATED_MIFA),
        args: "train --resume run --quiet federated.rounds=6",
        exit: 1,
        mentions: &["mifa.safetensors"],
    },
    Case {
        name: "federated: resumed with another algorithm",
        setup: |d| d.federated_run(),
        args: "train --resume run --quiet federated.algorithm=\"fedau\"",
        exit: 2,
        mentions: &["federated.algorithm"],
    },
    Case {
        name: "federated: a participation floor above the mean",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 schedule.name=\"constant\" federated={clients=4,rounds=1,local_steps=1,participation=\"bernoulli\",participation_min=0.5}",
        exit: 2,
        mentions: &["federated.participation_min", "0.5"],
    },
    Case {
        name: "federated: a markov chain that never turns active",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 schedule.name=\"constant\" federated={clients=4,rounds=1,local_steps=1,participation=\"markov\",markov_to_active=0}",
        exit: 2,
        mentions: &["federated.markov_to_active"],
    },
    Case {
        name: "federated: a schedule that would restart in every round",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 federated={clients=4,rounds=1,local_steps=1}",
        exit: 2,
        mentions: &["schedule.name", "constant"],
    },
    Case {
        name: "federated: an unknown algorithm",
        setup: |d| d,
        args: "train smoke --quiet --out out train.epochs=0 schedule.name=\"constant\" federated={clients=4,rounds=1,local_steps=1,algorithm=\"fedprox\"}",
        exit: 2,
        mentions: &["fedprox"],
    },
    // ---- Found by the corpus and fixed since ----
    Case {
        name: "flag: eval --data on a synthetic run",
        setup: |d| d.smoke_run(),
        args: "eval run --data nodata",
        exit: 2,
        mentions: &["--data nodata", "synthetic"],
    },
    Case {
        name: "idx: images of 0x0 pixels",
        setup: |d| {
            d.mnist(false)
                .write(TRAIN_IMAGES, &idx_images(64, 0, 0))
                .write(TEST_IMAGES, &idx_images(32, 0, 0))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 1,
        mentions: &[TRAIN_IMAGES, "0x0"],
    },
    Case {
        name: "idx: images of 2x2 pixels",
        setup: |d| {
            d.mnist(false)
                .write(TRAIN_IMAGES, &idx_images(64, 2, 2))
                .write(TEST_IMAGES, &idx_images(32, 2, 2))
        },
        args: train!("dataset.name=mnist dataset.path=data"),
        exit: 2,
        mentions: &["2x2"],
    },
    Case {
        name: "config: `stoke config` accepts an unknown device",
        setup: |d| d,
        args: "config smoke device=tpu",
        exit: 2,
        mentions: &["unknown device `tpu`"],
    },
    Case {
        name: "config: not UTF-8",
        setup: |d| {
            d.smoke_file("bad.toml", "")
                .edit("bad.toml", |b| b.push(0xff))
        },
        args: train_file!("bad.toml", ""),
        exit: 2,
        mentions: &["bad.toml"],
    },
    Case {
        name: "config: model preset file not UTF-8",
        setup: |d| d.write("model.toml", b"arch = \"small_cnn\"\n\xff\n"),
        args: train!("model.name=model.toml"),
        exit: 2,
        mentions: &["model.toml"],
    },
    Case {
        name: "flag: train --out an existing file",
        setup: |d| d.write("notes.txt", b"notes"),
        args: "train smoke --quiet --out notes.txt train.steps=2",
        exit: 2,
        mentions: &["notes.txt"],
    },
    Case {
        name: "flag: train --out below a file",
        setup: |d| d.write("notes.txt", b"notes"),
        args: "train smoke --quiet --out notes.txt/run train.steps=2",
        exit: 2,
        mentions: &["notes.txt/run"],
    },
    Case {
        name: "flag: export into a directory that does not exist",
        setup: |d| d.smoke_run(),
        args: "export run nodir/weights.safetensors",
        exit: 2,
        mentions: &["nodir/weights.safetensors"],
    },
    Case {
        name: "flag: cp into a directory that does not exist",
        setup: |d| d,
        args: "cp smoke nodir/mine.toml",
        exit: 2,
        mentions: &["nodir/mine.toml"],
    },
    Case {
        name: "flag: plot into a directory that does not exist",
        setup: |d| d.smoke_run(),
        args: "plot run --out nodir/p.svg --x step --metric loss",
        exit: 2,
        mentions: &["nodir/p.svg"],
    },
    Case {
        name: "flag: sample --raw into a directory that does not exist",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out g.png --raw nodir/r.safetensors",
        exit: 2,
        mentions: &["nodir/r.safetensors"],
    },
    Case {
        name: "flag: sample --scale 100000",
        setup: |d| d.ddpm_run(),
        args: "sample run --n 2 --sampler ddim --steps 2 --quiet --out g.png --scale 100000",
        exit: 2,
        mentions: &["--scale"],
    },
    Case {
        name: "flag: schedule refine onto the run's config",
        setup: |d| d.smoke_run(),
        args: "schedule refine run --out run/config.toml",
        exit: 2,
        mentions: &["run/config.toml", "belongs to the run directory"],
    },
    Case {
        name: "flag: schedule refine onto checkpoints/latest",
        setup: |d| d.smoke_run(),
        args: "schedule refine run --out run/checkpoints/latest",
        exit: 2,
        mentions: &["run/checkpoints/latest", "belongs to the run directory"],
    },
    Case {
        name: "flag: schedule refine onto an existing file",
        setup: |d| d.smoke_run().write("s.json", b"{}"),
        args: "schedule refine run --out s.json",
        exit: 2,
        mentions: &["s.json", "exists"],
    },
    Case {
        name: "flag: schedule refine onto a directory",
        setup: |d| d.smoke_run().mkdir("schedules"),
        args: "schedule refine run --out schedules",
        exit: 2,
        mentions: &["schedules", "directory"],
    },
    Case {
        name: "run: model.bpk with damaged weights",
        setup: |d| {
            d.smoke_run().edit(MODEL, |b| {
                let n = b.len();
                flip(&mut b[n / 2..n / 2 + 64]);
            })
        },
        args: "eval run",
        exit: 1,
        mentions: &[MODEL],
    },
    Case {
        name: "run: resume with optim.bpk with damaged values",
        setup: |d| {
            d.interrupted_run().edit(OPTIM, |b| {
                let n = b.len();
                flip(&mut b[n / 2..n / 2 + 64]);
            })
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: resume with the optim.bpk of another model and optimizer",
        setup: |d| {
            d.ddpm_run_at("ddpm");
            let adam = std::fs::read(d.path("ddpm/checkpoints/step-00000006/optim.bpk")).unwrap();
            d.interrupted_run().write(OPTIM, &adam)
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: latest pointing out of the run into another run",
        setup: |d| {
            d.smoke_run_at("other").smoke_run().write(
                "run/checkpoints/latest",
                b"../../other/checkpoints/step-00000006",
            )
        },
        args: "eval run",
        exit: 1,
        mentions: &["run/checkpoints/latest"],
    },
    Case {
        name: "run: resume with a state.json step beyond its checkpoint",
        setup: |d| {
            d.interrupted_run()
                .edit(STATE, |b| replace(b, "\"step\": 6", "\"step\": 9999"))
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[STATE, "step"],
    },
    Case {
        name: "run: resume with the model file as optim.bpk",
        setup: |d| {
            d.interrupted_run();
            let model = std::fs::read(d.path(MODEL)).unwrap();
            d.write(OPTIM, &model)
        },
        args: "train --resume run --quiet",
        exit: 1,
        mentions: &[OPTIM],
    },
    Case {
        name: "run: schedule refine with metrics.jsonl missing",
        setup: |d| d.smoke_run().remove("run/metrics.jsonl"),
        args: "schedule refine run --out s.json",
        exit: 2,
        mentions: &["run/metrics.jsonl"],
    },
];

#[test]
fn malformed_inputs_fail_cleanly_and_name_the_input() {
    assert!(CASES.len() >= 100, "the corpus has {} cases", CASES.len());
    let failures: Vec<String> = run_all(CASES).into_iter().flat_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

/// Runs every case on a few threads; the results are in the order of `cases`.
fn run_all(cases: &[Case]) -> Vec<Result<(), String>> {
    let started = Instant::now();
    let fixtures = Fixtures::new();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(index) else { break };
                    let result = check(case, &fixtures);
                    results.lock().unwrap().push((index, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, _)| *index);
    let _ = writeln!(
        std::io::stderr(),
        "{} cases in {:.1} s, {} failed",
        cases.len(),
        started.elapsed().as_secs_f64(),
        results.iter().filter(|(_, r)| r.is_err()).count()
    );
    results.into_iter().map(|(_, result)| result).collect()
}

/// Runs one case in a fresh directory; the error describes everything that went wrong.
fn check(case: &Case, fixtures: &Fixtures) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("{}: tempdir: {e}", case.name))?;
    let root = tmp.path().join("case");
    std::fs::create_dir(&root).unwrap();
    (case.setup)(&Dir {
        root: &root,
        fixtures,
    });
    let before = snapshot(&root);
    let args: Vec<&str> = case.args.split_whitespace().collect();
    let run = run_stoke(&root, &args, &tmp.path().join("stderr"));
    let after = snapshot(&root);

    let mut problems = Vec::new();
    match (run.timed_out, run.code) {
        (true, _) => problems.push(format!("still running after {TIMEOUT:?}; killed")),
        (false, None) => problems.push(format!("killed by a signal: {}", run.status)),
        (false, Some(code)) if code != case.exit => {
            problems.push(format!("exit code {code}, expected {}", case.exit))
        }
        _ => {}
    }
    if run.code == Some(101) || run.stderr.contains("panicked") {
        problems.push("panicked".into());
    }
    for text in case.mentions {
        if !run.stderr.contains(text) {
            problems.push(format!("stderr does not mention `{text}`"));
        }
    }
    for (path, hash) in &before {
        match after.get(path) {
            None => problems.push(format!("removed {}", path.display())),
            Some(h) if h != hash => problems.push(format!("changed {}", path.display())),
            Some(_) => {}
        }
    }
    if case.exit != 0 {
        for path in after.keys().filter(|p| !before.contains_key(*p)) {
            problems.push(format!("created {}", path.display()));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "[{}] stoke {}\n  {}\n  stderr: {}",
        case.name,
        case.args,
        problems.join("; "),
        run.stderr.trim_end().replace('\n', "\n          ")
    ))
}

struct Run {
    code: Option<i32>,
    status: String,
    timed_out: bool,
    stderr: String,
}

/// Runs the binary in `dir` with a time limit; stderr goes through a file so a chatty child
/// cannot block on a full pipe.
fn run_stoke(dir: &Path, args: &[&str], stderr_path: &Path) -> Run {
    let stderr = std::fs::File::create(stderr_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("starting stoke");
    let started = Instant::now();
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, false);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code(),
        status: status.to_string(),
        timed_out,
        stderr: String::from_utf8_lossy(&std::fs::read(stderr_path).unwrap_or_default())
            .into_owned(),
    }
}

/// A hash of every file under `root`, by path relative to it.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let mut hasher = DefaultHasher::new();
                hasher.write(&std::fs::read(&path).unwrap_or_default());
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                files.insert(rel, hasher.finish());
            }
        }
    }
    files
}

/// A copy of the smoke recipe preset (recipes/smoke.toml), for configs built by editing it.
const SMOKE: &str = r#"description = "Tiny CNN on seeded synthetic data"
seed = 0

[recipe]
name = "erm"

[dataset]
name = "synthetic"

[data]
batch_size = 32
eval_batch_size = 64
crop_padding = 1
hflip = true

[model]
arch = "small_cnn"
widths = [8, 16]

[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9

[schedule]
name = "cosine"

[train]
epochs = 3
log_every = 4
"#;

/// A `[dataset]` section of a format stoke does not have.
const FORMAT_NOPE: &str = "format = \"nope\"\nmean = [0.5]\nstd = [0.5]";

/// The smoke recipe on an image folder `data/` of 16x16 RGB images, classes cat and dog.
const FOLDER_RECIPE: &str = r#"seed = 0

[recipe]
name = "erm"

[dataset]
format = "image-folder"
path = "data"
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]

[data]
batch_size = 4
eval_batch_size = 4

[model]
arch = "small_cnn"
widths = [8, 16]

[optimizer]
name = "sgd"
lr = 0.05

[train]
steps = 2
"#;

/// Runs trained once per test process and copied into the cases that damage them.
struct Fixtures {
    dir: tempfile::TempDir,
    smoke: OnceLock<PathBuf>,
    interrupted: OnceLock<PathBuf>,
    ddpm: OnceLock<PathBuf>,
    mnist: OnceLock<PathBuf>,
    federated: OnceLock<PathBuf>,
    federated_disk: OnceLock<PathBuf>,
}

impl Fixtures {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            smoke: OnceLock::new(),
            interrupted: OnceLock::new(),
            ddpm: OnceLock::new(),
            mnist: OnceLock::new(),
            federated: OnceLock::new(),
            federated_disk: OnceLock::new(),
        }
    }

    /// Runs `args`, a training that exits with `code`, in directory `name` under the fixtures
    /// directory, once.
    fn train(
        &self,
        cell: &OnceLock<PathBuf>,
        name: &str,
        setup: Setup,
        args: &str,
        code: i32,
    ) -> PathBuf {
        cell.get_or_init(|| {
            let root = self.dir.path().join(name);
            std::fs::create_dir(&root).unwrap();
            setup(&Dir {
                root: &root,
                fixtures: self,
            });
            let args: Vec<&str> = args.split_whitespace().collect();
            let run = run_stoke(&root, &args, &self.dir.path().join(format!("{name}.err")));
            assert_eq!(
                run.code,
                Some(code),
                "training the {name} fixture: {}",
                run.stderr
            );
            root
        })
        .clone()
    }
}

/// The directory a case builds its inputs in; paths are relative to it.
struct Dir<'a> {
    root: &'a Path,
    fixtures: &'a Fixtures,
}

impl Dir<'_> {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> &Self {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self
    }

    /// Changes the bytes of an existing file.
    fn edit(&self, rel: &str, change: impl FnOnce(&mut Vec<u8>)) -> &Self {
        let mut bytes = std::fs::read(self.path(rel)).unwrap();
        change(&mut bytes);
        self.write(rel, &bytes)
    }

    fn mkdir(&self, rel: &str) -> &Self {
        std::fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    /// Removes a file or a directory tree.
    fn remove(&self, rel: &str) -> &Self {
        let path = self.path(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
        self
    }

    /// The smoke preset with `extra` appended, as file `rel`.
    fn smoke_file(&self, rel: &str, extra: &str) -> &Self {
        self.write(rel, format!("{SMOKE}{extra}").as_bytes())
    }

    /// A `width` x `height` RGB PNG.
    fn png(&self, rel: &str, width: u32, height: u32) -> &Self {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 16) as u8, ((x + y) * 8) as u8])
        });
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        self.write(rel, &bytes.into_inner())
    }

    /// MNIST-layout IDX files in `data/`: 64 train and 32 test images of 28x28, raw or
    /// gzipped (then named `*.gz`).
    fn mnist(&self, gz: bool) -> &Self {
        self.idx_files("data", gz)
    }

    /// The files of [`Dir::mnist`] in `dir`.
    fn idx_files(&self, dir: &str, gz: bool) -> &Self {
        for (prefix, count) in [("train", 64), ("t10k", 32)] {
            for (name, bytes) in [
                ("images-idx3", idx_images(count, 28, 28)),
                ("labels-idx1", idx_labels(count, 10)),
            ] {
                match gz {
                    false => self.write(&format!("{dir}/{prefix}-{name}-ubyte"), &bytes),
                    true => self.write(&format!("{dir}/{prefix}-{name}-ubyte.gz"), &gzip(&bytes)),
                };
            }
        }
        self
    }

    /// CIFAR-10 binary batches in `data/`: 8 records per file.
    fn cifar10(&self) -> &Self {
        for i in 1..=5 {
            self.write(&format!("data/data_batch_{i}.bin"), &cifar_records(8, 1));
        }
        self.write("data/test_batch.bin", &cifar_records(8, 1))
    }

    /// CIFAR-100 binary files in `data/`: 40 train and 8 test records.
    fn cifar100(&self) -> &Self {
        self.write("data/train.bin", &cifar_records(40, 2));
        self.write("data/test.bin", &cifar_records(8, 2))
    }

    /// An image folder in `data/` (train: 3 images per class, test: 2) and `folder.toml`,
    /// a recipe training on it.
    fn image_folder(&self) -> &Self {
        for class in ["cat", "dog"] {
            for i in 0..3 {
                self.png(&format!("data/train/{class}/{i}.png"), 16, 16);
            }
            for i in 0..2 {
                self.png(&format!("data/test/{class}/{i}.png"), 16, 16);
            }
        }
        self.write("folder.toml", FOLDER_RECIPE.as_bytes())
    }

    /// `run/`: a copy of a smoke run trained for 6 steps (one checkpoint, step 6).
    fn smoke_run(&self) -> &Self {
        self.smoke_run_at("run")
    }

    /// The smoke run of [`Dir::smoke_run`] in `rel`.
    fn smoke_run_at(&self, rel: &str) -> &Self {
        let run = self.fixtures.train(
            &self.fixtures.smoke,
            "smoke",
            |d| d,
            "train smoke --quiet --out run train.steps=6",
            0,
        );
        copy_tree(&run.join("run"), &self.path(rel));
        self
    }

    /// `run/`: a copy of a smoke run of 12 steps stopped after 6 as Ctrl-C would (one
    /// checkpoint, step 6, as in [`Dir::smoke_run`]), so `--resume` trains on.
    fn interrupted_run(&self) -> &Self {
        let run = self.fixtures.train(
            &self.fixtures.interrupted,
            "interrupted",
            |d| d,
            "train smoke --quiet --out run train.steps=12 --stop-after 6",
            130,
        );
        copy_tree(&run.join("run"), &self.path("run"));
        self
    }

    /// `run/`: a copy of a DDPM run with a tiny UNet, trained for 6 steps (latest: step 6).
    fn ddpm_run(&self) -> &Self {
        self.ddpm_run_at("run")
    }

    /// The DDPM run of [`Dir::ddpm_run`] in `rel`.
    fn ddpm_run_at(&self, rel: &str) -> &Self {
        let run = self.fixtures.train(
            &self.fixtures.ddpm,
            "ddpm",
            |d| d,
            "train ddpm-fashion-mnist --quiet --out run model.name=unet_tiny train.steps=6 \
             dataset.train_size=32 dataset.test_size=16 data.batch_size=16 \
             data.eval_batch_size=16 train.eval_every=0 train.checkpoint_every=0",
            0,
        );
        copy_tree(&run.join("run"), &self.path(rel));
        self
    }

    /// `run/`: a copy of a federated smoke run, MIFA with cyclic participation, 4 rounds
    /// (checkpoints at rounds 2 and 4, each with MIFA's stored updates).
    fn federated_run(&self) -> &Self {
        let run = self.fixtures.train(
            &self.fixtures.federated,
            "federated",
            |d| d,
            "train smoke --quiet --out run train.epochs=0 schedule.name=\"constant\" \
             federated={clients=6,rounds=4,\
             local_steps=2,evaluate_every=2,algorithm=\"mifa\",participation=\"cyclic\",\
             cycle=3,participation_mean=0.5,participation_min=0.2}",
            0,
        );
        copy_tree(&run.join("run"), &self.path("run"));
        self
    }

    /// `run/`: the MIFA run of [`Dir::federated_run`] with its client state on disk.
    fn federated_disk_run(&self) -> &Self {
        let run = self.fixtures.train(
            &self.fixtures.federated_disk,
            "federated-disk",
            |d| d,
            "train smoke --quiet --out run train.epochs=0 schedule.name=\"constant\" \
             federated={clients=6,rounds=4,local_steps=2,evaluate_every=2,algorithm=\"mifa\",\
             participation=\"cyclic\",cycle=3,participation_mean=0.5,participation_min=0.2,\
             client_state=\"disk\"}",
            0,
        );
        copy_tree(&run.join("run"), &self.path("run"));
        self
    }

    /// Flips the last byte of every client-state file of `run/`.
    fn damage_client_state(&self) -> &Self {
        let store = self.path("run/client-state/rank-0/mifa");
        let files: Vec<_> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            !files.is_empty(),
            "no client-state files in {}",
            store.display()
        );
        for file in files {
            let mut bytes = std::fs::read(&file).unwrap();
            *bytes.last_mut().unwrap() ^= 1;
            std::fs::write(&file, bytes).unwrap();
        }
        self
    }

    /// `run/`: a copy of a smoke run on the IDX files of [`Dir::mnist`] in `data/`.
    fn run_on_mnist(&self) -> &Self {
        let run = self.fixtures.train(
            &self.fixtures.mnist,
            "mnist",
            |d| d.mnist(false),
            "train smoke --quiet --out run train.steps=6 dataset.name=mnist dataset.path=data",
            0,
        );
        copy_tree(&run.join("run"), &self.path("run"));
        self
    }

    /// Changes the model widths in the run's config, so the checkpoint no longer fits it.
    fn widths(&self, widths: &str) -> &Self {
        self.edit("run/config.toml", |b| {
            let text = String::from_utf8(b.clone()).unwrap();
            let start = text.find("widths = [").unwrap();
            let end = start + text[start..].find(']').unwrap() + 1;
            *b = format!("{}widths = {widths}{}", &text[..start], &text[end..]).into_bytes();
        })
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Replaces `from` by `to` in a text file's bytes; `from` must occur.
fn replace(bytes: &mut Vec<u8>, from: &str, to: &str) {
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(from), "`{from}` not in {text}");
    *bytes = text.replace(from, to).into_bytes();
}

/// Inverts every bit of `bytes`.
fn flip(bytes: &mut [u8]) {
    for byte in bytes {
        *byte ^= 0xff;
    }
}

/// An IDX images file: `count` images of `rows` x `cols`.
fn idx_images(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut bytes = 0x0803u32.to_be_bytes().to_vec();
    for dim in [count, rows, cols] {
        bytes.extend_from_slice(&(dim as u32).to_be_bytes());
    }
    bytes.extend((0..count * rows * cols).map(|i| (i * 7 % 256) as u8));
    bytes
}

/// An IDX labels file: `count` labels cycling through `classes`.
fn idx_labels(count: usize, classes: usize) -> Vec<u8> {
    let mut bytes = 0x0801u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&(count as u32).to_be_bytes());
    bytes.extend((0..count).map(|i| (i % classes) as u8));
    bytes
}

/// `count` CIFAR records of `label_bytes` label bytes (1: CIFAR-10, 2: CIFAR-100) and
/// 3x32x32 pixels.
fn cifar_records(count: usize, label_bytes: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..count {
        bytes.extend(std::iter::repeat_n((i % 10) as u8, label_bytes));
        bytes.extend((0..3072).map(|p| ((p + i) % 256) as u8));
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Bytes that follow no format, the same every run.
fn garbage(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
