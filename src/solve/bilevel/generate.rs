//! Generated stand-ins for the official a8a/w8a runs (no data download): one Gaussian binary
//! data set shared by all tasks, labelled by a random linear rule, with a fraction of the
//! training labels flipped so that re-weighting training samples (the hyper-parameter p) can
//! lower the clean validation loss.

use super::problem::BilevelProblem;
use crate::rng::{Rng, Stream};
use crate::usage_error;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProblemSpec {
    /// m, the number of blocks (the official `--task_num`, 100).
    pub tasks: usize,
    pub features: usize,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    /// The probability that a training label is flipped (validation and test are clean).
    pub label_noise: f64,
    pub seed: u64,
}

impl ProblemSpec {
    /// A small problem that runs in seconds: 20 tasks, 10 features, 1,000 training samples
    /// of which 30% have a flipped label.
    pub fn small() -> ProblemSpec {
        ProblemSpec {
            tasks: 20,
            features: 10,
            train: 1000,
            val: 500,
            test: 500,
            label_noise: 0.3,
            seed: 0,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.tasks == 0 {
            return Err(usage_error!("bilevel: tasks = 0: expected at least 1"));
        }
        for (name, value) in [
            ("features", self.features),
            ("train", self.train),
            ("val", self.val),
            ("test", self.test),
        ] {
            if value == 0 {
                return Err(usage_error!("bilevel: {name} = 0: expected at least 1"));
            }
        }
        if !(0.0..0.5).contains(&self.label_noise) {
            return Err(usage_error!(
                "bilevel: label_noise = {}: expected a probability in [0, 0.5)",
                self.label_noise
            ));
        }
        Ok(())
    }
}

/// Draws the problem of `spec`: features N(0, 1), labels sign(w*.x + b*) for a rule
/// w* ~ N(0, I), b* ~ N(0, 0.25), task scales 1 + 10 U[0, 1) as in the official `sig_list.p`.
pub fn generate(spec: &ProblemSpec) -> anyhow::Result<BilevelProblem> {
    spec.validate()?;
    let mut rule = Rng::new(spec.seed, Stream::Solve, 40, 0);
    let w: Vec<f64> = (0..spec.features).map(|_| rule.normal()).collect();
    let b = 0.5 * rule.normal();
    let split = |index: u64, n: usize, noise: f64| {
        let mut rng = Rng::new(spec.seed, Stream::Solve, 40, index);
        let mut rows = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let x: Vec<f64> = (0..spec.features).map(|_| rng.normal()).collect();
            let margin: f64 = x.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>() + b;
            let clean = if margin >= 0.0 { 1.0 } else { -1.0 };
            labels.push(if rng.uniform() < noise { -clean } else { clean });
            rows.push(x);
        }
        (rows, labels)
    };
    let train = split(1, spec.train, spec.label_noise);
    let val = split(2, spec.val, 0.0);
    let test = split(3, spec.test, 0.0);
    let mut scales = Rng::new(spec.seed, Stream::Solve, 40, 4);
    let sigma = (0..spec.tasks)
        .map(|_| 1.0 + 10.0 * scales.uniform())
        .collect();
    BilevelProblem::from_rows(
        (&train.0, &train.1),
        (&val.0, &val.1),
        (&test.0, &test.1),
        sigma,
    )
}
