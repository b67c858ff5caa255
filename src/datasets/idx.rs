//! Reader and writer for the IDX format of MNIST and Fashion-MNIST, raw or gzipped.
//!
//! An IDX file is a big-endian header (a magic number, then one u32 per dimension) followed
//! by the data bytes. Images are `0x00000803` (count, rows, cols), labels `0x00000801` (count).
//! Gzip is recognised by its magic bytes rather than the file name, because the official
//! downloads are often unpacked (or renamed) without the `.gz` suffix changing accordingly.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::image_set::{DataError, ImageSet};

/// Magic number of an unsigned-byte 3-d IDX file (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte 1-d IDX file (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The contents of an IDX images file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// `count * rows * cols` bytes, image after image, row-major.
    pub pixels: Vec<u8>,
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
}

/// Reads an images file and its labels file into one single-channel [`ImageSet`].
pub fn read_idx_pair(
    images: &Path,
    labels: &Path,
    num_classes: usize,
) -> Result<ImageSet, DataError> {
    let image_bytes = fs::read(images).map_err(|e| read_error(images, e))?;
    let label_bytes = fs::read(labels).map_err(|e| read_error(labels, e))?;
    parse_idx_pair(images, &image_bytes, labels, &label_bytes, num_classes)
}

/// Like [`read_idx_pair`] for file contents already in memory; the paths name them in errors.
pub fn parse_idx_pair(
    images: &Path,
    image_bytes: &[u8],
    labels: &Path,
    label_bytes: &[u8],
    num_classes: usize,
) -> Result<ImageSet, DataError> {
    let idx_images = parse_idx_images(images, image_bytes)?;
    let idx_labels = parse_idx_labels(labels, label_bytes, num_classes)?;
    if idx_images.count != idx_labels.len() {
        return Err(DataError::new(
            images,
            format!(
                "image/label count mismatch: {} holds {} images but {} holds {} labels",
                images.display(),
                idx_images.count,
                labels.display(),
                idx_labels.len()
            ),
        ));
    }
    Ok(ImageSet {
        pixels: idx_images.pixels,
        labels: idx_labels,
        channels: 1,
        height: idx_images.rows,
        width: idx_images.cols,
        num_classes,
    })
}

/// Reads an IDX images file (magic `0x00000803`).
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = fs::read(path).map_err(|e| read_error(path, e))?;
    parse_idx_images(path, &bytes)
}

/// Parses the (possibly gzipped) contents of an IDX images file named `path`.
pub fn parse_idx_images(path: &Path, bytes: &[u8]) -> Result<IdxImages, DataError> {
    let bytes = gunzip_if_needed(path, bytes, IDX_IMAGES_MAGIC, 3)?;
    let dims = parse_header(path, &bytes, IDX_IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::new(
            path,
            format!("images of {rows}x{cols} pixels: expected at least 1x1"),
        ));
    }
    let data = checked_data(path, &bytes, &dims)?;
    Ok(IdxImages {
        pixels: data.to_vec(),
        count,
        rows,
        cols,
    })
}

/// Reads an IDX labels file (magic `0x00000801`), checking each label is `< num_classes`.
pub fn read_idx_labels(path: &Path, num_classes: usize) -> Result<Vec<u32>, DataError> {
    let bytes = fs::read(path).map_err(|e| read_error(path, e))?;
    parse_idx_labels(path, &bytes, num_classes)
}

/// Parses the (possibly gzipped) contents of an IDX labels file named `path`.
pub fn parse_idx_labels(
    path: &Path,
    bytes: &[u8],
    num_classes: usize,
) -> Result<Vec<u32>, DataError> {
    let bytes = gunzip_if_needed(path, bytes, IDX_LABELS_MAGIC, 1)?;
    let dims = parse_header(path, &bytes, IDX_LABELS_MAGIC, 1)?;
    let data = checked_data(path, &bytes, &dims)?;
    data.iter()
        .enumerate()
        .map(|(index, &label)| {
            if usize::from(label) < num_classes {
                Ok(u32::from(label))
            } else {
                Err(DataError::new(
                    path,
                    format!(
                        "label out of range: label {index} is {label} \
                         but there are only {num_classes} classes"
                    ),
                ))
            }
        })
        .collect()
}

/// Writes the images of a single-channel `set` as an IDX images file.
pub fn write_idx_images(path: &Path, set: &ImageSet, gzip: bool) -> Result<(), DataError> {
    if set.channels != 1 {
        return Err(DataError::new(
            path,
            format!(
                "cannot write: IDX images have 1 channel, this set has {}",
                set.channels
            ),
        ));
    }
    if set.pixels.len() != set.len() * set.image_size() {
        return Err(DataError::new(
            path,
            format!(
                "cannot write: {} pixel bytes for {} images of {}x{}",
                set.pixels.len(),
                set.len(),
                set.height,
                set.width
            ),
        ));
    }
    let dims = [set.len(), set.height, set.width];
    let mut bytes = header(path, IDX_IMAGES_MAGIC, &dims)?;
    bytes.extend_from_slice(&set.pixels);
    write_maybe_gzipped(path, &bytes, gzip)
}

/// Writes the labels of `set` as an IDX labels file.
pub fn write_idx_labels(path: &Path, set: &ImageSet, gzip: bool) -> Result<(), DataError> {
    let mut bytes = header(path, IDX_LABELS_MAGIC, &[set.len()])?;
    for (index, &label) in set.labels.iter().enumerate() {
        let byte = u8::try_from(label).map_err(|_| {
            DataError::new(
                path,
                format!("cannot write: label {index} is {label}, over 255"),
            )
        })?;
        bytes.push(byte);
    }
    write_maybe_gzipped(path, &bytes, gzip)
}

/// The bytes, gunzipped when they start with the gzip magic. Decompression stops one byte
/// after the size the IDX header declares (so trailing data is still seen), and a declared
/// size beyond the memory available is refused before inflating: a small file cannot make
/// the reader allocate without bound.
fn gunzip_if_needed<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    ndim: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let gzip_error = |e: std::io::Error| DataError::new(path, format!("bad gzip stream: {e}"));
    // Multi-member streams are valid gzip (e.g. concatenated .gz files), so accept them.
    let mut decoder = MultiGzDecoder::new(bytes);
    let mut data = Vec::new();
    let header_len = 4 * (1 + ndim);
    (&mut decoder)
        .take(header_len as u64)
        .read_to_end(&mut data)
        .map_err(gzip_error)?;
    let dims = parse_header(path, &data, magic, ndim)?;
    let declared = dims
        .iter()
        .try_fold(1usize, |product, &d| product.checked_mul(d))
        .and_then(|product| product.checked_add(header_len))
        .filter(|&total| total <= crate::memory::available().unwrap_or(usize::MAX));
    let Some(declared) = declared else {
        return Err(DataError::new(
            path,
            format!("the header declares {dims:?} elements, more than the memory available"),
        ));
    };
    decoder
        .take((declared - header_len + 1) as u64)
        .read_to_end(&mut data)
        .map_err(gzip_error)?;
    Ok(std::borrow::Cow::Owned(data))
}

/// Checks the magic number and returns the `ndim` dimension sizes that follow it.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    ndim: usize,
) -> Result<Vec<usize>, DataError> {
    let header_len = 4 * (1 + ndim);
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .take(1 + ndim)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    if let Some(&found) = words.first()
        && found != magic
    {
        return Err(DataError::new(
            path,
            format!(
                "wrong magic number: expected {magic:#010x} ({}), found {found:#010x} ({})",
                describe_magic(magic),
                describe_magic(found)
            ),
        ));
    }
    if words.len() < 1 + ndim {
        return Err(DataError::new(
            path,
            format!(
                "truncated data: expected a {header_len}-byte header, found {} bytes",
                bytes.len()
            ),
        ));
    }
    Ok(words[1..].iter().map(|&d| d as usize).collect())
}

/// The data after the header, which must be exactly as long as the dimensions say.
fn checked_data<'a>(path: &Path, bytes: &'a [u8], dims: &[usize]) -> Result<&'a [u8], DataError> {
    let header_len = 4 * (1 + dims.len());
    // A corrupt header can claim more than fits in memory; overflow is a mismatch too.
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header_len));
    let dims_text = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    match expected {
        Some(expected) if expected == bytes.len() => Ok(&bytes[header_len..]),
        Some(expected) if expected > bytes.len() => Err(DataError::new(
            path,
            format!(
                "truncated data: header says {dims_text}, expected {expected} bytes, \
                 found {} bytes",
                bytes.len()
            ),
        )),
        Some(expected) => Err(DataError::new(
            path,
            format!(
                "trailing data: header says {dims_text}, expected {expected} bytes, \
                 found {} bytes",
                bytes.len()
            ),
        )),
        None => Err(DataError::new(
            path,
            format!(
                "truncated data: header says {dims_text}, more bytes than can be addressed, \
                 found {} bytes",
                bytes.len()
            ),
        )),
    }
}

fn describe_magic(magic: u32) -> &'static str {
    match magic {
        IDX_IMAGES_MAGIC => "IDX images",
        IDX_LABELS_MAGIC => "IDX labels",
        _ => "not an IDX images or labels file",
    }
}

fn header(path: &Path, magic: u32, dims: &[usize]) -> Result<Vec<u8>, DataError> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for &dim in dims {
        let dim = u32::try_from(dim).map_err(|_| {
            DataError::new(
                path,
                format!("cannot write: dimension {dim} does not fit in u32"),
            )
        })?;
        bytes.extend_from_slice(&dim.to_be_bytes());
    }
    Ok(bytes)
}

fn write_maybe_gzipped(path: &Path, bytes: &[u8], gzip: bool) -> Result<(), DataError> {
    let write_error = |e: std::io::Error| DataError::new(path, format!("cannot write: {e}"));
    if !gzip {
        return fs::write(path, bytes).map_err(write_error);
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).map_err(write_error)?;
    let compressed = encoder.finish().map_err(write_error)?;
    fs::write(path, compressed).map_err(write_error)
}

fn read_error(path: &Path, error: std::io::Error) -> DataError {
    DataError::read_failed(path, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tempfile::TempDir;

    /// `labels.len()` images of 3 rows x 4 cols whose pixel encodes image, row and column.
    fn sample_set(labels: &[u32]) -> ImageSet {
        let mut pixels = Vec::new();
        for image in 0..labels.len() {
            for row in 0..3 {
                for col in 0..4 {
                    pixels.push((image * 100 + row * 10 + col) as u8);
                }
            }
        }
        ImageSet {
            pixels,
            labels: labels.to_vec(),
            channels: 1,
            height: 3,
            width: 4,
            num_classes: 10,
        }
    }

    fn write_pair(dir: &TempDir, set: &ImageSet, gzip: bool) -> (PathBuf, PathBuf) {
        // Deliberately no .gz suffix: detection must go by content.
        let images = dir.path().join("images-idx3-ubyte");
        let labels = dir.path().join("labels-idx1-ubyte");
        write_idx_images(&images, set, gzip).unwrap();
        write_idx_labels(&labels, set, gzip).unwrap();
        (images, labels)
    }

    fn error_text<T: std::fmt::Debug>(result: Result<T, DataError>) -> String {
        result.expect_err("expected an error").to_string()
    }

    #[test]
    fn raw_pair_round_trips() {
        let dir = TempDir::new().unwrap();
        let set = sample_set(&[5, 0, 9]);
        let (images, labels) = write_pair(&dir, &set, false);
        assert_eq!(read_idx_pair(&images, &labels, 10).unwrap(), set);
    }

    #[test]
    fn gzipped_pair_round_trips() {
        let dir = TempDir::new().unwrap();
        let set = sample_set(&[1, 2]);
        let (images, labels) = write_pair(&dir, &set, true);
        assert!(fs::read(&images).unwrap().starts_with(&GZIP_MAGIC));
        assert_eq!(read_idx_pair(&images, &labels, 10).unwrap(), set);
    }

    #[test]
    fn hand_built_file_is_row_major() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("images");
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        fs::write(&path, &bytes).unwrap();
        let images = read_idx_images(&path).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (1, 2, 3));
        assert_eq!(images.pixels, vec![1, 2, 3, 4, 5, 6]);

        let labels = dir.path().join("labels");
        fs::write(&labels, [0, 0, 8, 1, 0, 0, 0, 1, 7]).unwrap();
        let set = read_idx_pair(&path, &labels, 10).unwrap();
        assert_eq!(set.labels, vec![7]);
        assert_eq!((set.channels, set.height, set.width), (1, 2, 3));
    }

    #[test]
    fn missing_file_is_named() {
        let dir = TempDir::new().unwrap();
        let (images, _) = write_pair(&dir, &sample_set(&[1]), false);
        let absent = dir.path().join("t10k-labels-idx1-ubyte");
        let text = error_text(read_idx_pair(&images, &absent, 10));
        assert!(text.contains("t10k-labels-idx1-ubyte"), "{text}");
        assert!(text.contains("missing file"), "{text}");
    }

    #[test]
    fn wrong_magic_shows_expected_and_found_in_hex() {
        let dir = TempDir::new().unwrap();
        let (images, labels) = write_pair(&dir, &sample_set(&[1]), true);
        // Swapped arguments: the labels file read as images.
        let text = error_text(read_idx_pair(&labels, &images, 10));
        assert!(text.contains("labels-idx1-ubyte"), "{text}");
        assert!(text.contains("wrong magic number"), "{text}");
        assert!(text.contains("expected 0x00000803"), "{text}");
        assert!(text.contains("found 0x00000801"), "{text}");

        let junk = dir.path().join("junk");
        fs::write(&junk, b"PK\x03\x04 not idx at all").unwrap();
        let text = error_text(read_idx_labels(&junk, 10));
        assert!(text.contains("junk"), "{text}");
        assert!(text.contains("expected 0x00000801"), "{text}");
        assert!(text.contains("found 0x504b0304"), "{text}");
    }

    #[test]
    fn truncated_data_reports_expected_and_actual_bytes() {
        let dir = TempDir::new().unwrap();
        let (images, _) = write_pair(&dir, &sample_set(&[1, 2]), false);
        let bytes = fs::read(&images).unwrap();
        fs::write(&images, &bytes[..bytes.len() - 1]).unwrap();
        let text = error_text(read_idx_images(&images));
        assert!(text.contains("images-idx3-ubyte"), "{text}");
        assert!(text.contains("truncated data"), "{text}");
        assert!(text.contains("expected 40 bytes, found 39 bytes"), "{text}");
    }

    #[test]
    fn truncated_header_is_reported() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("short");
        fs::write(&path, [0, 0, 8, 3, 0, 0]).unwrap();
        let text = error_text(read_idx_images(&path));
        assert!(text.contains("short"), "{text}");
        assert!(
            text.contains("truncated data: expected a 16-byte header, found 6 bytes"),
            "{text}"
        );
    }

    #[test]
    fn trailing_data_is_reported() {
        let dir = TempDir::new().unwrap();
        let (_, labels) = write_pair(&dir, &sample_set(&[1, 2]), false);
        let mut bytes = fs::read(&labels).unwrap();
        bytes.push(0);
        fs::write(&labels, &bytes).unwrap();
        let text = error_text(read_idx_labels(&labels, 10));
        assert!(text.contains("trailing data"), "{text}");
        assert!(text.contains("expected 10 bytes, found 11 bytes"), "{text}");
    }

    #[test]
    fn huge_header_counts_do_not_overflow() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("huge");
        let mut bytes = vec![0, 0, 8, 3];
        bytes.extend_from_slice(&[0xff; 12]);
        fs::write(&path, &bytes).unwrap();
        let text = error_text(read_idx_images(&path));
        assert!(text.contains("truncated data"), "{text}");
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = TempDir::new().unwrap();
        let images = dir.path().join("train-images");
        let labels = dir.path().join("train-labels");
        write_idx_images(&images, &sample_set(&[1, 2, 3]), false).unwrap();
        write_idx_labels(&labels, &sample_set(&[1, 2]), false).unwrap();
        let text = error_text(read_idx_pair(&images, &labels, 10));
        assert!(text.contains("image/label count mismatch"), "{text}");
        assert!(text.contains("train-images holds 3 images"), "{text}");
        assert!(text.contains("train-labels holds 2 labels"), "{text}");
    }

    #[test]
    fn label_out_of_range_is_reported() {
        let dir = TempDir::new().unwrap();
        let (images, labels) = write_pair(&dir, &sample_set(&[1, 12, 3]), true);
        let text = error_text(read_idx_pair(&images, &labels, 10));
        assert!(text.contains("labels-idx1-ubyte"), "{text}");
        assert!(text.contains("label out of range"), "{text}");
        assert!(text.contains("label 1 is 12"), "{text}");
        assert!(text.contains("only 10 classes"), "{text}");
    }

    #[test]
    fn bad_gzip_stream_is_reported() {
        let dir = TempDir::new().unwrap();
        let (images, labels) = write_pair(&dir, &sample_set(&[1, 2]), true);

        // Cut short: the stream ends before its trailer.
        let bytes = fs::read(&images).unwrap();
        fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
        let text = error_text(read_idx_images(&images));
        assert!(text.contains("images-idx3-ubyte"), "{text}");
        assert!(text.contains("bad gzip stream"), "{text}");

        // Garbage after the gzip magic.
        fs::write(&labels, [0x1f, 0x8b, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]).unwrap();
        let text = error_text(read_idx_labels(&labels, 10));
        assert!(text.contains("labels-idx1-ubyte"), "{text}");
        assert!(text.contains("bad gzip stream"), "{text}");
    }

    /// A gzip bomb: a header declaring two 2x2 images, then 200 MB of zeros that compress to
    /// ~200 KB. Inflation stops one byte past the declared size, so the reader reports the
    /// trailing data after inflating 25 bytes, not 200 MB; a header declaring more than the
    /// machine holds is refused before inflating anything.
    #[test]
    fn gzip_inflates_no_further_than_the_header_declares() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let gzip = |header: &[u32], zeros: usize| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
            for word in header {
                encoder.write_all(&word.to_be_bytes()).unwrap();
            }
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..zeros / chunk.len() {
                encoder.write_all(&chunk).unwrap();
            }
            encoder.finish().unwrap()
        };
        let path = Path::new("bomb-images-idx3-ubyte.gz");
        let bomb = gzip(&[IDX_IMAGES_MAGIC, 2, 2, 2], 200 << 20);
        assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
        let inflated = gunzip_if_needed(path, &bomb, IDX_IMAGES_MAGIC, 3).unwrap();
        assert_eq!(inflated.len(), 16 + 2 * 2 * 2 + 1);
        let text = error_text(parse_idx_images(path, &bomb));
        assert!(text.contains("trailing data"), "{text}");

        let huge = gzip(&[IDX_IMAGES_MAGIC, u32::MAX, u32::MAX, u32::MAX], 0);
        let text = error_text(parse_idx_images(path, &huge));
        assert!(text.contains("more than the memory available"), "{text}");
    }

    #[test]
    fn writers_reject_sets_that_do_not_fit_the_format() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("out");
        let mut rgb = sample_set(&[1]);
        rgb.channels = 3;
        let text = write_idx_images(&path, &rgb, false)
            .unwrap_err()
            .to_string();
        assert!(text.contains("this set has 3"), "{text}");

        let text = write_idx_labels(&path, &sample_set(&[256]), false)
            .unwrap_err()
            .to_string();
        assert!(text.contains("label 0 is 256"), "{text}");
    }
}
