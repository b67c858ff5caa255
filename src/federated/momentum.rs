//! FedAvg-M and SCAFFOLD-M (Cheng, Huang, Wu and Yuan, "Momentum Benefits Non-IID Federated
//! Learning Simply and Provably", ICLR 2024; no official code, rebuilt from the paper's
//! recursions in ../shared/references/federated.md). Clients mix each minibatch gradient
//! with the server's momentum direction g^r before their SGD step (step size eta):
//!
//! ```text
//! FedAvg-M:   d = beta grad + (1 - beta) g^r
//! SCAFFOLD-M: d = beta (grad - c_i + c) + (1 - beta) g^r;  afterwards c_i+ = mean of grad
//! x_i <- x_i - eta d   (K times)
//! server:     g^{r+1} = (1 / (eta S K)) sum over participants (x^r - x_i^K)
//!             x^{r+1} = x^r - gamma g^{r+1}   (FedAvg's step: server_lr = gamma / (eta K))
//!             c <- c + (1/N) sum over participants (c_i+ - c_i);  c_i <- c_i+
//! ```
//!
//! The first round has no g^0: its clients use d = grad (FedAvg-M) or grad - c_i + c. The
//! state (g, c and every client's c_i, model-sized each; the c_i in memory or on disk,
//! [`ClientStates`]) is saved in the federated checkpoint.

use super::client_states::{ClientStates, StateFiles, StateStorage};
use super::keyed_weights;
use crate::config::federated::{AlgorithmName, FederatedConfig};
use crate::train::{StepReport, TensorKind, Trainer, Weights};

const DIRECTION_FILE: &str = "momentum_direction.safetensors";
const CONTROL_FILE: &str = "control.safetensors";
pub(crate) const CLIENT_CONTROLS: StateFiles = StateFiles {
    memory: "client_controls.safetensors",
    index: "client_controls.index.json",
};

/// The client-side momentum of FedAvg-M and SCAFFOLD-M and the server state it needs.
pub struct ClientMomentum {
    scaffold: bool,
    beta: f32,
    /// The clients' SGD step size eta (`optimizer.lr`, scaled by nothing: validation
    /// requires lr_scaling = "none" and a constant schedule).
    lr: f64,
    local_steps: usize,
    clients: usize,
    /// g^r: None before the first round.
    direction: Option<Weights>,
    /// SCAFFOLD-M's server control variate c and the clients' c_i (zero when absent).
    control: Option<Weights>,
    client_controls: ClientStates,
}

impl ClientMomentum {
    /// The momentum of `config.algorithm`, None for algorithms without it.
    pub fn new(config: &FederatedConfig, lr: f64, storage: &StateStorage) -> Option<Self> {
        let scaffold = match config.algorithm {
            AlgorithmName::FedavgM => false,
            AlgorithmName::ScaffoldM => true,
            _ => return None,
        };
        Some(Self {
            scaffold,
            beta: config.momentum_beta as f32,
            lr,
            local_steps: config.local_steps,
            clients: config.clients,
            direction: None,
            control: None,
            client_controls: ClientStates::new(storage, CLIENT_CONTROLS),
        })
    }

    /// Whether clients send a new control variate (SCAFFOLD-M).
    pub fn has_controls(&self) -> bool {
        self.scaffold
    }

    /// Client `client`'s local steps on `trainer` (which holds the server's weights): the
    /// step reports, and with SCAFFOLD-M its new control variate c_i+ (else None).
    pub fn train(
        &self,
        trainer: &mut Trainer,
        client: usize,
    ) -> anyhow::Result<(Vec<StepReport>, Option<Weights>)> {
        let mut reports = Vec::with_capacity(self.local_steps);
        let mut gradient_sum: Option<Weights> = None;
        let client_control = match self.scaffold {
            true => self.client_controls.get(client)?,
            false => None,
        };
        for _ in 0..self.local_steps {
            let (gradient, _) = trainer.gradients()?;
            let mut corrected = gradient.clone();
            if self.scaffold {
                if let Some(c) = &self.control {
                    corrected = corrected.add(c)?;
                }
                if let Some(c_i) = &client_control {
                    corrected = corrected.sub(c_i)?;
                }
                gradient_sum = Some(match gradient_sum {
                    None => gradient,
                    Some(sum) => sum.add(&gradient)?,
                });
            }
            let step = match &self.direction {
                Some(g) => corrected.scale(self.beta).add(&g.scale(1.0 - self.beta))?,
                None => corrected,
            };
            reports.push(trainer.apply_gradients(&step)?);
        }
        let control = gradient_sum.map(|sum| sum.scale((1.0 / self.local_steps as f64) as f32));
        Ok((reports, control))
    }

    /// The server's side after a round: g^{r+1} from the participants' updates Delta_i =
    /// x_i^K - x^r, and with SCAFFOLD-M the control variates from their c_i+.
    pub fn finish_round(
        &mut self,
        participants: &[usize],
        deltas: &[Weights],
        controls: &[Weights],
    ) -> anyhow::Result<()> {
        if participants.is_empty() {
            return Ok(());
        }
        let mut sum = deltas[0].only(TensorKind::Parameter);
        for delta in &deltas[1..] {
            sum = sum.add(&delta.only(TensorKind::Parameter))?;
        }
        let scale = -1.0 / (self.lr * (participants.len() * self.local_steps) as f64);
        self.direction = Some(sum.scale(scale as f32));
        if self.scaffold {
            let zero = || controls[0].scale(0.0);
            let mut change = zero();
            for (&client, new) in participants.iter().zip(controls) {
                let old = self.client_controls.get(client)?.unwrap_or_else(zero);
                change = change.add(&new.sub(&old)?)?;
                self.client_controls.insert(client, new.clone())?;
            }
            let change = change.scale((1.0 / self.clients as f64) as f32);
            self.control = Some(match self.control.take() {
                None => change,
                Some(c) => c.add(&change)?,
            });
        }
        Ok(())
    }

    /// The checkpoint files of the state.
    pub fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        let mut files = Vec::new();
        if let Some(g) = &self.direction {
            files.push((DIRECTION_FILE, g.to_safetensors_bytes()?));
        }
        if let Some(c) = &self.control {
            files.push((CONTROL_FILE, c.to_safetensors_bytes()?));
        }
        files.extend(self.client_controls.save()?);
        Ok(files)
    }

    /// Restores [`ClientMomentum::save`]'s files (`read` gives a file's verified bytes).
    pub fn restore(
        &mut self,
        read: &mut super::aggregator::ReadState,
        reference: &Weights,
    ) -> anyhow::Result<()> {
        let parameters = reference.only(TensorKind::Parameter);
        self.direction = keyed_weights::read_parameters(read, DIRECTION_FILE, &parameters)?;
        self.control = keyed_weights::read_parameters(read, CONTROL_FILE, &parameters)?;
        self.client_controls
            .restore(read, &parameters, self.clients)
    }

    /// Bytes of per-client state (the clients' control variates).
    pub fn state_bytes(&self) -> usize {
        self.client_controls.state_bytes()
    }
}
