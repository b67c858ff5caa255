//! The training engine: a [`Trainer`] per run (one loop for every recipe, with schedules,
//! clipping, evaluation and resume), observers for what happens around it (metrics file,
//! checkpoints, progress), and [`Weights`] for drivers that move weights between Trainers.

pub mod accumulate;
pub mod adaptive_batch;
pub mod broadcast;
pub mod cancel;
pub mod checkpoint;
pub mod config_change;
pub mod devices;
mod engine;
pub mod evaluate;
pub mod extension;
pub mod import;
pub mod masks;
mod masks_on_device;
pub mod metrics;
pub mod observer;
pub mod precision;
pub mod predict;
pub mod recipes;
pub mod recorder;
pub mod refine;
pub mod robustness;
pub mod run_dir;
pub mod schedule;
pub mod session;
pub mod tensorboard;
pub mod trainer;
pub mod validate;
pub mod weights;

pub use cancel::CancelToken;
pub use engine::{NonFinite, Setup};
pub use evaluate::Evaluation;
pub use observer::{Event, Observer, StepReport};
pub use predict::Predictions;
pub use session::{Interrupted, RunComplete, Summary, TrainOptions, train};
pub use trainer::Trainer;
pub use weights::{TensorKind, WeightTensor, Weights};
