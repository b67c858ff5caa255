//! Sample quality: Fréchet distances between feature statistics of two image sets (FID with the
//! FID Inception network of pytorch-fid, or any other [`features::FeatureExtractor`]).
//!
//! - [`features`]: the extractor interface and batched collection of host feature rows;
//! - [`fid`]: Gaussian statistics of feature rows and the Fréchet distance between two (f64);
//! - [`inception`]: pytorch-fid's Inception-v3 (`pt_inception-2015-12-05`) from safetensors;
//! - [`classifier`]: the penultimate features of a stoke classifier run ("FID-classifier");
//! - [`images`]: dataset splits and generated images as tensors of values in [0, 1].

pub mod classifier;
pub mod features;
pub mod fid;
pub mod images;
pub mod inception;
pub mod run_fid;
