//! Binary logistic regression, f(x) = sum_i log(1 + exp(-b_i a_i^T x)), on the paper's
//! generated design (its data set B: labels sign(A w) with 10% flipped). The margins A x are
//! the point's cache; a block step moves them along the block's columns and recomputes the
//! gradient A^T r from the residuals r_i = -b_i sigma(-b_i m_i).

use super::objective::{Objective, Point};
use super::quadratic::{check_size, design};
use crate::rng::{Rng, Stream};
use crate::solve::numeric::{dot, sigmoid, softplus};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

#[derive(Clone, Debug)]
pub struct Logistic {
    rows: usize,
    /// The nonzeros of each column of A: (row, value).
    columns: Vec<Vec<(usize, f64)>>,
    /// The nonzeros of each row of A: (column, value).
    row_entries: Vec<Vec<(usize, f64)>>,
    labels: Vec<f64>,
    /// L_i = ||a_i||^2 / 4.
    lipschitz: Vec<f64>,
}

/// The paper's data set B at `rows` x `cols`. With several times more rows than columns
/// the 10% flipped labels make the data inseparable, so a minimiser exists (the paper's
/// 1,000 x 10,000 is separable and its f* is the infimum 0; random labels are separable
/// with high probability up to about twice as many rows as columns).
pub fn logistic_regression(rows: usize, cols: usize, seed: u64) -> anyhow::Result<Logistic> {
    check_size("logistic regression", rows, cols)?;
    let mut rng = Rng::new(seed, Stream::Solve, 6, 0);
    let design = design(rows, cols, &mut rng);
    let labels: Vec<f64> = design
        .products
        .iter()
        .map(|p| {
            let sign = if *p >= 0.0 { 1.0 } else { -1.0 };
            if rng.uniform() < 0.1 { -sign } else { sign }
        })
        .collect();
    Ok(Logistic::new(rows, cols, &design.a, labels))
}

impl Logistic {
    /// From a row-major dense `a` and labels in {-1, 1}.
    pub fn new(rows: usize, cols: usize, a: &[f64], labels: Vec<f64>) -> Self {
        let mut columns = vec![Vec::new(); cols];
        let mut row_entries = vec![Vec::new(); rows];
        for i in 0..rows {
            for j in 0..cols {
                let v = a[i * cols + j];
                if v != 0.0 {
                    columns[j].push((i, v));
                    row_entries[i].push((j, v));
                }
            }
        }
        let lipschitz = columns
            .iter()
            .map(|c| 0.25 * c.iter().map(|(_, v)| v * v).sum::<f64>())
            .collect();
        Self {
            rows,
            columns,
            row_entries,
            labels,
            lipschitz,
        }
    }

    fn loss(&self, margins: &[f64]) -> f64 {
        margins
            .iter()
            .zip(&self.labels)
            .map(|(m, b)| softplus(-b * m))
            .sum()
    }

    fn gradient_at(&self, margins: &[f64]) -> Vec<f64> {
        let residual: Vec<f64> = margins
            .iter()
            .zip(&self.labels)
            .map(|(m, b)| -b * sigmoid(-b * m))
            .collect();
        self.columns
            .iter()
            .map(|c| c.iter().map(|(i, v)| v * residual[*i]).sum())
            .collect()
    }

    /// A_b^T diag(weights) A_b.
    fn weighted_gram(&self, block: &[usize], weights: &[f64]) -> Mat<f64> {
        let mut dense = vec![0.0; self.rows];
        let mut m = Mat::zeros(block.len(), block.len());
        for (a, &j) in block.iter().enumerate() {
            for &(i, v) in &self.columns[j] {
                dense[i] = v * weights[i];
            }
            for (b, &k) in block.iter().enumerate() {
                m[(a, b)] = self.columns[k].iter().map(|(i, v)| v * dense[*i]).sum();
            }
            for &(i, _) in &self.columns[j] {
                dense[i] = 0.0;
            }
        }
        m
    }

    fn curvature(&self, margins: &[f64]) -> Vec<f64> {
        margins
            .iter()
            .map(|m| {
                let s = sigmoid(*m);
                s * (1.0 - s)
            })
            .collect()
    }
}

impl Objective for Logistic {
    fn len(&self) -> usize {
        self.columns.len()
    }

    fn start(&self) -> Point {
        let margins = vec![0.0; self.rows];
        Point {
            x: vec![0.0; self.len()],
            gradient: self.gradient_at(&margins),
            cache: margins,
        }
    }

    fn value(&self, point: &Point) -> f64 {
        self.loss(&point.cache)
    }

    fn value_after(&self, point: &Point, block: &[usize], delta: &[f64]) -> f64 {
        let mut margins = point.cache.clone();
        for (&j, d) in block.iter().zip(delta) {
            for &(i, v) in &self.columns[j] {
                margins[i] += v * d;
            }
        }
        self.loss(&margins)
    }

    fn step(&self, point: &mut Point, block: &[usize], delta: &[f64]) {
        for (&j, d) in block.iter().zip(delta) {
            point.x[j] += d;
            for &(i, v) in &self.columns[j] {
                point.cache[i] += v * d;
            }
        }
        point.gradient = self.gradient_at(&point.cache);
    }

    fn coordinate_lipschitz(&self) -> &[f64] {
        &self.lipschitz
    }

    fn bound_matrix(&self, block: &[usize]) -> Mat<f64> {
        self.weighted_gram(block, &vec![0.25; self.rows])
    }

    fn bound_product(&self, v: &[f64]) -> Vec<f64> {
        let av: Vec<f64> = self
            .row_entries
            .iter()
            .map(|r| r.iter().map(|(j, a)| a * v[*j]).sum())
            .collect();
        self.columns
            .iter()
            .map(|c| 0.25 * c.iter().map(|(i, a)| a * av[*i]).sum::<f64>())
            .collect()
    }

    fn bound_row_sums(&self) -> Vec<f64> {
        let mut row_of_gram = vec![0.0; self.len()];
        let mut seen = vec![false; self.len()];
        let mut touched = Vec::new();
        self.columns
            .iter()
            .map(|column| {
                // Row j of A^T A: the sum over the rows i where a_ij != 0 of a_ij a_i.
                for &(i, aij) in column {
                    for &(k, aik) in &self.row_entries[i] {
                        if !seen[k] {
                            seen[k] = true;
                            touched.push(k);
                        }
                        row_of_gram[k] += aij * aik;
                    }
                }
                let sum: f64 = touched.iter().map(|&k| row_of_gram[k].abs()).sum();
                for k in touched.drain(..) {
                    row_of_gram[k] = 0.0;
                    seen[k] = false;
                }
                0.25 * sum
            })
            .collect()
    }

    fn hessian(&self, point: &Point, block: &[usize]) -> Mat<f64> {
        self.weighted_gram(block, &self.curvature(&point.cache))
    }

    /// f* by Newton's method on all coordinates with a backtracking line search, until the
    /// Newton decrement -g^T d (about twice f - f*) is below 1e-14 f. On separable data
    /// (no minimiser) f and the decrement shrink together, so that never happens: an error.
    fn minimum(&self) -> anyhow::Result<f64> {
        let all: Vec<usize> = (0..self.len()).collect();
        let mut point = self.start();
        for _ in 0..100 {
            let h = self.hessian(&point, &all);
            let rhs = Mat::from_fn(all.len(), 1, |i, _| -point.gradient[i]);
            let Ok(llt) = h.llt(Side::Lower) else {
                break;
            };
            let d = llt.solve(&rhs);
            let d: Vec<f64> = (0..all.len()).map(|i| d[(i, 0)]).collect();
            let f = self.value(&point);
            let slope = dot(&point.gradient, &d);
            if -slope <= 1e-14 * f {
                return Ok(f);
            }
            let mut t = 1.0;
            while self.value_after(&point, &all, &d.iter().map(|v| t * v).collect::<Vec<_>>())
                > f + 1e-4 * t * slope
                && t > 1e-12
            {
                t *= 0.5;
            }
            let step: Vec<f64> = d.iter().map(|v| t * v).collect();
            self.step(&mut point, &all, &step);
        }
        Err(crate::usage_error!(
            "logistic regression: Newton's method found no minimiser (separable data?); use several times more rows than columns"
        ))
    }
}
