//! The transport problems of the Sinkhorn-Newton-Sparse paper's experiments: a random
//! assignment problem (costs uniform in [0, 1], uniform histograms) and two Fashion-MNIST
//! images as histograms on the pixel grid with squared-Euclidean (W2) or L1 (W1) ground costs.

use super::problem::TransportProblem;
use crate::rng::{Rng, Stream};
use crate::usage_error;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// n x n costs uniform in [0, 1], uniform histograms (the paper's random assignment).
    Random,
    /// Two Fashion-MNIST test images, squared distance between pixel positions (W2).
    ImagesL2,
    /// Two Fashion-MNIST test images, L1 distance between pixel positions (W1; many ties).
    ImagesL1,
}

/// Generates a problem: `size` is n for the random kind; for the image kinds `seed` picks the
/// pair of test images (their 28 x 28 grids, restricted to the nonzero pixels, so n, m < 784).
pub fn generate(
    kind: TransportKind,
    size: usize,
    eta: f64,
    seed: u64,
) -> anyhow::Result<TransportProblem> {
    match kind {
        TransportKind::Random => {
            if size < 2 {
                return Err(usage_error!(
                    "transport: --size {size}: expected at least 2"
                ));
            }
            let mut rng = Rng::new(seed, Stream::Solve, 1, 0);
            let cost = (0..size * size).map(|_| rng.uniform()).collect();
            let uniform = vec![1.0 / size as f64; size];
            TransportProblem::new(cost, uniform.clone(), uniform, eta)
        }
        TransportKind::ImagesL2 | TransportKind::ImagesL1 => {
            let data = crate::datasets::embedded::load("fashion-mnist-subset")?;
            let test = &data.test;
            let mut rng = Rng::new(seed, Stream::Solve, 2, 0);
            let first = rng.below(test.len() as u64) as usize;
            let second = (first + 1 + rng.below(test.len() as u64 - 1) as usize) % test.len();
            let pixels = |k: usize| {
                let side = test.height * test.width;
                &test.pixels[k * side..(k + 1) * side]
            };
            image_problem(pixels(first), pixels(second), test.width, kind, eta)
        }
    }
}

/// Two images as histograms over their nonzero pixels (a zero bin would make a potential
/// -infinity; dropping it solves the same problem), costs between pixel positions scaled to
/// [0, 1] per axis.
pub fn image_problem(
    source: &[u8],
    target: &[u8],
    width: usize,
    kind: TransportKind,
    eta: f64,
) -> anyhow::Result<TransportProblem> {
    let support = |image: &[u8]| -> (Vec<(f64, f64)>, Vec<f64>) {
        let total: f64 = image.iter().map(|&v| v as f64).sum();
        let scale = (width.max(2) - 1) as f64;
        image
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .map(|(k, &v)| {
                let position = ((k / width) as f64 / scale, (k % width) as f64 / scale);
                (position, v as f64 / total)
            })
            .unzip()
    };
    let (from, a) = support(source);
    let (to, b) = support(target);
    if a.is_empty() || b.is_empty() {
        return Err(usage_error!("transport: an image has no nonzero pixel"));
    }
    let cost = from
        .iter()
        .flat_map(|p| {
            to.iter().map(move |q| {
                let (dy, dx) = (p.0 - q.0, p.1 - q.1);
                match kind {
                    TransportKind::ImagesL1 => dy.abs() + dx.abs(),
                    _ => dy * dy + dx * dx,
                }
            })
        })
        .collect();
    TransportProblem::new(cost, a, b, eta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 x 3 image pair: only nonzero pixels are bins, masses normalised, costs between
    /// positions scaled by 1 / (width - 1), computed by hand.
    #[test]
    fn image_histograms_and_costs() {
        let a = [0, 0, 2, 0, 0, 0, 6, 0, 0];
        let b = [0, 1, 0, 0, 0, 0, 0, 0, 3];
        let l2 = image_problem(&a, &b, 3, TransportKind::ImagesL2, 10.0).unwrap();
        assert_eq!(l2.source, vec![0.25, 0.75]);
        assert_eq!(l2.target, vec![0.25, 0.75]);
        // Pixels (0,2), (2,0) to (0,1), (2,2), in units of half the side.
        assert_eq!(l2.cost, vec![0.25, 1.0, 1.25, 1.0]);
        let l1 = image_problem(&a, &b, 3, TransportKind::ImagesL1, 10.0).unwrap();
        assert_eq!(l1.cost, vec![0.5, 1.0, 1.5, 1.0]);
        assert!(image_problem(&[0; 9], &b, 3, TransportKind::ImagesL1, 1.0).is_err());
    }

    /// The random problem is seeded and square with uniform histograms.
    #[test]
    fn random_problem_is_seeded() {
        let p = generate(TransportKind::Random, 4, 5.0, 7).unwrap();
        assert_eq!(
            p.cost,
            generate(TransportKind::Random, 4, 5.0, 7).unwrap().cost
        );
        assert_ne!(
            p.cost,
            generate(TransportKind::Random, 4, 5.0, 8).unwrap().cost
        );
        assert_eq!(p.source, vec![0.25; 4]);
        assert!(p.cost.iter().all(|c| (0.0..1.0).contains(c)));
    }
}
