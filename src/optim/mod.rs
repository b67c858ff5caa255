//! Optimizers: Burn's built-ins configured PyTorch-style, and (later) stoke's own.

pub mod builtin;
pub mod grad_norm;
pub mod registry;

pub use registry::{OPTIMIZERS, build};
