//! Kendall's rank correlation, tau-b (ties counted as in `scipy.stats.kendalltau`'s default):
//! how consistently a supernet ranks architectures against their stand-alone accuracy.

/// tau-b = (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)), n0 = n(n-1)/2,
/// over all pairs; pairs tied in both count in neither. `None` when the rankings differ in
/// length, for fewer than two items or when one side is constant (tau-b is undefined;
/// scipy gives NaN). O(n^2), for the tens of architectures a small search space has.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    let n = x.len();
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i].total_cmp(&x[j]) as i64;
            let dy = y[i].total_cmp(&y[j]) as i64;
            match (dx, dy) {
                (0, 0) => {
                    ties_x += 1;
                    ties_y += 1;
                }
                (0, _) => ties_x += 1,
                (_, 0) => ties_y += 1,
                _ if dx == dy => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let pairs = (n * n.saturating_sub(1) / 2) as i64;
    let denominator = (((pairs - ties_x) * (pairs - ties_y)) as f64).sqrt();
    (denominator > 0.0).then(|| (concordant - discordant) as f64 / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_hand_counts_and_scipy() {
        // Same order: 1; reversed: -1.
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]),
            Some(1.0)
        );
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]),
            Some(-1.0)
        );
        // scipy.stats.kendalltau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]).statistic = 0.4
        // (by hand: 7 concordant, 3 discordant pairs of 10).
        let tau = kendall_tau_b(&[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 1.0, 2.0, 5.0, 4.0]).unwrap();
        assert!((tau - 0.4).abs() < 1e-15, "{tau}");
        // With ties: scipy.stats.kendalltau([1, 2, 2, 3], [1, 3, 2, 4]).statistic
        // = 5 / sqrt(5 * 6) = 0.912870929...: pairs 6, ties_x 1, concordant 5, discordant 0.
        let tau = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((tau - 5.0 / 30f64.sqrt()).abs() < 1e-15, "{tau}");
        // Undefined: constant side or too few items.
        assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 2.0], &[2.0]), None);
    }
}
