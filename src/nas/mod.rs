//! One-shot neural architecture search on a small cell space (PA&DA, Lu et al. 2023): the
//! supernet is [`crate::models::cell_supernet`], trained by the `supernet` recipe (uniform or
//! importance sampling of paths and data: [`crate::recipes::pada`]); [`rank`] scores every
//! architecture with inherited weights against stand-alone training, by Kendall's tau-b.

pub mod kendall;
pub mod rank;
