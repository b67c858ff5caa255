//! "Augmented losses" (the Flag Aggregator paper's second failure mode): workers whose
//! images are warped, so their losses, and gradients, are those of another distribution. The
//! warp is the Flag repository's (`scripts_for_experiments/augment_image.py`): each output
//! pixel, as coordinates about the image centre, follows the Lotka-Volterra flow
//! dx/dt = alpha x - beta x y, dy/dt = delta x y - gamma y (alpha 2/3, beta 4/3, gamma =
//! delta = 1) for a time t (the repository's 0.001 ... 0.010) and takes the input pixel where
//! it lands (coordinates truncated toward zero as Python's `int`; outside the image: black).
//! The repository integrates with LSODA; fixed-step RK4 agrees to far below a pixel here.

use crate::datasets::ImageSet;

const ALPHA: f64 = 2.0 / 3.0;
const BETA: f64 = 4.0 / 3.0;
const GAMMA: f64 = 1.0;
const DELTA: f64 = 1.0;
/// RK4 steps per flow (the largest speed on a 32 x 32 image, ~340 px per unit time, over
/// t = 0.01 is ~3 px: 64 steps leave an error many orders below a pixel).
const STEPS: usize = 64;

/// The Lotka-Volterra vector field of the repository.
pub fn lotka_volterra((x, y): (f64, f64)) -> (f64, f64) {
    (ALPHA * x - BETA * x * y, DELTA * x * y - GAMMA * y)
}

/// Where `start` is after `time` along `field` (classical Runge-Kutta, [`STEPS`] steps).
pub fn flow(field: impl Fn((f64, f64)) -> (f64, f64), start: (f64, f64), time: f64) -> (f64, f64) {
    let h = time / STEPS as f64;
    let add = |(x, y): (f64, f64), (dx, dy): (f64, f64), s: f64| (x + s * dx, y + s * dy);
    (0..STEPS).fold(start, |p, _| {
        let k1 = field(p);
        let k2 = field(add(p, k1, h / 2.0));
        let k3 = field(add(p, k2, h / 2.0));
        let k4 = field(add(p, k3, h));
        (
            p.0 + h / 6.0 * (k1.0 + 2.0 * k2.0 + 2.0 * k3.0 + k4.0),
            p.1 + h / 6.0 * (k1.1 + 2.0 * k2.1 + 2.0 * k3.1 + k4.1),
        )
    })
}

/// Every image of `set` warped by the Lotka-Volterra flow for `time`.
pub fn warp_images(set: &mut ImageSet, time: f64) {
    let (height, width) = (set.height, set.width);
    // Where each output pixel reads from: the same for every image and channel.
    let (x_mid, y_mid) = (width as f64 / 2.0, height as f64 / 2.0);
    let sources: Vec<Option<usize>> = (0..height)
        .flat_map(|row| (0..width).map(move |col| (row, col)))
        .map(|(row, col)| {
            let (x, y) = flow(
                lotka_volterra,
                (x_mid - row as f64, y_mid - col as f64),
                time,
            );
            // Python's int(): toward zero, so -0.5 reads row 0 as in the repository.
            let (r, c) = ((x_mid - x).trunc(), (y_mid - y).trunc());
            let inside = r >= 0.0 && c >= 0.0 && (r as usize) < height && (c as usize) < width;
            inside.then(|| r as usize * width + c as usize)
        })
        .collect();
    let plane = height * width;
    for image in set.pixels.chunks_mut(set.channels * plane) {
        let original = image.to_vec();
        for (channel, out) in image.chunks_mut(plane).enumerate() {
            let input = &original[channel * plane..(channel + 1) * plane];
            for (pixel, source) in out.iter_mut().zip(&sources) {
                *pixel = source.map_or(0, |s| input[s]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integrator_follows_closed_form_flows() {
        // Rotation (the repository's other field): the flow for t is a rotation by t.
        let rotate = |(x, y): (f64, f64)| (-y, x);
        let (x, y) = flow(rotate, (3.0, -2.0), 1.3);
        let (c, s) = (1.3f64.cos(), 1.3f64.sin());
        // RK4's truncation error at h = 1.3 / 64: measured 5.1e-9.
        assert!((x - (3.0 * c + 2.0 * s)).abs() < 1e-8 && (y - (3.0 * s - 2.0 * c)).abs() < 1e-8);
        // Lotka-Volterra keeps V = delta x - gamma ln x + beta y - alpha ln y on x, y > 0.
        let v = |(x, y): (f64, f64)| DELTA * x - GAMMA * x.ln() + BETA * y - ALPHA * y.ln();
        let start = (2.0, 0.5);
        let end = flow(lotka_volterra, start, 0.5);
        // Measured 1.8e-11.
        assert!(
            (v(start) - v(end)).abs() < 1e-10,
            "{} vs {}",
            v(start),
            v(end)
        );
        assert!((end.0 - start.0).abs() > 0.1, "the point moved");
        // A 28 x 28 image's corner at t = 0.01 moves ~2.5 px, and lands where a 2000-step
        // integration puts it to 1e-12 px (measured): far below the pixel the warp rounds to.
        let corner = flow(lotka_volterra, (14.0, 14.0), 0.01);
        assert!((corner.0 - 11.556293241115).abs() < 1e-9, "{corner:?}");
        assert!((corner.1 - 15.747729111335).abs() < 1e-9, "{corner:?}");
    }

    #[test]
    fn time_zero_is_the_identity_and_a_warp_moves_pixels_but_keeps_the_centre() {
        let pixels: Vec<u8> = (0..2 * 28 * 28).map(|i| (i * 7 % 251) as u8).collect();
        let set = ImageSet {
            pixels,
            labels: vec![0],
            channels: 2,
            height: 28,
            width: 28,
            num_classes: 10,
        };
        let mut same = set.clone();
        warp_images(&mut same, 0.0);
        assert_eq!(same.pixels, set.pixels);
        let mut warped = set.clone();
        warp_images(&mut warped, 0.01);
        let changed = set
            .pixels
            .iter()
            .zip(&warped.pixels)
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > set.pixels.len() / 4, "{changed} pixels changed");
        // The centre (14, 14) is the flow's fixed point (0, 0): it reads itself.
        for channel in 0..2 {
            let at = channel * 784 + 14 * 28 + 14;
            assert_eq!(warped.pixels[at], set.pixels[at]);
        }
    }
}
