//! Aggregation of base quantile predictions z `[B, M, Q]` (M models, Q levels) by softmax
//! weights (Fakoor et al., "Flexible Model Aggregation for Quantile Regression"):
//! coarse, one weight per model (w_p); medium, one per model and level (w_(p,tau)); fine,
//! each output level a convex combination of every model's every level (w_((p,tau'),tau)).
//! Global weights are constants; local ones come from an MLP of the features. Fitted on
//! out-of-fold base predictions by the pinball loss plus the crossing penalty.

use super::fit::{FitSettings, fit};
use super::losses::{crossing_penalty, pinball_loss};
use super::network::{Mlp, matrix, values};
use super::scores::QuantilePredictions;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::softmax;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Coarse,
    Medium,
    Fine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    Global,
    Local,
}

/// The crossing penalty: the mean over all level pairs j < i of relu(q_j - q_i + delta),
/// weighted.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CrossingPenalty {
    pub weight: f64,
    pub delta: f64,
}

#[derive(Module, Debug)]
pub struct Aggregator {
    /// Global logits `[1, rows, Q]` (rows = 1, M or M Q).
    logits: Param<Tensor<3>>,
    /// Local weights: an MLP of the features giving `rows * Q` logits.
    net: Option<Mlp>,
    rows: usize,
    levels: usize,
    fine: bool,
}

impl Aggregator {
    /// Global weights start uniform (the official code's zero logits); local ones from the
    /// MLP's initialisation (seed the device first).
    pub fn new(
        models: usize,
        levels: usize,
        granularity: Granularity,
        weighting: Weighting,
        features: usize,
        device: &Device,
    ) -> Aggregator {
        let (rows, columns) = match granularity {
            Granularity::Coarse => (models, 1),
            Granularity::Medium => (models, levels),
            Granularity::Fine => (models * levels, levels),
        };
        let net = (weighting == Weighting::Local)
            .then(|| Mlp::new(features, 64, 2, rows * columns, 0.0, device));
        Aggregator {
            logits: Param::from_tensor(Tensor::zeros([1, rows, columns], device)),
            net,
            rows,
            levels: columns,
            fine: granularity == Granularity::Fine,
        }
    }

    /// The aggregate `[B, Q]` of base predictions `z` `[B, M, Q]` for features `x`.
    pub fn forward(&self, z: Tensor<3>, x: Tensor<2>) -> Tensor<2> {
        let [batch, models, levels] = z.dims();
        let z = if self.fine {
            z.reshape([batch, models * levels, 1])
        } else {
            z
        };
        let logits = match &self.net {
            Some(net) => net.forward(x).reshape([batch, self.rows, self.levels]),
            None => self.logits.val(),
        };
        let weights = softmax(logits, 1);
        (z * weights).sum_dim(1).reshape([batch, levels])
    }
}

/// Base predictions of every model for the same rows as one `[rows, M, Q]` tensor.
pub fn stack(predictions: &[QuantilePredictions], device: &Device) -> Tensor<3> {
    let rows = predictions[0].rows();
    let (models, levels) = (predictions.len(), predictions[0].levels.len());
    let mut values = Vec::with_capacity(rows * models * levels);
    for i in 0..rows {
        for p in predictions {
            values.extend(p.row(i).iter().map(|&v| v as f32));
        }
    }
    Tensor::from_data(TensorData::new(values, [rows, models, levels]), device)
}

/// Fits an aggregator on (out-of-fold) base predictions; `held` rows (base predictions,
/// features, targets) decide early stopping.
#[allow(clippy::too_many_arguments)]
pub fn fit_aggregator(
    mut aggregator: Aggregator,
    train: (&[QuantilePredictions], &[Vec<f64>], &[f64]),
    held: (&[QuantilePredictions], &[Vec<f64>], &[f64]),
    levels: &[f64],
    penalty: CrossingPenalty,
    settings: &FitSettings,
    seed: u64,
    device: &Device,
) -> Aggregator {
    let column = |y: &[f64]| matrix(&y.iter().map(|&v| vec![v]).collect::<Vec<_>>(), device);
    let (z, x, y) = (
        stack(train.0, device),
        matrix(train.1, device),
        column(train.2),
    );
    let (hz, hx, hy) = (
        stack(held.0, device),
        matrix(held.1, device),
        column(held.2),
    );
    let level_row = matrix(&[levels.to_vec()], device);
    let rows = train.2.len();
    let select = |idx: &[usize]| {
        Tensor::<1, Int>::from_data(
            TensorData::new(
                idx.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [idx.len()],
            ),
            device,
        )
    };
    let loss = |a: &Aggregator, batch: &[usize]| {
        let idx = select(batch);
        let q = a.forward(
            z.clone().select(0, idx.clone()),
            x.clone().select(0, idx.clone()),
        );
        let fit = pinball_loss(q.clone(), y.clone().select(0, idx), level_row.clone());
        fit + crossing_penalty(q, penalty.delta) * penalty.weight
    };
    let validation = |a: &Aggregator| {
        values(pinball_loss(
            a.forward(hz.clone(), hx.clone()),
            hy.clone(),
            level_row.clone(),
        ))[0]
    };
    (aggregator, _) = fit(aggregator, rows, settings, seed, loss, validation);
    aggregator
}

impl Aggregator {
    /// Global weights, flattened `[rows, Q]` (coarse: one per model); empty for local ones.
    pub fn weights(&self) -> Vec<f64> {
        match self.net {
            Some(_) => Vec::new(),
            None => values(softmax(self.logits.val(), 1)),
        }
    }

    pub fn predict(
        &self,
        base: &[QuantilePredictions],
        x: &[Vec<f64>],
        device: &Device,
    ) -> QuantilePredictions {
        let q = self.forward(stack(base, device), matrix(x, device));
        QuantilePredictions {
            levels: base[0].levels.clone(),
            values: values(q),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predictions(levels: &[f64], rows: &[Vec<f64>]) -> QuantilePredictions {
        QuantilePredictions {
            levels: levels.to_vec(),
            values: rows.concat(),
        }
    }

    /// Zero logits are the plain average for coarse and medium; fine starts from the mean of
    /// all the models' levels.
    #[test]
    fn uniform_start() {
        let device = Device::flex();
        let levels = [0.25, 0.75];
        let a = predictions(&levels, &[vec![0.0, 2.0]]);
        let b = predictions(&levels, &[vec![4.0, 6.0]]);
        let x = vec![vec![1.0]];
        for g in [Granularity::Coarse, Granularity::Medium] {
            let p = Aggregator::new(2, 2, g, Weighting::Global, 1, &device).predict(
                &[a.clone(), b.clone()],
                &x,
                &device,
            );
            assert_eq!(p.values, vec![2.0, 4.0], "{g:?}");
        }
        let p = Aggregator::new(2, 2, Granularity::Fine, Weighting::Global, 1, &device).predict(
            &[a, b],
            &x,
            &device,
        );
        assert_eq!(p.values, vec![3.0, 3.0]);
    }

    /// Two models, three levels (M != Q, so a softmax over the wrong axis shows):
    /// A = (0, 1, 2), B = (1, 2, 4).
    #[test]
    fn forward_by_hand() {
        let device = Device::flex();
        let levels = [0.25, 0.5, 0.75];
        let base = [
            predictions(&levels, &[vec![0.0, 1.0, 2.0]]),
            predictions(&levels, &[vec![1.0, 2.0, 4.0]]),
        ];
        let x = vec![vec![0.0]];
        let ln3 = 3f32.ln();
        let with_logits = |g: Granularity, logits: Vec<f32>, shape: [usize; 3]| {
            let mut a = Aggregator::new(2, 3, g, Weighting::Global, 1, &device);
            a.logits =
                Param::from_tensor(Tensor::from_data(TensorData::new(logits, shape), &device));
            a.predict(&base, &x, &device).values
        };
        let close = |a: Vec<f64>, b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        // Coarse (1/4, 3/4): 0.25 A + 0.75 B.
        assert!(close(
            with_logits(Granularity::Coarse, vec![0.0, ln3], [1, 2, 1]),
            [0.75, 1.75, 3.5]
        ));
        // Medium, per level (1/2, 1/2), (3/4, 1/4), (1/4, 3/4): logits [1, M, Q] by model.
        let medium = vec![0.0, ln3, 0.0, 0.0, 0.0, ln3];
        assert!(close(
            with_logits(Granularity::Medium, medium, [1, 2, 3]),
            [0.5, 1.25, 3.5]
        ));
        // Fine, uniform: every level the mean of all six values.
        let fine = with_logits(Granularity::Fine, vec![0.0; 18], [1, 6, 3]);
        assert!(close(fine, [10.0 / 6.0; 3]));
    }

    /// Local weights: a batch gives each row what it gets alone (the reshape keeps rows apart).
    #[test]
    fn local_weights_batch_rows_independently() {
        let device = Device::flex();
        let levels = [0.25, 0.5, 0.75];
        let rows = [
            vec![0.0, 1.0, 2.0],
            vec![3.0, 3.5, 5.0],
            vec![-1.0, 0.0, 0.5],
        ];
        let base = [
            predictions(&levels, &rows),
            predictions(
                &levels,
                &[
                    vec![1.0, 2.0, 4.0],
                    vec![2.0, 2.5, 3.0],
                    vec![0.0, 1.0, 1.5],
                ],
            ),
        ];
        let x = vec![vec![0.3, -1.0], vec![2.0, 0.5], vec![-0.7, 0.1]];
        for g in [Granularity::Coarse, Granularity::Medium, Granularity::Fine] {
            let a = Aggregator::new(2, 3, g, Weighting::Local, 2, &device);
            let batch = a.predict(&base, &x, &device).values;
            for i in 0..3 {
                let one: Vec<QuantilePredictions> = base
                    .iter()
                    .map(|p| predictions(&levels, &[p.row(i).to_vec()]))
                    .collect();
                let alone = a.predict(&one, &[x[i].clone()], &device).values;
                for (b, s) in batch[3 * i..3 * i + 3].iter().zip(&alone) {
                    assert!(
                        (b - s).abs() < 1e-6,
                        "{g:?} row {i}: {batch:?} vs {alone:?}"
                    );
                }
            }
        }
    }

    /// One model knows the true quantiles, the other is shifted by 2: every global
    /// granularity learns to follow the first (its aggregate's pinball loss comes close to
    /// the true quantiles' and far under the average's).
    #[test]
    fn global_weights_learn_the_accurate_model() {
        use crate::diffusion::edm::normal_quantile;
        use crate::quantile::scores::mean_pinball;
        let device = Device::flex().autodiff();
        let levels = [0.1, 0.3, 0.5, 0.7, 0.9];
        let mut rng = crate::rng::Rng::new(5, crate::rng::Stream::Probe, 0, 0);
        let make = |n: usize, rng: &mut crate::rng::Rng| {
            let x: Vec<Vec<f64>> = (0..n).map(|_| vec![rng.normal()]).collect();
            let y: Vec<f64> = x.iter().map(|r| r[0] + rng.normal()).collect();
            let truth = |shift: f64| QuantilePredictions {
                levels: levels.to_vec(),
                values: x
                    .iter()
                    .flat_map(|r| {
                        levels
                            .iter()
                            .map(move |&t| r[0] + normal_quantile(t) + shift)
                    })
                    .collect(),
            };
            (vec![truth(0.0), truth(2.0)], x, y)
        };
        let (train, held, test) = (
            make(400, &mut rng),
            make(100, &mut rng),
            make(1000, &mut rng),
        );
        let ideal = mean_pinball(&test.0[0], &test.2);
        for g in [Granularity::Coarse, Granularity::Medium, Granularity::Fine] {
            let a = Aggregator::new(2, levels.len(), g, Weighting::Global, 1, &device);
            let penalty = CrossingPenalty {
                weight: 1.0,
                delta: 1e-3,
            };
            let a = fit_aggregator(
                a,
                (&train.0, &train.1, &train.2),
                (&held.0, &held.1, &held.2),
                &levels,
                penalty,
                &FitSettings::default(),
                1,
                &device,
            );
            let loss = mean_pinball(&a.predict(&test.0, &test.1, &device), &test.2);
            let average = Aggregator::new(2, levels.len(), g, Weighting::Global, 1, &device)
                .predict(&test.0, &test.1, &device);
            let average = mean_pinball(&average, &test.2);
            // Measured: coarse and medium within 0.2% of the true quantiles' loss, fine 1.2%;
            // the uniform start is 43% (fine 95%) worse.
            assert!(
                loss < ideal * 1.02 && average > ideal * 1.4,
                "{g:?}: {loss} vs ideal {ideal}, average {average}"
            );
        }
    }

    #[test]
    fn crossing_penalty_by_hand() {
        let device = Device::flex();
        // Row (1, 0, 2): pairs (1, 0) cross by 1 (+ delta 0.5 = 1.5), (1, 2) gives relu(-0.5)
        // = 0, (0, 2) relu(-1.5) = 0: 1.5 / 3 pairs.
        let q = matrix(&[vec![1.0, 0.0, 2.0]], &device);
        let p = values(crossing_penalty(q, 0.5))[0];
        assert!((p - 0.5).abs() < 1e-6, "{p}");
    }
}
