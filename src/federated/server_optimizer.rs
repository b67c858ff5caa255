//! The server's step on the averaged client update Delta (Reddi et al., "Adaptive Federated
//! Optimization", ICLR 2021, Algorithm 2; FedAvgM of Hsu et al., 2019), per parameter value:
//! - `plain`:    x <- x + lr * Delta
//! - `momentum`: v <- beta * v + Delta;                   x <- x + lr * v
//! - `adam`:     m <- b1 m + (1 - b1) Delta;  v <- b2 v + (1 - b2) Delta^2
//! - `yogi`:     m as adam;  v <- v - (1 - b2) Delta^2 sign(v - Delta^2)
//!
//! and for adam and yogi x <- x + lr * m / (sqrt(v) + tau), without bias correction, as the
//! paper. Buffers (batch-norm statistics) are not stepped; the caller sets them. The state
//! (v, or m and v) is part of the federated checkpoint.

use crate::config::federated::{FederatedConfig, ServerOptimizerName};
use crate::train::{TensorKind, WeightTensor, Weights};

/// The server optimizer and its state.
pub struct ServerOptimizer {
    kind: ServerOptimizerName,
    lr: f64,
    momentum: f64,
    beta1: f64,
    beta2: f64,
    tau: f64,
    /// The first moment (momentum's velocity, adam's and yogi's m); None before round 1.
    pub m: Option<Weights>,
    /// adam's and yogi's second moment.
    pub v: Option<Weights>,
}

impl ServerOptimizer {
    pub fn new(config: &FederatedConfig) -> Self {
        Self {
            kind: config.server_optimizer,
            lr: config.server_lr,
            momentum: config.server_momentum,
            beta1: config.server_beta1,
            beta2: config.server_beta2,
            tau: config.server_tau,
            m: None,
            v: None,
        }
    }

    /// The server's parameters after one step on `delta`; buffers are returned unchanged.
    pub fn step(&mut self, server: &Weights, delta: &Weights) -> anyhow::Result<Weights> {
        let zeros = || delta.scale(0.0);
        let direction = match self.kind {
            ServerOptimizerName::Plain => delta.clone(),
            ServerOptimizerName::Momentum => {
                let velocity = self.m.take().unwrap_or_else(zeros);
                let velocity = map2(&velocity, delta, |v, d| self.momentum * v + d)?;
                self.m = Some(velocity.clone());
                velocity
            }
            ServerOptimizerName::Adam | ServerOptimizerName::Yogi => {
                let (b1, b2) = (self.beta1, self.beta2);
                let m = map2(&self.m.take().unwrap_or_else(zeros), delta, |m, d| {
                    b1 * m + (1.0 - b1) * d
                })?;
                let v_old = self.v.take().unwrap_or_else(zeros);
                let v = match self.kind {
                    ServerOptimizerName::Yogi => map2(&v_old, delta, |v, d| {
                        v - (1.0 - b2) * d * d * (v - d * d).signum_or_zero()
                    })?,
                    _ => map2(&v_old, delta, |v, d| b2 * v + (1.0 - b2) * d * d)?,
                };
                let tau = self.tau;
                let direction = map2(&m, &v, |m, v| m / (v.sqrt() + tau))?;
                self.m = Some(m);
                self.v = Some(v);
                direction
            }
        };
        let lr = self.lr;
        let tensors = server.iter().map(|(name, tensor)| {
            let values = match (tensor.kind, direction.get(name)) {
                (TensorKind::Parameter, Some(step)) => tensor
                    .values
                    .iter()
                    .zip(&step.values)
                    .map(|(&x, &s)| (f64::from(x) + lr * f64::from(s)) as f32)
                    .collect(),
                _ => tensor.values.clone(),
            };
            (
                name.to_string(),
                WeightTensor {
                    values,
                    ..tensor.clone()
                },
            )
        });
        Weights::from_tensors(tensors)
    }
}

/// `sign(x)` with sign(0) = 0, as torch.sign (Yogi's update leaves v alone where v = Delta^2).
trait SignumOrZero {
    fn signum_or_zero(self) -> f64;
}

impl SignumOrZero for f64 {
    fn signum_or_zero(self) -> f64 {
        if self == 0.0 { 0.0 } else { self.signum() }
    }
}

/// Elementwise `f(a, b)` in f64, stored as f32, over two weights of the same layout.
fn map2(a: &Weights, b: &Weights, f: impl Fn(f64, f64) -> f64) -> anyhow::Result<Weights> {
    let tensors = a
        .iter()
        .map(|(name, ta)| {
            let tb = b
                .get(name)
                .ok_or_else(|| anyhow::anyhow!("server state: no tensor `{name}` in the update"))?;
            let values = ta
                .values
                .iter()
                .zip(&tb.values)
                .map(|(&x, &y)| f(f64::from(x), f64::from(y)) as f32)
                .collect();
            Ok((
                name.to_string(),
                WeightTensor {
                    values,
                    ..ta.clone()
                },
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Weights::from_tensors(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(values: &[f32]) -> Weights {
        Weights::from_tensors([(
            "w".to_string(),
            WeightTensor {
                shape: vec![values.len()],
                values: values.to_vec(),
                kind: TensorKind::Parameter,
            },
        )])
        .unwrap()
    }

    fn optimizer(text: &str) -> ServerOptimizer {
        let config: FederatedConfig =
            toml::from_str(&format!("clients = 1\nrounds = 1\nlocal_steps = 1\n{text}")).unwrap();
        ServerOptimizer::new(&config)
    }

    fn values(w: &Weights) -> Vec<f32> {
        w.get("w").unwrap().values.clone()
    }

    /// Two rounds by hand from x = [0, 0] with Delta1 = [1, -2], Delta2 = [1, 0], lr 0.5:
    /// - plain: x1 = [0.5, -1], x2 = [1, -1];
    /// - momentum 0.9: v1 = [1, -2], x1 = [0.5, -1]; v2 = [1.9, -1.8], x2 = [1.45, -1.9];
    /// - adam b1 0.9, b2 0.99, tau 0.1: m1 = [0.1, -0.2], v1 = [0.01, 0.04],
    ///   x1 = 0.5 * [0.1/0.2, -0.2/0.3] = [0.25, -1/3];
    /// - yogi: v1 = 0 - 0.01 * [1, 4] * sign(0 - [1, 4]) = [0.01, 0.04] (as adam from zero);
    ///   round 2: m2 = [0.19, -0.18], v2 = [0.01 + 0.01 * 1 * 1, 0.04 - 0.01 * 0 * 1]
    ///   = [0.02, 0.04]; x2 = x1 + 0.5 * [0.19/(sqrt(0.02)+0.1), -0.18/0.3].
    #[test]
    fn two_rounds_match_the_updates_by_hand() {
        let x0 = weights(&[0.0, 0.0]);
        let (d1, d2) = (weights(&[1.0, -2.0]), weights(&[1.0, 0.0]));
        let run = |text: &str| {
            let mut opt = optimizer(&format!("server_lr = 0.5\n{text}"));
            let x1 = opt.step(&x0, &d1).unwrap();
            let x2 = opt.step(&x1, &d2).unwrap();
            (values(&x1), values(&x2))
        };
        let close = |a: &[f32], b: &[f64]| {
            // f32 storage of the state: 1e-6 relative is a few ulps of these magnitudes.
            a.iter()
                .zip(b)
                .all(|(&x, &y)| (f64::from(x) - y).abs() < 1e-6 * (1.0 + y.abs()))
        };
        let (x1, x2) = run("server_optimizer = \"plain\"");
        assert!(
            close(&x1, &[0.5, -1.0]) && close(&x2, &[1.0, -1.0]),
            "{x1:?} {x2:?}"
        );
        let (x1, x2) = run("server_optimizer = \"momentum\"\nserver_momentum = 0.9");
        assert!(
            close(&x1, &[0.5, -1.0]) && close(&x2, &[1.45, -1.9]),
            "{x1:?} {x2:?}"
        );
        let adam = "server_beta1 = 0.9\nserver_beta2 = 0.99\nserver_tau = 0.1";
        let (x1, _) = run(&format!("server_optimizer = \"adam\"\n{adam}"));
        assert!(close(&x1, &[0.25, -1.0 / 3.0]), "{x1:?}");
        let (y1, y2) = run(&format!("server_optimizer = \"yogi\"\n{adam}"));
        let expected2 = [
            0.25 + 0.5 * 0.19 / (0.02f64.sqrt() + 0.1),
            -1.0 / 3.0 + 0.5 * -0.18 / (0.2 + 0.1),
        ];
        assert!(
            close(&y1, &[0.25, -1.0 / 3.0]) && close(&y2, &expected2),
            "{y1:?} {y2:?}"
        );
    }
}
