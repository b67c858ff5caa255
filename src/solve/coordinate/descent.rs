//! Block coordinate descent: select a block, update it, keep the gradient current; the trace
//! is f(x_k) - f* per iteration, the curves of the paper's comparison.

use super::quadratic::Quadratic;
use super::selection::Selector;
use crate::rng::{Rng, Stream};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Update {
    /// x_b -= g_b / L_b with L_b = lambda_max(Q_bb).
    Lipschitz,
    /// x_b -= Q_bb^-1 g_b: exact minimisation over the block for a quadratic.
    Matrix,
}

/// Runs `iterations` block updates from x = 0; returns f(x_k) - `optimum` for k = 0..=iterations.
pub fn descend(
    problem: &Quadratic,
    selector: &Selector,
    update: Update,
    iterations: usize,
    optimum: f64,
    seed: u64,
) -> Vec<f64> {
    let n = problem.n;
    let mut x = vec![0.0; n];
    let mut g: Vec<f64> = problem.c.iter().map(|c| -c).collect();
    let value = |x: &[f64], g: &[f64]| -> f64 {
        // f = 1/2 x^T Q x - c^T x + k with Q x = g + c.
        let xg: f64 = x.iter().zip(g).map(|(a, b)| a * b).sum();
        let xc: f64 = x.iter().zip(&problem.c).map(|(a, b)| a * b).sum();
        0.5 * xg - 0.5 * xc + problem.constant
    };
    let mut rng = Rng::new(seed, Stream::Solve, 5, 0);
    let mut trace = vec![value(&x, &g) - optimum];
    for iteration in 0..iterations {
        let block = selector.select(&g, iteration, &mut rng);
        let gb: Vec<f64> = block.iter().map(|&i| g[i]).collect();
        let delta = match update {
            Update::Lipschitz => {
                let l = problem.block_lipschitz(&block);
                gb.iter().map(|v| -v / l).collect::<Vec<f64>>()
            }
            Update::Matrix => {
                let rhs = Mat::from_fn(gb.len(), 1, |i, _| -gb[i]);
                match problem.block(&block).llt(Side::Lower) {
                    Ok(llt) => {
                        let d = llt.solve(&rhs);
                        (0..gb.len()).map(|i| d[(i, 0)]).collect()
                    }
                    Err(_) => {
                        let l = problem.block_lipschitz(&block);
                        gb.iter().map(|v| -v / l).collect()
                    }
                }
            }
        };
        for (&i, d) in block.iter().zip(&delta) {
            x[i] += d;
        }
        problem.update_gradient(&mut g, &block, &delta);
        trace.push(value(&x, &g) - optimum);
    }
    trace
}
