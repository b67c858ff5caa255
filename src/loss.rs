//! Classification losses and counts shared by recipes.

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::log_softmax;

/// Per-sample cross-entropy `[B]` of `logits` `[B, K]` against integer `targets` `[B]`, with
/// label smoothing `eps` as in PyTorch: the target is `(1 - eps) * one_hot + eps / K`.
pub fn cross_entropy_per_sample(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    smoothing: f64,
) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    // In f32 whatever the model computed in (autocast's rule for softmax and losses).
    let log_probs = log_softmax(logits.cast(FloatDType::F32), 1);
    let picked = log_probs
        .clone()
        .gather(1, targets.reshape([batch, 1]))
        .reshape([batch]);
    if smoothing == 0.0 {
        return picked.neg();
    }
    let uniform = log_probs
        .sum_dim(1)
        .reshape([batch])
        .div_scalar(classes as f64);
    picked.mul_scalar(smoothing - 1.0) - uniform.mul_scalar(smoothing)
}

/// Mean cross-entropy over the batch.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    cross_entropy_per_sample(logits, targets, smoothing).mean()
}

/// How many rows of `logits` have their maximum at the target class (read back to the host).
pub fn count_correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> usize {
    let [batch, _] = logits.dims();
    let predictions = logits.argmax(1).reshape([batch]);
    predictions.equal(targets).int().sum().into_scalar::<i64>() as usize
}

/// Per-example `KL(softmax(target) || softmax(logits))` over the class axis (PyTorch's
/// `KLDivLoss(log_softmax(logits), softmax(target))` before its reduction). Gradients flow
/// into both arguments; detach `target` where a recipe wants it fixed.
pub fn kl_per_sample(target: Tensor<2>, logits: Tensor<2>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let log_p = log_softmax(target.cast(FloatDType::F32), 1);
    let log_q = log_softmax(logits.cast(FloatDType::F32), 1);
    (log_p.clone().exp() * (log_p - log_q))
        .sum_dim(1)
        .reshape([batch])
}
