//! Block selection rules of Nutini, Laradji and Schmidt (JMLR 2022), as the official code
//! (IssamLaradji/BlockCoordinateDescent) scores them: fixed blocks (a partition of the
//! coordinates sorted by L_i into blocks of tau) chosen at random, cyclically, with
//! probability proportional to L_b, or greedily (GS: sum |g|, GSL: sum |g| / sqrt(L_b), GSD:
//! sum |g_i| / sqrt(L_i), GSQ: sqrt(g_b^T Q_bb^-1 g_b)); variable blocks of the tau best
//! coordinates (random, GS: |g_i|, GSD: |g_i| / sqrt(L_i), "GSL": |g_i| / sqrt(sum_j |Q_ij|),
//! the diagonal bound the official code uses for variable-block GSL).

use super::quadratic::Quadratic;
use crate::rng::Rng;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Random,
    Cyclic,
    /// Blocks drawn with probability proportional to their Lipschitz constant.
    Lipschitz,
    /// Gauss-Southwell.
    Gs,
    /// Gauss-Southwell-Lipschitz.
    Gsl,
    /// Gauss-Southwell with the diagonal of the per-coordinate constants.
    Gsd,
    /// Gauss-Southwell-quadratic (fixed blocks only).
    Gsq,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Blocks {
    /// A partition into blocks of tau coordinates with similar L_i (the paper's "Sort").
    Fixed,
    /// Any tau coordinates, chosen anew each iteration.
    Variable,
}

/// What a selector precomputes for a problem: the coordinates' and blocks' constants.
pub struct Selector {
    pub rule: Rule,
    pub blocks: Blocks,
    tau: usize,
    coordinate_lipschitz: Vec<f64>,
    partition: Vec<Vec<usize>>,
    block_lipschitz: Vec<f64>,
    /// Q_bb^-1 of each fixed block (GSQ).
    block_inverses: Vec<Mat<f64>>,
    /// sum_j |Q_ij| (variable-block GSL).
    row_sums: Vec<f64>,
}

impl Selector {
    pub fn new(
        problem: &Quadratic,
        rule: Rule,
        blocks: Blocks,
        tau: usize,
    ) -> anyhow::Result<Self> {
        let n = problem.n;
        if tau == 0 || tau > n || (blocks == Blocks::Fixed && !n.is_multiple_of(tau)) {
            return Err(crate::usage_error!(
                "coordinate descent: block size {tau} for {n} coordinates; fixed blocks need a divisor of {n}"
            ));
        }
        if blocks == Blocks::Variable && matches!(rule, Rule::Gsq | Rule::Cyclic | Rule::Lipschitz)
        {
            return Err(crate::usage_error!(
                "coordinate descent: rule {rule:?} is defined for fixed blocks only"
            ));
        }
        let coordinate_lipschitz = problem.coordinate_lipschitz();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| coordinate_lipschitz[a].total_cmp(&coordinate_lipschitz[b]));
        let partition: Vec<Vec<usize>> = match blocks {
            Blocks::Fixed => order.chunks(tau).map(|c| c.to_vec()).collect(),
            Blocks::Variable => Vec::new(),
        };
        let block_lipschitz = partition
            .iter()
            .map(|b| problem.block_lipschitz(b))
            .collect();
        let block_inverses = match rule {
            Rule::Gsq => partition
                .iter()
                .map(|b| {
                    let m = problem.block(b);
                    let shifted = Mat::from_fn(b.len(), b.len(), |i, j| {
                        m[(i, j)] + if i == j { 1e-10 } else { 0.0 }
                    });
                    match shifted.llt(Side::Lower) {
                        Ok(llt) => llt.inverse(),
                        Err(_) => Mat::identity(b.len(), b.len()),
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        let row_sums = (0..n)
            .map(|i| problem.q[i * n..(i + 1) * n].iter().map(|v| v.abs()).sum())
            .collect();
        Ok(Self {
            rule,
            blocks,
            tau,
            coordinate_lipschitz,
            partition,
            block_lipschitz,
            block_inverses,
            row_sums,
        })
    }

    /// The block of iteration `iteration` at gradient `g` (sorted coordinates).
    pub fn select(&self, g: &[f64], iteration: usize, rng: &mut Rng) -> Vec<usize> {
        match self.blocks {
            Blocks::Fixed => self.partition[self.fixed(g, iteration, rng)].clone(),
            Blocks::Variable => self.variable(g, rng),
        }
    }

    fn fixed(&self, g: &[f64], iteration: usize, rng: &mut Rng) -> usize {
        let count = self.partition.len();
        let score = |k: usize| -> f64 {
            let b = &self.partition[k];
            let l1: f64 = b.iter().map(|&i| g[i].abs()).sum();
            match self.rule {
                Rule::Gs => l1,
                Rule::Gsl => l1 / self.block_lipschitz[k].sqrt(),
                Rule::Gsd => b
                    .iter()
                    .map(|&i| g[i].abs() / self.coordinate_lipschitz[i].sqrt())
                    .sum(),
                _ => {
                    let inverse = &self.block_inverses[k];
                    let quadratic: f64 = (0..b.len())
                        .flat_map(|p| (0..b.len()).map(move |r| (p, r)))
                        .map(|(p, r)| g[b[p]] * inverse[(p, r)] * g[b[r]])
                        .sum();
                    quadratic.max(0.0).sqrt()
                }
            }
        };
        match self.rule {
            Rule::Random => rng.below(count as u64) as usize,
            Rule::Cyclic => iteration % count,
            Rule::Lipschitz => {
                let total: f64 = self.block_lipschitz.iter().sum();
                let mut target = rng.uniform() * total;
                for (k, l) in self.block_lipschitz.iter().enumerate() {
                    if target < *l {
                        return k;
                    }
                    target -= l;
                }
                count - 1
            }
            // The first of equal scores, as the official code's strict `>`.
            _ => {
                (0..count)
                    .fold((0, f64::NEG_INFINITY), |(best, s), k| {
                        let v = score(k);
                        if v > s { (k, v) } else { (best, s) }
                    })
                    .0
            }
        }
    }

    fn variable(&self, g: &[f64], rng: &mut Rng) -> Vec<usize> {
        let n = g.len();
        let mut block: Vec<usize> = match self.rule {
            Rule::Random => rng.permutation(n).into_iter().take(self.tau).collect(),
            _ => {
                let score = |i: usize| match self.rule {
                    Rule::Gs => g[i].abs(),
                    Rule::Gsd => g[i].abs() / self.coordinate_lipschitz[i].sqrt(),
                    _ => g[i].abs() / self.row_sums[i].sqrt(),
                };
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
                order.truncate(self.tau);
                order
            }
        };
        block.sort_unstable();
        block
    }
}
