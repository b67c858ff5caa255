//! Online learners for the SEA model: optimistic online mirror descent (Chen, Zhang, Tu,
//! Zhao, Zhang, "Optimistic Online Mirror Descent for Bridging Stochastic and Adversarial
//! Online Convex Optimization", ICML 2023) and the plain baselines it is compared with.
//!
//! Optimistic OMD keeps a second sequence x_hat and plays a step ahead along the hint
//! M_t = g_{t-1} (the last observed gradient, M_1 = 0):
//!   x_t       = argmin_x <M_t, x> + B_t(x, x_hat_t)
//!   x_hat_t+1 = argmin_x <g_t, x> + B_t(x, x_hat_t),   g_t = grad f_t(x_t).
//! With the Euclidean Bregman divergence B_t = ||x - y||^2 / (2 eta_t) the two steps are
//! projected gradient steps from x_hat_t; with the norm of an ONS matrix U_t they are online
//! Newton steps; on the simplex the entropic version is optimistic Hedge (written in its
//! follow-the-regularised-leader form, which keeps the entropic analysis valid with a step
//! that changes every round).
//!
//! Step sizes. Only the paper's abstract and later restatements of it could be read here, so
//! each rule says where it comes from:
//! - convex and smooth (Euclidean): eta_t = D / sqrt(delta + 4 G^2 + V_{t-1}), V_{t-1} =
//!   sum_{s<t} ||g_s - M_s||^2, as Wang, Barik, Zhao and Tan (NeurIPS 2025) restate Chen et
//!   al.'s step; delta = 10 D^2 L^2 keeps eta below 1 / (3 L), the condition the smoothness
//!   argument needs (the paper's own constant could not be read);
//! - lambda-strongly convex: eta_t = 1 / (lambda t), the schedule of online gradient descent
//!   for strongly convex losses (on a quadratic it makes x_hat follow the leader);
//! - alpha-exp-concave: U_t = I / (gamma D^2) + gamma sum_{s<t} (g_s - M_s)(g_s - M_s)^T with
//!   gamma = min{1 / (4 G D), alpha} / 2, Hazan, Agarwal and Kale's ONS constants, and
//!   U_{t+1} (which includes g_t - M_t) in the second step, as ONS does;
//! - entropic (experts): eta_t = sqrt(ln N / (4 G^2 + V_{t-1})) with V in the max norm.
//!
//! Baselines: online gradient descent with eta_t = D / (G sqrt t) (convex, exp-concave) or
//! 1 / (lambda t) (strongly convex); online Newton step (the exp-concave learner without a
//! hint); Hedge with eta_t = sqrt(ln N / t) / G.

use super::ball::{self, Eigen};
use super::environment::Constants;
use crate::usage_error;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Optimistic online mirror descent with the last gradient as the hint.
    Oomd,
    /// Online gradient descent (Hedge on the simplex).
    Ogd,
    /// Online Newton step (exp-concave losses only).
    Ons,
}

/// Which curvature of the losses the step sizes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Curvature {
    Convex,
    StronglyConvex,
    ExpConcave,
}

/// The decision set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Geometry {
    /// The Euclidean ball of radius D / 2.
    Ball,
    /// The probability simplex.
    Simplex,
}

/// An online learner: `predict` plays x_t, `observe` takes g_t = grad f_t(x_t).
#[derive(Clone, Debug)]
pub struct Learner {
    method: Method,
    curvature: Curvature,
    geometry: Geometry,
    constants: Constants,
    radius: f64,
    /// Rounds observed so far (t - 1 while round t is played).
    rounds: usize,
    /// x_hat_t (ball), or the sum of the gradients so far (simplex, FTRL form).
    state: Vec<f64>,
    /// M_t: the last gradient for optimistic methods, zero for the baselines.
    hint: Vec<f64>,
    /// V_{t-1}: the sum of ||g_s - M_s||^2 (max norm on the simplex).
    hint_errors: f64,
    /// The ONS matrix U_t (row-major), and its eigendecomposition.
    newton: Option<(Vec<f64>, Eigen, f64)>,
    /// The step size of the round being played.
    eta: f64,
}

impl Learner {
    pub fn new(
        method: Method,
        curvature: Curvature,
        geometry: Geometry,
        constants: Constants,
        dim: usize,
    ) -> anyhow::Result<Self> {
        let c = constants;
        match (geometry, curvature, method) {
            (Geometry::Simplex, Curvature::Convex, Method::Oomd | Method::Ogd) => {}
            (Geometry::Simplex, _, _) => {
                return Err(usage_error!(
                    "online learner: on the simplex (experts) only the convex oomd and ogd \
                     (Hedge) learners are built, not {curvature:?} {method:?}"
                ));
            }
            (Geometry::Ball, Curvature::ExpConcave, _) if c.exp_concavity <= 0.0 => {
                return Err(usage_error!(
                    "online learner: the losses are not exp-concave; pick --curvature convex"
                ));
            }
            (Geometry::Ball, Curvature::StronglyConvex, _) if c.strong_convexity <= 0.0 => {
                return Err(usage_error!(
                    "online learner: the losses are not strongly convex; pick --curvature convex"
                ));
            }
            (Geometry::Ball, curvature, Method::Ons) if curvature != Curvature::ExpConcave => {
                return Err(usage_error!(
                    "online learner: ons needs --curvature exp-concave, not {curvature:?}"
                ));
            }
            _ => {}
        }
        let newton = (geometry == Geometry::Ball
            && curvature == Curvature::ExpConcave
            && method != Method::Ogd)
            .then(|| {
                let gamma =
                    0.5 * (1.0 / (4.0 * c.gradient_bound * c.diameter)).min(c.exp_concavity);
                let start = 1.0 / (gamma * c.diameter * c.diameter);
                let mut u = vec![0.0; dim * dim];
                for i in 0..dim {
                    u[i * dim + i] = start;
                }
                (u, Eigen::diagonal(&vec![start; dim]), gamma)
            });
        Ok(Self {
            method,
            curvature,
            geometry,
            constants,
            radius: constants.diameter / 2.0,
            rounds: 0,
            // x_hat_1 = 0, the centre of the ball; on the simplex an empty gradient sum.
            state: vec![0.0; dim],
            hint: vec![0.0; dim],
            hint_errors: 0.0,
            newton,
            eta: 0.0,
        })
    }

    fn optimistic(&self) -> bool {
        self.method == Method::Oomd
    }

    /// The step size of round t = rounds + 1 (unused by the Newton learners).
    pub fn step_size(&self) -> f64 {
        let c = &self.constants;
        let t = (self.rounds + 1) as f64;
        match (self.geometry, self.curvature, self.method) {
            (Geometry::Simplex, _, Method::Oomd) => {
                let n = self.state.len() as f64;
                (n.ln() / (4.0 * c.gradient_bound.powi(2) + self.hint_errors)).sqrt()
            }
            (Geometry::Simplex, _, _) => {
                (self.state.len() as f64).ln().sqrt() / (c.gradient_bound * t.sqrt())
            }
            (Geometry::Ball, Curvature::StronglyConvex, _) => 1.0 / (c.strong_convexity * t),
            (Geometry::Ball, _, Method::Oomd) => {
                let delta = 10.0 * (c.diameter * c.smoothness).powi(2);
                c.diameter / (delta + 4.0 * c.gradient_bound.powi(2) + self.hint_errors).sqrt()
            }
            (Geometry::Ball, _, _) => c.diameter / (c.gradient_bound * t.sqrt()),
        }
    }

    /// x_t.
    pub fn predict(&mut self) -> Vec<f64> {
        self.eta = self.step_size();
        match self.geometry {
            Geometry::Simplex => {
                let scores: Vec<f64> = self
                    .state
                    .iter()
                    .zip(&self.hint)
                    .map(|(s, m)| -self.eta * (s + m))
                    .collect();
                softmax(&scores)
            }
            Geometry::Ball => match &self.newton {
                Some((_, eigen, _)) => {
                    let step = solve(eigen, &self.hint);
                    let y: Vec<f64> = self.state.iter().zip(&step).map(|(x, s)| x - s).collect();
                    ball::project_in_norm(&y, eigen, self.radius)
                }
                None => {
                    let y: Vec<f64> = self
                        .state
                        .iter()
                        .zip(&self.hint)
                        .map(|(x, m)| x - self.eta * m)
                        .collect();
                    ball::project(&y, self.radius)
                }
            },
        }
    }

    /// Takes g_t = grad f_t(x_t), the gradient at the last prediction.
    pub fn observe(&mut self, gradient: &[f64]) {
        let error: Vec<f64> = gradient
            .iter()
            .zip(&self.hint)
            .map(|(g, m)| g - m)
            .collect();
        self.hint_errors += match self.geometry {
            Geometry::Simplex => error.iter().fold(0.0_f64, |a, e| a.max(e.abs())).powi(2),
            Geometry::Ball => error.iter().map(|e| e * e).sum::<f64>(),
        };
        match self.geometry {
            Geometry::Simplex => {
                self.state
                    .iter_mut()
                    .zip(gradient)
                    .for_each(|(s, g)| *s += g);
            }
            Geometry::Ball => match &mut self.newton {
                Some((u, eigen, gamma)) => {
                    let n = error.len();
                    for i in 0..n {
                        for j in 0..n {
                            u[i * n + j] += *gamma * error[i] * error[j];
                        }
                    }
                    *eigen = Eigen::of(u, n);
                    let step = solve(eigen, gradient);
                    let y: Vec<f64> = self.state.iter().zip(&step).map(|(x, s)| x - s).collect();
                    self.state = ball::project_in_norm(&y, eigen, self.radius);
                }
                None => {
                    let y: Vec<f64> = self
                        .state
                        .iter()
                        .zip(gradient)
                        .map(|(x, g)| x - self.eta * g)
                        .collect();
                    self.state = ball::project(&y, self.radius);
                }
            },
        }
        if self.optimistic() {
            self.hint = gradient.to_vec();
        }
        self.rounds += 1;
    }
}

/// U^-1 v for a positive definite U given by its eigendecomposition.
fn solve(u: &Eigen, v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut out = vec![0.0; n];
    for k in 0..n {
        let column = |i: usize| u.vectors[i * n + k];
        let coefficient = (0..n).map(|i| column(i) * v[i]).sum::<f64>() / u.values[k];
        for (i, o) in out.iter_mut().enumerate() {
            *o += coefficient * column(i);
        }
    }
    out
}

/// exp(s_i) / sum_j exp(s_j), shifted by the largest score so no term overflows.
fn softmax(scores: &[f64]) -> Vec<f64> {
    let top = scores.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let weights: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}
