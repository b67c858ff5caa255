//! FedAU (Wang and Ji, "A Lightweight Method for Tackling Unknown Participation Statistics in
//! Federated Averaging", ICLR 2024; IBM/fedau's `adaptive` weighting): the server does not
//! know how often each client takes part, so it estimates it online. For every client it
//! records the intervals between participations; a participant's update is weighted by the
//! mean of its intervals so far, omega_n (1 before any), and the server steps on
//! (1/N) sum over participants omega_n Delta_n. Each round, per client:
//!
//! ```text
//! participates: use omega_n; intervals_n.push(c_n + 1); c_n = 0
//! otherwise:    c_n += 1; if c_n >= K: intervals_n.push(c_n); c_n = 0
//! ```
//!
//! with the cutoff K (`fedau_cutoff`, none by default) bounding the weight of clients that
//! stop taking part. The mean needs only the intervals' sum and count, so the state is three
//! integers per client.

use super::aggregator::{Aggregator, ReadState, weighted_sum};
use crate::train::Weights;
use serde::{Deserialize, Serialize};

const STATE_FILE: &str = "fedau.json";

pub struct FedAu {
    clients: usize,
    cutoff: Option<usize>,
    state: Intervals,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Intervals {
    /// Rounds since the client last took part (or since its last cut-off interval).
    absent: Vec<u64>,
    /// Sum and number of the recorded intervals.
    sum: Vec<u64>,
    count: Vec<u64>,
}

impl FedAu {
    pub fn new(clients: usize, cutoff: Option<usize>) -> Self {
        Self {
            clients,
            cutoff,
            state: Intervals {
                absent: vec![0; clients],
                sum: vec![0; clients],
                count: vec![0; clients],
            },
        }
    }

    /// omega_n: the mean recorded interval, 1 before the first.
    pub fn weight(&self, client: usize) -> f64 {
        match self.state.count[client] {
            0 => 1.0,
            count => self.state.sum[client] as f64 / count as f64,
        }
    }

    fn record(&mut self, client: usize, interval: u64) {
        self.state.sum[client] += interval;
        self.state.count[client] += 1;
        self.state.absent[client] = 0;
    }
}

impl Aggregator for FedAu {
    fn aggregate(
        &mut self,
        participants: &[usize],
        deltas: &[Weights],
        zero: &Weights,
    ) -> anyhow::Result<Weights> {
        let items: Vec<(&Weights, f32)> = participants
            .iter()
            .zip(deltas)
            .map(|(&n, delta)| (delta, self.weight(n) as f32))
            .collect();
        let sum = weighted_sum(&items, zero)?;
        let mut taking_part = participants.iter().copied().peekable();
        for n in 0..self.clients {
            if taking_part.next_if_eq(&n).is_some() {
                let interval = self.state.absent[n] + 1;
                self.record(n, interval);
                continue;
            }
            self.state.absent[n] += 1;
            let absent = self.state.absent[n];
            if self.cutoff.is_some_and(|k| absent >= k as u64) {
                self.record(n, absent);
            }
        }
        Ok(sum.scale((1.0 / self.clients as f64) as f32))
    }

    fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        Ok(vec![(STATE_FILE, serde_json::to_vec(&self.state)?)])
    }

    fn restore(&mut self, read: &mut ReadState, _reference: &Weights) -> anyhow::Result<()> {
        let bytes = read(STATE_FILE)?
            .ok_or_else(|| anyhow::anyhow!("the checkpoint has no {STATE_FILE} (FedAU state)"))?;
        let state: Intervals = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{STATE_FILE}: not FedAU's interval state: {e}"))?;
        anyhow::ensure!(
            [&state.absent, &state.sum, &state.count]
                .iter()
                .all(|v| v.len() == self.clients),
            "{STATE_FILE}: state for a different number of clients than federated.clients = {}",
            self.clients
        );
        self.state = state;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        3 * 8 * self.clients
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::fedavg::tests::weights;

    /// One client's weights over rounds it takes part in (P) or not (.), by hand:
    ///
    /// without a cutoff, P . . P . P: omega = 1 (no interval yet), then mean[1] = 1, then
    /// mean[1, 3] = 2; the last participation records 2.
    /// with K = 2, P . . P . P: the two absences are cut into an interval of 2, so the
    /// second participation has omega = mean[1, 2] = 1.5 and records 1 (c was reset), the
    /// third mean[1, 2, 1] = 4/3.
    #[test]
    fn weights_follow_the_intervals_by_hand() {
        let pattern = [true, false, false, true, false, true];
        for (cutoff, expected) in [
            (None, vec![1.0, 1.0, 2.0]),
            (Some(2), vec![1.0, 1.5, 4.0 / 3.0]),
        ] {
            let mut fedau = FedAu::new(1, cutoff);
            let zero = weights(&[0.0], &[0.0]);
            let delta = weights(&[6.0], &[0.0]);
            let mut seen = vec![];
            for &takes_part in &pattern {
                let participants: &[usize] = if takes_part { &[0] } else { &[] };
                let deltas = if takes_part {
                    vec![delta.clone()]
                } else {
                    vec![]
                };
                let omega = fedau.weight(0);
                let update = fedau.aggregate(participants, &deltas, &zero).unwrap();
                if takes_part {
                    seen.push(omega);
                    // N = 1: the update is omega * Delta.
                    assert_eq!(update.get("w").unwrap().values, [(omega * 6.0) as f32]);
                } else {
                    assert_eq!(update.get("w").unwrap().values, [0.0]);
                }
            }
            assert_eq!(seen, expected, "cutoff {cutoff:?}");
        }
    }

    /// Two of N = 4 clients: (1/4)(omega_1 Delta_1 + omega_3 Delta_3), with omega_3 = 3 after
    /// client 3 took part in round 0 and then every third round.
    #[test]
    fn averages_weighted_updates_over_all_clients() {
        let mut fedau = FedAu::new(4, None);
        let zero = weights(&[0.0], &[0.0]);
        let d = |x: f32| weights(&[x], &[0.0]);
        fedau.aggregate(&[3], &[d(1.0)], &zero).unwrap();
        fedau.aggregate(&[], &[], &zero).unwrap();
        fedau.aggregate(&[], &[], &zero).unwrap();
        fedau.aggregate(&[3], &[d(1.0)], &zero).unwrap();
        assert_eq!(fedau.weight(3), 2.0); // mean[1, 3]
        let update = fedau.aggregate(&[1, 3], &[d(4.0), d(8.0)], &zero).unwrap();
        // omega_1 = 1 (first time), omega_3 = mean[1, 3] = 2: (4 + 16) / 4 = 5.
        assert_eq!(update.get("w").unwrap().values, [5.0]);
        let saved = fedau.save().unwrap();
        let mut restored = FedAu::new(4, None);
        let mut read = |name: &str| Ok(saved.iter().find(|f| f.0 == name).map(|f| f.1.clone()));
        restored.restore(&mut read, &zero).unwrap();
        assert_eq!(restored.state, fedau.state);
        let mut wrong = FedAu::new(5, None);
        assert!(wrong.restore(&mut read, &zero).is_err());
    }
}
