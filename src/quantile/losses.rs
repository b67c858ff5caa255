//! The training losses of quantile models and aggregators, on tensors: the pinball loss
//! averaged over rows and levels, and the official code's crossing penalty.

use burn::prelude::*;
use burn::tensor::activation::relu;

/// The pinball loss averaged over rows and levels: `q` `[B, Q]`, `y` `[B, 1]`, `levels`
/// `[1, Q]`.
pub fn pinball_loss(q: Tensor<2>, y: Tensor<2>, levels: Tensor<2>) -> Tensor<1> {
    let residual = y.expand(q.shape()) - q;
    let above = residual.clone() * levels.clone();
    let below = residual * (levels - 1.0);
    above.max_pair(below).mean()
}

/// `[B, Q]` predictions' crossing penalty.
pub fn crossing_penalty(q: Tensor<2>, delta: f64) -> Tensor<1> {
    let [batch, levels] = q.dims();
    // lower[b, j, i] = q[b, j], upper[b, j, i] = q[b, i]; pairs j < i.
    let lower = q
        .clone()
        .reshape([batch, levels, 1])
        .expand([batch, levels, levels]);
    let upper = q
        .reshape([batch, 1, levels])
        .expand([batch, levels, levels]);
    let device = lower.device();
    let pairs: Vec<f32> = (0..levels)
        .flat_map(|j| (0..levels).map(move |i| if j < i { 1.0 } else { 0.0 }))
        .collect();
    let mask = Tensor::<3>::from_data(TensorData::new(pairs, [1, levels, levels]), &device);
    let count = (levels * (levels - 1) / 2).max(1) as f64;
    (relu(lower - upper + delta) * mask).sum() / (count * batch as f64)
}
