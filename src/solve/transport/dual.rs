//! The entropic dual in log domain: potentials (x, y) define the plan
//! P_ij = exp(eta (x_i + y_j - C_ij) - 1), and the concave dual (the paper's Lyapunov
//! function) f(x, y) = -(1/eta) sum_ij P_ij + <source, x> + <target, y> has gradient
//! (source - P 1, target - P^T 1). Every sum over a row or column is a log-sum-exp, so large
//! eta (near the unregularised problem) neither overflows nor loses the small entries.

use super::problem::TransportProblem;
use rayon::prelude::*;

/// The dual variables of a transport problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Potentials {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

impl Potentials {
    pub fn zeros(problem: &TransportProblem) -> Self {
        Self {
            x: vec![0.0; problem.rows()],
            y: vec![0.0; problem.cols()],
        }
    }
}

/// A problem with its cost also stored column-major, so both marginals are row sweeps.
pub struct DualKernel<'a> {
    pub problem: &'a TransportProblem,
    cost_by_column: Vec<f64>,
}

impl<'a> DualKernel<'a> {
    pub fn new(problem: &'a TransportProblem) -> Self {
        let (n, m) = (problem.rows(), problem.cols());
        let mut cost_by_column = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                cost_by_column[j * n + i] = problem.cost[i * m + j];
            }
        }
        Self {
            problem,
            cost_by_column,
        }
    }

    /// ln P_ij.
    pub fn log_plan(&self, p: &Potentials, i: usize, j: usize) -> f64 {
        let m = self.problem.cols();
        self.problem.eta * (p.x[i] + p.y[j] - self.problem.cost[i * m + j]) - 1.0
    }

    /// ln (P 1)_i for every row.
    pub fn log_row_sums(&self, p: &Potentials) -> Vec<f64> {
        log_sums(&self.problem.cost, &p.x, &p.y, self.problem.eta)
    }

    /// ln (P^T 1)_j for every column.
    pub fn log_column_sums(&self, p: &Potentials) -> Vec<f64> {
        log_sums(&self.cost_by_column, &p.y, &p.x, self.problem.eta)
    }

    /// f(x, y); the plan's total mass from its row sums.
    pub fn value(&self, p: &Potentials) -> f64 {
        let mass: f64 = self.log_row_sums(p).iter().map(|l| l.exp()).sum();
        let problem = self.problem;
        -mass / problem.eta + dot(&problem.source, &p.x) + dot(&problem.target, &p.y)
    }

    /// The dense plan, row-major.
    pub fn plan(&self, p: &Potentials) -> Vec<f64> {
        let m = self.problem.cols();
        let mut plan = vec![0.0; self.problem.cost.len()];
        plan.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = self.log_plan(p, i, j).exp();
            }
        });
        plan
    }

    /// ||P 1 - source||_1 + ||P^T 1 - target||_1, the paper's (and POT's) convergence measure.
    pub fn marginal_error(&self, p: &Potentials) -> f64 {
        let rows = self.log_row_sums(p);
        let cols = self.log_column_sums(p);
        l1_gap(&rows, &self.problem.source) + l1_gap(&cols, &self.problem.target)
    }

    /// <C, P>, the transport cost of the plan (without the entropy term).
    pub fn transport_cost(&self, p: &Potentials) -> f64 {
        let m = self.problem.cols();
        self.problem
            .cost
            .par_chunks(m)
            .enumerate()
            .map(|(i, costs)| {
                let eta = self.problem.eta;
                costs
                    .iter()
                    .zip(&p.y)
                    .map(|(c, y)| c * (eta * (p.x[i] + y - c) - 1.0).exp())
                    .sum::<f64>()
            })
            .sum()
    }
}

/// For each row i of `cost` (rows x cols): ln sum_j exp(eta (own_i + other_j - cost_ij) - 1).
fn log_sums(cost: &[f64], own: &[f64], other: &[f64], eta: f64) -> Vec<f64> {
    let cols = other.len();
    cost.par_chunks(cols)
        .zip(own)
        .map(|(costs, &o)| {
            let max = costs
                .iter()
                .zip(other)
                .map(|(c, y)| y - c)
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = costs
                .iter()
                .zip(other)
                .map(|(c, y)| (eta * (y - c - max)).exp())
                .sum();
            eta * (o + max) - 1.0 + sum.ln()
        })
        .collect()
}

fn l1_gap(log_sums: &[f64], histogram: &[f64]) -> f64 {
    log_sums
        .iter()
        .zip(histogram)
        .map(|(l, h)| (l.exp() - h).abs())
        .sum()
}

pub(super) use crate::solve::numeric::dot;
