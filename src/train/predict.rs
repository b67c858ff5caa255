//! Per-example predictions: the logits and cross-entropy loss of every image of a set, for
//! drivers that score examples (EL2N, forgetting, importance sampling, transfer attacks), and
//! per-example gradient norms (GraNd).

use crate::batch::to_device;
use crate::datasets::loader::eval_batches;
use crate::datasets::{ImageSet, Pipeline};
use crate::optim::grad_norm::grad_norms;
use crate::recipes::Recipe;
use burn::module::{Module, ParamGroup};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The model's outputs on every image of a set, in the set's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub num_classes: usize,
    /// `[images, num_classes]` row-major.
    pub logits: Vec<f32>,
    /// Cross-entropy of each image against its label (no label smoothing).
    pub losses: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The logits of image `i`.
    pub fn logits_of(&self, i: usize) -> &[f32] {
        &self.logits[i * self.num_classes..(i + 1) * self.num_classes]
    }

    /// The class of the largest logit of image `i` (the first on ties).
    pub fn predicted(&self, i: usize) -> usize {
        let row = self.logits_of(i);
        (0..row.len()).fold(0, |best, c| if row[c] > row[best] { c } else { best })
    }
}

/// `None` when the recipe's model does not classify.
pub fn predict<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
) -> Option<anyhow::Result<Predictions>> {
    let mut out = Predictions {
        num_classes: set.num_classes,
        logits: Vec::with_capacity(set.len() * set.num_classes),
        losses: Vec::with_capacity(set.len()),
        labels: set.labels.clone(),
    };
    for host in eval_batches(set, pipeline, batch_size) {
        let batch = to_device(host, device);
        let logits = recipe.logits(model, batch.images)?;
        let [rows, classes] = logits.dims();
        if classes != set.num_classes {
            return Some(Err(crate::usage_error!(
                "the model has {classes} classes, the data {}",
                set.num_classes
            )));
        }
        let losses = crate::loss::cross_entropy_per_sample(logits.clone(), batch.labels, 0.0);
        out.logits.extend(logits.into_data().iter::<f32>());
        out.losses.extend(losses.into_data().iter::<f32>());
        debug_assert_eq!(out.losses.len() % rows.max(1), 0);
    }
    Some(Ok(out))
}

/// The L2 norm, over all parameters, of the gradient of each image's cross-entropy (Data
/// Diet's GraNd), in the set's order. The model runs as at evaluation (batch norm on its
/// running statistics, no dropout) so that an image's gradient does not depend on the rest
/// of its batch, as the official code's `train=False` forward does; one forward and backward
/// per image. `model` is the training copy, `device` an autodiff device. `None` when the
/// recipe's model does not classify.
pub fn example_gradient_norms<R: Recipe>(
    recipe: &R,
    model: &R::Model,
    set: &ImageSet,
    pipeline: &Pipeline,
    batch_size: usize,
    device: &Device,
) -> Option<anyhow::Result<Vec<f64>>> {
    // A detached copy in evaluation mode (batch norm on its synchronised running statistics,
    // no dropout) whose every parameter then takes part in the backward again.
    let frozen = crate::attacks::eval_mode(model);
    let parameters = ParamGroup::ids_from_module(frozen.clone());
    let model = frozen.set_require_grad_group(parameters, true);
    let mut norms = Vec::with_capacity(set.len());
    for host in eval_batches(set, pipeline, batch_size) {
        let batch = to_device(host, device);
        for row in 0..batch.size {
            let image = batch.images.clone().narrow(0, row, 1);
            let label = batch.labels.clone().narrow(0, row, 1);
            let logits = recipe.logits(&model, image)?;
            let loss = crate::loss::cross_entropy_per_sample(logits, label, 0.0).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            norms.push(grad_norms(&model, &grads).l2);
        }
    }
    Some(Ok(norms))
}
