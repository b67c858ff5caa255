//! `stoke bench train-step`: median throughput and peak memory of full training steps
//! (forward, cross-entropy, backward, SGD momentum step) on random data, the same work as
//! `benches/reference/train_step.py` does in PyTorch.

pub mod all_reduce;
pub mod ops;
pub mod optimizers;
pub mod recipes;
pub mod softmax;

use crate::config::{Precision, presets};
use crate::loss::cross_entropy;
use crate::models::ModelSpec;
use crate::optim::builtin;
use crate::rng::{Rng, Stream};
use crate::train::precision::{check_backend, compute_copy, compute_dtype};
use crate::usage_error;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct TrainStepBench {
    pub model: String,
    pub batch: usize,
    /// The compute precision (f32 master weights, as `train.precision`).
    pub precision: Precision,
    pub steps: usize,
    pub warmup: usize,
    /// `[channels, height, width]`
    pub input: [usize; 3],
    pub classes: usize,
    pub device: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainStepResult {
    pub framework: &'static str,
    pub model: String,
    pub device: String,
    pub batch: usize,
    pub precision: &'static str,
    pub steps: usize,
    pub median_images_per_second: f64,
    pub peak_memory_mb: f64,
    pub step_seconds: Vec<f64>,
}

/// The model spec of a preset name or of a TOML file holding a `[model]`-style table.
pub fn model_spec(name: &str) -> anyhow::Result<ModelSpec> {
    let text = match presets::model(name) {
        Some(text) => text.to_string(),
        None if std::path::Path::new(name).is_file() => std::fs::read_to_string(name)?,
        None => {
            return Err(usage_error!(
                "unknown model `{name}` (neither a preset nor a file); presets: {}",
                presets::model_names().join(", ")
            ));
        }
    };
    toml::from_str(&text).map_err(|e| usage_error!("model `{name}`: {e}"))
}

pub fn train_step(bench: &TrainStepBench) -> anyhow::Result<TrainStepResult> {
    if bench.batch == 0 || bench.steps == 0 {
        return Err(usage_error!("--batch and --steps must be positive"));
    }
    let device = crate::device::parse(&bench.device)?.autodiff();
    check_backend(bench.precision, &device, &bench.device)?;
    let dtype = compute_dtype(bench.precision);
    device.seed(0);
    let [c, h, w] = bench.input;
    let mut model = model_spec(&bench.model)?.build(bench.input, bench.classes, &device)?;
    let mut options = toml::Table::new();
    options.insert("momentum".into(), 0.9.into());
    options.insert("weight_decay".into(), 5e-4.into());
    let mut optim = builtin::sgd(&options)?.optim;

    let mut rng = Rng::new(0, Stream::Synthetic, 0, 0);
    let images: Vec<f32> = (0..bench.batch * c * h * w)
        .map(|_| rng.normal() as f32)
        .collect();
    let labels: Vec<i64> = (0..bench.batch)
        .map(|_| rng.below(bench.classes as u64) as i64)
        .collect();
    let images = Tensor::<4>::from_data(TensorData::new(images, [bench.batch, c, h, w]), &device);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [bench.batch]), &device);

    let mut times = Vec::new();
    for i in 0..bench.warmup + bench.steps {
        let started = Instant::now();
        let logits = match dtype {
            Some(dtype) => compute_copy(&model, dtype).forward(images.clone().cast(dtype)),
            None => model.forward(images.clone()),
        };
        let loss = cross_entropy(logits, labels.clone(), 0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.01, model, grads);
        // Reading the loss waits for the step to finish on asynchronous backends.
        let _ = loss.into_scalar::<f32>();
        if i >= bench.warmup {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    Ok(TrainStepResult {
        framework: "stoke",
        model: bench.model.clone(),
        device: bench.device.clone(),
        batch: bench.batch,
        precision: bench.precision.name(),
        steps: bench.steps,
        median_images_per_second: bench.batch as f64 / median,
        peak_memory_mb: peak_rss_mb().unwrap_or(f64::NAN),
        step_seconds: times,
    })
}

/// Peak resident set size of this process (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Clone, Debug, Serialize)]
pub struct DataLoadingResult {
    pub dataset: String,
    pub batch: usize,
    pub batches: usize,
    /// Images per second the loader thread delivers when nothing consumes its time.
    pub images_per_second: f64,
}

/// Throughput of the training data pipeline of a run config alone (read, shuffle, augment,
/// normalise, hand over), to compare with the training step's throughput.
pub fn data_loading(
    config: &crate::config::RunConfig,
    batches: usize,
) -> anyhow::Result<DataLoadingResult> {
    use crate::datasets::augment::Augment;
    use crate::datasets::{BatchPlan, Pipeline, TrainLoader};
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let pipeline = Pipeline {
        mean: config.dataset.mean.clone(),
        std: config.dataset.std.clone(),
        augment: Augment {
            crop_padding: config.data.crop_padding,
            hflip: config.data.hflip,
        },
    };
    let batch_size = config.data.batch_size.min(data.train.len());
    let plan = BatchPlan {
        batch_size,
        seed: config.seed,
        start: 0,
        end: batches,
        prefetch: config.data.prefetch,
        cursor: None,
        shard: Default::default(),
        weights: None,
    };
    let started = Instant::now();
    let mut loader = TrainLoader::new(std::sync::Arc::new(data.train), pipeline, plan);
    let mut images = 0;
    while let Some(batch) = loader.next_batch() {
        images += batch.shape[0];
    }
    Ok(DataLoadingResult {
        dataset: config
            .dataset
            .name
            .clone()
            .unwrap_or_else(|| config.dataset.format.clone()),
        batch: batch_size,
        batches,
        images_per_second: images as f64 / started.elapsed().as_secs_f64(),
    })
}
