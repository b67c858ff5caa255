//! SCALLION and SCAFCOM (Huang, Li, Yuan et al., "Stochastic Controlled Averaging for
//! Federated Learning with Communication Compression", ICLR 2024; no official code, rebuilt
//! from the paper's recursions in ../shared/references/federated.md). Clients take SCAFFOLD's
//! corrected steps and upload one compressed vector per round:
//!
//! ```text
//! local:    y <- y - eta (grad - c_i + c)   (K times from x);  g_i = (x - y_K)/(eta K) + c_i - c
//! SCALLION: d_i = C(g_i - c_i);                         c_i <- c_i + alpha d_i
//! SCAFCOM:  v_i <- (1 - beta) v_i + beta g_i;  d_i = C(v_i - c_i);  c_i <- c_i + d_i
//! server:   x <- x - server_lr eta K (c + mean over participants of d_i)
//!           c <- c + (alpha / N) sum over participants of d_i      (SCAFCOM: alpha = 1)
//! ```
//!
//! C is the run's `compressor` (SCALLION needs an unbiased one: randk, qsgd or none; SCAFCOM
//! takes any). alpha defaults to 1/(1 + omega) with omega the compressor's variance bound
//! (random-k: d/k - 1; QSGD: min(d/s^2, sqrt(d)/s)). The state (c, every client's c_i and
//! SCAFCOM's v_i, the latter two in memory or on disk: [`ClientStates`]) is saved in the
//! federated checkpoint.

use super::client_states::{ClientStates, StateFiles, StateStorage};
use super::compress::CompressorSpec;
use super::keyed_weights;
use super::momentum::CLIENT_CONTROLS;
use crate::config::federated::{AlgorithmName, CompressorName, FederatedConfig};
use crate::train::{StepReport, TensorKind, Trainer, Weights};

const CONTROL_FILE: &str = "control.safetensors";
const CLIENT_MOMENTA: StateFiles = StateFiles {
    memory: "client_momenta.safetensors",
    index: "client_momenta.index.json",
};

pub struct CompressedControl {
    scafcom: bool,
    compressor: CompressorSpec,
    alpha: Option<f64>,
    beta: f32,
    lr: f64,
    local_steps: usize,
    clients: usize,
    seed: u64,
    control: Option<Weights>,
    client_controls: ClientStates,
    client_momenta: ClientStates,
}

/// What the server takes from a round: its step (to add with server_lr) and the bytes sent.
pub struct ControlledStep {
    pub delta: Weights,
    pub bytes: usize,
}

impl CompressedControl {
    /// SCALLION or SCAFCOM for `config.algorithm` (None for others); `lr` is eta.
    pub fn new(
        config: &FederatedConfig,
        lr: f64,
        seed: u64,
        storage: &StateStorage,
    ) -> Option<Self> {
        let scafcom = match config.algorithm {
            AlgorithmName::Scallion => false,
            AlgorithmName::Scafcom => true,
            _ => return None,
        };
        Some(Self {
            scafcom,
            compressor: CompressorSpec::of(config),
            alpha: config.scallion_alpha,
            beta: config.momentum_beta as f32,
            lr,
            local_steps: config.local_steps,
            clients: config.clients,
            seed,
            control: None,
            client_controls: ClientStates::new(storage, CLIENT_CONTROLS),
            client_momenta: ClientStates::new(storage, CLIENT_MOMENTA),
        })
    }

    /// alpha: the configured one, else 1/(1 + omega) for `d` values (SCAFCOM: 1).
    fn alpha(&self, d: usize) -> f64 {
        if self.scafcom {
            return 1.0;
        }
        self.alpha.unwrap_or_else(|| {
            let omega = match self.compressor.kind {
                CompressorName::Randk => {
                    let k = (self.compressor.ratio * d as f64).ceil().max(1.0);
                    d as f64 / k - 1.0
                }
                CompressorName::Qsgd => {
                    let s = f64::from(self.compressor.levels);
                    (d as f64 / (s * s)).min((d as f64).sqrt() / s)
                }
                _ => 0.0,
            };
            1.0 / (1.0 + omega)
        })
    }

    /// Client `client`'s K corrected SGD steps on `trainer` (holding the server's weights).
    pub fn train(&self, trainer: &mut Trainer, client: usize) -> anyhow::Result<Vec<StepReport>> {
        let client_control = self.client_controls.get(client)?;
        (0..self.local_steps)
            .map(|_| {
                let (mut step, _) = trainer.gradients()?;
                if let Some(c) = &self.control {
                    step = step.add(c)?;
                }
                if let Some(c_i) = &client_control {
                    step = step.sub(c_i)?;
                }
                trainer.apply_gradients(&step)
            })
            .collect()
    }

    /// The server's side of a round from the participants' updates Delta_i = y_K - x:
    /// compresses their uploads (keyed by seed, round, client), updates the control
    /// variates and returns the server's step.
    pub fn aggregate(
        &mut self,
        round: usize,
        participants: &[usize],
        deltas: &[Weights],
        zero: &Weights,
    ) -> anyhow::Result<ControlledStep> {
        let zero = zero.only(TensorKind::Parameter);
        let (eta_k, n) = (self.lr * self.local_steps as f64, self.clients as f64);
        let d = zero.num_values();
        let alpha = self.alpha(d);
        let c = self.control.clone().unwrap_or_else(|| zero.clone());
        let mut sum = zero.clone();
        let mut bytes = 0;
        for (&client, delta) in participants.iter().zip(deltas) {
            let c_i = self
                .client_controls
                .get(client)?
                .unwrap_or_else(|| zero.clone());
            let g_i = delta
                .only(TensorKind::Parameter)
                .scale((-1.0 / eta_k) as f32)
                .add(&c_i)?
                .sub(&c)?;
            let target = match self.scafcom {
                false => g_i.sub(&c_i)?,
                true => {
                    let v = match self.client_momenta.get(client)? {
                        Some(v) => v.scale(1.0 - self.beta).add(&g_i.scale(self.beta))?,
                        None => g_i.scale(self.beta),
                    };
                    self.client_momenta.insert(client, v.clone())?;
                    v.sub(&c_i)?
                }
            };
            let (d_i, sent_bytes) = self.compressor.send(self.seed, round, client, &target);
            bytes += sent_bytes;
            self.client_controls
                .insert(client, c_i.add(&d_i.scale(alpha as f32))?)?;
            sum = sum.add(&d_i)?;
        }
        if participants.is_empty() {
            return Ok(ControlledStep {
                delta: zero,
                bytes: 0,
            });
        }
        let mean = sum.scale((1.0 / participants.len() as f64) as f32);
        let delta = c.add(&mean)?.scale((-eta_k) as f32);
        self.control = Some(c.add(&sum.scale((alpha / n) as f32))?);
        Ok(ControlledStep { delta, bytes })
    }

    pub fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        let mut files = Vec::new();
        if let Some(c) = &self.control {
            files.push((CONTROL_FILE, c.to_safetensors_bytes()?));
        }
        files.extend(self.client_controls.save()?);
        files.extend(self.client_momenta.save()?);
        Ok(files)
    }

    pub fn restore(
        &mut self,
        read: &mut super::aggregator::ReadState,
        reference: &Weights,
    ) -> anyhow::Result<()> {
        let parameters = reference.only(TensorKind::Parameter);
        self.control = keyed_weights::read_parameters(read, CONTROL_FILE, &parameters)?;
        self.client_controls
            .restore(read, &parameters, self.clients)?;
        self.client_momenta.restore(read, &parameters, self.clients)
    }

    pub fn state_bytes(&self) -> usize {
        self.client_controls.state_bytes() + self.client_momenta.state_bytes()
    }
}
