//! stoke: a deep-learning training framework on Burn. Recipes define objectives, the engine
//! optimises; models, recipes, optimizers and datasets each have a registry.

pub mod aggregate;
pub mod atomic;
pub mod attacks;
pub mod batch;
pub mod bench;
pub mod byzantine;
pub mod cli;
pub mod config;
pub mod data_diet;
pub mod datasets;
pub mod detection;
pub mod device;
pub mod diffusion;
pub mod distributed;
pub mod ema;
pub mod error;
pub mod export;
pub mod fault;
pub mod federated;
pub mod gossip;
pub mod kernels;
pub mod loss;
pub mod memory;
pub mod models;
pub mod nas;
pub mod optim;
pub mod options;
pub mod plot;
pub mod prune;
pub mod quality;
pub mod quantile;
pub mod ranking;
pub mod recipes;
pub mod registry;
pub mod rng;
pub mod solve;
pub mod soup;
pub mod tensorboard;
pub mod train;

pub use train::{CancelToken, Trainer, Weights};
