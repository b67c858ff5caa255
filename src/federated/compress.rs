//! Compressed uploads: what a client sends in place of its parameter update, and how many
//! bytes that takes. On the flattened parameter vector v (d values):
//! - `topk`: the k = ceil(ratio d) largest |v_i| (ties: lower index), sent as (f32 value,
//!   u32 index) pairs: 8k bytes. Biased.
//! - `randk`: k indices drawn from a seed both sides know, values scaled by d/k so the
//!   expectation is v: 4k bytes and an 8-byte seed.
//! - `qsgd` (Alistarh et al., 2017) with s levels: ||v|| sign(v_i) xi_i / s, xi_i = l or l + 1
//!   for |v_i| s / ||v|| in [l, l + 1], rounded up with probability equal to the fraction,
//!   so unbiased: a 4-byte norm and 1 + ceil(log2(s + 1)) bits per value (fixed width, no
//!   entropy coding).
//! - `sign`: ||v||_1 / d sign(v_i) (v_i = 0 counts as +): a 4-byte scale and 1 bit per value.
//!
//! With error feedback each client keeps e_i, sends C(Delta_i + e_i) and keeps
//! e_i <- Delta_i + e_i - C(Delta_i + e_i). Draws are keyed by (seed, round, client).

use super::client_states::{ClientStates, StateFiles, StateStorage};
use crate::aggregate::unflatten;
use crate::config::federated::{CompressorName, FederatedConfig};
use crate::rng::{Rng, Stream};
use crate::train::{TensorKind, Weights};

const MEMORY: StateFiles = StateFiles {
    memory: "error_feedback.safetensors",
    index: "error_feedback.index.json",
};

/// A compressor's output, decompressed, and its size on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Compressed {
    pub values: Vec<f32>,
    pub bytes: usize,
}

/// `v` through compressor `kind` (`ratio` for topk and randk, `levels` for qsgd).
pub fn compress(
    kind: CompressorName,
    ratio: f64,
    levels: u32,
    v: &[f32],
    rng: &mut Rng,
) -> Compressed {
    let d = v.len();
    let k = ((ratio * d as f64).ceil() as usize).clamp(1.min(d), d);
    match kind {
        CompressorName::None => Compressed {
            values: v.to_vec(),
            bytes: 4 * d,
        },
        CompressorName::Topk => {
            let mut order: Vec<usize> = (0..d).collect();
            let larger = |a: &usize, b: &usize| v[*b].abs().total_cmp(&v[*a].abs()).then(a.cmp(b));
            if k < d {
                order.select_nth_unstable_by(k, larger);
            }
            let mut values = vec![0.0; d];
            order[..k].iter().for_each(|&i| values[i] = v[i]);
            Compressed {
                values,
                bytes: 8 * k,
            }
        }
        CompressorName::Randk => {
            let scale = (d as f64 / k as f64) as f32;
            let mut values = vec![0.0; d];
            rng.permutation(d)[..k]
                .iter()
                .for_each(|&i| values[i] = v[i] * scale);
            Compressed {
                values,
                bytes: 4 * k + 8,
            }
        }
        CompressorName::Qsgd => {
            let norm = v
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt();
            let s = f64::from(levels);
            let values = v
                .iter()
                .map(|&x| {
                    if norm == 0.0 {
                        return 0.0;
                    }
                    let a = f64::from(x.abs()) / norm * s;
                    let low = a.floor();
                    let level = low + f64::from(u8::from(rng.uniform() < a - low));
                    (norm * level / s) as f32 * x.signum()
                })
                .collect();
            let bits = 1 + (s + 1.0).log2().ceil() as usize;
            Compressed {
                values,
                bytes: 4 + (d * bits).div_ceil(8),
            }
        }
        CompressorName::Sign => {
            let scale =
                (v.iter().map(|&x| f64::from(x.abs())).sum::<f64>() / d.max(1) as f64) as f32;
            let values = v
                .iter()
                .map(|&x| if x >= 0.0 { scale } else { -scale })
                .collect();
            Compressed {
                values,
                bytes: 4 + d.div_ceil(8),
            }
        }
    }
}

/// A compressor as the run configures it.
#[derive(Clone, Copy, Debug)]
pub struct CompressorSpec {
    pub kind: CompressorName,
    pub ratio: f64,
    pub levels: u32,
}

impl CompressorSpec {
    pub fn of(config: &FederatedConfig) -> Self {
        Self {
            kind: config.compressor,
            ratio: config.compress_ratio,
            levels: config.qsgd_levels,
        }
    }

    /// Client `client`'s `vector` as the server receives it in `round` (draws keyed by
    /// seed, round and client), and the bytes sent.
    pub fn send(
        &self,
        seed: u64,
        round: usize,
        client: usize,
        vector: &Weights,
    ) -> (Weights, usize) {
        let flat: Vec<f32> = vector
            .iter()
            .flat_map(|(_, t)| t.values.iter().copied())
            .collect();
        let mut rng = Rng::new(seed, Stream::Compress, round as u64, client as u64);
        let sent = compress(self.kind, self.ratio, self.levels, &flat, &mut rng);
        (unflatten(vector, &sent.values), sent.bytes)
    }
}

/// The clients' uploads: compression of their updates and the error-feedback memories.
pub struct Uploads {
    compressor: CompressorSpec,
    seed: u64,
    clients: usize,
    error_feedback: bool,
    memory: ClientStates,
}

impl Uploads {
    pub fn new(config: &FederatedConfig, seed: u64, storage: &StateStorage) -> Self {
        Self {
            compressor: CompressorSpec::of(config),
            seed,
            clients: config.clients,
            error_feedback: config.error_feedback,
            memory: ClientStates::new(storage, MEMORY),
        }
    }

    /// What the server receives for the participants' updates `deltas` in `round`: each
    /// update with its parameters compressed (buffers as they are), and the bytes sent.
    pub fn send(
        &mut self,
        round: usize,
        participants: &[usize],
        deltas: Vec<Weights>,
    ) -> anyhow::Result<(Vec<Weights>, usize)> {
        let mut bytes = 0;
        let mut received = Vec::with_capacity(deltas.len());
        for (&client, delta) in participants.iter().zip(deltas) {
            let buffers: usize = delta
                .iter()
                .filter(|(_, t)| t.kind == TensorKind::Buffer)
                .map(|(_, t)| t.values.len())
                .sum();
            bytes += 4 * buffers;
            if self.compressor.kind == CompressorName::None {
                bytes += 4 * (delta.num_values() - buffers);
                received.push(delta);
                continue;
            }
            let mut input = delta.only(TensorKind::Parameter);
            if let Some(memory) = self.memory.get(client)? {
                input = input.add(&memory)?;
            }
            let (sent, sent_bytes) = self.compressor.send(self.seed, round, client, &input);
            bytes += sent_bytes;
            if self.error_feedback {
                self.memory.insert(client, input.sub(&sent)?)?;
            }
            received.push(with_parameters(&delta, &sent)?);
        }
        Ok((received, bytes))
    }

    pub fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        self.memory.save()
    }

    pub fn restore(
        &mut self,
        read: &mut super::aggregator::ReadState,
        reference: &Weights,
    ) -> anyhow::Result<()> {
        let parameters = reference.only(TensorKind::Parameter);
        self.memory.restore(read, &parameters, self.clients)
    }

    /// Bytes of the error-feedback memories.
    pub fn state_bytes(&self) -> usize {
        self.memory.state_bytes()
    }
}

/// `delta` with its parameters replaced by `parameters`.
fn with_parameters(delta: &Weights, parameters: &Weights) -> anyhow::Result<Weights> {
    Weights::from_tensors(delta.iter().map(|(name, t)| {
        let tensor = parameters.get(name).cloned().unwrap_or_else(|| t.clone());
        (name.to_string(), tensor)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: CompressorName, v: &[f32], draw: u64) -> Compressed {
        let mut rng = Rng::new(1, Stream::Compress, draw, 0);
        compress(kind, 0.25, 4, v, &mut rng)
    }

    /// By hand on v = [1, -4, 0, 2, -3, 0.5, 0, 1.5] (d = 8, ratio 0.25: k = 2): top-k keeps
    /// -4 and -3 (16 bytes); sign sends the mean magnitude 12/8 = 1.5 with the signs (4 + 1
    /// bytes); qsgd with 4 levels: 4 + 8 * 4 bits = 8 bytes; randk: 2 values scaled by 4 and a
    /// seed, 16 bytes.
    #[test]
    fn compressors_match_their_definitions_by_hand() {
        let v = [1.0, -4.0, 0.0, 2.0, -3.0, 0.5, 0.0, 1.5];
        let top = run(CompressorName::Topk, &v, 0);
        assert_eq!(top.values, [0.0, -4.0, 0.0, 0.0, -3.0, 0.0, 0.0, 0.0]);
        assert_eq!(top.bytes, 16);
        let sign = run(CompressorName::Sign, &v, 0);
        assert_eq!(sign.values, [1.5, -1.5, 1.5, 1.5, -1.5, 1.5, 1.5, 1.5]);
        assert_eq!(sign.bytes, 5);
        let q = run(CompressorName::Qsgd, &v, 0);
        assert_eq!(q.bytes, 8);
        // Each value is a level of ||v|| / 4 = 5.57 / 4 next to it, with v's sign.
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (x, y) in v.iter().zip(&q.values) {
            let level = y.abs() / (norm / 4.0);
            assert!(
                (level - level.round()).abs() < 1e-5 && (y.abs() - x.abs()).abs() <= norm / 4.0
            );
            assert!(*y == 0.0 || y.signum() == x.signum());
        }
        let r = run(CompressorName::Randk, &v, 0);
        assert_eq!(r.bytes, 16);
        let kept: Vec<usize> = (0..8).filter(|&i| r.values[i] != 0.0).collect();
        assert!(kept.len() <= 2);
        for &i in &kept {
            assert_eq!(r.values[i], 4.0 * v[i]);
        }
    }

    /// randk and qsgd are unbiased: over 20,000 draws each coordinate's mean is v_i within
    /// 4 standard errors (randk: sd of one draw |v_i| sqrt(d/k - 1); qsgd: at most ||v||/s / 2).
    #[test]
    fn randk_and_qsgd_are_unbiased() {
        let v = [1.0f32, -4.0, 0.0, 2.0, -3.0, 0.5, 0.25, 1.5];
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt() as f64;
        let draws = 20_000;
        for kind in [CompressorName::Randk, CompressorName::Qsgd] {
            let mut sums = [0.0f64; 8];
            for draw in 0..draws {
                let c = run(kind, &v, draw);
                c.values
                    .iter()
                    .zip(&mut sums)
                    .for_each(|(x, s)| *s += f64::from(*x));
            }
            for (i, sum) in sums.iter().enumerate() {
                let mean = sum / draws as f64;
                let sd = match kind {
                    CompressorName::Randk => f64::from(v[i].abs()) * 3.0f64.sqrt(),
                    _ => norm / 4.0 / 2.0,
                };
                let bound = 4.0 * sd / (draws as f64).sqrt() + 1e-6;
                assert!(
                    (mean - f64::from(v[i])).abs() <= bound,
                    "{kind:?} {i}: {mean} vs {}",
                    v[i]
                );
            }
        }
    }

    /// Error feedback loses nothing: after R rounds, what was sent plus the memory equals the
    /// sum of the updates (up to f32 rounding, 1e-5 here on values of order 1-10).
    #[test]
    fn error_feedback_keeps_what_was_not_sent() {
        let config: FederatedConfig = toml::from_str(
            "clients = 2\nrounds = 1\nlocal_steps = 1\ncompressor = \"topk\"\ncompress_ratio = 0.25\nerror_feedback = true",
        )
        .unwrap();
        let run = tempfile::tempdir().unwrap();
        let storage = StateStorage::new(false, run.path(), 0).unwrap();
        let mut uploads = Uploads::new(&config, 0, &storage);
        let mut sent_total = vec![0.0f32; 8];
        let mut input_total = vec![0.0f32; 8];
        for round in 0..5 {
            let values: Vec<f32> = (0..8)
                .map(|i| ((i * 7 + round * 3) % 11) as f32 - 5.0)
                .collect();
            values
                .iter()
                .zip(&mut input_total)
                .for_each(|(v, t)| *t += v);
            let delta = crate::federated::fedavg::tests::weights(&values, &[1.0]);
            let (received, bytes) = uploads.send(round, &[1], vec![delta]).unwrap();
            assert_eq!(bytes, 8 * 2 + 4);
            let sent = &received[0].get("w").unwrap().values;
            assert_eq!(sent.iter().filter(|&&x| x != 0.0).count(), 2);
            assert_eq!(received[0].get("bn.running_mean").unwrap().values, [1.0]);
            sent.iter().zip(&mut sent_total).for_each(|(v, t)| *t += v);
        }
        let memory = uploads.memory.get(1).unwrap().unwrap();
        let memory = &memory.get("w").unwrap().values;
        for i in 0..8 {
            assert!(
                (sent_total[i] + memory[i] - input_total[i]).abs() < 1e-5,
                "{i}"
            );
        }
        assert_eq!(uploads.state_bytes(), 32);
    }
}
