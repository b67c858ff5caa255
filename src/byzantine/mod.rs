//! Byzantine-robust distributed training as a driver around [`crate::Trainer`]: n workers
//! compute gradients on their shares of the data ([`crate::federated::partition`]'s
//! splits), the last f of them attack ([`attack`]), and the server steps on what a rule of
//! [`crate::aggregate`] makes of them ([`driver::run`], what `stoke train` calls for a
//! config with a `[byzantine]` section).

pub mod attack;
pub mod augment;
pub mod driver;

use crate::aggregate::Rule;
use crate::config::byzantine::{ByzantineConfig, RuleName};

/// The aggregation rule `config` names, with its options, told f = `faulty`.
pub fn rule(config: &ByzantineConfig) -> Rule {
    let f = config.faulty;
    match config.rule {
        RuleName::Mean => Rule::Mean,
        RuleName::Median => Rule::Median,
        RuleName::TrimmedMean => Rule::TrimmedMean { f },
        RuleName::Krum => Rule::Krum { f },
        RuleName::MultiKrum => Rule::MultiKrum {
            f,
            m: config.multi_krum_m,
        },
        RuleName::Bulyan => Rule::Bulyan { f },
        RuleName::Phocas => Rule::Phocas { f },
        RuleName::Meamed => Rule::Meamed { f },
        RuleName::GeometricMedian => Rule::GeometricMedian {
            nu: config.geometric_nu,
            iterations: config.geometric_iterations,
        },
        RuleName::Flag => Rule::Flag {
            rank: config.flag_rank,
            lambda: config.flag_lambda,
            iterations: config.flag_iterations,
        },
    }
}

/// A usage error naming `byzantine.rule` when the rule cannot combine the workers' vectors.
pub fn check_rule(config: &ByzantineConfig) -> anyhow::Result<()> {
    match rule(config).check(config.workers) {
        None => Ok(()),
        Some(problem) => Err(crate::usage_error!(
            "key `byzantine.rule`: {problem} (byzantine.workers = {}, byzantine.faulty = {})",
            config.workers,
            config.faulty
        )),
    }
}
