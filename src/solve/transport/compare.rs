//! Sinkhorn against Sinkhorn-Newton-Sparse on one problem: iterations and time to each
//! marginal-error level, and the plans' costs.

use super::dual::{DualKernel, Potentials};
use super::problem::TransportProblem;
use super::sparse_newton::{NewtonSettings, NewtonStats};
use super::trace::{Iterate, Stop, Trace};
use super::{sinkhorn, sparse_newton};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TransportMethod {
    Sinkhorn,
    /// Sinkhorn-Newton-Sparse.
    Sns,
}

/// One method's solve.
#[derive(Clone, Debug, Serialize)]
pub struct TransportReport {
    pub method: TransportMethod,
    pub iterations: usize,
    pub seconds: f64,
    pub marginal_error: f64,
    /// The first iterate at or below each error level of [`ERROR_LEVELS`] (None: not reached).
    pub reached: Vec<(f64, Option<Iterate>)>,
    /// <C, P> and the entropic objective <C, P> - H(P) / eta (= the dual value at the optimum).
    pub transport_cost: f64,
    pub dual_value: f64,
    pub newton: Option<NewtonStats>,
    pub trace: Trace,
}

pub const ERROR_LEVELS: [f64; 4] = [1e-3, 1e-6, 1e-9, 1e-12];

/// Solves `problem` with `method` from zero potentials.
pub fn solve(
    problem: &TransportProblem,
    method: TransportMethod,
    newton: &NewtonSettings,
    stop: &Stop,
) -> (Potentials, TransportReport) {
    let kernel = DualKernel::new(problem);
    let mut p = Potentials::zeros(problem);
    let mut trace = Trace::new();
    let stats = match method {
        TransportMethod::Sinkhorn => {
            sinkhorn::solve(&kernel, &mut p, stop, &mut trace);
            None
        }
        TransportMethod::Sns => Some(sparse_newton::solve(
            &kernel, &mut p, newton, stop, &mut trace,
        )),
    };
    let seconds = trace.iterates.last().map_or(0.0, |i| i.seconds);
    let report = TransportReport {
        method,
        iterations: trace.iterations,
        seconds,
        marginal_error: kernel.marginal_error(&p),
        reached: ERROR_LEVELS
            .iter()
            .map(|&l| (l, trace.reached(l)))
            .collect(),
        transport_cost: kernel.transport_cost(&p),
        dual_value: kernel.value(&p),
        newton: stats,
        trace,
    };
    (p, report)
}
