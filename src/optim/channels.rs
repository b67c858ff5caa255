//! The output-channel view of a weight, shared by AdamP/SGDP's projection and AdaGrad-Norm.
//!
//! PyTorch keeps the output unit first for both linear `[out, in]` and conv
//! `[out, in, kh, kw]` weights; Burn keeps `Linear` weights as `[in, out]`. So the channel axis
//! is the last one for rank 2 and the first one otherwise. (A rank-2 parameter that is not a
//! `Linear` weight, such as an embedding table `[n, d]`, gets the same rule; stoke's models
//! have none that these optimizers treat specially.)

use burn::tensor::Tensor;

pub const fn channel_axis(rank: usize) -> usize {
    if rank == 2 { 1 } else { 0 }
}

/// `x` as `[channels, elements per channel]`.
pub fn channel_rows<const D: usize>(x: Tensor<D>) -> Tensor<2> {
    let dims = x.dims();
    let channels = dims[channel_axis(D)];
    let per = dims.iter().product::<usize>() / channels.max(1);
    if D == 2 {
        x.swap_dims(0, 1).reshape([channels, per])
    } else {
        x.reshape([channels, per])
    }
}

/// The shape of a per-channel value that broadcasts against a tensor of `dims`.
pub fn channel_shape<const D: usize>(dims: [usize; D]) -> [usize; D] {
    let mut shape = [1usize; D];
    shape[channel_axis(D)] = dims[channel_axis(D)];
    shape
}

/// A per-channel column `[channels, 1]` reshaped to broadcast against a tensor of `dims`.
pub fn per_channel<const D: usize>(column: Tensor<2>, dims: [usize; D]) -> Tensor<D> {
    column.reshape(channel_shape(dims))
}
