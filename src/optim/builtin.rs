//! Burn's own SGD, Adam, AdamW and LAMB, configured with PyTorch's defaults and semantics.

use crate::config::typed_section;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, LambConfig, SgdConfig};
use serde::Deserialize;

/// `optimizer.name = "sgd"`: PyTorch's SGD (dampening 0, L2 weight decay added to the gradient).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SgdOptions {
    #[serde(default)]
    momentum: f64,
    #[serde(default)]
    nesterov: bool,
    #[serde(default)]
    weight_decay: f32,
}

pub fn sgd(options: &toml::Table) -> anyhow::Result<super::Built> {
    let o: SgdOptions = typed_section(options, "optimizer")?;
    let mut config = SgdConfig::new();
    if o.momentum != 0.0 {
        config = config.with_momentum(Some(MomentumConfig {
            momentum: o.momentum,
            dampening: 0.0,
            nesterov: o.nesterov,
        }));
    }
    if o.weight_decay != 0.0 {
        config = config.with_weight_decay(Some(WeightDecayConfig {
            penalty: o.weight_decay,
        }));
    }
    Ok(super::Built::plain(config.init()))
}

/// Options shared by Adam and AdamW, with PyTorch's defaults (Burn's epsilon default is 1e-5).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdamOptions {
    #[serde(default = "beta1")]
    beta1: f32,
    #[serde(default = "beta2")]
    beta2: f32,
    #[serde(default = "eps")]
    eps: f32,
    #[serde(default)]
    weight_decay: f32,
}

fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.999
}
fn eps() -> f32 {
    1e-8
}

/// `optimizer.name = "adam"`: Adam with L2 weight decay added to the gradient.
pub fn adam(options: &toml::Table) -> anyhow::Result<super::Built> {
    let o: AdamOptions = typed_section(options, "optimizer")?;
    let mut config = AdamConfig::new()
        .with_beta_1(o.beta1)
        .with_beta_2(o.beta2)
        .with_epsilon(o.eps);
    if o.weight_decay != 0.0 {
        config = config.with_weight_decay(Some(WeightDecayConfig {
            penalty: o.weight_decay,
        }));
    }
    Ok(super::Built::plain(config.init()))
}

/// `optimizer.name = "adamw"`: Adam with decoupled weight decay (PyTorch default 0.01).
pub fn adamw(options: &toml::Table) -> anyhow::Result<super::Built> {
    let mut options = options.clone();
    options
        .entry("weight_decay")
        .or_insert(toml::Value::Float(0.01));
    let o: AdamOptions = typed_section(&options, "optimizer")?;
    let config = AdamWConfig::new()
        .with_beta_1(o.beta1)
        .with_beta_2(o.beta2)
        .with_epsilon(o.eps)
        .with_weight_decay(o.weight_decay);
    Ok(super::Built::plain(config.init()))
}

/// `optimizer.name = "lamb"`: Burn's LAMB (decoupled weight decay inside the trust ratio,
/// epsilon 1e-6 as the LAMB paper).
pub fn lamb(options: &toml::Table) -> anyhow::Result<super::Built> {
    let mut options = options.clone();
    options.entry("eps").or_insert(toml::Value::Float(1e-6));
    let o: AdamOptions = typed_section(&options, "optimizer")?;
    let config = LambConfig::new()
        .with_beta_1(o.beta1)
        .with_beta_2(o.beta2)
        .with_epsilon(o.eps)
        .with_weight_decay(o.weight_decay);
    Ok(super::Built::plain(config.init()))
}
