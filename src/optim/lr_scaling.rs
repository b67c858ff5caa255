//! Learning rate as a function of the batch size (Granziol, Zohren, Roberts, "Learning Rates
//! as a Function of Batch Size", JMLR 2022): in the noise-dominated regime the largest stable
//! rate grows linearly with the batch size B for SGD and as sqrt(B) for adaptive methods.
//! `optimizer.lr` is the rate at `reference_batch_size`; a run at batch B uses
//! `lr * (B / B_ref)` (linear), `lr * sqrt(B / B_ref)` (sqrt) or `lr` (none). Both rules
//! saturate at large batches, which this does not model: choose the reference near the
//! batch size the rate was tuned at.

use super::registry::{Family, entry};
use crate::config::OptimizerConfig;
use crate::usage_error;

pub use crate::config::schema::LrScalingRule as Rule;

#[derive(Clone, Copy, Debug)]
pub struct LrScaling {
    pub rule: Rule,
    pub reference_batch_size: usize,
}

impl LrScaling {
    /// The rule a config asks for (or its optimizer family's default), with the reference
    /// batch size defaulting to the configured one.
    pub fn from_config(config: &OptimizerConfig, batch_size: usize) -> anyhow::Result<Self> {
        let rule = match config.lr_scaling {
            Some(rule) => rule,
            None => match entry(&config.name)?.family {
                Family::Sgd => Rule::Linear,
                Family::Adam => Rule::Sqrt,
            },
        };
        let reference_batch_size = config.reference_batch_size.unwrap_or(batch_size);
        if reference_batch_size == 0 {
            return Err(usage_error!(
                "key `optimizer.reference_batch_size`: expected a positive number"
            ));
        }
        Ok(Self {
            rule,
            reference_batch_size,
        })
    }

    /// The factor on the learning rate at batch size `batch_size`.
    pub fn factor(&self, batch_size: usize) -> f64 {
        let ratio = batch_size as f64 / self.reference_batch_size as f64;
        match self.rule {
            Rule::Linear => ratio,
            Rule::Sqrt => ratio.sqrt(),
            Rule::None => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, rule: Option<&str>, reference: Option<usize>) -> OptimizerConfig {
        OptimizerConfig {
            name: name.into(),
            lr: 0.1,
            grad_clip_norm: None,
            lr_scaling: rule
                .map(|r| serde_json::from_value(serde_json::Value::String(r.into())).unwrap()),
            reference_batch_size: reference,
            options: Default::default(),
        }
    }

    #[test]
    fn family_defaults_and_explicit_rules() {
        let sgd = LrScaling::from_config(&config("sgdp", None, Some(128)), 512).unwrap();
        assert_eq!(sgd.factor(512), 4.0);
        let adam = LrScaling::from_config(&config("adamp", None, Some(128)), 512).unwrap();
        assert_eq!(adam.factor(512), 2.0);
        let none = LrScaling::from_config(&config("sgd", Some("none"), Some(128)), 512).unwrap();
        assert_eq!(none.factor(512), 1.0);
        // Without a reference the configured batch size is the reference: factor 1.
        let same = LrScaling::from_config(&config("sgd", None, None), 256).unwrap();
        assert_eq!(same.factor(256), 1.0);
        let overrides = ["optimizer.lr_scaling=cubic".to_string()];
        let err = format!(
            "{:#}",
            crate::config::resolve("smoke", &overrides).unwrap_err()
        );
        assert!(
            err.contains("optimizer.lr_scaling") && err.contains("cubic"),
            "{err}"
        );
    }
}
