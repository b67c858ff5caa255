//! `edm`: the preconditioned denoiser of Karras et al. (2022): `c_skip`/`c_out`/`c_in`/
//! `c_noise`, log-normal training levels, the loss weight `lambda(sigma)`, Heun sampling.
//! Everything else (augmentation, EMA, test loss, sampling) is [`super::denoising`].

use super::denoising::{Diffusion, Formulation, levels_tensor};
use crate::config::typed_section;
use crate::diffusion::edm::Edm;
use crate::diffusion::edm_denoiser::{denoise, edm_losses, heun_sample};
use crate::diffusion::generate::Sampler;
use crate::rng::Rng;
use crate::usage_error;
use burn::prelude::*;
use serde::Deserialize;

/// The paper's defaults (Table 1), overridable per key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdmOptions {
    #[serde(default)]
    sigma_data: Option<f64>,
    #[serde(default)]
    p_mean: Option<f64>,
    #[serde(default)]
    p_std: Option<f64>,
    #[serde(default)]
    sigma_min: Option<f64>,
    #[serde(default)]
    sigma_max: Option<f64>,
    #[serde(default)]
    rho: Option<f64>,
}

/// Heun steps when `--steps` is not given (the paper's CIFAR-10 setting: 35 evaluations).
const DEFAULT_HEUN_STEPS: usize = 18;

pub struct EdmFormulation {
    edm: Edm,
}

/// The `edm` recipe.
pub type EdmRecipe = Diffusion<EdmFormulation>;

impl Formulation for EdmFormulation {
    const KEYS: &'static [&'static str] = &[
        "sigma_data",
        "p_mean",
        "p_std",
        "sigma_min",
        "sigma_max",
        "rho",
    ];

    fn from_options(options: &toml::Table) -> anyhow::Result<Self> {
        let o: EdmOptions = typed_section(options, "recipe")?;
        let d = Edm::default();
        let edm = Edm {
            sigma_data: o.sigma_data.unwrap_or(d.sigma_data),
            p_mean: o.p_mean.unwrap_or(d.p_mean),
            p_std: o.p_std.unwrap_or(d.p_std),
            sigma_min: o.sigma_min.unwrap_or(d.sigma_min),
            sigma_max: o.sigma_max.unwrap_or(d.sigma_max),
            rho: o.rho.unwrap_or(d.rho),
        };
        for (key, value) in [
            ("sigma_data", edm.sigma_data),
            ("p_std", edm.p_std),
            ("sigma_min", edm.sigma_min),
            ("rho", edm.rho),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(usage_error!(
                    "key `recipe.{key}`: expected a positive number, got {value}"
                ));
            }
        }
        if edm.sigma_max <= edm.sigma_min || !edm.sigma_max.is_finite() || !edm.p_mean.is_finite() {
            return Err(usage_error!(
                "keys `recipe.sigma_max`/`recipe.p_mean`: expected sigma_max > sigma_min and a finite p_mean"
            ));
        }
        Ok(Self { edm })
    }

    fn draw_levels(&self, rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| self.edm.training_sigma(rng.normal()))
            .collect()
    }

    fn eval_levels(&self, count: usize) -> Vec<(String, f64)> {
        self.edm
            .stratified_sigmas(count)
            .into_iter()
            .map(|s| (format!("sigma{s:.3}"), s))
            .collect()
    }

    fn losses(
        &self,
        y: Tensor<4>,
        noise: Tensor<4>,
        levels: &[f64],
        network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
    ) -> Tensor<1> {
        let sigma = levels_tensor(levels, &y.device());
        edm_losses(&self.edm, y, sigma, noise, network)
    }

    fn default_sampler(&self) -> Sampler {
        Sampler::Heun
    }

    fn plan(&self, sampler: Sampler, steps: Option<usize>) -> anyhow::Result<(usize, usize)> {
        if sampler != Sampler::Heun {
            return Err(usage_error!(
                "--sampler {}: an edm model samples with heun",
                serde_json::to_value(sampler)?.as_str().unwrap_or("?")
            ));
        }
        let steps = steps.unwrap_or(DEFAULT_HEUN_STEPS);
        if steps == 0 {
            return Err(usage_error!("--steps: expected a positive number"));
        }
        // Two evaluations per step except the last (Euler to sigma = 0).
        Ok((steps, 2 * steps - 1))
    }

    fn sample(
        &self,
        _sampler: Sampler,
        steps: usize,
        noise: Tensor<4>,
        mut network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
        _fresh_noise: impl FnMut(u64) -> Tensor<4>,
    ) -> Tensor<4> {
        let [batch, ..] = noise.dims();
        let device = noise.device();
        let sigmas = self.edm.sampling_sigmas(steps);
        heun_sample(&sigmas, noise, |x, sigma| {
            denoise(
                &self.edm,
                x,
                levels_tensor(&vec![sigma; batch], &device),
                &mut network,
            )
        })
    }
}
