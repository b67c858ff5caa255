//! What the server keeps between rounds besides its model: its optimizer's moments, the
//! rule's per-client state, the clients' momentum or control variates, error-feedback
//! memories and the older models asynchronous clients still work from. A checkpoint saves
//! it as one set of files and a resume restores it whole.

use super::aggregator::{self, Aggregator};
use super::client_states::StateStorage;
use super::clock::AsyncClock;
use super::compress::Uploads;
use super::keyed_weights;
use super::momentum::ClientMomentum;
use super::scallion::CompressedControl;
use super::server_optimizer::ServerOptimizer;
use crate::config::federated::FederatedConfig;
use crate::train::Weights;
use crate::train::checkpoint::read_if_listed;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;

/// The server optimizer's first and second moments, when it has them.
const MOMENT_FILES: [&str; 2] = ["server_m.safetensors", "server_v.safetensors"];
/// Older server models that asynchronous clients are still working from.
const VERSIONS_FILE: &str = "versions.safetensors";

pub struct ServerState {
    pub optimizer: ServerOptimizer,
    pub rule: Box<dyn Aggregator>,
    /// FedAvg-M and SCAFFOLD-M.
    pub momentum: Option<ClientMomentum>,
    /// SCALLION and SCAFCOM.
    pub scallion: Option<CompressedControl>,
    pub uploads: Uploads,
    /// Server models older than the current one that asynchronous clients work from.
    pub versions: BTreeMap<usize, Weights>,
    /// Where the model-sized per-client state lives.
    pub storage: StateStorage,
}

impl ServerState {
    /// The fresh state of `fed`'s algorithm: `lr` the clients' step size, `known` the
    /// participation probabilities, `clock` the asynchronous schedule.
    pub fn new(
        fed: &FederatedConfig,
        lr: f64,
        seed: u64,
        known: Vec<f64>,
        clock: Option<&AsyncClock>,
        storage: StateStorage,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            optimizer: ServerOptimizer::new(fed),
            rule: aggregator::build(fed, known, clock, &storage)?,
            momentum: ClientMomentum::new(fed, lr, &storage),
            scallion: CompressedControl::new(fed, lr, seed, &storage),
            uploads: Uploads::new(fed, seed, &storage),
            versions: BTreeMap::new(),
            storage,
        })
    }

    /// The checkpoint files of the state (not the server model).
    pub fn files(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        let mut files = self.rule.save()?;
        if let Some(momentum) = &self.momentum {
            files.extend(momentum.save()?);
        }
        if let Some(scallion) = &self.scallion {
            files.extend(scallion.save()?);
        }
        files.extend(self.uploads.save()?);
        if !self.versions.is_empty() {
            files.push((VERSIONS_FILE, keyed_weights::pack(&self.versions)?));
        }
        for (name, moment) in MOMENT_FILES
            .iter()
            .zip([&self.optimizer.m, &self.optimizer.v])
        {
            if let Some(moment) = moment {
                files.push((name, moment.to_safetensors_bytes()?));
            }
        }
        Ok(files)
    }

    /// Restores [`ServerState::files`] from checkpoint `dir` of round `round` (every file
    /// verified against the manifest); `reference` tags tensors as the model's.
    pub fn restore(&mut self, dir: &Path, reference: &Weights, round: usize) -> anyhow::Result<()> {
        let mut read = |name: &str| read_if_listed(dir, name);
        let whole = |name: &str, bytes: Vec<u8>| -> anyhow::Result<Weights> {
            Ok(Weights::from_safetensors_bytes(&bytes, &dir.join(name))?.with_kinds_of(reference))
        };
        let [m, v] = MOMENT_FILES;
        self.optimizer.m = read(m)?.map(|bytes| whole(m, bytes)).transpose()?;
        self.optimizer.v = read(v)?.map(|bytes| whole(v, bytes)).transpose()?;
        let at = || dir.display();
        self.rule
            .restore(&mut read, reference)
            .with_context(|| format!("restoring the server's rule from {}", at()))?;
        if let Some(momentum) = &mut self.momentum {
            momentum
                .restore(&mut read, reference)
                .with_context(|| format!("restoring the clients' momentum from {}", at()))?;
        }
        if let Some(scallion) = &mut self.scallion {
            scallion
                .restore(&mut read, reference)
                .with_context(|| format!("restoring control variates from {}", at()))?;
        }
        self.uploads
            .restore(&mut read, reference)
            .with_context(|| format!("restoring error-feedback memories from {}", at()))?;
        self.versions = match read(VERSIONS_FILE)? {
            None => BTreeMap::new(),
            Some(bytes) => keyed_weights::unpack(&bytes, VERSIONS_FILE, reference, round)
                .with_context(|| format!("{}", dir.join(VERSIONS_FILE).display()))?,
        };
        Ok(())
    }

    /// Bytes of model-sized state kept per client (in memory, or on disk with
    /// `client_state = "disk"`), and of the older server models (always in memory).
    pub fn client_state_bytes(&self) -> usize {
        self.rule.state_bytes()
            + self
                .momentum
                .as_ref()
                .map_or(0, ClientMomentum::state_bytes)
            + self.uploads.state_bytes()
            + self
                .scallion
                .as_ref()
                .map_or(0, CompressedControl::state_bytes)
            + self
                .versions
                .values()
                .map(|w| 4 * w.num_values())
                .sum::<usize>()
    }
}
