//! MIFA (Gu et al., "Fast Federated Learning in the Presence of Arbitrary Device
//! Unavailability", NeurIPS 2021; IBM/fedau's `mifa` weighting): the server remembers every
//! client's latest update (zero before its first) and steps on their mean over all N
//! clients, so a client that is away still counts with what it last sent. The state is one
//! parameter-sized update per client that has taken part, f32 in memory or on disk
//! ([`ClientStates`]; exact: the mean is recomputed from them each round in client order)
//! and checkpointed; its size is reported as `client_state_bytes`.

use super::aggregator::{Aggregator, ReadState};
use super::client_states::{ClientStates, StateFiles, StateStorage};
use crate::train::{TensorKind, Weights};

const FILES: StateFiles = StateFiles {
    memory: "mifa.safetensors",
    index: "mifa.index.json",
};

pub struct Mifa {
    clients: usize,
    /// The latest parameter update of each client that has taken part.
    latest: ClientStates,
}

impl Mifa {
    pub fn new(clients: usize, storage: &StateStorage) -> Self {
        Self {
            clients,
            latest: ClientStates::new(storage, FILES),
        }
    }
}

impl Aggregator for Mifa {
    fn aggregate(
        &mut self,
        participants: &[usize],
        deltas: &[Weights],
        zero: &Weights,
    ) -> anyhow::Result<Weights> {
        for (&n, delta) in participants.iter().zip(deltas) {
            self.latest.insert(n, delta.only(TensorKind::Parameter))?;
        }
        let sum = self.latest.sum(&zero.only(TensorKind::Parameter))?;
        Ok(sum.scale((1.0 / self.clients as f64) as f32))
    }

    fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        self.latest.save()
    }

    fn restore(&mut self, read: &mut ReadState, reference: &Weights) -> anyhow::Result<()> {
        let parameters = reference.only(TensorKind::Parameter);
        self.latest.restore(read, &parameters, self.clients)
    }

    fn state_bytes(&self) -> usize {
        self.latest.state_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::fedavg::tests::weights;

    /// By hand, N = 4: round 1 clients 0 and 2 send [4] and [8]: (4 + 8) / 4 = 3; round 2
    /// client 2 alone sends [-4]: (4 - 4) / 4 = 0; round 3 nobody: still 0; round 4 client 1
    /// sends [12]: (4 + 12 - 4) / 4 = 3. Buffers are not remembered. Exact in f32.
    #[test]
    fn averages_the_latest_update_of_every_client() {
        let run = tempfile::tempdir().unwrap();
        let storage = StateStorage::new(false, run.path(), 0).unwrap();
        let mut mifa = Mifa::new(4, &storage);
        let zero = weights(&[0.0], &[0.0]);
        let d = |x: f32| weights(&[x], &[5.0]);
        let mut step = |participants: &[usize], deltas: &[Weights]| {
            let update = mifa.aggregate(participants, deltas, &zero).unwrap();
            assert!(update.get("bn.running_mean").is_none());
            update.get("w").unwrap().values[0]
        };
        assert_eq!(step(&[0, 2], &[d(4.0), d(8.0)]), 3.0);
        assert_eq!(step(&[2], &[d(-4.0)]), 0.0);
        assert_eq!(step(&[], &[]), 0.0);
        assert_eq!(step(&[1], &[d(12.0)]), 3.0);
        assert_eq!(mifa.state_bytes(), 3 * 4);
        let saved = mifa.save().unwrap();
        let mut restored = Mifa::new(4, &storage);
        let mut read = |name: &str| Ok(saved.iter().find(|f| f.0 == name).map(|f| f.1.clone()));
        restored.restore(&mut read, &zero).unwrap();
        assert_eq!(restored.latest.clients(), [0, 1, 2]);
        assert_eq!(
            restored
                .aggregate(&[], &[], &zero)
                .unwrap()
                .get("w")
                .unwrap()
                .values,
            [3.0]
        );
        let mut fewer = Mifa::new(2, &storage);
        assert!(fewer.restore(&mut read, &zero).is_err());
    }
}
