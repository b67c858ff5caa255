//! The two-pass softmax as a Burn backend extension: the flex backend runs the SIMD kernel of
//! this module, the cubecl backend (wgpu, CUDA; with or without fusion) the CubeCL kernel,
//! autodiff adds the backward `dx = y (dy - sum(dy y))`, and the default is a composition of
//! primitives (max, exp, sum, divide). Only flex and cubecl devices (and autodiff over them)
//! are routed here: [`super::softmax`] sends other backends to Burn's built-in softmax.

use super::{Algorithm, Version, softmax_rows, softmax_rows_in_place};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, backend_extension};

#[backend_extension(
    Flex: cfg(feature = "flex"),
    Cube: cfg(feature = "cube-kernels"),
    Fusion: cfg(feature = "cube-kernels"),
    Autodiff
)]
pub trait TwoPassSoftmax: Backend {
    /// Softmax along `dim`. The default composes primitives; flex and the cubecl backend
    /// override it with their kernels.
    #[fusion(dtype = x, shape = x)]
    fn two_pass_softmax(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        composed::<Self>(x, dim)
    }
}

/// max, exp(x - max), sum, divide: the softmax from backend primitives.
fn composed<B: Backend>(x: FloatTensor<B>, dim: usize) -> FloatTensor<B> {
    let max = B::float_max_dim(x.clone(), dim);
    let exps = B::float_exp(B::float_sub(x, max));
    let sum = B::float_sum_dim(exps.clone(), dim);
    B::float_div(exps, sum)
}

#[cfg(feature = "flex")]
impl TwoPassSoftmax for burn::backend::Flex {
    fn two_pass_softmax(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        use burn::backend::TensorMetadata;
        use burn::tensor::{DType, TensorData};
        if x.dtype() != DType::F32 {
            return composed::<Self>(x, dim);
        }
        let shape = x.shape();
        let rank = shape.num_dims();
        let last = rank - 1;
        // Rows along `dim`: move it last (a view), make it contiguous (a copy only when the
        // input is not already laid out that way), and move it back after.
        let mut axes: Vec<usize> = (0..rank).collect();
        axes.swap(dim, last);
        let moved = if dim == last { x } else { x.permute(&axes) };
        // `to_contiguous` returns a handle to the same buffer when it already is contiguous;
        // dropping ours keeps the buffer uniquely held.
        let contiguous = moved.to_contiguous();
        drop(moved);
        let mut moved = contiguous;
        let moved_shape = moved.shape();
        let row_len = moved_shape[last];
        // A tensor nobody else holds (attention scores, a temporary) is overwritten in place:
        // no output allocation, no page faults on fresh memory.
        let result = if let Some(data) = moved.try_storage_mut::<f32>() {
            softmax_rows_in_place(data, row_len, Version::best());
            moved
        } else {
            let input = moved
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor has a slice");
            let mut out = vec![0f32; input.len()];
            softmax_rows(
                input,
                &mut out,
                row_len,
                Version::best(),
                Algorithm::TwoPass,
            );
            burn::backend::flex::FlexTensor::from_data(TensorData::new(out, moved_shape))
        };
        if dim == last {
            result
        } else {
            result.permute(&axes)
        }
    }
}

/// The CubeCL kernel ([`super::cube`]) for f32; other float types compose primitives.
#[cfg(feature = "cube-kernels")]
impl TwoPassSoftmax for burn_cubecl::CubeBackend {
    fn two_pass_softmax(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        use burn::backend::TensorMetadata;
        if x.dtype() != burn::tensor::DType::F32 {
            return composed::<Self>(x, dim);
        }
        super::cube::softmax(x, dim)
    }
}

impl<B: Backend + TwoPassSoftmax, C: CheckpointStrategy> TwoPassSoftmax for Autodiff<B, C> {
    fn two_pass_softmax(x: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SoftmaxBackward;

        impl<B: Backend> Backward<B, 1> for SoftmaxBackward {
            /// The output and the dimension.
            type State = (FloatTensor<B>, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [parent] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (y, dim) = ops.state;
                if let Some(node) = parent {
                    let dot = B::float_sum_dim(B::float_mul(dy.clone(), y.clone()), dim);
                    grads.register::<B>(node.id, B::float_mul(y, B::float_sub(dy, dot)));
                }
            }
        }

        let (primitive, node) = x.into_parts();
        match SoftmaxBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::two_pass_softmax(primitive, dim);
                prep.finish((y.clone(), dim), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::two_pass_softmax(primitive, dim)),
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::backend::flex::FlexTensor;
    use burn::tensor::TensorData;

    #[test]
    fn a_tensor_nobody_else_holds_is_overwritten_in_place() {
        let x = FlexTensor::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [2, 2]));
        let before = x.bytes().as_ptr();
        let y = <Flex as TwoPassSoftmax>::two_pass_softmax(x, 1);
        assert_eq!(y.bytes().as_ptr(), before);
        // A shared one is not.
        let x = FlexTensor::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [2, 2]));
        let keep = x.clone();
        let y = <Flex as TwoPassSoftmax>::two_pass_softmax(x, 1);
        assert_ne!(y.bytes().as_ptr(), keep.bytes().as_ptr());
        assert_eq!(keep.as_slice::<f32>().unwrap(), &[0.0, 1.0, 2.0, 3.0]);
    }
}
