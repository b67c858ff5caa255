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
