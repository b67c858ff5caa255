//! Scalar and vector helpers the solvers share.

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The logistic function 1 / (1 + e^-t), without overflow for any t.
pub fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^t) without overflow.
pub fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed forms at 0 and the tails where the naive formulas overflow.
    #[test]
    fn logistic_helpers_are_stable() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(softplus(0.0), std::f64::consts::LN_2);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(softplus(800.0), 800.0);
        assert!(softplus(-800.0) >= 0.0 && softplus(-800.0) < 1e-300);
        assert!((softplus(1.0) - (1.0 + 1f64.exp()).ln()).abs() < 1e-15);
    }
}
