//! Base quantile regressors: a joint multi-level MLP (the paper's DQR), its linear special
//! case, a Gaussian MLP (CGN: quantiles mu + sigma Phi^-1(tau)) and k-nearest-neighbour
//! empirical quantiles (a deterministic, non-parametric member standing in for the paper's
//! quantile forests). Inputs and targets are standardized by the caller.

use super::fit::{FitSettings, fit, shuffled};
use super::network::{Mlp, matrix, values};
use super::noncrossing::isotonic_in_place;
use super::scores::QuantilePredictions;
use crate::diffusion::edm::normal_quantile;
use burn::prelude::*;
use burn::tensor::activation::softplus;

pub use super::losses::pinball_loss;

/// The base models `stoke quantile` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BaseKind {
    /// Linear quantile regression, all levels at once.
    Linear,
    /// MLP (2 x 64, ELU) with one output per level, pinball loss.
    Dqr,
    /// MLP (2 x 64, ELU) for a Gaussian's mean and variance, negative log-likelihood.
    Cgn,
    /// Empirical quantiles of the k nearest training rows (k = sqrt(n), 5 to 50).
    Knn,
}

impl BaseKind {
    pub const ALL: [BaseKind; 4] = [
        BaseKind::Linear,
        BaseKind::Dqr,
        BaseKind::Cgn,
        BaseKind::Knn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BaseKind::Linear => "linear",
            BaseKind::Dqr => "dqr",
            BaseKind::Cgn => "cgn",
            BaseKind::Knn => "knn",
        }
    }
}

/// A fitted base model.
pub enum FittedBase {
    Quantiles {
        net: Mlp,
        levels: Vec<f64>,
        device: Device,
    },
    Gaussian {
        net: Mlp,
        levels: Vec<f64>,
        device: Device,
    },
    Neighbours {
        x: Vec<Vec<f64>>,
        y: Vec<f64>,
        k: usize,
        levels: Vec<f64>,
    },
}

/// Fits `kind` on standardized rows; 20% of them (seeded) decide early stopping.
pub fn fit_base(
    kind: BaseKind,
    x: &[Vec<f64>],
    y: &[f64],
    levels: &[f64],
    settings: &FitSettings,
    seed: u64,
    device: &Device,
) -> FittedBase {
    if kind == BaseKind::Knn {
        let k = ((x.len() as f64).sqrt().round() as usize)
            .clamp(5, 50)
            .min(x.len())
            .max(1);
        return FittedBase::Neighbours {
            x: x.to_vec(),
            y: y.to_vec(),
            k,
            levels: levels.to_vec(),
        };
    }
    let order = shuffled(x.len(), seed, u64::MAX);
    let cut = (x.len() * 4 / 5).max(1);
    let (train, held): (Vec<usize>, Vec<usize>) = (order[..cut].to_vec(), order[cut..].to_vec());
    let held = if held.is_empty() { train.clone() } else { held };
    let rows = |idx: &[usize]| idx.iter().map(|&i| x[i].clone()).collect::<Vec<_>>();
    let column =
        |idx: &[usize]| matrix(&idx.iter().map(|&i| vec![y[i]]).collect::<Vec<_>>(), device);
    let (train_x, train_y) = (matrix(&rows(&train), device), column(&train));
    let (held_x, held_y) = (matrix(&rows(&held), device), column(&held));
    let level_row = matrix(&[levels.to_vec()], device);
    device.seed(crate::rng::key(seed, crate::rng::Stream::Quantile, 0, 1));
    let inputs = x.first().map_or(0, Vec::len);
    let select = |t: &Tensor<2>, batch: &[usize]| {
        let idx: Vec<i64> = batch.iter().map(|&i| i as i64).collect();
        t.clone().select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(idx, [batch.len()]), device),
        )
    };
    match kind {
        BaseKind::Linear | BaseKind::Dqr => {
            let layers = if kind == BaseKind::Linear { 0 } else { 2 };
            let net = Mlp::new(inputs, 64, layers, levels.len(), 0.0, device);
            let loss = |net: &Mlp, batch: &[usize]| {
                pinball_loss(
                    net.forward(select(&train_x, batch)),
                    select(&train_y, batch),
                    level_row.clone(),
                )
            };
            let validation = |net: &Mlp| {
                values(pinball_loss(
                    net.forward(held_x.clone()),
                    held_y.clone(),
                    level_row.clone(),
                ))[0]
            };
            let (net, _) = fit(net, train.len(), settings, seed, loss, validation);
            FittedBase::Quantiles {
                net,
                levels: levels.to_vec(),
                device: device.clone(),
            }
        }
        BaseKind::Cgn => {
            let net = Mlp::new(inputs, 64, 2, 2, 0.0, device);
            let nll = |out: Tensor<2>, y: Tensor<2>| {
                let mean = out.clone().narrow(1, 0, 1);
                let variance = softplus(out.narrow(1, 1, 1), 1.0) + 1e-6;
                let squared = (y - mean).powi_scalar(2);
                (squared / (variance.clone() * 2.0) + variance.log() * 0.5).mean()
            };
            let loss = |net: &Mlp, batch: &[usize]| {
                nll(
                    net.forward(select(&train_x, batch)),
                    select(&train_y, batch),
                )
            };
            let validation =
                |net: &Mlp| values(nll(net.forward(held_x.clone()), held_y.clone()))[0];
            let (net, _) = fit(net, train.len(), settings, seed, loss, validation);
            FittedBase::Gaussian {
                net,
                levels: levels.to_vec(),
                device: device.clone(),
            }
        }
        BaseKind::Knn => unreachable!("returned above"),
    }
}

impl FittedBase {
    /// Predictions at the fitted levels for standardized rows; the multi-level networks'
    /// rows are made non-decreasing by isotonic regression (as the official code's).
    pub fn predict(&self, x: &[Vec<f64>]) -> QuantilePredictions {
        match self {
            FittedBase::Quantiles {
                net,
                levels,
                device,
            } => {
                let mut p = QuantilePredictions {
                    levels: levels.clone(),
                    values: values(net.forward(matrix(x, device))),
                };
                for i in 0..p.rows() {
                    isotonic_in_place(p.row_mut(i));
                }
                p
            }
            FittedBase::Gaussian {
                net,
                levels,
                device,
            } => {
                let out = values(net.forward(matrix(x, device)));
                let z: Vec<f64> = levels.iter().map(|&t| normal_quantile(t)).collect();
                let mut values = Vec::with_capacity(x.len() * levels.len());
                for row in out.chunks(2) {
                    let sigma = (softplus_f64(row[1]) + 1e-6).sqrt();
                    values.extend(z.iter().map(|&z| row[0] + sigma * z));
                }
                QuantilePredictions {
                    levels: levels.clone(),
                    values,
                }
            }
            FittedBase::Neighbours {
                x: train,
                y,
                k,
                levels,
            } => {
                let mut values = Vec::with_capacity(x.len() * levels.len());
                if train.is_empty() {
                    values.resize(x.len() * levels.len(), f64::NAN);
                    return QuantilePredictions {
                        levels: levels.clone(),
                        values,
                    };
                }
                for row in x {
                    let mut distances: Vec<(f64, usize)> = train
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.iter().zip(row).map(|(a, b)| (a - b).powi(2)).sum(), i))
                        .collect();
                    distances.select_nth_unstable_by(k - 1, |a, b| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                    });
                    let mut near: Vec<f64> = distances[..*k].iter().map(|&(_, i)| y[i]).collect();
                    near.sort_by(f64::total_cmp);
                    values.extend(levels.iter().map(|&t| empirical_quantile(&near, t)));
                }
                QuantilePredictions {
                    levels: levels.clone(),
                    values,
                }
            }
        }
    }
}

fn softplus_f64(x: f64) -> f64 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// numpy's default (linear) quantile of sorted values: position (n - 1) tau, interpolated.
pub fn empirical_quantile(sorted: &[f64], tau: f64) -> f64 {
    let position = (sorted.len() - 1) as f64 * tau;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empirical_quantile_matches_numpy() {
        // np.quantile([1, 2, 4, 8], [0.1, 0.5, 0.9]) = [1.3, 3.0, 6.8].
        let v = [1.0, 2.0, 4.0, 8.0];
        for (t, q) in [(0.1, 1.3), (0.5, 3.0), (0.9, 6.8)] {
            assert!((empirical_quantile(&v, t) - q).abs() < 1e-12);
        }
    }

    #[test]
    fn pinball_tensor_loss_equals_the_scalar_one() {
        let device = Device::flex();
        let q = matrix(&[vec![0.0, 1.0], vec![2.0, -1.0]], &device);
        let y = matrix(&[vec![0.5], vec![0.0]], &device);
        let levels = matrix(&[vec![0.1, 0.9]], &device);
        let loss = values(pinball_loss(q, y, levels))[0];
        let by_hand = (super::super::scores::pinball(0.1, 0.5, 0.0)
            + super::super::scores::pinball(0.9, 0.5, 1.0)
            + super::super::scores::pinball(0.1, 0.0, 2.0)
            + super::super::scores::pinball(0.9, 0.0, -1.0))
            / 4.0;
        // f32 arithmetic on numbers of order 1.
        assert!((loss - by_hand).abs() < 1e-6, "{loss} vs {by_hand}");
    }
}
