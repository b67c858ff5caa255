//! What a user asks of a trained generative model (`stoke sample`, `stoke fid`) and what comes
//! back, independent of the recipe that trained it.

use crate::usage_error;
use serde::Serialize;

/// The sampler: DDPM ancestral sampling, deterministic DDIM (both for `ddpm` models), or
/// Heun's second-order ODE solver (`edm` models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    Ddpm,
    Ddim,
    Heun,
}

impl std::str::FromStr for Sampler {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        match name {
            "ddpm" => Ok(Sampler::Ddpm),
            "ddim" => Ok(Sampler::Ddim),
            "heun" => Ok(Sampler::Heun),
            other => Err(usage_error!(
                "--sampler {other}: expected ddpm, ddim or heun"
            )),
        }
    }
}

/// Told `(network evaluations done, total)` as sampling proceeds (a progress display).
#[derive(Clone)]
pub struct ProgressFn(pub std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn")
    }
}

#[derive(Clone, Debug)]
pub struct SampleRequest {
    /// Images to generate.
    pub n: usize,
    /// Sampler steps (None: the sampler's default).
    pub steps: Option<usize>,
    /// None: the recipe's default sampler.
    pub sampler: Option<Sampler>,
    /// The class of every image of a class-conditional model (None: classes in turn).
    pub class: Option<usize>,
    /// Seed of the starting noise and of stochastic samplers.
    pub seed: u64,
    /// Sample with the moving average of the weights (the default) or the raw weights.
    pub use_ema: bool,
    /// Images generated at once.
    pub batch_size: usize,
    /// Called after each network evaluation (None: nobody is told).
    pub progress: Option<ProgressFn>,
}

/// Generated images on the host.
#[derive(Clone, Debug)]
pub struct GeneratedImages {
    /// `[n, channels, height, width]` values in [0, 1] (clamped).
    pub pixels: Vec<f32>,
    pub shape: [usize; 4],
    /// The class of each image for class-conditional models.
    pub classes: Option<Vec<usize>>,
    pub sampler: Sampler,
    pub steps: usize,
}
