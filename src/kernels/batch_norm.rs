//! Batch norm in training mode as one flex backend extension, forward and backward.
//!
//! Burn 0.22 differentiates batch norm as one operation, but flex computes it with Burn's
//! default composition: the statistics through a swap of the batch and channel axes (a copy
//! of the whole activation), a reshape and two mean reductions, then broadcast arithmetic;
//! the backward likewise (two more layout copies, five broadcast passes). This kernel reads
//! the activation in place, channel by channel (`[N, C, rest]` is N planes of `rest` per
//! channel):
//!
//! - forward: per channel the mean, then the mean squared deviation (two passes, f64 sums,
//!   numerically safe), then `y = (x - mean_c) a_c + beta_c` in one pass per plane;
//! - backward: per channel `sum(dy)` and `sum(dy (x - mean))` in one pass (f64), then
//!   `dx = k1 dy + k2 x + k3` in one pass per plane; `dgamma` and `dbeta` are the sums.
//!
//! Each channel's sums run in a fixed order on one thread, so results do not depend on the
//! thread count or timing. Semantics are Burn's: the returned variance is the biased one
//! (what `burn::nn::BatchNorm` feeds its running variance) and the backward is the exact
//! gradient through the batch statistics. Other backends, other dtypes and
//! `kernels.batch_norm = "builtin"` use Burn's `batch_norm_train`.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::nn::BatchNorm;
use burn::tensor::{FloatDType, Tensor};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

static USE_BUILTIN: AtomicBool = AtomicBool::new(false);

/// Selects Burn's batch norm (`kernels.batch_norm = "builtin"`) for the whole process.
pub fn use_builtin(builtin: bool) {
    USE_BUILTIN.store(builtin, Ordering::Relaxed);
}

/// Normalised output, batch mean and biased batch variance of `x` ([N, C, ...]).
pub struct TrainOutput<const D: usize> {
    pub output: Tensor<D>,
    pub mean: Tensor<1>,
    pub variance: Tensor<1>,
}

/// Batch norm in training mode: the kernel on flex (f32), Burn's `batch_norm_train`
/// elsewhere; the statistics come back detached.
pub fn batch_norm_train<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> TrainOutput<D> {
    let f32 = FloatDType::from(x.dtype()) == FloatDType::F32;
    if USE_BUILTIN.load(Ordering::Relaxed) || !super::max_pool::runs_on_flex(&x.device()) || !f32 {
        let r = burn::tensor::module::batch_norm_train(x, gamma, beta, epsilon);
        return TrainOutput {
            output: r.output,
            mean: r.mean,
            variance: r.variance,
        };
    }
    let (output, mean, variance) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    TrainOutput {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    }
}

/// `bn`'s forward in training mode through [`batch_norm_train`], updating its running
/// statistics as `burn::nn::BatchNorm` does (momentum-weighted, with the biased variance).
pub fn forward_train<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    let result = batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
    let keep = 1.0 - bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(keep)
        .add(result.mean.detach().mul_scalar(bn.momentum));
    let running_var = running_var
        .mul_scalar(keep)
        .add(result.variance.detach().mul_scalar(bn.momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    result.output
}

#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait FusedBatchNorm: Backend {
    /// Output, mean and biased variance. The default is Burn's composition.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, epsilon);
        (r.output, r.mean, r.variance)
    }

    /// The gradients of the input, gamma and beta.
    fn fused_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, dy);
        (r.x_grad, r.gamma_grad, r.beta_grad)
    }
}

/// Per channel of `x` ([n, channels, plane] row-major): the mean and the biased variance.
pub fn statistics(x: &[f32], channels: usize, plane: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / (channels * plane).max(1);
    let count = (n * plane).max(1) as f64;
    let per_channel: Vec<(f64, f64)> = (0..channels)
        .into_par_iter()
        .map(|c| {
            let planes = || (0..n).map(move |b| &x[(b * channels + c) * plane..][..plane]);
            let sum: f64 = planes()
                .map(|p| p.iter().map(|&v| v as f64).sum::<f64>())
                .sum();
            let mean = sum / count;
            let squares: f64 = planes()
                .map(|p| p.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>())
                .sum();
            (mean, squares / count)
        })
        .collect();
    per_channel.into_iter().unzip()
}

/// `out = (x - m_c) a_c + b_c`, an image per task, its channels' planes in turn (the mean
/// subtracted first: `a x + (b - a m)` would cancel digits for inputs far from zero).
pub fn affine(x: &[f32], out: &mut [f32], m: &[f32], a: &[f32], b: &[f32], plane: usize) {
    let image = (a.len() * plane).max(1);
    out.par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .for_each(|(out, x)| {
            let planes = out.chunks_mut(plane.max(1)).zip(x.chunks(plane.max(1)));
            for (c, (out, x)) in planes.enumerate() {
                let (m, a, b) = (m[c], a[c], b[c]);
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = (v - m) * a + b;
                }
            }
        });
}

/// Per channel: `sum(dy)` and `sum(dy (x - mean))`.
pub fn gradient_sums(x: &[f32], dy: &[f32], mean: &[f64], plane: usize) -> (Vec<f64>, Vec<f64>) {
    let channels = mean.len();
    let n = x.len() / (channels * plane).max(1);
    let per_channel: Vec<(f64, f64)> = (0..channels)
        .into_par_iter()
        .map(|c| {
            let (mut sum, mut dot) = (0f64, 0f64);
            for b in 0..n {
                let at = (b * channels + c) * plane;
                let (xs, ds) = (&x[at..at + plane], &dy[at..at + plane]);
                sum += ds.iter().map(|&d| d as f64).sum::<f64>();
                dot += xs
                    .iter()
                    .zip(ds)
                    .map(|(&v, &d)| d as f64 * (v as f64 - mean[c]))
                    .sum::<f64>();
            }
            (sum, dot)
        })
        .collect();
    per_channel.into_iter().unzip()
}

/// `dx = k1 dy + k2 x + k3`, an image per task, its channels' planes in turn.
pub fn input_gradient(x: &[f32], dy: &[f32], dx: &mut [f32], k: &[[f32; 3]], plane: usize) {
    let image = (k.len() * plane).max(1);
    dx.par_chunks_mut(image)
        .zip(x.par_chunks(image).zip(dy.par_chunks(image)))
        .for_each(|(dx, (x, dy))| {
            let planes = dx
                .chunks_mut(plane.max(1))
                .zip(x.chunks(plane.max(1)).zip(dy.chunks(plane.max(1))));
            for (c, (dx, (x, dy))) in planes.enumerate() {
                let [k1, k2, k3] = k[c];
                for ((o, &v), &d) in dx.iter_mut().zip(x).zip(dy) {
                    *o = k1 * d + k2 * v + k3;
                }
            }
        });
}

#[cfg(feature = "flex")]
mod flex {
    use super::*;
    use burn::backend::TensorMetadata;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    fn values(t: &FlexTensor) -> Vec<f32> {
        t.as_slice::<f32>()
            .expect("a contiguous f32 tensor has a slice")
            .to_vec()
    }

    fn vector(values: Vec<f32>) -> FlexTensor {
        let n = values.len();
        FlexTensor::from_data(TensorData::new(values, [n]))
    }

    /// (channels, elements per plane) of an `[N, C, ...]` shape.
    fn layout(x: &FlexTensor) -> (usize, usize) {
        let shape = x.shape();
        let channels = shape[1];
        let plane = shape.num_elements() / (shape[0] * channels).max(1);
        (channels, plane)
    }

    impl FusedBatchNorm for burn::backend::Flex {
        fn fused_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let x = x.to_contiguous();
            let shape = x.shape();
            let (channels, plane) = layout(&x);
            let input = x
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor has a slice");
            let (mean, variance) = statistics(input, channels, plane);
            let (gamma, beta) = (
                values(&gamma.to_contiguous()),
                values(&beta.to_contiguous()),
            );
            let a: Vec<f32> = (0..channels)
                .map(|c| (gamma[c] as f64 / (variance[c] + epsilon).sqrt()) as f32)
                .collect();
            let m: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
            let mut out = vec![0f32; input.len()];
            affine(input, &mut out, &m, &a, &beta, plane);
            (
                FlexTensor::from_data(TensorData::new(out, shape)),
                vector(mean.iter().map(|&m| m as f32).collect()),
                vector(variance.iter().map(|&v| v as f32).collect()),
            )
        }

        fn fused_batch_norm_train_backward(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            mean: FloatTensor<Self>,
            variance: FloatTensor<Self>,
            epsilon: f64,
            dy: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (x, dy) = (x.to_contiguous(), dy.to_contiguous());
            let shape = x.shape();
            let (channels, plane) = layout(&x);
            let input = x
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor has a slice");
            let grad = dy
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor has a slice");
            let gamma = values(&gamma.to_contiguous());
            let mean: Vec<f64> = values(&mean.to_contiguous())
                .iter()
                .map(|&m| m as f64)
                .collect();
            let variance = values(&variance.to_contiguous());
            let (sum, dot) = gradient_sums(input, grad, &mean, plane);
            let count = (input.len() / channels.max(1)).max(1) as f64;
            let mut k = Vec::with_capacity(channels);
            let (mut dgamma, mut dbeta) = (Vec::new(), Vec::new());
            for c in 0..channels {
                let inv_std = 1.0 / (variance[c] as f64 + epsilon).sqrt();
                let g = gamma[c] as f64;
                // dx = g inv_std (dy - sum/M - (x - mean) inv_std^2 dot/M)
                let k1 = g * inv_std;
                let k2 = -g * inv_std.powi(3) * dot[c] / count;
                let k3 = -g * inv_std * sum[c] / count - k2 * mean[c];
                k.push([k1 as f32, k2 as f32, k3 as f32]);
                dgamma.push((dot[c] * inv_std) as f32);
                dbeta.push(sum[c] as f32);
            }
            let mut dx = vec![0f32; input.len()];
            input_gradient(input, grad, &mut dx, &k, plane);
            (
                FlexTensor::from_data(TensorData::new(dx, shape)),
                vector(dgamma),
                vector(dbeta),
            )
        }
    }
}

impl<B: Backend + FusedBatchNorm, C: CheckpointStrategy> FusedBatchNorm for Autodiff<B, C> {
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct FusedBatchNormBackward;

        impl<B: Backend + FusedBatchNorm> Backward<B, 3> for FusedBatchNormBackward {
            /// The input, gamma, the batch statistics and epsilon.
            type State = (
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
                FloatTensor<B>,
                f64,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (x, gamma, mean, variance, epsilon) = ops.state;
                let (dx, dgamma, dbeta) =
                    B::fused_batch_norm_train_backward(x, gamma, mean, variance, epsilon, dy);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_gamma {
                    grads.register::<B>(node.id, dgamma);
                }
                if let Some(node) = node_beta {
                    grads.register::<B>(node.id, dbeta);
                }
            }
        }

        let (x, x_node) = x.into_parts();
        let (gamma, gamma_node) = gamma.into_parts();
        let (beta, beta_node) = beta.into_parts();
        // The statistics leave the graph: detached, as Burn's batch norm returns them.
        let detached = <Autodiff<B, C> as burn::backend::AutodiffBackend>::from_inner;
        match FusedBatchNormBackward
            .prepare::<C>([x_node, gamma_node, beta_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, mean, variance) =
                    B::fused_batch_norm_train(x.clone(), gamma.clone(), beta, epsilon);
                let state = (x, gamma, mean.clone(), variance.clone(), epsilon);
                (
                    prep.finish(state, output),
                    detached(mean),
                    detached(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (output, mean, variance) = B::fused_batch_norm_train(x, gamma, beta, epsilon);
                (prep.finish(output), detached(mean), detached(variance))
            }
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};
    use burn::tensor::{Device, TensorData};

    fn random(n: usize, seed: u64, scale: f64, shift: f64) -> Vec<f32> {
        let mut rng = Rng::new(seed, Stream::Init, 0, 0);
        (0..n)
            .map(|_| (shift + scale * rng.normal()) as f32)
            .collect()
    }

    struct Run {
        output: Vec<f32>,
        mean: Vec<f32>,
        variance: Vec<f32>,
        dx: Vec<f32>,
        dgamma: Vec<f32>,
        dbeta: Vec<f32>,
    }

    /// Batch norm of `x` and the gradients of `sum(g * y)`, by the kernel or by Burn.
    fn run(
        dims: [usize; 4],
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        g: &[f32],
        builtin: bool,
    ) -> Run {
        let device = Device::flex().autodiff();
        let c = dims[1];
        let tensor =
            |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
        let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), dims), &device).require_grad();
        let (gt, bt) = (tensor(gamma).require_grad(), tensor(beta).require_grad());
        use_builtin(builtin);
        let r = batch_norm_train(xt.clone(), gt.clone(), bt.clone(), 1e-5);
        use_builtin(false);
        let gy = Tensor::<4>::from_data(TensorData::new(g.to_vec(), dims), &device);
        let grads = (r.output.clone() * gy).sum().backward();
        let host = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
        let host4 = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(r.mean.dims(), [c]);
        Run {
            output: host4(r.output),
            mean: host(r.mean),
            variance: host(r.variance),
            dx: host4(xt.grad(&grads).unwrap()),
            dgamma: host(gt.grad(&grads).unwrap()),
            dbeta: host(bt.grad(&grads).unwrap()),
        }
    }

    /// The same in f64 from the definitions: y = gamma (x - mean) / sqrt(var + eps) + beta
    /// with the biased variance, and its exact gradient through the batch statistics.
    fn reference(dims: [usize; 4], x: &[f32], gamma: &[f32], beta: &[f32], g: &[f32]) -> Run {
        let [n, c, h, w] = dims;
        let plane = h * w;
        let m = (n * plane) as f64;
        let at = |b: usize, ch: usize, i: usize| (b * c + ch) * plane + i;
        let mut run = Run {
            output: vec![0.0; x.len()],
            mean: vec![0.0; c],
            variance: vec![0.0; c],
            dx: vec![0.0; x.len()],
            dgamma: vec![0.0; c],
            dbeta: vec![0.0; c],
        };
        for ch in 0..c {
            let idx: Vec<usize> = (0..n)
                .flat_map(|b| (0..plane).map(move |i| at(b, ch, i)))
                .collect();
            let mean = idx.iter().map(|&i| x[i] as f64).sum::<f64>() / m;
            let var = idx
                .iter()
                .map(|&i| (x[i] as f64 - mean).powi(2))
                .sum::<f64>()
                / m;
            let inv = 1.0 / (var + 1e-5).sqrt();
            let xhat = |i: usize| (x[i] as f64 - mean) * inv;
            let sum_g = idx.iter().map(|&i| g[i] as f64).sum::<f64>();
            let sum_gx = idx.iter().map(|&i| g[i] as f64 * xhat(i)).sum::<f64>();
            for &i in &idx {
                run.output[i] = (gamma[ch] as f64 * xhat(i) + beta[ch] as f64) as f32;
                run.dx[i] =
                    (gamma[ch] as f64 * inv * (g[i] as f64 - sum_g / m - xhat(i) * sum_gx / m))
                        as f32;
            }
            run.mean[ch] = mean as f32;
            run.variance[ch] = var as f32;
            run.dgamma[ch] = sum_gx as f32;
            run.dbeta[ch] = sum_g as f32;
        }
        run
    }

    /// The largest |a - b| / (1 + |b|).
    fn gap(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| (a as f64 - b as f64).abs() / (1.0 + (b as f64).abs()))
            .fold(0.0, f64::max)
    }

    #[test]
    fn matches_the_f64_definition_and_burns_batch_norm() {
        // Odd planes, batch 1, a 1x1 plane, and inputs far from zero (mean 50, std 0.5:
        // a one-pass E[x^2] - mean^2 in f32 would lose the variance).
        let cases: [([usize; 4], f64, f64); 4] = [
            ([2, 3, 5, 7], 1.0, 0.0),
            ([1, 4, 3, 3], 2.0, -1.0),
            ([6, 2, 1, 1], 1.0, 0.5),
            ([4, 5, 4, 6], 0.5, 50.0),
        ];
        for (seed, (dims, scale, shift)) in cases.into_iter().enumerate() {
            let seed = seed as u64 * 10;
            let len: usize = dims.iter().product();
            let x = random(len, seed, scale, shift);
            let gamma = random(dims[1], seed + 1, 0.5, 1.0);
            let beta = random(dims[1], seed + 2, 0.5, 0.0);
            let g = random(len, seed + 3, 1.0, 0.0);
            let ours = run(dims, &x, &gamma, &beta, &g, false);
            let want = reference(dims, &x, &gamma, &beta, &g);
            let burn = run(dims, &x, &gamma, &beta, &g, true);
            // Against f64: f32 rounding of the input, output and the f32 statistics the
            // backward reads (measured: below 1e-7, 2.0e-6 for the inputs at 50).
            for (what, a, b) in [
                ("output", &ours.output, &want.output),
                ("mean", &ours.mean, &want.mean),
                ("variance", &ours.variance, &want.variance),
                ("dx", &ours.dx, &want.dx),
                ("dgamma", &ours.dgamma, &want.dgamma),
                ("dbeta", &ours.dbeta, &want.dbeta),
            ] {
                assert!(
                    gap(a, b) < 4e-6,
                    "{dims:?} {what}: {:e} from f64",
                    gap(a, b)
                );
            }
            // Burn's composition sums in f32 (measured: below 2.3e-7, 1.25e-5 for the
            // inputs at 50, where its statistics lose digits).
            for (what, a, b) in [
                ("output", &ours.output, &burn.output),
                ("dx", &ours.dx, &burn.dx),
                ("dgamma", &ours.dgamma, &burn.dgamma),
            ] {
                assert!(
                    gap(a, b) < 3e-5,
                    "{dims:?} {what}: {:e} from Burn",
                    gap(a, b)
                );
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let dims = [8, 6, 9, 9];
        let len: usize = dims.iter().product();
        let (x, g) = (random(len, 1, 1.0, 0.3), random(len, 2, 1.0, 0.0));
        let (gamma, beta) = (random(6, 3, 0.5, 1.0), random(6, 4, 0.5, 0.0));
        let in_pool = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| run(dims, &x, &gamma, &beta, &g, false))
        };
        let (one, three) = (in_pool(1), in_pool(3));
        assert_eq!(one.output, three.output);
        assert_eq!(one.dx, three.dx);
        assert_eq!(one.dgamma, three.dgamma);
    }
}
