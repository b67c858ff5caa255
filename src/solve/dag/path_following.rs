//! Linear DAG learning by the log-det path-following scheme of DAGMA (Bello et al. 2022), with
//! CoLiDE's concomitant noise-scale estimation (Saboksayr, Mateos, Tepper, ICLR 2024).
//!
//! Each stage minimises mu (score(W, sigma) + lambda ||W||_1) + h_s(W) with Adam from the
//! previous stage's W, where h_s(W) = -ln det(sI - W∘W) + d ln s is zero exactly on DAGs
//! inside the domain of M-matrices; mu shrinks by `mu_factor` per stage so the last stages
//! enforce acyclicity. CoLiDE's score divides the least-squares term by the noise scale
//! sigma and adds d sigma / 2 (one sigma, "EV") or a sigma per variable ("NV"); after every
//! Adam step sigma takes its closed-form minimiser, a block-coordinate step. The port follows
//! the official code (SAMiatto/colide `model.py`, kevinsbello/dagma `linear.py`) step for step,
//! including its retry rule (a stage that leaves the domain restarts with half the learning
//! rate and s + 0.1), its in-stage step-size backoff and its early stop, so its estimates match
//! the official ones to rounding (tests/dag_learning.rs).

use crate::train::CancelToken;
use crate::usage_error;
use faer::Mat;
use serde::Serialize;

/// The score being minimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DagMethod {
    /// DAGMA's least squares 0.5 tr((I-W)^T C (I-W)), no noise scale.
    Dagma,
    /// CoLiDE with one noise scale shared by all variables (equal variances).
    ColideEv,
    /// CoLiDE with a noise scale per variable (non-equal variances).
    ColideNv,
}

/// The path-following schedule and Adam's settings; [`PathSettings::official`] are those of
/// the official demos (`main.py`: lambda 0.05, 4 stages, s = 1, .9, .8, .7).
#[derive(Clone, Debug, Serialize)]
pub struct PathSettings {
    pub lambda1: f64,
    pub stages: usize,
    pub mu_init: f64,
    pub mu_factor: f64,
    /// s per stage; a shorter list repeats its last value.
    pub s: Vec<f64>,
    /// Adam iterations of every stage but the last, and of the last.
    pub warm_iterations: usize,
    pub last_iterations: usize,
    pub learning_rate: f64,
    /// Iterations between early-stopping checks of the objective's relative change.
    pub checkpoint: usize,
    pub tolerance: f64,
    pub beta1: f64,
    pub beta2: f64,
}

impl PathSettings {
    pub fn official() -> Self {
        Self {
            lambda1: 0.05,
            stages: 4,
            mu_init: 1.0,
            mu_factor: 0.1,
            s: vec![1.0, 0.9, 0.8, 0.7],
            warm_iterations: 20_000,
            last_iterations: 70_000,
            learning_rate: 3e-4,
            checkpoint: 1000,
            tolerance: 1e-6,
            beta1: 0.99,
            beta2: 0.999,
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("lambda1", self.lambda1, true),
            ("mu_init", self.mu_init, false),
            ("mu_factor", self.mu_factor, false),
            ("learning_rate", self.learning_rate, false),
        ];
        for (name, value, zero_ok) in positive {
            if !(value.is_finite() && (value > 0.0 || zero_ok && value == 0.0)) {
                return Err(usage_error!(
                    "dag learning: {name} = {value} must be positive"
                ));
            }
        }
        if self.stages == 0 || self.s.is_empty() || self.checkpoint == 0 {
            return Err(usage_error!(
                "dag learning: stages, the s list and checkpoint must be non-empty/positive"
            ));
        }
        if let Some(s) = self.s.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(usage_error!("dag learning: s = {s} must be positive"));
        }
        Ok(())
    }
}

/// One attempt at a stage: its mu, s and learning rate, whether it stayed in the domain and
/// how many Adam iterations it ran.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StageAttempt {
    pub mu: f64,
    pub s: f64,
    pub learning_rate: f64,
    pub success: bool,
    pub iterations: usize,
}

/// The raw estimate (not thresholded): W[i][j] is the weight of the edge i -> j, sigma the
/// noise scale(s) (empty for DAGMA, one value for EV, d for NV).
#[derive(Clone, Debug, Serialize)]
pub struct DagFit {
    pub weights: Vec<Vec<f64>>,
    pub sigma: Vec<f64>,
    pub attempts: Vec<StageAttempt>,
    pub cancelled: bool,
}

/// Fits `method` to the n x d data `x` (rows are samples; centred here, not in place).
/// `on_iterations` is told the Adam iterations done after every attempt.
pub fn fit(
    x: &Mat<f64>,
    method: DagMethod,
    settings: &PathSettings,
    cancel: &CancelToken,
    on_iterations: &mut dyn FnMut(usize),
) -> anyhow::Result<DagFit> {
    settings.check()?;
    let (n, d) = (x.nrows(), x.ncols());
    if n < 2 || d < 2 {
        return Err(usage_error!(
            "dag learning: need at least 2 samples and 2 variables, got {n} x {d}"
        ));
    }
    if let Some((i, j)) = (0..n)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .find(|&(i, j)| !x[(i, j)].is_finite())
    {
        return Err(usage_error!(
            "dag learning: sample {i}, variable {j} is not finite"
        ));
    }
    let problem = Problem::new(x, method);
    if let Some(j) =
        (0..d).find(|&j| problem.cov[(j, j)].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
    {
        return Err(usage_error!(
            "dag learning: variable {j} is constant; its noise scale would be 0"
        ));
    }
    let mut s: Vec<f64> = (0..settings.stages)
        .map(|i| settings.s[i.min(settings.s.len() - 1)])
        .collect();
    let mut w = Mat::<f64>::zeros(d, d);
    let mut sigma = problem.initial_sigma();
    let mut mu = settings.mu_init;
    let mut attempts = Vec::new();
    for (stage, s_stage) in s.iter_mut().enumerate() {
        let iterations = if stage + 1 == settings.stages {
            settings.last_iterations
        } else {
            settings.warm_iterations
        };
        let mut learning_rate = settings.learning_rate;
        loop {
            if cancel.is_cancelled() {
                return Ok(problem.result(w, sigma, attempts, true));
            }
            let start = Iterate {
                w: w.clone(),
                sigma: sigma.clone(),
            };
            let stage_run = StageRun {
                mu,
                s: *s_stage,
                learning_rate,
                iterations,
            };
            let (end, outcome) = problem.minimize(start, stage_run, settings, cancel);
            attempts.push(StageAttempt {
                mu,
                s: *s_stage,
                learning_rate,
                success: outcome.success,
                iterations: outcome.iterations,
            });
            on_iterations(outcome.iterations);
            if outcome.success {
                let finite = (0..d).all(|i| (0..d).all(|j| end.w[(i, j)].is_finite()))
                    && end.sigma.iter().all(|s| s.is_finite());
                if !finite {
                    anyhow::bail!(
                        "dag learning: the estimate became non-finite in stage {}",
                        stage + 1
                    );
                }
                (w, sigma) = (end.w, end.sigma);
                break;
            }
            // The official retry: a gentler step from a wider domain (the sum is accumulated,
            // 0.7 + 0.1 = 0.7999999999999999, as in the official code).
            learning_rate *= 0.5;
            *s_stage += 0.1;
            // The official code retries without end; past s = 10 the domain is so wide that
            // only a broken iterate can still leave it.
            if *s_stage > 10.0 {
                anyhow::bail!(
                    "dag learning: stage {} left the M-matrix domain even at s = {}",
                    stage + 1,
                    *s_stage
                );
            }
        }
        mu *= settings.mu_factor;
    }
    Ok(problem.result(w, sigma, attempts, cancel.is_cancelled()))
}

struct Iterate {
    w: Mat<f64>,
    sigma: Vec<f64>,
}

/// One attempt's constants: mu, s, the starting learning rate and the iteration budget.
struct StageRun {
    mu: f64,
    s: f64,
    learning_rate: f64,
    iterations: usize,
}

struct Outcome {
    success: bool,
    iterations: usize,
}

/// The centred data's covariance and the method.
struct Problem {
    method: DagMethod,
    cov: Mat<f64>,
    d: usize,
}

impl Problem {
    fn new(x: &Mat<f64>, method: DagMethod) -> Self {
        let (n, d) = (x.nrows(), x.ncols());
        let mut centred = x.clone();
        for j in 0..d {
            let mean = (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64;
            for i in 0..n {
                centred[(i, j)] -= mean;
            }
        }
        let product = centred.transpose() * &centred;
        let cov = Mat::from_fn(d, d, |i, j| product[(i, j)] / n as f64);
        Self { method, cov, d }
    }

    /// The official starting scale: the smallest column standard deviation (EV) or each
    /// column's (NV), of the centred data.
    fn initial_sigma(&self) -> Vec<f64> {
        let stds: Vec<f64> = (0..self.d).map(|j| self.cov[(j, j)].sqrt()).collect();
        match self.method {
            DagMethod::Dagma => Vec::new(),
            DagMethod::ColideEv => vec![stds.iter().copied().fold(f64::INFINITY, f64::min)],
            DagMethod::ColideNv => stds,
        }
    }

    /// sigma's closed-form minimiser for fixed W: sqrt(tr(R) / d) or sqrt(R_jj), where
    /// R = (I - W)^T C (I - W).
    fn closed_form_sigma(&self, w: &Mat<f64>) -> Vec<f64> {
        if self.method == DagMethod::Dagma {
            return Vec::new();
        }
        let residual = self.residual_covariance(w);
        let diagonal = (0..self.d).map(|j| residual[(j, j)]);
        match self.method {
            DagMethod::ColideEv => vec![(diagonal.sum::<f64>() / self.d as f64).sqrt()],
            _ => diagonal.map(f64::sqrt).collect(),
        }
    }

    fn identity_minus(&self, w: &Mat<f64>) -> Mat<f64> {
        Mat::from_fn(self.d, self.d, |i, j| {
            f64::from(u8::from(i == j)) - w[(i, j)]
        })
    }

    fn residual_covariance(&self, w: &Mat<f64>) -> Mat<f64> {
        let dif = self.identity_minus(w);
        let rhs = &self.cov * &dif;
        dif.transpose() * rhs
    }

    /// inv(sI - W∘W) + 1e-16 (the official codes' shift), or None when singular.
    fn shifted_inverse(&self, w: &Mat<f64>, s: f64) -> Option<Mat<f64>> {
        let m = self.m_matrix(w, s);
        let inverse = faer::linalg::solvers::DenseSolveCore::inverse(&m.partial_piv_lu());
        let all_finite = (0..self.d).all(|i| (0..self.d).all(|j| inverse[(i, j)].is_finite()));
        all_finite.then(|| Mat::from_fn(self.d, self.d, |i, j| inverse[(i, j)] + 1e-16))
    }

    fn m_matrix(&self, w: &Mat<f64>, s: f64) -> Mat<f64> {
        Mat::from_fn(self.d, self.d, |i, j| {
            s * f64::from(u8::from(i == j)) - w[(i, j)] * w[(i, j)]
        })
    }

    /// Whether sI - W∘W has left the M-matrices: some inverse entry below the code's
    /// tolerance (CoLiDE -1e-6, DAGMA 0), or no inverse at all.
    fn outside_domain(&self, inverse: &Option<Mat<f64>>) -> bool {
        let floor = match self.method {
            DagMethod::Dagma => 0.0,
            _ => -1e-6,
        };
        match inverse {
            None => true,
            Some(m) => (0..self.d).any(|i| (0..self.d).any(|j| m[(i, j)] < floor)),
        }
    }

    /// The objective mu (score + lambda ||W||_1) + h_s(W), for the early-stopping test.
    fn objective(&self, it: &Iterate, mu: f64, s: f64, lambda1: f64) -> f64 {
        let residual = self.residual_covariance(&it.w);
        let d = self.d as f64;
        let trace: f64 = (0..self.d).map(|j| residual[(j, j)]).sum();
        let score = match self.method {
            DagMethod::Dagma => 0.5 * trace,
            DagMethod::ColideEv => 0.5 * trace / it.sigma[0] + 0.5 * it.sigma[0] * d,
            DagMethod::ColideNv => {
                let scaled: f64 = (0..self.d).map(|j| residual[(j, j)] / it.sigma[j]).sum();
                (scaled + it.sigma.iter().sum::<f64>()) / 2.0
            }
        };
        let l1: f64 = (0..self.d)
            .flat_map(|i| (0..self.d).map(move |j| (i, j)))
            .map(|(i, j)| it.w[(i, j)].abs())
            .sum();
        let lu = self.m_matrix(&it.w, s).partial_piv_lu();
        let log_det: f64 = (0..self.d).map(|i| lu.U()[(i, i)].abs().ln()).sum();
        mu * (score + lambda1 * l1) + (-log_det + d * s.ln())
    }

    /// The gradient of mu score(W, sigma) in W: -mu C (I - W) / sigma for EV, with column j
    /// scaled by 1 / sigma_j for NV, and sigma = 1 for DAGMA.
    fn score_gradient(&self, it: &Iterate, mu: f64) -> Mat<f64> {
        let mut g = Mat::from_fn(self.d, self.d, |i, j| -mu * self.cov[(i, j)]);
        g = &g * self.identity_minus(&it.w);
        match self.method {
            DagMethod::Dagma => g,
            DagMethod::ColideEv => Mat::from_fn(self.d, self.d, |i, j| g[(i, j)] / it.sigma[0]),
            DagMethod::ColideNv => {
                Mat::from_fn(self.d, self.d, |i, j| g[(i, j)] * (1.0 / it.sigma[j]))
            }
        }
    }

    /// One stage's Adam iterations (the official `minimize`).
    fn minimize(
        &self,
        mut it: Iterate,
        stage: StageRun,
        settings: &PathSettings,
        cancel: &CancelToken,
    ) -> (Iterate, Outcome) {
        let StageRun {
            mu,
            s,
            mut learning_rate,
            iterations: max_iterations,
        } = stage;
        let d = self.d;
        let mut previous_objective = 1e16;
        let mut first_moment = Mat::<f64>::zeros(d, d);
        let mut second_moment = Mat::<f64>::zeros(d, d);
        let mut step = Mat::<f64>::zeros(d, d);
        let outcome = |success, iterations| Outcome {
            success,
            iterations,
        };
        for iteration in 1..=max_iterations {
            // A stop asked for mid-stage ends it here; `fit` then returns, marked cancelled.
            if iteration % 1000 == 0 && cancel.is_cancelled() {
                return (it, outcome(true, iteration - 1));
            }
            let mut inverse = self.shifted_inverse(&it.w, s);
            while self.outside_domain(&inverse) {
                if iteration == 1 || s <= 0.9 {
                    return (it, outcome(false, iteration - 1));
                }
                // Undo the last step and retry it at half the rate.
                add_scaled(&mut it.w, &step, learning_rate);
                learning_rate *= 0.5;
                if learning_rate <= 1e-16 {
                    return (it, outcome(true, iteration - 1));
                }
                add_scaled(&mut it.w, &step, -learning_rate);
                if self.method != DagMethod::Dagma {
                    it.sigma = self.closed_form_sigma(&it.w);
                }
                inverse = self.shifted_inverse(&it.w, s);
            }
            let inverse = inverse.expect("checked inside the domain");
            let score = self.score_gradient(&it, mu);
            let gradient = Mat::from_fn(d, d, |i, j| {
                let w = it.w[(i, j)];
                score[(i, j)] + mu * settings.lambda1 * sign(w) + 2.0 * w * inverse[(j, i)]
            });
            let t = iteration as f64;
            let (b1, b2) = (settings.beta1, settings.beta2);
            for j in 0..d {
                for i in 0..d {
                    let g = gradient[(i, j)];
                    let m = first_moment[(i, j)] * b1 + (1.0 - b1) * g;
                    let v = second_moment[(i, j)] * b2 + (1.0 - b2) * (g * g);
                    (first_moment[(i, j)], second_moment[(i, j)]) = (m, v);
                    let m_hat = m / (1.0 - b1.powf(t));
                    let v_hat = v / (1.0 - b2.powf(t));
                    step[(i, j)] = m_hat / (v_hat.sqrt() + 1e-8);
                }
            }
            add_scaled(&mut it.w, &step, -learning_rate);
            if self.method != DagMethod::Dagma {
                it.sigma = self.closed_form_sigma(&it.w);
            }
            if iteration % settings.checkpoint == 0 || iteration == max_iterations {
                let objective = self.objective(&it, mu, s, settings.lambda1);
                if ((previous_objective - objective) / previous_objective).abs()
                    <= settings.tolerance
                {
                    return (it, outcome(true, iteration));
                }
                previous_objective = objective;
            }
        }
        (it, outcome(true, max_iterations))
    }

    fn result(
        &self,
        w: Mat<f64>,
        sigma: Vec<f64>,
        attempts: Vec<StageAttempt>,
        cancelled: bool,
    ) -> DagFit {
        DagFit {
            weights: (0..self.d)
                .map(|i| (0..self.d).map(|j| w[(i, j)]).collect())
                .collect(),
            sigma,
            attempts,
            cancelled,
        }
    }
}

/// numpy's sign: 0 at 0 (the subgradient the official codes use), unlike `f64::signum`.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

fn add_scaled(w: &mut Mat<f64>, step: &Mat<f64>, factor: f64) {
    for j in 0..w.ncols() {
        for i in 0..w.nrows() {
            w[(i, j)] += factor * step[(i, j)];
        }
    }
}
