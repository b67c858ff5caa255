//! Batch-norm statistics for weights that were never trained as such (a soup, an
//! interpolation): the running mean and variance of every batch norm, recomputed as the
//! average of per-batch statistics over training batches (PyTorch's `momentum=None`
//! recomputation, which timm and the model-soups code use).
//!
//! Each batch goes through the model in training mode from running statistics of zero, so a
//! batch norm's running value after it is momentum x the batch's statistic: dividing by the
//! momentum gives the statistic itself, exactly as the layer computed it.

use crate::models::layers::BATCH_NORM_MOMENTUM;
use crate::train::{TensorKind, Trainer, Weights};

/// Whether a tensor is a batch norm's running statistic (by its export name).
pub fn is_running_statistic(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var")
}

/// `weights` with every running statistic replaced by its average over `batches` of the
/// trainer's training batches (augmented as in training, but not transformed by the
/// recipe: MixUp or attacks do not change them; batch norms the clean pass does not reach
/// keep theirs). The trainer's weights are left as `weights` but with the new statistics;
/// its step and its training data stream do not move.
pub fn recompute(
    trainer: &mut Trainer,
    weights: &Weights,
    batches: usize,
) -> anyhow::Result<Weights> {
    let names: Vec<String> = weights
        .iter()
        .filter(|(name, t)| t.kind == TensorKind::Buffer && is_running_statistic(name))
        .map(|(name, _)| name.to_string())
        .collect();
    if names.is_empty() || batches == 0 {
        trainer.set_weights(weights)?;
        return Ok(weights.clone());
    }
    let mut zeroed = weights.clone();
    for name in &names {
        zeroed.values_mut(name).expect("listed").fill(0.0);
    }
    let mut sums: Vec<Vec<f64>> = names
        .iter()
        .map(|n| vec![0.0; weights.get(n).expect("listed").values.len()])
        .collect();
    // Statistics of batch norms the clean forward pass does not reach (a dual batch norm's
    // auxiliary one) stay zero: they keep their values.
    let mut touched = vec![false; names.len()];
    for _ in 0..batches {
        trainer.set_weights(&zeroed)?;
        // One clean forward pass in training mode: the running statistics become momentum x
        // the batch's.
        trainer.forward_training_batches(1)?;
        let after = trainer.weights();
        for ((name, sum), touched) in names.iter().zip(&mut sums).zip(&mut touched) {
            let running = &after.get(name).expect("same model").values;
            *touched |= running.iter().any(|&r| r != 0.0);
            for (s, &r) in sum.iter_mut().zip(running) {
                *s += r as f64 / BATCH_NORM_MOMENTUM;
            }
        }
    }
    let mut out = weights.clone();
    for ((name, sum), _) in names.iter().zip(&sums).zip(&touched).filter(|(_, t)| **t) {
        let values = out.values_mut(name).expect("listed");
        for (v, s) in values.iter_mut().zip(sum) {
            *v = (s / batches as f64) as f32;
        }
    }
    trainer.set_weights(&out)?;
    Ok(out)
}
