//! 2x2 max pooling with stride 2, the small CNN's pooling, as a flex backend extension.
//!
//! Burn's flex runs every 2-D max pool through its generic 3-D pooling with indices: a
//! window range computed per output, a branch per tap and an i64 index written per output
//! (`stoke bench ops`: ~15 ms for a [128, 24, 28, 28] input on 2 cores, where reading it
//! takes ~1 ms). This kernel reads each pair of input rows once per plane and writes the
//! maxima; the backward finds each window's winner again as the first tap equal to the
//! output (no index tensor is kept) and writes the output gradient there.
//!
//! Semantics are flex's (and PyTorch's): floor mode (an odd last row or column is dropped),
//! the first maximum in row-major window order wins ties, and a NaN wins over numbers (the
//! last NaN of a window). Other backends, other dtypes and `kernels.max_pool = "builtin"`
//! take Burn's `max_pool2d`.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{FloatDType, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

static USE_BUILTIN: AtomicBool = AtomicBool::new(false);

/// Selects Burn's max pooling (`kernels.max_pool = "builtin"`) for the whole process.
pub fn use_builtin(builtin: bool) {
    USE_BUILTIN.store(builtin, Ordering::Relaxed);
}

/// 2x2 max pooling with stride 2: the kernel on flex (f32), Burn's `max_pool2d` elsewhere.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    let flex = runs_on_flex(&x.device());
    let f32 = FloatDType::from(x.dtype()) == FloatDType::F32;
    if USE_BUILTIN.load(Ordering::Relaxed) || !flex || !f32 {
        return burn::tensor::module::max_pool2d(x, MaxPoolOptions::new([2, 2]));
    }
    Tensor::from_dispatch(<Dispatch as MaxPool2x2>::max_pool_2x2(x.into_dispatch()))
}

/// Whether `device` is flex (with or without autodiff).
pub(crate) fn runs_on_flex(device: &burn::tensor::Device) -> bool {
    #[cfg(feature = "flex")]
    {
        device.clone().inner() == burn::tensor::Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait MaxPool2x2: Backend {
    /// The pooled maxima. The default is Burn's max pooling.
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false)
    }

    /// The input's gradient: `dy` at each window's winner, zero elsewhere.
    fn max_pool_2x2_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let _ = y;
        let indices = burn::tensor::IntDType::I64;
        let pooled = Self::max_pool2d_with_indices(
            x.clone(),
            [2, 2],
            [2, 2],
            [0, 0],
            [1, 1],
            false,
            indices,
        );
        Self::max_pool2d_with_indices_backward(
            x,
            [2, 2],
            [2, 2],
            [0, 0],
            [1, 1],
            false,
            dy,
            pooled.indices,
        )
        .x_grad
    }
}

/// The winner of a window of `taps` (row-major): the first maximum, or the last NaN.
#[inline]
fn winner(taps: [f32; 4]) -> usize {
    let mut best = 0;
    for (i, &v) in taps.iter().enumerate().skip(1) {
        if v > taps[best] || v.is_nan() {
            best = i;
        }
    }
    best
}

/// The maximum of a window: the plain maximum of four numbers, or (any NaN, or infinities
/// of both signs) the winner's value, NaN included.
#[inline]
fn window_max(taps: [f32; 4]) -> f32 {
    let [t0, t1, b0, b1] = taps;
    if (t0 + t1 + b0 + b1).is_nan() {
        return taps[winner(taps)];
    }
    t0.max(t1).max(b0.max(b1))
}

/// Pools the planes of `x` ([planes, h, w] row-major) into `out` ([planes, h/2, w/2]).
pub fn pool_planes(x: &[f32], out: &mut [f32], h: usize, w: usize) {
    use rayon::prelude::*;
    let (oh, ow) = (h / 2, w / 2);
    if oh * ow == 0 {
        return;
    }
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(out, plane)| {
            for (r, out_row) in out.chunks_mut(ow).enumerate() {
                let top = &plane[2 * r * w..][..2 * ow];
                let bottom = &plane[(2 * r + 1) * w..][..2 * ow];
                for ((o, t), b) in out_row
                    .iter_mut()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                {
                    *o = window_max([t[0], t[1], b[0], b[1]]);
                }
            }
        });
}

/// The gradient of [`pool_planes`]: `dx` ([planes, h, w], written whole) gets `dy` at
/// each window's winner in `x`, found as the first tap equal to the window's output `y`
/// (the winner itself where the output is NaN).
pub fn unpool_planes(x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], h: usize, w: usize) {
    use rayon::prelude::*;
    let (oh, ow) = (h / 2, w / 2);
    let out_plane = (oh * ow).max(1);
    dx.par_chunks_mut(h * w)
        .zip(x.par_chunks(h * w))
        .zip(y.par_chunks(out_plane).zip(dy.par_chunks(out_plane)))
        .for_each(|((dx, plane), (y, dy))| {
            if 2 * oh != h || 2 * ow != w {
                // Rows and columns past the last window (odd sides) get no gradient.
                dx.fill(0.0);
            }
            for r in 0..oh {
                let (y, dy) = (&y[r * ow..][..ow], &dy[r * ow..][..ow]);
                let (x_top, x_bottom) = (
                    &plane[2 * r * w..][..2 * ow],
                    &plane[(2 * r + 1) * w..][..2 * ow],
                );
                let (dx_top, dx_rest) = dx[2 * r * w..].split_at_mut(w);
                let (dx_top, dx_bottom) = (&mut dx_top[..2 * ow], &mut dx_rest[..2 * ow]);
                let windows = x_top
                    .chunks_exact(2)
                    .zip(x_bottom.chunks_exact(2))
                    .zip(
                        dx_top
                            .chunks_exact_mut(2)
                            .zip(dx_bottom.chunks_exact_mut(2)),
                    )
                    .zip(y.iter().zip(dy));
                for (((t, b), (dt, db)), (&m, &g)) in windows {
                    let taps = [t[0], t[1], b[0], b[1]];
                    let first = match m.is_nan() {
                        true => winner(taps),
                        // The first tap equal to the maximum, without branches.
                        false => {
                            let e = taps.map(|v| (v == m) as usize);
                            let e0 = e[0];
                            let e1 = e[1] & (1 - e0);
                            let e2 = e[2] & (1 - e0) & (1 - e1);
                            (1 - e0) * (e1 + 2 * e2 + 3 * (1 - e1) * (1 - e2))
                        }
                    };
                    let value = |i: usize| if first == i { g } else { 0.0 };
                    (dt[0], dt[1], db[0], db[1]) = (value(0), value(1), value(2), value(3));
                }
            }
        });
}

#[cfg(feature = "flex")]
impl MaxPool2x2 for burn::backend::Flex {
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::TensorMetadata;
        use burn::tensor::TensorData;
        let shape = x.shape();
        let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
        let x = x.to_contiguous();
        let input = x
            .as_slice::<f32>()
            .expect("a contiguous f32 tensor has a slice");
        let mut out = vec![0f32; n * c * (h / 2) * (w / 2)];
        pool_planes(input, &mut out, h, w);
        burn::backend::flex::FlexTensor::from_data(TensorData::new(out, [n, c, h / 2, w / 2]))
    }

    fn max_pool_2x2_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        use burn::backend::TensorMetadata;
        use burn::tensor::TensorData;
        let shape = x.shape();
        let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
        let (x, y, dy) = (x.to_contiguous(), y.to_contiguous(), dy.to_contiguous());
        let input = x
            .as_slice::<f32>()
            .expect("a contiguous f32 tensor has a slice");
        let output = y
            .as_slice::<f32>()
            .expect("a contiguous f32 tensor has a slice");
        let grad = dy
            .as_slice::<f32>()
            .expect("a contiguous f32 tensor has a slice");
        let mut dx = vec![0f32; n * c * h * w];
        unpool_planes(input, output, grad, &mut dx, h, w);
        burn::backend::flex::FlexTensor::from_data(TensorData::new(dx, [n, c, h, w]))
    }
}

impl<B: Backend + MaxPool2x2, C: CheckpointStrategy> MaxPool2x2 for Autodiff<B, C> {
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PoolBackward;

        impl<B: Backend + MaxPool2x2> Backward<B, 1> for PoolBackward {
            /// The input and the output.
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [parent] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (x, y) = ops.state;
                if let Some(node) = parent {
                    grads.register::<B>(node.id, B::max_pool_2x2_backward(x, y, dy));
                }
            }
        }

        let (primitive, node) = x.into_parts();
        match PoolBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::max_pool_2x2(primitive.clone());
                prep.finish((primitive, y.clone()), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool_2x2(primitive)),
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};
    use burn::tensor::{Device, TensorData};

    /// Values on a coarse grid (so windows hold ties), with a NaN where asked.
    fn input(dims: [usize; 4], seed: u64, nan_at: Option<usize>) -> Vec<f32> {
        let mut rng = Rng::new(seed, Stream::Init, 0, 0);
        let n: usize = dims.iter().product();
        let mut values: Vec<f32> = (0..n).map(|_| rng.below(5) as f32 - 2.0).collect();
        if let Some(i) = nan_at {
            values[i] = f32::NAN;
        }
        values
    }

    /// The pooled output and the input's gradient of `sum(g * pool(x))`, by the kernel or
    /// by Burn's max pooling.
    fn pool_and_grad(dims: [usize; 4], values: &[f32], builtin: bool) -> (Vec<f32>, Vec<f32>) {
        let device = Device::flex().autodiff();
        let x =
            Tensor::<4>::from_data(TensorData::new(values.to_vec(), dims), &device).require_grad();
        let y = match builtin {
            true => burn::tensor::module::max_pool2d(x.clone(), MaxPoolOptions::new([2, 2])),
            false => Tensor::from_dispatch(<Dispatch as MaxPool2x2>::max_pool_2x2(
                x.clone().into_dispatch(),
            )),
        };
        let out_dims = y.dims();
        let n: usize = out_dims.iter().product();
        let g: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let g = Tensor::<4>::from_data(TensorData::new(g, out_dims), &device);
        let grads = (y.clone() * g).sum().backward();
        let dx = x.grad(&grads).expect("x is tracked");
        let y: Vec<f32> = y.into_data().try_to_vec::<f32>().unwrap();
        (y, dx.into_data().try_to_vec::<f32>().unwrap())
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn forward_and_gradient_equal_burns_max_pooling_bit_for_bit() {
        // Odd sides (floor mode drops the last row and column), batch 1, ties everywhere,
        // and a NaN in a window.
        let cases: [([usize; 4], Option<usize>); 5] = [
            ([2, 3, 6, 8], None),
            ([1, 1, 5, 7], None),
            ([3, 2, 4, 4], Some(5)),
            ([1, 4, 2, 2], None),
            ([2, 2, 1, 3], None),
        ];
        for (seed, (dims, nan_at)) in cases.into_iter().enumerate() {
            let values = input(dims, seed as u64, nan_at);
            let (y, dx) = pool_and_grad(dims, &values, false);
            let (y_ref, dx_ref) = pool_and_grad(dims, &values, true);
            assert_eq!(bits(&y), bits(&y_ref), "{dims:?}: forward");
            assert_eq!(bits(&dx), bits(&dx_ref), "{dims:?}: gradient");
        }
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_nan_wins() {
        assert_eq!(winner([1.0, 1.0, 0.0, 1.0]), 0);
        assert_eq!(winner([0.0, 2.0, 2.0, 1.0]), 1);
        assert_eq!(winner([f32::NAN, 3.0, 1.0, 0.0]), 0);
        assert_eq!(winner([0.0, f32::NAN, 5.0, f32::NAN]), 3);
    }
}
