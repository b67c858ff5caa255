//! Conformalized quantile regression (Romano, Patterson and Candès 2019), applied to every
//! central interval of a quantile prediction: for the levels (tau, 1 - tau), the conformity
//! score of a calibration row is max(q_tau - y, y - q_(1-tau)); both ends move out (or in)
//! by the ceil((n + 1)(1 - alpha))-th smallest score, alpha = 2 tau, which gives coverage
//! >= 1 - alpha on exchangeable data.

use super::scores::QuantilePredictions;

/// Per central interval: the lower level's index, the upper level's and the shift.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Calibration {
    pub shifts: Vec<(usize, usize, f64)>,
    /// Intervals whose conformal rank exceeded the calibration rows: shifted by the largest
    /// score, without the coverage guarantee (the (0.01, 0.99) pair needs 99 rows).
    pub clamped: usize,
}

impl Calibration {
    /// Fits the shifts on calibration predictions and targets.
    pub fn fit(predictions: &QuantilePredictions, targets: &[f64]) -> Calibration {
        let levels = &predictions.levels;
        let n = targets.len();
        let mut shifts = Vec::new();
        let mut clamped = 0;
        if n == 0 {
            return Calibration { shifts, clamped };
        }
        for (lo, &tau) in levels.iter().enumerate() {
            if tau >= 0.5 - 1e-9 {
                continue;
            }
            let Some(hi) = levels.iter().position(|&u| (u - (1.0 - tau)).abs() < 1e-9) else {
                continue;
            };
            let mut scores: Vec<f64> = targets
                .iter()
                .enumerate()
                .map(|(i, &y)| {
                    let row = predictions.row(i);
                    (row[lo] - y).max(y - row[hi])
                })
                .collect();
            scores.sort_by(f64::total_cmp);
            let alpha = 2.0 * tau;
            // The ceil((n + 1)(1 - alpha))-th smallest; beyond n the interval must be
            // infinite, which a finite shift cannot give: the largest score is the honest
            // finite choice and is what a user gets with too few calibration rows.
            // The 1e-9 keeps an exact integer such as 149 * 0.83 from rounding up to the
            // next rank.
            let rank = (((n + 1) as f64) * (1.0 - alpha) - 1e-9).ceil() as usize;
            clamped += (rank > n) as usize;
            let shift = scores[rank.clamp(1, n) - 1];
            shifts.push((lo, hi, shift));
        }
        Calibration { shifts, clamped }
    }

    pub fn apply(&self, predictions: &mut QuantilePredictions) {
        for i in 0..predictions.rows() {
            let row = predictions.row_mut(i);
            for &(lo, hi, shift) in &self.shifts {
                row[lo] -= shift;
                row[hi] += shift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantile::scores::coverage;
    use crate::rng::{Rng, Stream};

    #[test]
    fn shift_is_the_conformal_quantile_of_the_scores() {
        // One interval (0.1, 0.9) = [0, 1] for every row; targets 0.5 (score -0.5), 1.5
        // (0.5), -1 (1), 3 (2): alpha = 0.2, rank ceil(5 * 0.8) = 4: the shift is 2.
        let p = QuantilePredictions {
            levels: vec![0.1, 0.9],
            values: [0.0, 1.0].repeat(4),
        };
        let c = Calibration::fit(&p, &[0.5, 1.5, -1.0, 3.0]);
        assert_eq!((c.shifts, c.clamped), (vec![(0, 1, 2.0)], 0));
        // tau = 0.09, n = 149: (n + 1) 0.82 = 123 exactly, not 124.
        let p = QuantilePredictions {
            levels: vec![0.09, 0.91],
            values: [0.0, 0.0].repeat(149),
        };
        let targets: Vec<f64> = (1..=149).map(f64::from).collect();
        assert_eq!(Calibration::fit(&p, &targets).shifts, vec![(0, 1, 123.0)]);
    }

    /// Coverage on fresh data reaches 1 - alpha even for a badly too narrow interval.
    #[test]
    fn calibrated_intervals_cover() {
        let mut rng = Rng::new(3, Stream::Probe, 0, 0);
        let mut draw = |n: usize| (0..n).map(|_| rng.normal() * 2.0).collect::<Vec<f64>>();
        let narrow = |n: usize| QuantilePredictions {
            levels: vec![0.05, 0.5, 0.95],
            values: [-0.5, 0.0, 0.5].repeat(n),
        };
        let (cal_y, test_y) = (draw(2000), draw(20000));
        let c = Calibration::fit(&narrow(2000), &cal_y);
        let mut test = narrow(20000);
        assert!(coverage(&test, &test_y, 0.1).unwrap() < 0.3);
        c.apply(&mut test);
        let covered = coverage(&test, &test_y, 0.1).unwrap();
        // Tolerance: the binomial spread of 20,000 draws (sd 0.002) and the calibration
        // set's (the guarantee is at least 0.9 on average, at most 0.9 + 1 / 2001 above).
        assert!((covered - 0.9).abs() < 0.015, "{covered}");
    }
}
