//! `stoke import`: weights from a safetensors file into a new run directory of a config,
//! which `stoke eval`, `export` and `train.init_from` read. The file holds what `stoke
//! export` writes (stoke's PyTorch-style names, linear weights `[out, in]`, batch-norm
//! statistics included) or a torchvision ResNet's state dict (`conv1`, `bn1`,
//! `layer{s}.{j}...`, `downsample.{0,1}`, `fc`; its `num_batches_tracked` counters are
//! dropped), whose names are mapped onto the resnet architecture's (use `stem = "imagenet"`
//! for torchvision's stem). Every tensor of the config's model must be in the file with its
//! shape, and nothing else: a mismatch names the tensor and both shapes. timm's
//! VisionTransformer (ViT/DeiT with a class token) is mapped onto the vit architecture
//! (`patch_embed.proj` -> `patch_embed`, `attn` -> `attention`, `mlp.fc1/2` -> `fc1/2`).

use super::{Setup, Trainer, Weights};
use crate::config::RunConfig;
use crate::usage_error;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What an import wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    pub file: PathBuf,
    pub out: PathBuf,
    pub tensors: usize,
    pub values: usize,
    pub checkpoint: PathBuf,
}

/// The weights of `file` checked against the model of `config` (by name and shape) and
/// tagged as its parameters and buffers.
pub fn read_for(file: &Path, config: &RunConfig) -> anyhow::Result<Weights> {
    let device = crate::device::parse(&config.device)?;
    let model = Trainer::build(config, &device, None, Setup::default())?.weights();
    let weights = Weights::read_safetensors(file).map_err(|e| usage_error!("{e:#}"))?;
    let weights = match () {
        _ if is_torchvision_resnet(&weights) => from_torchvision_resnet(weights)?,
        _ if is_timm_vit(&weights) => from_timm_vit(weights)?,
        _ => weights,
    };
    check_against(&weights, &model, file)?;
    Ok(weights.with_kinds_of(&model))
}

fn check_against(weights: &Weights, model: &Weights, file: &Path) -> anyhow::Result<()> {
    for (name, expected) in model.iter() {
        match weights.get(name) {
            None => {
                return Err(usage_error!(
                    "{}: no tensor `{name}`, which the model needs with shape {:?} ({} of the \
                     model's {} tensors are missing)",
                    file.display(),
                    expected.shape,
                    model.names().filter(|n| weights.get(n).is_none()).count(),
                    model.len()
                ));
            }
            Some(found) if found.shape != expected.shape => {
                return Err(usage_error!(
                    "{}: tensor `{name}` has shape {:?}, the model expects {:?}",
                    file.display(),
                    found.shape,
                    expected.shape
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = weights.names().find(|n| model.get(n).is_none()) {
        return Err(usage_error!(
            "{}: tensor `{extra}` is not a tensor of the model (is the file of another \
             architecture or config?)",
            file.display()
        ));
    }
    Ok(())
}

/// Writes `file`'s weights as a new run directory `out` of `config` (a checkpoint at step 0).
pub fn import(file: &Path, config: &RunConfig, out: &Path) -> anyhow::Result<ImportSummary> {
    if out.join("config.toml").exists() {
        return Err(usage_error!(
            "{} already holds a run; choose another --out",
            out.display()
        ));
    }
    let weights = read_for(file, config)?;
    let device = crate::device::parse(&config.device)?;
    let mut trainer = Trainer::build(config, &device, None, Setup::default())?;
    trainer.set_weights(&weights)?;
    let checkpoint = trainer.save(out)?;
    Ok(ImportSummary {
        file: file.to_path_buf(),
        out: out.to_path_buf(),
        tensors: weights.len(),
        values: weights.num_values(),
        checkpoint,
    })
}

/// Whether the names are a torchvision ResNet's (a `fc` head and `layer1.0` blocks).
fn is_torchvision_resnet(weights: &Weights) -> bool {
    weights.get("fc.weight").is_some() && weights.names().any(|n| n.starts_with("layer1.0."))
}

/// torchvision's ResNet names as stoke's: `conv1`/`bn1` -> `stem.conv`/`stem.bn`,
/// `layer{s}.{j}` -> `blocks.{k}` (k counting blocks over the stages in order),
/// `downsample.0`/`.1` -> `shortcut.conv`/`.bn`, `fc` -> `head`.
fn from_torchvision_resnet(weights: Weights) -> anyhow::Result<Weights> {
    // (stage, block) pairs in order give the running block index.
    let mut blocks: Vec<(usize, usize)> = weights
        .names()
        .filter_map(|name| {
            let rest = name.strip_prefix("layer")?;
            let mut parts = rest.splitn(3, '.');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    let mut renamed = Vec::with_capacity(weights.len());
    for (name, tensor) in weights.iter() {
        let new = if let Some(rest) = name.strip_prefix("conv1.") {
            format!("stem.conv.{rest}")
        } else if let Some(rest) = name.strip_prefix("bn1.") {
            format!("stem.bn.{rest}")
        } else if let Some(rest) = name.strip_prefix("fc.") {
            format!("head.{rest}")
        } else if let Some(rest) = name.strip_prefix("layer") {
            let mut parts = rest.splitn(3, '.');
            let key: Option<(usize, usize)> = parts
                .next()
                .and_then(|s| s.parse().ok())
                .zip(parts.next().and_then(|j| j.parse().ok()));
            let (Some(key), Some(tail)) = (key, parts.next()) else {
                return Err(usage_error!(
                    "tensor `{name}`: not a torchvision ResNet name"
                ));
            };
            let k = blocks.binary_search(&key).expect("collected above");
            let tail = tail
                .replace("downsample.0.", "shortcut.conv.")
                .replace("downsample.1.", "shortcut.bn.");
            format!("blocks.{k}.{tail}")
        } else {
            name.to_string()
        };
        renamed.push((new, tensor.clone()));
    }
    Weights::from_tensors(renamed)
}

/// Whether the names are a timm VisionTransformer's (a `patch_embed.proj` convolution).
fn is_timm_vit(weights: &Weights) -> bool {
    weights.get("patch_embed.proj.weight").is_some()
}

/// timm's VisionTransformer names as stoke's vit: the patch embedding's `proj`, the blocks'
/// `attn` and `mlp` levels are folded; the rest (tokens, norms, head) already agree.
fn from_timm_vit(weights: Weights) -> anyhow::Result<Weights> {
    let renamed = weights.iter().map(|(name, tensor)| {
        let new = name
            .replace("patch_embed.proj.", "patch_embed.")
            .replace(".attn.", ".attention.")
            .replace(".mlp.fc1.", ".fc1.")
            .replace(".mlp.fc2.", ".fc2.");
        (new, tensor.clone())
    });
    Weights::from_tensors(renamed.collect::<Vec<_>>())
}
