//! `stoke import`: weights from a safetensors file (what `stoke export` writes: stoke's
//! PyTorch-style names, linear weights `[out, in]`, batch-norm statistics included) into a
//! new run directory of a config, which `stoke eval`, `export` and `train.init_from` read.
//! Every tensor of the config's model must be in the file with its shape, and nothing else:
//! a mismatch names the tensor and both shapes. Names of other libraries (torchvision,
//! timm) are not mapped yet.

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
