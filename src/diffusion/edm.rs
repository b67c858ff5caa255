//! EDM (Karras et al., 2022, "Elucidating the design space of diffusion-based generative
//! models"): the denoiser `D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)` with the
//! preconditioning that keeps the network's input and target at unit variance, the training
//! noise levels `ln sigma ~ N(P_mean, P_std^2)`, the loss weight and the sampling levels.

/// The EDM constants (paper's Table 1 defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edm {
    pub sigma_data: f64,
    pub p_mean: f64,
    pub p_std: f64,
    pub sigma_min: f64,
    pub sigma_max: f64,
    pub rho: f64,
}

impl Default for Edm {
    fn default() -> Self {
        Self {
            sigma_data: 0.5,
            p_mean: -1.2,
            p_std: 1.2,
            sigma_min: 0.002,
            sigma_max: 80.0,
            rho: 7.0,
        }
    }
}

/// The four preconditioning factors at one noise level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preconditioning {
    pub c_skip: f64,
    pub c_out: f64,
    pub c_in: f64,
    pub c_noise: f64,
}

impl Edm {
    pub fn preconditioning(&self, sigma: f64) -> Preconditioning {
        let sd2 = self.sigma_data * self.sigma_data;
        let total = sigma * sigma + sd2;
        Preconditioning {
            c_skip: sd2 / total,
            c_out: sigma * self.sigma_data / total.sqrt(),
            c_in: 1.0 / total.sqrt(),
            c_noise: sigma.ln() / 4.0,
        }
    }

    /// The loss weight `lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2`.
    pub fn loss_weight(&self, sigma: f64) -> f64 {
        let sd = self.sigma_data;
        (sigma * sigma + sd * sd) / (sigma * sd).powi(2)
    }

    /// The training noise level for a standard normal draw `z`.
    pub fn training_sigma(&self, z: f64) -> f64 {
        (self.p_mean + self.p_std * z).exp()
    }

    /// The `steps` sampling levels from sigma_max down to sigma_min (spaced by `rho`), then 0.
    pub fn sampling_sigmas(&self, steps: usize) -> Vec<f64> {
        let inv = 1.0 / self.rho;
        let (hi, lo) = (self.sigma_max.powf(inv), self.sigma_min.powf(inv));
        let mut sigmas: Vec<f64> = (0..steps)
            .map(|i| {
                let frac = if steps > 1 {
                    i as f64 / (steps - 1) as f64
                } else {
                    0.0
                };
                (hi + frac * (lo - hi)).powf(self.rho)
            })
            .collect();
        sigmas.push(0.0);
        sigmas
    }

    /// `count` levels at the quantiles `(i + 1/2) / count` of the training distribution: a
    /// test loss averaged over them estimates the expected training loss, stratified.
    pub fn stratified_sigmas(&self, count: usize) -> Vec<f64> {
        (0..count)
            .map(|i| self.training_sigma(normal_quantile((i as f64 + 0.5) / count as f64)))
            .collect()
    }
}

/// The standard normal quantile function (Acklam's rational approximation refined by one
/// Halley step; relative error below 1e-12 on (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // Halley refinement with the complementary error function.
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7, which the Halley step above tolerates).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditioning_gives_unit_variance_input_and_target() {
        let edm = Edm::default();
        let sd = edm.sigma_data;
        for sigma in [0.002, 0.1, 0.5, 1.0, 10.0, 80.0] {
            let p = edm.preconditioning(sigma);
            // Input: c_in^2 Var(y + sigma n) = c_in^2 (sd^2 + sigma^2) = 1.
            assert!((p.c_in.powi(2) * (sd * sd + sigma * sigma) - 1.0).abs() < 1e-12);
            // Effective target (y - c_skip x) / c_out has unit variance:
            // ((1 - c_skip)^2 sd^2 + c_skip^2 sigma^2) / c_out^2 = 1.
            let target = ((1.0 - p.c_skip).powi(2) * sd * sd + p.c_skip.powi(2) * sigma * sigma)
                / p.c_out.powi(2);
            assert!((target - 1.0).abs() < 1e-9, "sigma {sigma}: {target}");
            // The weight undoes c_out^2, so every level contributes equally.
            assert!((edm.loss_weight(sigma) * p.c_out.powi(2) - 1.0).abs() < 1e-9);
            assert!((p.c_noise - sigma.ln() / 4.0).abs() < 1e-15);
        }
        // Small sigma: D is the identity; large sigma: D predicts from the network alone.
        let small = edm.preconditioning(1e-6);
        assert!((small.c_skip - 1.0).abs() < 1e-9 && small.c_out < 1e-5);
        assert!(edm.preconditioning(1e4).c_skip < 1e-8);
    }

    #[test]
    fn sampling_levels_run_from_sigma_max_to_sigma_min_then_zero() {
        let edm = Edm::default();
        let s = edm.sampling_sigmas(18);
        assert_eq!(s.len(), 19);
        assert!((s[0] - 80.0).abs() < 1e-9 && (s[17] - 0.002).abs() < 1e-12 && s[18] == 0.0);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
        // rho = 7 puts most levels at low noise: the midpoint is far below the arithmetic mean.
        assert!(s[9] < 2.0, "{}", s[9]);
    }

    #[test]
    fn the_normal_quantile_matches_tabulated_values() {
        // Values from any normal table (scipy.stats.norm.ppf); the erfc fit bounds the error.
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959963984540054),
            (0.025, -1.959963984540054),
            (0.8413447460685429, 1.0),
            (0.001, -3.090232306167813),
            (0.9999, 3.719016485455709),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-6,
                "p {p}: {}",
                normal_quantile(p)
            );
        }
        let s = Edm::default().stratified_sigmas(4);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        // Symmetric quantiles around the median exp(P_mean).
        assert!((s[0] * s[3] - (2.0 * -1.2f64).exp()).abs() < 1e-6);
    }

    #[test]
    fn training_sigma_is_log_normal_around_p_mean() {
        let edm = Edm::default();
        assert!((edm.training_sigma(0.0) - (-1.2f64).exp()).abs() < 1e-15);
        assert!((edm.training_sigma(1.0) - 1.0).abs() < 1e-15);
    }
}
