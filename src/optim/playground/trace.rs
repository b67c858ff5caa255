//! `stoke optim trace`: one optimizer on one test function, step by step.

use super::problems::{ConvFit, PROBLEMS, Plane, PlaneProblem, Problem, ScaleInvariant};
use crate::config::OptimizerConfig;
use crate::optim::hutchinson::stack_with_diagonal;
use crate::usage_error;
use burn::optim::GradientsParams;
use serde::Serialize;

/// What to run.
#[derive(Clone, Debug)]
pub struct TraceRequest {
    pub optimizer: String,
    pub problem: String,
    /// Start of a 2-D problem (default (1.5, 1.5)); the others have a fixed start.
    pub start: Option<[f64; 2]>,
    pub steps: usize,
    pub lr: f64,
    /// The optimizer's own options, as in `[optimizer]`.
    pub options: toml::Table,
    /// Seed of AdaHessian's probes.
    pub seed: u64,
    pub device: String,
}

/// `trajectory[i]` are the parameters after `i` steps, `loss[i]` the loss there.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    pub trajectory: Vec<Vec<f64>>,
    pub loss: Vec<f64>,
}

/// Runs the request.
pub fn trace(request: &TraceRequest) -> anyhow::Result<Trace> {
    if let Some((function, _)) = Plane::by_name(&request.problem) {
        let start = request.start.unwrap_or([1.5, 1.5]);
        return run(request, &PlaneProblem { function, start });
    }
    if request.start.is_some() {
        return Err(usage_error!(
            "--start: problem `{}` has a fixed start (see docs/optimizer-playground.md)",
            request.problem
        ));
    }
    match request.problem.as_str() {
        "scale-invariant" => run(request, &ScaleInvariant),
        "conv" => run(request, &ConvFit),
        other => Err(usage_error!(
            "--problem: unknown problem `{other}`; known: {}",
            PROBLEMS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn run<P: Problem>(request: &TraceRequest, problem: &P) -> anyhow::Result<Trace> {
    let device = crate::device::parse(&request.device)?.autodiff();
    let built = crate::optim::build(&OptimizerConfig {
        name: request.optimizer.clone(),
        lr: request.lr,
        grad_clip_norm: None,
        lr_scaling: None,
        reference_batch_size: None,
        options: request.options.clone(),
    })?;
    let (mut optim, curvature) = (built.optim, built.curvature);
    let mut params = problem.init(&device);
    let mut trace = Trace {
        trajectory: Vec::with_capacity(request.steps + 1),
        loss: Vec::with_capacity(request.steps + 1),
    };
    for step in 0..=request.steps {
        let loss = problem.loss(&params);
        trace.trajectory.push(problem.point(&params));
        trace.loss.push(loss.clone().into_scalar::<f64>());
        if step == request.steps {
            break;
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &params);
        if let Some(c) = curvature.filter(|c| c.due(step)) {
            let hz = c.hessian_vector(
                &params,
                &grads,
                request.seed,
                step,
                |p| problem.loss(p),
                |_, g| g,
            );
            grads = stack_with_diagonal(&params, grads, &hz);
        }
        params = optim.step(request.lr, params, grads);
    }
    Ok(trace)
}
