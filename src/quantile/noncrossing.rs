//! Non-crossing quantiles: a prediction row must not decrease with the level. Two repairs
//! of the paper: sorting each row (which never increases the pinball loss summed over the
//! levels: Chernozhukov, Fernandez-Val and Galichon 2010, and the paper's proposition) and
//! isotonic regression (the least-squares non-decreasing fit, pool-adjacent-violators).

use super::scores::QuantilePredictions;

/// Which repair to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Repair {
    None,
    Sort,
    Isotonic,
}

impl Repair {
    pub fn apply(self, predictions: &mut QuantilePredictions) {
        for i in 0..predictions.rows() {
            match self {
                Repair::None => {}
                Repair::Sort => predictions.row_mut(i).sort_by(f64::total_cmp),
                Repair::Isotonic => isotonic_in_place(predictions.row_mut(i)),
            }
        }
    }
}

/// The non-decreasing sequence closest to `values` in squared error (pool adjacent
/// violators: merge neighbouring blocks while their means decrease).
pub fn isotonic_in_place(values: &mut [f64]) {
    // Blocks as (sum, count); each block's fit is its mean.
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(values.len());
    for &v in values.iter() {
        blocks.push((v, 1));
        while blocks.len() > 1 {
            let (s2, c2) = blocks[blocks.len() - 1];
            let (s1, c1) = blocks[blocks.len() - 2];
            if s1 / c1 as f64 <= s2 / c2 as f64 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, c1 + c2);
        }
    }
    let mut i = 0;
    for (sum, count) in blocks {
        let mean = sum / count as f64;
        values[i..i + count].fill(mean);
        i += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantile::scores::{mean_pinball, mean_weighted_interval_score};
    use crate::rng::{Rng, Stream};

    #[test]
    fn isotonic_by_hand_and_against_brute_force() {
        let mut v = vec![1.0, 3.0, 2.0, 4.0, 0.0];
        isotonic_in_place(&mut v);
        // (3, 2) pool to 2.5; then (4, 0) pool to 2, below 2.5: pool (3, 2, 4, 0) to 2.25.
        assert_eq!(v, vec![1.0, 2.25, 2.25, 2.25, 2.25]);
        // Brute force on 3 values: the best non-decreasing fit among blockings.
        let mut rng = Rng::new(0, Stream::Probe, 0, 0);
        for _ in 0..200 {
            let x: Vec<f64> = (0..3).map(|_| 2.0 * rng.uniform() - 1.0).collect();
            let mut fit = x.clone();
            isotonic_in_place(&mut fit);
            assert!(fit.windows(2).all(|w| w[0] <= w[1] + 1e-15));
            let sse = |f: &[f64]| f.iter().zip(&x).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            let m = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
            let candidates = [
                vec![x[0], x[1], x[2]],
                vec![m(&x[..2]), m(&x[..2]), x[2]],
                vec![x[0], m(&x[1..]), m(&x[1..])],
                vec![m(&x); 3],
            ];
            let best = candidates
                .iter()
                .filter(|c| c.windows(2).all(|w| w[0] <= w[1]))
                .map(|c| sse(c))
                .fold(f64::INFINITY, f64::min);
            // Tolerance: rounding of sums of three numbers below 1.
            assert!((sse(&fit) - best).abs() < 1e-12);
        }
    }

    /// The paper's result: sorting a row (or isotonic regression) never increases the pinball
    /// loss summed over the levels, so never the WIS, on random crossing predictions.
    #[test]
    fn sorting_never_worsens_the_pinball_loss() {
        let mut rng = Rng::new(1, Stream::Probe, 0, 0);
        let levels: Vec<f64> = (1..20).map(|k| k as f64 / 20.0).collect();
        let mut improved = 0;
        for _ in 0..2000 {
            let values: Vec<f64> = (0..levels.len())
                .map(|_| 4.0 * rng.uniform() - 2.0)
                .collect();
            let raw = QuantilePredictions {
                levels: levels.clone(),
                values,
            };
            let y = [6.0 * rng.uniform() - 3.0];
            let mut sorted = raw.clone();
            Repair::Sort.apply(&mut sorted);
            let (before, after) = (mean_pinball(&raw, &y), mean_pinball(&sorted, &y));
            // Tolerance: summation order over 19 terms of order 1.
            assert!(after <= before + 1e-12, "{after} > {before}");
            // The levels are symmetric about 0.5, so the WIS is twice the mean pinball loss.
            let (wis_before, wis_after) = (
                mean_weighted_interval_score(&raw, &y),
                mean_weighted_interval_score(&sorted, &y),
            );
            assert!(
                wis_after <= wis_before + 1e-12,
                "{wis_after} > {wis_before}"
            );
            let mut isotonic = raw.clone();
            Repair::Isotonic.apply(&mut isotonic);
            assert!(mean_pinball(&isotonic, &y) <= before + 1e-12);
            improved += (after < before - 1e-9) as usize;
        }
        assert!(
            improved > 1000,
            "crossing rows should mostly improve: {improved}"
        );
    }
}
