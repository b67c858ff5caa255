//! The training loop of the quantile models and aggregators: Adam with AMSGrad on shuffled
//! minibatches (learning rate 1e-3, weight decay 1e-7), the validation loss every 100 steps
//! and at the last, the best weights kept, stopping after 500 steps without improvement, as
//! the official code does, except that the official code also searches 20 random
//! configurations, has no step cap and refits from scratch for the best step count; here one
//! configuration is trained, at most `max_steps` steps, and the best weights are returned.

use crate::rng::{Rng, Stream};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, decay::WeightDecayConfig};
use burn::prelude::*;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FitSettings {
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch: usize,
    pub max_steps: usize,
    pub eval_every: usize,
    pub patience: usize,
}

impl Default for FitSettings {
    /// The official code's: learning rate 1e-3, weight decay 1e-7, evaluation every 100
    /// steps, patience 500; a cap of 5,000 steps keeps a run's time bounded.
    fn default() -> Self {
        FitSettings {
            learning_rate: 1e-3,
            weight_decay: 1e-7,
            batch: 64,
            max_steps: 5000,
            eval_every: 100,
            patience: 500,
        }
    }
}

/// Trains `model` on minibatches of the row indices `0..rows`: `loss(model, batch)` is the
/// training loss, `validation(model)` the early-stopping loss. Returns the best weights and
/// the step they were reached at.
pub fn fit<M, L, V>(
    mut model: M,
    rows: usize,
    settings: &FitSettings,
    seed: u64,
    loss: L,
    validation: V,
) -> (M, usize)
where
    M: Module + Clone,
    L: Fn(&M, &[usize]) -> Tensor<1>,
    V: Fn(&M) -> f64,
{
    let mut optimizer = AdamConfig::new()
        .with_amsgrad(true)
        .with_weight_decay(Some(WeightDecayConfig {
            penalty: settings.weight_decay as f32,
        }))
        .init();
    let batch = settings.batch.clamp(1, rows.max(1));
    let mut order: Vec<usize> = Vec::new();
    let mut position = rows;
    let mut epoch = 0;
    let (mut best, mut best_loss, mut best_step) = (model.clone(), validation(&model), 0);
    for step in 1..=settings.max_steps {
        if position + batch > rows {
            order = shuffled(rows, seed, epoch);
            epoch += 1;
            position = 0;
        }
        let indices = &order[position..position + batch];
        position += batch;
        let grads = GradientsParams::from_grads(loss(&model, indices).backward(), &model);
        model = optimizer.step(settings.learning_rate, model, grads);
        // The last step is always evaluated, so a short run is not thrown away.
        if step % settings.eval_every.max(1) == 0 || step == settings.max_steps {
            let current = validation(&model);
            if current < best_loss {
                (best, best_loss, best_step) = (model.clone(), current, step);
            } else if step - best_step >= settings.patience {
                break;
            }
        }
    }
    (best, best_step)
}

/// A seeded permutation of `0..n` (Fisher-Yates).
pub fn shuffled(n: usize, seed: u64, counter: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed, Stream::Quantile, counter, 0);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    order
}
