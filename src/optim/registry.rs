//! Optimizers by name. Adding one: a file in this folder with a builder taking the
//! optimizer's own options, and one line in [`OPTIMIZERS`].

use super::builtin;
use crate::config::OptimizerConfig;
use crate::usage_error;
use burn::optim::ModuleOptimizer;

type Builder = fn(&toml::Table) -> anyhow::Result<ModuleOptimizer>;

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
];

/// Builds the optimizer a config names, checking its options.
pub fn build(config: &OptimizerConfig) -> anyhow::Result<ModuleOptimizer> {
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
