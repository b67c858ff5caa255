//! Quantile regression on tabular data and the aggregation of quantile models (Fakoor, Kim,
//! Mueller, Smola, Tibshirani, "Flexible Model Aggregation for Quantile Regression", JMLR
//! 2023; `amazon-science/quantile-aggregation`).
//!
//! The training loops are this module's own, not the `Trainer`'s: the engine's batches are
//! images with integer labels and its recipes classification losses, while these models read
//! rows of floats, predict many levels of a float target and are small enough that a plain
//! minibatch loop with early stopping is all they need.

pub mod aggregator;
pub mod base_models;
pub mod conformal;
pub mod experiment;
pub mod fit;
pub mod losses;
pub mod network;
pub mod noncrossing;
pub mod scores;
pub mod standardizer;
pub mod summary;
pub mod table;
