//! Block coordinate descent: select a block, update it, keep the gradient current; the trace
//! is f(x_k) - f* and the elapsed time per iteration, the curves of the paper's comparison.

use super::objective::Objective;
use super::selection::Selector;
use super::update::{Update, block_delta};
use crate::rng::{Rng, Stream};
use crate::train::CancelToken;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Trace {
    /// f(x_k) - f* for k = 0..=iterations (fewer when cancelled).
    pub gaps: Vec<f64>,
    /// Seconds from the start (selection and update included) at each entry of `gaps`.
    pub seconds: Vec<f64>,
    /// Coordinates updated, summed over the iterations.
    pub coordinates_updated: usize,
}

/// Runs `iterations` block updates from x = 0.
pub fn descend(
    problem: &dyn Objective,
    selector: &Selector,
    update: Update,
    iterations: usize,
    optimum: f64,
    seed: u64,
    cancel: &CancelToken,
) -> anyhow::Result<Trace> {
    if update.projected() != problem.nonnegative() {
        return Err(crate::usage_error!(
            "coordinate descent: update {update:?} {}",
            if problem.nonnegative() {
                "ignores the problem's x >= 0 constraint; use projected-gradient, two-metric or projected-newton"
            } else {
                "is for problems constrained to x >= 0"
            }
        ));
    }
    if selector.rule.forest() && update != Update::Matrix {
        return Err(crate::usage_error!(
            "coordinate descent: forest blocks ({:?}) are solved exactly by message passing; use the matrix update",
            selector.rule
        ));
    }
    let mut point = problem.start();
    let mut rng = Rng::new(seed, Stream::Solve, 5, 0);
    let started = Instant::now();
    let mut trace = Trace {
        gaps: vec![problem.value(&point) - optimum],
        seconds: vec![0.0],
        coordinates_updated: 0,
    };
    for iteration in 0..iterations {
        if cancel.is_cancelled() {
            break;
        }
        let selection = selector.select(problem, &point, iteration, &mut rng);
        let delta = block_delta(problem, &point, &selection.block, update, selection.forest)?;
        problem.step(&mut point, &selection.block, &delta);
        trace.coordinates_updated += selection.block.len();
        trace.gaps.push(problem.value(&point) - optimum);
        trace.seconds.push(started.elapsed().as_secs_f64());
    }
    Ok(trace)
}
