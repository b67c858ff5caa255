//! The ViT: the same logits with either softmax, and a short training on the Fashion-MNIST
//! subset whose loss falls. The softmax choice is process-wide, so these run one at a time.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::train;
use std::sync::Mutex;
use stoke::rng::{Rng, Stream};
use stoke::train::metrics::read_without_timing;

static SOFTMAX_SETTING: Mutex<()> = Mutex::new(());

#[test]
fn vit_forward_is_the_same_with_either_softmax() {
    let _guard = SOFTMAX_SETTING.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let model = stoke::bench::model_spec("vit_mini")
        .unwrap()
        .build([1, 28, 28], 10, &device)
        .unwrap();
    let mut rng = Rng::new(5, Stream::Synthetic, 0, 0);
    let pixels: Vec<f32> = (0..2 * 28 * 28).map(|_| rng.normal() as f32).collect();
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [2, 1, 28, 28]), &device);
    let logits = |builtin: bool| -> Vec<f32> {
        stoke::kernels::softmax::use_builtin(builtin);
        model
            .forward(images.clone())
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let (builtin, two_pass) = (logits(true), logits(false));
    // Logits of O(1): the softmax's 2e-6 relative error carried through 4 blocks.
    for (a, b) in builtin.iter().zip(&two_pass) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn vit_learns_on_the_fashion_mnist_subset() {
    let _guard = SOFTMAX_SETTING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let overrides: Vec<String> = [
        "train.epochs=0",
        "train.steps=60",
        "train.log_every=10",
        "schedule.name=constant",
        "schedule.warmup_epochs=0.05",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (config, resolved) = stoke::config::resolve("vit-fashion-mnist", &overrides).unwrap();
    let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
    let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = lines.iter().filter_map(|l| l["loss"].as_f64()).collect();
    // A ViT learns slowly from scratch: from ~2.2 the window loss must drop by a tenth within
    // 60 steps (an untrained or broken one stays at ln(10) = 2.3), and the test accuracy must
    // be well above the 10% of chance (30.1% measured; the run is deterministic).
    println!(
        "losses {losses:.3?}, test accuracy {:.3}",
        summary.test_accuracy.unwrap()
    );
    assert!(losses.last().unwrap() < &(losses[0] * 0.9), "{losses:?}");
    assert!(
        summary.test_accuracy.unwrap() > 0.25,
        "{}",
        summary.test_accuracy.unwrap()
    );
}

/// Stochastic depth is on for training and off in evaluation mode on the training device
/// (`attacks::eval_mode`, what robust evaluation and per-example gradients use): there the
/// logits are the inference model's, every time.
#[test]
fn drop_path_is_off_in_evaluation_mode_on_the_training_device() {
    let _guard = SOFTMAX_SETTING.lock().unwrap_or_else(|e| e.into_inner());
    stoke::kernels::softmax::use_builtin(true);
    let text = format!(
        "{}\ndrop_path = 0.5",
        stoke::config::presets::model("vit_mini").unwrap()
    );
    let spec: stoke::models::ModelSpec = toml::from_str(&text).unwrap();
    let device = Device::flex().autodiff();
    let model = spec.build([1, 28, 28], 10, &device).unwrap();
    let mut rng = Rng::new(6, Stream::Synthetic, 0, 0);
    let pixels: Vec<f32> = (0..4 * 28 * 28).map(|_| rng.normal() as f32).collect();
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [4, 1, 28, 28]), &device);
    let logits = |m: &stoke::models::Classifier| -> Vec<f32> {
        m.forward(images.clone())
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let inference: Vec<f32> = {
        let inner = images.clone().inner();
        use burn::module::Module;
        model
            .valid()
            .forward(inner)
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let evaluation = stoke::attacks::eval_mode(&model);
    // The two devices run different kernels: measured differences up to 1e-7 on logits of
    // 0.3; a dropped branch moves them by 1e-2 and more.
    let largest = |a: &[f32]| -> f32 {
        a.iter()
            .zip(&inference)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    for _ in 0..3 {
        assert!(largest(&logits(&evaluation)) < 1e-5);
    }
    // Training mode drops branches: the logits differ from the inference model's.
    assert!(largest(&logits(&model)) > 1e-2);
}
