//! Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024): a few Sinkhorn sweeps, then Newton steps
//! on the concave dual f(x, y) whose Hessian -eta [diag(P 1), P; P^T, diag(P^T 1)] is
//! sparsified to the largest entries of the plan (near the optimum the plan concentrates on
//! few entries per row, so little is lost), solved by conjugate gradient and followed by a
//! backtracking line search. Each Newton step costs O(n^2) for the plan plus O(nnz) per CG
//! iteration, against Sinkhorn's O(n^2) per sweep, but converges superlinearly where
//! Sinkhorn's rate degrades as eta grows.

use super::dual::{DualKernel, Potentials, dot};
use super::sinkhorn;
use super::trace::{Stop, Trace};
use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::matrix_free::conjugate_gradient::{
    CgParams, conjugate_gradient, conjugate_gradient_scratch,
};
use faer::sparse::{SparseRowMat, Triplet};
use faer::{Col, Mat, Par};
use rayon::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct NewtonSettings {
    /// Sinkhorn sweeps before the first Newton step (the paper's N1).
    pub sinkhorn_sweeps: usize,
    /// Plan entries kept in the sparsified Hessian per row of the plan: the largest
    /// `density (n + m) / 2` entries. The paper keeps lambda (2n)^2 entries of the 2n x 2n
    /// Hessian with lambda = 2 / n, of which 2n are the diagonal: 3n plan entries, density 3.
    /// The default 10 is measured (README): on the random 500 x 500 problem density 3 needs
    /// 29 Newton steps to a marginal error of 1e-13, 10 needs 5; on the image pairs (whose
    /// plans at eta = 1200 are blurred over neighbouring pixels) 921 against 17.
    pub density: f64,
    /// Conjugate gradient: relative residual and iteration cap (at most the system size).
    pub cg_tolerance: f64,
    pub cg_max_iterations: usize,
    /// Armijo's sufficient-increase constant of the line search.
    pub armijo: f64,
}

impl Default for NewtonSettings {
    fn default() -> Self {
        Self {
            sinkhorn_sweeps: 20,
            density: 10.0,
            cg_tolerance: 1e-10,
            cg_max_iterations: usize::MAX,
            armijo: 1e-4,
        }
    }
}

/// What the Newton stage did, for the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NewtonStats {
    pub newton_steps: usize,
    pub cg_iterations: usize,
    pub line_search_halvings: usize,
    /// Steps where the line search found no increase and a Sinkhorn sweep was taken instead.
    pub fallback_sweeps: usize,
    /// Mean fraction of the plan's entries kept in the sparsified Hessian.
    pub kept_fraction: f64,
    /// Stopped because 1,000 Newton steps did not lower the error (a rounding floor: at
    /// large eta, eta (x_i + y_j - C_ij) loses digits, e.g. ~1e-12 at eta = 1e4).
    pub stalled: bool,
}

/// Newton steps without a new lowest error after which the solve counts as stalled; long,
/// because on degenerate costs (L1 on a grid) the error plateaus for ~250 steps before
/// converging.
const STALL_STEPS: usize = 1000;

/// Solves from `p` (usually zeros); every iterate's marginal error goes into `trace`.
pub fn solve(
    kernel: &DualKernel,
    p: &mut Potentials,
    settings: &NewtonSettings,
    stop: &Stop,
    trace: &mut Trace,
) -> NewtonStats {
    let warmup = Stop {
        max_iterations: settings.sinkhorn_sweeps.min(stop.max_iterations),
        ..stop.clone()
    };
    sinkhorn::solve(kernel, p, &warmup, trace);
    let mut stats = NewtonStats::default();
    let problem = kernel.problem;
    let (n, m) = (problem.rows(), problem.cols());
    let mut kept_total = 0.0;
    let (mut best_error, mut best_at) = (f64::INFINITY, 0);
    loop {
        let plan = kernel.plan(p);
        let (row_sums, column_sums) = marginals(&plan, n, m);
        let gradient: Vec<f64> = problem
            .source
            .iter()
            .zip(&row_sums)
            .chain(problem.target.iter().zip(&column_sums))
            .map(|(h, s)| h - s)
            .collect();
        // The warm-up's last iterate is already recorded, with its row error only.
        let error = gradient.iter().map(|g| g.abs()).sum();
        match trace.iterates.last_mut() {
            Some(last) if last.iteration == trace.iterations => last.marginal_error = error,
            _ => trace.record(error),
        }
        if stop.done(trace) {
            break;
        }
        if trace.last_error() < best_error {
            (best_error, best_at) = (trace.last_error(), stats.newton_steps);
        } else if stats.newton_steps - best_at >= STALL_STEPS {
            stats.stalled = true;
            break;
        }
        let (hessian, kept) = sparsified_hessian(&plan, &row_sums, &column_sums, settings);
        kept_total += kept as f64 / (n * m) as f64;
        let rhs = rhs_without_gauge(&gradient, n, problem.eta);
        let diagonal: Vec<f64> = row_sums.iter().chain(&column_sums).copied().collect();
        let (direction, cg_iterations) =
            conjugate_gradient_solve(&hessian, &diagonal, &rhs, settings);
        stats.cg_iterations += cg_iterations;
        match line_search(kernel, p, &plan, &direction, &gradient, settings.armijo) {
            Some((next, halvings)) => {
                *p = next;
                stats.line_search_halvings += halvings;
            }
            None => {
                let row_log_sums = kernel.log_row_sums(p);
                sinkhorn::sweep(kernel, p, &row_log_sums);
                stats.fallback_sweeps += 1;
            }
        }
        stats.newton_steps += 1;
        trace.iterations += 1;
    }
    stats.kept_fraction = kept_total / stats.newton_steps.max(1) as f64;
    stats
}

fn marginals(plan: &[f64], n: usize, m: usize) -> (Vec<f64>, Vec<f64>) {
    let rows: Vec<f64> = plan.chunks(m).map(|r| r.iter().sum()).collect();
    let mut columns = vec![0.0; m];
    for row in plan.chunks(m) {
        for (c, v) in columns.iter_mut().zip(row) {
            *c += v;
        }
    }
    debug_assert_eq!(rows.len(), n);
    (rows, columns)
}

/// The sparsified (positive semi-definite) Hessian of -f / eta: exact diagonal blocks (row
/// and column sums of the full plan) and the plan's `density (n + m) / 2` largest entries
/// as the off-diagonal blocks; returns the matrix and how many plan entries it keeps. The
/// exact diagonal makes every row that lost an entry strictly dominant, which lifts the null
/// direction (1, -1) of the full Hessian.
fn sparsified_hessian(
    plan: &[f64],
    row_sums: &[f64],
    column_sums: &[f64],
    settings: &NewtonSettings,
) -> (SparseRowMat<usize, f64>, usize) {
    let (n, m) = (row_sums.len(), column_sums.len());
    let keep = ((settings.density * (n + m) as f64 / 2.0).ceil() as usize).clamp(1, n * m);
    let mut values = plan.to_vec();
    let (_, threshold, _) = values.select_nth_unstable_by(n * m - keep, |a, b| a.total_cmp(b));
    let threshold = *threshold;
    let mut entries: Vec<Triplet<usize, usize, f64>> = Vec::with_capacity(2 * keep + n + m);
    let mut kept = 0;
    for (k, &v) in plan.iter().enumerate() {
        if v >= threshold && v > 0.0 && kept < keep {
            let (i, j) = (k / m, k % m);
            entries.push(Triplet::new(i, n + j, v));
            entries.push(Triplet::new(n + j, i, v));
            kept += 1;
        }
    }
    for (i, &s) in row_sums.iter().enumerate() {
        entries.push(Triplet::new(i, i, s));
    }
    for (j, &s) in column_sums.iter().enumerate() {
        entries.push(Triplet::new(n + j, n + j, s));
    }
    let hessian =
        SparseRowMat::try_new_from_triplets(n + m, n + m, &entries).expect("indices are in range");
    (hessian, kept)
}

/// CG on H d = rhs, preconditioned by H's diagonal (the marginals, which span many orders of
/// magnitude at large eta); a non-converged solve still gives an ascent direction, checked
/// by the line search.
fn conjugate_gradient_solve(
    hessian: &SparseRowMat<usize, f64>,
    diagonal: &[f64],
    rhs: &[f64],
    settings: &NewtonSettings,
) -> (Vec<f64>, usize) {
    let dim = rhs.len();
    let preconditioner: Diag<f64> = Col::from_fn(dim, |i| {
        let d = diagonal[i];
        if d > 0.0 { 1.0 / d } else { 1.0 }
    })
    .into_diagonal();
    let b = Mat::from_fn(dim, 1, |i, _| rhs[i]);
    let mut x = Mat::<f64>::zeros(dim, 1);
    let params = CgParams {
        // From x = 0, but declared "maybe nonzero": faer 0.24's CG leaves its residual
        // uninitialised under `InitialGuessStatus::Zero` (NaN results; tested below).
        initial_guess: faer::matrix_free::InitialGuessStatus::MaybeNonZero,
        abs_tolerance: 0.0,
        rel_tolerance: settings.cg_tolerance,
        max_iters: settings.cg_max_iterations.min(dim),
        ..Default::default()
    };
    let mut buffer = MemBuffer::new(conjugate_gradient_scratch(
        &preconditioner,
        hessian,
        1,
        Par::Seq,
    ));
    let result = conjugate_gradient(
        x.as_mut(),
        &preconditioner,
        hessian,
        b.as_ref(),
        params,
        |_| {},
        Par::Seq,
        MemStack::new(&mut buffer),
    );
    let iterations = match result {
        Ok(info) => info.iter_count,
        Err(_) => settings.cg_max_iterations.min(dim),
    };
    ((0..dim).map(|i| x[(i, 0)]).collect(), iterations)
}

/// g / eta without its component along the gauge direction v = (1, -1), which the Hessian
/// does not see (zero in exact arithmetic, since both histograms have the same mass).
fn rhs_without_gauge(gradient: &[f64], n: usize, eta: f64) -> Vec<f64> {
    let along: f64 = gradient[..n].iter().sum::<f64>() - gradient[n..].iter().sum::<f64>();
    let shift = along / gradient.len() as f64;
    gradient
        .iter()
        .enumerate()
        .map(|(k, g)| (g - if k < n { shift } else { -shift }) / eta)
        .collect()
}

/// Backtracking from the full Newton step: the largest 2^-k step a with
/// f(z + a d) - f(z) >= armijo a <grad f, d>; None when d is no ascent direction or 30
/// halvings find no increase. The increase is computed in closed form,
/// a <g, d> - (1/eta) sum_ij P_ij phi(eta a (dx_i + dy_j)) with phi(t) = expm1(t) - t,
/// because near the optimum it is far below the rounding of f itself (comparing values of f
/// stalls the search at a marginal error ~1e-11).
fn line_search(
    kernel: &DualKernel,
    p: &Potentials,
    plan: &[f64],
    direction: &[f64],
    gradient: &[f64],
    armijo: f64,
) -> Option<(Potentials, usize)> {
    let slope = dot(gradient, direction);
    if !(slope > 0.0 && slope.is_finite()) {
        return None;
    }
    let (n, m) = (p.x.len(), p.y.len());
    let eta = kernel.problem.eta;
    let (dx, dy) = direction.split_at(n);
    let mut step = 1.0;
    for halvings in 0..30 {
        // P_ij phi(t) = P_ij e^t - P_ij - t P_ij; where P_ij underflowed to 0 the step may
        // still raise it, so that entry's P_ij e^t comes from the log-domain plan.
        let curvature: f64 = plan
            .par_chunks(m)
            .zip(dx)
            .enumerate()
            .map(|(i, (row, dxi))| {
                row.iter()
                    .zip(dy)
                    .enumerate()
                    .map(|(j, (pij, dyj))| {
                        let t = eta * step * (dxi + dyj);
                        match *pij > 0.0 {
                            true => pij * phi(t),
                            false => (kernel.log_plan(p, i, j) + t).exp(),
                        }
                    })
                    .sum::<f64>()
            })
            .sum();
        let increase = step * slope - curvature / eta;
        if increase >= armijo * step * slope {
            let candidate = Potentials {
                x: p.x.iter().zip(dx).map(|(x, d)| x + step * d).collect(),
                y: p.y.iter().zip(dy).map(|(y, d)| y + step * d).collect(),
            };
            return Some((candidate, halvings));
        }
        step *= 0.5;
    }
    None
}

/// expm1(t) - t, by its series where the subtraction would cancel; infinite when the trial
/// step overflows the plan (the search then halves the step).
fn phi(t: f64) -> f64 {
    if t.abs() < 1e-3 {
        t * t * (0.5 + t * (1.0 / 6.0 + t / 24.0))
    } else {
        t.exp_m1() - t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CG on a small SPD tridiagonal system against its exact solution.
    #[test]
    fn conjugate_gradient_solves_a_small_system() {
        let entries = vec![
            Triplet::new(0, 0, 4.0),
            Triplet::new(0, 1, 1.0),
            Triplet::new(1, 0, 1.0),
            Triplet::new(1, 1, 3.0),
            Triplet::new(1, 2, 1.0),
            Triplet::new(2, 1, 1.0),
            Triplet::new(2, 2, 2.0),
        ];
        let h = SparseRowMat::<usize, f64>::try_new_from_triplets(3, 3, &entries).unwrap();
        let x_true = [1.0, -2.0, 0.5];
        let rhs = [4.0 - 2.0, 1.0 - 6.0 + 0.5, -2.0 + 1.0];
        let (x, iterations) =
            conjugate_gradient_solve(&h, &[4.0, 3.0, 2.0], &rhs, &NewtonSettings::default());
        for (a, b) in x.iter().zip(x_true) {
            assert!((a - b).abs() < 1e-12, "{x:?} after {iterations}");
        }
    }
}
