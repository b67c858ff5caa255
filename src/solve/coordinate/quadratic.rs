//! The quadratic problems of the block coordinate descent comparison,
//! f(x) = 1/2 x^T Q x - c^T x + k: least squares (Q = A^T A, c = A^T b, k = ||b||^2 / 2), the
//! same with an L1 penalty and x >= 0 (the active-set comparison; the penalty is linear on the
//! feasible set, so it folds into c), and label propagation on a lattice (Q the graph
//! Laplacian plus the labelled neighbours' weights). The gradient Q x - c is kept up to date
//! after every block update in O(n |b|).

use super::block_qp::nonnegative_qp;
use super::forest::{Graph, Lattice};
use super::objective::{Objective, Point, dot};
use crate::rng::{Rng, Stream};
use crate::usage_error;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// A dense quadratic.
#[derive(Clone, Debug)]
pub struct Quadratic {
    /// Row-major n x n, symmetric positive semi-definite.
    pub q: Vec<f64>,
    pub c: Vec<f64>,
    pub constant: f64,
    pub n: usize,
    /// Constrained to x >= 0.
    pub nonnegative: bool,
    /// f* when the generator knows it (least squares with more unknowns than rows: 0).
    pub known_minimum: Option<f64>,
    /// The sparsity graph of Q, for problems on a graph.
    pub graph: Option<Graph>,
    lipschitz: Vec<f64>,
}

impl Quadratic {
    pub fn new(q: Vec<f64>, c: Vec<f64>, constant: f64) -> Self {
        let n = c.len();
        assert_eq!(q.len(), n * n, "Q is n x n");
        let lipschitz = (0..n).map(|i| q[i * n + i]).collect();
        Self {
            q,
            c,
            constant,
            n,
            nonnegative: false,
            known_minimum: None,
            graph: None,
            lipschitz,
        }
    }

    /// f(x) from scratch.
    pub fn value_at(&self, x: &[f64]) -> f64 {
        let g = self.gradient(x);
        0.5 * dot(x, &g) - 0.5 * dot(x, &self.c) + self.constant
    }

    pub fn gradient(&self, x: &[f64]) -> Vec<f64> {
        let n = self.n;
        (0..n)
            .map(|i| dot(&self.q[i * n..(i + 1) * n], x) - self.c[i])
            .collect()
    }

    /// Q restricted to `block` (rows and columns).
    pub fn block(&self, block: &[usize]) -> Mat<f64> {
        Mat::from_fn(block.len(), block.len(), |a, b| {
            self.q[block[a] * self.n + block[b]]
        })
    }

    /// f + `l1` sum x under x >= 0 (the penalty is linear on the feasible set).
    pub fn with_nonnegative_l1(mut self, l1: f64) -> Self {
        self.c.iter_mut().for_each(|c| *c -= l1);
        self.nonnegative = true;
        self.known_minimum = None;
        self
    }

    /// The minimum over x >= 0 by an active-set solve of the whole problem.
    fn nonnegative_minimum(&self) -> anyhow::Result<f64> {
        let n = self.n;
        let q = Mat::from_fn(n, n, |i, j| self.q[i * n + j]);
        let minus_c: Vec<f64> = self.c.iter().map(|v| -v).collect();
        let x = nonnegative_qp(&q, &minus_c)?;
        Ok(self.value_at(&x))
    }
}

impl Objective for Quadratic {
    fn len(&self) -> usize {
        self.n
    }

    fn start(&self) -> Point {
        Point {
            x: vec![0.0; self.n],
            gradient: self.c.iter().map(|c| -c).collect(),
            cache: Vec::new(),
        }
    }

    fn value(&self, point: &Point) -> f64 {
        // f = 1/2 x^T Q x - c^T x + k with Q x = g + c.
        0.5 * dot(&point.x, &point.gradient) - 0.5 * dot(&point.x, &self.c) + self.constant
    }

    fn value_after(&self, point: &Point, block: &[usize], delta: &[f64]) -> f64 {
        let n = self.n;
        let linear: f64 = block
            .iter()
            .zip(delta)
            .map(|(&i, d)| point.gradient[i] * d)
            .sum();
        let quadratic: f64 = block
            .iter()
            .zip(delta)
            .map(|(&i, di)| {
                di * block
                    .iter()
                    .zip(delta)
                    .map(|(&j, dj)| self.q[i * n + j] * dj)
                    .sum::<f64>()
            })
            .sum();
        Objective::value(self, point) + linear + 0.5 * quadratic
    }

    fn step(&self, point: &mut Point, block: &[usize], delta: &[f64]) {
        let n = self.n;
        for (&j, &d) in block.iter().zip(delta) {
            point.x[j] += d;
            if let Some(graph) = &self.graph {
                // Sparse Q: only j and its neighbours see the change.
                point.gradient[j] += self.q[j * n + j] * d;
                for &i in &graph.neighbours[j] {
                    point.gradient[i] += self.q[i * n + j] * d;
                }
                continue;
            }
            // Q is symmetric: column j is row j.
            for (g, qij) in point.gradient.iter_mut().zip(&self.q[j * n..(j + 1) * n]) {
                *g += qij * d;
            }
        }
    }

    fn coordinate_lipschitz(&self) -> &[f64] {
        &self.lipschitz
    }

    fn bound_matrix(&self, block: &[usize]) -> Mat<f64> {
        self.block(block)
    }

    fn bound_product(&self, v: &[f64]) -> Vec<f64> {
        // faer's matrix-vector product (SIMD): the hard thresholding calls this ten times
        // per iteration.
        let q = faer::MatRef::from_row_major_slice(&self.q, self.n, self.n);
        let product = q * faer::ColRef::from_slice(v);
        product.iter().copied().collect()
    }

    fn bound_row_sums(&self) -> Vec<f64> {
        let n = self.n;
        (0..n)
            .map(|i| self.q[i * n..(i + 1) * n].iter().map(|v| v.abs()).sum())
            .collect()
    }

    fn hessian(&self, _point: &Point, block: &[usize]) -> Mat<f64> {
        self.block(block)
    }

    fn graph(&self) -> Option<&Graph> {
        self.graph.as_ref()
    }

    fn bound_entry(&self, i: usize, j: usize) -> f64 {
        self.q[i * self.n + j]
    }

    fn nonnegative(&self) -> bool {
        self.nonnegative
    }

    /// f* by a Cholesky solve of Q x = c (f* = k - c^T x* / 2), or the active-set solve
    /// under x >= 0.
    fn minimum(&self) -> anyhow::Result<f64> {
        if self.nonnegative {
            return self.nonnegative_minimum();
        }
        if let Some(known) = self.known_minimum {
            return Ok(known);
        }
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

/// Least squares on a sparse, badly scaled design like the paper's data set A (see
/// [`design`]): a 10%-sparse truth plus unit noise, at a size given by `rows` x `cols`.
/// With more unknowns than rows the minimum is 0 (A has full row rank almost surely).
pub fn least_squares(rows: usize, cols: usize, seed: u64) -> anyhow::Result<Quadratic> {
    check_size("least squares", rows, cols)?;
    let mut rng = Rng::new(seed, Stream::Solve, 3, 0);
    let design = design(rows, cols, &mut rng);
    let b: Vec<f64> = design.products.iter().map(|p| p + rng.normal()).collect();
    let mut problem = least_squares_from(rows, cols, &design.a, &b);
    if cols >= rows {
        problem.known_minimum = Some(0.0);
    }
    Ok(problem)
}

/// 1/2 ||A x - b||^2 for a row-major `a`.
pub fn least_squares_from(rows: usize, cols: usize, a: &[f64], b: &[f64]) -> Quadratic {
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
    Quadratic::new(q, c, 0.5 * b.iter().map(|v| v * v).sum::<f64>())
}

/// The least squares of [`least_squares`] plus `l1` sum x under x >= 0 (the paper's
/// active-set comparison, its "lsl1nn"), with `l1` given as a fraction of the smallest weight
/// at which x = 0 is optimal, max_j (A^T b)_j.
pub fn nonnegative_lasso(
    rows: usize,
    cols: usize,
    l1_fraction: f64,
    seed: u64,
) -> anyhow::Result<Quadratic> {
    if !(l1_fraction > 0.0 && l1_fraction < 1.0) {
        return Err(usage_error!(
            "coordinate descent: L1 fraction {l1_fraction}; expected a number in (0, 1)"
        ));
    }
    let problem = least_squares(rows, cols, seed)?;
    let l1 = l1_fraction * problem.c.iter().fold(0.0_f64, |m, v| m.max(*v));
    Ok(problem.with_nonnegative_l1(l1))
}

pub(super) fn check_size(what: &str, rows: usize, cols: usize) -> anyhow::Result<()> {
    if rows < 2 || cols < 2 || rows.saturating_mul(cols) > 20_000_000 || cols > 5000 {
        return Err(usage_error!(
            "coordinate descent: {rows} x {cols} {what}; expected 2 to 5,000 columns, at least 2 rows and at most 20,000,000 entries"
        ));
    }
    Ok(())
}

/// The paper's generated design (its data sets A and B): entries N(0, 1) + 1, column j
/// scaled by 10 N(0, 1), each kept with probability 10 ln(rows) / rows; a truth w with
/// N(0, 1) entries kept with probability 0.1; `products` = A w.
pub(super) struct Design {
    /// Row-major rows x cols.
    pub a: Vec<f64>,
    pub products: Vec<f64>,
}

pub(super) fn design(rows: usize, cols: usize, rng: &mut Rng) -> Design {
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
    let products = (0..rows)
        .map(|i| dot(&a[i * cols..(i + 1) * cols], &truth))
        .collect();
    Design { a, products }
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
    lattice_from_labels(side, &y, weight)
}

/// The label propagation quadratic of a side x side lattice (nodes numbered column-major)
/// with the given labels (`None`: unlabelled, a coordinate of the problem).
pub fn lattice_from_labels(
    side: usize,
    y: &[Option<f64>],
    weight: f64,
) -> anyhow::Result<Quadratic> {
    let nodes = side * side;
    if y.len() != nodes || y.iter().all(|v| v.is_some()) {
        return Err(usage_error!(
            "coordinate descent: {} labels for a {side} x {side} lattice; expected {nodes} with at least one unlabelled",
            y.len()
        ));
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
    let graph = Graph::from_dense(&q, n).with_lattice(Lattice {
        side,
        node_of: free.clone(),
    });
    let mut problem = Quadratic::new(q, c, constant);
    problem.graph = Some(graph);
    Ok(problem)
}
