//! One-shot neural architecture search on a small cell space (issue 20's PA&DA part, in
//! progress): Kendall's tau for ranking consistency. The supernet is
//! [`crate::models::cell_supernet`], trained by the `supernet` recipe.

pub mod kendall;
