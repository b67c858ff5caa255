//! APGD-CE (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
//! of diverse parameter-free attacks"): L-inf Auto-PGD on the cross-entropy loss, following the
//! official code (`APGDAttack` in `autoattack/autopgd_base.py` of github.com/fra31/auto-attack,
//! commit a39220048b3c, `norm='Linf'`, `loss='ce'`, `eot_iter=1`, `use_largereps=False`).
//!
//! One run ([`apgd_ce_run`], the official `attack_single_run`):
//!
//! * start `x0 = clip(x + eps * t / (max|t| + 1e-12), 0, 1)` with `t = 2u - 1`, `u ~ U[0, 1)`
//!   per pixel and the max per example ([`random_start`]);
//! * per-example step size `eta = 2 eps`; iterate `z = P(x_k + eta sign(grad_k))`,
//!   `x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))` with `a = 1` at the first step and
//!   0.75 after, `P` the projection onto the eps-ball and [0, 1];
//! * bookkeeping after every step: `x_best` (highest loss so far, with its gradient) and
//!   `x_best_adv` (the latest misclassified iterate; the start until one is);
//! * checkpoints ([`checkpoints`]): the official integer schedule `n_iter_2 = max(int(0.22 n), 1)`
//!   iterations, then windows shrinking by `size_decr = max(int(0.03 n), 1)` down to
//!   `n_iter_min = max(int(0.06 n), 1)` (0, 22, 41, 57, 70, 80, 87, 93, 99 for n = 100). At each,
//!   an example halves its step size and restarts from `x_best` (with `x_best`'s gradient) when
//!   the loss increased in at most `rho k` of the window's `k` steps, or when its step size was
//!   not halved at the previous checkpoint and its best loss has not increased since.
//!
//! [`apgd_ce`] is the official `perturb(x, y)`: examples the model already misclassifies are not
//! attacked; each restart attacks the examples still robust, and an example keeps the first
//! restart's misclassified point.
//!
//! Official quirks kept: the checkpoints follow the code's integer schedule, not the paper's
//! `p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)` (the two agree for 100 iterations); the
//! loss-increase count at the first checkpoint compares the first iterate's loss with 0 (the
//! official `check_oscillation` reads `loss_steps[-1]`, the zero-initialised last row); after a
//! restart from `x_best` the momentum term still uses the iterate before the checkpoint step.
//!
//! Deviations from the official code:
//!
//! * For examples that stay robust, [`apgd_ce`] returns the highest-loss point over all restarts
//!   (as the `x_best` of the official `best_loss=True` mode) where the official `perturb`
//!   returns the clean image. Robust accuracy is the same either way (every iterate of a robust
//!   example is correctly classified); the returned point is a worst case for the loss.
//! * Labels are required (the official `perturb` can default to the predicted ones).
//! * Randomness: `u` comes from the device's generator (`Tensor::random`), not torch's; the
//!   official `perturb` reseeds torch with `seed=0` on every call, stoke seeds its device.
//! * Floating point: cross-entropy is Burn's `log_softmax`, not torch's fused kernel, so losses
//!   and gradients can differ from PyTorch's in the last bits. The iterates are exact functions of
//!   the discrete decisions (gradient signs, loss comparisons, argmax), so they agree bit for bit
//!   unless a decision sits within rounding of a tie: typically two iterates of a 2-cycle near a
//!   local maximum whose losses agree to ~1e-8, where either side may keep a different `x_best`
//!   (tests/apgd.rs and scripts/golden_apgd.py).

use super::{input_gradient, project};
use burn::prelude::*;
use burn::tensor::{Distribution, IndexingUpdateOp};

/// APGD-CE's parameters (L-inf; budget in pixel units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Apgd {
    /// Budget in pixel units.
    pub eps: f64,
    /// Iterations per run (`n_iter`).
    pub steps: usize,
    /// Runs, each on the examples still robust (`n_restarts`).
    pub restarts: usize,
    /// Step-size halving threshold on the fraction of loss increases (`rho`, 0.75).
    pub rho: f64,
}

impl Apgd {
    /// The paper's settings: 100 iterations, one run, rho = 0.75.
    pub fn new(eps: f64) -> Self {
        Self {
            eps,
            steps: 100,
            restarts: 1,
            rho: 0.75,
        }
    }
}

/// The official checkpoints for `steps` iterations: the iteration counts after which the step
/// size is checked, with the origin 0 first (0, 22, 41, 57, 70, 80, 87, 93, 99 for 100).
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let first = ((0.22 * steps as f64) as usize).max(1);
    let min = ((0.06 * steps as f64) as usize).max(1);
    let decrease = ((0.03 * steps as f64) as usize).max(1);
    let mut points = vec![0];
    let (mut at, mut window) = (0, first);
    while at + window <= steps {
        at += window;
        points.push(at);
        window = window.saturating_sub(decrease).max(min);
    }
    points
}

/// The official random start from uniform draws `u` in [0, 1) shaped like `pixels`:
/// `clip(x + eps * t / (max|t| + 1e-12), 0, 1)`, `t = 2u - 1`, the max per example.
pub fn random_start(pixels: &Tensor<4>, uniform: Tensor<4>, eps: f64) -> Tensor<4> {
    let dims = pixels.dims();
    let t = uniform.mul_scalar(2.0).sub_scalar(1.0);
    let scale = t
        .clone()
        .abs()
        .reshape([dims[0], dims[1] * dims[2] * dims[3]])
        .max_dim(1)
        .add_scalar(1e-12)
        .reshape([dims[0], 1, 1, 1]);
    let offset = t.div(scale).mul_scalar(eps);
    (pixels.clone() + offset).clamp(0.0, 1.0).detach()
}

/// One official APGD-CE run (`attack_single_run`) from a given start.
pub struct ApgdRun {
    /// The highest-loss point (`x_best`), over the start and all iterates.
    pub best: Tensor<4>,
    /// Its loss (`loss_best`).
    pub best_loss: Tensor<1>,
    /// Per example, whether the start and every iterate were correctly classified (`acc`).
    pub robust: Tensor<1, Bool>,
    /// The latest misclassified iterate, the start where there is none (`x_best_adv`).
    pub best_adv: Tensor<4>,
}

/// Cross-entropy of the logits at `x`: its gradient, the per-example losses and whether
/// each example is classified correctly (all detached).
fn ce_step(
    x: &Tensor<4>,
    labels: &Tensor<1, Int>,
    logits: &mut impl FnMut(Tensor<4>) -> Tensor<2>,
) -> (Tensor<4>, Tensor<1>, Tensor<1, Bool>) {
    let mut seen = None;
    let (gradient, losses) = input_gradient(x, &mut |x: Tensor<4>| {
        let out = logits(x);
        seen = Some(out.clone().detach());
        cross_entropy(out, labels)
    });
    let correct = correct(seen.expect("the loss closure ran"), labels);
    (Tensor::from_inner(gradient.inner()), losses, correct)
}

fn cross_entropy(logits: Tensor<2>, labels: &Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    burn::tensor::activation::log_softmax(logits, 1)
        .gather(1, labels.clone().reshape([batch, 1]))
        .reshape([batch])
        .neg()
}

fn correct(logits: Tensor<2>, labels: &Tensor<1, Int>) -> Tensor<1, Bool> {
    let [batch, _] = logits.dims();
    logits.argmax(1).reshape([batch]).equal(labels.clone())
}

/// A per-example mask broadcast to the image shape.
fn per_image(mask: Tensor<1, Bool>, dims: [usize; 4]) -> Tensor<4, Bool> {
    mask.reshape([dims[0], 1, 1, 1]).expand(dims)
}

/// One APGD-CE run on clean `pixels` from `start` (inside the eps-ball and [0, 1]), exactly the
/// official `attack_single_run(x, y, x_init=start)`.
pub fn apgd_ce_run(
    pixels: &Tensor<4>,
    labels: &Tensor<1, Int>,
    start: Tensor<4>,
    attack: Apgd,
    mut logits: impl FnMut(Tensor<4>) -> Tensor<2>,
) -> ApgdRun {
    let device = pixels.device();
    let dims = pixels.dims();
    let batch = dims[0];
    let pixels = pixels.clone().detach();
    let steps = attack.steps;

    let mut x = start.clamp(0.0, 1.0).detach();
    let mut best = x.clone();
    let mut best_adv = x.clone();
    let (mut gradient, first_loss, mut robust) = ce_step(&x, labels, &mut logits);
    let mut best_gradient = gradient.clone();
    let mut best_loss = first_loss;
    let mut step = Tensor::<4>::full([batch, 1, 1, 1], 2.0 * attack.eps, &device);
    let mut previous = x.clone();

    let checks = checkpoints(steps);
    let mut next_check = 1;
    // The official `loss_steps`, zero-initialised: the first window's first comparison reads
    // its last row (index -1).
    let mut losses = vec![Tensor::<1>::zeros([batch], &device); steps];
    let mut best_loss_last_check = best_loss.clone();
    let mut reduced_last_check = Tensor::<1>::ones([batch], &device).greater_elem(0.0);

    for i in 0..steps {
        let momentum = x.clone() - previous;
        previous = x.clone();
        let a = if i > 0 { 0.75 } else { 1.0 };
        let z = project(
            x.clone() + step.clone() * gradient.sign(),
            &pixels,
            attack.eps,
        );
        x = project(
            x.clone() + (z - x).mul_scalar(a) + momentum.mul_scalar(1.0 - a),
            &pixels,
            attack.eps,
        )
        .detach();

        let (new_gradient, loss, correct) = ce_step(&x, labels, &mut logits);
        gradient = new_gradient;
        robust = robust.bool_and(correct.clone());
        best_adv = best_adv.mask_where(per_image(correct.bool_not(), dims), x.clone());

        losses[i] = loss.clone();
        let improved = loss.clone().greater(best_loss.clone());
        best = best.mask_where(per_image(improved.clone(), dims), x.clone());
        best_gradient =
            best_gradient.mask_where(per_image(improved.clone(), dims), gradient.clone());
        best_loss = best_loss.mask_where(improved, loss);

        if next_check < checks.len() && i + 1 == checks[next_check] {
            let window = checks[next_check] - checks[next_check - 1];
            next_check += 1;
            let mut increases = Tensor::<1>::zeros([batch], &device);
            for j in (i + 1 - window..=i).rev() {
                let before = if j == 0 { steps - 1 } else { j - 1 };
                increases = increases + losses[j].clone().greater(losses[before].clone()).float();
            }
            let oscillating = increases.lower_equal_elem(window as f64 * attack.rho);
            let stalled = reduced_last_check
                .bool_not()
                .bool_and(best_loss_last_check.greater_equal(best_loss.clone()));
            let reduce = oscillating.bool_or(stalled);
            reduced_last_check = reduce.clone();
            best_loss_last_check = best_loss.clone();
            step = step.clone().mask_where(
                reduce.clone().reshape([batch, 1, 1, 1]),
                step.div_scalar(2.0),
            );
            x = x.mask_where(per_image(reduce.clone(), dims), best.clone());
            gradient = gradient.mask_where(per_image(reduce, dims), best_gradient.clone());
        }
    }
    ApgdRun {
        best,
        best_loss,
        robust,
        best_adv,
    }
}

/// APGD-CE's adversarial pixels for clean `pixels` (detached, on the autodiff device) and their
/// `labels`, `logits` mapping pixels to the model's logits. Per example: a misclassified point
/// if the clean image or any iterate of any restart was misclassified (the official
/// `x_best_adv` of the first restart that found one), otherwise the highest-loss iterate.
pub fn apgd_ce(
    pixels: &Tensor<4>,
    labels: &Tensor<1, Int>,
    attack: Apgd,
    logits: impl FnMut(Tensor<4>) -> Tensor<2>,
) -> Tensor<4> {
    let device = pixels.device();
    apgd_ce_with(pixels, labels, attack, logits, |_, dims| {
        Tensor::<4>::random(dims, Distribution::Uniform(0.0, 1.0), &device)
    })
}

/// [`apgd_ce`] with the uniform draws of each restart's start given by `uniform(restart, dims)`
/// (values in [0, 1), shaped `dims`: the examples still robust, in batch order), in place of the
/// device's generator.
pub fn apgd_ce_with(
    pixels: &Tensor<4>,
    labels: &Tensor<1, Int>,
    attack: Apgd,
    mut logits: impl FnMut(Tensor<4>) -> Tensor<2>,
    mut uniform: impl FnMut(usize, [usize; 4]) -> Tensor<4>,
) -> Tensor<4> {
    let device = pixels.device();
    let dims = pixels.dims();
    let batch = dims[0];
    let pixels = pixels.clone().detach();
    let mut robust = correct(logits(pixels.clone()).detach(), labels);
    let mut adversarial = pixels.clone();
    let mut best = pixels.clone();
    let mut best_loss = Tensor::<1>::full([batch], f64::NEG_INFINITY, &device);
    for restart in 0..attack.restarts.max(1) {
        let indices = robust.clone().argwhere();
        let [count, _] = indices.dims();
        if count == 0 {
            break;
        }
        let indices = indices.reshape([count]);
        let x = pixels.clone().select(0, indices.clone());
        let y = labels.clone().select(0, indices.clone());
        let draws = uniform(restart, x.dims());
        let start = random_start(&x, draws, attack.eps);
        let run = apgd_ce_run(&x, &y, start, attack, &mut logits);

        // Back to batch positions (indices are unique, so adding onto zeros assigns).
        let scatter4 = |values: Tensor<4>| {
            Tensor::<4>::zeros(dims, &device).select_assign(
                0,
                indices.clone(),
                values,
                IndexingUpdateOp::Add,
            )
        };
        let scatter1 = |values: Tensor<1>| {
            Tensor::<1>::zeros([batch], &device).select_assign(
                0,
                indices.clone(),
                values,
                IndexingUpdateOp::Add,
            )
        };
        let fooled = scatter1(run.robust.clone().bool_not().float()).greater_elem(0.5);
        let still = scatter1(run.robust.float()).greater_elem(0.5);
        adversarial =
            adversarial.mask_where(per_image(fooled.clone(), dims), scatter4(run.best_adv));
        let run_loss = scatter1(run.best_loss);
        let higher = still.bool_and(run_loss.clone().greater(best_loss.clone()));
        best = best.mask_where(per_image(higher.clone(), dims), scatter4(run.best));
        best_loss = best_loss.mask_where(higher, run_loss);
        robust = robust.bool_and(fooled.bool_not());
    }
    adversarial
        .mask_where(per_image(robust, dims), best)
        .detach()
}
