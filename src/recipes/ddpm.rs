//! `ddpm`: epsilon-prediction diffusion (Ho et al., 2020) with a linear or cosine beta
//! schedule; timesteps uniform in training; DDPM ancestral or DDIM sampling. Everything else
//! (augmentation, EMA, test loss, sampling) is [`super::denoising`].

use super::denoising::{Diffusion, Formulation, levels_tensor};
use crate::config::typed_section;
use crate::diffusion::ddpm::{ddim_sample, ddpm_losses, ddpm_sample};
use crate::diffusion::ddpm_schedule::DdpmSchedule;
use crate::diffusion::generate::Sampler;
use crate::rng::Rng;
use crate::usage_error;
use burn::prelude::*;
use serde::Deserialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BetaSchedule {
    #[default]
    Linear,
    Cosine,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DdpmOptions {
    #[serde(default)]
    schedule: BetaSchedule,
    #[serde(default = "thousand")]
    timesteps: usize,
    /// Linear schedule's first and last beta (Ho et al.'s values for T = 1000).
    #[serde(default = "beta_start")]
    beta_start: f64,
    #[serde(default = "beta_end")]
    beta_end: f64,
}

fn thousand() -> usize {
    1000
}

fn beta_start() -> f64 {
    1e-4
}

fn beta_end() -> f64 {
    0.02
}

/// DDIM steps when `--steps` is not given.
const DEFAULT_DDIM_STEPS: usize = 50;

pub struct Ddpm {
    schedule: DdpmSchedule,
}

/// The `ddpm` recipe.
pub type DdpmRecipe = Diffusion<Ddpm>;

impl Formulation for Ddpm {
    const KEYS: &'static [&'static str] = &["schedule", "timesteps", "beta_start", "beta_end"];

    fn from_options(options: &toml::Table) -> anyhow::Result<Self> {
        let o: DdpmOptions = typed_section(options, "recipe")?;
        let schedule = match o.schedule {
            BetaSchedule::Linear => DdpmSchedule::linear(o.timesteps, o.beta_start, o.beta_end),
            BetaSchedule::Cosine => DdpmSchedule::cosine(o.timesteps),
        }
        .map_err(|e| usage_error!("keys `recipe.schedule`/`recipe.timesteps`: {e}"))?;
        Ok(Self { schedule })
    }

    fn draw_levels(&self, rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| rng.below(self.schedule.steps() as u64) as f64)
            .collect()
    }

    fn eval_levels(&self, count: usize) -> Vec<(String, f64)> {
        // Midpoints of `count` equal strata of the uniform timestep distribution.
        let steps = self.schedule.steps();
        (0..count)
            .map(|i| {
                let t = (((i as f64 + 0.5) * steps as f64 / count as f64) as usize).min(steps - 1);
                (format!("t{t:04}"), t as f64)
            })
            .collect()
    }

    fn losses(
        &self,
        y: Tensor<4>,
        noise: Tensor<4>,
        levels: &[f64],
        network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
    ) -> Tensor<1> {
        let t: Vec<usize> = levels.iter().map(|&t| t as usize).collect();
        ddpm_losses(&self.schedule, y, &t, noise, network)
    }

    fn default_sampler(&self) -> Sampler {
        Sampler::Ddpm
    }

    fn plan(&self, sampler: Sampler, steps: Option<usize>) -> anyhow::Result<(usize, usize)> {
        let total = self.schedule.steps();
        match sampler {
            Sampler::Ddpm => match steps {
                Some(s) if s != total => Err(usage_error!(
                    "--steps {s}: DDPM ancestral sampling runs all {total} timesteps; use --sampler ddim for fewer"
                )),
                _ => Ok((total, total)),
            },
            Sampler::Ddim => {
                let s = steps.unwrap_or(DEFAULT_DDIM_STEPS.min(total));
                if s == 0 || s > total {
                    return Err(usage_error!("--steps {s}: DDIM takes 1..={total} steps"));
                }
                Ok((s, s))
            }
            Sampler::Heun => Err(usage_error!(
                "--sampler heun: a ddpm model samples with ddpm or ddim"
            )),
        }
    }

    fn sample(
        &self,
        sampler: Sampler,
        steps: usize,
        noise: Tensor<4>,
        mut network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
        mut fresh_noise: impl FnMut(u64) -> Tensor<4>,
    ) -> Tensor<4> {
        let [batch, ..] = noise.dims();
        let device = noise.device();
        let mut at_step =
            |x: Tensor<4>, t: usize| network(x, levels_tensor(&vec![t as f64; batch], &device));
        match sampler {
            Sampler::Ddim => ddim_sample(&self.schedule, steps, noise, at_step),
            _ => {
                let mut draws = 0;
                ddpm_sample(&self.schedule, noise, &mut at_step, || {
                    draws += 1;
                    fresh_noise(draws - 1)
                })
            }
        }
    }
}
