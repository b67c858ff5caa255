//! Diffusion models (issue 6): noise schedules and parameterisations shared by the `ddpm` and
//! `edm` recipes and the samplers. Host-side arithmetic in f64; tensors only where a batch is
//! noised or denoised.

pub mod ddpm;
pub mod ddpm_schedule;
pub mod denoiser;
pub mod edm;
pub mod edm_denoiser;
pub mod generate;
pub mod grid;
pub mod noise;
pub mod scoreaug;
