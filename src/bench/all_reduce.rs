//! `stoke launch -n N -- bench all-reduce`: the time and bandwidth of one gradient all-reduce
//! of a model's size over the ranks of an MPI job, as the training engine does it (the
//! buckets of `distributed::gradients`, all in one call).

use crate::distributed::World;
use crate::distributed::gradients::{BUCKET_FLOATS, gradient_floats};
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct AllReduceResult {
    pub model: String,
    pub ranks: usize,
    pub floats: usize,
    pub buckets: usize,
    pub repeats: usize,
    pub median_seconds: f64,
    /// Gradient bytes per second of one rank's view: size / time.
    pub algorithm_gb_per_s: f64,
    /// nccl-tests' bus bandwidth, 2 (n - 1) / n times the algorithm bandwidth: what each link
    /// carries in a ring all-reduce, comparable across rank counts.
    pub bus_gb_per_s: f64,
}

/// Times `repeats` all-reduces (after two warm-ups) of the trainable size of `model`.
pub fn all_reduce(world: &World, model: &str, repeats: usize) -> anyhow::Result<AllReduceResult> {
    let spec = super::model_spec(model)?;
    let device = burn::tensor::Device::flex().autodiff();
    let floats = gradient_floats(&spec.build([3, 32, 32], 10, &device)?);
    let sizes: Vec<usize> = (0..floats.div_ceil(BUCKET_FLOATS))
        .map(|b| BUCKET_FLOATS.min(floats - b * BUCKET_FLOATS))
        .collect();
    let mut times = Vec::with_capacity(repeats);
    for round in 0..repeats + 2 {
        let mut buckets: Vec<Vec<f32>> = sizes
            .iter()
            .map(|&n| vec![(world.rank() + 1) as f32; n])
            .collect();
        let started = Instant::now();
        world.sum_f32(&mut buckets, "the all-reduce benchmark");
        let seconds = started.elapsed().as_secs_f64();
        // Every element is 1 + 2 + ... + n: a wrong reduction is not a fast one.
        let n = world.size();
        let expected = (n * (n + 1) / 2) as f32;
        if buckets.iter().flatten().any(|&v| v != expected) {
            anyhow::bail!("the all-reduce returned wrong sums");
        }
        if round >= 2 {
            times.push(seconds);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let bytes = (floats * 4) as f64;
    let ranks = world.size();
    let algorithm = bytes / median / 1e9;
    Ok(AllReduceResult {
        model: model.to_string(),
        ranks,
        floats,
        buckets: sizes.len(),
        repeats,
        median_seconds: median,
        algorithm_gb_per_s: algorithm,
        bus_gb_per_s: algorithm * 2.0 * (ranks - 1) as f64 / ranks as f64,
    })
}
