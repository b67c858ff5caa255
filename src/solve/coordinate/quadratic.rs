//! The problems of the block coordinate descent comparison, all quadratics
//! f(x) = 1/2 x^T Q x - c^T x + k: least squares (Q = A^T A, c = A^T b, k = ||b||^2 / 2) and
//! label propagation on a graph (Q the graph Laplacian plus the labelled neighbours' weights).
//! The gradient Q x - c is kept up to date after every block update in O(n |b|).

use crate::rng::{Rng, Stream};
use crate::usage_error;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// A dense quadratic with its gradient at the current point.
#[derive(Clone, Debug)]
pub struct Quadratic {
    /// Row-major n x n, symmetric positive semi-definite.
    pub q: Vec<f64>,
    pub c: Vec<f64>,
    pub constant: f64,
    pub n: usize,
}

impl Quadratic {
    pub fn value(&self, x: &[f64]) -> f64 {
        let n = self.n;
        let quadratic: f64 = (0..n)
            .map(|i| {
                x[i] * self.q[i * n..(i + 1) * n]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum();
        0.5 * quadratic - self.c.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + self.constant
    }

    pub fn gradient(&self, x: &[f64]) -> Vec<f64> {
        let n = self.n;
        (0..n)
            .map(|i| {
                self.q[i * n..(i + 1) * n]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    - self.c[i]
            })
            .collect()
    }

    /// Coordinate Lipschitz constants L_i = Q_ii.
    pub fn coordinate_lipschitz(&self) -> Vec<f64> {
        (0..self.n).map(|i| self.q[i * self.n + i]).collect()
    }

    /// Q restricted to `block` (rows and columns).
    pub fn block(&self, block: &[usize]) -> Mat<f64> {
        Mat::from_fn(block.len(), block.len(), |a, b| {
            self.q[block[a] * self.n + block[b]]
        })
    }

    /// L_b = lambda_max(Q_bb).
    pub fn block_lipschitz(&self, block: &[usize]) -> f64 {
        let m = self.block(block);
        match m.self_adjoint_eigenvalues(Side::Lower) {
            Ok(values) => values.into_iter().fold(0.0, f64::max),
            Err(_) => (0..block.len()).map(|a| m[(a, a)]).sum(),
        }
    }

    /// Adds Q[:, block] delta to `gradient` (the change of Q x - c when x_block += delta).
    pub fn update_gradient(&self, gradient: &mut [f64], block: &[usize], delta: &[f64]) {
        let n = self.n;
        for (&j, &d) in block.iter().zip(delta) {
            // Q is symmetric: column j is row j.
            for (g, qij) in gradient.iter_mut().zip(&self.q[j * n..(j + 1) * n]) {
                *g += qij * d;
            }
        }
    }

    /// The minimum value, by a Cholesky solve of Q x = c (f* = k - c^T x* / 2).
    pub fn minimum(&self) -> anyhow::Result<f64> {
        let n = self.n;
        let q = Mat::from_fn(n, n, |i, j| self.q[i * n + j]);
        let rhs = Mat::from_fn(n, 1, |i, _| self.c[i]);
        let x = q
            .llt(Side::Lower)
            .map_err(|_| anyhow::anyhow!("the quadratic is not positive definite"))?
            .solve(&rhs);
        Ok(self.constant - 0.5 * (0..n).map(|i| self.c[i] * x[(i, 0)]).sum::<f64>())
    }
}

/// Least squares on a sparse, badly scaled design like the paper's data set A (columns
/// scaled by 10 N(0, 1), entries kept with probability 10 ln(rows) / rows, a 10%-sparse
/// truth plus unit noise), at a size given by `rows` x `cols`.
pub fn least_squares(rows: usize, cols: usize, seed: u64) -> anyhow::Result<Quadratic> {
    if rows < 2 || cols < 2 || rows.saturating_mul(cols) > 20_000_000 || cols > 5000 {
        return Err(usage_error!(
            "coordinate descent: {rows} x {cols} least squares; expected 2 to 5,000 columns and at most 20,000,000 entries"
        ));
    }
    let mut rng = Rng::new(seed, Stream::Solve, 3, 0);
    let scale: Vec<f64> = (0..cols).map(|_| 10.0 * rng.normal()).collect();
    let keep = (10.0 * (rows as f64).ln() / rows as f64).min(1.0);
    let a: Vec<f64> = (0..rows * cols)
        .map(|k| {
            let value = (rng.normal() + 1.0) * scale[k % cols];
            if rng.uniform() < keep { value } else { 0.0 }
        })
        .collect();
    let truth: Vec<f64> = (0..cols)
        .map(|_| {
            let w = rng.normal();
            if rng.uniform() < 0.1 { w } else { 0.0 }
        })
        .collect();
    let b: Vec<f64> = (0..rows)
        .map(|i| {
            a[i * cols..(i + 1) * cols]
                .iter()
                .zip(&truth)
                .map(|(x, w)| x * w)
                .sum::<f64>()
                + rng.normal()
        })
        .collect();
    let mut q = vec![0.0; cols * cols];
    for i in 0..rows {
        let row = &a[i * cols..(i + 1) * cols];
        for (j, &aj) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
            for (k, &ak) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                q[j * cols + k] += aj * ak;
            }
        }
    }
    let c: Vec<f64> = (0..cols)
        .map(|j| (0..rows).map(|i| a[i * cols + j] * b[i]).sum())
        .collect();
    Ok(Quadratic {
        q,
        c,
        constant: 0.5 * b.iter().map(|v| v * v).sum::<f64>(),
        n: cols,
    })
}

/// Label propagation on a side x side 4-neighbour lattice with edge weights `weight` (the
/// paper's data set D: 50 x 50, 1e5, 100 labels ~ N(0, 100)): minimise
/// 1/2 sum_ij w_ij (y_i - y_j)^2 over the unlabelled y, a quadratic whose Q is the
/// unlabelled rows and columns of the weighted Laplacian.
pub fn lattice_label_propagation(
    side: usize,
    labels: usize,
    weight: f64,
    seed: u64,
) -> anyhow::Result<Quadratic> {
    let nodes = side * side;
    if !(2..=70).contains(&side)
        || labels == 0
        || labels >= nodes
        || !(weight > 0.0 && weight.is_finite())
    {
        return Err(usage_error!(
            "coordinate descent: a {side} x {side} lattice with {labels} labels; expected sides 2 to 70, 1 to nodes - 1 labels and a positive weight"
        ));
    }
    let mut rng = Rng::new(seed, Stream::Solve, 4, 0);
    let labelled: Vec<usize> = rng.permutation(nodes).into_iter().take(labels).collect();
    let mut y = vec![None; nodes];
    for &v in &labelled {
        y[v] = Some(10.0 * rng.normal());
    }
    let neighbours = |v: usize| {
        let (r, col) = (v % side, v / side);
        let mut out = Vec::with_capacity(4);
        if r > 0 {
            out.push(v - 1)
        }
        if r + 1 < side {
            out.push(v + 1)
        }
        if col > 0 {
            out.push(v - side)
        }
        if col + 1 < side {
            out.push(v + side)
        }
        out
    };
    let free: Vec<usize> = (0..nodes).filter(|v| y[*v].is_none()).collect();
    let mut index = vec![usize::MAX; nodes];
    for (k, &v) in free.iter().enumerate() {
        index[v] = k;
    }
    let n = free.len();
    let mut q = vec![0.0; n * n];
    let mut c = vec![0.0; n];
    for (k, &v) in free.iter().enumerate() {
        for u in neighbours(v) {
            q[k * n + k] += weight;
            match y[u] {
                Some(label) => c[k] += weight * label,
                None => q[k * n + index[u]] -= weight,
            }
        }
    }
    // The labelled-labelled edges are constants; only their sum matters for f*, not for the
    // comparison, so they are left out (f measured from the unlabelled part).
    let constant: f64 = free
        .iter()
        .flat_map(|&v| neighbours(v).into_iter().filter_map(|u| y[u]))
        .map(|label| 0.5 * weight * label * label)
        .sum();
    Ok(Quadratic { q, c, constant, n })
}
