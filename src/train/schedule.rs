//! Learning-rate schedules as pure functions of the step: constant, step decay, cosine and
//! linear decay, each after an optional linear warm-up.

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
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Constant,
    Step,
    Cosine,
    Linear,
}

pub const NAMES: [&str; 4] = ["constant", "step", "cosine", "linear"];

impl Schedule {
    pub fn new(
        config: &ScheduleConfig,
        base_lr: f64,
        steps_per_epoch: usize,
        total_steps: usize,
    ) -> anyhow::Result<Self> {
        let kind = match config.name.as_str() {
            "constant" => Kind::Constant,
            "step" => Kind::Step,
            "cosine" => Kind::Cosine,
            "linear" => Kind::Linear,
            other => {
                return Err(usage_error!(
                    "key `schedule.name`: unknown schedule `{other}`; known: {}",
                    NAMES.join(", ")
                ));
            }
        };
        if config.warmup_epochs.is_nan() || config.warmup_epochs < 0.0 {
            return Err(usage_error!(
                "key `schedule.warmup_epochs`: expected a non-negative number"
            ));
        }
        if !(0.0..=1.0).contains(&config.final_lr_fraction) {
            return Err(usage_error!(
                "key `schedule.final_lr_fraction`: expected a value in [0, 1]"
            ));
        }
        let to_steps = |epochs: f64| (epochs * steps_per_epoch as f64).round() as usize;
        Ok(Self {
            kind,
            base_lr,
            warmup_steps: to_steps(config.warmup_epochs).min(total_steps),
            total_steps,
            final_fraction: config.final_lr_fraction,
            milestones: config.milestones.iter().map(|&e| to_steps(e)).collect(),
            gamma: config.gamma,
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
        };
        self.base_lr * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(name: &str, warmup_epochs: f64) -> Schedule {
        let config = ScheduleConfig {
            name: name.into(),
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
        let bad = ScheduleConfig {
            name: "exp".into(),
            ..Default::default()
        };
        let err = Schedule::new(&bad, 0.1, 10, 10).unwrap_err().to_string();
        assert!(
            err.contains("schedule.name") && err.contains("cosine"),
            "{err}"
        );
        let bad = ScheduleConfig {
            warmup_epochs: -1.0,
            ..Default::default()
        };
        assert!(Schedule::new(&bad, 0.1, 10, 10).is_err());
    }
}
