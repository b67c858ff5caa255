//! `stoke bench softmax`: the two-pass kernel against Burn's built-in softmax on flex and a
//! three-pass kernel with the same SIMD exp, per row length, in cache and out of cache, next to
//! the memory-bandwidth bound of a pass that reads the input twice and writes once.

use crate::kernels::softmax::{Algorithm, Version, softmax_rows};
use crate::rng::{Rng, Stream};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct SoftmaxCase {
    pub row_len: usize,
    pub rows: usize,
    pub megabytes: f64,
    /// Input gigabytes per second (median), per contender.
    pub two_pass_gbs: f64,
    /// The kernel through `stoke::kernels::softmax` on a flex tensor (allocates its output,
    /// like the built-in).
    pub two_pass_tensor_gbs: f64,
    /// The same on a tensor nobody else holds, which the kernel overwrites in place.
    pub two_pass_in_place_gbs: f64,
    pub three_pass_gbs: f64,
    pub builtin_gbs: f64,
    pub bound_gbs: f64,
    pub two_pass_over_builtin: f64,
    pub two_pass_over_three_pass: f64,
    pub two_pass_of_bound: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SoftmaxBench {
    pub version: String,
    pub threads: usize,
    pub cases: Vec<SoftmaxCase>,
    /// ViT-Tiny forward passes (batch 64, 3x32x32: 65 tokens, 3 heads, 12 blocks), images/s.
    pub vit_tiny_two_pass_images_per_second: f64,
    pub vit_tiny_builtin_images_per_second: f64,
}

/// Images/s of ViT-Tiny inference with the process-wide softmax choice.
fn vit_throughput(builtin: bool, reps: usize) -> f64 {
    let device = Device::flex();
    let model = crate::bench::model_spec("vit_tiny")
        .and_then(|spec| spec.build([3, 32, 32], 10, &device))
        .expect("the vit_tiny preset builds");
    let images = Tensor::<4>::random(
        [64, 3, 32, 32],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    crate::kernels::softmax::use_builtin(builtin);
    let seconds = median_seconds(reps, || {
        std::hint::black_box(model.forward(images.clone()));
    });
    crate::kernels::softmax::use_builtin(false);
    64.0 / seconds
}

fn median_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Reads `x` twice (a sum, then a scaled copy into `y`) on all threads: what any two-pass
/// softmax must move at least.
fn bandwidth_pass(x: &[f32], y: &mut [f32]) -> f32 {
    const PIECE: usize = 1 << 14;
    // 32 independent partial sums so the reduction vectorises and is limited by memory, not
    // by the latency of one chain of additions.
    let partial = |c: &[f32]| {
        let mut acc = [0f32; 32];
        let mut blocks = c.chunks_exact(32);
        for block in &mut blocks {
            for (a, &v) in acc.iter_mut().zip(block) {
                *a += v;
            }
        }
        acc.iter().sum::<f32>() + blocks.remainder().iter().sum::<f32>()
    };
    let sum: f32 = x.par_chunks(PIECE).map(partial).sum();
    let scale = 1.0 / (1.0 + sum.abs());
    x.par_chunks(PIECE)
        .zip(y.par_chunks_mut(PIECE))
        .for_each(|(a, b)| b.iter_mut().zip(a).for_each(|(o, &v)| *o = v * scale));
    sum
}

/// Runs every case: `row_lens` x total sizes in bytes.
pub fn softmax(row_lens: &[usize], totals_mb: &[f64], reps: usize) -> SoftmaxBench {
    let version = Version::best();
    let device = Device::flex();
    let mut cases = Vec::new();
    for &total_mb in totals_mb {
        for &row_len in row_lens {
            let elements = ((total_mb * 1e6 / 4.0) as usize).max(row_len);
            let rows = elements / row_len;
            let n = rows * row_len;
            let mut rng = Rng::new(0, Stream::Synthetic, n as u64, 0);
            let x: Vec<f32> = (0..n).map(|_| (rng.normal() * 4.0) as f32).collect();
            let mut y = vec![0f32; n];
            let gbs = |seconds: f64| n as f64 * 4.0 / seconds / 1e9;
            let two = gbs(median_seconds(reps, || {
                softmax_rows(&x, &mut y, row_len, version, Algorithm::TwoPass)
            }));
            let three = gbs(median_seconds(reps, || {
                softmax_rows(&x, &mut y, row_len, version, Algorithm::ThreePass)
            }));
            let bound = gbs(median_seconds(reps, || {
                std::hint::black_box(bandwidth_pass(&x, &mut y));
            }));
            let tensor =
                Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, row_len]), &device);
            let builtin = gbs(median_seconds(reps, || {
                std::hint::black_box(burn::tensor::activation::softmax(tensor.clone(), 1));
            }));
            let two_tensor = gbs(median_seconds(reps, || {
                std::hint::black_box(crate::kernels::softmax::softmax(tensor.clone(), 1));
            }));
            // Each call takes the previous output, which only it holds: the in-place path.
            let mut owned = Some(tensor.clone() * 1.0);
            let two_in_place = gbs(median_seconds(reps, || {
                let input = owned.take().expect("the previous output");
                owned = Some(crate::kernels::softmax::softmax(input, 1));
            }));
            cases.push(SoftmaxCase {
                row_len,
                rows,
                megabytes: n as f64 * 4.0 / 1e6,
                two_pass_gbs: two,
                two_pass_tensor_gbs: two_tensor,
                two_pass_in_place_gbs: two_in_place,
                three_pass_gbs: three,
                builtin_gbs: builtin,
                bound_gbs: bound,
                two_pass_over_builtin: two_tensor / builtin,
                two_pass_over_three_pass: two / three,
                two_pass_of_bound: two / bound,
            });
        }
    }
    let reps_vit = reps.min(5);
    SoftmaxBench {
        version: version.name().into(),
        threads: rayon::current_num_threads(),
        cases,
        vit_tiny_two_pass_images_per_second: vit_throughput(false, reps_vit),
        vit_tiny_builtin_images_per_second: vit_throughput(true, reps_vit),
    }
}
