//! Block selection rules of Nutini, Laradji and Schmidt (JMLR 2022), as the official code
//! (IssamLaradji/BlockCoordinateDescent) scores them: fixed blocks (a partition of the
//! coordinates sorted by L_i into blocks of tau) chosen at random, cyclically, with
//! probability proportional to L_b, or greedily (GS: sum |g|, GSL: sum |g| / sqrt(L_b), GSD:
//! sum |g_i| / sqrt(L_i), GSQ: sqrt(g_b^T Q_bb^-1 g_b)); variable blocks of the tau best
//! coordinates (random, GS: |g_i|, GSD: |g_i| / sqrt(L_i), "GSL": |g_i| / sqrt(sum_j |Q_ij|),
//! the diagonal bound the official code uses for variable-block GSL, and GSQ approximated by
//! ten steps of iterative hard thresholding, or for x >= 0 by the projected coordinate
//! bounds, the official "gsq-nn"); and for sparse quadratics, forest blocks: grown greedily in
//! the order of |g_i| ("GSTree") or at random ("RTree"), or the lattice's red-black and
//! tree-partition layouts visited cyclically.

use super::forest::{LatticeLayout, grow_forest, lattice_blocks};
use super::objective::{Objective, largest_bound_eigenvalue, largest_eigenvalue};
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
    /// Gauss-Southwell-quadratic.
    Gsq,
    /// A maximal forest grown in the order of |g_i| (sparse quadratics).
    GsForest,
    /// A maximal forest grown in a random order (sparse quadratics).
    RandomForest,
    /// The lattice's two colours, cyclically: diagonal blocks.
    RedBlack,
    /// The lattice's two combs, cyclically: forest blocks.
    TreePartition,
}

impl Rule {
    /// Rules whose blocks are forests of the problem's graph.
    pub fn forest(self) -> bool {
        matches!(
            self,
            Rule::GsForest | Rule::RandomForest | Rule::RedBlack | Rule::TreePartition
        )
    }
}

/// A selected block (sorted coordinates) and whether it is a forest of the graph.
pub struct Selection {
    pub block: Vec<usize>,
    pub forest: bool,
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
    /// M_bb^-1 of each fixed block (GSQ).
    block_inverses: Vec<Mat<f64>>,
    /// sum_j |M_ij| (variable-block GSL).
    row_sums: Vec<f64>,
    /// 1 / lambda_max(M): the step of variable-block GSQ's hard thresholding.
    thresholding_step: f64,
    nonnegative: bool,
}

impl Selector {
    pub fn new(
        problem: &dyn Objective,
        rule: Rule,
        blocks: Blocks,
        tau: usize,
    ) -> anyhow::Result<Self> {
        let n = problem.len();
        if rule.forest() {
            let Some(graph) = problem.graph() else {
                return Err(crate::usage_error!(
                    "coordinate descent: rule {rule:?} needs a problem on a sparse graph (the lattice)"
                ));
            };
            let layout = match rule {
                Rule::RedBlack => Some(LatticeLayout::RedBlack),
                Rule::TreePartition => Some(LatticeLayout::TreePartition),
                _ => None,
            };
            let partition = match layout {
                Some(layout) => lattice_blocks(graph, layout).ok_or_else(|| {
                    crate::usage_error!("coordinate descent: rule {rule:?} needs a lattice problem")
                })?,
                None => Vec::new(),
            };
            return Ok(Self {
                rule,
                blocks,
                tau,
                coordinate_lipschitz: problem.coordinate_lipschitz().to_vec(),
                partition,
                block_lipschitz: Vec::new(),
                block_inverses: Vec::new(),
                row_sums: Vec::new(),
                thresholding_step: 0.0,
                nonnegative: problem.nonnegative(),
            });
        }
        if tau == 0 || tau > n || (blocks == Blocks::Fixed && !n.is_multiple_of(tau)) {
            return Err(crate::usage_error!(
                "coordinate descent: block size {tau} for {n} coordinates; fixed blocks need a divisor of {n}"
            ));
        }
        if blocks == Blocks::Variable && matches!(rule, Rule::Cyclic | Rule::Lipschitz) {
            return Err(crate::usage_error!(
                "coordinate descent: rule {rule:?} is defined for fixed blocks only"
            ));
        }
        let coordinate_lipschitz = problem.coordinate_lipschitz().to_vec();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| coordinate_lipschitz[a].total_cmp(&coordinate_lipschitz[b]));
        let partition: Vec<Vec<usize>> = match blocks {
            Blocks::Fixed => order.chunks(tau).map(|c| c.to_vec()).collect(),
            Blocks::Variable => Vec::new(),
        };
        let block_lipschitz = partition
            .iter()
            .map(|b| largest_eigenvalue(&problem.bound_matrix(b)))
            .collect();
        let block_inverses = match (rule, blocks) {
            (Rule::Gsq, Blocks::Fixed) => partition
                .iter()
                .map(|b| {
                    let m = problem.bound_matrix(b);
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
        let row_sums = match (rule, blocks) {
            (Rule::Gsl, Blocks::Variable) => problem.bound_row_sums(),
            _ => Vec::new(),
        };
        let thresholding_step = match (rule, blocks) {
            (Rule::Gsq, Blocks::Variable) if !problem.nonnegative() => {
                1.0 / largest_bound_eigenvalue(problem)
            }
            _ => 0.0,
        };
        Ok(Self {
            rule,
            blocks,
            tau,
            coordinate_lipschitz,
            partition,
            block_lipschitz,
            block_inverses,
            row_sums,
            thresholding_step,
            nonnegative: problem.nonnegative(),
        })
    }

    /// The block of iteration `iteration` at `point`. Ties of greedy scores go as in the
    /// official code's stable `argsort(s)[-tau:]`: the larger index first.
    pub fn select(
        &self,
        problem: &dyn Objective,
        point: &super::objective::Point,
        iteration: usize,
        rng: &mut Rng,
    ) -> Selection {
        let g = &point.gradient;
        if self.rule.forest() {
            let block = match self.rule {
                Rule::GsForest => {
                    let mut order: Vec<usize> = (0..g.len()).collect();
                    order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()).then(b.cmp(&a)));
                    grow_forest(order, problem.graph().expect("checked in new"))
                }
                Rule::RandomForest => grow_forest(
                    rng.permutation(g.len()),
                    problem.graph().expect("checked in new"),
                ),
                _ => self.partition[iteration % self.partition.len()].clone(),
            };
            return Selection {
                block,
                forest: true,
            };
        }
        let block = match self.blocks {
            Blocks::Fixed => self.partition[self.fixed(g, &point.x, iteration, rng)].clone(),
            Blocks::Variable if self.rule == Rule::Gsq && self.nonnegative => {
                self.projected_quadratic(g, &point.x)
            }
            Blocks::Variable if self.rule == Rule::Gsq => self.hard_thresholding(problem, g),
            Blocks::Variable => self.variable(g, rng),
        };
        Selection {
            block,
            forest: false,
        }
    }

    /// The official "IHT": ten steps of d <- H_tau(d - mu (g + M d)) from d = g / sqrt(L),
    /// keeping the tau largest |d_i|, approximately minimising g^T d + d^T M d / 2 over
    /// tau-sparse d.
    fn hard_thresholding(&self, problem: &dyn Objective, g: &[f64]) -> Vec<usize> {
        let n = g.len();
        let mut d: Vec<f64> = g
            .iter()
            .zip(&self.coordinate_lipschitz)
            .map(|(g, l)| g / l.sqrt())
            .collect();
        let mut block = Vec::new();
        for _ in 0..10 {
            let md = problem.bound_product(&d);
            let next: Vec<f64> = (0..n)
                .map(|i| d[i] - self.thresholding_step * (g[i] + md[i]))
                .collect();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| next[b].abs().total_cmp(&next[a].abs()).then(b.cmp(&a)));
            block = order[..self.tau].to_vec();
            let mut kept = vec![0.0; n];
            for &i in &block {
                kept[i] = next[i];
            }
            let change: f64 = kept.iter().zip(&d).map(|(a, b)| (a - b) * (a - b)).sum();
            d = kept;
            if change.sqrt() < 1e-10 {
                break;
            }
        }
        block.sort_unstable();
        block
    }

    /// g_i d + L_i d^2 / 2 for the projected step d = max(x_i - g_i / L_i, 0) - x_i.
    fn projected_decrease(&self, g: &[f64], x: &[f64], i: usize) -> f64 {
        let l = self.coordinate_lipschitz[i];
        let d = (x[i] - g[i] / l).max(0.0) - x[i];
        g[i] * d + 0.5 * l * d * d
    }

    /// The official "gsq-nn": each coordinate's decrease of its projected quadratic bound,
    /// g_i d_i + L_i d_i^2 / 2 with d_i = max(x_i - g_i / L_i, 0) - x_i; the tau largest.
    fn projected_quadratic(&self, g: &[f64], x: &[f64]) -> Vec<usize> {
        let n = g.len();
        let score: Vec<f64> = (0..n).map(|i| self.projected_decrease(g, x, i)).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| score[a].total_cmp(&score[b]).then(a.cmp(&b)));
        let mut block = order[..self.tau].to_vec();
        block.sort_unstable();
        block
    }

    fn fixed(&self, g: &[f64], x: &[f64], iteration: usize, rng: &mut Rng) -> usize {
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
                // The official fixed-block "gsq-nn": the summed decreases of the projected
                // coordinate bounds.
                Rule::Gsq if self.nonnegative => b
                    .iter()
                    .map(|&i| self.projected_decrease(g, x, i).abs())
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
                order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(b.cmp(&a)));
                order.truncate(self.tau);
                order
            }
        };
        block.sort_unstable();
        block
    }
}
