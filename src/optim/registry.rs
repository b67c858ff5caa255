//! Optimizers by name. Adding one: a file in this folder with a builder taking the
//! optimizer's own options, and one line in [`OPTIMIZERS`].

use super::{Built, adahessian, adamp, builtin, diffgrad, sgdp};
use crate::config::OptimizerConfig;
use crate::usage_error;

type Builder = fn(&toml::Table) -> anyhow::Result<Built>;

/// (name, one-line description, builder)
pub const OPTIMIZERS: &[(&str, &str, Builder)] = &[
    (
        "sgd",
        "SGD with optional (Nesterov) momentum and L2 weight decay",
        builtin::sgd,
    ),
    (
        "adam",
        "Adam (Kingma & Ba) with L2 weight decay",
        builtin::adam,
    ),
    (
        "adamw",
        "AdamW (Loshchilov & Hutter), decoupled weight decay",
        builtin::adamw,
    ),
    (
        "diffgrad",
        "diffGrad (Dubey et al.): Adam with a friction coefficient from the gradient change",
        diffgrad::build,
    ),
    (
        "adamp",
        "AdamP (Heo et al.): Adam that removes the radial update of scale-invariant weights",
        adamp::build,
    ),
    (
        "sgdp",
        "SGDP (Heo et al.): momentum SGD with AdamP's projection",
        sgdp::build,
    ),
    (
        "adahessian",
        "AdaHessian (Yao et al.): Adam on a Hutchinson Hessian-diagonal estimate",
        adahessian::build,
    ),
];

/// Builds the optimizer a config names, checking its options.
pub fn build(config: &OptimizerConfig) -> anyhow::Result<Built> {
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(usage_error!(
            "key `optimizer.lr`: expected a positive number, got {}",
            config.lr
        ));
    }
    if let Some(clip) = config.grad_clip_norm
        && !(clip.is_finite() && clip > 0.0)
    {
        return Err(usage_error!(
            "key `optimizer.grad_clip_norm`: expected a positive number, got {clip}"
        ));
    }
    let (_, _, builder) = OPTIMIZERS
        .iter()
        .find(|(name, _, _)| *name == config.name)
        .ok_or_else(|| {
            let names: Vec<&str> = OPTIMIZERS.iter().map(|o| o.0).collect();
            usage_error!(
                "key `optimizer.name`: unknown optimizer `{}`; known: {}",
                config.name,
                names.join(", ")
            )
        })?;
    builder(&config.options)
}
