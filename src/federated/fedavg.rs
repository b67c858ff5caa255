//! FedAvg's server step (McMahan et al., 2017; the aggregates of IBM/fedau): with
//! Delta_n = x_n - x the change client n made in its local steps,
//! x <- x + server_lr * A, where A = (1/|S|) sum over participants (`participants`) or
//! (1/N) sum over participants, non-participants adding nothing (`all`). Parameters follow
//! this rule; buffers (batch-norm running statistics) are not trained by gradients, so the
//! server takes their plain average over the participants.

use crate::config::federated::AggregationName;
use crate::train::{TensorKind, Weights};

/// The server weights after one round with a plain server step (x + server_lr * Delta).
/// `updates` are the participants' weights after their local steps, in ascending client
/// order (the order fixes the float sums).
pub fn aggregate(
    server: &Weights,
    updates: &[Weights],
    clients: usize,
    rule: AggregationName,
    server_lr: f64,
) -> anyhow::Result<Weights> {
    let delta = average_delta(server, updates, clients, rule)?;
    with_buffer_mean(server.add(&delta.scale(server_lr as f32))?, updates)
}

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
    /// participants, lr 1: [1, 2] + [0.5, 2] = [1.5, 4]; all of N = 4, lr 2:
    /// [1, 2] + 2 * [0.25, 1] = [1.5, 4]; lr 0.5 over participants: [1.25, 3].
    /// Buffers: the participants' mean, [0.5] from [0] and [1].
    #[test]
    fn matches_the_update_by_hand() {
        let server = weights(&[1.0, 2.0], &[9.0]);
        let updates = [weights(&[2.0, 2.0], &[0.0]), weights(&[1.0, 6.0], &[1.0])];
        for (rule, clients, lr, expected) in [
            (AggregationName::Participants, 4, 1.0, [1.5, 4.0]),
            (AggregationName::All, 4, 2.0, [1.5, 4.0]),
            (AggregationName::Participants, 4, 0.5, [1.25, 3.0]),
        ] {
            let next = aggregate(&server, &updates, clients, rule, lr).unwrap();
            assert_eq!(next.get("w").unwrap().values, expected, "{rule:?} lr {lr}");
            assert_eq!(next.get("bn.running_mean").unwrap().values, [0.5]);
        }
    }
}
