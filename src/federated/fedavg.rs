//! FedAvg's aggregate (McMahan et al., 2017; the aggregates of IBM/fedau): with
//! Delta_n = x_n - x the change client n made in its local steps, the server steps on
//! A = (1/|S|) sum over participants (`participants`) or (1/N) sum over participants,
//! non-participants adding nothing (`all`), by its optimizer ([`super::server_optimizer`];
//! plain: x <- x + server_lr * A). Buffers (batch-norm running statistics) are not trained by
//! gradients, so the server takes their plain average over the participants.

use crate::config::federated::AggregationName;
use crate::train::{TensorKind, Weights};

/// The averaged update Delta: (1/|S|) or (1/N) times the sum of `update - server`, summed in
/// the order of `updates`.
pub fn average_delta(
    server: &Weights,
    updates: &[Weights],
    clients: usize,
    rule: AggregationName,
) -> anyhow::Result<Weights> {
    anyhow::ensure!(!updates.is_empty(), "a round without participants");
    let mut sum = updates[0].sub(server)?;
    for update in &updates[1..] {
        sum = sum.add(&update.sub(server)?)?;
    }
    let divisor = match rule {
        AggregationName::Participants => updates.len(),
        AggregationName::All => clients,
    };
    Ok(sum.scale((1.0 / divisor as f64) as f32))
}

/// `next` with its buffers replaced by the participants' mean.
pub fn with_buffer_mean(next: Weights, updates: &[Weights]) -> anyhow::Result<Weights> {
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
mod tests {
    use super::*;
    use crate::train::WeightTensor;

    fn weights(parameter: &[f32], buffer: &[f32]) -> Weights {
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

    /// By hand: server w = [1, 2]; clients end at [2, 2] and [1, 6] (deltas [1, 0], [0, 4]).
    /// Over participants: [0.5, 2]; over all of N = 4: [0.25, 1]. Buffers: the participants'
    /// mean, [0.5] from [0] and [1].
    #[test]
    fn matches_the_update_by_hand() {
        let server = weights(&[1.0, 2.0], &[9.0]);
        let updates = [weights(&[2.0, 2.0], &[0.0]), weights(&[1.0, 6.0], &[1.0])];
        for (rule, expected) in [
            (AggregationName::Participants, [0.5, 2.0]),
            (AggregationName::All, [0.25, 1.0]),
        ] {
            let delta = average_delta(&server, &updates, 4, rule).unwrap();
            assert_eq!(delta.get("w").unwrap().values, expected, "{rule:?}");
        }
        let next = with_buffer_mean(server.clone(), &updates).unwrap();
        assert_eq!(next.get("w").unwrap().values, [1.0, 2.0]);
        assert_eq!(next.get("bn.running_mean").unwrap().values, [0.5]);
    }
}
