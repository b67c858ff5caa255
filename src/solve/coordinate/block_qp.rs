//! min_y 1/2 y^T H y + q^T y subject to y >= 0, by the primal active-set method of Lawson and
//! Hanson (their NNLS algorithm written for a quadratic): free coordinates are solved
//! exactly, the most violated bound is freed, and a step that would cross a bound stops on
//! it. Exact in finitely many steps for positive definite H on the free sets; the projected
//! Newton update of the active-set comparison solves its block with it.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

pub fn nonnegative_qp(h: &Mat<f64>, q: &[f64]) -> anyhow::Result<Vec<f64>> {
    let n = q.len();
    let scale = q.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
        + (0..n).fold(0.0_f64, |m, i| m.max(h[(i, i)].abs()));
    let tolerance = 1e-13 * scale.max(f64::MIN_POSITIVE);
    let mut y = vec![0.0; n];
    let mut free = vec![false; n];
    let negative_gradient = |y: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| -q[i] - (0..n).map(|j| h[(i, j)] * y[j]).sum::<f64>())
            .collect()
    };
    let mut w = negative_gradient(&y);
    // Coordinates that re-entered and left again at once (a degenerate step), skipped until
    // the point moves.
    let mut stuck = vec![false; n];
    for _ in 0..3 * n + 10 {
        let entering = (0..n)
            .filter(|&j| !free[j] && !stuck[j] && w[j] > tolerance)
            .max_by(|&a, &b| w[a].total_cmp(&w[b]));
        let Some(j) = entering else {
            return Ok(y);
        };
        free[j] = true;
        let before = y.clone();
        for _ in 0..n + 1 {
            let set: Vec<usize> = (0..n).filter(|&i| free[i]).collect();
            let z = solve_free(h, q, &set)?;
            if z.iter().all(|v| *v > 0.0) {
                y.iter_mut().for_each(|v| *v = 0.0);
                for (&i, v) in set.iter().zip(&z) {
                    y[i] = *v;
                }
                break;
            }
            // Step from y towards z until the first free coordinate reaches zero; it (and
            // any other that rounding put at or below zero) leaves the free set.
            let (blocking, alpha) = set
                .iter()
                .zip(&z)
                .filter(|(_, v)| **v <= 0.0)
                .map(|(&i, v)| (i, y[i] / (y[i] - v)))
                .fold((usize::MAX, f64::INFINITY), |best, c| {
                    if c.1 < best.1 { c } else { best }
                });
            for (&i, v) in set.iter().zip(&z) {
                y[i] += alpha * (v - y[i]);
                if i == blocking || y[i] <= 0.0 {
                    y[i] = 0.0;
                    free[i] = false;
                }
            }
        }
        if y == before {
            stuck[j] = true;
        } else {
            stuck.iter_mut().for_each(|s| *s = false);
        }
        w = negative_gradient(&y);
        for (wi, _) in w.iter_mut().zip(&free).filter(|(_, f)| **f) {
            *wi = 0.0;
        }
    }
    Err(anyhow::anyhow!(
        "the nonnegative quadratic program of {n} variables did not converge in {} steps",
        3 * n + 10
    ))
}

/// H_FF z = -q_F by Cholesky.
fn solve_free(h: &Mat<f64>, q: &[f64], set: &[usize]) -> anyhow::Result<Vec<f64>> {
    let m = Mat::from_fn(set.len(), set.len(), |a, b| h[(set[a], set[b])]);
    let rhs = Mat::from_fn(set.len(), 1, |a, _| -q[set[a]]);
    let llt = m.llt(Side::Lower).map_err(|_| {
        anyhow::anyhow!(
            "the quadratic program's matrix is singular on {} free variables",
            set.len()
        )
    })?;
    let z = llt.solve(&rhs);
    Ok((0..set.len()).map(|a| z[(a, 0)]).collect())
}
