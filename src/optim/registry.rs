//! Optimizers by name. Adding one: a file in this folder with a builder taking the
//! optimizer's own options, and one entry in [`OPTIMIZERS`].

use super::{Built, adagrad, adagrad_norm, adahessian, adamp, builtin, diffgrad, lars, sgdp};
use crate::config::OptimizerConfig;
use crate::registry::{Entry, find};
use crate::usage_error;

type Builder = fn(&toml::Table) -> anyhow::Result<Built>;

/// Which rules of thumb apply: learning-rate scaling with the batch size and the gradient
/// norm schedules are refined from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Plain or momentum SGD: lr linear in the batch size, l2 gradient norms.
    Sgd,
    /// Adaptive, coordinate-wise: lr as the square root of the batch size, l1 norms.
    Adam,
}

/// What the registry holds of an optimizer.
pub struct Optimizer {
    pub family: Family,
    pub build: Builder,
}

pub const OPTIMIZERS: &[Entry<Optimizer>] = &[
    Entry {
        name: "sgd",
        description: "SGD with optional (Nesterov) momentum and L2 weight decay",
        item: Optimizer {
            family: Family::Sgd,
            build: builtin::sgd,
        },
    },
    Entry {
        name: "adam",
        description: "Adam (Kingma & Ba) with L2 weight decay",
        item: Optimizer {
            family: Family::Adam,
            build: builtin::adam,
        },
    },
    Entry {
        name: "adamw",
        description: "AdamW (Loshchilov & Hutter), decoupled weight decay",
        item: Optimizer {
            family: Family::Adam,
            build: builtin::adamw,
        },
    },
    Entry {
        name: "diffgrad",
        description: "diffGrad (Dubey et al.): Adam with a friction coefficient from the gradient change",
        item: Optimizer {
            family: Family::Adam,
            build: diffgrad::build,
        },
    },
    Entry {
        name: "adamp",
        description: "AdamP (Heo et al.): Adam that removes the radial update of scale-invariant weights",
        item: Optimizer {
            family: Family::Adam,
            build: adamp::build,
        },
    },
    Entry {
        name: "sgdp",
        description: "SGDP (Heo et al.): momentum SGD with AdamP's projection",
        item: Optimizer {
            family: Family::Sgd,
            build: sgdp::build,
        },
    },
    Entry {
        name: "adahessian",
        description: "AdaHessian (Yao et al.): Adam on a Hutchinson Hessian-diagonal estimate",
        item: Optimizer {
            family: Family::Adam,
            build: adahessian::build,
        },
    },
    Entry {
        name: "adagrad",
        description: "AdaGrad (Duchi et al.), PyTorch semantics; AdAdaGrad with [adaptive_batch]",
        item: Optimizer {
            family: Family::Adam,
            build: adagrad::build,
        },
    },
    Entry {
        name: "adagrad_norm",
        description: "AdaGrad-Norm, one step size per output channel (official AdAdaGrad code)",
        item: Optimizer {
            family: Family::Adam,
            build: adagrad_norm::build,
        },
    },
    Entry {
        name: "lars",
        description: "LARS (You et al.): momentum SGD scaled by a layer-wise trust ratio, for large batches",
        item: Optimizer {
            family: Family::Sgd,
            build: lars::build,
        },
    },
    Entry {
        name: "lamb",
        description: "LAMB (You et al.), Burn's: Adam scaled by a layer-wise trust ratio",
        item: Optimizer {
            family: Family::Adam,
            build: builtin::lamb,
        },
    },
];

/// The registry entry of an optimizer name, or a usage error listing the known ones.
pub fn entry(name: &str) -> anyhow::Result<&'static Optimizer> {
    find(OPTIMIZERS, name, "optimizer.name", "optimizer").map(|e| &e.item)
}

/// The allowed values of the hyper-parameters optimizers share by name: `(key, low, high,
/// high included, what)`; every value must also be finite.
const RANGES: &[(&str, f64, f64, bool, &str)] = &[
    ("beta1", 0.0, 1.0, false, "a value in [0, 1)"),
    ("beta2", 0.0, 1.0, false, "a value in [0, 1)"),
    ("momentum", 0.0, 1.0, false, "a value in [0, 1)"),
    ("dampening", 0.0, 1.0, true, "a value in [0, 1]"),
    (
        "eps",
        f64::MIN_POSITIVE,
        f64::MAX,
        true,
        "a positive number",
    ),
    ("weight_decay", 0.0, f64::MAX, true, "a non-negative number"),
    ("lr_decay", 0.0, f64::MAX, true, "a non-negative number"),
    (
        "initial_accumulator_value",
        0.0,
        f64::MAX,
        true,
        "a non-negative number",
    ),
    ("delta", 0.0, f64::MAX, true, "a non-negative number"),
    ("wd_ratio", 0.0, f64::MAX, true, "a non-negative number"),
    (
        "trust_coefficient",
        f64::MIN_POSITIVE,
        f64::MAX,
        true,
        "a positive number",
    ),
    (
        "fd_step",
        f64::MIN_POSITIVE,
        f64::MAX,
        true,
        "a positive number",
    ),
];

/// Refuses shared hyper-parameters out of [`RANGES`] (types are checked by each builder).
fn check_ranges(options: &toml::Table) -> anyhow::Result<()> {
    for &(key, low, high, high_included, what) in RANGES {
        let value = match options.get(key) {
            Some(toml::Value::Float(v)) => *v,
            Some(toml::Value::Integer(v)) => *v as f64,
            _ => continue,
        };
        let below_high = value < high || (high_included && value == high);
        if !(value.is_finite() && value >= low && below_high) {
            return Err(usage_error!(
                "key `optimizer.{key}`: expected {what}, got {value}"
            ));
        }
    }
    Ok(())
}

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
    let entry = entry(&config.name)?;
    check_ranges(&config.options)?;
    (entry.build)(&config.options)
}
