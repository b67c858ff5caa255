//! Sinkhorn's algorithm in log domain: alternate exact maximisation of the dual over x and
//! over y (each matches one marginal), the baseline Sinkhorn-Newton-Sparse accelerates.

use super::dual::{DualKernel, Potentials};
use super::trace::{Stop, Trace};

/// One Sinkhorn sweep from `p`; `row_log_sums` are ln (P 1) at `p`, computed by the caller
/// (it also needs them to measure the error of `p`). After the sweep the columns match.
pub fn sweep(kernel: &DualKernel, p: &mut Potentials, row_log_sums: &[f64]) {
    let problem = kernel.problem;
    for ((x, r), l) in p.x.iter_mut().zip(&problem.source).zip(row_log_sums) {
        *x += (r.ln() - l) / problem.eta;
    }
    let column_log_sums = kernel.log_column_sums(p);
    for ((y, c), l) in p.y.iter_mut().zip(&problem.target).zip(&column_log_sums) {
        *y += (c.ln() - l) / problem.eta;
    }
}

/// The row error ||P 1 - source||_1 from ln (P 1); after a sweep the column error is zero up
/// to rounding, so this is the marginal error of the iterate.
pub fn row_error(row_log_sums: &[f64], source: &[f64]) -> f64 {
    row_log_sums
        .iter()
        .zip(source)
        .map(|(l, r)| (l.exp() - r).abs())
        .sum()
}

/// Sinkhorn sweeps from `p` until the marginal error is below `stop.tolerance`, the
/// iteration budget is spent or `stop` cancels; every iterate's error goes into the trace
/// (the row error, which after a sweep is the whole error up to the columns' rounding; both
/// marginals once it is below the tolerance).
pub fn solve(kernel: &DualKernel, p: &mut Potentials, stop: &Stop, trace: &mut Trace) {
    loop {
        let row_log_sums = kernel.log_row_sums(p);
        let mut error = row_error(&row_log_sums, &kernel.problem.source);
        // The columns are exact only up to rounding (~eta ulp(y)); a stop needs both.
        if error <= stop.tolerance {
            error = kernel.marginal_error(p);
        }
        trace.record(error);
        if stop.done(trace) {
            return;
        }
        sweep(kernel, p, &row_log_sums);
        trace.iterations += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::transport::problem::TransportProblem;

    /// One sweep from zero potentials on a 2 x 2 problem, by hand: x_i = (ln a_i + 1 -
    /// ln sum_j exp(-eta C_ij)) / eta, then y likewise against the new x; afterwards the
    /// columns of the plan match the target.
    #[test]
    fn one_sweep_by_hand() {
        let (cost, eta) = (vec![0.0, 1.0, 2.0, 0.5], 2.0);
        let problem =
            TransportProblem::new(cost.clone(), vec![0.3, 0.7], vec![0.6, 0.4], eta).unwrap();
        let kernel = DualKernel::new(&problem);
        let mut p = Potentials::zeros(&problem);
        let rows = kernel.log_row_sums(&p);
        sweep(&kernel, &mut p, &rows);
        let x: Vec<f64> = (0..2)
            .map(|i| {
                let s: f64 = (0..2).map(|j| (-eta * cost[i * 2 + j] - 1.0).exp()).sum();
                (problem.source[i].ln() - s.ln()) / eta
            })
            .collect();
        for (got, expected) in p.x.iter().zip(&x) {
            assert!((got - expected).abs() < 1e-15);
        }
        let columns: Vec<f64> = kernel.log_column_sums(&p).iter().map(|l| l.exp()).collect();
        assert!((columns[0] - 0.6).abs() < 1e-15 && (columns[1] - 0.4).abs() < 1e-15);
    }
}
