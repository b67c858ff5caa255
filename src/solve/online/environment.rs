//! A seeded simulator of the stochastically extended adversarial (SEA) model (Sachs et al.
//! 2022; Chen et al. 2023): in round t nature picks a distribution D_t, the learner plays
//! x_t, and suffers f_t(x_t) for a loss f_t drawn from D_t.
//!
//! Here D_t is "an adversarial centre theta_t plus noise": theta_t = m + r_t with a fixed
//! mean m of norm 1/2 (so the best fixed decision stays informative) and r_t moving on a
//! circle of radius 1/2 in a seeded random plane orthogonal to m, by the chord `variation`
//! per round (0: a fixed distribution, the stochastic case; 1: r_t flips sign every round,
//! the hardest oblivious adversary for a last-gradient hint), and the noise has scale
//! `sigma` (0: the adversarial case). Every loss has closed forms for the two quantities the regret bounds
//! are stated in, per round:
//! - the stochastic variance sigma_t^2 = max_x E ||grad f_t(x) - grad F_t(x)||^2,
//! - the adversarial variation Sigma_t^2 = max_x ||grad F_t(x) - grad F_{t-1}(x)||^2 with
//!   grad F_0 = 0,
//!
//! where F_t = E f_t and the max runs over the decision set (the unit ball, or the simplex
//! for experts).

use crate::rng::{Rng, Stream};
use crate::usage_error;
use serde::{Deserialize, Serialize};

/// The loss family of an environment; z_t = theta_t + sigma xi_t with xi_t uniform on the
/// unit sphere, so E z_t = theta_t and E ||z_t - theta_t||^2 = sigma^2 exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// <z_t, x> on the unit ball: convex, linear (smoothness 0).
    Linear,
    /// 0.5 ||x - z_t||^2 on the unit ball: 1-strongly convex and 1-smooth.
    Quadratic,
    /// 0.5 (x_i - b_t)^2 on the unit ball, i uniform among the coordinates and b_t =
    /// theta_t,i + sigma eps_t with eps_t = +-1: online least squares, exp-concave but not
    /// strongly convex per round (its expectation is (1/d)-strongly convex).
    Regression,
    /// <z_t, x> on the probability simplex: prediction with expert advice.
    Experts,
}

impl LossKind {
    pub fn on_simplex(self) -> bool {
        self == LossKind::Experts
    }
}

/// What an environment is: the loss, the dimension, the noise scale and the per-round
/// movement of the adversarial centre.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeaSpec {
    pub loss: LossKind,
    pub dim: usize,
    /// Scale of the stochastic noise (sigma_t^2 = sigma^2 for the linear and quadratic
    /// losses).
    pub sigma: f64,
    /// ||theta_t - theta_{t-1}||, in [0, 1].
    pub variation: f64,
    pub seed: u64,
}

impl SeaSpec {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(3..=1000).contains(&self.dim) {
            return Err(usage_error!(
                "sea environment: dim {} is outside 3..=1000 (the centre moves in 3 dimensions)",
                self.dim
            ));
        }
        if !(self.sigma >= 0.0 && self.sigma <= 100.0) {
            return Err(usage_error!(
                "sea environment: sigma {} is outside [0, 100]",
                self.sigma
            ));
        }
        if !(self.variation >= 0.0 && self.variation <= 2.0 * ORBIT) {
            return Err(usage_error!(
                "sea environment: variation {} is outside [0, 1] (a chord of the circle of \
                 radius 1/2 the adversarial centre moves on)",
                self.variation
            ));
        }
        Ok(())
    }
}

/// One round's loss, drawn from D_t.
#[derive(Clone, Debug, PartialEq)]
pub enum Round {
    /// <z, x>.
    Linear { z: Vec<f64> },
    /// 0.5 ||x - z||^2.
    Quadratic { z: Vec<f64> },
    /// 0.5 (x_coordinate - target)^2.
    Regression { coordinate: usize, target: f64 },
}

impl Round {
    pub fn value(&self, x: &[f64]) -> f64 {
        match self {
            Round::Linear { z } => crate::solve::numeric::dot(z, x),
            Round::Quadratic { z } => {
                0.5 * x.iter().zip(z).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
            }
            Round::Regression { coordinate, target } => 0.5 * (x[*coordinate] - target).powi(2),
        }
    }

    pub fn gradient(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Round::Linear { z } => z.clone(),
            Round::Quadratic { z } => x.iter().zip(z).map(|(a, b)| a - b).collect(),
            Round::Regression { coordinate, target } => {
                let mut g = vec![0.0; x.len()];
                g[*coordinate] = x[*coordinate] - target;
                g
            }
        }
    }
}

/// A generated SEA environment; rounds are drawn by index, so every learner meets the same
/// losses.
#[derive(Clone, Debug)]
pub struct Environment {
    pub spec: SeaSpec,
    /// An orthonormal triple: the direction of the mean, and the plane r_t moves in.
    frame: [Vec<f64>; 3],
    /// The angle theta_t turns by per round.
    angle: f64,
}

/// The radius of the ball decision set.
pub const RADIUS: f64 = 1.0;
/// The norm of the mean m of theta_t and the radius of r_t's circle; ||theta_t|| =
/// sqrt(MEAN^2 + ORBIT^2) < 1.
pub const MEAN: f64 = 0.5;
pub const ORBIT: f64 = 0.5;
/// ||theta_t||.
const CENTRE_NORM: f64 = std::f64::consts::FRAC_1_SQRT_2;

impl Environment {
    pub fn new(spec: &SeaSpec) -> anyhow::Result<Self> {
        spec.validate()?;
        let mut rng = Rng::new(spec.seed, Stream::Solve, 0, 0);
        // Gram-Schmidt on Gaussian vectors: an orthonormal triple (dim >= 3).
        let mut frame: Vec<Vec<f64>> = Vec::new();
        while frame.len() < 3 {
            let mut v: Vec<f64> = (0..spec.dim).map(|_| rng.normal()).collect();
            for f in &frame {
                let along = crate::solve::numeric::dot(&v, f);
                v.iter_mut().zip(f).for_each(|(a, b)| *a -= along * b);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-6 {
                frame.push(v.into_iter().map(|a| a / norm).collect());
            }
        }
        let [m, v, w] = <[Vec<f64>; 3]>::try_from(frame).expect("three vectors");
        Ok(Self {
            spec: spec.clone(),
            frame: [m, v, w],
            angle: 2.0 * (spec.variation / (2.0 * ORBIT)).asin(),
        })
    }

    /// theta_t for t >= 1.
    pub fn centre(&self, t: usize) -> Vec<f64> {
        let phase = self.angle * t as f64;
        let (s, c) = phase.sin_cos();
        let [m, v, w] = &self.frame;
        (0..self.spec.dim)
            .map(|i| MEAN * m[i] + ORBIT * (c * v[i] + s * w[i]))
            .collect()
    }

    /// The loss of round t >= 1.
    pub fn round(&self, t: usize) -> Round {
        let theta = self.centre(t);
        let sigma = self.spec.sigma;
        let mut rng = Rng::new(self.spec.seed, Stream::Solve, t as u64, 1);
        match self.spec.loss {
            LossKind::Linear | LossKind::Experts | LossKind::Quadratic => {
                let xi = unit(&mut rng, self.spec.dim);
                let z = theta.iter().zip(&xi).map(|(a, b)| a + sigma * b).collect();
                if self.spec.loss == LossKind::Quadratic {
                    Round::Quadratic { z }
                } else {
                    Round::Linear { z }
                }
            }
            LossKind::Regression => {
                let coordinate = rng.below(self.spec.dim as u64) as usize;
                let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
                Round::Regression {
                    coordinate,
                    target: theta[coordinate] + sigma * sign,
                }
            }
        }
    }

    /// sigma_t^2 of round t: sigma^2 for the linear and quadratic losses; for regression
    /// max over the ball of ||v||^2 (1/d - 1/d^2) + sigma^2 with v = x - theta_t, whose
    /// largest ||v|| is RADIUS + ||theta_t||.
    pub fn stochastic_variance(&self, _t: usize) -> f64 {
        let sigma2 = self.spec.sigma * self.spec.sigma;
        match self.spec.loss {
            LossKind::Regression => {
                let d = self.spec.dim as f64;
                (RADIUS + CENTRE_NORM).powi(2) * (1.0 / d - 1.0 / (d * d)) + sigma2
            }
            _ => sigma2,
        }
    }

    /// Sigma_t^2 of round t (grad F_0 = 0, so round 1 counts the largest ||grad F_1||^2).
    pub fn adversarial_variation(&self, t: usize) -> f64 {
        let d = self.spec.dim as f64;
        if t == 1 {
            // Linear: ||theta_1||^2; quadratic: max ||x - theta_1||^2 = (R + ||theta_1||)^2.
            return match self.spec.loss {
                LossKind::Linear | LossKind::Experts => CENTRE_NORM.powi(2),
                LossKind::Quadratic => (RADIUS + CENTRE_NORM).powi(2),
                LossKind::Regression => (RADIUS + CENTRE_NORM).powi(2) / (d * d),
            };
        }
        let chord2 = self.spec.variation.powi(2);
        match self.spec.loss {
            LossKind::Regression => chord2 / (d * d),
            _ => chord2,
        }
    }

    /// The constants the learners' step sizes are set from.
    pub fn constants(&self) -> Constants {
        let sigma = self.spec.sigma;
        let d = self.spec.dim as f64;
        match self.spec.loss {
            LossKind::Linear => Constants {
                diameter: 2.0 * RADIUS,
                gradient_bound: CENTRE_NORM + sigma,
                smoothness: 0.0,
                strong_convexity: 0.0,
                exp_concavity: 0.0,
            },
            LossKind::Experts => Constants {
                diameter: 2f64.sqrt(),
                // In the max norm, the dual of the simplex's l1 geometry.
                gradient_bound: CENTRE_NORM + sigma,
                smoothness: 0.0,
                strong_convexity: 0.0,
                exp_concavity: 0.0,
            },
            LossKind::Quadratic => {
                let g = RADIUS + CENTRE_NORM + sigma;
                Constants {
                    diameter: 2.0 * RADIUS,
                    gradient_bound: g,
                    smoothness: 1.0,
                    strong_convexity: 1.0,
                    // lambda-strongly convex with gradients below G: exp-concave with
                    // lambda / G^2.
                    exp_concavity: 1.0 / (g * g),
                }
            }
            LossKind::Regression => {
                let residual = RADIUS + CENTRE_NORM + sigma;
                Constants {
                    diameter: 2.0 * RADIUS,
                    gradient_bound: residual,
                    smoothness: 1.0 / d,
                    strong_convexity: 1.0 / d,
                    // 0.5 (z - b)^2 with |z - b| <= B is 1 / B^2-exp-concave.
                    exp_concavity: 1.0 / (residual * residual),
                }
            }
        }
    }
}

/// Bounds of the losses that the step sizes use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Constants {
    /// D: the largest distance between two decisions.
    pub diameter: f64,
    /// G: the largest gradient norm (max norm on the simplex).
    pub gradient_bound: f64,
    /// L of the expected losses.
    pub smoothness: f64,
    /// lambda of the expected losses (0: none).
    pub strong_convexity: f64,
    /// alpha of every loss (0: none).
    pub exp_concavity: f64,
}

/// A uniform draw from the unit sphere.
fn unit(rng: &mut Rng, dim: usize) -> Vec<f64> {
    loop {
        let v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-12 {
            return v.into_iter().map(|a| a / norm).collect();
        }
    }
}

/// The running sums from which the best fixed decision in hindsight and its total loss
/// follow in closed form for every loss family.
#[derive(Clone, Debug)]
pub struct Hindsight {
    loss: LossKind,
    rounds: usize,
    /// Linear, quadratic: the sum of z_t. Regression: per coordinate the sum of b_t.
    sum: Vec<f64>,
    /// Regression: how often each coordinate was drawn.
    count: Vec<f64>,
    /// Quadratic: sum ||z_t||^2; regression: sum b_t^2.
    squares: f64,
}

impl Hindsight {
    pub fn new(loss: LossKind, dim: usize) -> Self {
        Self {
            loss,
            rounds: 0,
            sum: vec![0.0; dim],
            count: vec![0.0; dim],
            squares: 0.0,
        }
    }

    pub fn add(&mut self, round: &Round) {
        self.rounds += 1;
        match round {
            Round::Linear { z } | Round::Quadratic { z } => {
                self.sum.iter_mut().zip(z).for_each(|(s, v)| *s += v);
                self.squares += z.iter().map(|v| v * v).sum::<f64>();
            }
            Round::Regression { coordinate, target } => {
                self.sum[*coordinate] += target;
                self.count[*coordinate] += 1.0;
                self.squares += target * target;
            }
        }
    }

    /// The best fixed decision for the rounds so far and its total loss.
    pub fn best(&self) -> (Vec<f64>, f64) {
        let s = &self.sum;
        let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
        match self.loss {
            LossKind::Linear => {
                let x: Vec<f64> = if norm > 0.0 {
                    s.iter().map(|v| -RADIUS * v / norm).collect()
                } else {
                    vec![0.0; s.len()]
                };
                (x, -RADIUS * norm)
            }
            LossKind::Experts => {
                let (best, value) =
                    s.iter()
                        .enumerate()
                        .fold(
                            (0, f64::INFINITY),
                            |(bi, bv), (i, &v)| if v < bv { (i, v) } else { (bi, bv) },
                        );
                let mut x = vec![0.0; s.len()];
                x[best] = 1.0;
                (x, value)
            }
            LossKind::Quadratic => {
                // sum 0.5 ||x - z_t||^2 = 0.5 T ||x||^2 - <S, x> + 0.5 sum ||z_t||^2.
                let t = self.rounds.max(1) as f64;
                let mean: Vec<f64> = s.iter().map(|v| v / t).collect();
                let x = super::ball::project(&mean, RADIUS);
                let xx = x.iter().map(|v| v * v).sum::<f64>();
                let value = 0.5 * t * xx - crate::solve::numeric::dot(s, &x) + 0.5 * self.squares;
                (x, value)
            }
            LossKind::Regression => {
                let p = super::ball::Eigen::diagonal(&self.count);
                let x = super::ball::minimise_quadratic(&p, s, RADIUS);
                let value = 0.5
                    * x.iter()
                        .zip(&self.count)
                        .map(|(v, n)| n * v * v)
                        .sum::<f64>()
                    - crate::solve::numeric::dot(s, &x)
                    + 0.5 * self.squares;
                (x, value)
            }
        }
    }
}
