//! `supernet`: one-shot NAS training of the cell supernet ([`crate::models::cell_supernet`]).
//! Without `recipe.architecture` every step trains one architecture drawn for it (one
//! operation per edge, the same in every cell): uniformly (single-path one-shot, SPOS), or
//! with `recipe.path_sampling = "importance"` and `recipe.data_sampling = "importance"` by
//! PA&DA's importance sampling of paths and training data ([`super::pada`]). With
//! `recipe.architecture` that architecture alone, which is how the stand-alone accuracies a
//! supernet's ranking is checked against are trained, and how an architecture's inherited
//! weights are scored. The supernet logs, at each epoch's end, the gradient variance over the
//! epoch and the path distribution.

use super::pada::{DataImportance, GradientVariance, PathImportance, logit_gradient_norms};
use super::{Batch, DataInfo, EvalSums, Recipe, StepContext, StepOutput};
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy};
use crate::models::cell_supernet::{
    ARCHITECTURES, CellSupernet, EDGES, OPERATIONS, operations_of, options_of,
};
use crate::rng::{Rng, Stream};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// How the supernet draws a step's path or data.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Paths: each edge's operation uniformly; data: epoch orders.
    #[default]
    Uniform,
    /// PA&DA's importance sampling by normalised gradient norms.
    Importance,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetOptions {
    /// Train and score this architecture alone (0..27, base-3 digits of the edges'
    /// operations); absent: the supernet.
    #[serde(default)]
    pub architecture: Option<usize>,
    #[serde(default)]
    pub path_sampling: Sampling,
    #[serde(default)]
    pub data_sampling: Sampling,
}

pub struct Supernet {
    fixed: Option<[usize; EDGES]>,
    options: SupernetOptions,
    paths: PathImportance,
    data: DataImportance,
    variance: GradientVariance,
    /// The epoch whose importances and variance are being gathered.
    epoch: usize,
    /// A step's images and their scores, folded in once the step is accepted (a rejected
    /// step's are dropped by the next step).
    pending_scores: Option<PendingScores>,
    /// An epoch ended: the tau of the sampling weights the engine takes next.
    weights_due: Option<f64>,
}

#[derive(Default)]
struct PendingScores {
    step: usize,
    indices: Vec<usize>,
    scores: Vec<f64>,
}

/// Metric names of the path distribution, by operation.
const PROBABILITY_METRICS: [&str; OPERATIONS.len()] = ["p_conv3x3", "p_conv1x1", "p_avg_pool3x3"];

/// The architecture the supernet trains at `step` of a run seeded `seed`: each edge's
/// operation drawn uniformly and independently.
pub fn uniform_path(seed: u64, step: usize) -> [usize; EDGES] {
    let mut rng = Rng::new(seed, Stream::Nas, step as u64, 0);
    [0; EDGES].map(|_| rng.below(OPERATIONS.len() as u64) as usize)
}

impl Supernet {
    /// The architecture of a step: the fixed one, or drawn from (seed, step).
    fn path(&self, seed: u64, step: usize) -> [usize; EDGES] {
        match (self.fixed, self.options.path_sampling) {
            (Some(fixed), _) => fixed,
            (None, Sampling::Uniform) => uniform_path(seed, step),
            (None, Sampling::Importance) => self.paths.sample(seed, step),
        }
    }

    /// Closes the epoch being gathered: the next distributions (tau = that epoch's index over
    /// the epochs, as the official code) and the epoch's figures for metrics.jsonl.
    fn end_epoch(&mut self, total_epochs: f64, next: usize) -> Vec<(&'static str, f64)> {
        let tau = self.epoch as f64 / total_epochs.max(1.0);
        self.epoch = next;
        let mut metrics = Vec::new();
        if let Some(variance) = self.variance.end_epoch() {
            metrics.push(("grad_variance", variance));
        }
        if self.options.path_sampling == Sampling::Importance {
            self.paths.end_epoch(tau);
        }
        if self.options.data_sampling == Sampling::Importance {
            // The training set's length is the engine's: the weights are made when it asks.
            self.weights_due = Some(tau);
        }
        metrics.extend(
            PROBABILITY_METRICS
                .into_iter()
                .zip(self.paths.probabilities),
        );
        metrics
    }

    /// The architecture a test batch is scored with: the fixed one, or one drawn per batch
    /// (the supernet's test accuracy is then that of random architectures).
    fn eval_path(&self, first: usize) -> [usize; EDGES] {
        self.fixed.unwrap_or_else(|| {
            let mut rng = Rng::new(0, Stream::Nas, u64::MAX, first as u64);
            [0; EDGES].map(|_| rng.below(OPERATIONS.len() as u64) as usize)
        })
    }
}

impl Recipe for Supernet {
    type Model = CellSupernet;

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        let options: SupernetOptions = typed_section(&config.recipe.options, "recipe")?;
        options_of(&config.model)?;
        let fixed = match options.architecture {
            None => None,
            Some(index) => Some(operations_of(index).ok_or_else(|| {
                crate::usage_error!(
                    "key `recipe.architecture`: expected 0..{ARCHITECTURES}, got {index}"
                )
            })?),
        };
        let importance = options.path_sampling == Sampling::Importance
            || options.data_sampling == Sampling::Importance;
        if fixed.is_some() && options.path_sampling == Sampling::Importance {
            return Err(crate::usage_error!(
                "key `recipe.path_sampling`: \"importance\" draws paths of the supernet; with \
                 recipe.architecture there is one path"
            ));
        }
        if fixed.is_some() && options.data_sampling == Sampling::Importance {
            return Err(crate::usage_error!(
                "key `recipe.data_sampling`: \"importance\" is PA&DA's sampling for a supernet; \
                 with recipe.architecture the data is sampled uniformly"
            ));
        }
        if importance && config.adaptive_batch.is_some() {
            return Err(crate::usage_error!(
                "keys `recipe.path_sampling` / `recipe.data_sampling`: importance sampling \
                 updates at epochs' ends, which [adaptive_batch] runs do not have"
            ));
        }
        Ok(Self {
            fixed,
            options,
            paths: PathImportance::default(),
            data: DataImportance::default(),
            variance: GradientVariance::default(),
            epoch: 0,
            pending_scores: None,
            weights_due: None,
        })
    }

    fn build_model(
        &self,
        config: &RunConfig,
        data: &DataInfo,
        device: &Device,
    ) -> anyhow::Result<CellSupernet> {
        let o = options_of(&config.model)?;
        Ok(CellSupernet::new(
            data.channels,
            o.channels,
            o.stages,
            o.cells_per_stage,
            data.num_classes,
            device,
        ))
    }

    fn train_loss(&mut self, model: &CellSupernet, batch: &Batch, ctx: &StepContext) -> StepOutput {
        let logits = model.forward(batch.images.clone(), self.path(ctx.seed, ctx.step));
        let correct = count_correct(logits.clone().detach(), batch.labels.clone());
        if self.options.data_sampling == Sampling::Importance {
            // Micro-batches of one step (train.accumulate) add theirs.
            let scores = logit_gradient_norms(logits.clone(), batch.labels.clone());
            let pending = self.pending_scores.get_or_insert_with(Default::default);
            if pending.step != ctx.step {
                *pending = PendingScores {
                    step: ctx.step,
                    ..Default::default()
                };
            }
            pending.indices.extend_from_slice(&batch.indices);
            pending.scores.extend(scores);
        }
        StepOutput {
            loss: cross_entropy(logits, batch.labels.clone(), 0.0),
            correct: Some(correct),
            metrics: Vec::new(),
        }
    }

    fn eval_batch(&self, model: &CellSupernet, batch: &Batch, first: usize) -> EvalSums {
        super::erm::logits_eval(
            model.forward(batch.images.clone(), self.eval_path(first)),
            batch,
        )
    }

    /// With `recipe.architecture`, that architecture's logits; without, architecture 0's
    /// (all 3x3 convolutions).
    fn logits(&self, model: &CellSupernet, images: Tensor<4>) -> Option<Tensor<2>> {
        Some(model.forward(images, self.fixed.unwrap_or([0; EDGES])))
    }

    /// PA&DA's importances and the gradient variance observe the step; at an epoch's end the
    /// next epoch's distributions are made and the epoch's figures reported.
    fn after_backward(
        &mut self,
        model: &CellSupernet,
        grads: &GradientsParams,
        ctx: &StepContext,
    ) -> Vec<(&'static str, f64)> {
        if self.fixed.is_some() {
            return Vec::new();
        }
        // An epoch whose last step was rejected (train.on_nonfinite = "skip") closes first.
        let mut metrics = Vec::new();
        if ctx.epoch > self.epoch {
            metrics = self.end_epoch(ctx.total_epochs, ctx.epoch);
        }
        let path = self.path(ctx.seed, ctx.step);
        if self.options.path_sampling == Sampling::Importance {
            self.paths
                .observe(path, model.operation_gradient_norms(grads, path));
        }
        if let Some(pending) = self.pending_scores.take()
            && pending.step == ctx.step
        {
            self.data.observe(&pending.indices, &pending.scores);
        }
        self.variance.observe(model, grads);
        if ctx.epoch_ends {
            metrics = self.end_epoch(ctx.total_epochs, ctx.epoch + 1);
        }
        metrics
    }

    fn take_sampling_weights(&mut self, train_len: usize) -> Option<Vec<f64>> {
        let tau = self.weights_due.take()?;
        Some(self.data.end_epoch(tau, train_len))
    }

    /// Data scores change the recipe's state: the loss is not evaluated twice.
    fn repeatable_loss(&self) -> bool {
        self.options.data_sampling == Sampling::Uniform
    }

    fn samples_training_data(&self) -> bool {
        self.options.data_sampling == Sampling::Importance
    }

    fn state(&mut self) -> Value {
        json!({
            "paths": self.paths,
            "data": self.data,
            "variance": self.variance,
            "epoch": self.epoch,
            "weights_due": self.weights_due,
        })
    }

    fn load_state(&mut self, state: &Value) -> anyhow::Result<()> {
        if state.is_null() {
            return Ok(());
        }
        let field = |name: &str| state.get(name).cloned().unwrap_or(Value::Null);
        self.paths = serde_json::from_value(field("paths"))?;
        self.data = serde_json::from_value(field("data"))?;
        self.variance = serde_json::from_value(field("variance"))?;
        self.epoch = serde_json::from_value(field("epoch"))?;
        self.weights_due = serde_json::from_value(field("weights_due"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The last step of epoch 1 of a 2-epoch run (tau = 1/2): the weights the engine takes
    /// are score / sum * tau + (1 - tau) / N over the batch's own image indices, with image 2,
    /// seen twice, folded as the official code does ((first + second) / 2), unseen images at
    /// the uniform floor.
    #[test]
    fn data_weights_follow_the_scores_of_the_batch_images() {
        let device = Device::flex().autodiff();
        let model = CellSupernet::new(1, 4, 1, 1, 3, &device);
        let mut recipe = Supernet {
            fixed: None,
            options: SupernetOptions {
                data_sampling: Sampling::Importance,
                ..Default::default()
            },
            paths: PathImportance::default(),
            data: DataImportance::default(),
            variance: GradientVariance::default(),
            epoch: 1,
            pending_scores: None,
            weights_due: None,
        };
        let batch = Batch {
            images: Tensor::<4>::random([4, 1, 8, 8], Distribution::Default, &device),
            labels: Tensor::<1, Int>::from_data([0i64, 1, 2, 1], &device),
            size: 4,
            indices: vec![5, 2, 7, 2],
        };
        let ctx = StepContext {
            step: 3,
            epoch: 1,
            seed: 0,
            first: 0,
            epoch_ends: true,
            total_epochs: 2.0,
            device: device.clone(),
            next_batch: None,
        };
        let output = recipe.train_loss(&model, &batch, &ctx);
        let grads = GradientsParams::from_grads(output.loss.backward(), &model);
        let metrics = recipe.after_backward(&model, &grads, &ctx);
        assert!(metrics.iter().any(|(name, _)| *name == "grad_variance"));
        let weights = recipe.take_sampling_weights(10).unwrap();
        assert!(recipe.take_sampling_weights(10).is_none());

        let logits = model.forward(batch.images.clone(), uniform_path(0, 3));
        let s = logit_gradient_norms(logits, batch.labels.clone());
        let mut score = [0.0; 10];
        score[5] = s[0];
        score[7] = s[2];
        score[2] = (s[1] + s[3]) / 2.0;
        let total: f64 = score.iter().sum();
        for (i, (w, s)) in weights.iter().zip(score).enumerate() {
            let expected = s / total * 0.5 + 0.5 / 10.0;
            // The same f32 forward pass twice: equal up to f64 rounding of the mix.
            assert!((w - expected).abs() < 1e-12, "image {i}: {w} vs {expected}");
        }
    }
}
