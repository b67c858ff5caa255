//! What the diffusion recipes share: a [`Formulation`] (`ddpm` or `edm`) says how noise levels
//! are drawn, what the network predicts and how to sample; [`Diffusion`] adds the rest —
//! data in [-1, 1], ScoreAug or conventional augmentation, class and augmentation
//! conditioning, the EMA of the weights, the test denoising loss per noise level and image
//! generation.
//!
//! Augmentation (`recipe.augment`):
//! - `scoreaug` (Hou et al., arXiv 2508.07926): the transform is applied *after* noising, so
//!   the denoiser sees `T(x_0 + sigma n)` and must recover `T(x_0)`. All transforms are
//!   linear, so this equals noising `T(x_0)` with the noise `T(n)`: the recipe transforms the
//!   clean image and the noise and then computes the plain loss. The transform's label
//!   conditions the network (zeros, the identity, at sampling).
//! - `conventional`: the transform is applied to the clean image before noising (ordinary
//!   data augmentation, the baseline the paper compares with); unconditioned by default, so
//!   the model learns the augmented distribution.
//!
//! The test loss is the plain denoising loss (no augmentation) of the EMA network on each
//! test image at one of `eval_levels` fixed noise levels (image `i` at level `i mod L`),
//! with noise fixed per image: the same number at every evaluation of a run and across
//! runs, reported per level as `test_loss_<level>`.

use super::{Batch, DataInfo, EvalSums, StepContext, StepOutput};
use crate::attacks::Normalization;
use crate::config::{RunConfig, typed_section};
use crate::diffusion::denoiser::Denoiser;
use crate::diffusion::generate::{GeneratedImages, SampleRequest, Sampler};
use crate::diffusion::noise::per_image_normals;
use crate::diffusion::scoreaug::{KINDS, Kind, LABEL_DIM, Transform, apply_each, labels};
use crate::ema::{check_decay, warmed_up_decay};
use crate::rng::{Rng, Stream};
use crate::usage_error;
use burn::prelude::*;
use serde::Deserialize;

/// Seed of the test-loss noise: fixed, so runs with different seeds are scored alike.
const EVAL_NOISE_SEED: u64 = 0x5EED_0E7A;

/// A diffusion formulation: the noise levels, the loss and the samplers.
pub trait Formulation: Sized {
    /// The `[recipe]` keys the formulation reads.
    const KEYS: &'static [&'static str];

    /// Builds the formulation from its keys of `[recipe]`.
    fn from_options(options: &toml::Table) -> anyhow::Result<Self>;

    /// The noise level of each of `n` training examples.
    fn draw_levels(&self, rng: &mut Rng, n: usize) -> Vec<f64>;

    /// `count` fixed levels for the test loss, with the names they are reported under.
    fn eval_levels(&self, count: usize) -> Vec<(String, f64)>;

    /// The loss of each example `[B]` for clean images `y` in [-1, 1], standard-normal
    /// `noise` and per-example `levels`; `network(input, noise_input)` runs the UNet.
    fn losses(
        &self,
        y: Tensor<4>,
        noise: Tensor<4>,
        levels: &[f64],
        network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
    ) -> Tensor<1>;

    fn default_sampler(&self) -> Sampler;

    /// The steps a sampler runs (`steps` or its default) and the network evaluations that
    /// takes; an error for a sampler this formulation has not.
    fn plan(&self, sampler: Sampler, steps: Option<usize>) -> anyhow::Result<(usize, usize)>;

    /// Images in [-1, 1] from standard-normal `noise`; `fresh_noise(k)` is the k-th further
    /// standard-normal draw (stochastic samplers).
    fn sample(
        &self,
        sampler: Sampler,
        steps: usize,
        noise: Tensor<4>,
        network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
        fresh_noise: impl FnMut(u64) -> Tensor<4>,
    ) -> Tensor<4>;
}

/// Per-example noise levels (timesteps or sigmas) as a tensor `[B]`.
pub fn levels_tensor(levels: &[f64], device: &Device) -> Tensor<1> {
    let values: Vec<f32> = levels.iter().map(|&l| l as f32).collect();
    Tensor::<1>::from_floats(values.as_slice(), device)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augmentation {
    #[default]
    None,
    ScoreAug,
    Conventional,
}

/// The clean images and noise the plain loss is computed on, so that the network input is
/// `y' + sigma noise'` and its target `y'`: for ScoreAug `y' = T(y)`, `noise' = T(noise)`
/// (the input is `T(y + sigma noise)`, by linearity); for conventional augmentation
/// `y' = T(y)` with the noise untouched.
pub fn augment_pair(
    mode: Augmentation,
    y: Tensor<4>,
    noise: Tensor<4>,
    transforms: &[Transform],
) -> (Tensor<4>, Tensor<4>) {
    match mode {
        Augmentation::None => (y, noise),
        Augmentation::ScoreAug => (apply_each(y, transforms), apply_each(noise, transforms)),
        Augmentation::Conventional => (apply_each(y, transforms), noise),
    }
}

/// The `[recipe]` keys every formulation shares.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    #[serde(default)]
    augment: Augmentation,
    /// Probability that an example is transformed (otherwise the identity).
    #[serde(default = "half")]
    aug_probability: f64,
    /// The transforms drawn from, uniformly.
    #[serde(default = "all_kinds")]
    transforms: Vec<Kind>,
    /// Whether the transform's label conditions the network (default: yes for scoreaug, no
    /// for conventional).
    #[serde(default)]
    condition_on_augmentation: Option<bool>,
    /// Whether the class label conditions the network (class-conditional sampling).
    #[serde(default)]
    class_conditional: bool,
    /// Decay of the weights' moving average (warmed up as `min(decay, (1+n)/(10+n))`).
    #[serde(default = "ema_decay")]
    ema_decay: f64,
    /// Noise levels of the test loss.
    #[serde(default = "eight")]
    eval_levels: usize,
}

const COMMON_KEYS: &[&str] = &[
    "augment",
    "aug_probability",
    "transforms",
    "condition_on_augmentation",
    "class_conditional",
    "ema_decay",
    "eval_levels",
];

fn half() -> f64 {
    0.5
}

fn all_kinds() -> Vec<Kind> {
    KINDS.to_vec()
}

fn ema_decay() -> f64 {
    0.999
}

fn eight() -> usize {
    8
}

/// A diffusion recipe: `ddpm` or `edm` by its formulation.
pub struct Diffusion<F: Formulation> {
    formulation: F,
    common: Common,
    norm: Normalization,
    levels: Vec<(String, f64)>,
}

impl<F: Formulation> Diffusion<F> {
    /// Parses `[recipe]`, telling the shared keys from the formulation's.
    pub fn new(config: &RunConfig) -> anyhow::Result<Self> {
        let (mut shared, mut own) = (toml::Table::new(), toml::Table::new());
        for (key, value) in &config.recipe.options {
            if COMMON_KEYS.contains(&key.as_str()) {
                shared.insert(key.clone(), value.clone());
            } else if F::KEYS.contains(&key.as_str()) {
                own.insert(key.clone(), value.clone());
            } else {
                let known: Vec<&str> = COMMON_KEYS.iter().chain(F::KEYS).copied().collect();
                return Err(usage_error!(
                    "key `recipe.{key}`: not an option of recipe `{}`; known: {}",
                    config.recipe.name,
                    known.join(", ")
                ));
            }
        }
        let common: Common = typed_section(&shared, "recipe")?;
        if !(0.0..=1.0).contains(&common.aug_probability) {
            return Err(usage_error!(
                "key `recipe.aug_probability`: expected a probability in [0, 1], got {}",
                common.aug_probability
            ));
        }
        if common.augment != Augmentation::None && common.transforms.is_empty() {
            return Err(usage_error!(
                "key `recipe.transforms`: augmentation needs at least one of brightness, translate, cutout, rot90"
            ));
        }
        if common.augment == Augmentation::None && common.condition_on_augmentation == Some(true) {
            return Err(usage_error!(
                "key `recipe.condition_on_augmentation`: there is no augmentation to condition on (recipe.augment = \"none\")"
            ));
        }
        check_decay("recipe.ema_decay", common.ema_decay)?;
        if common.eval_levels == 0 {
            return Err(usage_error!(
                "key `recipe.eval_levels`: expected a positive number"
            ));
        }
        let formulation = F::from_options(&own)?;
        Ok(Self {
            levels: formulation.eval_levels(common.eval_levels),
            formulation,
            common,
            norm: super::adversarial::normalization(config),
        })
    }

    /// Whether augmentation labels condition the network.
    fn augmentation_conditioned(&self) -> bool {
        match self.common.augment {
            Augmentation::None => false,
            Augmentation::ScoreAug => self.common.condition_on_augmentation.unwrap_or(true),
            Augmentation::Conventional => self.common.condition_on_augmentation.unwrap_or(false),
        }
    }

    /// Normalised model inputs back to images in [-1, 1].
    fn to_signed(&self, images: Tensor<4>) -> Tensor<4> {
        self.norm.to_pixels(images).mul_scalar(2.0).sub_scalar(1.0)
    }

    fn draw_transforms(&self, rng: &mut Rng, n: usize, h: usize, w: usize) -> Vec<Transform> {
        (0..n)
            .map(|_| {
                Transform::sample(
                    rng,
                    self.common.aug_probability,
                    &self.common.transforms,
                    h,
                    w,
                )
            })
            .collect()
    }

    fn generate_images(
        &self,
        model: &Denoiser,
        request: &SampleRequest,
    ) -> anyhow::Result<GeneratedImages> {
        let net = model.network(request.use_ema);
        let classes = match (net.num_classes(), request.class) {
            (Some(k), Some(class)) if class >= k => {
                return Err(usage_error!(
                    "--class {class}: the model has classes 0..{}",
                    k - 1
                ));
            }
            (Some(_), Some(class)) => Some(vec![class; request.n]),
            // Classes in turn, so a grid shows every class.
            (Some(k), None) => Some((0..request.n).map(|i| i % k).collect()),
            (None, Some(_)) => {
                return Err(usage_error!(
                    "--class: the model is not class-conditional (recipe.class_conditional = false)"
                ));
            }
            (None, None) => None,
        };
        if request.n == 0 || request.batch_size == 0 {
            return Err(usage_error!(
                "--n and --batch-size: expected positive numbers"
            ));
        }
        let sampler = request
            .sampler
            .unwrap_or_else(|| self.formulation.default_sampler());
        let (steps, evaluations) = self.formulation.plan(sampler, request.steps)?;
        let device = net.devices()[0].clone();
        let (c, side) = (net.channels(), net.resolution());
        let batches = request.n.div_ceil(request.batch_size);
        let total = (evaluations * batches) as u64;
        let done = std::cell::Cell::new(0u64);
        let tick = || {
            done.set(done.get() + 1);
            if let Some(progress) = &request.progress {
                (progress.0)(done.get(), total);
            }
        };
        let mut pixels = Vec::with_capacity(request.n * c * side * side);
        for start in (0..request.n).step_by(request.batch_size) {
            let count = request.batch_size.min(request.n - start);
            let draw =
                |k: u64| per_image_normals(request.seed, start, count, k, [c, side, side], &device);
            let class_tensor = classes.as_ref().map(|all| {
                let ids: Vec<i64> = all[start..start + count]
                    .iter()
                    .map(|&k| k as i64)
                    .collect();
                Tensor::<1, Int>::from_ints(ids.as_slice(), &device)
            });
            let augmentation = net
                .takes_augmentation()
                .then(|| Tensor::<2>::zeros([count, LABEL_DIM], &device));
            let images = self.formulation.sample(
                sampler,
                steps,
                draw(0),
                |x, noise_input| {
                    tick();
                    net.forward(x, noise_input, class_tensor.clone(), augmentation.clone())
                },
                |k| draw(k + 1),
            );
            let unit = images.add_scalar(1.0).div_scalar(2.0).clamp(0.0, 1.0);
            pixels.extend(unit.into_data().iter::<f32>());
        }
        Ok(GeneratedImages {
            pixels,
            shape: [request.n, c, side, side],
            classes,
            sampler,
            steps,
        })
    }
}

impl<F: Formulation + 'static> super::Recipe for Diffusion<F> {
    type Model = Denoiser;

    fn from_config(config: &RunConfig) -> anyhow::Result<Self> {
        Self::new(config)
    }

    fn build_model(
        &self,
        config: &RunConfig,
        data: &DataInfo,
        device: &Device,
    ) -> anyhow::Result<Denoiser> {
        let unet = config.model.unet_config(
            [data.channels, data.height, data.width],
            self.common.class_conditional.then_some(data.num_classes),
            self.augmentation_conditioned().then_some(LABEL_DIM),
        )?;
        Denoiser::new(&unet, device)
    }

    fn train_loss(&mut self, model: &Denoiser, batch: &Batch, ctx: &StepContext) -> StepOutput {
        let y = self.to_signed(batch.images.clone());
        let [b, c, h, w] = y.dims();
        // Keyed by the batch's first position: micro-batches (train.accumulate) and
        // data-parallel shards draw their own levels; one whole batch draws as before.
        let mut rng = Rng::new(ctx.seed, Stream::Recipe, ctx.step as u64, ctx.first as u64);
        let transforms = match self.common.augment {
            Augmentation::None => vec![Transform::Identity; b],
            _ => self.draw_transforms(&mut rng, b, h, w),
        };
        let levels = self.formulation.draw_levels(&mut rng, b);
        // The engine seeds the device generator per step: the noise repeats on resume.
        let noise = Tensor::<4>::random(
            [b, c, h, w],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &ctx.device,
        );
        let (y, noise) = augment_pair(self.common.augment, y, noise, &transforms);
        let augmentation = self
            .augmentation_conditioned()
            .then(|| labels(&transforms, h, w, &ctx.device));
        let classes = self.common.class_conditional.then(|| batch.labels.clone());
        let loss = self
            .formulation
            .losses(y, noise, &levels, |x, noise_input| {
                model
                    .net
                    .forward(x, noise_input, classes.clone(), augmentation.clone())
            })
            .mean();
        let transformed = transforms
            .iter()
            .filter(|t| **t != Transform::Identity)
            .count();
        StepOutput {
            loss,
            correct: None,
            metrics: vec![("augmented_fraction", transformed as f64 / b as f64)],
        }
    }

    fn eval_batch(&self, model: &Denoiser, batch: &Batch, first: usize) -> EvalSums {
        let y = self.to_signed(batch.images.clone());
        let [b, c, h, w] = y.dims();
        let device = y.device();
        let level_of = |i: usize| (first + i) % self.levels.len();
        let levels: Vec<f64> = (0..b).map(|i| self.levels[level_of(i)].1).collect();
        let noise = per_image_normals(EVAL_NOISE_SEED, first, b, 0, [c, h, w], &device);
        let classes = self.common.class_conditional.then(|| batch.labels.clone());
        let augmentation = self
            .augmentation_conditioned()
            .then(|| Tensor::<2>::zeros([b, LABEL_DIM], &device));
        let net = model.network(true);
        let losses: Vec<f64> = self
            .formulation
            .losses(y, noise, &levels, |x, noise_input| {
                net.forward(x, noise_input, classes.clone(), augmentation.clone())
            })
            .into_data()
            .iter::<f64>()
            .collect();
        let mut parts: Vec<(String, f64, usize)> = self
            .levels
            .iter()
            .map(|(name, _)| (name.clone(), 0.0, 0))
            .collect();
        for (i, loss) in losses.iter().enumerate() {
            let part = &mut parts[level_of(i)];
            part.1 += loss;
            part.2 += 1;
        }
        parts.retain(|p| p.2 > 0);
        EvalSums {
            loss_sum: losses.iter().sum(),
            correct: None,
            count: b,
            parts,
        }
    }

    fn after_step(&mut self, model: Denoiser, step: usize) -> Denoiser {
        model.fold_into_average(warmed_up_decay(self.common.ema_decay, step))
    }

    fn generate(
        &self,
        model: &Denoiser,
        request: &SampleRequest,
    ) -> Option<anyhow::Result<GeneratedImages>> {
        Some(self.generate_images(model, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_gap(a: Tensor<4>, b: Tensor<4>) -> f64 {
        (a - b).abs().max().into_scalar::<f64>()
    }

    #[test]
    fn scoreaug_inputs_are_transformed_noisy_images_with_transformed_clean_targets() {
        let device = Device::flex();
        device.seed(11);
        let y = Tensor::<4>::random([4, 1, 6, 6], Distribution::Uniform(-1.0, 1.0), &device);
        let noise = Tensor::<4>::random([4, 1, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let transforms = [
            Transform::Brightness(0.7),
            Transform::Translate { dx: -2, dy: 1 },
            Transform::Cutout {
                top: 1,
                left: 1,
                size: 3,
            },
            Transform::Rot90 { quarters: 3 },
        ];
        let sigma = 1.7;
        let (target, n) = augment_pair(
            Augmentation::ScoreAug,
            y.clone(),
            noise.clone(),
            &transforms,
        );
        // The network sees T(y + sigma n) and must output T(y).
        let noisy = y.clone() + noise.clone().mul_scalar(sigma);
        let expected_input = apply_each(noisy.clone(), &transforms);
        assert!(max_gap(target.clone() + n.mul_scalar(sigma), expected_input) < 1e-5);
        assert!(max_gap(target, apply_each(y.clone(), &transforms)) < 1e-6);
        // Conventional augmentation: T(y) noised with untransformed noise.
        let (target, n) = augment_pair(
            Augmentation::Conventional,
            y.clone(),
            noise.clone(),
            &transforms,
        );
        assert!(max_gap(n, noise.clone()) == 0.0);
        assert!(max_gap(target, apply_each(y.clone(), &transforms)) < 1e-6);
        let (same_y, same_n) =
            augment_pair(Augmentation::None, y.clone(), noise.clone(), &transforms);
        assert!(max_gap(same_y, y) == 0.0 && max_gap(same_n, noise) == 0.0);
    }
}
