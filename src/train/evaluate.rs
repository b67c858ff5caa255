//! Scoring a model on the test split.

use crate::attacks::evaluation::{EvalAttack, RobustSums};
use crate::datasets::loader::eval_batches;
use crate::datasets::{HostBatch, ImageSet, Pipeline};
use crate::recipes::{Batch, EvalSums, Recipe};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::Serialize;
use std::collections::BTreeMap;

/// Test loss and accuracy over a whole split.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Evaluation {
    pub test_loss: f64,
    /// None for models that do not classify (diffusion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub images: usize,
    /// The averages of the recipe's named loss parts, as `test_loss_<name>`.
    #[serde(flatten)]
    pub parts: BTreeMap<String, f64>,
}

impl Evaluation {
    /// Whether this evaluation beats `best`: higher accuracy, or lower loss when there is none.
    pub fn improves_on(&self, best_accuracy: Option<f64>, best_loss: Option<f64>) -> bool {
        match self.test_accuracy {
            Some(accuracy) => best_accuracy.is_none_or(|best| accuracy > best),
            None => best_loss.is_none_or(|best| self.test_loss < best),
        }
    }

    /// "test loss 0.1234, test accuracy 90.00%" for `split` "test" (the accuracy when there
    /// is one).
    pub fn describe(&self, split: &str) -> String {
        match self.test_accuracy {
            Some(a) => format!(
                "{split} loss {:.4}, {split} accuracy {:.2}%",
                self.test_loss,
                100.0 * a
            ),
            None => format!("{split} loss {:.4}", self.test_loss),
        }
    }
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
    let (mut loss_sum, mut correct, mut count) = (0.0, Some(0), 0);
    let mut parts: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for host in eval_batches(set, pipeline, batch_size) {
        let sums: EvalSums = recipe.eval_batch(model, &to_device(host, device), count);
        loss_sum += sums.loss_sum;
        correct = correct.zip(sums.correct).map(|(a, b)| a + b);
        count += sums.count;
        for (name, sum, n) in sums.parts {
            let part = parts.entry(name).or_default();
            part.0 += sum;
            part.1 += n;
        }
    }
    let images = count.max(1) as f64;
    Evaluation {
        test_loss: loss_sum / images,
        test_accuracy: correct.map(|c| c as f64 / images),
        images: count,
        parts: parts
            .into_iter()
            .map(|(name, (sum, n))| (format!("test_loss_{name}"), sum / n.max(1) as f64))
            .collect(),
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
