//! Fréchet distance between Gaussians fitted to two feature sets (the FID when the features are
//! the FID Inception's pool3 activations), in f64 on the host:
//! `d² = |mu_a - mu_b|² + Tr S_a + Tr S_b - 2 Tr sqrtm(S_a S_b)`.
//!
//! pytorch-fid takes scipy's `sqrtm` of the non-symmetric product `S_a S_b` and drops an
//! imaginary part. Here the trace comes from a symmetric problem: with `S_a = V L V^T` and
//! `B = V sqrt(L)`, `B^T S_b B` is orthogonally similar to `sqrt(S_a) S_b sqrt(S_a)`, which is
//! positive semi-definite and has the eigenvalues of `S_a S_b`, so `Tr sqrtm(S_a S_b)` is the sum
//! of the square roots of its eigenvalues. Eigenvalues below `n * eps * max` (rounding noise of
//! rank-deficient covariances, whose square roots would otherwise add up) count as zero.
//! Eigen-decompositions: Householder tridiagonalisation and implicit QL, rows in parallel.

use anyhow::{bail, ensure};
use rayon::prelude::*;

/// The mean and covariance of a set of feature vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    pub dim: usize,
    /// How many feature vectors the statistics were computed from.
    pub count: usize,
    pub mean: Vec<f64>,
    /// Row-major `dim x dim`, unbiased (divides by `count - 1`) like `numpy.cov`.
    pub covariance: Vec<f64>,
}

/// Feature rows folded into the covariance per pass (a block of centred rows stays in cache).
const ROW_BLOCK: usize = 64;

/// Covariance rows updated together by one task.
const COV_ROWS: usize = 16;

impl FeatureStats {
    /// Statistics of `rows` (one feature vector each), the mean subtracted before the products.
    pub fn from_rows(rows: &[Vec<f64>]) -> anyhow::Result<Self> {
        ensure!(
            rows.len() >= 2,
            "feature statistics: expected at least 2 feature rows (the covariance divides by \
             n - 1), got {}",
            rows.len()
        );
        let dim = rows[0].len();
        ensure!(dim > 0, "feature statistics: row 0 has no features");
        for (i, row) in rows.iter().enumerate() {
            ensure!(
                row.len() == dim,
                "feature statistics: row {i} has {} features, expected {dim} like row 0",
                row.len()
            );
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                bail!(
                    "feature statistics: row {i}, feature {j} is {}, expected a finite value",
                    row[j]
                );
            }
        }
        let count = rows.len();
        let mut mean = vec![0.0; dim];
        for row in rows {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= count as f64);

        // Upper triangle of the sum of (x - mean)(x - mean)^T, then scaled and mirrored.
        let mut covariance = vec![0.0; dim * dim];
        let mut block = vec![0.0; ROW_BLOCK * dim];
        for chunk in rows.chunks(ROW_BLOCK) {
            for (dst, row) in block.chunks_mut(dim).zip(chunk) {
                for ((d, v), m) in dst.iter_mut().zip(row).zip(&mean) {
                    *d = v - m;
                }
            }
            let centred = &block[..chunk.len() * dim];
            // Groups of output rows, so each centred row is reused from cache by the group.
            covariance
                .par_chunks_mut(COV_ROWS * dim)
                .enumerate()
                .for_each(|(group, out)| {
                    for x in centred.chunks(dim) {
                        for (r, out_row) in out.chunks_mut(dim).enumerate() {
                            let i = group * COV_ROWS + r;
                            let xi = x[i];
                            out_row[i..]
                                .iter_mut()
                                .zip(&x[i..])
                                .for_each(|(o, xj)| *o += xi * xj);
                        }
                    }
                });
        }
        let scale = 1.0 / (count - 1) as f64;
        for i in 0..dim {
            for j in i..dim {
                let v = covariance[i * dim + j] * scale;
                covariance[i * dim + j] = v;
                covariance[j * dim + i] = v;
            }
        }
        Ok(Self {
            dim,
            count,
            mean,
            covariance,
        })
    }

    fn check(&self, which: &str) -> anyhow::Result<()> {
        let dim = self.dim;
        ensure!(
            dim > 0 && self.mean.len() == dim && self.covariance.len() == dim * dim,
            "{which} feature statistics: expected a mean of dim = {dim} > 0 values and a \
             {dim}x{dim} covariance, got {} and {} values",
            self.mean.len(),
            self.covariance.len()
        );
        ensure!(
            self.mean
                .iter()
                .chain(&self.covariance)
                .all(|v| v.is_finite()),
            "{which} feature statistics: the mean or covariance holds a non-finite value"
        );
        Ok(())
    }
}

/// The Fréchet distance between the Gaussians `N(a.mean, a.covariance)` and
/// `N(b.mean, b.covariance)`. The covariances are symmetrised first (`(S + S^T) / 2`).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> anyhow::Result<f64> {
    a.check("first")?;
    b.check("second")?;
    ensure!(
        a.dim == b.dim,
        "Fréchet distance: the feature statistics have {} and {} dimensions, expected the same",
        a.dim,
        b.dim
    );
    let n = a.dim;
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let trace = |s: &[f64]| (0..n).map(|i| s[i * n + i]).sum::<f64>();
    let (sa, sb) = (symmetrised(&a.covariance, n), symmetrised(&b.covariance, n));
    let cross = trace_sqrt_product(&sa, &sb, n)?;
    Ok(mean_term + trace(&sa) + trace(&sb) - 2.0 * cross)
}

/// `Tr sqrtm(S_a S_b)` for symmetric positive semi-definite `n x n` matrices.
fn trace_sqrt_product(sa: &[f64], sb: &[f64], n: usize) -> anyhow::Result<f64> {
    let (values, vectors) = eigen_decomposition(sa.to_vec(), n)?;
    let kept: Vec<usize> = significant(&values).collect();
    let r = kept.len();
    if r == 0 {
        return Ok(0.0);
    }
    // B = V sqrt(L) over the kept eigenpairs (n x r), then B^T (S_b B).
    let mut b = vec![0.0; n * r];
    for (row, vector_row) in b.chunks_mut(r).zip(vectors.chunks(n)) {
        for (x, &j) in row.iter_mut().zip(&kept) {
            *x = vector_row[j] * values[j].sqrt();
        }
    }
    let sb_b = matmul(sb, &b, n, n, r);
    let inner = symmetrised(&matmul(&transpose(&b, n, r), &sb_b, r, n, r), r);
    let mu = eigenvalues(inner, r)?;
    Ok(significant(&mu).map(|j| mu[j].sqrt()).sum())
}

/// Indices of the eigenvalues above `len * eps * max |value|` (the rest is rounding noise).
fn significant(values: &[f64]) -> impl Iterator<Item = usize> + '_ {
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tolerance = values.len() as f64 * f64::EPSILON * max;
    (0..values.len()).filter(move |&j| values[j] > tolerance)
}

fn symmetrised(s: &[f64], n: usize) -> Vec<f64> {
    let mut out = s.to_vec();
    for i in 0..n {
        for j in i + 1..n {
            let v = 0.5 * (s[i * n + j] + s[j * n + i]);
            out[i * n + j] = v;
            out[j * n + i] = v;
        }
    }
    out
}

fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = a[i * cols + j];
        }
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `a (m x k) * b (k x n)`, row-major. Blocks of rows run in parallel; within one, a
/// `DEPTH x COLS` tile of `b` is reused by every row before moving on (cache reuse).
fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    const ROWS: usize = 16;
    const DEPTH: usize = 128;
    const COLS: usize = 256;
    let mut c = vec![0.0; m * n];
    c.par_chunks_mut(ROWS * n)
        .enumerate()
        .for_each(|(block, out)| {
            for k0 in (0..k).step_by(DEPTH) {
                let k1 = (k0 + DEPTH).min(k);
                for j0 in (0..n).step_by(COLS) {
                    let j1 = (j0 + COLS).min(n);
                    for (r, out_row) in out.chunks_mut(n).enumerate() {
                        let a_row = &a[(block * ROWS + r) * k..][..k];
                        let out_seg = &mut out_row[j0..j1];
                        for (kk, &x) in a_row.iter().enumerate().take(k1).skip(k0) {
                            let b_seg = &b[kk * n + j0..kk * n + j1];
                            out_seg.iter_mut().zip(b_seg).for_each(|(o, y)| *o += x * y);
                        }
                    }
                }
            }
        });
    c
}

/// Eigenvalues of the symmetric row-major `n x n` matrix `a`.
fn eigenvalues(mut a: Vec<f64>, n: usize) -> anyhow::Result<Vec<f64>> {
    let (mut d, mut e, _) = tridiagonalise(&mut a, n);
    implicit_ql(&mut d, &mut e, None)?;
    Ok(d)
}

/// Eigenvalues and eigenvectors of the symmetric row-major `n x n` matrix `a`: column `j` of
/// the returned row-major matrix is the unit eigenvector of value `j`.
fn eigen_decomposition(mut a: Vec<f64>, n: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut d, mut e, betas) = tridiagonalise(&mut a, n);
    let q = accumulate_reflectors(&a, &betas, n);
    let mut panels = Panels::from_row_major(&q, n);
    implicit_ql(&mut d, &mut e, Some(&mut panels))?;
    Ok((d, panels.to_row_major()))
}

/// Eigenvector matrix `Z` (`n x n`) stored for the QL rotations, which mix columns `j` and
/// `j + 1` of `Z`: panel `p` holds rows `p*W .. p*W + W` transposed, so column `j` of those rows
/// is one contiguous run of `W` values. Panels rotate in parallel, each with vectorisable
/// loops and a working set that stays in cache for a whole sweep.
struct Panels {
    n: usize,
    data: Vec<f64>,
}

const PANEL: usize = 32;

impl Panels {
    fn from_row_major(z: &[f64], n: usize) -> Self {
        let mut data = vec![0.0; n.div_ceil(PANEL) * n * PANEL];
        for (k, row) in z.chunks(n).enumerate() {
            let panel = &mut data[(k / PANEL) * n * PANEL..];
            for (j, v) in row.iter().enumerate() {
                panel[j * PANEL + k % PANEL] = *v;
            }
        }
        Self { n, data }
    }

    fn to_row_major(&self) -> Vec<f64> {
        let n = self.n;
        let mut z = vec![0.0; n * n];
        for (k, row) in z.chunks_mut(n).enumerate() {
            let panel = &self.data[(k / PANEL) * n * PANEL..];
            for (j, v) in row.iter_mut().enumerate() {
                *v = panel[j * PANEL + k % PANEL];
            }
        }
        z
    }

    /// Applies the plane rotations `(j, c, s)` in order to columns `(j, j + 1)`.
    fn rotate(&mut self, rotations: &[(usize, f64, f64)]) {
        if rotations.is_empty() {
            return;
        }
        self.data.par_chunks_mut(self.n * PANEL).for_each(|panel| {
            for &(j, c, s) in rotations {
                let (lo, hi) = panel.split_at_mut((j + 1) * PANEL);
                let left = &mut lo[j * PANEL..];
                for (x, y) in left.iter_mut().zip(&mut hi[..PANEL]) {
                    let f = *y;
                    *y = s * *x + c * f;
                    *x = c * *x - s * f;
                }
            }
        });
    }
}

/// Householder reduction `A = Q T Q^T` to a tridiagonal `T` (diagonal `d`, off-diagonal `e`
/// with `e[k]` between `k` and `k + 1`). Reflector `k`, `I - beta_k v v^T` on indices `k+1..n`,
/// is left in row `k` of `a` (columns `k+1..n`) with `beta_k` (0: no reflection) returned.
fn tridiagonalise(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut d, mut e, mut betas) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    // A column tail below eps * max |a| is rounding noise: reflecting it would square values
    // into the subnormal range (a reflector of infinite beta, then NaN).
    let negligible = (f64::EPSILON * a.iter().fold(0.0f64, |m, x| m.max(x.abs()))).powi(2);
    for k in 0..n {
        d[k] = a[k * n + k];
        if k + 2 >= n {
            if k + 1 < n {
                e[k] = a[k * n + k + 1];
            }
            continue;
        }
        let off = k + 1;
        let (head, tail) = a.split_at_mut(off * n);
        let v = &mut head[k * n + off..k * n + n];
        let tail_norm2: f64 = v[1..].iter().map(|x| x * x).sum();
        if tail_norm2 <= negligible {
            e[k] = v[0]; // this column is already reduced
            continue;
        }
        // v = x - alpha e1 with alpha of the opposite sign to x[0] (no cancellation).
        let norm = (v[0] * v[0] + tail_norm2).sqrt();
        let alpha = if v[0] > 0.0 { -norm } else { norm };
        v[0] -= alpha;
        let beta = 2.0 / (v[0] * v[0] + tail_norm2);
        e[k] = alpha;
        betas[k] = beta;
        let v: &[f64] = v;
        // A22 <- H A22 H = A22 - v w^T - w v^T with p = beta A22 v, w = p - (beta p.v / 2) v.
        let p: Vec<f64> = tail
            .par_chunks(n)
            .map(|row| beta * dot(&row[off..], v))
            .collect();
        let half = 0.5 * beta * dot(&p, v);
        let w: Vec<f64> = p.iter().zip(v).map(|(p, v)| p - half * v).collect();
        tail.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            let (vi, wi) = (v[i], w[i]);
            for ((x, vj), wj) in row[off..].iter_mut().zip(v).zip(&w) {
                *x -= vi * wj + wi * vj;
            }
        });
    }
    (d, e, betas)
}

/// `Q = H_0 H_1 ... H_{n-3}` from the reflectors `tridiagonalise` left in `a`, applied from
/// the last one so each touches only the trailing block it acts on.
fn accumulate_reflectors(a: &[f64], betas: &[f64], n: usize) -> Vec<f64> {
    const COLS: usize = 256;
    let mut q = vec![0.0; n * n];
    (0..n).for_each(|i| q[i * n + i] = 1.0);
    for k in (0..n).rev() {
        let beta = betas[k];
        if beta == 0.0 {
            continue;
        }
        let off = k + 1;
        let v = &a[k * n + off..k * n + n];
        let tail = &mut q[off * n..];
        // u = v^T Q[off.., off..], by column blocks (each block reads all rows).
        let rows: &[f64] = tail;
        let u: Vec<f64> = (off..n)
            .step_by(COLS)
            .collect::<Vec<_>>()
            .par_iter()
            .map(|&j0| {
                let j1 = (j0 + COLS).min(n);
                let mut acc = vec![0.0; j1 - j0];
                for (row, vi) in rows.chunks(n).zip(v) {
                    acc.iter_mut()
                        .zip(&row[j0..j1])
                        .for_each(|(s, x)| *s += vi * x);
                }
                acc
            })
            .collect::<Vec<_>>()
            .concat();
        tail.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            let scale = beta * v[i];
            row[off..]
                .iter_mut()
                .zip(&u)
                .for_each(|(x, uj)| *x -= scale * uj);
        });
    }
    q
}

/// More than enough: QL typically needs one or two iterations per eigenvalue.
const MAX_QL_ITERATIONS: usize = 60;

/// Implicit QL with Wilkinson shifts on the tridiagonal (`d`, `e`): `d` becomes the
/// eigenvalues; the plane rotations are applied to the columns of `z` when given.
fn implicit_ql(d: &mut [f64], e: &mut [f64], mut z: Option<&mut Panels>) -> anyhow::Result<()> {
    let n = d.len();
    let mut rotations: Vec<(usize, f64, f64)> = Vec::with_capacity(n);
    // An off-diagonal below eps * |T| is rounding noise of the whole matrix: without this
    // floor, clusters of (near-)zero eigenvalues of rank-deficient covariances never deflate.
    let floor = f64::EPSILON
        * d.iter()
            .zip(e.iter())
            .map(|(d, e)| d.abs() + e.abs())
            .fold(0.0, f64::max);
    let negligible =
        |e: f64, a: f64, b: f64| e.abs() <= f64::EPSILON * (a.abs() + b.abs()) || e.abs() <= floor;
    for l in 0..n {
        let mut iterations = 0;
        loop {
            // The first negligible off-diagonal at or after l closes the block l..=m.
            let mut m = l;
            while m + 1 < n && !negligible(e[m], d[m], d[m + 1]) {
                m += 1;
            }
            if m == l {
                break;
            }
            iterations += 1;
            ensure!(
                iterations <= MAX_QL_ITERATIONS,
                "symmetric eigen-decomposition: eigenvalue {l} of {n} did not converge in \
                 {MAX_QL_ITERATIONS} QL iterations"
            );
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut underflow = false;
            rotations.clear();
            for i in (l..m).rev() {
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    // The block splits at i: undo the partial shift and start again.
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                rotations.push((i, c, s));
            }
            if let Some(z) = z.as_deref_mut() {
                z.rotate(&rotations);
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};
    use serde::Deserialize;

    fn stats(mean: Vec<f64>, covariance: Vec<f64>) -> FeatureStats {
        FeatureStats {
            dim: mean.len(),
            count: 0,
            mean,
            covariance,
        }
    }

    fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed, Stream::Probe, 0, 0);
        (0..n)
            .map(|_| (0..dim).map(|_| rng.normal()).collect())
            .collect()
    }

    fn diagonal(values: &[f64]) -> Vec<f64> {
        let n = values.len();
        let mut out = vec![0.0; n * n];
        values
            .iter()
            .enumerate()
            .for_each(|(i, v)| out[i * n + i] = *v);
        out
    }

    /// The orthogonal `H = I - 2 u u^T / u.u` (a reflection; two make a rotation).
    fn reflection(u: &[f64]) -> Vec<f64> {
        let n = u.len();
        let scale = 2.0 / dot(u, u);
        let mut h = diagonal(&vec![1.0; n]);
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] -= scale * u[i] * u[j];
            }
        }
        h
    }

    /// `R = H1 H2`; returns `R S R^T` and `R m`.
    fn rotate(r: &[f64], s: &FeatureStats) -> FeatureStats {
        let n = s.dim;
        let rs = matmul(r, &s.covariance, n, n, n);
        let covariance = matmul(&rs, &transpose(r, n, n), n, n, n);
        let mean = matmul(r, &s.mean, n, n, 1);
        stats(mean, covariance)
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn eigen_decomposition_reconstructs_the_matrix() {
        for n in [1, 2, 3, 17, 70] {
            let rows = random_rows(n + 5, n, n as u64);
            let s = FeatureStats::from_rows(&rows).unwrap().covariance;
            let (values, z) = eigen_decomposition(s.clone(), n).unwrap();
            let zl: Vec<f64> = (0..n * n).map(|i| z[i] * values[i % n]).collect();
            let back = matmul(&zl, &transpose(&z, n, n), n, n, n);
            let ztz = matmul(&transpose(&z, n, n), &z, n, n, n);
            let identity = diagonal(&vec![1.0; n]);
            for i in 0..n * n {
                assert!((back[i] - s[i]).abs() < 1e-12, "n {n}: A[{i}]");
                assert!((ztz[i] - identity[i]).abs() < 1e-12, "n {n}: Z^T Z[{i}]");
            }
        }
    }

    #[test]
    fn identical_statistics_are_at_distance_zero() {
        // Full rank (n > dim) and rank-deficient (n < dim).
        for (n, dim) in [(40, 8), (10, 30)] {
            let s = FeatureStats::from_rows(&random_rows(n, dim, 7)).unwrap();
            let d = frechet_distance(&s, &s).unwrap();
            assert!(d.abs() < 1e-9, "n {n}, dim {dim}: {d}");
        }
    }

    #[test]
    fn diagonal_covariances_follow_the_closed_form_in_any_rotated_basis() {
        // d² = |ma - mb|² + sum (sqrt a_i - sqrt b_i)², unchanged by a rotation R of both.
        let dim = 300; // not a multiple of any block size
        let mut rng = Rng::new(3, Stream::Probe, 0, 0);
        let mut draw = |lo: f64, hi: f64| -> Vec<f64> {
            (0..dim).map(|_| lo + (hi - lo) * rng.uniform()).collect()
        };
        let (va, vb, ma, mb) = (
            draw(0.0, 3.0),
            draw(0.1, 2.0),
            draw(-1.0, 1.0),
            draw(-1.0, 1.0),
        );
        let expected: f64 = (0..dim)
            .map(|i| (ma[i] - mb[i]).powi(2) + (va[i].sqrt() - vb[i].sqrt()).powi(2))
            .sum();
        let a = stats(ma, diagonal(&va));
        let b = stats(mb, diagonal(&vb));
        assert!(close(frechet_distance(&a, &b).unwrap(), expected, 1e-12));
        let (u1, u2) = (draw(-1.0, 1.0), draw(-1.0, 1.0));
        let r = matmul(&reflection(&u1), &reflection(&u2), dim, dim, dim);
        let rotated = frechet_distance(&rotate(&r, &a), &rotate(&r, &b)).unwrap();
        assert!(close(rotated, expected, 1e-10), "{rotated} vs {expected}");
    }

    #[test]
    fn the_distance_is_invariant_under_rotation_of_general_statistics() {
        let dim = 24;
        let a = FeatureStats::from_rows(&random_rows(60, dim, 11)).unwrap();
        let mut b = FeatureStats::from_rows(&random_rows(80, dim, 12)).unwrap();
        b.mean.iter_mut().for_each(|m| *m += 0.5);
        let mut rng = Rng::new(5, Stream::Probe, 0, 0);
        let u: Vec<f64> = (0..2 * dim).map(|_| rng.normal()).collect();
        let r = matmul(
            &reflection(&u[..dim]),
            &reflection(&u[dim..]),
            dim,
            dim,
            dim,
        );
        let plain = frechet_distance(&a, &b).unwrap();
        let rotated = frechet_distance(&rotate(&r, &a), &rotate(&r, &b)).unwrap();
        assert!(close(plain, rotated, 1e-11), "{plain} vs {rotated}");
        // The distance is symmetric although the computation is not.
        let swapped = frechet_distance(&b, &a).unwrap();
        assert!(close(plain, swapped, 1e-11), "{plain} vs {swapped}");
    }

    #[derive(Deserialize)]
    struct GoldenCase {
        name: String,
        dim: usize,
        a: Vec<Vec<f64>>,
        b: Vec<Vec<f64>>,
        pytorch_fid: f64,
        reference: f64,
    }

    #[derive(Deserialize)]
    struct Golden {
        cases: Vec<GoldenCase>,
    }

    /// Golden values from scripts/golden_fid.py. `reference` is the exact value (mpmath, 40
    /// digits, statistics included): stoke matches it to 1e-11 relative (f64 rounding of the
    /// statistics and eigenvalues; observed <= 2.2e-12, the worst where traces of ~20 cancel to
    /// 1.3; 1e-15 in the rank-deficient case, where the noise eigenvalues are dropped). `pytorch_fid` (scipy's `sqrtm` of f64 statistics) is
    /// itself 1.1e-8 relative off in that singular case, so it is held to 1e-7.
    #[test]
    fn matches_pytorch_fid_and_a_high_precision_reference() {
        let golden: Golden =
            serde_json::from_str(include_str!("../../tests/golden/fid.json")).unwrap();
        assert_eq!(golden.cases.len(), 5);
        for case in &golden.cases {
            let a = FeatureStats::from_rows(&case.a).unwrap();
            let b = FeatureStats::from_rows(&case.b).unwrap();
            assert_eq!((a.dim, b.dim), (case.dim, case.dim));
            let d = frechet_distance(&a, &b).unwrap();
            println!(
                "{}: relative error {:.1e} (pytorch-fid {:.1e})",
                case.name,
                (d - case.reference).abs() / case.reference.abs(),
                (case.pytorch_fid - case.reference).abs() / case.reference.abs()
            );
            assert!(
                close(d, case.reference, 1e-11),
                "{}: {d} vs reference {}",
                case.name,
                case.reference
            );
            assert!(
                close(d, case.pytorch_fid, 1e-7),
                "{}: {d} vs pytorch-fid {}",
                case.name,
                case.pytorch_fid
            );
        }
    }

    #[test]
    fn many_features_from_few_images_converge() {
        // 864-d features of 24 images: a covariance of rank 23 with 841 zero eigenvalues
        // that only rounding separates (what FID-classifier on a small sample gives).
        // ReLU features: a third of the dimensions always zero, the rest rectified.
        let relu = |rows: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            rows.into_iter()
                .map(|r| {
                    r.iter()
                        .enumerate()
                        .map(|(j, x)| if j % 3 == 0 { 0.0 } else { x.max(0.0) })
                        .collect()
                })
                .collect()
        };
        let a = FeatureStats::from_rows(&relu(random_rows(24, 864, 1))).unwrap();
        let b = FeatureStats::from_rows(&relu(random_rows(32, 864, 2))).unwrap();
        let ab = frechet_distance(&a, &b).unwrap();
        let ba = frechet_distance(&b, &a).unwrap();
        assert!(ab.is_finite() && ab > 0.0, "{ab}");
        assert!((ab - ba).abs() < 1e-8 * ab, "{ab} vs {ba}");
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-8 * ab);
    }

    #[test]
    fn bad_inputs_are_rejected_with_the_reason() {
        let one = FeatureStats::from_rows(&[vec![1.0, 2.0]]).unwrap_err();
        assert!(one.to_string().contains("at least 2"), "{one}");
        let ragged = FeatureStats::from_rows(&[vec![1.0, 2.0], vec![1.0]]).unwrap_err();
        assert!(
            ragged.to_string().contains("row 1 has 1 features"),
            "{ragged}"
        );
        let nan = FeatureStats::from_rows(&[vec![1.0], vec![f64::NAN]]).unwrap_err();
        assert!(nan.to_string().contains("finite"), "{nan}");
        let a = FeatureStats::from_rows(&random_rows(5, 3, 1)).unwrap();
        let b = FeatureStats::from_rows(&random_rows(5, 4, 1)).unwrap();
        let dims = frechet_distance(&a, &b).unwrap_err();
        assert!(dims.to_string().contains("3 and 4 dimensions"), "{dims}");
        let mut short = a.clone();
        short.covariance.pop();
        assert!(frechet_distance(&short, &a).is_err());
    }

    /// Manual timing: `cargo test --release --lib quality::fid::tests::timing -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        for dim in [512, 2048] {
            let rows = random_rows(5000, dim, 1);
            let start = std::time::Instant::now();
            let a = FeatureStats::from_rows(&rows).unwrap();
            println!(
                "dim {dim}: statistics of 5000 rows {:.3} s",
                start.elapsed().as_secs_f64()
            );
            let b = FeatureStats::from_rows(&random_rows(dim + 100, dim, 2)).unwrap();
            let start = std::time::Instant::now();
            let d = frechet_distance(&a, &b).unwrap();
            println!(
                "dim {dim}: {:.3} s (d = {d})",
                start.elapsed().as_secs_f64()
            );
        }
    }
}
