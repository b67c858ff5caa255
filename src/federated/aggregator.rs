//! The server's rule for turning a round's client updates into one update: each algorithm
//! ([`super::fedavg`], [`super::fedau`], [`super::mifa`]) implements [`Aggregator`] in its
//! own file and may keep per-client state, which the federated checkpoint saves.

use super::client_states::StateStorage;
use super::clock::{AsyncClock, AsyncWeights};
use super::{fedau::FedAu, fedavg::FedAvg, mifa::Mifa};
pub use crate::aggregate::mean::weighted_sum;
use crate::config::federated::{AggregationName, AlgorithmName, FederatedConfig};
use crate::train::Weights;

/// Reads a file of the checkpoint being restored (its verified bytes, None if absent).
pub type ReadState<'a> = dyn FnMut(&str) -> anyhow::Result<Option<Vec<u8>>> + 'a;

pub trait Aggregator {
    /// The averaged update from this round's `participants` (ascending, possibly none) and
    /// their updates Delta_n = x_n - x (same order); `zero` is a zero update of the model's
    /// shape. Advances the rule's per-client state by one round.
    fn aggregate(
        &mut self,
        participants: &[usize],
        deltas: &[Weights],
        zero: &Weights,
    ) -> anyhow::Result<Weights>;

    /// The per-client state as named checkpoint files (none for stateless rules).
    fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        Ok(Vec::new())
    }

    /// Restores what [`Aggregator::save`] wrote; `reference` tags tensors as the model's.
    fn restore(&mut self, _read: &mut ReadState, _reference: &Weights) -> anyhow::Result<()> {
        Ok(())
    }

    /// Bytes of per-client state (in memory or on disk).
    fn state_bytes(&self) -> usize {
        0
    }
}

/// The rule `config.algorithm` names; `probabilities` are the clients' participation
/// probabilities (FedAvg's `known_probability` divides by them), `clock` the asynchronous
/// schedule (its rules' weights depend on it), `storage` where per-client updates live.
pub fn build(
    config: &FederatedConfig,
    probabilities: Vec<f64>,
    clock: Option<&AsyncClock>,
    storage: &StateStorage,
) -> anyhow::Result<Box<dyn Aggregator>> {
    Ok(match config.algorithm {
        // FedAvg-M and SCAFFOLD-M average over participants; their momentum acts in the
        // clients' steps (super::momentum).
        // (SCALLION and SCAFCOM step the server themselves: super::scallion.)
        AlgorithmName::FedavgM
        | AlgorithmName::ScaffoldM
        | AlgorithmName::Scallion
        | AlgorithmName::Scafcom => Box::new(FedAvg {
            rule: AggregationName::Participants,
            clients: config.clients,
            probabilities,
        }),
        AlgorithmName::Fedavg => Box::new(FedAvg {
            rule: config.aggregation.unwrap_or_default(),
            clients: config.clients,
            probabilities,
        }),
        AlgorithmName::Fedau => Box::new(FedAu::new(config.clients, config.fedau_cutoff)),
        AlgorithmName::Mifa => Box::new(Mifa::new(config.clients, storage)),
        // Anarchic FL steps on G_i = Delta_i / K_i (the simulator divides): AFA-CD averages
        // the m arrivals, AFA-CS the latest G of every client (as MIFA).
        AlgorithmName::AfaCd => Box::new(FedAvg {
            rule: AggregationName::Participants,
            clients: config.clients,
            probabilities,
        }),
        AlgorithmName::AfaCs => Box::new(Mifa::new(config.clients, storage)),
        AlgorithmName::AsyncFedavg | AlgorithmName::Fedfix | AlgorithmName::Fedbuff => {
            let clock = clock.ok_or_else(|| {
                anyhow::anyhow!("{:?} needs the asynchronous clock", config.algorithm)
            })?;
            Box::new(AsyncWeights::new(config, clock))
        }
    })
}

/// The divisor `rule` uses with `participants` of `clients` (FedAvg's plain rules).
pub(crate) fn divisor(rule: AggregationName, participants: usize, clients: usize) -> usize {
    match rule {
        AggregationName::Participants => participants,
        AggregationName::All | AggregationName::KnownProbability => clients,
    }
}
