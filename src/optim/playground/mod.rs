//! The optimizer playground: stoke's optimizers on small test functions, in f32, through the
//! code path a training uses (`stoke optim trace`, `stoke optim viz`). The problems are
//! defined in docs/optimizer-playground.md.

pub mod problems;
pub mod trace;
pub mod viz;

pub use problems::PROBLEMS;
pub use trace::{Trace, TraceRequest, trace};
