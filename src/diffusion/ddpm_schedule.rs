//! DDPM noise schedules (Ho et al., 2020; Nichol & Dhariwal, 2021): the betas of `T` steps,
//! their cumulative products `alpha_bar_t`, and what noising and the reverse posterior need.
//! Step `t` runs from 0 to `T - 1`; `x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`.

use crate::usage_error;

#[derive(Clone, Debug, PartialEq)]
pub struct DdpmSchedule {
    pub betas: Vec<f64>,
    pub alpha_bars: Vec<f64>,
}

/// Largest beta of the cosine schedule, as in improved DDPM (avoids a singular last step).
const COSINE_MAX_BETA: f64 = 0.999;
/// The cosine schedule's offset `s`, so that beta_0 is not vanishingly small.
const COSINE_OFFSET: f64 = 0.008;

impl DdpmSchedule {
    /// Ho et al.'s linear betas from `beta_start` to `beta_end` (1e-4 and 0.02 for T = 1000).
    pub fn linear(steps: usize, beta_start: f64, beta_end: f64) -> anyhow::Result<Self> {
        if steps < 2 || !(0.0 < beta_start && beta_start <= beta_end && beta_end < 1.0) {
            return Err(usage_error!(
                "linear beta schedule: expected at least 2 steps and 0 < beta_start <= beta_end < 1, \
                 got {steps} steps, {beta_start}..{beta_end}"
            ));
        }
        let betas = (0..steps)
            .map(|i| beta_start + (beta_end - beta_start) * i as f64 / (steps - 1) as f64)
            .collect();
        Ok(Self::from_betas(betas))
    }

    /// Nichol & Dhariwal's cosine schedule: `alpha_bar(t) = f(t) / f(0)` with
    /// `f(t) = cos^2((t / T + s) / (1 + s) * pi / 2)`, betas clipped at 0.999.
    pub fn cosine(steps: usize) -> anyhow::Result<Self> {
        if steps < 2 {
            return Err(usage_error!(
                "cosine beta schedule: expected at least 2 steps, got {steps}"
            ));
        }
        let f = |t: f64| {
            ((t / steps as f64 + COSINE_OFFSET) / (1.0 + COSINE_OFFSET)
                * std::f64::consts::FRAC_PI_2)
                .cos()
                .powi(2)
        };
        let betas = (0..steps)
            .map(|i| (1.0 - f(i as f64 + 1.0) / f(i as f64)).min(COSINE_MAX_BETA))
            .collect();
        Ok(Self::from_betas(betas))
    }

    fn from_betas(betas: Vec<f64>) -> Self {
        let alpha_bars = betas
            .iter()
            .scan(1.0, |product, beta| {
                *product *= 1.0 - beta;
                Some(*product)
            })
            .collect();
        Self { betas, alpha_bars }
    }

    pub fn steps(&self) -> usize {
        self.betas.len()
    }

    /// `(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t))`: the scales of `x_0` and of the noise.
    pub fn noising_scales(&self, t: usize) -> (f64, f64) {
        let a = self.alpha_bars[t];
        (a.sqrt(), (1.0 - a).sqrt())
    }

    /// Mean coefficients and variance of the reverse posterior `q(x_{t-1} | x_t, x_0)`:
    /// `mean = c0 x_0 + ct x_t`, variance `beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)`
    /// (0 at t = 0).
    pub fn posterior(&self, t: usize) -> (f64, f64, f64) {
        let beta = self.betas[t];
        let a_bar = self.alpha_bars[t];
        let a_bar_prev = if t == 0 { 1.0 } else { self.alpha_bars[t - 1] };
        let c0 = a_bar_prev.sqrt() * beta / (1.0 - a_bar);
        let ct = (1.0 - beta).sqrt() * (1.0 - a_bar_prev) / (1.0 - a_bar);
        let variance = beta * (1.0 - a_bar_prev) / (1.0 - a_bar);
        (c0, ct, variance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_betas_span_the_endpoints_and_alpha_bar_is_their_running_product() {
        let s = DdpmSchedule::linear(1000, 1e-4, 0.02).unwrap();
        assert_eq!(s.steps(), 1000);
        assert!((s.betas[0] - 1e-4).abs() < 1e-15 && (s.betas[999] - 0.02).abs() < 1e-15);
        // Closed form of the first two products.
        assert!((s.alpha_bars[1] - (1.0 - 1e-4) * (1.0 - s.betas[1])).abs() < 1e-15);
        // Ho et al.'s schedule ends close to pure noise: alpha_bar_T ~ 4.0e-5.
        assert!(
            (s.alpha_bars[999] - 4.04e-5).abs() < 0.1e-5,
            "{}",
            s.alpha_bars[999]
        );
    }

    #[test]
    fn cosine_alpha_bar_follows_the_squared_cosine() {
        let steps = 1000;
        let s = DdpmSchedule::cosine(steps).unwrap();
        let f = |t: f64| {
            ((t / steps as f64 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                .cos()
                .powi(2)
        };
        // Away from the clipped end, alpha_bar_t = f(t + 1) / f(0) exactly.
        for t in [0, 10, 500, 900] {
            assert!(
                (s.alpha_bars[t] - f(t as f64 + 1.0) / f(0.0)).abs() < 1e-12,
                "t = {t}"
            );
        }
        assert!(s.betas.iter().all(|&b| b > 0.0 && b <= 0.999));
        assert_eq!(s.betas[steps - 1], 0.999);
    }

    #[test]
    fn noising_keeps_unit_variance_and_the_posterior_matches_its_closed_form() {
        let s = DdpmSchedule::linear(100, 1e-3, 0.05).unwrap();
        for t in [0, 1, 50, 99] {
            let (a, b) = s.noising_scales(t);
            assert!((a * a + b * b - 1.0).abs() < 1e-12);
        }
        // At t = 0 the posterior is x_0 itself with no variance.
        let (c0, ct, var) = s.posterior(0);
        assert!((c0 - 1.0).abs() < 1e-12 && ct.abs() < 1e-12 && var == 0.0);
        // Posterior variance is below beta_t (Ho et al.: beta_tilde <= beta).
        for t in 1..100 {
            assert!(s.posterior(t).2 < s.betas[t]);
        }
    }

    #[test]
    fn bad_schedules_are_usage_errors() {
        assert!(DdpmSchedule::linear(1, 1e-4, 0.02).is_err());
        assert!(DdpmSchedule::linear(10, 0.02, 1e-4).is_err());
        assert!(DdpmSchedule::cosine(0).is_err());
    }
}
