//! FedAvg's aggregates (McMahan et al., 2017; the `average_participating`, `average_all` and
//! `known_prob` weightings of IBM/fedau): with Delta_n = x_n - x the change client n made in
//! its local steps, the server steps on A = (1/|S|) sum over participants (`participants`),
//! (1/N) sum over participants, non-participants adding nothing (`all`), or
//! (1/N) sum Delta_n / p_n with the clients' true participation probabilities
//! (`known_probability`, unbiased but needs p_n), by its optimizer
//! ([`super::server_optimizer`]; plain: x <- x + server_lr * A). Buffers (batch-norm running
//! statistics) are not trained by gradients, so the server takes their plain average over
//! the participants.

use super::aggregator::{Aggregator, divisor, weighted_sum};
use crate::config::federated::AggregationName;
use crate::train::{TensorKind, Weights};

pub struct FedAvg {
    pub rule: AggregationName,
    pub clients: usize,
    /// p_n, read by `known_probability`.
    pub probabilities: Vec<f64>,
}

impl Aggregator for FedAvg {
    fn aggregate(
        &mut self,
        participants: &[usize],
        deltas: &[Weights],
        zero: &Weights,
    ) -> anyhow::Result<Weights> {
        if participants.is_empty() {
            return Ok(zero.clone());
        }
        let factor = |n: usize| match self.rule {
            AggregationName::KnownProbability => (1.0 / self.probabilities[n]) as f32,
            _ => 1.0,
        };
        let items: Vec<(&Weights, f32)> = participants
            .iter()
            .zip(deltas)
            .map(|(&n, delta)| (delta, factor(n)))
            .collect();
        let sum = weighted_sum(&items, zero)?;
        let divisor = divisor(self.rule, participants.len(), self.clients);
        Ok(sum.scale((1.0 / divisor as f64) as f32))
    }
}

/// `next` with its buffers replaced by the participants' mean (kept when none took part).
pub fn with_buffer_mean(next: Weights, updates: &[Weights]) -> anyhow::Result<Weights> {
    if updates.is_empty() {
        return Ok(next);
    }
    let refs: Vec<&Weights> = updates.iter().collect();
    let buffers = Weights::mean(&refs)?;
    let tensors = next.iter().map(|(name, tensor)| {
        let tensor = match tensor.kind {
            TensorKind::Parameter => tensor.clone(),
            TensorKind::Buffer => buffers.get(name).cloned().unwrap_or_else(|| tensor.clone()),
        };
        (name.to_string(), tensor)
    });
    Weights::from_tensors(tensors)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::train::WeightTensor;

    pub(crate) fn weights(parameter: &[f32], buffer: &[f32]) -> Weights {
        let tensor = |values: &[f32], kind| WeightTensor {
            shape: vec![values.len()],
            values: values.to_vec(),
            kind,
        };
        Weights::from_tensors([
            ("w".to_string(), tensor(parameter, TensorKind::Parameter)),
            (
                "bn.running_mean".to_string(),
                tensor(buffer, TensorKind::Buffer),
            ),
        ])
        .unwrap()
    }

    /// By hand: clients 1 and 3 of N = 4 send deltas [1, 0] and [0, 4]. Over participants:
    /// [0.5, 2]; over all: [0.25, 1]; with p_1 = 0.5, p_3 = 0.25: ([2, 0] + [0, 16]) / 4 =
    /// [0.5, 4]. No participants: zero. Buffers: the participants' mean, [0.5] from [0] and
    /// [1]. Exact in f32 (powers of two).
    #[test]
    fn matches_the_update_by_hand() {
        let deltas = [weights(&[1.0, 0.0], &[0.0]), weights(&[0.0, 4.0], &[0.0])];
        let zero = weights(&[0.0, 0.0], &[0.0]);
        for (rule, expected) in [
            (AggregationName::Participants, [0.5, 2.0]),
            (AggregationName::All, [0.25, 1.0]),
            (AggregationName::KnownProbability, [0.5, 4.0]),
        ] {
            let mut fedavg = FedAvg {
                rule,
                clients: 4,
                probabilities: vec![1.0, 0.5, 1.0, 0.25],
            };
            let delta = fedavg.aggregate(&[1, 3], &deltas, &zero).unwrap();
            assert_eq!(delta.get("w").unwrap().values, expected, "{rule:?}");
            let none = fedavg.aggregate(&[], &[], &zero).unwrap();
            assert_eq!(none.get("w").unwrap().values, [0.0, 0.0]);
        }
        let server = weights(&[1.0, 2.0], &[9.0]);
        let updates = [weights(&[2.0, 2.0], &[0.0]), weights(&[1.0, 6.0], &[1.0])];
        let next = with_buffer_mean(server.clone(), &updates).unwrap();
        assert_eq!(next.get("w").unwrap().values, [1.0, 2.0]);
        assert_eq!(next.get("bn.running_mean").unwrap().values, [0.5]);
        let kept = with_buffer_mean(server.clone(), &[]).unwrap();
        assert_eq!(kept.get("bn.running_mean").unwrap().values, [9.0]);
    }
}
