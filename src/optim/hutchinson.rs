//! Hutchinson's estimate of the Hessian diagonal for AdaHessian, with Hessian-vector products
//! from finite differences of gradients (Burn's autodiff is first-order only).
//!
//! For a Rademacher probe `z` (entries +-1, [`probe`]), `E[z * Hz] = diag(H)`; AdaHessian uses
//! `|Hz|`, averaged over the kernel positions of 4-D conv weights. `Hz` comes from gradients
//! at perturbed weights:
//! - central (default): `Hz ~ (g(w + r z) - g(w - r z)) / 2r`, error O(r^2), two extra
//!   forward/backward passes;
//! - forward: `Hz ~ (g(w + r z) - g(w)) / r`, error O(r), one extra pass (`g(w)` is the step's
//!   own gradient).
//!
//! The step is relative to the scale of the weights, as for finite-difference Newton methods
//! (Nocedal & Wright, section 8.1): `r = h (1 + ||w||) / ||z||` with `||z|| = sqrt(n)` over
//! all `n` trained weights, so each weight moves by `r`, about `h` times the RMS weight for
//! large models. `h` balances truncation against f32 rounding in the gradients:
//! `cbrt(eps_f32) ~ 5e-3` for central and `sqrt(eps_f32) ~ 3.5e-4` for forward differences.
//! The perturbed passes run on a detached copy of the model (`valid().train()`), so they do
//! not touch batch-norm running statistics, and the caller re-seeds the device so dropout
//! draws the same masks as the step's own pass.

use crate::rng::{Rng, Stream};
use crate::usage_error;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Difference {
    Central,
    Forward,
}

impl Difference {
    /// The default relative step `h` for f32 gradients.
    pub fn default_step(self) -> f64 {
        match self {
            Difference::Central => 5e-3,
            Difference::Forward => 3.5e-4,
        }
    }
}

/// When and how the Hessian diagonal is estimated.
#[derive(Clone, Copy, Debug)]
pub struct Hutchinson {
    pub difference: Difference,
    /// Relative finite-difference step `h`.
    pub relative_step: f64,
    /// Estimate every this many steps.
    pub update_period: usize,
}

impl Hutchinson {
    pub fn new(
        difference: Difference,
        relative_step: Option<f64>,
        update_period: usize,
    ) -> anyhow::Result<Self> {
        let relative_step = relative_step.unwrap_or(difference.default_step());
        if !(relative_step.is_finite() && relative_step > 0.0) {
            return Err(usage_error!(
                "key `optimizer.fd_step`: expected a positive number, got {relative_step}"
            ));
        }
        Ok(Self {
            difference,
            relative_step,
            update_period: update_period.max(1),
        })
    }

    /// Whether step `step` (0-based) gets a fresh estimate.
    pub fn due(&self, step: usize) -> bool {
        step.is_multiple_of(self.update_period)
    }

    /// `Hz` for the probes of `(seed, step)`, one entry per parameter that has a gradient in
    /// `grads` (the gradient at `model`). `loss_at` evaluates the same loss at other weights;
    /// `average` turns a gradient of it into the one `grads` is (the identity in one process,
    /// the all-reduce over the ranks in data-parallel training).
    pub fn hessian_vector<M: Module>(
        &self,
        model: &M,
        grads: &GradientsParams,
        seed: u64,
        step: usize,
        mut loss_at: impl FnMut(&M) -> Tensor<1>,
        mut average: impl FnMut(&M, GradientsParams) -> GradientsParams,
    ) -> GradientsParams {
        let (norm, count) = weight_norm(model, grads);
        let r = self.relative_step * (1.0 + norm) / (count.max(1) as f64).sqrt();
        let mut gradient_at = |scale: f64| {
            let moved = perturbed(model, grads, seed, step, scale);
            let local = GradientsParams::from_grads(loss_at(&moved).backward(), &moved);
            average(&moved, local)
        };
        let plus = gradient_at(r);
        let (minus, span) = match self.difference {
            Difference::Central => (gradient_at(-r), 2.0 * r),
            Difference::Forward => (clone_grads(model, grads), r),
        };
        let mut visitor = Quotient {
            plus,
            minus,
            span,
            out: GradientsParams::new(),
        };
        model.visit(&mut visitor);
        visitor.out
    }
}

/// The Rademacher probe of parameter `index` at `step`: bit `j mod 64` of the `j / 64`-th word
/// of `Rng::new(seed, Stream::Probe, step, index)` gives the sign of element `j`.
pub fn probe<const D: usize>(
    seed: u64,
    step: usize,
    index: usize,
    dims: [usize; D],
    device: &Device,
) -> Tensor<D> {
    let n: usize = dims.iter().product();
    let mut rng = Rng::new(seed, Stream::Probe, step as u64, index as u64);
    let mut values = Vec::with_capacity(n);
    let mut word = 0u64;
    for j in 0..n {
        if j % 64 == 0 {
            word = rng.next_u64();
        }
        values.push(if (word >> (j % 64)) & 1 == 1 {
            1.0f32
        } else {
            -1.0
        });
    }
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Replaces each gradient `g` by `[g; D]` stacked along dim 0, with `D = |Hz|` averaged over
/// the kernel positions (dims 2 and 3) of 4-D tensors (the official code's conv branch; other
/// ranks, 3-D included, use `|Hz|` elementwise). Rank-0 gradients stay as they are.
pub fn stack_with_diagonal<M: Module>(
    model: &M,
    grads: GradientsParams,
    hz: &GradientsParams,
) -> GradientsParams {
    struct Stack<'a> {
        grads: GradientsParams,
        hz: &'a GradientsParams,
    }
    impl ModuleVisitor for Stack<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D == 0 {
                return;
            }
            let Some(grad) = self.grads.remove::<D>(param.id) else {
                return;
            };
            // A parameter without a Hessian-vector product keeps its plain gradient (the
            // optimizer then reuses its stored estimate).
            let Some(hz) = self.hz.get::<D>(param.id) else {
                self.grads.register(param.id, grad);
                return;
            };
            let dims = hz.dims();
            let diagonal = if D == 4 {
                hz.abs().mean_dim(2).mean_dim(3).expand(dims)
            } else {
                hz.abs()
            };
            self.grads
                .register(param.id, Tensor::cat(vec![grad, diagonal], 0));
        }
    }
    let mut visitor = Stack { grads, hz };
    model.visit(&mut visitor);
    visitor.grads
}

/// `||w||` over the parameters with a gradient, and how many weights that is.
fn weight_norm<M: Module>(model: &M, grads: &GradientsParams) -> (f64, usize) {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        squares: Vec<Tensor<1>>,
        count: usize,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.grads.get::<D>(param.id).is_some() {
                let value = param.val();
                self.count += value.dims().iter().product::<usize>();
                self.squares.push(value.square().sum());
            }
        }
    }
    let mut visitor = Norm {
        grads,
        squares: Vec::new(),
        count: 0,
    };
    model.visit(&mut visitor);
    if visitor.squares.is_empty() {
        return (0.0, 0);
    }
    let sum: f64 = Tensor::cat(visitor.squares, 0).sum().into_scalar();
    (sum.sqrt(), visitor.count)
}

/// A detached copy of `model` (fresh autodiff leaves, its own batch-norm state) with every
/// parameter that has a gradient moved by `scale * probe`.
fn perturbed<M: Module>(
    model: &M,
    grads: &GradientsParams,
    seed: u64,
    step: usize,
    scale: f64,
) -> M {
    struct Perturb<'a> {
        grads: &'a GradientsParams,
        seed: u64,
        step: usize,
        index: usize,
        scale: f64,
    }
    impl ModuleMapper for Perturb<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.grads.get::<D>(param.id).is_none() {
                return param;
            }
            let index = self.index;
            self.index += 1;
            let (seed, step, scale) = (self.seed, self.step, self.scale);
            param.map(|value| {
                let z = probe(seed, step, index, value.dims(), &value.device());
                value + z.mul_scalar(scale)
            })
        }
    }
    model
        .valid()
        .map(&mut Perturb {
            grads,
            seed,
            step,
            index: 0,
            scale,
        })
        .train()
}

/// The gradients of the parameters of `model`, as a new map.
fn clone_grads<M: Module>(model: &M, grads: &GradientsParams) -> GradientsParams {
    struct Copy<'a> {
        from: &'a GradientsParams,
        out: GradientsParams,
    }
    impl ModuleVisitor for Copy<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.from.get::<D>(param.id) {
                self.out.register(param.id, grad);
            }
        }
    }
    let mut visitor = Copy {
        from: grads,
        out: GradientsParams::new(),
    };
    model.visit(&mut visitor);
    visitor.out
}

/// `(plus - minus) / span` for every parameter present in both.
struct Quotient {
    plus: GradientsParams,
    minus: GradientsParams,
    span: f64,
    out: GradientsParams,
}

impl ModuleVisitor for Quotient {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let (Some(plus), Some(minus)) = (
            self.plus.remove::<D>(param.id),
            self.minus.remove::<D>(param.id),
        ) {
            let device = minus.device();
            self.out.register(
                param.id,
                (plus.to_device(&device) - minus).div_scalar(self.span),
            );
        }
    }
}
