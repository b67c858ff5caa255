//! DDPM at the tensor level (Ho et al., 2020): the epsilon-prediction loss, ancestral
//! sampling, and deterministic DDIM sampling (Song et al., 2021, eta = 0) on a subset of the
//! steps. The network predicts the noise `eps(x_t, t)`.

use super::ddpm_schedule::DdpmSchedule;
use burn::prelude::*;

/// Per-example `[B, 1, 1, 1]` factors from host values.
fn per_image(values: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = values.len();
    Tensor::<1>::from_floats(values.as_slice(), device).reshape([n, 1, 1, 1])
}

/// The noised images `x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise` for
/// per-example steps `t`.
pub fn noised(schedule: &DdpmSchedule, x0: Tensor<4>, t: &[usize], noise: Tensor<4>) -> Tensor<4> {
    let device = x0.device();
    let (a, b): (Vec<f32>, Vec<f32>) = t
        .iter()
        .map(|&t| {
            let (a, b) = schedule.noising_scales(t);
            (a as f32, b as f32)
        })
        .unzip();
    x0 * per_image(a, &device) + noise * per_image(b, &device)
}

/// The simple loss of Ho et al.: mean squared error between the predicted and the true noise.
pub fn ddpm_loss(
    schedule: &DdpmSchedule,
    x0: Tensor<4>,
    t: &[usize],
    noise: Tensor<4>,
    network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
) -> Tensor<1> {
    ddpm_losses(schedule, x0, t, noise, network).mean()
}

/// The simple loss of each example `[B]` (mean over its pixels).
pub fn ddpm_losses(
    schedule: &DdpmSchedule,
    x0: Tensor<4>,
    t: &[usize],
    noise: Tensor<4>,
    mut network: impl FnMut(Tensor<4>, Tensor<1>) -> Tensor<4>,
) -> Tensor<1> {
    let device = x0.device();
    let x_t = noised(schedule, x0, t, noise.clone());
    let steps: Vec<f32> = t.iter().map(|&t| t as f32).collect();
    let predicted = network(x_t, Tensor::<1>::from_floats(steps.as_slice(), &device));
    (predicted - noise)
        .square()
        .flatten::<2>(1, 3)
        .mean_dim(1)
        .squeeze_dim(1)
}

/// The clean-image estimate from `x_t` and a noise prediction.
fn predicted_x0(schedule: &DdpmSchedule, x_t: Tensor<4>, eps: Tensor<4>, t: usize) -> Tensor<4> {
    let (a, b) = schedule.noising_scales(t);
    (x_t - eps.mul_scalar(b)).div_scalar(a)
}

/// Ancestral sampling through every step from `T - 1` down to 0, starting from standard-normal
/// `noise`; `fresh_noise()` gives the standard-normal draw of each step (of `noise`'s shape),
/// so the caller decides where randomness comes from.
pub fn ddpm_sample(
    schedule: &DdpmSchedule,
    noise: Tensor<4>,
    mut network: impl FnMut(Tensor<4>, usize) -> Tensor<4>,
    mut fresh_noise: impl FnMut() -> Tensor<4>,
) -> Tensor<4> {
    let mut x = noise;
    for t in (0..schedule.steps()).rev() {
        let eps = network(x.clone(), t);
        let x0 = predicted_x0(schedule, x.clone(), eps, t);
        let (c0, ct, variance) = schedule.posterior(t);
        x = x0.mul_scalar(c0) + x.mul_scalar(ct);
        if variance > 0.0 {
            x = x + fresh_noise().mul_scalar(variance.sqrt());
        }
    }
    x
}

/// Deterministic DDIM sampling on `steps` evenly spaced timesteps (eta = 0).
pub fn ddim_sample(
    schedule: &DdpmSchedule,
    steps: usize,
    noise: Tensor<4>,
    mut network: impl FnMut(Tensor<4>, usize) -> Tensor<4>,
) -> Tensor<4> {
    let total = schedule.steps();
    let steps = steps.clamp(1, total);
    // Timesteps from T - 1 down to 0, evenly spaced.
    let times: Vec<usize> = (0..steps)
        .map(|i| {
            ((total - 1) as f64 * (1.0 - i as f64 / (steps.max(2) - 1) as f64)).round() as usize
        })
        .collect();
    let mut x = noise;
    for (i, &t) in times.iter().enumerate() {
        let eps = network(x.clone(), t);
        let x0 = predicted_x0(schedule, x.clone(), eps.clone(), t);
        x = match times.get(i + 1) {
            Some(&next) => {
                let (a, b) = schedule.noising_scales(next);
                x0.mul_scalar(a) + eps.mul_scalar(b)
            }
            None => x0,
        };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};
    use burn::tensor::{Device, Distribution};

    /// The exact noise prediction when all data is the single image `point`.
    fn oracle(
        schedule: &DdpmSchedule,
        point: Tensor<4>,
    ) -> impl FnMut(Tensor<4>, usize) -> Tensor<4> {
        let s = schedule.clone();
        move |x_t, t| {
            let (a, b) = s.noising_scales(t);
            (x_t - point.clone().mul_scalar(a)).div_scalar(b)
        }
    }

    fn max_abs(t: Tensor<4>) -> f64 {
        t.abs().max().into_scalar::<f64>()
    }

    #[test]
    fn the_true_noise_has_zero_loss_and_noising_matches_the_closed_form() {
        let device = Device::flex();
        device.seed(1);
        let s = DdpmSchedule::linear(100, 1e-4, 0.02).unwrap();
        let x0 = Tensor::<4>::random([2, 1, 3, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let noise = Tensor::<4>::random([2, 1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let loss = ddpm_loss(&s, x0.clone(), &[5, 90], noise.clone(), |_, _| {
            noise.clone()
        });
        assert!(loss.into_scalar::<f64>() < 1e-12);
        let x_t = noised(&s, x0.clone(), &[5, 90], noise.clone());
        let (a, b) = s.noising_scales(90);
        let second = x0.narrow(0, 1, 1).mul_scalar(a) + noise.narrow(0, 1, 1).mul_scalar(b);
        assert!(max_abs(x_t.narrow(0, 1, 1) - second) < 1e-6);
    }

    #[test]
    fn both_samplers_land_on_the_point_an_oracle_predicts() {
        let device = Device::flex();
        device.seed(2);
        let s = DdpmSchedule::cosine(50).unwrap();
        let point = Tensor::<4>::random([1, 1, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let noise = Tensor::<4>::random([1, 1, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        let ddim = ddim_sample(&s, 10, noise.clone(), oracle(&s, point.clone()));
        assert!(max_abs(ddim - point.clone()) < 1e-4);
        let fresh = || Tensor::<4>::random([1, 1, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        let ddpm = ddpm_sample(&s, noise, oracle(&s, point.clone()), fresh);
        assert!(max_abs(ddpm - point) < 1e-4);
    }

    #[test]
    fn ddpm_sampling_is_deterministic_for_a_seed() {
        // stoke's own generator, so tests running in parallel cannot interleave draws.
        let device = Device::flex();
        let s = DdpmSchedule::linear(20, 1e-3, 0.05).unwrap();
        let run = || {
            let mut rng = Rng::new(7, Stream::Recipe, 0, 0);
            let device = device.clone();
            let mut draw = move || {
                let v: Vec<f32> = (0..9).map(|_| rng.normal() as f32).collect();
                Tensor::<1>::from_floats(v.as_slice(), &device).reshape([1, 1, 3, 3])
            };
            let noise = draw();
            let sample = ddpm_sample(&s, noise, |x, _| x.mul_scalar(0.1), &mut draw);
            sample.into_data().iter::<f32>().collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
