//! `stoke bench optimizers`: the optimizer step alone on a model's parameter set (fixed random
//! gradients) for each optimizer, against Burn's Adam in the same process; and AdaHessian's
//! whole training step (forward, backward, finite-difference Hessian-vector product, update)
//! against an Adam training step.

use super::model_spec;
use crate::config::OptimizerConfig;
use crate::loss::cross_entropy;
use crate::optim::hutchinson::stack_with_diagonal;
use crate::rng::{Rng, Stream};
use crate::usage_error;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct OptimizerBench {
    pub model: String,
    pub optimizers: Vec<String>,
    pub steps: usize,
    pub warmup: usize,
    /// `[channels, height, width]`
    pub input: [usize; 3],
    pub classes: usize,
    /// Batch of the whole-step comparison (0 skips it).
    pub whole_step_batch: usize,
    pub device: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct OptimizerStep {
    pub optimizer: String,
    pub median_ms: f64,
    /// Median step time over Burn's Adam's.
    pub ratio_to_adam: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WholeStep {
    pub batch: usize,
    pub adam_median_s: f64,
    pub adahessian_median_s: f64,
    pub ratio: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OptimizerBenchResult {
    pub model: String,
    pub device: String,
    pub parameters: usize,
    pub optimizer_steps: Vec<OptimizerStep>,
    pub whole_step: Option<WholeStep>,
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn config(name: &str) -> OptimizerConfig {
    OptimizerConfig {
        name: name.into(),
        lr: 1e-3,
        grad_clip_norm: None,
        lr_scaling: None,
        reference_batch_size: None,
        options: Default::default(),
    }
}

/// Fixed random gradients (and, stacked, Hessian diagonals) for every parameter.
struct RandomGrads {
    grads: GradientsParams,
    stacked: bool,
    count: usize,
}

impl ModuleVisitor for RandomGrads {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Running statistics are visited too but are not trained.
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let (dims, device) = (value.dims(), value.device());
        self.count += dims.iter().product::<usize>();
        let grad = Tensor::<D>::random(dims, Distribution::Normal(0.0, 1e-3), &device);
        let grad = if self.stacked && D > 0 {
            let diagonal = Tensor::<D>::random(dims, Distribution::Uniform(0.0, 1.0), &device);
            Tensor::cat(vec![grad, diagonal], 0)
        } else {
            grad
        };
        self.grads.register(param.id, grad);
    }
}

fn random_grads<M: Module>(model: &M, stacked: bool) -> (GradientsParams, usize) {
    let mut visitor = RandomGrads {
        grads: GradientsParams::new(),
        stacked,
        count: 0,
    };
    model.visit(&mut visitor);
    (visitor.grads, visitor.count)
}

/// A cheap copy of the gradient handles.
fn copy<M: Module>(model: &M, grads: &GradientsParams) -> GradientsParams {
    struct Copy<'a>(&'a GradientsParams, GradientsParams);
    impl ModuleVisitor for Copy<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.0.get::<D>(param.id) {
                self.1.register(param.id, grad);
            }
        }
    }
    let mut visitor = Copy(grads, GradientsParams::new());
    model.visit(&mut visitor);
    visitor.1
}

/// Waits for pending work by reading one value of every parameter.
fn sync<M: Module>(model: &M) {
    struct Sum(Vec<Tensor<1>>);
    impl ModuleVisitor for Sum {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().sum());
        }
    }
    let mut sums = Sum(Vec::new());
    model.visit(&mut sums);
    let _ = Tensor::cat(sums.0, 0).sum().into_scalar::<f32>();
}

pub fn optimizers(bench: &OptimizerBench) -> anyhow::Result<OptimizerBenchResult> {
    if bench.steps == 0 {
        return Err(usage_error!("--steps must be positive"));
    }
    let device = crate::device::parse(&bench.device)?.autodiff();
    device.seed(0);
    let spec = model_spec(&bench.model)?;
    let mut names = vec!["adam".to_string()];
    names.extend(bench.optimizers.iter().filter(|n| *n != "adam").cloned());
    let mut parameters = 0;
    let mut medians = Vec::new();
    for name in &names {
        let built = crate::optim::build(&config(name))?;
        let mut optim = built.optim;
        let mut model = spec.build(bench.input, bench.classes, &device)?;
        let (grads, count) = random_grads(&model, built.curvature.is_some());
        parameters = count;
        let mut times = Vec::new();
        for i in 0..bench.warmup + bench.steps {
            let step_grads = copy(&model, &grads);
            let started = Instant::now();
            model = optim.step(1e-3, model, step_grads);
            sync(&model);
            if i >= bench.warmup {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        medians.push((name.clone(), median(times)));
    }
    let adam = medians[0].1;
    let optimizer_steps = medians
        .into_iter()
        .map(|(optimizer, m)| OptimizerStep {
            optimizer,
            median_ms: m * 1e3,
            ratio_to_adam: m / adam,
        })
        .collect();
    let whole_step = (bench.whole_step_batch > 0)
        .then(|| whole_step(bench, &device))
        .transpose()?;
    Ok(OptimizerBenchResult {
        model: bench.model.clone(),
        device: bench.device.clone(),
        parameters,
        optimizer_steps,
        whole_step,
    })
}

/// Median seconds of full training steps with Adam and with AdaHessian.
fn whole_step(bench: &OptimizerBench, device: &Device) -> anyhow::Result<WholeStep> {
    let spec = model_spec(&bench.model)?;
    let batch = bench.whole_step_batch;
    let [c, h, w] = bench.input;
    let mut rng = Rng::new(0, Stream::Synthetic, 0, 0);
    let images: Vec<f32> = (0..batch * c * h * w)
        .map(|_| rng.normal() as f32)
        .collect();
    let labels: Vec<i64> = (0..batch)
        .map(|_| rng.below(bench.classes as u64) as i64)
        .collect();
    let images = Tensor::<4>::from_data(TensorData::new(images, [batch, c, h, w]), device);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), device);
    let run = |name: &str| -> anyhow::Result<f64> {
        let built = crate::optim::build(&config(name))?;
        let (mut optim, curvature) = (built.optim, built.curvature);
        let mut model = spec.build(bench.input, bench.classes, device)?;
        let mut times = Vec::new();
        for step in 0..bench.warmup + bench.steps {
            let started = Instant::now();
            let loss_at = |m: &crate::models::Classifier| {
                cross_entropy(m.forward(images.clone()), labels.clone(), 0.0)
            };
            let loss = loss_at(&model);
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            if let Some(c) = curvature {
                let hz = c.hessian_vector(&model, &grads, 0, step, loss_at, |_, g| g);
                grads = stack_with_diagonal(&model, grads, &hz);
            }
            model = optim.step(1e-3, model, grads);
            sync(&model);
            if step >= bench.warmup {
                times.push(started.elapsed().as_secs_f64());
            }
        }
        Ok(median(times))
    };
    let adam = run("adam")?;
    let adahessian = run("adahessian")?;
    Ok(WholeStep {
        batch,
        adam_median_s: adam,
        adahessian_median_s: adahessian,
        ratio: adahessian / adam,
    })
}
