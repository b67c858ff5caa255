//! Standard-normal images drawn per image index from stoke's own generator, so that image `i`
//! of a test loss or of a sample run gets the same noise whatever the batch size, and runs in
//! parallel cannot interleave draws (as they could with the device's global generator).

use crate::rng::{Rng, Stream};
use burn::prelude::*;

/// `[count, C, H, W]` standard normals for images `first..first + count`; `draw` tells apart
/// the several draws one image needs (e.g. one per sampler step).
pub fn per_image_normals(
    seed: u64,
    first: usize,
    count: usize,
    draw: u64,
    [c, h, w]: [usize; 3],
    device: &Device,
) -> Tensor<4> {
    let per_image = c * h * w;
    let mut values = Vec::with_capacity(count * per_image);
    for image in first..first + count {
        let mut rng = Rng::new(seed, Stream::Diffusion, image as u64, draw);
        values.extend((0..per_image).map(|_| rng.normal() as f32));
    }
    Tensor::<1>::from_floats(values.as_slice(), device).reshape([count, c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_gets_the_same_noise_in_any_batch() {
        let device = Device::flex();
        let whole = per_image_normals(3, 0, 4, 0, [1, 2, 2], &device);
        let part = per_image_normals(3, 2, 2, 0, [1, 2, 2], &device);
        let gap = (whole.narrow(0, 2, 2) - part)
            .abs()
            .max()
            .into_scalar::<f64>();
        assert_eq!(gap, 0.0);
        let other_draw = per_image_normals(3, 2, 2, 1, [1, 2, 2], &device);
        let moved = (per_image_normals(3, 2, 2, 0, [1, 2, 2], &device) - other_draw)
            .abs()
            .max()
            .into_scalar::<f64>();
        assert!(moved > 0.0);
    }
}
