#!/usr/bin/env python3
"""Build the small, class-balanced Fashion-MNIST subset that stoke ships.

Reads the real Fashion-MNIST as installed by Debian's `dataset-fashion-mnist`
package (gzipped IDX files) and writes a deterministic, byte-reproducible subset:

* train: the first 1,000 images of each class, in file order, from
  `train-*-ubyte.gz` (10,000 images, kept in their original file order);
* test:  the first 200 images of each class, in file order, from
  `t10k-*-ubyte.gz` (2,000 images, kept in their original file order).

Output files (gzipped IDX, gzip mtime=0 and no file name so the bytes are
reproducible):

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

IDX format: big-endian u32 magic (0x00000803 images, 0x00000801 labels),
big-endian u32 counts (images: count, rows, cols), then raw u8 data.

Needs only the Python standard library and numpy.

Usage:
    apt-get install dataset-fashion-mnist      # provides the source files
    python3 scripts/make_fashion_subset.py \
        [--src /usr/share/datasets/fashion-mnist] \
        [--out datasets/fashion-mnist-subset] \
        [--train-per-class 1000] [--test-per-class 200]
"""

import argparse
import gzip
import io
import os
import struct
import sys

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
NUM_CLASSES = 10
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "datasets", "fashion-mnist-subset",
)


def read_idx_images(path):
    """Return a (n, rows, cols) uint8 array from a gzipped IDX3 file."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGES_MAGIC:
        raise ValueError(f"{path}: bad image magic 0x{magic:08x}")
    expected = 16 + n * rows * cols
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def read_idx_labels(path):
    """Return a (n,) uint8 array from a gzipped IDX1 file."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic != LABELS_MAGIC:
        raise ValueError(f"{path}: bad label magic 0x{magic:08x}")
    if len(data) != 8 + n:
        raise ValueError(f"{path}: {len(data)} bytes, expected {8 + n}")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{path}: label {labels.max()} out of range")
    return labels


def write_gz(path, payload):
    """Write bytes gzipped with mtime=0 and no embedded name (reproducible)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0,
                       compresslevel=9) as gz:
        gz.write(payload)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return os.path.getsize(path)


def write_idx_images(path, images):
    n, rows, cols = images.shape
    header = struct.pack(">IIII", IMAGES_MAGIC, n, rows, cols)
    return write_gz(path, header + np.ascontiguousarray(images, np.uint8).tobytes())


def write_idx_labels(path, labels):
    header = struct.pack(">II", LABELS_MAGIC, labels.shape[0])
    return write_gz(path, header + np.ascontiguousarray(labels, np.uint8).tobytes())


def balanced_indices(labels, per_class):
    """Indices of the first `per_class` samples of each class, in file order."""
    keep = np.zeros(labels.shape[0], dtype=bool)
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        if idx.size < per_class:
            raise ValueError(f"class {c} has only {idx.size} samples, need {per_class}")
        keep[idx[:per_class]] = True
    return np.flatnonzero(keep)  # sorted => original file order


def make_split(src, out, prefix, per_class):
    images = read_idx_images(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx_labels(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{prefix}: {images.shape[0]} images vs {labels.shape[0]} labels")
    idx = balanced_indices(labels, per_class)
    sub_images, sub_labels = images[idx], labels[idx]
    nbytes = write_idx_images(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), sub_images)
    nbytes += write_idx_labels(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), sub_labels)
    counts = np.bincount(sub_labels, minlength=NUM_CLASSES)
    print(f"{prefix}: {sub_images.shape[0]} of {images.shape[0]} images "
          f"({sub_images.shape[1]}x{sub_images.shape[2]}), {nbytes} bytes")
    for c in range(NUM_CLASSES):
        print(f"  class {c} {CLASS_NAMES[c]:<12} {counts[c]}")
    return nbytes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", default=DEFAULT_SRC, help="folder with the Fashion-MNIST .gz files")
    p.add_argument("--out", default=DEFAULT_OUT, help="folder to write the subset into")
    p.add_argument("--train-per-class", type=int, default=1000)
    p.add_argument("--test-per-class", type=int, default=200)
    args = p.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    total = make_split(args.src, args.out, "train", args.train_per_class)
    total += make_split(args.src, args.out, "t10k", args.test_per_class)
    print(f"total: {total} bytes ({total / 1e6:.2f} MB) in {args.out}")
    if total >= 6_000_000:
        print("error: subset is 6 MB or more", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
