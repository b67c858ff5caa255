//! Pruning: magnitude masks that keep a model sparse through training ([`masks`], applied by
//! the engine on the model's device: [`device`]), the iterative magnitude pruning and Sparse
//! Model Soups driver ([`driver`], `stoke train` of a config with `[pruning]`), and the
//! sparsity of a run ([`report`], `stoke sparsity`).

pub(crate) mod device;
pub mod driver;
pub mod masks;
pub mod report;

pub use masks::{Mask, Masks, Selector};
