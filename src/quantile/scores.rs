//! Scores of quantile predictions: the pinball (quantile) loss, the weighted interval score
//! (Bracher et al. 2021) and interval coverage. Predictions are rows of values at ascending
//! quantile levels.

/// Quantile predictions: `values[i * levels.len() + k]` is row `i`'s prediction at
/// `levels[k]`; levels ascending in (0, 1).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantilePredictions {
    pub levels: Vec<f64>,
    pub values: Vec<f64>,
}

impl QuantilePredictions {
    pub fn rows(&self) -> usize {
        self.values.len() / self.levels.len().max(1)
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let l = self.levels.len();
        &self.values[i * l..(i + 1) * l]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let l = self.levels.len();
        &mut self.values[i * l..(i + 1) * l]
    }
}

/// `rho_tau(y - q) = (y - q) * (tau - 1{y < q})`.
pub fn pinball(level: f64, target: f64, prediction: f64) -> f64 {
    let residual = target - prediction;
    if residual < 0.0 {
        residual * (level - 1.0)
    } else {
        residual * level
    }
}

/// The pinball loss averaged over rows and levels.
pub fn mean_pinball(predictions: &QuantilePredictions, targets: &[f64]) -> f64 {
    let mut total = 0.0;
    for (i, &y) in targets.iter().enumerate() {
        for (&level, &q) in predictions.levels.iter().zip(predictions.row(i)) {
            total += pinball(level, y, q);
        }
    }
    total / (targets.len() * predictions.levels.len()) as f64
}

/// The weighted interval score of one row for levels symmetric about 0.5 (the median and K
/// central intervals with alpha_k = 2 tau_k): (|y - m| / 2 + sum_k alpha_k / 2 * IS_alpha_k)
/// / (K + 1/2), with IS_alpha = (u - l) + 2 / alpha * (l - y)+ + 2 / alpha * (y - u)+.
/// Levels without a partner at 1 - tau are left out.
pub fn weighted_interval_score(levels: &[f64], target: f64, row: &[f64]) -> f64 {
    let mut total = 0.0;
    let mut intervals = 0.0;
    for (k, &tau) in levels.iter().enumerate() {
        if (tau - 0.5).abs() < 1e-9 {
            total += 0.5 * (target - row[k]).abs();
            intervals += 0.5;
        } else if tau < 0.5 {
            let Some(upper) = levels.iter().position(|&u| (u - (1.0 - tau)).abs() < 1e-9) else {
                continue;
            };
            let alpha = 2.0 * tau;
            let (l, u) = (row[k], row[upper]);
            let score =
                (u - l) + 2.0 / alpha * (l - target).max(0.0) + 2.0 / alpha * (target - u).max(0.0);
            total += alpha / 2.0 * score;
            intervals += 1.0;
        }
    }
    // No median and no symmetric pair: nothing to score (NaN, not a perfect 0).
    if intervals == 0.0 {
        f64::NAN
    } else {
        total / intervals
    }
}

/// The weighted interval score averaged over rows.
pub fn mean_weighted_interval_score(predictions: &QuantilePredictions, targets: &[f64]) -> f64 {
    let total: f64 = targets
        .iter()
        .enumerate()
        .map(|(i, &y)| weighted_interval_score(&predictions.levels, y, predictions.row(i)))
        .sum();
    total / targets.len() as f64
}

/// The fraction of targets inside `[q_tau, q_(1-tau)]` for the central interval of
/// miscoverage `alpha` (levels alpha / 2 and 1 - alpha / 2 must be present).
pub fn coverage(predictions: &QuantilePredictions, targets: &[f64], alpha: f64) -> Option<f64> {
    let find = |level: f64| {
        predictions
            .levels
            .iter()
            .position(|&t| (t - level).abs() < 1e-9)
    };
    let (lo, hi) = (find(alpha / 2.0)?, find(1.0 - alpha / 2.0)?);
    let inside = targets
        .iter()
        .enumerate()
        .filter(|&(i, &y)| predictions.row(i)[lo] <= y && y <= predictions.row(i)[hi])
        .count();
    Some(inside as f64 / targets.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinball_closed_form() {
        assert_eq!(pinball(0.9, 10.0, 8.0), 0.9 * 2.0);
        assert!((pinball(0.9, 8.0, 10.0) - 0.1 * 2.0).abs() < 1e-15);
        assert_eq!(pinball(0.5, 3.0, 3.0), 0.0);
    }

    #[test]
    fn wis_is_twice_the_mean_pinball_over_symmetric_levels() {
        // With the median and K intervals, (alpha / 2) IS_alpha = rho_(alpha/2) + rho_(1-alpha/2)
        // and |y - m| / 2 = rho_0.5, so WIS = 2 * mean pinball over the 2K + 1 levels.
        let levels = vec![0.05, 0.25, 0.5, 0.75, 0.95];
        let row = vec![-1.0, 0.2, 0.9, 1.4, 3.0];
        for y in [-3.0, -0.5, 0.5, 1.0, 2.0, 5.0] {
            let wis = weighted_interval_score(&levels, y, &row);
            let pinball_mean: f64 = levels
                .iter()
                .zip(&row)
                .map(|(&t, &q)| pinball(t, y, q))
                .sum::<f64>()
                / 5.0;
            // Tolerance: a few roundings of numbers of order 10.
            assert!(
                (wis - 2.0 * pinball_mean).abs() < 1e-12,
                "y {y}: {wis} vs {pinball_mean}"
            );
        }
        // By hand, y = 5: |5 - 0.9| / 2 = 2.05; alpha 0.5: IS = 1.2 + 4 * 3.6 = 15.6,
        // times 0.25 = 3.9; alpha 0.1: IS = 4 + 20 * 2 = 44, times 0.05 = 2.2;
        // (2.05 + 3.9 + 2.2) / 2.5 = 3.26.
        assert!((weighted_interval_score(&levels, 5.0, &row) - 3.26).abs() < 1e-12);
    }

    #[test]
    fn coverage_counts_closed_intervals() {
        let p = QuantilePredictions {
            levels: vec![0.05, 0.5, 0.95],
            values: vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0],
        };
        assert_eq!(coverage(&p, &[2.0, 2.5], 0.1), Some(0.5));
        assert_eq!(coverage(&p, &[2.0, 2.5], 0.2), None);
    }
}
