//! How sparse a model is (`stoke sparsity RUN`): per prunable tensor and over all of them,
//! the weights that are exactly zero and, for a pruned run, those its masks remove.

use super::masks::{Masks, is_prunable};
use crate::train::Weights;
use serde::Serialize;
use std::path::Path;

/// One prunable tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorSparsity {
    pub name: String,
    pub shape: Vec<usize>,
    pub params: usize,
    /// Entries exactly zero.
    pub zeros: usize,
    /// Entries the masks remove (absent without masks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<usize>,
}

impl TensorSparsity {
    pub fn sparsity(&self) -> f64 {
        self.zeros as f64 / self.params.max(1) as f64
    }
}

/// A model's sparsity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SparsityReport {
    pub tensors: Vec<TensorSparsity>,
    /// Entries of all prunable tensors.
    pub params: usize,
    pub zeros: usize,
    /// The fraction of prunable entries that are zero.
    pub sparsity: f64,
    /// The fraction the masks remove (absent without masks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_sparsity: Option<f64>,
    /// Every tensor of the model, prunable or not (biases, norms, running statistics).
    pub model_params: usize,
}

/// The sparsity of `weights` (under `masks`, when the model was pruned).
pub fn sparsity(weights: &Weights, masks: Option<&Masks>) -> SparsityReport {
    let tensors: Vec<TensorSparsity> = weights
        .iter()
        .filter(|(name, t)| is_prunable(name, t))
        .map(|(name, t)| TensorSparsity {
            name: name.to_string(),
            shape: t.shape.clone(),
            params: t.values.len(),
            zeros: t.values.iter().filter(|&&v| v == 0.0).count(),
            masked: masks.map(|m| m.get(name).map_or(0, |mask| mask.keep.len() - mask.kept())),
        })
        .collect();
    let params: usize = tensors.iter().map(|t| t.params).sum();
    let zeros: usize = tensors.iter().map(|t| t.zeros).sum();
    let masked: Option<usize> = masks.map(|_| tensors.iter().filter_map(|t| t.masked).sum());
    SparsityReport {
        params,
        zeros,
        sparsity: zeros as f64 / params.max(1) as f64,
        masked_sparsity: masked.map(|m| m as f64 / params.max(1) as f64),
        model_params: weights.num_values(),
        tensors,
    }
}

/// The sparsity of a run's latest checkpoint (or of a checkpoint directory), or of its best
/// with `best`.
pub fn sparsity_of_run(target: &Path, best: bool) -> anyhow::Result<SparsityReport> {
    let located = crate::train::run_dir::locate(target, best, &[])?;
    let device = crate::device::parse(&located.config.device)?;
    let trainer =
        crate::train::Trainer::from_checkpoint(&located.config, &located.checkpoint, &device)?;
    Ok(sparsity(&trainer.weights(), trainer.masks()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::Selector;
    use crate::train::{TensorKind, WeightTensor};

    #[test]
    fn counts_zeros_and_masked_entries_of_prunable_tensors_only() {
        let tensor = |shape: Vec<usize>, values: Vec<f32>| WeightTensor {
            shape,
            values,
            kind: TensorKind::Parameter,
        };
        let weights = Weights::from_tensors([
            (
                "a.weight".to_string(),
                tensor(vec![2, 2], vec![0.0, 1.0, 2.0, 0.0]),
            ),
            ("a.bias".to_string(), tensor(vec![2], vec![0.0, 0.0])),
            (
                "b.weight".to_string(),
                tensor(vec![1, 4], vec![3.0, -1.0, 0.5, 4.0]),
            ),
        ])
        .unwrap();
        let plain = sparsity(&weights, None);
        assert_eq!((plain.params, plain.zeros, plain.model_params), (8, 2, 10));
        assert_eq!(plain.sparsity, 0.25);
        assert_eq!(plain.masked_sparsity, None);
        // Masks from the magnitudes: round(0.5 * 8) = 4 go, the two zeros, 0.5 and 1.0.
        let masks = Masks::dense(&weights)
            .prune_by_magnitude(&weights, 0.5, Selector::Global)
            .unwrap();
        let pruned = sparsity(&masks.apply(&weights).unwrap(), Some(&masks));
        assert_eq!(pruned.zeros, 4);
        assert_eq!(pruned.masked_sparsity, Some(0.5));
        let per: Vec<(usize, Option<usize>)> =
            pruned.tensors.iter().map(|t| (t.zeros, t.masked)).collect();
        assert_eq!(per, [(3, Some(3)), (1, Some(1))]);
    }
}
