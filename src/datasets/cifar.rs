//! Readers and writers for the official CIFAR-10 and CIFAR-100 binary formats.
//!
//! Each file is a plain sequence of fixed-size records: the label byte(s), then 3072 pixel
//! bytes holding the 32x32 red plane, then green, then blue, each row-major. That is already
//! CHW order, so a record's pixels are copied into [`ImageSet::pixels`] unchanged.

use std::fs;

use std::path::Path;

use super::image_set::{DataError, ImageSet};

/// Side of a CIFAR image in pixels.
pub const CIFAR_SIDE: usize = 32;
/// Colour planes of a CIFAR image (R, G, B).
pub const CIFAR_CHANNELS: usize = 3;
/// Pixel bytes of one CIFAR image.
pub const CIFAR_IMAGE_BYTES: usize = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE;

/// The five CIFAR-10 training batches, in the order they are concatenated.
pub const CIFAR10_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The CIFAR-10 test batch.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";
/// The CIFAR-100 training file.
pub const CIFAR100_TRAIN_FILE: &str = "train.bin";
/// The CIFAR-100 test file.
pub const CIFAR100_TEST_FILE: &str = "test.bin";

/// Which of the two CIFAR-100 labels becomes [`ImageSet::labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar100Label {
    /// The 100 fine classes.
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// The record layout of one CIFAR file flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarFormat {
    /// One label byte per record, 10 classes.
    Cifar10,
    /// A coarse then a fine label byte per record; the chosen one is kept.
    Cifar100(Cifar100Label),
}

impl CifarFormat {
    /// Label bytes at the start of each record.
    pub fn label_bytes(self) -> usize {
        match self {
            CifarFormat::Cifar10 => 1,
            CifarFormat::Cifar100(_) => 2,
        }
    }

    /// Bytes of one record: labels then pixels.
    pub fn record_size(self) -> usize {
        self.label_bytes() + CIFAR_IMAGE_BYTES
    }

    /// Classes of the label this format keeps.
    pub fn num_classes(self) -> usize {
        match self {
            CifarFormat::Cifar10 => 10,
            CifarFormat::Cifar100(Cifar100Label::Fine) => 100,
            CifarFormat::Cifar100(Cifar100Label::Coarse) => 20,
        }
    }

    /// Position of the kept label inside a record.
    fn label_offset(self) -> usize {
        match self {
            CifarFormat::Cifar10 | CifarFormat::Cifar100(Cifar100Label::Coarse) => 0,
            CifarFormat::Cifar100(Cifar100Label::Fine) => 1,
        }
    }
}

/// Reads the CIFAR-10 training split (`data_batch_1.bin`..`data_batch_5.bin`, concatenated
/// in that order) or the test split (`test_batch.bin`) from `dir`.
pub fn read_cifar10(dir: &Path, train: bool) -> Result<ImageSet, DataError> {
    let files: &[&str] = if train {
        &CIFAR10_TRAIN_FILES
    } else {
        &[CIFAR10_TEST_FILE]
    };
    read_cifar_files(dir, files, CifarFormat::Cifar10)
}

/// Reads the CIFAR-100 training (`train.bin`) or test (`test.bin`) split from `dir`, keeping
/// the fine or the coarse label.
pub fn read_cifar100(dir: &Path, train: bool, label: Cifar100Label) -> Result<ImageSet, DataError> {
    let file = if train {
        CIFAR100_TRAIN_FILE
    } else {
        CIFAR100_TEST_FILE
    };
    read_cifar_files(dir, &[file], CifarFormat::Cifar100(label))
}

/// Reads the named files from `dir` and concatenates them in the given order.
pub fn read_cifar_files(
    dir: &Path,
    files: &[&str],
    format: CifarFormat,
) -> Result<ImageSet, DataError> {
    let mut set = empty_set(format.num_classes());
    for name in files {
        let path = dir.join(name);
        // Checked up front so the message says which file of the split is absent and where
        // it was looked for, the usual mistake being a wrong directory or a partial download.
        if !path.is_file() {
            return Err(DataError::new(
                &path,
                format!(
                    "missing file: expected {name} in directory {} \
                     (the official binary version of the dataset)",
                    dir.display()
                ),
            ));
        }
        let part = read_cifar_file(&path, format)?;
        set.pixels.extend_from_slice(&part.pixels);
        set.labels.extend_from_slice(&part.labels);
    }
    Ok(set)
}

/// Reads one CIFAR binary file.
pub fn read_cifar_file(path: &Path, format: CifarFormat) -> Result<ImageSet, DataError> {
    let bytes = fs::read(path).map_err(|e| read_error(path, e))?;
    parse_cifar(path, &bytes, format)
}

/// Decodes the records of `bytes`; `path` only names the file in errors.
pub fn parse_cifar(path: &Path, bytes: &[u8], format: CifarFormat) -> Result<ImageSet, DataError> {
    let record = format.record_size();
    if bytes.is_empty() {
        return Err(DataError::new(path, "empty file: no CIFAR records"));
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(DataError::new(
            path,
            format!(
                "truncated record: {} bytes is not a multiple of the {record}-byte record",
                bytes.len()
            ),
        ));
    }
    let num_classes = format.num_classes();
    let mut set = empty_set(num_classes);
    let count = bytes.len() / record;
    set.pixels.reserve(count * CIFAR_IMAGE_BYTES);
    set.labels.reserve(count);
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[format.label_offset()];
        if usize::from(label) >= num_classes {
            return Err(DataError::new(
                path,
                format!(
                    "label out of range: record {index} has label {label} \
                     but there are only {num_classes} classes"
                ),
            ));
        }
        set.labels.push(u32::from(label));
        set.pixels.extend_from_slice(&rec[format.label_bytes()..]);
    }
    Ok(set)
}

/// Writes `set` as one CIFAR-10 binary file (e.g. `data_batch_1.bin`).
pub fn write_cifar10_file(path: &Path, set: &ImageSet) -> Result<(), DataError> {
    check_writable(path, set)?;
    let labels = label_bytes(path, "label", &set.labels)?;
    let mut bytes = Vec::with_capacity(set.len() * CifarFormat::Cifar10.record_size());
    for (index, label) in labels.iter().enumerate() {
        bytes.push(*label);
        bytes.extend_from_slice(set.image(index));
    }
    write_file(path, &bytes)
}

/// Writes `set` as one CIFAR-100 binary file (`train.bin` / `test.bin`); `set.labels` are
/// the fine labels and `coarse_labels` the matching coarse ones.
pub fn write_cifar100_file(
    path: &Path,
    set: &ImageSet,
    coarse_labels: &[u32],
) -> Result<(), DataError> {
    check_writable(path, set)?;
    if coarse_labels.len() != set.len() {
        return Err(DataError::new(
            path,
            format!(
                "cannot write: {} coarse labels for {} images",
                coarse_labels.len(),
                set.len()
            ),
        ));
    }
    let fine = label_bytes(path, "fine label", &set.labels)?;
    let coarse = label_bytes(path, "coarse label", coarse_labels)?;
    let record = CifarFormat::Cifar100(Cifar100Label::Fine).record_size();
    let mut bytes = Vec::with_capacity(set.len() * record);
    for index in 0..set.len() {
        bytes.push(coarse[index]);
        bytes.push(fine[index]);
        bytes.extend_from_slice(set.image(index));
    }
    write_file(path, &bytes)
}

fn empty_set(num_classes: usize) -> ImageSet {
    ImageSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        channels: CIFAR_CHANNELS,
        height: CIFAR_SIDE,
        width: CIFAR_SIDE,
        num_classes,
    }
}

/// The format has no header, so only 3x32x32 sets with one label per image fit.
fn check_writable(path: &Path, set: &ImageSet) -> Result<(), DataError> {
    let shape = (set.channels, set.height, set.width);
    if shape != (CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE) {
        return Err(DataError::new(
            path,
            format!(
                "cannot write: CIFAR images are 3x32x32 (CxHxW), this set is {}x{}x{}",
                shape.0, shape.1, shape.2
            ),
        ));
    }
    if set.pixels.len() != set.len() * CIFAR_IMAGE_BYTES {
        return Err(DataError::new(
            path,
            format!(
                "cannot write: {} pixel bytes for {} images of {CIFAR_IMAGE_BYTES} bytes",
                set.pixels.len(),
                set.len()
            ),
        ));
    }
    Ok(())
}

/// Labels are stored as single bytes.
fn label_bytes(path: &Path, what: &str, labels: &[u32]) -> Result<Vec<u8>, DataError> {
    labels
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            u8::try_from(label).map_err(|_| {
                DataError::new(
                    path,
                    format!("cannot write: image {index} has {what} {label}, over 255"),
                )
            })
        })
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    fs::write(path, bytes).map_err(|e| DataError::new(path, format!("cannot write: {e}")))
}

fn read_error(path: &Path, error: std::io::Error) -> DataError {
    DataError::read_failed(path, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// A 3x32x32 set whose pixel value encodes image, channel and position, so a
    /// misplaced plane or row shows up as a wrong value.
    fn sample_set(labels: &[u32], num_classes: usize) -> ImageSet {
        let mut pixels = Vec::new();
        for image in 0..labels.len() {
            for channel in 0..CIFAR_CHANNELS {
                for pos in 0..CIFAR_SIDE * CIFAR_SIDE {
                    pixels.push(pixel_value(image, channel, pos));
                }
            }
        }
        ImageSet {
            pixels,
            labels: labels.to_vec(),
            channels: CIFAR_CHANNELS,
            height: CIFAR_SIDE,
            width: CIFAR_SIDE,
            num_classes,
        }
    }

    fn pixel_value(image: usize, channel: usize, pos: usize) -> u8 {
        ((image * 50 + channel * 80 + pos * 7) % 256) as u8
    }

    fn error_text(result: Result<ImageSet, DataError>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn hand_built_record_planes_land_in_channels() {
        // Built byte by byte, independently of the writer: label, then R, G, B planes.
        let dir = TempDir::new().unwrap();
        let mut bytes = vec![7u8];
        bytes.extend(std::iter::repeat_n(10u8, 1024));
        bytes.extend(std::iter::repeat_n(20u8, 1024));
        bytes.extend((0..1024).map(|i| (i % 32) as u8)); // blue = x coordinate
        std::fs::write(dir.path().join(CIFAR10_TEST_FILE), &bytes).unwrap();

        let set = read_cifar10(dir.path(), false).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.labels, vec![7]);
        assert_eq!((set.channels, set.height, set.width), (3, 32, 32));
        assert_eq!(set.num_classes, 10);
        let image = set.image(0);
        assert!(image[..1024].iter().all(|&p| p == 10), "red plane");
        assert!(image[1024..2048].iter().all(|&p| p == 20), "green plane");
        // Blue at row 5, column 9 (row-major).
        assert_eq!(image[2048 + 5 * 32 + 9], 9);
    }

    #[test]
    fn cifar10_test_split_round_trips() {
        let dir = TempDir::new().unwrap();
        let set = sample_set(&[3, 0, 9], 10);
        write_cifar10_file(&dir.path().join(CIFAR10_TEST_FILE), &set).unwrap();
        let size = std::fs::metadata(dir.path().join(CIFAR10_TEST_FILE))
            .unwrap()
            .len();
        assert_eq!(size, 3 * 3073);
        assert_eq!(read_cifar10(dir.path(), false).unwrap(), set);
    }

    #[test]
    fn cifar10_train_concatenates_batches_in_order() {
        let dir = TempDir::new().unwrap();
        for (batch, name) in CIFAR10_TRAIN_FILES.iter().enumerate() {
            let set = sample_set(&[batch as u32, batch as u32 + 1], 10);
            write_cifar10_file(&dir.path().join(name), &set).unwrap();
        }
        let set = read_cifar10(dir.path(), true).unwrap();
        assert_eq!(set.len(), 10);
        assert_eq!(set.labels, vec![0, 1, 1, 2, 2, 3, 3, 4, 4, 5]);
        // The third image is batch 2's first one, which sample_set numbered 0.
        assert_eq!(set.image(2), sample_set(&[0], 10).image(0));
    }

    #[test]
    fn cifar100_keeps_fine_or_coarse_label() {
        let dir = TempDir::new().unwrap();
        let set = sample_set(&[99, 42], 100);
        write_cifar100_file(&dir.path().join(CIFAR100_TRAIN_FILE), &set, &[19, 3]).unwrap();

        let fine = read_cifar100(dir.path(), true, Cifar100Label::Fine).unwrap();
        assert_eq!(fine.labels, vec![99, 42]);
        assert_eq!(fine.num_classes, 100);
        assert_eq!(fine.pixels, set.pixels);

        let coarse = read_cifar100(dir.path(), true, Cifar100Label::Coarse).unwrap();
        assert_eq!(coarse.labels, vec![19, 3]);
        assert_eq!(coarse.num_classes, 20);
        assert_eq!(coarse.pixels, set.pixels);
    }

    #[test]
    fn cifar100_record_is_coarse_then_fine() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(CIFAR100_TEST_FILE);
        write_cifar100_file(&path, &sample_set(&[77], 100), &[11]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 3074);
        assert_eq!(&bytes[..2], &[11, 77]);
    }

    #[test]
    fn missing_file_names_expected_file_and_directory() {
        let dir = TempDir::new().unwrap();
        for name in &CIFAR10_TRAIN_FILES[..2] {
            write_cifar10_file(&dir.path().join(name), &sample_set(&[1], 10)).unwrap();
        }
        let text = error_text(read_cifar10(dir.path(), true));
        assert!(text.contains("missing file"), "{text}");
        assert!(text.contains("expected data_batch_3.bin"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");

        let text = error_text(read_cifar100(dir.path(), false, Cifar100Label::Fine));
        assert!(text.contains("expected test.bin"), "{text}");
    }

    #[test]
    fn truncated_record_is_reported() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(CIFAR10_TEST_FILE);
        write_cifar10_file(&path, &sample_set(&[1, 2], 10)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&path, &bytes).unwrap();

        let text = error_text(read_cifar10(dir.path(), false));
        assert!(text.contains("test_batch.bin"), "{text}");
        assert!(
            text.contains("truncated record: 6141 bytes is not a multiple of the 3073-byte record"),
            "{text}"
        );
    }

    #[test]
    fn cifar10_file_read_as_cifar100_is_truncated() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(CIFAR100_TRAIN_FILE);
        write_cifar10_file(&path, &sample_set(&[1], 10)).unwrap();
        let text = error_text(read_cifar100(dir.path(), true, Cifar100Label::Fine));
        assert!(text.contains("train.bin"), "{text}");
        assert!(
            text.contains("not a multiple of the 3074-byte record"),
            "{text}"
        );
    }

    #[test]
    fn empty_file_is_reported() {
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join(CIFAR10_TEST_FILE), b"").unwrap();
        let text = error_text(read_cifar10(dir.path(), false));
        assert!(text.contains("test_batch.bin"), "{text}");
        assert!(text.contains("empty file"), "{text}");
    }

    #[test]
    fn cifar10_label_out_of_range_names_record() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(CIFAR10_TEST_FILE);
        write_cifar10_file(&path, &sample_set(&[1, 2, 3], 10)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3073] = 10; // the label byte of record 1
        std::fs::write(&path, &bytes).unwrap();

        let text = error_text(read_cifar10(dir.path(), false));
        assert!(text.contains("test_batch.bin"), "{text}");
        assert!(text.contains("label out of range"), "{text}");
        assert!(text.contains("record 1 has label 10"), "{text}");
        assert!(text.contains("only 10 classes"), "{text}");
    }

    #[test]
    fn cifar100_label_out_of_range_checks_the_chosen_label() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(CIFAR100_TEST_FILE);
        // Coarse 20 is out of range, fine 50 is not.
        write_cifar100_file(&path, &sample_set(&[50], 100), &[20]).unwrap();

        assert!(read_cifar100(dir.path(), false, Cifar100Label::Fine).is_ok());
        let text = error_text(read_cifar100(dir.path(), false, Cifar100Label::Coarse));
        assert!(text.contains("test.bin"), "{text}");
        assert!(text.contains("record 0 has label 20"), "{text}");
        assert!(text.contains("only 20 classes"), "{text}");
    }

    #[test]
    fn writers_reject_sets_that_do_not_fit_the_format() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("out.bin");

        let mut wrong_shape = sample_set(&[1], 10);
        wrong_shape.channels = 1;
        wrong_shape.pixels.truncate(1024);
        let err = write_cifar10_file(&path, &wrong_shape).unwrap_err();
        assert!(err.to_string().contains("1x32x32"), "{err}");

        let err = write_cifar10_file(&path, &sample_set(&[300], 1000)).unwrap_err();
        assert!(err.to_string().contains("label 300"), "{err}");

        let err = write_cifar100_file(&path, &sample_set(&[1, 2], 100), &[1]).unwrap_err();
        assert!(
            err.to_string().contains("1 coarse labels for 2 images"),
            "{err}"
        );
    }
}
