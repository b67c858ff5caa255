//! AdAdaGrad's adaptive batch sizes: the variance estimate on a problem with known gradient
//! noise, and the engine growing the batch (loader following, logged, resumable).

mod common;

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{smoke, train};
use stoke::config::AdaptiveBatchConfig;
use stoke::recipes::Batch;
use stoke::rng::{Rng, Stream};
use stoke::train::adaptive_batch::AdaptiveBatch;
use stoke::train::metrics::read_without_timing;

#[derive(Module, Debug)]
struct Scalar {
    w: Param<Tensor<1>>,
}

/// Per-sample loss 0.5 (w - x_i)^2: per-sample gradient w - x_i, so the per-sample gradient
/// variance is the variance of the x_i.
fn loss(model: &Scalar, batch: &Batch) -> Tensor<1> {
    let x = batch.images.clone().reshape([batch.size]);
    (model.w.val() - x).square().mean().mul_scalar(0.5)
}

fn batch_of(xs: &[f64], device: &Device) -> Batch {
    let values: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    Batch {
        images: Tensor::from_data(TensorData::new(values, [xs.len(), 1, 1, 1]), device),
        labels: Tensor::<1, Int>::zeros([xs.len()], device),
        size: xs.len(),
        indices: (0..xs.len()).collect(),
    }
}

fn adaptive(micro_batches: usize, eta: f64) -> AdaptiveBatch {
    AdaptiveBatch::from_config(
        &AdaptiveBatchConfig {
            test: stoke::config::schema::BatchTestName::Norm,
            eta,
            theta: 0.1,
            nu: 0.1,
            micro_batches,
            max_batch_size: 100_000,
            test_interval: 1,
        },
        2,
    )
    .unwrap()
}

#[test]
fn norm_test_predicts_the_batch_from_known_gradient_noise() {
    let device = Device::flex().autodiff();
    // w = 1.5 against data with mean ~1 and standard deviation 2: mean gradient ~0.5, per-sample
    // variance ~4, so the norm test with eta = 0.5 asks for b = 4 / (0.25 * 0.25) = 64.
    let model = Scalar {
        w: Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![1.5f32], [1]),
            &device,
        )),
    };
    let mut rng = Rng::new(1, Stream::Synthetic, 0, 0);
    let xs: Vec<f64> = (0..32).map(|_| 1.0 + 2.0 * rng.normal()).collect();

    // Micro-batches of one sample: exactly the Bessel-corrected sample variance.
    let exact = adaptive(32, 0.5).measure(&model, &batch_of(&xs, &device), loss);
    let mean = xs.iter().sum::<f64>() / 32.0;
    let variance = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 31.0;
    let gradient = 1.5 - mean;
    // f32 sums of 32 terms: relative 1e-5.
    assert!(
        (exact.variance - variance).abs() < 1e-5 * variance,
        "{exact:?} vs {variance}"
    );
    assert!((exact.mean_squared_norm - gradient * gradient).abs() < 1e-5);
    let predicted = (variance / (0.25 * gradient * gradient)).ceil() as usize;
    assert_eq!(
        adaptive(32, 0.5).next_batch_size(&exact, 8),
        predicted.max(8)
    );

    // Micro-batches of 8 samples: unbiased. Averaged over 300 batches of 64 samples from the
    // same distribution the estimate is within 5% of sigma^2 = 4 (its standard error there is
    // about 4 * sqrt(2/7) / sqrt(300) = 0.065, i.e. 1.6%).
    let a = adaptive(8, 0.5);
    let estimates: Vec<f64> = (0..300)
        .map(|k| {
            let mut rng = Rng::new(2, Stream::Synthetic, k, 0);
            let xs: Vec<f64> = (0..64).map(|_| 1.0 + 2.0 * rng.normal()).collect();
            a.measure(&model, &batch_of(&xs, &device), loss).variance
        })
        .collect();
    let average = estimates.iter().sum::<f64>() / estimates.len() as f64;
    assert!(
        (average - 4.0).abs() < 0.2,
        "average variance estimate {average}"
    );
}

fn adaptive_smoke(extra: &[&str]) -> (stoke::config::RunConfig, toml::Table) {
    let mut overrides = vec![
        "optimizer.name=adagrad",
        "optimizer.lr=0.05",
        "schedule.name=constant",
        "data.batch_size=4",
        "adaptive_batch.test=norm",
        "adaptive_batch.eta=0.5",
        "adaptive_batch.micro_batches=4",
        "adaptive_batch.max_batch_size=48",
        "train.epochs=0",
        "train.steps=30",
    ];
    overrides.extend(extra);
    smoke(&overrides)
}

#[test]
fn engine_grows_the_batch_and_the_loader_follows() {
    for test in [
        "adaptive_batch.test=norm",
        "adaptive_batch.test=inner-product",
    ] {
        grows_with(test);
    }
}

fn grows_with(test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = adaptive_smoke(&[test]);
    let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
    assert_eq!(summary.steps, 30);
    let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
    let steps: Vec<_> = lines
        .iter()
        .filter(|l| l.get("grad_l2").is_some())
        .collect();
    assert_eq!(steps.len(), 30);
    let sizes: Vec<u64> = steps
        .iter()
        .map(|l| l["batch_size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes[0], 4);
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    assert!(
        *sizes.last().unwrap() > 4 && *sizes.last().unwrap() <= 48,
        "{sizes:?}"
    );
    // Each step's batch is the size the previous step's test asked for; at the cap the test
    // no longer runs.
    for pair in steps.windows(2) {
        match pair[0].get("next_batch_size") {
            Some(next) => assert_eq!(&pair[1]["batch_size"], next, "{pair:?}"),
            None => assert_eq!(pair[0]["batch_size"], 48, "{pair:?}"),
        }
    }
    // Under adaptive batches the rate stays constant unless lr_scaling asks otherwise.
    assert!(steps.iter().all(|l| l["lr"] == 0.05));
}

#[test]
fn learning_rate_follows_the_batch_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = adaptive_smoke(&["optimizer.lr_scaling=sqrt"]);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
    let steps: Vec<_> = lines
        .iter()
        .filter(|l| l.get("grad_l2").is_some())
        .collect();
    assert!(steps.last().unwrap()["batch_size"].as_u64().unwrap() > 4);
    for line in steps {
        let b = line["batch_size"].as_f64().unwrap();
        let lr = line["lr"].as_f64().unwrap();
        assert!((lr - 0.05 * (b / 4.0).sqrt()).abs() < 1e-12);
    }
}

#[test]
fn adaptive_run_resumes_exactly_after_the_batch_grew() {
    let (config, resolved) = adaptive_smoke(&["train.checkpoint_every=5"]);
    let full = tempfile::tempdir().unwrap();
    train(&config, &resolved, full.path(), false, None).unwrap();
    let parts = tempfile::tempdir().unwrap();
    train(&config, &resolved, parts.path(), false, Some(17)).unwrap_err();
    train(&config, &resolved, parts.path(), true, None).unwrap();
    assert_eq!(
        read_without_timing(&full.path().join("metrics.jsonl")).unwrap(),
        read_without_timing(&parts.path().join("metrics.jsonl")).unwrap()
    );
}

#[test]
fn epoch_budget_ends_by_samples_and_needs_a_constant_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = adaptive_smoke(&["train.steps=0", "train.epochs=2"]);
    let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
    let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
    let samples: u64 = lines
        .iter()
        .filter(|l| l.get("grad_l2").is_some())
        .map(|l| l["batch_size"].as_u64().unwrap())
        .sum();
    // The synthetic smoke set has 512 training images: two epochs are 1024 samples, and the
    // last batch may overshoot by less than one (maximal) batch.
    assert!((1024..1024 + 48).contains(&samples), "{samples}");
    assert!(
        summary.epochs >= 2.0 && summary.epochs < 2.2,
        "{}",
        summary.epochs
    );

    let (config, resolved) =
        adaptive_smoke(&["train.steps=0", "train.epochs=2", "schedule.name=cosine"]);
    let err = train(&config, &resolved, &dir.path().join("b"), false, None).unwrap_err();
    assert!(err.to_string().contains("schedule.name"), "{err}");
}
