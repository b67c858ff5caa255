//! Adversarial attacks shared by the robust-training recipes and robust evaluation.
//!
//! One convention for all: attacks work on pixels in [0, 1]; the model sees normalised images,
//! so the loss closure an attack maximises receives normalised inputs made by
//! [`Normalization::to_model`]. Budgets are in pixel units (configs give them in 1/255 units:
//! `eps = 8` is 8/255; see [`from_255`]). Randomness (random starts) comes from the device's
//! generator, which the engine seeds per step. Attacking the training-mode model (batch-norm
//! batch statistics, as locuslab and AAER do) couples the examples of a batch; [`eval_mode`]
//! gives the per-example view (TRADES, WEAT, evaluation).

pub mod apgd;
pub mod evaluation;
pub mod fgsm;
pub mod normalization;
pub mod pgd;
pub mod trades;

pub use apgd::{Apgd, apgd_ce};
pub use fgsm::fgsm;
pub use normalization::Normalization;
pub use pgd::{Pgd, StartKey, keyed_uniform_start, pgd, pgd_from, uniform_start};
pub use trades::trades_attack;

use burn::prelude::*;

/// `model` for attacking in evaluation mode on the training device: batch norm uses its
/// running statistics and dropout is off (so each example's loss depends on that example
/// only), and no parameter gradients are computed. Gradients still flow to the inputs. A
/// detached copy is frozen: freezing a clone would also freeze the original's parameters.
pub fn eval_mode<M: burn::module::Module>(model: &M) -> M {
    model.valid().train().freeze()
}

/// A budget given in 1/255 units, in pixel units.
pub fn from_255(value: f64) -> f64 {
    value / 255.0
}

/// The gradient of `sum(loss(x))` with respect to the pixels `x` (a detached copy is
/// differentiated; the result lives on the inner device), and the per-example losses.
pub(crate) fn input_gradient(
    pixels: &Tensor<4>,
    loss: &mut impl FnMut(Tensor<4>) -> Tensor<1>,
) -> (Tensor<4>, Tensor<1>) {
    let x = pixels.clone().detach().require_grad();
    let losses = loss(x.clone());
    let grads = losses.clone().sum().backward();
    let gradient = x
        .grad(&grads)
        .expect("the attack loss depends on the input pixels");
    (gradient, losses.detach())
}

/// Projects `candidate` onto the eps-ball around `clean` and the image range [0, 1].
pub(crate) fn project(candidate: Tensor<4>, clean: &Tensor<4>, eps: f64) -> Tensor<4> {
    let low = clean.clone().sub_scalar(eps).clamp_min(0.0);
    let high = clean.clone().add_scalar(eps).clamp_max(1.0);
    candidate.max_pair(low).min_pair(high)
}
