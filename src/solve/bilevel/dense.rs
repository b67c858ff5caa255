//! The few dense operations on one block's (d + 1)-sized vectors and matrices (row-major), kept
//! sequential and allocation-light so a block's update is the same arithmetic on any thread.

pub use crate::solve::numeric::{dot, sigmoid, softplus};

pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `m v` for a row-major square `m`.
pub fn matvec(m: &[f64], v: &[f64]) -> Vec<f64> {
    m.chunks_exact(v.len()).map(|row| dot(row, v)).collect()
}

/// Solves `m x = b` by faer's LU with partial pivoting (the official code multiplies by
/// `np.linalg.inv(m)`, the same solution up to rounding). A singular `m` gives non-finite
/// entries, which the runner reports as divergence, as the official run stops on NaN.
pub fn solve(m: &[f64], b: &[f64]) -> Vec<f64> {
    use faer::linalg::solvers::Solve;
    let n = b.len();
    let matrix = faer::MatRef::from_row_major_slice(m, n, n);
    let rhs = faer::Mat::from_fn(n, 1, |i, _| b[i]);
    let x = matrix.partial_piv_lu().solve(&rhs);
    (0..n).map(|i| x[(i, 0)]).collect()
}
