//! The Flag Aggregator (Almasi, Mishra, Wei et al., "Flag Aggregator: Scalable Distributed
//! Training under Failures and Augmented Losses using Convex Optimization", ICLR 2024;
//! official code hamidralmasi/FlagAggregator, aggregators/flag.py and
//! center_algorithms_torch.py, which this follows):
//!
//! ```text
//! x_i <- g_i / |g_i|                       (normalised, as F.normalize)
//! Y_0: orthonormal basis of a random d x r matrix (uniform in [-0.5, 0.5), fixed seed)
//! repeat `iterations` times (IRLS, flag median):
//!     w_i  = (|1 - |Y^T x_i|^2| + 1e-7)^(-1/4)
//!     w_ij = (|1 - |Y^T (x_i - x_j)|^2| + 1e-7)^(-1/4) lambda / (n (n - 1))   (i != j; lambda > 0)
//!     Y    = top-r left singular vectors of [w_i x_i ..., w_ij (x_i - x_j) ...]
//!     stop when the objective sum_i sqrt(max(0, 1 - |Y^T x_i|^2)) stops decreasing by more
//!     than 1e-10 (then keep the previous Y) or falls below 1e-10
//! output (1/r) sum_i Y Y^T x_i
//! ```
//!
//! Every column lies in the span of the x_i, so the singular vectors come from
//! eigendecompositions (faer) of n x n matrices built from the Gram matrix X^T X, and
//! Y = X C for an n x r matrix C: after one O(n^2 d) pass for X^T X, each iteration costs
//! O(n^3) for n vectors, with or without lambda's n^2 pairwise columns. Computed in f64.

use super::Combined;
use crate::rng::{Rng, Stream};
use faer::{Mat, Side};

/// The official default: one IRLS iteration, rank 1, no pairwise term.
#[derive(Clone, Debug)]
pub struct FlagOptions {
    pub rank: usize,
    pub lambda: f64,
    pub iterations: usize,
}

impl FlagOptions {
    pub fn new(rank: usize, lambda: f64, iterations: usize) -> Self {
        Self {
            rank,
            lambda,
            iterations,
        }
    }
}

const EPS: f64 = 1e-7;
const TOLERANCE: f64 = 1e-10;

/// The Flag Aggregator of `vectors` from the fixed random start.
pub fn flag(vectors: &[Vec<f32>], options: &FlagOptions) -> anyhow::Result<Combined> {
    let d = vectors[0].len();
    let mut rng = Rng::new(1, Stream::Aggregate, 0, 0);
    let columns: Vec<Vec<f64>> = (0..options.rank)
        .map(|_| (0..d).map(|_| rng.uniform() - 0.5).collect())
        .collect();
    flag_from(vectors, options, &orthonormal(columns))
}

/// The Flag Aggregator of `vectors` from `start`: r orthonormal columns of length d.
pub fn flag_from(
    vectors: &[Vec<f32>],
    options: &FlagOptions,
    start: &[Vec<f64>],
) -> anyhow::Result<Combined> {
    let n = vectors.len();
    let d = vectors[0].len();
    anyhow::ensure!(
        start.len() == options.rank && start.iter().all(|c| c.len() == d),
        "flag's start must be {} columns of {d} values",
        options.rank
    );
    let x: Vec<Vec<f64>> = vectors.iter().map(|v| normalised(v)).collect();
    let gram = Mat::<f64>::from_fn(n, n, |i, j| dot(&x[i], &x[j]));
    // Projections P = Y^T X (r x n): of the start directly, later from Y = X C.
    let start_projections = Mat::<f64>::from_fn(options.rank, n, |k, i| dot(&start[k], &x[i]));
    let roots = GramRoots::of(&gram)?;
    let mut current = Subspace::Start(start_projections);
    let mut errors = vec![objective(&current.projections(&gram))];
    let (mut iteration, mut diff) = (1, 1.0);
    let mut previous = current.clone();
    while iteration <= options.iterations && diff > TOLERANCE && errors[iteration - 1] > TOLERANCE {
        previous = current.clone();
        current = Subspace::Span(irls_step(&current.projections(&gram), &roots, options)?);
        errors.push(objective(&current.projections(&gram)));
        diff = errors[iteration - 1] - errors[iteration];
        iteration += 1;
    }
    let chosen = if diff > 0.0 { current } else { previous };
    // (1/r) sum_i Y Y^T x_i = (1/r) Y (P 1).
    let r = options.rank as f64;
    let p = chosen.projections(&gram);
    let summed: Vec<f64> = (0..options.rank)
        .map(|k| (0..n).map(|i| p[(k, i)]).sum::<f64>() / r)
        .collect();
    let vector = match &chosen {
        Subspace::Start(_) => (0..d)
            .map(|j| {
                (0..options.rank)
                    .map(|k| start[k][j] * summed[k])
                    .sum::<f64>() as f32
            })
            .collect(),
        Subspace::Span(c) => {
            let coefficients: Vec<f64> = (0..n)
                .map(|i| (0..options.rank).map(|k| c[(i, k)] * summed[k]).sum())
                .collect();
            (0..d)
                .map(|j| (0..n).map(|i| x[i][j] * coefficients[i]).sum::<f64>() as f32)
                .collect()
        }
    };
    Ok(Combined {
        vector,
        selected: None,
        iterations: Some(iteration - 1),
    })
}

/// Y, known by its projections of the start, or as X C (C: n x r) after an iteration.
#[derive(Clone)]
enum Subspace {
    Start(Mat<f64>),
    Span(Mat<f64>),
}

impl Subspace {
    /// P = Y^T X (r x n).
    fn projections(&self, gram: &Mat<f64>) -> Mat<f64> {
        match self {
            Subspace::Start(p) => p.clone(),
            Subspace::Span(c) => c.transpose() * gram,
        }
    }
}

/// sum_i sqrt(max(0, 1 - |P e_i|^2)): the flag median's objective ("sine").
fn objective(p: &Mat<f64>) -> f64 {
    (0..p.ncols())
        .map(|i| (1.0 - column_norm_squared(p, i)).max(0.0).sqrt())
        .sum()
}

fn column_norm_squared(p: &Mat<f64>, i: usize) -> f64 {
    (0..p.nrows()).map(|k| p[(k, i)] * p[(k, i)]).sum()
}

/// K^(1/2) and the pseudo-inverse K^(+1/2) of the Gram matrix K = X^T X (eigenvalues
/// below 1e-12 of the largest count as zero: repeated or parallel vectors).
struct GramRoots {
    root: Mat<f64>,
    inverse_root: Mat<f64>,
}

impl GramRoots {
    fn of(gram: &Mat<f64>) -> anyhow::Result<Self> {
        let n = gram.nrows();
        let eigen = gram
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| anyhow::anyhow!("flag: eigendecomposition failed: {e:?}"))?;
        let (vectors, values) = (eigen.U(), eigen.S().column_vector());
        let largest = values[n - 1].max(0.0);
        let scaled = |power: f64| {
            Mat::<f64>::from_fn(n, n, |i, j| {
                (0..n)
                    .filter(|&k| values[k] > 1e-12 * largest && values[k] > 0.0)
                    .map(|k| vectors[(i, k)] * values[k].powf(power) * vectors[(j, k)])
                    .sum()
            })
        };
        Ok(Self {
            root: scaled(0.5),
            inverse_root: scaled(-0.5),
        })
    }
}

/// One weighted flag mean: the new Y as C (n x r) with Y = X C. The columns are A = X B
/// (w_i e_i, then w_ij (e_i - e_j)), so A A^T = X (B B^T) X^T, whose top eigenvectors in the
/// span of X are X K^(+1/2) v for the top eigenvectors v of the n x n matrix
/// K^(1/2) B B^T K^(1/2): O(n^3) per iteration with or without the n^2 pairwise columns.
fn irls_step(p: &Mat<f64>, roots: &GramRoots, options: &FlagOptions) -> anyhow::Result<Mat<f64>> {
    let n = p.ncols();
    let weight = |sin_squared: f64| (sin_squared.abs() + EPS).powf(-0.25);
    // B B^T: sum over columns of b b^T.
    let mut bbt = Mat::<f64>::zeros(n, n);
    for i in 0..n {
        let w = weight(1.0 - column_norm_squared(p, i));
        bbt[(i, i)] += w * w;
    }
    if options.lambda > 0.0 {
        let scale = options.lambda / (n * (n - 1)) as f64;
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let projected: f64 = (0..p.nrows())
                    .map(|k| (p[(k, i)] - p[(k, j)]).powi(2))
                    .sum();
                let w2 = (weight(1.0 - projected) * scale).powi(2);
                bbt[(i, i)] += w2;
                bbt[(j, j)] += w2;
                bbt[(i, j)] -= w2;
                bbt[(j, i)] -= w2;
            }
        }
    }
    let small = &roots.root * &bbt * &roots.root;
    let eigen = small
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| anyhow::anyhow!("flag: eigendecomposition failed: {e:?}"))?;
    let (vectors, values) = (eigen.U(), eigen.S().column_vector());
    let largest = values[n - 1].max(0.0);
    // A direction with no length (fewer independent vectors than r) stays zero.
    let mut c = Mat::<f64>::zeros(n, options.rank);
    for k in 0..options.rank {
        let index = n - 1 - k;
        if values[index] <= 1e-12 * largest || values[index] <= 0.0 {
            continue;
        }
        for i in 0..n {
            c[(i, k)] = (0..n)
                .map(|t| roots.inverse_root[(i, t)] * vectors[(t, index)])
                .sum();
        }
    }
    Ok(c)
}

/// `v / max(|v|, 1e-12)` in f64 (F.normalize).
fn normalised(v: &[f32]) -> Vec<f64> {
    let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|&x| f64::from(x) / norm.max(1e-12)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gram-Schmidt: an orthonormal basis of `columns`' span (the Q of their QR, up to signs).
fn orthonormal(mut columns: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    for k in 0..columns.len() {
        for done in 0..k {
            let projection = dot(&columns[k], &columns[done]);
            let basis = columns[done].clone();
            for (x, b) in columns[k].iter_mut().zip(&basis) {
                *x -= projection * b;
            }
        }
        let norm = dot(&columns[k], &columns[k]).sqrt().max(1e-300);
        columns[k].iter_mut().for_each(|x| *x /= norm);
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four copies of one direction and one orthogonal outlier, rank 1: the IRLS step's
    /// top singular vector is the shared direction, so the output is (1/1) sum of the
    /// projections: 4 unit vectors along it (the outlier projects to 0), whatever the
    /// scale of the inputs. Within 1e-6 (f64 arithmetic rounded to f32).
    #[test]
    fn recovers_the_majority_direction() {
        let mut vectors = vec![vec![3.0, 0.0, 0.0]; 4];
        vectors[1] = vec![0.5, 0.0, 0.0];
        vectors.push(vec![0.0, 0.0, -100.0]);
        let combined = flag(&vectors, &FlagOptions::new(1, 0.0, 5)).unwrap();
        let expected = [4.0, 0.0, 0.0];
        for (got, want) in combined.vector.iter().zip(expected) {
            assert!((got.abs() - want).abs() < 1e-6, "{:?}", combined.vector);
        }
        assert!(combined.iterations.unwrap() >= 1);
        // lambda's pairwise differences (outlier minus majority) pull towards the outlier,
        // but the majority's direction still wins at rank 1.
        let pairwise = flag(&vectors, &FlagOptions::new(1, 1.0, 5)).unwrap();
        assert!(
            pairwise.vector[0].abs() > pairwise.vector[2].abs(),
            "{:?}",
            pairwise.vector
        );
    }

    /// The Gram-matrix route equals a direct SVD: with rank = n the subspace is all of the
    /// span, so the output is sum_i x_i of the normalised vectors.
    #[test]
    fn full_rank_returns_the_sum_of_normalised_vectors() {
        let vectors = vec![vec![2.0, 0.0, 1.0], vec![0.0, -3.0, 0.5]];
        let combined = flag(&vectors, &FlagOptions::new(2, 0.0, 1)).unwrap();
        let x: Vec<Vec<f64>> = vectors.iter().map(|v| normalised(v)).collect();
        for (j, &got) in combined.vector.iter().enumerate() {
            let want = (x[0][j] + x[1][j]) / 2.0;
            assert!(
                (f64::from(got) - want).abs() < 1e-6,
                "{:?}",
                combined.vector
            );
        }
    }
}
