//! Reader for a folder of class sub-folders holding PNG or JPEG images.
//!
//! `root/<class>/<image>.{png,jpg,jpeg}`: classes are the sub-folders sorted by name (their
//! position is the label) and images are sorted by file name, so the same tree always gives
//! the same set in the same order.

use std::fs;
use std::path::{Path, PathBuf};

use image::ImageReader;
use image::imageops::{self, FilterType};

use super::image_set::{DataError, ImageSet};

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Reads every image under `root` into one [`ImageSet`] and returns it with the class names
/// (index = label).
///
/// `channels` is 1 (grey) or 3 (RGB); images are converted to it. `size` is
/// `(height, width)`: when given every image is resized to it, otherwise all images must
/// already share the size of the first one.
pub fn read_image_folder(
    root: &Path,
    channels: usize,
    size: Option<(usize, usize)>,
) -> Result<(ImageSet, Vec<String>), DataError> {
    if channels != 1 && channels != 3 {
        return Err(DataError::new(
            root,
            format!("channels must be 1 or 3, got {channels}"),
        ));
    }
    let target = match size {
        Some((height, width)) => Some(target_size(root, height, width)?),
        None => None,
    };
    let classes = class_folders(root)?;
    let mut set = ImageSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        channels,
        height: 0,
        width: 0,
        num_classes: classes.len(),
    };
    // The file that fixed the expected size, for the mismatch message.
    let mut first: Option<PathBuf> = None;
    for (label, (_, folder)) in classes.iter().enumerate() {
        for file in image_files(folder)? {
            let image = load_image(&file, channels, target)?;
            let (height, width) = (image.height, image.width);
            match &first {
                None => {
                    set.height = height;
                    set.width = width;
                    first = Some(file.clone());
                }
                Some(first) if (height, width) != (set.height, set.width) => {
                    return Err(size_mismatch(&file, (height, width), first, &set));
                }
                Some(_) => {}
            }
            set.pixels.extend_from_slice(&image.chw);
            // Class count comes from a Vec length, far below u32::MAX in any real tree.
            set.labels.push(label as u32);
        }
    }
    let names = classes.into_iter().map(|(name, _)| name).collect();
    Ok((set, names))
}

/// One decoded image in CHW order.
struct Decoded {
    chw: Vec<u8>,
    height: usize,
    width: usize,
}

/// The class sub-folders of `root` as (name, path), sorted by name.
fn class_folders(root: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut classes: Vec<(String, PathBuf)> = list_dir(root)?
        .into_iter()
        .filter(|path| path.is_dir())
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            // Hidden folders (.ipynb_checkpoints, .git, ...) are tool clutter, not classes.
            (!name.starts_with('.')).then_some((name, path))
        })
        .collect();
    if classes.is_empty() {
        return Err(DataError::new(
            root,
            "no class sub-folders: expected one folder of images per class",
        ));
    }
    classes.sort();
    Ok(classes)
}

/// The image files of a class folder, sorted by file name; at least one.
fn image_files(folder: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files: Vec<PathBuf> = list_dir(folder)?
        .into_iter()
        .filter(|path| path.is_file() && has_image_extension(path))
        .collect();
    if files.is_empty() {
        return Err(DataError::new(
            folder,
            "class folder has no images (.png, .jpg or .jpeg)",
        ));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let read_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::new(dir, "missing directory")
        } else {
            DataError::new(dir, format!("cannot read directory: {e}"))
        }
    };
    fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()).map_err(read_error))
        .collect()
}

/// Decodes `path`, converts it to `channels` and, if asked, resizes it to `target`
/// (width, height); returns CHW bytes.
fn load_image(
    path: &Path,
    channels: usize,
    target: Option<(u32, u32)>,
) -> Result<Decoded, DataError> {
    let decode_error =
        |e: &dyn std::fmt::Display| DataError::new(path, format!("cannot decode image: {e}"));
    // Guessing from the content, not the extension, accepts a PNG saved as .jpg.
    let image = ImageReader::open(path)
        .map_err(|e| decode_error(&e))?
        .with_guessed_format()
        .map_err(|e| decode_error(&e))?
        .decode()
        .map_err(|e| decode_error(&e))?;
    Ok(if channels == 1 {
        to_chw(&resized(image.into_luma8(), target), 1)
    } else {
        to_chw(&resized(image.into_rgb8(), target), 3)
    })
}

/// `(width, height)` as the `image` crate wants it.
fn target_size(root: &Path, height: usize, width: usize) -> Result<(u32, u32), DataError> {
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(DataError::new(
            root,
            format!("cannot resize to {height}x{width} (height x width)"),
        )),
    }
}

fn resized<P>(
    image: image::ImageBuffer<P, Vec<u8>>,
    target: Option<(u32, u32)>,
) -> image::ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    match target {
        // `resize` copies unchanged when the size already matches.
        Some((width, height)) => imageops::resize(&image, width, height, FilterType::Triangle),
        None => image,
    }
}

/// Interleaved HWC pixels to planar CHW.
fn to_chw<P>(image: &image::ImageBuffer<P, Vec<u8>>, channels: usize) -> Decoded
where
    P: image::Pixel<Subpixel = u8>,
{
    let hwc = image.as_raw();
    let chw = (0..channels)
        .flat_map(|c| hwc.iter().skip(c).step_by(channels).copied())
        .collect();
    Decoded {
        chw,
        height: image.height() as usize,
        width: image.width() as usize,
    }
}

fn size_mismatch(
    file: &Path,
    (height, width): (usize, usize),
    first: &Path,
    set: &ImageSet,
) -> DataError {
    DataError::new(
        file,
        format!(
            "image size {height}x{width} (height x width) differs from the expected {}x{} \
             set by {}; pass a size to resize every image",
            set.height,
            set.width,
            first.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgb, RgbImage};
    use tempfile::TempDir;

    /// An RGB image whose red = x, green = y, blue = constant, so planes are told apart.
    fn gradient(width: u32, height: u32, blue: u8) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, blue]))
    }

    fn save(root: &Path, class: &str, file: &str, image: &RgbImage) -> PathBuf {
        let folder = root.join(class);
        fs::create_dir_all(&folder).unwrap();
        let path = folder.join(file);
        image.save(&path).unwrap();
        path
    }

    fn error_text<T: std::fmt::Debug>(result: Result<T, DataError>) -> String {
        result.expect_err("expected an error").to_string()
    }

    #[test]
    fn classes_sorted_by_name_and_rgb_planes_in_channels() {
        let dir = TempDir::new().unwrap();
        let root = dir.path();
        save(root, "dog", "b.png", &gradient(4, 3, 200));
        save(root, "dog", "a.png", &gradient(4, 3, 100));
        save(root, "cat", "x.png", &gradient(4, 3, 50));
        fs::write(root.join("dog").join("notes.txt"), "not an image").unwrap();
        fs::write(root.join("README.md"), "ignored").unwrap();

        let (set, names) = read_image_folder(root, 3, None).unwrap();
        assert_eq!(names, vec!["cat", "dog"]);
        assert_eq!(set.labels, vec![0, 1, 1]);
        assert_eq!(set.num_classes, 2);
        assert_eq!((set.channels, set.height, set.width), (3, 3, 4));
        assert_eq!(set.pixels.len(), 3 * 3 * 3 * 4);

        // dog/a.png (blue 100) comes before dog/b.png (blue 200).
        assert!(set.image(1)[24..].iter().all(|&p| p == 100));
        assert!(set.image(2)[24..].iter().all(|&p| p == 200));
        let image = set.image(0);
        // Pixel at row 2, column 3: red plane holds x, green plane holds y.
        assert_eq!(image[2 * 4 + 3], 3);
        assert_eq!(image[12 + 2 * 4 + 3], 2);
        assert_eq!(image[24 + 2 * 4 + 3], 50);
    }

    #[test]
    fn grey_conversion_keeps_grey_values() {
        let dir = TempDir::new().unwrap();
        let folder = dir.path().join("only");
        fs::create_dir_all(&folder).unwrap();
        let grey = GrayImage::from_fn(2, 2, |x, y| image::Luma([(x * 10 + y * 100) as u8]));
        grey.save(folder.join("g.png")).unwrap();
        // Equal R, G and B convert to the same grey value.
        let rgb = RgbImage::from_pixel(2, 2, Rgb([77, 77, 77]));
        rgb.save(folder.join("h.png")).unwrap();

        let (set, names) = read_image_folder(dir.path(), 1, None).unwrap();
        assert_eq!(names, vec!["only"]);
        assert_eq!(set.channels, 1);
        assert_eq!(set.image(0), &[0, 10, 100, 110]);
        assert_eq!(set.image(1), &[77, 77, 77, 77]);
    }

    #[test]
    fn jpeg_with_upper_case_extension_is_read() {
        let dir = TempDir::new().unwrap();
        let folder = dir.path().join("c");
        fs::create_dir_all(&folder).unwrap();
        RgbImage::from_pixel(8, 8, Rgb([120, 120, 120]))
            .save_with_format(folder.join("photo.JPG"), image::ImageFormat::Jpeg)
            .unwrap();
        save(dir.path(), "c", "second.jpeg", &gradient(8, 8, 0));

        let (set, _) = read_image_folder(dir.path(), 3, None).unwrap();
        assert_eq!(set.len(), 2);
        // JPEG is lossy, but a flat grey survives to within a step or two.
        assert!(set.image(0).iter().all(|&p| p.abs_diff(120) <= 2));
    }

    #[test]
    fn size_option_resizes_all_images() {
        let dir = TempDir::new().unwrap();
        save(dir.path(), "a", "big.png", &gradient(8, 6, 9));
        save(dir.path(), "b", "small.png", &gradient(3, 5, 9));
        let (set, _) = read_image_folder(dir.path(), 3, Some((4, 2))).unwrap();
        assert_eq!((set.height, set.width), (4, 2));
        assert_eq!(set.pixels.len(), 2 * 3 * 4 * 2);
        // A constant blue plane stays constant through the Triangle filter.
        assert!(set.image(1)[16..].iter().all(|&p| p == 9));
    }

    #[test]
    fn size_mismatch_names_both_files_and_sizes() {
        let dir = TempDir::new().unwrap();
        save(dir.path(), "a", "first.png", &gradient(4, 3, 0));
        save(dir.path(), "b", "odd.png", &gradient(5, 3, 0));
        let text = error_text(read_image_folder(dir.path(), 3, None));
        assert!(text.contains("odd.png"), "{text}");
        assert!(text.contains("first.png"), "{text}");
        assert!(text.contains("image size 3x5 (height x width)"), "{text}");
        assert!(text.contains("expected 3x4"), "{text}");
    }

    #[test]
    fn no_class_folders_is_reported() {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("loose.png"), b"").unwrap();
        fs::create_dir(dir.path().join(".hidden")).unwrap();
        let text = error_text(read_image_folder(dir.path(), 3, None));
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("no class sub-folders"), "{text}");
    }

    #[test]
    fn missing_root_is_reported() {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("nowhere");
        let text = error_text(read_image_folder(&root, 3, None));
        assert!(text.contains("nowhere"), "{text}");
        assert!(text.contains("missing directory"), "{text}");
    }

    #[test]
    fn class_folder_without_images_is_reported() {
        let dir = TempDir::new().unwrap();
        save(dir.path(), "full", "a.png", &gradient(2, 2, 0));
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        fs::write(empty.join("labels.csv"), "x").unwrap();
        let text = error_text(read_image_folder(dir.path(), 3, None));
        assert!(text.contains("empty"), "{text}");
        assert!(text.contains("class folder has no images"), "{text}");
    }

    #[test]
    fn undecodable_image_is_reported() {
        let dir = TempDir::new().unwrap();
        let folder = dir.path().join("broken");
        fs::create_dir(&folder).unwrap();
        fs::write(folder.join("bad.png"), b"this is not a png").unwrap();
        let text = error_text(read_image_folder(dir.path(), 1, None));
        assert!(text.contains("bad.png"), "{text}");
        assert!(text.contains("cannot decode image"), "{text}");
    }

    #[test]
    fn truncated_png_is_reported() {
        let dir = TempDir::new().unwrap();
        let path = save(dir.path(), "c", "cut.png", &gradient(16, 16, 3));
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let text = error_text(read_image_folder(dir.path(), 3, None));
        assert!(text.contains("cut.png"), "{text}");
        assert!(text.contains("cannot decode image"), "{text}");
    }

    #[test]
    fn bad_arguments_are_reported() {
        let dir = TempDir::new().unwrap();
        save(dir.path(), "c", "a.png", &gradient(2, 2, 0));
        let text = error_text(read_image_folder(dir.path(), 2, None));
        assert!(text.contains("channels must be 1 or 3, got 2"), "{text}");
        let text = error_text(read_image_folder(dir.path(), 3, Some((0, 4))));
        assert!(text.contains("cannot resize to 0x4"), "{text}");
    }
}
