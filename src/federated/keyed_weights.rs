//! Server-side state in checkpoint files: many models in one file (tensor `name` of the
//! model keyed `k` stored as `k/name`: MIFA's per-client updates, control variates, the
//! server models that asynchronous clients still work from) and single parameter-shaped
//! vectors (momentum directions, server control variates).

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

/// The parameter-shaped vector in checkpoint file `file` (None when the checkpoint has
/// none), checked against `parameters`' tensors and tagged with their kinds.
pub fn read_parameters(
    read: &mut super::aggregator::ReadState,
    file: &str,
    parameters: &Weights,
) -> anyhow::Result<Option<Weights>> {
    let Some(bytes) = read(file)? else {
        return Ok(None);
    };
    let weights = Weights::from_safetensors_bytes(&bytes, std::path::Path::new(file))?
        .with_kinds_of(parameters);
    anyhow::ensure!(
        weights.len() == parameters.len()
            && weights
                .iter()
                .all(|(name, t)| parameters.get(name).is_some_and(|p| p.shape == t.shape)),
        "{file}: not the model's parameters"
    );
    Ok(Some(weights))
}

/// The models of file `file` (none when the checkpoint has none); see [`unpack`].
pub fn read_keyed(
    read: &mut super::aggregator::ReadState,
    file: &str,
    reference: &Weights,
    limit: usize,
) -> anyhow::Result<BTreeMap<usize, Weights>> {
    match read(file)? {
        Some(bytes) => unpack(&bytes, file, reference, limit),
        None => Ok(BTreeMap::new()),
    }
}
