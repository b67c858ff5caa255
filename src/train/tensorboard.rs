//! `train.tensorboard = true`: an observer that writes RUN/tensorboard/ event files
//! ([`crate::tensorboard`]): every numeric field of each step's, logging window's and
//! evaluation's line of metrics.jsonl as a scalar (tags `step/...`, `train/...`, `eval/...`)
//! and, for recipes that generate images, a grid of `train.tensorboard_samples` samples at
//! each evaluation (tag `samples`). Unlike metrics.jsonl an event file cannot drop lines: a
//! resumed run writes a new file whose first steps repeat those after its checkpoint.

use super::observer::{Event, Observer, TrainerAccess};
use crate::diffusion::generate::SampleRequest;
use crate::diffusion::grid::grid_png;
use crate::tensorboard::{EventWriter, Value};
use serde_json::Value as Json;
use std::path::Path;

pub struct TensorBoardObserver {
    writer: EventWriter,
    samples: usize,
    seed: u64,
}

impl TensorBoardObserver {
    /// Writes into `dir` (created if needed); `samples` images per evaluation for recipes
    /// that generate (0: none), drawn from `seed`.
    pub fn new(dir: &Path, samples: usize, seed: u64) -> anyhow::Result<Self> {
        Ok(Self {
            writer: EventWriter::create(dir)?,
            samples,
            seed,
        })
    }

    fn scalars(&mut self, prefix: &str, line: &Json) -> anyhow::Result<()> {
        let Some(fields) = line.as_object() else {
            return Ok(());
        };
        let step = fields.get("step").and_then(Json::as_i64).unwrap_or(0);
        let values: Vec<Value> = fields
            .iter()
            .filter(|(name, _)| name.as_str() != "step")
            .filter_map(|(name, value)| {
                Some(Value::Scalar {
                    tag: format!("{prefix}/{name}"),
                    value: value.as_f64()? as f32,
                })
            })
            .collect();
        if values.is_empty() {
            return Ok(());
        }
        self.writer.write(step, now(), &values)
    }

    /// A grid of samples from the current weights, for recipes that generate.
    fn samples(&mut self, step: usize, trainer: &dyn TrainerAccess) -> anyhow::Result<()> {
        if self.samples == 0 {
            return Ok(());
        }
        let request = SampleRequest {
            n: self.samples,
            steps: None,
            sampler: None,
            class: None,
            seed: self.seed,
            use_ema: true,
            batch_size: self.samples,
            progress: None,
        };
        let Some(images) = trainer.generate_images(&request) else {
            return Ok(());
        };
        let images = images?;
        let png = grid_png(&images, None, 1)?;
        // The grid's size is in the PNG's header (IHDR: width, then height, big-endian).
        let read = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
        let image = Value::Image {
            tag: "samples".into(),
            width: read(16),
            height: read(20),
            channels: images.shape[1] as u32,
            png,
        };
        self.writer.write(step as i64, now(), &[image])
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Observer for TensorBoardObserver {
    fn on_event(
        &mut self,
        event: &Event<'_>,
        trainer: &mut dyn TrainerAccess,
    ) -> anyhow::Result<()> {
        match event {
            Event::Step(report) => self.scalars("step", &report.to_json()),
            Event::Log(log) => {
                self.scalars("train", &log.to_json())?;
                self.writer.flush()
            }
            Event::Evaluation(eval) => {
                self.scalars("eval", &eval.record)?;
                self.samples(eval.step, trainer)?;
                self.writer.flush()
            }
            Event::StepEnd { .. }
            | Event::Interrupted { .. }
            | Event::NonFinite { .. }
            | Event::Finished(_) => self.writer.flush(),
            _ => Ok(()),
        }
    }
}
