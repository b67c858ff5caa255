//! A gossip node's averaging step, plain or variance-corrected ("Vanishing Variance Problem
//! in Fully Decentralized Neural-Network Systems", Wang et al., 2024; the official
//! `twoentartian/DFL_torch`, `model_average.py` and `model_variance_correct.py`).
//!
//! Averaging k models that were trained from independent initializations shrinks every
//! tensor's variance about k-fold (their deviations are uncorrelated), below the level the
//! initialization chose; correction rescales each averaged tensor about its mean to the mean
//! variance of the received ones.

use crate::train::{TensorKind, Weights};

/// Added to both variances of the rescaling (the official code's 1e-4, against 0 / 0).
const EPSILON: f64 = 1e-4;

/// `self_weight * own + (1 - self_weight) * mean(received)` per value of every parameter
/// tensor; buffers (batch-norm running statistics) keep the node's own values, as the
/// official code leaves them out. With `correct`, each averaged tensor of more than one value
/// becomes `(w - mean(w)) * sqrt((target + eps) / (var(w) + eps)) + mean(w)`, with target
/// the mean of the received tensors' variances (unbiased, as `torch.var`). Everything runs
/// in f64 in the order given, so the result is a pure function of the inputs.
pub fn gossip_average(
    own: &Weights,
    received: &[&Weights],
    self_weight: f64,
    correct: bool,
) -> anyhow::Result<Weights> {
    anyhow::ensure!(
        !received.is_empty(),
        "a gossip average needs received models"
    );
    let mut out = own.clone();
    let others = 1.0 - self_weight;
    let k = received.len() as f64;
    for (name, tensor) in own.iter() {
        if tensor.kind == TensorKind::Buffer {
            continue;
        }
        let columns = received
            .iter()
            .map(|w| {
                let t = w
                    .get(name)
                    .ok_or_else(|| anyhow::anyhow!("a received model has no tensor `{name}`"))?;
                anyhow::ensure!(
                    t.values.len() == tensor.values.len(),
                    "tensor `{name}`: a received model has {} values, this node {}",
                    t.values.len(),
                    tensor.values.len()
                );
                Ok(t.values.as_slice())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut averaged: Vec<f64> = tensor
            .values
            .iter()
            .enumerate()
            .map(|(i, &mine)| {
                let sum: f64 = columns.iter().map(|c| c[i] as f64).sum();
                self_weight * mine as f64 + others * (sum / k)
            })
            .collect();
        if correct && averaged.len() > 1 {
            let target = columns.iter().map(|c| variance(c)).sum::<f64>() / k;
            let (mean, current) = mean_and_variance(&averaged);
            let scale = ((target + EPSILON) / (current + EPSILON)).sqrt();
            averaged
                .iter_mut()
                .for_each(|w| *w = (*w - mean) * scale + mean);
        }
        let values = out.values_mut(name).expect("out is a clone of own");
        values
            .iter_mut()
            .zip(&averaged)
            .for_each(|(v, &a)| *v = a as f32);
    }
    Ok(out)
}

/// The unbiased variance of `values` (0 for fewer than two).
pub fn variance(values: &[f32]) -> f64 {
    let wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    mean_and_variance(&wide).1
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, squares / (n - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::WeightTensor;

    fn weights(values: &[f32], stats: f32) -> Weights {
        Weights::from_tensors(vec![
            (
                "conv.weight".to_string(),
                WeightTensor {
                    shape: vec![values.len()],
                    values: values.to_vec(),
                    kind: TensorKind::Parameter,
                },
            ),
            (
                "bn.running_mean".to_string(),
                WeightTensor {
                    shape: vec![1],
                    values: vec![stats],
                    kind: TensorKind::Buffer,
                },
            ),
        ])
        .unwrap()
    }

    #[test]
    fn plain_averaging_weighs_self_against_the_neighbours_mean_and_keeps_buffers() {
        let own = weights(&[1.0, 2.0, 3.0], 7.0);
        let (a, b) = (
            weights(&[3.0, 0.0, 1.0], 1.0),
            weights(&[5.0, 2.0, 5.0], 2.0),
        );
        let out = gossip_average(&own, &[&a, &b], 0.5, false).unwrap();
        // 0.5 * own + 0.5 * (a + b) / 2, by hand.
        assert_eq!(out.get("conv.weight").unwrap().values, vec![2.5, 1.5, 3.0]);
        assert_eq!(out.get("bn.running_mean").unwrap().values, vec![7.0]);
    }

    #[test]
    fn correction_restores_the_received_variance_and_keeps_the_mean() {
        // Two anti-correlated models: their average is constant (variance 0), which the
        // correction cannot rescale beyond eps; a partly correlated pair is restored exactly.
        let own = weights(&[1.0, -1.0, 2.0, -2.0], 0.0);
        let other = weights(&[-1.0, 2.0, 1.0, -3.0], 0.0);
        let out = gossip_average(&own, &[&other], 0.5, true).unwrap();
        let values = &out.get("conv.weight").unwrap().values;
        // Hand computation: average [0, 0.5, 1.5, -2.5], mean -0.125, var 2.896 (unbiased);
        // target var(other) = 4.6667; scale = sqrt((4.6667 + 1e-4) / (2.8958 + 1e-4)).
        let plain = [0.0f64, 0.5, 1.5, -2.5];
        let mean = -0.125;
        let current = plain.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 3.0;
        let target = variance(&[-1.0, 2.0, 1.0, -3.0]);
        let scale = ((target + 1e-4) / (current + 1e-4)).sqrt();
        for (got, p) in values.iter().zip(plain) {
            let want = ((p - mean) * scale + mean) as f32;
            assert_eq!(*got, want);
        }
        // The variance becomes current (target + eps) / (current + eps), the target up to
        // eps; to f32 rounding of the values (1e-6 relative).
        let wide: Vec<f32> = values.clone();
        let expected = current * (target + 1e-4) / (current + 1e-4);
        assert!((variance(&wide) - expected).abs() < 1e-6 * expected);
        let mean_out: f64 = wide.iter().map(|&v| v as f64).sum::<f64>() / 4.0;
        assert!((mean_out - mean).abs() < 1e-6);
    }

    #[test]
    fn averaging_independent_models_shrinks_the_variance_and_correction_undoes_it() {
        // 9 models of 10k independent N(0, 1) values: with self weight 0.5 the average's
        // variance is 0.5^2 + 0.5^2 / 8 = 0.28125 (the tolerance: 5 sigma of a 10k-value
        // variance); corrected, the mean of the received variances.
        let models: Vec<Weights> = (0..9)
            .map(|m| {
                let mut rng = crate::rng::Rng::new(m, crate::rng::Stream::Init, 0, 0);
                let values: Vec<f32> = (0..10_000).map(|_| rng.normal() as f32).collect();
                weights(&values, 0.0)
            })
            .collect();
        let received: Vec<&Weights> = models[1..].iter().collect();
        let var_of = |w: &Weights| variance(&w.get("conv.weight").unwrap().values);
        let plain = var_of(&gossip_average(&models[0], &received, 0.5, false).unwrap());
        let fixed = var_of(&gossip_average(&models[0], &received, 0.5, true).unwrap());
        let target = received.iter().map(|w| var_of(w)).sum::<f64>() / 8.0;
        assert!((plain - 0.28125).abs() < 0.02, "{plain}");
        // Exactly the target but for eps: target cur / (cur + eps) + eps cur / (cur + eps)
        // is 2.6e-4 below it at cur = 0.28.
        assert!((fixed - target).abs() < 4e-4, "{fixed} vs {target}");
    }
}
