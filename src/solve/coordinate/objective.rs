//! What block coordinate descent needs of a problem: values and gradients kept current under
//! block steps, per-coordinate Lipschitz constants, the matrix of a quadratic upper bound
//! (what the paper calls H_b / L_b), the exact block Hessian for Newton steps, and, for
//! sparse quadratics, the Hessian's graph for forest-structured blocks.

use super::forest::Graph;
use faer::{Mat, Side};

/// The iterate and what a problem keeps up to date with it.
#[derive(Clone, Debug)]
pub struct Point {
    pub x: Vec<f64>,
    /// grad f(x), refreshed by every [`Objective::step`].
    pub gradient: Vec<f64>,
    /// Problem-specific state (the margins A x of a linear model; empty for quadratics).
    pub cache: Vec<f64>,
}

pub trait Objective: Sync {
    /// The number of coordinates.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// x = 0 with its gradient.
    fn start(&self) -> Point;

    fn value(&self, point: &Point) -> f64;

    /// f(x + delta on `block`), leaving `point` unchanged (for line searches).
    fn value_after(&self, point: &Point, block: &[usize], delta: &[f64]) -> f64;

    /// x_block += delta, with the gradient (and cache) brought up to date.
    fn step(&self, point: &mut Point, block: &[usize], delta: &[f64]);

    /// L_i: |grad_i f(x + t e_i) - grad_i f(x)| <= L_i |t| for every x.
    fn coordinate_lipschitz(&self) -> &[f64];

    /// M_bb such that f(x + d) <= f(x) + g_b^T d + d^T M_bb d / 2 for every x and every d
    /// supported on `block` (the Hessian for quadratics, A_b^T A_b / 4 for logistic loss).
    fn bound_matrix(&self, block: &[usize]) -> Mat<f64>;

    /// M v for the full bound matrix (the iterative hard thresholding of variable-block GSQ).
    fn bound_product(&self, v: &[f64]) -> Vec<f64>;

    /// sum_j |M_ij| for every i: a diagonal bound M <= diag(row sums).
    fn bound_row_sums(&self) -> Vec<f64>;

    /// The exact Hessian on `block` at `point`.
    fn hessian(&self, point: &Point, block: &[usize]) -> Mat<f64>;

    /// The sparsity graph of a sparse quadratic's Hessian (forest blocks need it).
    fn graph(&self) -> Option<&Graph> {
        None
    }

    /// M_ij of a sparse quadratic (the tree solve reads its edges one by one).
    fn bound_entry(&self, i: usize, j: usize) -> f64 {
        self.bound_matrix(&[i, j])[(0, 1)]
    }

    /// Whether the problem is constrained to x >= 0 (projected updates only).
    fn nonnegative(&self) -> bool {
        false
    }

    /// f* = min f, the reference of the trace.
    fn minimum(&self) -> anyhow::Result<f64>;
}

/// lambda_max of a symmetric block (0 for an empty block); the trace bounds it when the
/// eigen solver fails.
pub fn largest_eigenvalue(m: &Mat<f64>) -> f64 {
    match m.self_adjoint_eigenvalues(Side::Lower) {
        Ok(values) => values.into_iter().fold(0.0, f64::max),
        Err(_) => (0..m.nrows()).map(|a| m[(a, a)]).sum(),
    }
}

/// lambda_max of the full bound matrix by power iteration on [`Objective::bound_product`]
/// (relative change below 1e-9, at most 1,000 products).
pub fn largest_bound_eigenvalue(problem: &dyn Objective) -> f64 {
    let n = problem.len();
    let mut v: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 0.01).collect();
    let mut estimate = 0.0;
    for _ in 0..1000 {
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            break;
        }
        v.iter_mut().for_each(|a| *a /= norm);
        let w = problem.bound_product(&v);
        let next: f64 = w.iter().zip(&v).map(|(a, b)| a * b).sum();
        v = w;
        if (next - estimate).abs() <= 1e-9 * next.abs() {
            return next;
        }
        estimate = next;
    }
    estimate
}

pub use crate::solve::numeric::dot;
