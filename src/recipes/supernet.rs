//! `supernet`: one-shot NAS training of the cell supernet ([`crate::models::cell_supernet`]).
//! Without `recipe.architecture` every step trains one architecture drawn uniformly (one
//! operation per edge, independently, the same in every cell: single-path one-shot, SPOS,
//! the baseline PA&DA improves on); with it, that architecture alone, which is how the
//! stand-alone accuracies a supernet's ranking is checked against are trained, and how an
//! architecture's inherited weights are scored. PA&DA's importance sampling of paths and
//! data is not built yet.

use super::{Batch, DataInfo, EvalSums, Recipe, StepContext, StepOutput};
use crate::config::{RunConfig, typed_section};
use crate::loss::{count_correct, cross_entropy};
use crate::models::cell_supernet::{
    ARCHITECTURES, CellSupernet, EDGES, OPERATIONS, operations_of, options_of,
};
use crate::rng::{Rng, Stream};
use burn::prelude::*;
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetOptions {
    /// Train and score this architecture alone (0..27, base-3 digits of the edges'
    /// operations); absent: the supernet.
    #[serde(default)]
    pub architecture: Option<usize>,
}

pub struct Supernet {
    fixed: Option<[usize; EDGES]>,
}

/// The architecture the supernet trains at `step` of a run seeded `seed`: each edge's
/// operation drawn uniformly and independently.
pub fn uniform_path(seed: u64, step: usize) -> [usize; EDGES] {
    let mut rng = Rng::new(seed, Stream::Nas, step as u64, 0);
    [0; EDGES].map(|_| rng.below(OPERATIONS.len() as u64) as usize)
}

impl Supernet {
    /// The architecture of a step: the fixed one, or drawn from (seed, step).
    fn path(&self, seed: u64, step: usize) -> [usize; EDGES] {
        self.fixed.unwrap_or_else(|| uniform_path(seed, step))
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
        Ok(Self { fixed })
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
}
