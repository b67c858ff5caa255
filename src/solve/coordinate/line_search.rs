//! The official code's backtracking line search (`perform_line_search`): accept alpha when
//! f(step(alpha)) <= f(x) + 1e-10 alpha phi with phi = g^T d(1); otherwise the first retry
//! minimises the quadratic interpolation of f along the step and later ones the cubic
//! through the last two trials. Steps are linear in alpha before any projection, so the
//! trial value comes from a closure. Safeguards the official code lacks: a non-finite or
//! non-shrinking interpolant halves alpha instead, and after 60 trials the step is 0.

/// Returns the accepted alpha (0 when none was found).
pub fn interpolating_backtracking(f0: f64, phi: f64, value_at: impl Fn(f64) -> f64) -> f64 {
    const EPS: f64 = 1e-10;
    let excess = |alpha: f64, value: f64| value - f0 - alpha * phi;
    let mut alpha = 1.0;
    let mut value = value_at(alpha);
    let mut previous: Option<(f64, f64)> = None;
    for _ in 0..60 {
        if value <= f0 + EPS * alpha * phi {
            return alpha;
        }
        let z = excess(alpha, value);
        let next = match previous {
            None => -(phi * alpha * alpha) / (2.0 * z),
            Some((alpha_old, z_old)) => {
                let c = 1.0 / ((alpha - alpha_old) * alpha_old * alpha_old * alpha * alpha);
                let a = c * (alpha_old * alpha_old * z - alpha * alpha * z_old);
                let b = c * (-alpha_old.powi(3) * z + alpha.powi(3) * z_old);
                (-b + (b * b - 3.0 * a * phi).sqrt()) / (3.0 * a)
            }
        };
        previous = Some((alpha, z));
        alpha = if next.is_finite() && next > 0.0 && next < alpha {
            next
        } else {
            alpha / 2.0
        };
        value = value_at(alpha);
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On f(x) = (x - 1)^2 from x = 0 with d = 4 (an overshoot), phi = g d = -8: alpha = 1
    /// gives f = 9 > 1; the quadratic interpolant of f along the step is exact, so the
    /// first retry lands on the minimiser alpha = 1/4.
    #[test]
    fn quadratic_interpolation_finds_the_exact_minimiser() {
        let f = |x: f64| (x - 1.0) * (x - 1.0);
        let alpha = interpolating_backtracking(f(0.0), -8.0, |a| f(4.0 * a));
        assert!((alpha - 0.25).abs() < 1e-15, "{alpha}");
        // A step that already decreases f is taken whole.
        assert_eq!(
            interpolating_backtracking(f(0.0), -2.0, |a| f(0.5 * a)),
            1.0
        );
    }

    /// On a quartic the cubic retries still reach sufficient decrease.
    #[test]
    fn cubic_retries_reach_sufficient_decrease() {
        let f = |x: f64| x.powi(4) - x;
        let (g, d) = (-1.0, 10.0);
        let alpha = interpolating_backtracking(f(0.0), g * d, |a| f(d * a));
        assert!(alpha > 0.0 && f(d * alpha) <= f(0.0) + 1e-10 * alpha * g * d);
    }
}
