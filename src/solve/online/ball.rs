//! The Euclidean ball as a decision set: the Euclidean projection and the minimiser of a
//! convex quadratic over the ball (the projection in a matrix norm, which online Newton steps
//! need, and the best fixed point in hindsight of quadratic losses).

use faer::{Mat, Side};

/// The Euclidean projection of `y` onto the ball of `radius` around 0.
pub fn project(y: &[f64], radius: f64) -> Vec<f64> {
    let norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm <= radius {
        return y.to_vec();
    }
    y.iter().map(|v| v * radius / norm).collect()
}

/// A symmetric positive semi-definite matrix by its eigendecomposition P = Q diag(values) Q^T.
#[derive(Clone, Debug)]
pub struct Eigen {
    pub values: Vec<f64>,
    /// Column k is the k-th eigenvector, row-major `dim x dim`.
    pub vectors: Vec<f64>,
}

impl Eigen {
    /// A diagonal matrix (no decomposition needed).
    pub fn diagonal(values: &[f64]) -> Self {
        let n = values.len();
        let mut vectors = vec![0.0; n * n];
        for i in 0..n {
            vectors[i * n + i] = 1.0;
        }
        Self {
            values: values.to_vec(),
            vectors,
        }
    }

    /// The decomposition of the symmetric `dim x dim` row-major `matrix` (faer); eigenvalues
    /// below zero by rounding are clamped to zero.
    pub fn of(matrix: &[f64], dim: usize) -> Self {
        let m = Mat::from_fn(dim, dim, |i, j| matrix[i * dim + j]);
        let eigen = m
            .self_adjoint_eigen(Side::Lower)
            .expect("the self-adjoint eigendecomposition of a finite matrix converges");
        let values = (0..dim).map(|k| eigen.S()[k].max(0.0)).collect();
        let u = eigen.U();
        let vectors = (0..dim * dim).map(|p| u[(p / dim, p % dim)]).collect();
        Self { values, vectors }
    }

    fn dim(&self) -> usize {
        self.values.len()
    }

    /// Q^T v.
    fn in_eigenbasis(&self, v: &[f64]) -> Vec<f64> {
        let n = self.dim();
        (0..n)
            .map(|k| (0..n).map(|i| self.vectors[i * n + k] * v[i]).sum())
            .collect()
    }

    /// Q z.
    fn out_of_eigenbasis(&self, z: &[f64]) -> Vec<f64> {
        let n = self.dim();
        (0..n)
            .map(|i| (0..n).map(|k| self.vectors[i * n + k] * z[k]).sum())
            .collect()
    }
}

/// The minimiser of 0.5 x^T P x - q^T x over ||x|| <= radius, P positive semi-definite.
///
/// Inside the ball it is P^-1 q when that exists; otherwise it is x(mu) = (P + mu I)^-1 q on
/// the sphere, with mu > 0 the root of ||x(mu)|| = radius (decreasing in mu), found by
/// bisection to the last bit. Components with a zero eigenvalue and no linear term stay 0
/// (the minimum nearest the origin).
pub fn minimise_quadratic(p: &Eigen, q: &[f64], radius: f64) -> Vec<f64> {
    let c = p.in_eigenbasis(q);
    let at = |mu: f64| -> Vec<f64> {
        c.iter()
            .zip(&p.values)
            .map(|(&ci, &li)| if ci == 0.0 { 0.0 } else { ci / (li + mu) })
            .collect()
    };
    let norm = |z: &[f64]| z.iter().map(|v| v * v).sum::<f64>().sqrt();
    let inside = at(0.0);
    if inside.iter().all(|v| v.is_finite()) && norm(&inside) <= radius {
        return p.out_of_eigenbasis(&inside);
    }
    // ||x(mu)|| <= ||c|| / mu, so the root lies below ||c|| / radius.
    let (mut low, mut high) = (0.0, norm(&c) / radius);
    loop {
        let mid = 0.5 * (low + high);
        if mid <= low || mid >= high {
            break;
        }
        if norm(&at(mid)) > radius {
            low = mid;
        } else {
            high = mid;
        }
    }
    // `high` keeps the point inside the ball; rescaling removes the last rounding.
    project(&p.out_of_eigenbasis(&at(high)), radius)
}

/// The projection of `y` onto the ball in the norm of the positive definite `u`:
/// argmin ||x - y||_U^2 over ||x|| <= radius.
pub fn project_in_norm(y: &[f64], u: &Eigen, radius: f64) -> Vec<f64> {
    if y.iter().map(|v| v * v).sum::<f64>().sqrt() <= radius {
        return y.to_vec();
    }
    let uy: Vec<f64> = {
        let z = u.in_eigenbasis(y);
        let scaled: Vec<f64> = z.iter().zip(&u.values).map(|(a, l)| a * l).collect();
        u.out_of_eigenbasis(&scaled)
    };
    minimise_quadratic(u, &uy, radius)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-D quadratic whose unconstrained minimiser lies outside the unit ball: the
    /// constrained minimiser against a fine search over the circle (the minimum of a convex
    /// function with its free minimiser outside lies on the boundary).
    #[test]
    fn minimiser_on_the_sphere_matches_a_search_over_the_circle() {
        let matrix = [2.0, 0.5, 0.5, 1.0];
        let q = [3.0, -2.0];
        let x = minimise_quadratic(&Eigen::of(&matrix, 2), &q, 1.0);
        let f = |x: &[f64]| {
            0.5 * (matrix[0] * x[0] * x[0]
                + 2.0 * matrix[1] * x[0] * x[1]
                + matrix[3] * x[1] * x[1])
                - q[0] * x[0]
                - q[1] * x[1]
        };
        let best = (0..200_000)
            .map(|k| {
                let a = k as f64 / 200_000.0 * std::f64::consts::TAU;
                f(&[a.cos(), a.sin()])
            })
            .fold(f64::INFINITY, f64::min);
        // The search's angular step 3e-5 leaves an error of order 1e-9 in f.
        assert!(f(&x) <= best + 1e-12, "{} vs {best}", f(&x));
        assert!(f(&x) >= best - 1e-8);
        assert!((x[0].hypot(x[1]) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn interior_minimiser_and_zero_curvature() {
        let x = minimise_quadratic(&Eigen::diagonal(&[2.0, 4.0]), &[0.5, 1.0], 1.0);
        assert_eq!(x, vec![0.25, 0.25]);
        // A flat direction with a linear term runs to the boundary; without one it stays 0.
        let x = minimise_quadratic(&Eigen::diagonal(&[0.0, 1.0, 0.0]), &[1.0, 0.0, 0.0], 2.0);
        assert!(
            (x[0] - 2.0).abs() < 1e-15 && x[1] == 0.0 && x[2] == 0.0,
            "{x:?}"
        );
    }

    #[test]
    fn projection_in_the_identity_norm_is_the_euclidean_projection() {
        let y = [3.0, 4.0];
        let a = project_in_norm(&y, &Eigen::diagonal(&[5.0, 5.0]), 1.0);
        let b = project(&y, 1.0);
        assert!((a[0] - b[0]).abs() < 1e-15 && (a[1] - b[1]).abs() < 1e-15);
        assert_eq!(b, vec![0.6, 0.8]);
    }
}
