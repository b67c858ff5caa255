//! Checkpoints: `checkpoints/step-NNNNNNNN/{model.bpk, optim.bpk, state.json, manifest.json}`,
//! published by renaming a finished temporary directory, with `checkpoints/latest` and `checkpoints/best`
//! pointer files replaced atomically after it. Killing the process at any moment leaves
//! `latest` naming a complete checkpoint. Only the newest `keep_last` step directories and
//! the best one are kept. `manifest.json` holds each file's size and SHA-256 and the step:
//! every load verifies them, so a damaged or swapped file is an error naming it.

use crate::atomic::{sync_dir, write_atomic, write_synced};
use anyhow::Context;
use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

pub const MODEL_FILE: &str = "model.bpk";
pub const OPTIM_FILE: &str = "optim.bpk";
pub const STATE_FILE: &str = "state.json";
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a checkpoint directory holds: its step and each file's size and SHA-256.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    step: usize,
    files: std::collections::BTreeMap<String, FileSum>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSum {
    bytes: u64,
    sha256: String,
}

impl FileSum {
    fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self {
            bytes: bytes.len() as u64,
            sha256: format!("{:x}", sha2::Sha256::digest(bytes)),
        }
    }
}

impl Manifest {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}: {} is not a complete stoke checkpoint",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a stoke checkpoint manifest", path.display()))
    }

    /// Reads `name` from `dir`, refusing bytes that differ from what was saved.
    fn read_verified(&self, dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
        let path = dir.join(name);
        let bytes = read_bytes(&path)?;
        let expected = self.files.get(name).with_context(|| {
            format!(
                "{}: the checkpoint's {MANIFEST_FILE} does not list it",
                path.display()
            )
        })?;
        let found = FileSum::of(&bytes);
        if &found != expected {
            anyhow::bail!(
                "{} is damaged: {} bytes with SHA-256 {}, but the checkpoint saved {} bytes with \
                 SHA-256 {} ({MANIFEST_FILE})",
                path.display(),
                found.bytes,
                found.sha256,
                expected.bytes,
                expected.sha256
            );
        }
        Ok(bytes)
    }
}

/// Engine progress saved with each checkpoint; enough to continue exactly.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// Best test accuracy seen so far and the step it was measured at.
    pub best_accuracy: Option<f64>,
    pub best_step: Option<usize>,
    /// Lowest test loss so far, for models without an accuracy (the `best` checkpoint).
    #[serde(default)]
    pub best_loss: Option<f64>,
    /// Training seconds before this process started (for wall time across resumes).
    pub wall_seconds: f64,
    /// Running sums of the current logging window.
    pub window: Window,
    /// The recipe's own state.
    #[serde(default)]
    pub recipe: serde_json::Value,
    /// Adaptive batch sizes: the current batch size (0 before the first change).
    #[serde(default)]
    pub batch_size: usize,
    /// Adaptive batch sizes: training samples consumed so far.
    #[serde(default)]
    pub samples_seen: usize,
    /// Steps dropped because their loss, gradient or update was not finite
    /// (`train.on_nonfinite = "skip"`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_steps: usize,
    /// f16 training's loss scale (`train.precision = "f16"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<super::precision::LossScale>,
    /// Per-example sampling weights of the training set, when a driver set them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_weights: Option<Vec<f64>>,
    /// The evaluation extensions' states, under their keys (`collapse`: the robust-accuracy
    /// history for catastrophic-overfitting detection).
    #[serde(flatten)]
    pub extensions: std::collections::BTreeMap<String, serde_json::Value>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Sums over the steps since the last metrics line.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Window {
    pub steps: usize,
    /// The sum of the window's known losses (a step on gradients handed in has none).
    pub loss_sum: f64,
    /// How many steps `loss_sum` adds (None in checkpoints written before it was counted:
    /// every step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_steps: Option<usize>,
    pub correct: usize,
    pub samples: usize,
    pub grad_norm_sum: f64,
    /// Steps of the window that were skipped as non-finite (not in the sums).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: usize,
}

pub struct CheckpointDir {
    root: PathBuf,
}

fn step_name(step: usize) -> String {
    format!("step-{step:08}")
}

/// The step of a directory named by [`step_name`].
fn step_of_name(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("step-")?;
    (digits.len() >= 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

impl CheckpointDir {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Saves a checkpoint of `step` and makes it the latest; with `best`, also the best.
    /// `extra` files (a pruned model's masks) are saved and verified with the others.
    pub fn save<M: Module>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &TrainState,
        extra: Vec<(&str, Vec<u8>)>,
        best: bool,
        keep_last: usize,
    ) -> anyhow::Result<PathBuf> {
        let mut files = vec![
            (MODEL_FILE, encode_model(model)?),
            (OPTIM_FILE, encode_optim(optim)?),
            (STATE_FILE, serde_json::to_vec_pretty(state)?),
        ];
        files.extend(extra);
        self.save_files(state.step, &files, best, keep_last)
    }

    /// Publishes `files` (name, bytes) with their manifest as the checkpoint of `step` and
    /// makes it the latest (with `best`, also the best): what every kind of run checkpoints
    /// through. Read them back with [`read_verified`].
    pub fn save_files(
        &self,
        step: usize,
        files: &[(&str, Vec<u8>)],
        best: bool,
        keep_last: usize,
    ) -> anyhow::Result<PathBuf> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let name = step_name(step);
        let tmp = self
            .root
            .join(format!(".tmp-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut manifest = Manifest {
            step,
            files: Default::default(),
        };
        for (name, bytes) in files {
            write_synced(&tmp.join(name), bytes)?;
            manifest.files.insert(name.to_string(), FileSum::of(bytes));
        }
        let manifest_path = tmp.join(MANIFEST_FILE);
        crate::fault::at("checkpoint")
            .with_context(|| format!("writing {}", manifest_path.display()))?;
        write_synced(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;
        sync_dir(&tmp)?;
        let final_dir = self.root.join(&name);
        // A checkpoint of the same step (an interrupt just after the cadence's) is moved
        // aside, not deleted, until the new one is in place.
        let replaced = self
            .root
            .join(format!(".old-{name}-{}", std::process::id()));
        if final_dir.exists() {
            fs::rename(&final_dir, &replaced)
                .with_context(|| format!("replacing {}", final_dir.display()))?;
        }
        fs::rename(&tmp, &final_dir)
            .with_context(|| format!("publishing {}", final_dir.display()))?;
        sync_dir(&self.root)?;
        let _ = fs::remove_dir_all(&replaced);
        write_atomic(&self.root.join("latest"), name.as_bytes())?;
        if best {
            write_atomic(&self.root.join("best"), name.as_bytes())?;
        }
        self.prune(keep_last)?;
        Ok(final_dir)
    }

    /// The checkpoint directories kept now (none before the first).
    pub fn step_dirs(&self) -> anyhow::Result<Vec<PathBuf>> {
        if !self.root.exists() {
            return Ok(Vec::new());
        }
        let mut dirs = Vec::new();
        for entry in
            fs::read_dir(&self.root).with_context(|| format!("listing {}", self.root.display()))?
        {
            let name = entry?.file_name().to_string_lossy().to_string();
            if step_of_name(&name).is_some() {
                dirs.push(self.root.join(name));
            }
        }
        dirs.sort();
        Ok(dirs)
    }

    /// The step directory a pointer file names; a name that is not `step-N` (a path out of
    /// the directory, say) counts as no pointer.
    fn pointer(&self, which: &str) -> Option<String> {
        let name = fs::read_to_string(self.root.join(which)).ok()?;
        let name = name.trim();
        step_of_name(name).map(|_| name.to_string())
    }

    /// The directory a checkpoint of `step` is published as.
    pub fn step_dir(&self, step: usize) -> PathBuf {
        self.root.join(step_name(step))
    }

    /// The directory `latest` points to.
    pub fn latest(&self) -> anyhow::Result<PathBuf> {
        let pointer = self.root.join("latest");
        let name = self
            .pointer("latest")
            .ok_or_else(|| match pointer.is_file() {
                // A damaged run directory: a runtime error, like a damaged checkpoint file.
                true => anyhow::anyhow!(
                    "{} is damaged: it holds `{}`, not the name of a checkpoint in {} \
                 (step-NNNNNNNN)",
                    pointer.display(),
                    fs::read_to_string(&pointer)
                        .unwrap_or_default()
                        .trim()
                        .escape_debug(),
                    self.root.display()
                ),
                false => crate::usage_error!(
                    "no checkpoint in {}: {} is missing",
                    self.root.display(),
                    pointer.display()
                ),
            })?;
        Ok(self.root.join(name))
    }

    /// The directory `best` points to, if any evaluation happened.
    pub fn best(&self) -> Option<PathBuf> {
        self.pointer("best").map(|name| self.root.join(name))
    }

    /// Removes step directories beyond the newest `keep_last`, sparing latest and best, and
    /// temporary directories left by a killed process.
    fn prune(&self, keep_last: usize) -> anyhow::Result<()> {
        let keep: Vec<String> = ["latest", "best"]
            .iter()
            .filter_map(|p| self.pointer(p))
            .collect();
        let mut steps = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let name = entry?.file_name().to_string_lossy().to_string();
            let leftover = name.starts_with(".tmp-") || name.starts_with(".old-");
            if leftover && !name.ends_with(&format!("-{}", std::process::id())) {
                let _ = fs::remove_dir_all(self.root.join(&name));
            } else if name.starts_with("step-") {
                steps.push(name);
            }
        }
        steps.sort();
        let excess = steps.len().saturating_sub(keep_last.max(1));
        for name in steps.into_iter().take(excess) {
            if !keep.contains(&name) {
                fs::remove_dir_all(self.root.join(&name))?;
            }
        }
        Ok(())
    }
}

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading checkpoint file {}", path.display()))
}

/// The weights of `model` as the bytes of a `model.bpk` file.
pub fn encode_model<M: Module>(model: &M) -> anyhow::Result<Vec<u8>> {
    // `valid()` folds the pending batch-norm running-statistics update into the recorded
    // value; recording the training module directly would save them one step stale.
    let bytes = model
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(bytes.to_vec())
}

/// The optimizer state as the bytes of an `optim.bpk` file.
pub fn encode_optim(optim: &ModuleOptimizer) -> anyhow::Result<Vec<u8>> {
    let bytes = optim
        .to_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(bytes.to_vec())
}

/// Loads weights encoded by [`encode_model`] into `model`; `source` names them in errors.
pub fn decode_model<M: Module>(bytes: Vec<u8>, model: M, source: &str) -> anyhow::Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("{source}: not a model checkpoint: {e}"))?;
    model
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{source}: does not fit this model: {e}"))
}

/// The verified bytes of `name` in checkpoint `dir` when its manifest lists it (None when
/// it does not); a listed file that is missing or damaged is an error naming it.
pub fn read_if_listed(dir: &Path, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let manifest = Manifest::read(dir)?;
    match manifest.files.contains_key(name) {
        true => manifest.read_verified(dir, name).map(Some),
        false => Ok(None),
    }
}

/// Loads optimizer state encoded by [`encode_optim`] into `optim`.
pub fn decode_optim(
    bytes: Vec<u8>,
    optim: ModuleOptimizer,
    source: &str,
) -> anyhow::Result<ModuleOptimizer> {
    let record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| anyhow::anyhow!("{source}: not an optimizer checkpoint: {e}"))?;
    Ok(optim.load_record(record))
}

/// The file `name` of the checkpoint directory `dir`, verified against its manifest.
pub fn read_verified(dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    Manifest::read(dir)?.read_verified(dir, name)
}

/// The step a checkpoint directory's manifest records.
pub fn manifest_step(dir: &Path) -> anyhow::Result<usize> {
    Ok(Manifest::read(dir)?.step)
}

/// Loads the model weights of a checkpoint directory into `model`, verified against its
/// manifest.
pub fn load_model<M: Module>(dir: &Path, model: M) -> anyhow::Result<M> {
    let bytes = Manifest::read(dir)?.read_verified(dir, MODEL_FILE)?;
    decode_model(bytes, model, &dir.join(MODEL_FILE).display().to_string())
}

/// Loads optimizer state and engine state of a checkpoint directory, verified against its
/// manifest; a state whose step is not the checkpoint's is refused.
pub fn load_training(
    dir: &Path,
    optim: ModuleOptimizer,
) -> anyhow::Result<(ModuleOptimizer, TrainState)> {
    let manifest = Manifest::read(dir)?;
    let path = dir.join(OPTIM_FILE);
    let bytes = manifest.read_verified(dir, OPTIM_FILE)?;
    let optim = decode_optim(bytes, optim, &path.display().to_string())?;
    let state_path = dir.join(STATE_FILE);
    let bytes = manifest.read_verified(dir, STATE_FILE)?;
    let state: TrainState = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a stoke training state", state_path.display()))?;
    let named = dir
        .file_name()
        .and_then(|n| step_of_name(&n.to_string_lossy()));
    if state.step != manifest.step || named.is_some_and(|n| n != state.step) {
        anyhow::bail!(
            "{}: step {} disagrees with the checkpoint ({}, {MANIFEST_FILE} step {})",
            state_path.display(),
            state.step,
            dir.display(),
            manifest.step
        );
    }
    Ok((optim, state))
}
