//! Scoring a model on the test split.

use crate::attacks::evaluation::{EvalAttack, RobustSums};
use crate::batch::to_device;
use crate::datasets::loader::{eval_batches, eval_batches_in};
use crate::datasets::{ImageSet, Pipeline};
use crate::distributed::World;
use crate::distributed::shard::Shard;
use crate::recipes::{EvalSums, Recipe};
use burn::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;

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

    /// Adds `test_loss` (and `test_accuracy` when there is one) to a metrics line.
    pub fn add_test_scores(&self, line: &mut serde_json::Value) {
        line["test_loss"] = self.test_loss.into();
        if let Some(accuracy) = self.test_accuracy {
            line["test_accuracy"] = accuracy.into();
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

/// Evaluates the inference copy `model` (from `Module::valid`) on `set`.
pub fn evaluate<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    let all = 0..set.len();
    eval_totals(recipe, model, set, pipeline, batch_size, device, all).finish()
}

/// Evaluates `model` on `set` with the ranks of `world` sharing the images; every rank gets
/// the whole set's evaluation.
pub fn evaluate_shared<R: Recipe>(
    world: &World,
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Evaluation> {
    if world.size() == 1 || set.len() < world.size() {
        return Ok(evaluate(recipe, model, set, pipeline, batch_size, device));
    }
    let shard = Shard {
        rank: world.rank(),
        ranks: world.size(),
    };
    let mine = shard.range(set.len());
    let mut totals = eval_totals(recipe, model, set, pipeline, batch_size, device, mine);
    totals.all_reduce(world)?;
    Ok(totals.finish())
}

/// The sums over the images `range` of `set`, evaluated in batches of `batch_size`.
fn eval_totals<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
    range: Range<usize>,
) -> EvalTotals {
    let first = range.start;
    let mut totals = EvalTotals::default();
    for host in eval_batches_in(set, pipeline, batch_size, range) {
        let batch = to_device(host, device);
        totals.add(recipe.eval_batch(model, &batch, first + totals.count));
    }
    totals
}

/// Sums over the images evaluated so far.
#[derive(Default)]
struct EvalTotals {
    loss_sum: f64,
    /// None once a batch had no accuracy.
    correct: Option<usize>,
    batches: usize,
    count: usize,
    parts: BTreeMap<String, (f64, usize)>,
}

impl EvalTotals {
    fn add(&mut self, sums: EvalSums) {
        self.loss_sum += sums.loss_sum;
        self.correct = match self.batches {
            0 => sums.correct,
            _ => self.correct.zip(sums.correct).map(|(a, b)| a + b),
        };
        self.batches += 1;
        self.count += sums.count;
        for (name, sum, n) in sums.parts {
            let part = self.parts.entry(name).or_default();
            part.0 += sum;
            part.1 += n;
        }
    }

    /// Sums the totals of all ranks (each evaluated its own images).
    fn all_reduce(&mut self, world: &World) -> anyhow::Result<()> {
        // The part names must agree before their sums can be added position by position.
        let mut shape = [
            self.parts.len() as f64,
            f64::from(u8::from(self.correct.is_some())),
        ];
        world.sum_f64(&mut shape, "comparing the evaluation's loss parts");
        let ranks = world.size() as f64;
        if shape[0] != self.parts.len() as f64 * ranks || (shape[1] != 0.0 && shape[1] != ranks) {
            anyhow::bail!("the ranks' evaluations report different loss parts or accuracies");
        }
        let mut values = vec![
            self.loss_sum,
            self.correct.unwrap_or(0) as f64,
            self.count as f64,
        ];
        for (sum, n) in self.parts.values() {
            values.extend([*sum, *n as f64]);
        }
        world.sum_f64(&mut values, "summing the evaluation over the ranks");
        self.loss_sum = values[0];
        self.correct = self.correct.map(|_| values[1].round() as usize);
        self.count = values[2].round() as usize;
        for (part, pair) in self.parts.values_mut().zip(values[3..].chunks(2)) {
            *part = (pair[0], pair[1].round() as usize);
        }
        Ok(())
    }

    fn finish(self) -> Evaluation {
        let images = self.count.max(1) as f64;
        let correct = if self.batches == 0 {
            Some(0)
        } else {
            self.correct
        };
        Evaluation {
            test_loss: self.loss_sum / images,
            test_accuracy: correct.map(|c| c as f64 / images),
            images: self.count,
            parts: self
                .parts
                .into_iter()
                .map(|(name, (sum, n))| (format!("test_loss_{name}"), sum / n.max(1) as f64))
                .collect(),
        }
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
