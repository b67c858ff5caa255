//! Regret against the number of rounds: every learner plays the same seeded SEA
//! environment, and the regret sum_t f_t(x_t) - min_x sum_t f_t(x) (against the best fixed
//! decision for the realised losses) is recorded at doubling round counts, with the
//! cumulative stochastic variance and adversarial variation the bounds are stated in.

use super::environment::{Environment, Hindsight, SeaSpec};
use super::learner::{Curvature, Geometry, Learner, Method};
use crate::train::CancelToken;
use crate::usage_error;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OnlineSettings {
    /// The environment; its seed is replaced by each of `seeds`.
    pub environment: SeaSpec,
    /// The curvature the learners assume; None: the loss's natural one (convex for linear
    /// losses and experts, strongly convex for the quadratic, exp-concave for regression).
    pub curvature: Option<Curvature>,
    pub methods: Vec<Method>,
    pub rounds: usize,
    pub seeds: Vec<u64>,
}

impl OnlineSettings {
    pub fn curvature(&self) -> Curvature {
        use super::environment::LossKind;
        self.curvature.unwrap_or(match self.environment.loss {
            LossKind::Linear | LossKind::Experts => Curvature::Convex,
            LossKind::Quadratic => Curvature::StronglyConvex,
            LossKind::Regression => Curvature::ExpConcave,
        })
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.environment.validate()?;
        if !(16..=10_000_000).contains(&self.rounds) {
            return Err(usage_error!(
                "online: rounds {} is outside 16..=10000000",
                self.rounds
            ));
        }
        if self.methods.is_empty() || self.seeds.is_empty() {
            return Err(usage_error!(
                "online: needs at least one method and one seed"
            ));
        }
        // Every learner must exist for these losses.
        let environment = Environment::new(&self.environment)?;
        for &method in &self.methods {
            Learner::new(
                method,
                self.curvature(),
                geometry(&self.environment),
                environment.constants(),
                self.environment.dim,
            )?;
        }
        Ok(())
    }
}

fn geometry(spec: &SeaSpec) -> Geometry {
    if spec.loss.on_simplex() {
        Geometry::Simplex
    } else {
        Geometry::Ball
    }
}

/// The state after `rounds` rounds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegretPoint {
    pub rounds: usize,
    pub regret: f64,
    /// sigma^2_{1:T}: the sum of the rounds' stochastic variances.
    pub stochastic_variance: f64,
    /// Sigma^2_{1:T}: the sum of the rounds' adversarial variations.
    pub adversarial_variation: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OnlineRun {
    pub method: Method,
    pub seed: u64,
    pub points: Vec<RegretPoint>,
    /// The slope of ln(regret) against ln(T) over the last four doublings (1: linear
    /// growth, 0.5: sqrt(T), about 0: bounded or logarithmic); None when a regret there is
    /// not positive.
    pub growth: Option<f64>,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OnlineReport {
    pub settings: OnlineSettings,
    pub curvature: Curvature,
    pub runs: Vec<OnlineRun>,
    pub cancelled: bool,
}

/// 16, 32, 64, ... below `rounds`, then `rounds`.
pub fn checkpoints(rounds: usize) -> Vec<usize> {
    let mut points: Vec<usize> = std::iter::successors(Some(16usize), |p| p.checked_mul(2))
        .take_while(|&p| p < rounds)
        .collect();
    points.push(rounds);
    points
}

/// Plays `method` for `rounds` rounds of `environment`.
pub fn play(
    environment: &Environment,
    method: Method,
    curvature: Curvature,
    rounds: usize,
    cancel: &CancelToken,
) -> anyhow::Result<Option<OnlineRun>> {
    let spec = &environment.spec;
    let mut learner = Learner::new(
        method,
        curvature,
        geometry(spec),
        environment.constants(),
        spec.dim,
    )?;
    let mut hindsight = Hindsight::new(spec.loss, spec.dim);
    let (mut loss, mut variance, mut variation) = (0.0, 0.0, 0.0);
    let marks = checkpoints(rounds);
    let mut points = Vec::with_capacity(marks.len());
    let start = Instant::now();
    for t in 1..=rounds {
        if t % 4096 == 0 && cancel.is_cancelled() {
            return Ok(None);
        }
        let round = environment.round(t);
        let x = learner.predict();
        loss += round.value(&x);
        learner.observe(&round.gradient(&x));
        hindsight.add(&round);
        variance += environment.stochastic_variance(t);
        variation += environment.adversarial_variation(t);
        if marks.contains(&t) {
            points.push(RegretPoint {
                rounds: t,
                regret: loss - hindsight.best().1,
                stochastic_variance: variance,
                adversarial_variation: variation,
            });
        }
    }
    Ok(Some(OnlineRun {
        method,
        seed: spec.seed,
        growth: growth(&points),
        points,
        seconds: start.elapsed().as_secs_f64(),
    }))
}

/// The least-squares slope of ln(regret) against ln(rounds) over the last five points.
pub fn growth(points: &[RegretPoint]) -> Option<f64> {
    let tail = &points[points.len().saturating_sub(5)..];
    if tail.len() < 3 || tail.iter().any(|p| p.regret <= 0.0) {
        return None;
    }
    let xs: Vec<f64> = tail.iter().map(|p| (p.rounds as f64).ln()).collect();
    let ys: Vec<f64> = tail.iter().map(|p| p.regret.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    Some(sxy / sxx)
}

/// Every method on every seed; `progress` gets the number of (method, seed) runs done.
pub fn run(
    settings: &OnlineSettings,
    progress: &mut dyn FnMut(usize),
    cancel: &CancelToken,
) -> anyhow::Result<OnlineReport> {
    settings.validate()?;
    let curvature = settings.curvature();
    let mut runs = Vec::new();
    for &seed in &settings.seeds {
        let spec = SeaSpec {
            seed,
            ..settings.environment.clone()
        };
        let environment = Environment::new(&spec)?;
        for &method in &settings.methods {
            let Some(run) = play(&environment, method, curvature, settings.rounds, cancel)? else {
                return Ok(OnlineReport {
                    settings: settings.clone(),
                    curvature,
                    runs,
                    cancelled: true,
                });
            };
            runs.push(run);
            progress(runs.len());
        }
    }
    Ok(OnlineReport {
        settings: settings.clone(),
        curvature,
        runs,
        cancelled: false,
    })
}
