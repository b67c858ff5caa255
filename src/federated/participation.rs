//! Who trains in a round: `uniform` draws `clients_per_round` clients without replacement,
//! `full` takes every client. Draws are keyed by (seed, round), so a resumed run or a run
//! spread over MPI ranks picks the same clients.

use crate::config::federated::{FederatedConfig, ParticipationName};
use crate::rng::{Rng, Stream};

/// The participants of `round`, in ascending client order.
pub fn participants(config: &FederatedConfig, seed: u64, round: usize) -> Vec<usize> {
    match config.participation {
        ParticipationName::Full => (0..config.clients).collect(),
        ParticipationName::Uniform => {
            // Stream index 1: the partition draws from index 0 of the same stream.
            let mut rng = Rng::new(seed, Stream::Federated, round as u64, 1);
            let mut chosen: Vec<usize> =
                rng.permutation(config.clients)[..config.clients_per_round].to_vec();
            chosen.sort_unstable();
            chosen
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> FederatedConfig {
        toml::from_str(&format!(
            "clients = 10\nrounds = 1\nlocal_steps = 1\n{text}"
        ))
        .unwrap()
    }

    /// Uniform draws: k distinct clients, the same for the same (seed, round), and every
    /// client about equally often (each of 10 is drawn 3/10 of 2,000 rounds: 600 +- 3 sd).
    #[test]
    fn uniform_draws_are_distinct_keyed_and_fair() {
        let config = config("clients_per_round = 3");
        let mut counts = [0usize; 10];
        for round in 0..2000 {
            let chosen = participants(&config, 7, round);
            assert_eq!(chosen.len(), 3);
            assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(chosen, participants(&config, 7, round));
            chosen.iter().for_each(|&c| counts[c] += 1);
        }
        // sd = sqrt(2000 * 0.3 * 0.7) = 20.5
        assert!(counts.iter().all(|&n| n.abs_diff(600) < 62), "{counts:?}");
        assert_eq!(
            participants(&self::config("participation = \"full\""), 0, 5),
            (0..10).collect::<Vec<_>>()
        );
    }
}
