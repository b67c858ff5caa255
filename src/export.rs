//! Export of model weights to safetensors for PyTorch: names follow the module path with
//! PyTorch's conventions (batch norm `gamma`/`beta` become `weight`/`bias`; linear weights are
//! transposed from Burn's `[in, out]` to PyTorch's `[out, in]`). The names and layout are
//! those of [`Weights`], which Trainers give and take.

use crate::train::weights::Weights;
use burn::module::Module;
use std::collections::BTreeMap;
use std::path::Path;

/// The model's float tensors under PyTorch-style names, as f32 little-endian bytes.
pub fn named_tensors<M: Module>(model: &M) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    Weights::of(model)
        .iter()
        .map(|(name, t)| {
            let bytes = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.to_string(), (t.shape.clone(), bytes))
        })
        .collect()
}

/// Writes `model`'s weights to `out` atomically; returns how many tensors were written.
pub fn write_safetensors<M: Module>(model: &M, out: &Path) -> anyhow::Result<usize> {
    let weights = Weights::of(model);
    weights.write_safetensors(out)?;
    Ok(weights.len())
}
