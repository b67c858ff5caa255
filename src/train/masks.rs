//! Pruning masks: which entries of each prunable tensor a model keeps, chosen by magnitude.
//!
//! Prunable tensors are the trainable weights of rank >= 2 (convolution and linear weights;
//! batch- and layer-norm scales and all biases are rank 1), as the official Sparse Model Soups
//! code prunes every module's `weight` except batch norms'. A mask is part of a run's state:
//! the engine keeps masked entries exactly zero after every step and saves the masks in each
//! checkpoint (`masks.safetensors`, one U8 tensor per prunable tensor, export names and
//! layout). The pruning driver that makes them is [`crate::prune`].

use super::weights::{TensorKind, WeightTensor, Weights};
use crate::usage_error;
use anyhow::Context;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::path::Path;

/// The checkpoint file that holds a run's masks.
pub const MASKS_FILE: &str = "masks.safetensors";

/// How the entries to remove are chosen (a config value: `pruning.selector`).
pub use crate::config::pruning::Selector;

/// The kept entries of one tensor, row-major in export layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub shape: Vec<usize>,
    pub keep: Vec<bool>,
}

impl Mask {
    pub fn kept(&self) -> usize {
        self.keep.iter().filter(|&&k| k).count()
    }
}

/// The masks of a model's prunable tensors, by export name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Masks {
    masks: BTreeMap<String, Mask>,
}

/// Whether `tensor` (named `name`) is one pruning may sparsify.
pub fn is_prunable(name: &str, tensor: &WeightTensor) -> bool {
    tensor.kind == TensorKind::Parameter && tensor.shape.len() >= 2 && name.ends_with("weight")
}

/// The fraction of the remaining weights each of `phases` equal phases removes so that
/// `goal` of them are gone after the last: `1 - (1 - goal)^(1 / phases)`.
pub fn amount_per_phase(goal: f64, phases: usize) -> f64 {
    1.0 - (1.0 - goal).powf(1.0 / phases.max(1) as f64)
}

/// `x` rounded to the nearest integer, halves to even (Python's `round`, which PyTorch's
/// pruning uses to turn an amount into a count).
fn round_half_even(x: f64) -> usize {
    let floor = x.floor();
    let rounded = match x - floor {
        d if d > 0.5 => floor + 1.0,
        d if d < 0.5 => floor,
        _ if floor % 2.0 == 0.0 => floor,
        _ => floor + 1.0,
    };
    rounded.max(0.0) as usize
}

impl Masks {
    /// Masks keeping every entry of every prunable tensor of `weights`.
    pub fn dense(weights: &Weights) -> Masks {
        let masks = weights
            .iter()
            .filter(|(name, t)| is_prunable(name, t))
            .map(|(name, t)| {
                let mask = Mask {
                    shape: t.shape.clone(),
                    keep: vec![true; t.values.len()],
                };
                (name.to_string(), mask)
            })
            .collect();
        Masks { masks }
    }

    /// Builds masks from named masks (checked: one flag per entry of the shape).
    pub fn from_masks(masks: impl IntoIterator<Item = (String, Mask)>) -> anyhow::Result<Masks> {
        let mut out = BTreeMap::new();
        for (name, mask) in masks {
            let expected: usize = mask.shape.iter().product();
            if mask.keep.len() != expected {
                anyhow::bail!(
                    "mask `{name}`: {} flags for shape {:?} ({expected} expected)",
                    mask.keep.len(),
                    mask.shape
                );
            }
            if out.insert(name.clone(), mask).is_some() {
                anyhow::bail!("mask `{name}` is given twice");
            }
        }
        Ok(Masks { masks: out })
    }

    pub fn get(&self, name: &str) -> Option<&Mask> {
        self.masks.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Mask)> {
        self.masks.iter().map(|(n, m)| (n.as_str(), m))
    }

    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Entries under a mask.
    pub fn total(&self) -> usize {
        self.masks.values().map(|m| m.keep.len()).sum()
    }

    /// Entries kept.
    pub fn kept(&self) -> usize {
        self.masks.values().map(Mask::kept).sum()
    }

    /// The fraction of masked entries removed.
    pub fn sparsity(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            total => 1.0 - self.kept() as f64 / total as f64,
        }
    }

    /// Checks that every mask names a prunable tensor of `weights` of the same shape; the
    /// error names the tensor.
    pub fn check_against(&self, weights: &Weights) -> anyhow::Result<()> {
        for (name, mask) in &self.masks {
            match weights.get(name) {
                None => {
                    return Err(usage_error!(
                        "mask `{name}` names no tensor of the model (masks belong to a model of \
                         another architecture?)"
                    ));
                }
                Some(t) if !is_prunable(name, t) => {
                    return Err(usage_error!(
                        "mask `{name}`: the model's tensor of shape {:?} is not prunable (a \
                         trainable weight of rank >= 2)",
                        t.shape
                    ));
                }
                Some(t) if t.shape != mask.shape => {
                    return Err(usage_error!(
                        "mask `{name}` has shape {:?}, the model's tensor {:?}",
                        mask.shape,
                        t.shape
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// `weights` with every masked-out entry set to zero.
    pub fn apply(&self, weights: &Weights) -> anyhow::Result<Weights> {
        self.check_against(weights)?;
        let mut out = weights.clone();
        for (name, mask) in &self.masks {
            let values = out.values_mut(name).expect("checked");
            for (v, &keep) in values.iter_mut().zip(&mask.keep) {
                if !keep {
                    *v = 0.0;
                }
            }
        }
        Ok(out)
    }

    /// These masks with `amount` (in [0, 1]) of the entries they keep removed, those of
    /// smallest magnitude in `weights` (ties: the lower index within a tensor, then the
    /// tensor first by name): `round(amount * kept)` over all masked tensors together
    /// ([`Selector::Global`]) or per tensor ([`Selector::Layer`]), rounding halves to even as
    /// PyTorch's `global_unstructured` and `l1_unstructured` do.
    pub fn prune_by_magnitude(
        &self,
        weights: &Weights,
        amount: f64,
        selector: Selector,
    ) -> anyhow::Result<Masks> {
        if !(0.0..=1.0).contains(&amount) {
            return Err(usage_error!(
                "pruning amount {amount}: expected a fraction in [0, 1]"
            ));
        }
        self.check_against(weights)?;
        let mut out = self.clone();
        let names: Vec<String> = self.masks.keys().cloned().collect();
        // Each candidate: (|w|, tensor index, entry index).
        let candidates = |tensor: usize| -> Vec<(f32, usize, usize)> {
            let name = &names[tensor];
            let values = &weights.get(name).expect("checked").values;
            self.masks[name]
                .keep
                .iter()
                .enumerate()
                .filter(|(_, keep)| **keep)
                .map(|(i, _)| (values[i].abs(), tensor, i))
                .collect()
        };
        let groups: Vec<Vec<(f32, usize, usize)>> = match selector {
            Selector::Global => vec![(0..names.len()).flat_map(candidates).collect()],
            Selector::Layer => (0..names.len()).map(candidates).collect(),
        };
        for mut group in groups {
            let count = round_half_even(amount * group.len() as f64).min(group.len());
            if count == 0 {
                continue;
            }
            // NaN magnitudes sort last (kept): pruning never chooses them over numbers.
            let order = |a: &(f32, usize, usize), b: &(f32, usize, usize)| {
                a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
            };
            group.select_nth_unstable_by(count - 1, order);
            for &(_, tensor, index) in &group[..count] {
                out.masks.get_mut(&names[tensor]).expect("listed").keep[index] = false;
            }
        }
        Ok(out)
    }

    /// The bytes of [`MASKS_FILE`]: one U8 tensor (1 kept, 0 removed) per mask.
    pub fn to_safetensors_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let data: Vec<(&String, Vec<u8>)> = self
            .masks
            .iter()
            .map(|(name, m)| (name, m.keep.iter().map(|&k| k as u8).collect()))
            .collect();
        let views = data
            .iter()
            .map(|(name, bytes)| {
                let shape = self.masks[*name].shape.clone();
                Ok(((*name).clone(), TensorView::new(Dtype::U8, shape, bytes)?))
            })
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
        safetensors::serialize(views, None).context("encoding the masks as safetensors")
    }

    /// Reads [`Masks::to_safetensors_bytes`]'s bytes (read from `path`, named in errors).
    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> anyhow::Result<Masks> {
        let file = safetensors::SafeTensors::deserialize(bytes)
            .with_context(|| format!("{}: not a safetensors file", path.display()))?;
        let mut masks = Vec::new();
        for (name, view) in file.tensors() {
            if view.dtype() != Dtype::U8 || view.data().iter().any(|&b| b > 1) {
                anyhow::bail!(
                    "{}: mask `{name}` must be U8 zeros and ones (found {:?})",
                    path.display(),
                    view.dtype()
                );
            }
            let mask = Mask {
                shape: view.shape().to_vec(),
                keep: view.data().iter().map(|&b| b == 1).collect(),
            };
            masks.push((name, mask));
        }
        Self::from_masks(masks).with_context(|| format!("reading {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(&str, Vec<usize>, Vec<f32>)]) -> Weights {
        Weights::from_tensors(pairs.iter().map(|(name, shape, values)| {
            let tensor = WeightTensor {
                shape: shape.clone(),
                values: values.clone(),
                kind: TensorKind::Parameter,
            };
            (name.to_string(), tensor)
        }))
        .unwrap()
    }

    fn model() -> Weights {
        weights(&[
            (
                "conv.weight",
                vec![2, 3],
                vec![0.5, -0.1, 0.9, -0.05, 0.3, 0.2],
            ),
            ("conv.bias", vec![2], vec![0.0, 0.01]),
            ("fc.weight", vec![2, 2], vec![-0.4, 0.02, 0.7, -0.15]),
        ])
    }

    #[test]
    fn only_weights_of_rank_two_or_more_are_masked() {
        let masks = Masks::dense(&model());
        let names: Vec<&str> = masks.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["conv.weight", "fc.weight"]);
        assert_eq!((masks.total(), masks.kept()), (10, 10));
    }

    #[test]
    fn global_pruning_removes_the_smallest_magnitudes_over_all_tensors() {
        let w = model();
        // round(0.5 * 10) = 5 smallest of 10: 0.02, 0.05, 0.1, 0.15, 0.2.
        let masks = Masks::dense(&w)
            .prune_by_magnitude(&w, 0.5, Selector::Global)
            .unwrap();
        let conv = &masks.get("conv.weight").unwrap().keep;
        let fc = &masks.get("fc.weight").unwrap().keep;
        assert_eq!(conv, &[true, false, true, false, true, false]);
        assert_eq!(fc, &[true, false, true, false]);
        let pruned = masks.apply(&w).unwrap();
        assert_eq!(
            pruned.get("conv.weight").unwrap().values,
            [0.5, 0.0, 0.9, 0.0, 0.3, 0.0]
        );
        // The bias is not masked and keeps its values.
        assert_eq!(pruned.get("conv.bias").unwrap().values, [0.0, 0.01]);
        // A second phase removes half of the 5 left: round(2.5) = 2 (halves to even): 0.3, 0.4.
        let again = masks.prune_by_magnitude(&w, 0.5, Selector::Global).unwrap();
        assert_eq!(again.kept(), 3);
        assert_eq!(
            again.get("conv.weight").unwrap().keep,
            [true, false, true, false, false, false]
        );
        assert_eq!(
            again.get("fc.weight").unwrap().keep,
            [false, false, true, false]
        );
    }

    #[test]
    fn layer_pruning_removes_the_same_fraction_of_each_tensor() {
        let w = model();
        // conv: round(0.5 * 6) = 3 (0.05, 0.1, 0.2); fc: round(0.5 * 4) = 2 (0.02, 0.15).
        let masks = Masks::dense(&w)
            .prune_by_magnitude(&w, 0.5, Selector::Layer)
            .unwrap();
        assert_eq!(
            masks.get("conv.weight").unwrap().keep,
            [true, false, true, false, true, false]
        );
        assert_eq!(
            masks.get("fc.weight").unwrap().keep,
            [true, false, true, false]
        );
    }

    #[test]
    fn phases_reach_the_goal_as_pytorch_counts_them() {
        // 1000 weights to 90% in 3 phases: q = 1 - 0.1^(1/3) = 0.5358411; by hand
        // round(535.84) = 536 (464 left), round(248.63) = 249 (215 left), round(115.21) = 115
        // (100 left).
        let values: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 + 1.0)
            .collect();
        let w = weights(&[("layer.weight", vec![10, 100], values)]);
        let q = amount_per_phase(0.9, 3);
        assert!((q - 0.535_841_116_638_722_4).abs() < 1e-12);
        let mut masks = Masks::dense(&w);
        let mut left = Vec::new();
        for _ in 0..3 {
            masks = masks.prune_by_magnitude(&w, q, Selector::Global).unwrap();
            left.push(masks.kept());
        }
        assert_eq!(left, [464, 215, 100]);
        assert!((masks.sparsity() - 0.9).abs() < 1e-12);
        // The kept are exactly the 100 largest.
        let kept: Vec<f32> = w
            .get("layer.weight")
            .unwrap()
            .values
            .iter()
            .zip(&masks.get("layer.weight").unwrap().keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect();
        assert!(kept.iter().all(|&v| v > 900.0));
    }

    #[test]
    fn rounding_is_half_to_even() {
        assert_eq!(
            [0.5, 1.5, 2.5, 2.4, 2.6, 0.0].map(round_half_even),
            [0, 2, 2, 2, 3, 0]
        );
    }

    #[test]
    fn masks_survive_their_file_exactly_and_mismatches_are_named() {
        let w = model();
        let masks = Masks::dense(&w)
            .prune_by_magnitude(&w, 0.3, Selector::Global)
            .unwrap();
        let bytes = masks.to_safetensors_bytes().unwrap();
        let back = Masks::from_safetensors_bytes(&bytes, Path::new("m.safetensors")).unwrap();
        assert_eq!(back, masks);
        let other = weights(&[("conv.weight", vec![3, 2], vec![0.0; 6])]);
        let error = masks.check_against(&other).unwrap_err().to_string();
        assert!(
            error.contains("conv.weight") && error.contains("[3, 2]"),
            "{error}"
        );
        let missing = weights(&[("fc.weight", vec![2, 2], vec![0.0; 4])]);
        let error = masks.apply(&missing).unwrap_err().to_string();
        assert!(error.contains("conv.weight"), "{error}");
        let error = masks
            .prune_by_magnitude(&w, 1.5, Selector::Global)
            .unwrap_err();
        assert!(error.to_string().contains("1.5"));
    }
}
