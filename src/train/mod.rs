//! The training engine: one loop for every recipe, with schedules, clipping, metrics,
//! evaluation, checkpoints, resume and interruption.

pub mod adaptive_batch;
pub mod atomic;
pub mod checkpoint;
pub mod ema;
pub mod evaluate;
pub mod interrupt;
pub mod loss;
pub mod metrics;
pub mod progress;
pub mod refine;
pub mod robustness;
pub mod schedule;
pub mod session;

pub use evaluate::Evaluation;
pub use session::{Session, SessionOps, Summary, TrainOptions};
