//! Per-sample augmentation and normalisation from u8 CHW to f32, as torchvision does it:
//! zero-pad then random crop, random horizontal flip, then `(x/255 - mean) / std`.

use crate::rng::Rng;

#[derive(Clone, Debug)]
pub struct Augment {
    pub crop_padding: usize,
    pub hflip: bool,
}

/// Writes the normalised (and, with `augment`, randomly transformed) image `src` (CHW bytes of
/// `channels x height x width`) into `dst`.
#[allow(clippy::too_many_arguments)]
pub fn write_image(
    src: &[u8],
    dst: &mut [f32],
    channels: usize,
    height: usize,
    width: usize,
    scale: &[f32],
    shift: &[f32],
    augment: Option<(&Augment, &mut Rng)>,
) {
    let (mut dy, mut dx, mut flip) = (0isize, 0isize, false);
    if let Some((augment, rng)) = augment {
        let pad = augment.crop_padding as u64;
        if pad > 0 {
            // Offset of the crop window in the padded image, minus the padding.
            dy = rng.below(2 * pad + 1) as isize - pad as isize;
            dx = rng.below(2 * pad + 1) as isize - pad as isize;
        }
        flip = augment.hflip && rng.below(2) == 1;
    }
    for c in 0..channels {
        let plane = &src[c * height * width..(c + 1) * height * width];
        let out = &mut dst[c * height * width..(c + 1) * height * width];
        // Padding pixels are 0 before normalisation, as with torchvision's fill=0.
        let zero = shift[c];
        for y in 0..height {
            let sy = y as isize + dy;
            let row_out = &mut out[y * width..(y + 1) * width];
            if sy < 0 || sy >= height as isize {
                row_out.fill(zero);
                continue;
            }
            let row_in = &plane[sy as usize * width..(sy as usize + 1) * width];
            for (x, value) in row_out.iter_mut().enumerate() {
                let xx = if flip { width - 1 - x } else { x } as isize;
                let sx = xx + dx;
                *value = if sx < 0 || sx >= width as isize {
                    zero
                } else {
                    row_in[sx as usize] as f32 * scale[c] + shift[c]
                };
            }
        }
    }
}

/// Per-channel `scale` and `shift` so that `byte * scale + shift == (byte/255 - mean) / std`.
pub fn normalisation(mean: &[f32], std: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let scale = std.iter().map(|s| 1.0 / (255.0 * s)).collect();
    let shift = mean.iter().zip(std).map(|(m, s)| -m / s).collect();
    (scale, shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn identity_without_augment_normalises() {
        let src = [0u8, 255, 51, 102];
        let mut dst = [0f32; 4];
        let (scale, shift) = normalisation(&[0.5], &[0.25]);
        write_image(&src, &mut dst, 1, 2, 2, &scale, &shift, None);
        let expected = [-2.0, 2.0, (0.2 - 0.5) / 0.25, (0.4 - 0.5) / 0.25];
        for (a, b) in dst.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{dst:?}");
        }
    }

    #[test]
    fn flip_and_crop_move_pixels() {
        // 1x1x3 row [1, 2, 3]; scale 1, shift 0 so values are the bytes themselves.
        let src = [1u8, 2, 3];
        let (scale, shift) = (vec![1.0], vec![0.0]);
        let flip_only = Augment {
            crop_padding: 0,
            hflip: true,
        };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..64 {
            let mut rng = Rng::new(0, Stream::Augment, 0, i);
            let mut dst = [0f32; 3];
            write_image(
                &src,
                &mut dst,
                1,
                1,
                3,
                &scale,
                &shift,
                Some((&flip_only, &mut rng)),
            );
            seen.insert(dst.map(|v| v as u8));
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            vec![[1, 2, 3], [3, 2, 1]]
        );

        let crop_only = Augment {
            crop_padding: 1,
            hflip: false,
        };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..256 {
            let mut rng = Rng::new(0, Stream::Augment, 0, i);
            let mut dst = [0f32; 3];
            write_image(
                &src,
                &mut dst,
                1,
                1,
                3,
                &scale,
                &shift,
                Some((&crop_only, &mut rng)),
            );
            seen.insert(dst.map(|v| v as u8));
        }
        // Vertical shifts of a 1-row image give a zero row; horizontal ones shift in a zero.
        let expected = vec![[0, 0, 0], [0, 1, 2], [1, 2, 3], [2, 3, 0]];
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), expected);
    }
}
