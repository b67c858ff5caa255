//! Pruning: the iterative magnitude pruning and Sparse Model Soups driver ([`driver`],
//! `stoke train` of a config with `[pruning]`) and the sparsity of a run ([`report`],
//! `stoke sparsity`). The masks themselves are part of the engine
//! ([`crate::train::masks`]: magnitude selection, checkpoints; applied on the model's
//! device after every update), re-exported here.

pub mod driver;
pub mod report;

pub use crate::train::masks;
pub use masks::{Mask, Masks, Selector};
