//! Block updates of the paper and its official code: the gradient step with the block's
//! Lipschitz constant ("Lb"), the step with the bound matrix ("Hb": exact block minimisation
//! for quadratics, by tree elimination on forest blocks), Newton with the official line
//! search ("LS"), and for x >= 0 projected gradient ("Lb-NN"), two-metric projection
//! ("TMP-NN") and projected Newton, the block's quadratic program solved exactly ("qp-nn").

use super::block_qp::nonnegative_qp;
use super::forest::solve_forest;
use super::line_search::interpolating_backtracking;
use super::objective::{Objective, Point, dot, largest_eigenvalue};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Update {
    /// x_b -= g_b / L_b with L_b = lambda_max(M_bb).
    Lipschitz,
    /// x_b -= M_bb^-1 g_b: the bound's minimiser (exact for a quadratic).
    Matrix,
    /// x_b -= alpha H_bb^-1 g_b with the exact Hessian and the official line search.
    Newton,
    /// x_b = max(x_b - g_b / L_b, 0).
    ProjectedGradient,
    /// Two-metric projection: Newton on the free coordinates, scaled gradient on those at
    /// the bound, projected line search.
    TwoMetric,
    /// The block's quadratic program under x_b >= 0 solved exactly.
    ProjectedNewton,
}

impl Update {
    pub fn projected(self) -> bool {
        matches!(
            self,
            Update::ProjectedGradient | Update::TwoMetric | Update::ProjectedNewton
        )
    }
}

/// The change of x on `block` that `update` makes at `point`. `forest`: the block is a
/// forest of the problem's graph (matrix updates then solve by elimination in O(|b|)).
pub fn block_delta(
    problem: &dyn Objective,
    point: &Point,
    block: &[usize],
    update: Update,
    forest: bool,
) -> anyhow::Result<Vec<f64>> {
    let g: Vec<f64> = block.iter().map(|&i| point.gradient[i]).collect();
    let xb: Vec<f64> = block.iter().map(|&i| point.x[i]).collect();
    let minus_g: Vec<f64> = g.iter().map(|v| -v).collect();
    Ok(match update {
        Update::Lipschitz => {
            let l = largest_eigenvalue(&problem.bound_matrix(block));
            g.iter().map(|v| -v / l).collect()
        }
        Update::Matrix => {
            let forest_step = if forest {
                solve_forest(problem, block, &minus_g)
            } else {
                None
            };
            match forest_step {
                Some(d) => d,
                None => solve_psd(&problem.bound_matrix(block), &minus_g),
            }
        }
        Update::Newton => {
            let d = solve_psd(&problem.hessian(point, block), &minus_g);
            let f0 = problem.value(point);
            let scaled = |alpha: f64| d.iter().map(|v| alpha * v).collect::<Vec<f64>>();
            let alpha = interpolating_backtracking(f0, dot(&g, &d), |alpha| {
                problem.value_after(point, block, &scaled(alpha))
            });
            scaled(alpha)
        }
        Update::ProjectedGradient => {
            let l = largest_eigenvalue(&problem.bound_matrix(block));
            g.iter()
                .zip(&xb)
                .map(|(gi, xi)| (xi - gi / l).max(0.0) - xi)
                .collect()
        }
        Update::TwoMetric => two_metric(problem, point, block, &g, &xb),
        Update::ProjectedNewton => {
            // min over y >= 0 of 1/2 y^T H y + (g_b - H x_b)^T y, exact for a quadratic.
            let h = problem.hessian(point, block);
            let q: Vec<f64> = (0..block.len())
                .map(|a| g[a] - (0..block.len()).map(|c| h[(a, c)] * xb[c]).sum::<f64>())
                .collect();
            let y = nonnegative_qp(&h, &q)?;
            y.iter().zip(&xb).map(|(y, x)| y - x).collect()
        }
    })
}

/// The official TMP-NN step: coordinates at (within 1e-4 of) the bound with a positive
/// gradient are active and get the gradient scaled by 1 / sum of their L_i; the others a
/// Newton direction; then the projected line search.
fn two_metric(
    problem: &dyn Objective,
    point: &Point,
    block: &[usize],
    g: &[f64],
    xb: &[f64],
) -> Vec<f64> {
    let lipschitz = problem.coordinate_lipschitz();
    let active: Vec<bool> = g
        .iter()
        .zip(xb)
        .map(|(g, x)| *x < 1e-4 && *g > 0.0)
        .collect();
    let active_l: f64 = block
        .iter()
        .zip(&active)
        .filter(|(_, a)| **a)
        .map(|(&i, _)| lipschitz[i])
        .sum();
    let hessian = problem.hessian(point, block);
    let size = block.len();
    let h = Mat::from_fn(size, size, |a, c| match (active[a], active[c]) {
        (false, false) => hessian[(a, c)],
        (true, true) if a == c => 1.0,
        _ => 0.0,
    });
    let scaled_g: Vec<f64> = g
        .iter()
        .zip(&active)
        .map(|(g, a)| if *a { g / active_l } else { *g })
        .collect();
    let minus: Vec<f64> = scaled_g.iter().map(|v| -v).collect();
    let d = solve_psd(&h, &minus);
    let projected = |alpha: f64| -> Vec<f64> {
        d.iter()
            .zip(xb)
            .map(|(d, x)| (x + alpha * d).max(0.0) - x)
            .collect()
    };
    let f0 = problem.value(point);
    let alpha = interpolating_backtracking(f0, dot(&scaled_g, &d), |alpha| {
        problem.value_after(point, block, &projected(alpha))
    });
    projected(alpha)
}

/// M z = rhs for a symmetric positive semi-definite M: Cholesky, or the pseudo-inverse
/// (eigenvalues below 1e-12 lambda_max dropped) as the official `pinv`.
pub fn solve_psd(m: &Mat<f64>, rhs: &[f64]) -> Vec<f64> {
    let size = rhs.len();
    let b = Mat::from_fn(size, 1, |i, _| rhs[i]);
    if let Ok(llt) = m.llt(Side::Lower) {
        let z = llt.solve(&b);
        let z: Vec<f64> = (0..size).map(|i| z[(i, 0)]).collect();
        if z.iter().all(|v| v.is_finite()) {
            return z;
        }
    }
    let Ok(eigen) = m.self_adjoint_eigen(Side::Lower) else {
        return vec![0.0; size];
    };
    let values = eigen.S().column_vector();
    let vectors = eigen.U();
    let top = (0..size).fold(0.0_f64, |t, k| t.max(values[k].abs()));
    let mut z = vec![0.0; size];
    for k in 0..size {
        if values[k] > 1e-12 * top {
            let coefficient = (0..size).map(|i| vectors[(i, k)] * rhs[i]).sum::<f64>() / values[k];
            for (i, zi) in z.iter_mut().enumerate() {
                *zi += coefficient * vectors[(i, k)];
            }
        }
    }
    z
}
