//! Who trains in a round. `uniform` draws `clients_per_round` clients without replacement,
//! `full` takes every client; `bernoulli`, `markov` and `cyclic` let each client n take part
//! with its own probability p_n ([`super::probabilities`]), as IBM/fedau's `WorkerSampler`:
//! - bernoulli: independently each round with probability p_n;
//! - markov: a two-state chain, inactive -> active with probability q (`markov_to_active`),
//!   active -> inactive with q (1/p_n - 1), so it is active a fraction p_n of rounds (when
//!   that exceeds 1 it is set to 1 and q scaled down to keep the fraction); the first state
//!   is drawn with probability p_n;
//! - cyclic: active for a = max(1, round(cycle p_n)) rounds, then inactive for
//!   max(1, cycle - a), starting inactive at a random point of the inactive stretch.
//!
//! Draws are keyed by (seed, round, client), and the chains' states are part of the
//! federated checkpoint, so a resumed run or a run spread over MPI ranks picks the same
//! clients.

use super::probabilities::SETUP_COUNTER;
use crate::config::federated::{FederatedConfig, ParticipationName};
use crate::rng::{Rng, Stream};
use serde::{Deserialize, Serialize};

/// The participants of each round in turn; call [`Sampler::participants`] once per round.
#[derive(Clone, Debug)]
pub struct Sampler {
    mode: ParticipationName,
    clients: usize,
    clients_per_round: usize,
    seed: u64,
    probabilities: Vec<f64>,
    to_active: Vec<f64>,
    to_inactive: Vec<f64>,
    active_rounds: Vec<usize>,
    inactive_rounds: Vec<usize>,
    /// markov and cyclic: where each client's chain stands.
    pub state: SamplerState,
}

/// The position of the markov and cyclic chains between rounds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplerState {
    pub active: Vec<bool>,
    /// cyclic: rounds left before the client switches.
    pub rounds_to_switch: Vec<usize>,
}

impl Sampler {
    /// A sampler before round 0; `probabilities` are the p_n (ignored by uniform and full).
    pub fn new(config: &FederatedConfig, seed: u64, probabilities: Vec<f64>) -> Self {
        let clients = config.clients;
        let mut sampler = Self {
            mode: config.participation,
            clients,
            clients_per_round: config.clients_per_round,
            seed,
            to_active: Vec::new(),
            to_inactive: Vec::new(),
            active_rounds: Vec::new(),
            inactive_rounds: Vec::new(),
            state: SamplerState::default(),
            probabilities,
        };
        let mut rng = Rng::new(seed, Stream::Participation, SETUP_COUNTER, 1);
        match config.participation {
            ParticipationName::Markov => {
                for &p in &sampler.probabilities {
                    let mut up = config.markov_to_active;
                    let mut down = up * (1.0 / p - 1.0);
                    if down > 1.0 {
                        up /= down;
                        down = 1.0;
                    }
                    sampler.to_active.push(up);
                    sampler.to_inactive.push(down);
                    sampler.state.active.push(rng.uniform() < p);
                }
            }
            ParticipationName::Cyclic => {
                for &p in &sampler.probabilities {
                    let active = ((config.cycle as f64 * p).round_ties_even() as usize).max(1);
                    let inactive = config.cycle.saturating_sub(active).max(1);
                    sampler.active_rounds.push(active);
                    sampler.inactive_rounds.push(inactive);
                    sampler.state.active.push(false);
                    let start = rng.below(inactive as u64) as usize;
                    sampler.state.rounds_to_switch.push(start);
                }
            }
            _ => {}
        }
        sampler
    }

    /// Continues from `state` (a checkpoint's), refusing one that does not fit the clients.
    pub fn restore(&mut self, state: SamplerState) -> anyhow::Result<()> {
        let expected = |v: usize| match self.mode {
            ParticipationName::Markov => v == self.clients,
            ParticipationName::Cyclic => v == self.clients,
            _ => true,
        };
        anyhow::ensure!(
            expected(state.active.len())
                && (self.mode != ParticipationName::Cyclic
                    || state.rounds_to_switch.len() == self.clients),
            "the checkpoint's participation state is for {} clients, not federated.clients = {}",
            state.active.len(),
            self.clients
        );
        self.state = state;
        Ok(())
    }

    /// Each client's participation probability (uniform: k/N; full: 1).
    pub fn probability(&self, client: usize) -> f64 {
        match self.mode {
            ParticipationName::Full => 1.0,
            ParticipationName::Uniform => self.clients_per_round as f64 / self.clients as f64,
            _ => self.probabilities[client],
        }
    }

    /// The participants of `round` in ascending client order (possibly none), advancing the
    /// chains by one round.
    pub fn participants(&mut self, round: usize) -> Vec<usize> {
        let mut rng = Rng::new(self.seed, Stream::Participation, round as u64, 0);
        match self.mode {
            ParticipationName::Full => (0..self.clients).collect(),
            ParticipationName::Uniform => {
                uniform(self.seed, round, self.clients, self.clients_per_round)
            }
            ParticipationName::Bernoulli => (0..self.clients)
                .filter(|&n| rng.uniform() < self.probabilities[n])
                .collect(),
            ParticipationName::Markov => (0..self.clients)
                .filter(|&n| {
                    let u = rng.uniform();
                    let active = &mut self.state.active[n];
                    *active = match *active {
                        true => u >= self.to_inactive[n],
                        false => u < self.to_active[n],
                    };
                    *active
                })
                .collect(),
            ParticipationName::Cyclic => (0..self.clients)
                .filter(|&n| {
                    let (active, left) = (
                        &mut self.state.active[n],
                        &mut self.state.rounds_to_switch[n],
                    );
                    if *left == 0 {
                        *active = !*active;
                        *left = match *active {
                            true => self.active_rounds[n],
                            false => self.inactive_rounds[n],
                        };
                    }
                    *left -= 1;
                    *active
                })
                .collect(),
        }
    }
}

/// `k` of `clients` drawn without replacement, keyed by (seed, round).
fn uniform(seed: u64, round: usize, clients: usize, k: usize) -> Vec<usize> {
    // The federated stream, index 1: the partition draws from index 0 of it.
    let mut rng = Rng::new(seed, Stream::Federated, round as u64, 1);
    let mut chosen: Vec<usize> = rng.permutation(clients)[..k].to_vec();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sampler of 10 clients, or of as many as `probabilities` gives.
    fn sampler(text: &str, probabilities: Vec<f64>) -> Sampler {
        let clients = match probabilities.len() {
            0 => 10,
            n => n,
        };
        let config: FederatedConfig = toml::from_str(&format!(
            "clients = {clients}\nrounds = 1\nlocal_steps = 1\n{text}"
        ))
        .unwrap();
        Sampler::new(&config, 7, probabilities)
    }

    /// Counts of participation per client over `rounds` rounds.
    fn counts(sampler: &mut Sampler, rounds: usize) -> Vec<usize> {
        let mut counts = vec![0; sampler.clients];
        for round in 0..rounds {
            let chosen = sampler.participants(round);
            assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            chosen.iter().for_each(|&c| counts[c] += 1);
        }
        counts
    }

    /// Uniform draws: k distinct clients, the same for the same (seed, round), and every
    /// client about equally often (each of 10 is drawn 3/10 of 2,000 rounds: 600 +- 3 sd).
    #[test]
    fn uniform_draws_are_distinct_keyed_and_fair() {
        let mut first = sampler("clients_per_round = 3", vec![]);
        let mut again = sampler("clients_per_round = 3", vec![]);
        for round in 0..2000 {
            assert_eq!(first.participants(round).len(), 3);
            assert_eq!(first.participants(round), again.participants(round));
        }
        let counts = counts(&mut first, 2000);
        // sd = sqrt(2000 * 0.3 * 0.7) = 20.5
        assert!(counts.iter().all(|&n| n.abs_diff(600) < 62), "{counts:?}");
        assert_eq!(first.probability(4), 0.3);
        let mut full = sampler("participation = \"full\"", vec![]);
        assert_eq!(full.participants(5), (0..10).collect::<Vec<_>>());
    }

    /// Bernoulli and markov clients are active a fraction p_n of rounds. Over 20,000 rounds a
    /// Bernoulli count has sd sqrt(R p (1 - p)) <= 71; a markov chain's is larger by its
    /// autocorrelation, sqrt((1 + l) / (1 - l)) with l = 1 - up - down (about 4.4 for p = 0.5,
    /// q = 0.05), so the bounds are 3.5 sd of each.
    #[test]
    fn bernoulli_and_markov_match_their_probabilities() {
        let p = vec![0.02, 0.1, 0.3, 0.5, 0.9, 0.05, 0.2, 0.4, 0.6, 1.0];
        let rounds = 20_000;
        for (mode, sd_factor) in [("bernoulli", 1.0), ("markov", 6.5)] {
            let mut s = sampler(&format!("participation = \"{mode}\""), p.clone());
            let counts = counts(&mut s, rounds);
            for (n, &count) in counts.iter().enumerate() {
                let expected = rounds as f64 * p[n];
                let sd = (rounds as f64 * p[n] * (1.0 - p[n])).sqrt() * sd_factor;
                assert!(
                    (count as f64 - expected).abs() <= 3.5 * sd + 1e-9,
                    "{mode} client {n}: {count} vs {expected} (sd {sd})"
                );
            }
        }
    }

    /// Markov: p = 0.5 and q = 0.05 give active -> inactive 0.05 too, so a chain stays in a
    /// state 1/0.05 = 20 rounds on average (runs much longer than Bernoulli's 2); p = 0.02
    /// gives 0.05 * 49 = 2.45 > 1, so active lasts exactly one round and q becomes 0.05/2.45.
    #[test]
    fn markov_chains_have_the_transition_probabilities() {
        let s = sampler("participation = \"markov\"", vec![0.5, 0.02]);
        assert_eq!((s.to_active[0], s.to_inactive[0]), (0.05, 0.05));
        assert_eq!(s.to_inactive[1], 1.0);
        assert!((s.to_active[1] - 0.05 / 2.45).abs() < 1e-15);
        let mut s = s;
        let mut history = vec![];
        for round in 0..20_000 {
            history.push(s.participants(round).contains(&0));
        }
        let switches = history.windows(2).filter(|w| w[0] != w[1]).count();
        // Expected 20,000 * 0.05 = 1,000 switches (sd about 31).
        assert!(switches.abs_diff(1000) < 110, "{switches}");
    }

    /// Cyclic by hand: cycle 10 and p = 0.3 give 3 active rounds then 7 inactive, forever,
    /// from a random start inside the first inactive stretch; p = 0.04 still gets 1 round.
    #[test]
    fn cyclic_repeats_its_pattern() {
        let mut s = sampler("participation = \"cyclic\"\ncycle = 10", vec![0.3, 0.04]);
        assert_eq!(
            (s.active_rounds.clone(), s.inactive_rounds.clone()),
            (vec![3, 1], vec![7, 9])
        );
        let start = s.state.rounds_to_switch[0];
        assert!(start < 7);
        let history: Vec<bool> = (0..40).map(|r| s.participants(r).contains(&0)).collect();
        let first = history.iter().position(|&a| a).unwrap();
        assert_eq!(first, start);
        for (round, &active) in history.iter().enumerate().skip(first) {
            assert_eq!(active, (round - first) % 10 < 3, "round {round}");
        }
    }

    /// The chains' state round-trips through JSON (the checkpoint) and the sampler continues
    /// as the uninterrupted one.
    #[test]
    fn a_restored_state_continues_the_same_draws() {
        let p = vec![0.1, 0.5, 0.3, 0.8, 0.2, 0.1, 0.1, 0.6, 0.4, 0.05];
        let mut whole = sampler("participation = \"markov\"", p.clone());
        let mut first = sampler("participation = \"markov\"", p.clone());
        for round in 0..30 {
            assert_eq!(whole.participants(round), first.participants(round));
        }
        let saved = serde_json::to_string(&first.state).unwrap();
        let mut resumed = sampler("participation = \"markov\"", p);
        resumed
            .restore(serde_json::from_str(&saved).unwrap())
            .unwrap();
        let mut fewer = sampler("participation = \"markov\"", vec![0.5; 3]);
        assert!(
            fewer
                .restore(serde_json::from_str(&saved).unwrap())
                .is_err()
        );
        for round in 30..60 {
            assert_eq!(whole.participants(round), resumed.participants(round));
        }
    }
}
