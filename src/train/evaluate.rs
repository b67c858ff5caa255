//! Scoring a model on the test split.

use crate::attacks::evaluation::{EvalAttack, RobustSums};
use crate::datasets::loader::eval_batches;
use crate::datasets::{HostBatch, ImageSet, Pipeline};
use crate::recipes::{Batch, EvalSums, Recipe};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::Serialize;

/// Test loss and accuracy over a whole split.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Evaluation {
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub images: usize,
}

/// Moves a host batch onto `device`.
pub fn to_device(host: HostBatch, device: &Device) -> Batch {
    let size = host.shape[0];
    Batch {
        images: Tensor::from_data(TensorData::new(host.images, host.shape), device),
        labels: Tensor::from_data(TensorData::new(host.labels, [size]), device),
        size,
    }
}

/// Evaluates the inference copy `model` (from `Module::valid`) on `set`.
pub fn evaluate<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    let mut total = EvalSums::default();
    for host in eval_batches(set, pipeline, batch_size) {
        let sums = recipe.eval_batch(model, &to_device(host, device));
        total.loss_sum += sums.loss_sum;
        total.correct += sums.correct;
        total.count += sums.count;
    }
    let count = total.count.max(1) as f64;
    Evaluation {
        test_loss: total.loss_sum / count,
        test_accuracy: total.correct as f64 / count,
        images: total.count,
    }
}

/// Clean and robust accuracy under an attack (`stoke eval --attack`).
#[derive(Clone, Debug, Serialize)]
pub struct RobustEvaluation {
    pub clean_accuracy: f64,
    pub robust_accuracy: f64,
    pub images: usize,
    pub attack: EvalAttack,
}

/// Attacks the first `limit` images of `set` (all by default) with `model` on the autodiff
/// `device`; `None` when the recipe has no robust evaluation.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_robust<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
    attack: &EvalAttack,
    limit: Option<usize>,
) -> Option<RobustEvaluation> {
    let mut total = RobustSums::default();
    let wanted = limit.unwrap_or(usize::MAX).min(set.len());
    for host in eval_batches(set, pipeline, batch_size) {
        if total.count >= wanted {
            break;
        }
        let mut batch = to_device(host, device);
        if total.count + batch.size > wanted {
            batch = batch.slice(0, wanted - total.count);
        }
        let sums = recipe.robust_eval_batch(model, &batch, attack)?;
        total.clean_correct += sums.clean_correct;
        total.robust_correct += sums.robust_correct;
        total.count += sums.count;
    }
    let count = total.count.max(1) as f64;
    Some(RobustEvaluation {
        clean_accuracy: total.clean_correct as f64 / count,
        robust_accuracy: total.robust_correct as f64 / count,
        images: total.count,
        attack: *attack,
    })
}
