//! Each client's participation probability p_n for the `bernoulli`, `markov` and `cyclic`
//! modes. `label_mix` is FedAU's (IBM/fedau, `data_participation_each_node`): class weights
//! m ~ Dir(participation_alpha), p_n = max(min, mean * C * sum_c share_n(c) m_c), so clients
//! holding the favoured classes train often and the others rarely, and the server never
//! learns p_n. With C classes the p_n average to `participation_mean` before the floor.

use super::partition::gamma;
use crate::config::federated::{FederatedConfig, ProbabilityName};
use crate::rng::{Rng, Stream};

/// The counter of the setup draws in [`Stream::Participation`] (rounds use their number).
pub(crate) const SETUP_COUNTER: u64 = u64::MAX;

/// p_n for every client of `parts` (image indices into `labels`), in [min, 1].
pub fn probabilities(
    config: &FederatedConfig,
    parts: &[Vec<usize>],
    labels: &[u32],
    num_classes: usize,
    seed: u64,
) -> Vec<f64> {
    let (mean, min) = (config.participation_mean, config.participation_min);
    let mut rng = Rng::new(seed, Stream::Participation, SETUP_COUNTER, 0);
    let raw: Vec<f64> = match config.probabilities {
        ProbabilityName::Equal => vec![mean; parts.len()],
        ProbabilityName::Uniform => {
            let high = 2.0 * mean - min;
            (0..parts.len())
                .map(|_| min + (high - min) * rng.uniform())
                .collect()
        }
        ProbabilityName::LabelMix => {
            let draws: Vec<f64> = (0..num_classes)
                .map(|_| gamma(config.participation_alpha, &mut rng))
                .collect();
            let total: f64 = draws.iter().sum();
            let scaling = mean * num_classes as f64;
            parts
                .iter()
                .map(|part| {
                    let mut counts = vec![0usize; num_classes];
                    part.iter().for_each(|&i| counts[labels[i] as usize] += 1);
                    let mix: f64 = counts
                        .iter()
                        .zip(&draws)
                        .map(|(&count, &draw)| count as f64 / part.len() as f64 * draw / total)
                        .sum();
                    scaling * mix
                })
                .collect()
        }
    };
    raw.into_iter().map(|p| p.clamp(min, 1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> FederatedConfig {
        toml::from_str(&format!(
            "clients = 10\nrounds = 1\nlocal_steps = 1\nparticipation = \"bernoulli\"\n{text}"
        ))
        .unwrap()
    }

    /// Ten clients holding one class each: p_n = mean * 10 * m_n with m on the simplex, so
    /// the unfloored p_n sum to exactly 10 * mean (up to rounding, 1e-12), and a client's
    /// p_n depends only on its class. alpha = 100 keeps every m_n near 1/10, above the floor.
    #[test]
    fn label_mix_averages_to_the_mean_and_follows_the_labels() {
        let labels: Vec<u32> = (0..40).map(|i| i % 10).collect();
        let one_class: Vec<Vec<usize>> = (0..10)
            .map(|c| (0..40).filter(|i| i % 10 == c).collect())
            .collect();
        let config = config("participation_alpha = 100.0\nparticipation_mean = 0.3");
        let p = probabilities(&config, &one_class, &labels, 10, 3);
        assert!((p.iter().sum::<f64>() - 3.0).abs() < 1e-12, "{p:?}");
        assert!(p.iter().all(|&p| p > 0.02 && p != 0.3), "{p:?}");
        // A client holding classes 0 and 1 half and half gets the mean of their p.
        let mixed = vec![vec![0, 1, 10, 11]];
        let q = probabilities(&config, &mixed, &labels, 10, 3);
        assert!((q[0] - (p[0] + p[1]) / 2.0).abs() < 1e-12);
        assert_eq!(p, probabilities(&config, &one_class, &labels, 10, 3));
        assert_ne!(p, probabilities(&config, &one_class, &labels, 10, 4));
    }

    /// A small alpha puts the class weights on few classes: most clients fall to the floor.
    #[test]
    fn floors_equal_and_uniform() {
        let labels: Vec<u32> = (0..40).map(|i| i % 10).collect();
        let one_class: Vec<Vec<usize>> = (0..10)
            .map(|c| (0..40).filter(|i| i % 10 == c).collect())
            .collect();
        let p = probabilities(
            &config("participation_alpha = 0.01"),
            &one_class,
            &labels,
            10,
            0,
        );
        assert!(p.iter().filter(|&&p| p == 0.02).count() >= 5, "{p:?}");
        assert!(p.iter().all(|&p| (0.02..=1.0).contains(&p)));
        let equal = probabilities(
            &config("probabilities = \"equal\""),
            &one_class,
            &labels,
            10,
            0,
        );
        assert_eq!(equal, vec![0.1; 10]);
        let uniform = probabilities(
            &config("probabilities = \"uniform\""),
            &one_class,
            &labels,
            10,
            0,
        );
        assert!(
            uniform.iter().all(|&p| (0.02..0.18).contains(&p)),
            "{uniform:?}"
        );
        assert!(uniform.windows(2).any(|w| w[0] != w[1]));
    }
}
