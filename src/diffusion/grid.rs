//! Writing generated images: a PNG grid to look at, and the raw values as safetensors.

use super::generate::GeneratedImages;
use crate::atomic::write_atomic;
use crate::usage_error;
use anyhow::Context;
use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;

/// Pixels between grid cells (black, as torchvision's `make_grid`).
const PADDING: usize = 2;
/// The most a pixel may be enlarged in a grid.
pub const MAX_SCALE: usize = 64;
/// The longest side of a grid PNG.
const MAX_SIDE: usize = 32_768;

/// The images as a grid PNG, `columns` per row (a square-ish grid when None), each pixel
/// enlarged `scale` times (nearest neighbour). Grey images stay grey; three channels are RGB.
pub fn grid_png(
    images: &GeneratedImages,
    columns: Option<usize>,
    scale: usize,
) -> anyhow::Result<Vec<u8>> {
    let [n, c, h, w] = images.shape;
    if c != 1 && c != 3 {
        return Err(usage_error!(
            "a grid PNG needs 1 or 3 channels, the images have {c}"
        ));
    }
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(usage_error!(
            "scale {scale}: expected 1..={MAX_SCALE} (times each pixel is enlarged)"
        ));
    }
    if columns == Some(0) {
        return Err(usage_error!("columns 0: a grid needs at least one column"));
    }
    let columns = columns
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
        .min(n.max(1));
    let rows = n.div_ceil(columns);
    let (cell_h, cell_w) = (h * scale + PADDING, w * scale + PADDING);
    let (width, height) = (columns * cell_w + PADDING, rows * cell_h + PADDING);
    if width.max(height) > MAX_SIDE {
        return Err(usage_error!(
            "a grid of {columns} columns and {rows} rows of {h}x{w} images at scale {scale} \
             would be {width}x{height} pixels; at most {MAX_SIDE} a side (fewer images, \
             other columns or a smaller scale)"
        ));
    }
    let mut canvas = vec![0u8; width * height * c];
    let plane = h * w;
    for index in 0..n {
        let (row, col) = (index / columns, index % columns);
        let image = &images.pixels[index * c * plane..(index + 1) * c * plane];
        for y in 0..h * scale {
            for x in 0..w * scale {
                let (py, px) = (PADDING + row * cell_h + y, PADDING + col * cell_w + x);
                for channel in 0..c {
                    let value = image[channel * plane + (y / scale) * w + x / scale];
                    canvas[(py * width + px) * c + channel] =
                        (value.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    let color = if c == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&canvas, width as u32, height as u32, color)
        .context("encoding the PNG grid")?;
    Ok(png)
}

use image::ImageEncoder;

/// Writes the grid PNG atomically.
pub fn write_grid(
    images: &GeneratedImages,
    columns: Option<usize>,
    scale: usize,
    path: &Path,
) -> anyhow::Result<()> {
    write_atomic(path, &grid_png(images, columns, scale)?)
}

/// Writes `images` (f32 `[n, C, H, W]` in [0, 1]) and, for class-conditional samples,
/// `classes` (i64 `[n]`) as safetensors, atomically.
pub fn write_raw(images: &GeneratedImages, path: &Path) -> anyhow::Result<()> {
    let pixels: Vec<u8> = images.pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    let classes: Option<Vec<u8>> = images.classes.as_ref().map(|classes| {
        classes
            .iter()
            .flat_map(|&k| (k as i64).to_le_bytes())
            .collect()
    });
    let mut views = vec![(
        "images".to_string(),
        TensorView::new(Dtype::F32, images.shape.to_vec(), &pixels)?,
    )];
    if let Some(bytes) = &classes {
        views.push((
            "classes".to_string(),
            TensorView::new(Dtype::I64, vec![images.shape[0]], bytes)?,
        ));
    }
    let mut metadata = std::collections::HashMap::new();
    metadata.insert(
        "sampler".to_string(),
        format!("{:?} {} steps", images.sampler, images.steps).to_lowercase(),
    );
    let bytes = safetensors::serialize(views, Some(metadata)).context("encoding safetensors")?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diffusion::generate::Sampler;

    fn images(n: usize, c: usize) -> GeneratedImages {
        GeneratedImages {
            pixels: (0..n * c * 4).map(|i| (i % 4) as f32 / 3.0).collect(),
            shape: [n, c, 2, 2],
            classes: None,
            sampler: Sampler::Heun,
            steps: 3,
        }
    }

    #[test]
    fn the_grid_has_the_right_size_and_pixels() {
        let png = grid_png(&images(5, 1), Some(3), 2).unwrap();
        let decoded = image::load_from_memory(&png).unwrap().to_luma8();
        // 3 columns x 2 rows of 4x4 cells with 2-pixel padding.
        assert_eq!(decoded.dimensions(), (3 * 6 + 2, 2 * 6 + 2));
        // Image 0's top-left pixel (value 0) and bottom-right pixel (value 1), enlarged.
        assert_eq!(decoded.get_pixel(2, 2)[0], 0);
        assert_eq!(decoded.get_pixel(5, 5)[0], 255);
        // Padding stays black; the missing sixth cell too.
        assert_eq!(decoded.get_pixel(0, 0)[0], 0);
        let rgb = grid_png(&images(4, 3), None, 1).unwrap();
        assert_eq!(
            image::load_from_memory(&rgb)
                .unwrap()
                .to_rgb8()
                .dimensions(),
            (2 * 4 + 2, 2 * 4 + 2)
        );
        assert!(grid_png(&images(1, 2), None, 1).is_err());
    }

    #[test]
    fn raw_samples_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.safetensors");
        let mut generated = images(2, 1);
        generated.classes = Some(vec![3, 7]);
        write_raw(&generated, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let pixels = file.tensor("images").unwrap();
        assert_eq!(pixels.shape(), &[2, 1, 2, 2]);
        let values: Vec<f32> = pixels
            .data()
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(values, generated.pixels);
        assert_eq!(file.tensor("classes").unwrap().shape(), &[2]);
    }
}
