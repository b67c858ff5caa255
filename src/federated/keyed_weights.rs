//! Many models in one checkpoint file: tensor `name` of the model keyed `k` is stored as
//! `k/name` in one safetensors file (MIFA's per-client updates, the server models that
//! asynchronous clients still work from).

use crate::train::{WeightTensor, Weights};
use std::collections::BTreeMap;

/// The safetensors bytes of `models`.
pub fn pack(models: &BTreeMap<usize, Weights>) -> anyhow::Result<Vec<u8>> {
    let tensors = models.iter().flat_map(|(key, weights)| {
        weights
            .iter()
            .map(move |(name, tensor)| (format!("{key}/{name}"), tensor.clone()))
    });
    Weights::from_tensors(tensors)?.to_safetensors_bytes()
}

/// The models of [`pack`]'s `bytes` (file `file` of a checkpoint), each checked to have
/// exactly `reference`'s tensors and shapes (and tagged with its kinds), keys below `limit`.
pub fn unpack(
    bytes: &[u8],
    file: &str,
    reference: &Weights,
    limit: usize,
) -> anyhow::Result<BTreeMap<usize, Weights>> {
    let all = Weights::from_safetensors_bytes(bytes, std::path::Path::new(file))?;
    let mut grouped: BTreeMap<usize, Vec<(String, WeightTensor)>> = BTreeMap::new();
    for (entry, tensor) in all.iter() {
        let (key, name) = entry
            .split_once('/')
            .and_then(|(key, name)| Some((key.parse::<usize>().ok()?, name)))
            .filter(|(key, _)| *key < limit)
            .ok_or_else(|| {
                anyhow::anyhow!("{file}: tensor `{entry}` is not `KEY/NAME` with KEY < {limit}")
            })?;
        grouped
            .entry(key)
            .or_default()
            .push((name.to_string(), tensor.clone()));
    }
    let mut models = BTreeMap::new();
    for (key, tensors) in grouped {
        let weights = Weights::from_tensors(tensors)?.with_kinds_of(reference);
        anyhow::ensure!(
            weights.len() == reference.len()
                && weights
                    .iter()
                    .all(|(name, t)| reference.get(name).is_some_and(|r| r.shape == t.shape)),
            "{file}: model {key} does not have the model's tensors and shapes"
        );
        models.insert(key, weights);
    }
    Ok(models)
}
