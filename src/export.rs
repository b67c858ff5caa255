//! Export of model weights to safetensors for PyTorch: names follow the module path with
//! PyTorch's conventions (batch norm `gamma`/`beta` become `weight`/`bias`; linear weights are
//! transposed from Burn's `[in, out]` to PyTorch's `[out, in]`).

use crate::train::atomic::write_atomic;
use anyhow::Context;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default)]
struct Collector {
    path: Vec<String>,
    /// PyTorch-style name -> (shape, little-endian f32 bytes)
    tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)>,
    linear: bool,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if container_type == "Struct:Linear" {
            self.linear = true;
        }
        // Enum variants (e.g. `Basic` in ResNet's block enum) are not part of PyTorch names.
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if container_type == "Struct:Linear" {
            self.linear = false;
        }
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let mut tensor = param.val();
        let mut names = self.path.clone();
        if let Some(last) = names.last_mut() {
            match last.as_str() {
                "gamma" => *last = "weight".into(),
                "beta" => *last = "bias".into(),
                _ => {}
            }
        }
        if self.linear && D == 2 && names.last().is_some_and(|n| n == "weight") {
            tensor = tensor.transpose();
        }
        let shape = tensor.dims().to_vec();
        let values: Vec<f32> = tensor.into_data().iter::<f32>().collect();
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.insert(names.join("."), (shape, bytes));
    }
}

/// The model's float tensors under PyTorch-style names, as f32.
pub fn named_tensors<M: Module>(model: &M) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let mut collector = Collector::default();
    model.visit(&mut collector);
    collector.tensors
}

/// Writes `model`'s weights to `out` atomically; returns how many tensors were written.
pub fn write_safetensors<M: Module>(model: &M, out: &Path) -> anyhow::Result<usize> {
    let tensors = named_tensors(model);
    let views = tensors
        .iter()
        .map(|(name, (shape, bytes))| {
            Ok((
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    let bytes = safetensors::serialize(views, Some(metadata)).context("encoding safetensors")?;
    write_atomic(out, &bytes)?;
    Ok(tensors.len())
}
