//! The in-memory form every dataset reader produces: u8 pixels in NCHW order plus labels.

use std::fmt;
use std::path::PathBuf;

/// A split of an image-classification dataset held in memory as raw bytes.
///
/// Pixels stay `u8` until a batch is built so that a CIFAR-sized set costs its file size in
/// memory, not four times that.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageSet {
    /// `len * channels * height * width` bytes, image after image, each in CHW order.
    pub pixels: Vec<u8>,
    /// One label per image, each `< num_classes`.
    pub labels: Vec<u32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub num_classes: usize,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Keeps the first `len` images; `Err(available)` unless `1 <= len <= self.len()`.
    pub fn truncate(&mut self, len: usize) -> Result<(), usize> {
        if len == 0 || len > self.len() {
            return Err(self.len());
        }
        self.pixels.truncate(len * self.image_size());
        self.labels.truncate(len);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of one image.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The images `range` (clamped to the set) as a new set: a client's shard of the data.
    pub fn slice(&self, range: std::ops::Range<usize>) -> ImageSet {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let size = self.image_size();
        ImageSet {
            pixels: self.pixels[start * size..end * size].to_vec(),
            labels: self.labels[start..end].to_vec(),
            ..self.empty_like()
        }
    }

    /// The images at `indices` (in that order; each must be `< len`), as a new set.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut out = self.empty_like();
        for &i in indices {
            out.pixels.extend_from_slice(self.image(i));
            out.labels.push(self.labels[i]);
        }
        out
    }

    fn empty_like(&self) -> ImageSet {
        ImageSet {
            pixels: Vec::new(),
            labels: Vec::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
        }
    }

    /// The CHW bytes of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.image_size();
        &self.pixels[index * size..(index + 1) * size]
    }
}

/// What went wrong reading a dataset file; always names the file.
#[derive(Debug)]
pub struct DataError {
    pub path: PathBuf,
    pub problem: String,
}

impl DataError {
    pub fn new(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl DataError {
    /// A failed read: "missing file" when it does not exist, else the I/O error.
    pub fn read_failed(path: &std::path::Path, error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::NotFound {
            Self::new(path, "missing file")
        } else {
            Self::new(path, format!("cannot read: {error}"))
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for DataError {}
