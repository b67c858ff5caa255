//! Counter-based randomness: every draw is a pure function of (seed, stream, counter, index).
//!
//! Nothing here keeps hidden state between steps, so a resumed run draws exactly what an
//! uninterrupted one would have drawn (shuffles, crops, flips, attack starts, noise levels).

/// Named streams keep independent uses of the same seed from colliding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Init = 1,
    Shuffle = 2,
    Augment = 3,
    Step = 4,
    Synthetic = 5,
    Recipe = 6,
    Probe = 7,
    /// Noise of diffusion test losses and of generated images.
    Diffusion = 8,
    /// Per-image random starts of training attacks.
    AttackStart = 9,
    /// Draws of weighted (importance) sampling of training examples.
    Sample = 10,
    /// Federated runs: the partition of the data, who participates, each client's seed.
    Federated = 11,
    /// Federated participation: each client's probability and its draws per round.
    Participation = 12,
    /// Simulated compute times of federated clients' tasks.
    Clock = 13,
    /// Random choices of federated upload compressors (random-k indices, QSGD rounding).
    Compress = 14,
    /// Random starts of aggregation rules (the Flag Aggregator's first subspace).
    Aggregate = 15,
    /// Byzantine runs: each worker's seed and the random attack's values.
    Byzantine = 16,
    /// Gossip runs: the random graph, each node's seed.
    Gossip = 17,
    /// The held-out split of `dataset.holdout`.
    Holdout = 18,
    /// MixUp's mixing weight and partners per step.
    Mixup = 19,
    /// The colours of generated multicolour images.
    Multicolor = 20,
    /// Architectures a supernet draws.
    Nas = 21,
    /// Quantile regression: data splits, folds, minibatches, network initialisation.
    Quantile = 22,
    /// Generated problems of `stoke solve`: transport histograms, DAGs, regression data.
    Solve = 23,
}

/// SplitMix64's finaliser: a bijective avalanche mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit key derived from the seed, a stream, a counter (usually the step or epoch) and an
/// index (usually the sample).
pub fn key(seed: u64, stream: Stream, counter: u64, index: u64) -> u64 {
    mix(mix(mix(seed ^ ((stream as u64) << 56)) ^ counter)
        ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// A small generator for a run of draws under one key (e.g. all augmentations of one sample).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64, stream: Stream, counter: u64, index: u64) -> Self {
        Self {
            state: key(seed, stream, counter, index),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal via Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// ln of a Gamma(shape, 1) draw by Marsaglia and Tsang's method; shape < 1 through the
    /// boost ln Gamma(shape + 1) + ln(U) / shape, in logs because U^(1 / shape) underflows
    /// for small shapes.
    pub fn ln_gamma_draw(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = (1.0 - self.uniform()).ln() / shape;
            return self.ln_gamma_draw(shape + 1.0) + boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return (d * v).ln();
            }
        }
    }

    /// Beta(a, b) as Gamma(a) / (Gamma(a) + Gamma(b)) = 1 / (1 + exp(ln Gb - ln Ga)).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.ln_gamma_draw(a);
        let y = self.ln_gamma_draw(b);
        1.0 / (1.0 + (y - x).exp())
    }

    /// Fisher-Yates permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean and variance of 40,000 draws against the closed forms a / (a + b) and
    /// ab / ((a + b)^2 (a + b + 1)), within 4 standard errors.
    #[test]
    fn beta_draws_have_the_beta_moments() {
        for (a, b) in [(0.4, 0.4), (1.0, 1.0), (2.0, 5.0), (0.002, 0.002)] {
            let mut rng = Rng::new(3, Stream::Mixup, 0, 0);
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| rng.beta(a, b)).collect();
            assert!(draws.iter().all(|x| (0.0..=1.0).contains(x)));
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let (m, v) = (a / (a + b), a * b / ((a + b).powi(2) * (a + b + 1.0)));
            let se_mean = (v / n as f64).sqrt();
            assert!(
                (mean - m).abs() < 4.0 * se_mean,
                "Beta({a}, {b}) mean {mean} vs {m}"
            );
            // The variance's standard error is below sqrt(2 / n) v for these bounded draws'
            // kurtosis (at most 3 here).
            assert!(
                (var - v).abs() < 4.0 * (2.0 / n as f64).sqrt() * v,
                "var {var} vs {v}"
            );
        }
    }

    #[test]
    fn same_key_same_draws_and_streams_differ() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::new(7, Stream::Shuffle, 3, 1).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(key(7, Stream::Shuffle, 3, 1), key(7, Stream::Augment, 3, 1));
        assert_ne!(key(7, Stream::Shuffle, 3, 1), key(7, Stream::Shuffle, 4, 1));
        assert_ne!(key(7, Stream::Shuffle, 3, 1), key(7, Stream::Shuffle, 3, 2));
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = Rng::new(1, Stream::Shuffle, 0, 0).permutation(1000);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn below_and_uniform_are_roughly_uniform() {
        // 100k draws over 10 bins: each bin's count is within 5 sigma (~150) of 10k.
        let mut rng = Rng::new(3, Stream::Augment, 0, 0);
        let mut bins = [0usize; 10];
        for _ in 0..100_000 {
            bins[rng.below(10) as usize] += 1;
        }
        assert!(
            bins.iter().all(|&b| (b as i64 - 10_000).abs() < 500),
            "{bins:?}"
        );
        let mean: f64 = (0..100_000).map(|_| rng.uniform()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
    }
}
