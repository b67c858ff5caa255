//! The simulated clock of federated runs ("A General Theory for Federated Optimization with
//! Asynchronous and Heterogeneous Clients Updates", Fraboni, Vidal, Kameni and Lorenzi, JMLR
//! 2023; Accenture/Labs-Federated-Learning, branch asynchronous_FL). Client i needs tau_i
//! time units for its local work: tau_i = 1 - spread * i / (N - 1) (the paper's linear
//! scenario), times a mean-one log-normal factor per task keyed by (seed, client, version
//! trained from) when `compute_jitter` > 0.
//!
//! Synchronous rounds last as long as their slowest participant. On the asynchronous clocks
//! every client works all the time on the model it last received and the server aggregates
//! - `async_fedavg`: each arrival, in time order (ties: lower client id first);
//! - `fedbuff`: as soon as `fedbuff_size` clients have returned (the earliest ones);
//! - `fedfix`: every `fedfix_interval`, whatever has returned by then (possibly nothing);
//!
//! and sends the new model to the clients it aggregated, which start again from it. Updates
//! are weighted by d_i ([`AsyncWeights`]): x <- x + lr sum over arrivals d_i (x_i - x_sent,i).

use super::aggregator::{Aggregator, weighted_sum};
use crate::config::federated::{AlgorithmName, AsyncWeightsName, FederatedConfig};
use crate::rng::{Rng, Stream};
use crate::train::Weights;

/// Each client's compute time per task.
#[derive(Clone, Debug)]
pub struct ComputeTimes {
    base: Vec<f64>,
    jitter: f64,
    seed: u64,
    /// Anarchic FL: the most local steps a client may choose (its time scales with them).
    anarchic: Option<usize>,
}

impl ComputeTimes {
    pub fn new(config: &FederatedConfig, seed: u64) -> Self {
        let n = config.clients;
        let base = (0..n)
            .map(|i| match n {
                1 => 1.0,
                _ => 1.0 - config.compute_spread * i as f64 / (n - 1) as f64,
            })
            .collect();
        Self {
            base,
            jitter: config.compute_jitter,
            seed,
            anarchic: config.algorithm.is_anarchic().then_some(config.local_steps),
        }
    }

    /// The local steps client `client` takes from server model `version`: `local_steps`,
    /// or in Anarchic FL its own choice, uniform in 1..=local_steps, keyed by (seed, client,
    /// version).
    pub fn steps(&self, client: usize, version: usize, local_steps: usize) -> usize {
        match self.anarchic {
            None => local_steps,
            Some(max) => {
                let index = (self.base.len() + client) as u64;
                1 + Rng::new(self.seed, Stream::Clock, version as u64, index).below(max as u64)
                    as usize
            }
        }
    }

    /// tau_i without jitter: the mean time of client i's tasks.
    pub fn base(&self, client: usize) -> f64 {
        self.base[client]
    }

    /// The time client `client` takes to train from server model `version`.
    pub fn task(&self, client: usize, version: usize) -> f64 {
        let share = match self.anarchic {
            Some(max) => self.steps(client, version, max) as f64 / max as f64,
            None => 1.0,
        };
        if self.jitter == 0.0 {
            return self.base[client] * share;
        }
        let z = Rng::new(self.seed, Stream::Clock, version as u64, client as u64).normal();
        self.base[client] * share * (self.jitter * z - self.jitter * self.jitter / 2.0).exp()
    }
}

/// One client's finished work: it trained from server model `version` (0: the initial one;
/// n: the model after aggregation n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub client: usize,
    pub version: usize,
}

/// An aggregation of an asynchronous clock: when, and whose work (ascending client order).
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregation {
    pub time: f64,
    pub arrivals: Vec<Arrival>,
}

/// The asynchronous schedule, one aggregation at a time (a pure function of the config and
/// the seed: a resumed run replays it to its round).
#[derive(Clone, Debug)]
pub struct AsyncClock {
    algorithm: AlgorithmName,
    times: ComputeTimes,
    buffer: usize,
    interval: f64,
    max_clock: f64,
    rounds: usize,
    /// When each client returns, and the version it is working from.
    returns: Vec<f64>,
    holds: Vec<usize>,
    done: usize,
}

impl AsyncClock {
    pub fn new(config: &FederatedConfig, times: ComputeTimes) -> Self {
        let returns = (0..config.clients).map(|i| times.task(i, 0)).collect();
        Self {
            algorithm: config.algorithm,
            buffer: match config.algorithm.is_anarchic() {
                true => config.afa_updates,
                false => config.fedbuff_size,
            },
            interval: config.fedfix_interval,
            max_clock: config.max_clock.unwrap_or(f64::INFINITY),
            rounds: config.rounds,
            returns,
            holds: vec![0; config.clients],
            done: 0,
            times,
        }
    }

    /// Aggregations so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// The versions clients are working from (to know which server models to keep).
    pub fn held_versions(&self) -> &[usize] {
        &self.holds
    }

    /// How many aggregations each client takes part in over the whole run, and the run's
    /// number of aggregations.
    pub fn participation_counts(&self) -> (Vec<usize>, usize) {
        let mut replay = self.clone();
        let mut counts = vec![0; self.holds.len()];
        while let Some(aggregation) = replay.next_aggregation() {
            aggregation
                .arrivals
                .iter()
                .for_each(|a| counts[a.client] += 1);
        }
        (counts, replay.done)
    }

    /// The next aggregation, None once the run's rounds or `max_clock` are reached.
    pub fn next_aggregation(&mut self) -> Option<Aggregation> {
        if self.done >= self.rounds {
            return None;
        }
        let (time, clients) = match self.algorithm {
            AlgorithmName::Fedfix => {
                let time = (self.done + 1) as f64 * self.interval;
                let clients: Vec<usize> = (0..self.returns.len())
                    .filter(|&i| self.returns[i] <= time)
                    .collect();
                (time, clients)
            }
            _ => {
                let k = match self.algorithm {
                    AlgorithmName::AsyncFedavg => 1,
                    _ => self.buffer,
                };
                let mut order: Vec<usize> = (0..self.returns.len()).collect();
                order.sort_by(|&a, &b| self.returns[a].total_cmp(&self.returns[b]).then(a.cmp(&b)));
                order.truncate(k);
                let time = order.iter().map(|&i| self.returns[i]).fold(0.0, f64::max);
                order.sort_unstable();
                (time, order)
            }
        };
        if time > self.max_clock {
            return None;
        }
        self.done += 1;
        let arrivals = clients
            .into_iter()
            .map(|client| {
                let arrival = Arrival {
                    client,
                    version: self.holds[client],
                };
                self.holds[client] = self.done;
                self.returns[client] = time + self.times.task(client, self.done);
                arrival
            })
            .collect();
        Some(Aggregation { time, arrivals })
    }
}

/// The asynchronous rules' aggregate: sum over arrivals d_i Delta_i, with p_i = 1/N (every
/// client equally important) and, `weighted`, the paper's d_i:
/// async_fedavg (sum_j 1/tau_j) tau_i / N; fedfix ceil(tau_i / dt) / N; fedbuff
/// (1/N) / f_i with f_i the fraction of aggregations client i takes part in. `identical`:
/// 1, 1/N and 1/c.
pub struct AsyncWeights {
    weights: Vec<f64>,
}

impl AsyncWeights {
    pub fn new(config: &FederatedConfig, clock: &AsyncClock) -> Self {
        let n = config.clients as f64;
        let times = &clock.times;
        let weights = (0..config.clients).map(|i| {
            let tau = times.base(i);
            match (config.algorithm, config.async_weights) {
                (AlgorithmName::AsyncFedavg, AsyncWeightsName::Identical) => 1.0,
                (AlgorithmName::Fedfix, AsyncWeightsName::Identical) => 1.0 / n,
                (AlgorithmName::Fedbuff, AsyncWeightsName::Identical) => {
                    1.0 / config.fedbuff_size as f64
                }
                (AlgorithmName::AsyncFedavg, AsyncWeightsName::Weighted) => {
                    let speed: f64 = (0..config.clients).map(|j| 1.0 / times.base(j)).sum();
                    speed * tau / n
                }
                (AlgorithmName::Fedfix, AsyncWeightsName::Weighted) => {
                    (tau / config.fedfix_interval).ceil() / n
                }
                _ => f64::NAN, // fedbuff weighted: below, from the schedule
            }
        });
        let mut weights: Vec<f64> = weights.collect();
        if config.algorithm == AlgorithmName::Fedbuff
            && config.async_weights == AsyncWeightsName::Weighted
        {
            let (counts, total) = clock.participation_counts();
            weights = counts
                .iter()
                .map(|&c| match c {
                    0 => 0.0,
                    c => (1.0 / n) / (c as f64 / total as f64),
                })
                .collect();
        }
        Self { weights }
    }

    pub fn weight(&self, client: usize) -> f64 {
        self.weights[client]
    }
}

impl Aggregator for AsyncWeights {
    fn aggregate(
        &mut self,
        participants: &[usize],
        deltas: &[Weights],
        zero: &Weights,
    ) -> anyhow::Result<Weights> {
        let items: Vec<(&Weights, f32)> = participants
            .iter()
            .zip(deltas)
            .map(|(&i, delta)| (delta, self.weights[i] as f32))
            .collect();
        weighted_sum(&items, zero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::fedavg::tests::weights;

    /// Three clients, 6 rounds and 1 local step unless `text` says otherwise.
    fn config(text: &str) -> FederatedConfig {
        let default = |key: &str, line: &str| match text.contains(key) {
            true => String::new(),
            false => format!("{line}\n"),
        };
        let rounds = default("rounds", "rounds = 6");
        let steps = default("local_steps", "local_steps = 1");
        toml::from_str(&format!(
            "clients = 3\n{rounds}{steps}participation = \"full\"\n{text}"
        ))
        .unwrap()
    }

    fn schedule(text: &str) -> Vec<(f64, Vec<(usize, usize)>)> {
        let config = config(text);
        let mut clock = AsyncClock::new(&config, ComputeTimes::new(&config, 0));
        std::iter::from_fn(|| clock.next_aggregation())
            .map(|a| {
                let arrivals = a.arrivals.iter().map(|a| (a.client, a.version)).collect();
                (a.time, arrivals)
            })
            .collect()
    }

    /// Three clients with spread 0.5: tau = 1, 0.75, 0.5. By hand:
    /// client 2 returns at 0.5 (from model 0) and restarts from model 1; client 1 at 0.75
    /// (model 0; restarts from 2); at 1.0 clients 0 (model 0) and 2 (model 1) tie and the
    /// lower id goes first; at 1.5 clients 1 (model 2) and 2 (model 4).
    #[test]
    fn async_fedavg_aggregates_each_arrival_in_time_order() {
        let got = schedule("algorithm = \"async_fedavg\"\ncompute_spread = 0.5");
        let expected = vec![
            (0.5, vec![(2, 0)]),
            (0.75, vec![(1, 0)]),
            (1.0, vec![(0, 0)]),
            (1.0, vec![(2, 1)]),
            (1.5, vec![(1, 2)]),
            (1.5, vec![(2, 4)]),
        ];
        assert_eq!(got, expected);
    }

    /// fedbuff with c = 2: at 0.75 clients 1 and 2 (both from model 0; client 2 waited since
    /// 0.5) restart at 0.75: return at 1.5 and 1.25. Next: client 0 (1.0) and client 2
    /// (1.25) at 1.25; then client 1 (1.5) and client 2 (1.75) at 1.75.
    /// fedfix with dt = 0.6: at 0.6 client 2 (back at 0.5) restarts: back at 1.1; at 1.2
    /// clients 0, 1 (back at 1.0, 0.75) and 2; at 1.8 client 1 (1.2 + 0.75 = 1.95: no),
    /// client 2 (1.2 + 0.5 = 1.7: yes); at 2.4 clients 0 (2.2), 1 (1.95), 2 (2.3).
    #[test]
    fn fedbuff_and_fedfix_follow_their_clocks() {
        let got =
            schedule("algorithm = \"fedbuff\"\nfedbuff_size = 2\ncompute_spread = 0.5\nrounds = 3");
        let expected = vec![
            (0.75, vec![(1, 0), (2, 0)]),
            (1.25, vec![(0, 0), (2, 1)]),
            (1.75, vec![(1, 1), (2, 2)]),
        ];
        assert_eq!(got, expected);
        let got = schedule(
            "algorithm = \"fedfix\"\nfedfix_interval = 0.6\ncompute_spread = 0.5\nrounds = 4",
        );
        let times: Vec<f64> = got.iter().map(|a| a.0).collect();
        assert!((times[3] - 2.4).abs() < 1e-12);
        let arrivals: Vec<_> = got.into_iter().map(|a| a.1).collect();
        assert_eq!(
            arrivals,
            vec![
                vec![(2, 0)],
                vec![(0, 0), (1, 0), (2, 1)],
                vec![(2, 2)],
                vec![(0, 2), (1, 2), (2, 3)],
            ]
        );
        // max_clock stops before the first aggregation past it.
        let capped = schedule(
            "algorithm = \"fedfix\"\nfedfix_interval = 0.6\ncompute_spread = 0.5\nmax_clock = 1.5",
        );
        assert_eq!(capped.len(), 2);
    }

    /// The paper's weights for tau = 1, 0.75, 0.5 (sum 1/tau = 1 + 4/3 + 2 = 13/3):
    /// async d_i = (13/3) tau_i / 3 = 13/9, 13/12, 13/18; fedfix (dt 0.6) ceil(tau/dt)/3 =
    /// 2/3, 2/3, 1/3; fedbuff (c 2, the schedule above over 3 rounds: client 0 once, 1 twice,
    /// 2 three times) (1/3) / (count/3) = 1, 1/2, 1/3. The aggregate is sum d_i Delta_i.
    #[test]
    fn weights_are_the_papers() {
        let cases = [
            (
                "algorithm = \"async_fedavg\"",
                [13.0 / 9.0, 13.0 / 12.0, 13.0 / 18.0],
            ),
            (
                "algorithm = \"fedfix\"\nfedfix_interval = 0.6",
                [2.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0],
            ),
            ("algorithm = \"fedbuff\"\nrounds = 3", [1.0, 0.5, 1.0 / 3.0]),
            (
                "algorithm = \"fedbuff\"\nasync_weights = \"identical\"",
                [0.5, 0.5, 0.5],
            ),
        ];
        for (text, expected) in cases {
            let config = config(&format!("{text}\ncompute_spread = 0.5\nfedbuff_size = 2"));
            let clock = AsyncClock::new(&config, ComputeTimes::new(&config, 0));
            let rule = AsyncWeights::new(&config, &clock);
            for (i, e) in expected.iter().enumerate() {
                assert!(
                    (rule.weight(i) - e).abs() < 1e-12,
                    "{text}: {i} {}",
                    rule.weight(i)
                );
            }
        }
        let config = config("algorithm = \"async_fedavg\"\nasync_weights = \"identical\"");
        let clock = AsyncClock::new(&config, ComputeTimes::new(&config, 0));
        let mut rule = AsyncWeights::new(&config, &clock);
        let zero = weights(&[0.0], &[0.0]);
        let sum = rule
            .aggregate(
                &[0, 2],
                &[weights(&[1.5], &[0.0]), weights(&[2.0], &[0.0])],
                &zero,
            )
            .unwrap();
        assert_eq!(sum.get("w").unwrap().values, [3.5]);
    }

    /// Anarchic FL: each task's steps are keyed draws in 1..=local_steps, all of them drawn
    /// (2,000 tasks of 4 choices), and its time is tau_i K / local_steps.
    #[test]
    fn anarchic_clients_choose_their_steps() {
        let config = config("algorithm = \"afa_cd\"\nlocal_steps = 4\ncompute_spread = 0.5");
        let times = ComputeTimes::new(&config, 5);
        let mut seen = [0usize; 5];
        for version in 0..2000 {
            let k = times.steps(1, version, 4);
            seen[k] += 1;
            assert_eq!(times.task(1, version), 0.75 * k as f64 / 4.0);
            assert_eq!(k, ComputeTimes::new(&config, 5).steps(1, version, 4));
        }
        assert_eq!(seen[0], 0);
        assert!(seen[1..].iter().all(|&n| n.abs_diff(500) < 90), "{seen:?}");
        let plain = ComputeTimes::new(&self::config("local_steps = 4"), 5);
        assert_eq!(plain.steps(1, 7, 4), 4);
    }

    /// Jittered times are keyed, positive and average to tau_i (mean-one factor; 4,000
    /// draws of s = 0.5 have a relative sd of sqrt(e^0.25 - 1) / sqrt(4000) = 0.85%).
    #[test]
    fn jitter_keeps_the_mean_time() {
        let config = config("compute_spread = 0.5\ncompute_jitter = 0.5");
        let times = ComputeTimes::new(&config, 3);
        let draws: Vec<f64> = (0..4000).map(|v| times.task(1, v)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean / 0.75 - 1.0).abs() < 0.035, "{mean}");
        assert!(draws.iter().all(|&t| t > 0.0));
        assert_eq!(times.task(1, 17), ComputeTimes::new(&config, 3).task(1, 17));
    }
}
