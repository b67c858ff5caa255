//! Learning-rate schedules as pure functions of the step: constant, step decay, cosine,
//! linear decay and per-step factors from a file (`stoke schedule refine`), each after an
//! optional linear warm-up.

use super::refine::{ScheduleFile, resample};
use crate::config::ScheduleConfig;
use crate::usage_error;

#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
    base_lr: f64,
    warmup_steps: usize,
    total_steps: usize,
    final_fraction: f64,
    milestones: Vec<usize>,
    gamma: f64,
    /// file: the factor of every step of this run.
    factors: Vec<f64>,
}

use crate::config::schema::ScheduleName as Kind;

impl Schedule {
    pub fn new(
        config: &ScheduleConfig,
        base_lr: f64,
        steps_per_epoch: usize,
        total_steps: usize,
    ) -> anyhow::Result<Self> {
        let kind = config.name;
        // Ranges are checked once for the whole config, by `train::validate`.
        let to_steps = |epochs: f64| (epochs * steps_per_epoch as f64).round() as usize;
        let factors = match kind {
            Kind::File => read_factors(config.path.as_deref(), total_steps)?,
            _ => Vec::new(),
        };
        Ok(Self {
            kind,
            base_lr,
            warmup_steps: to_steps(config.warmup_epochs).min(total_steps),
            total_steps,
            final_fraction: config.final_lr_fraction,
            milestones: config.milestones.iter().map(|&e| to_steps(e)).collect(),
            gamma: config.gamma,
            factors,
        })
    }

    /// The learning rate used by the update of step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        // Progress through the decay phase, 0 at its first step, 1 after the last one.
        let span = (self.total_steps - self.warmup_steps).max(1) as f64;
        let progress = (step - self.warmup_steps) as f64 / span;
        let floor = self.final_fraction;
        let factor = match self.kind {
            Kind::Constant => 1.0,
            Kind::Step => self
                .gamma
                .powi(self.milestones.iter().filter(|&&m| step >= m).count() as i32),
            Kind::Cosine => {
                floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Kind::Linear => floor + (1.0 - floor) * (1.0 - progress),
            Kind::File => self.factors[step.min(self.factors.len() - 1)],
        };
        self.base_lr * factor
    }
}

/// The per-step factors of a schedule file, resampled linearly to `total_steps`.
fn read_factors(path: Option<&str>, total_steps: usize) -> anyhow::Result<Vec<f64>> {
    let path = path.ok_or_else(|| {
        usage_error!("key `schedule.path`: schedule `file` needs the path of a schedule JSON")
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage_error!("key `schedule.path`: cannot read {path}: {e}"))?;
    let file: ScheduleFile = serde_json::from_str(&text).map_err(|e| {
        usage_error!("{path}: not a schedule file (from `stoke schedule refine`): {e}")
    })?;
    if file.lr_factors.is_empty() || file.lr_factors.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(usage_error!(
            "{path}: `lr_factors` must be a non-empty list of finite, non-negative numbers"
        ));
    }
    Ok(resample(&file.lr_factors, total_steps.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> Kind {
        serde_json::from_value(serde_json::Value::String(name.into())).unwrap()
    }

    fn schedule(name: &str, warmup_epochs: f64) -> Schedule {
        let config = ScheduleConfig {
            name: kind(name),
            warmup_epochs,
            milestones: vec![2.0, 3.0],
            ..Default::default()
        };
        Schedule::new(&config, 0.5, 10, 40).unwrap()
    }

    #[test]
    fn warmup_then_closed_forms() {
        let s = schedule("linear", 1.0);
        assert!((s.lr(0) - 0.05).abs() < 1e-12);
        assert!((s.lr(9) - 0.5).abs() < 1e-12);
        // Linear decay from step 10 to 0 after step 39: lr(10 + k) = 0.5 * (1 - k/30).
        assert!((s.lr(25) - 0.5 * (1.0 - 15.0 / 30.0)).abs() < 1e-12);
        assert!((s.lr(39) - 0.5 / 30.0).abs() < 1e-12);

        let c = schedule("cosine", 0.0);
        assert!((c.lr(0) - 0.5).abs() < 1e-12);
        assert!((c.lr(20) - 0.25).abs() < 1e-12);

        let st = schedule("step", 0.0);
        assert_eq!(
            [st.lr(19), st.lr(20), st.lr(30)].map(|v| (v * 1e6).round() / 1e6),
            [0.5, 0.05, 0.005]
        );
        assert_eq!(schedule("constant", 0.0).lr(33), 0.5);
    }

    #[test]
    fn unknown_name_and_bad_values_are_usage_errors() {
        let overrides = ["schedule.name=exp".to_string()];
        let err = crate::config::resolve("smoke", &overrides).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("schedule.name") && err.contains("cosine"),
            "{err}"
        );
        // Values are checked with the whole config (train::validate).
        let overrides = ["schedule.warmup_epochs=-1".to_string()];
        let (config, _) = crate::config::resolve("smoke", &overrides).unwrap();
        let err = format!(
            "{:#}",
            crate::train::validate::validate(&config).unwrap_err()
        );
        assert!(err.contains("schedule.warmup_epochs"), "{err}");
    }
}
