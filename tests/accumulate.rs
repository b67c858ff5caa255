//! Gradient accumulation (`train.accumulate = k`): the same global batch as k micro-batches
//! trains the same weights as without accumulation (for a model without batch norm, whose
//! statistics would see micro-batches), and what it cannot be combined with is a usage error
//! naming the key.

mod common;

use common::assert_smoke_refuses;
use stoke::train::{Setup, TensorKind, Weights};

/// A small ViT (layer norm only, no dropout or drop path) on the smoke data.
const VIT_SMOKE: &str = r#"
seed = 0
[recipe]
name = "erm"
[dataset]
name = "synthetic"
[data]
batch_size = 24
crop_padding = 1
hflip = true
[model]
arch = "vit"
patch = 4
dim = 16
depth = 2
heads = 2
drop_path = 0.0
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[train]
steps = 4
"#;

fn trained(accumulate: usize) -> (Weights, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vit-smoke.toml");
    std::fs::write(&file, VIT_SMOKE).unwrap();
    let k = format!("train.accumulate={accumulate}");
    let (config, _) = stoke::config::resolve(file.to_str().unwrap(), &[k]).unwrap();
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let mut trainer = stoke::Trainer::build(&config, &device, None, Setup::default()).unwrap();
    let losses = trainer
        .run_steps(4)
        .unwrap()
        .iter()
        .map(|r| r.loss)
        .collect();
    (trainer.weights(), losses)
}

#[test]
fn micro_batches_train_the_weights_of_the_whole_batch() {
    let (whole, whole_losses) = trained(1);
    // 24 images: micro-batches of 12 (equal shares), of 5, 5, 5, 5, 4 and of 4, 4, 4, 3, 3,
    // 3, 3 (uneven shares).
    for k in [2, 5, 7] {
        let (split, split_losses) = trained(k);
        // The loss is the batch mean either way: f32 sums in another order (measured within
        // 1.3e-7 relative).
        for (a, b) in whole_losses.iter().zip(&split_losses) {
            assert!((a - b).abs() <= 5e-7 * a.abs(), "k = {k}: {a} vs {b}");
        }
        // After 4 SGD steps with momentum the weights differ by float summation only:
        // measured at most 2.3e-8 of the largest weight; a micro-batch missing or weighted
        // wrongly moves them by orders of magnitude more.
        let mut largest = 0f32;
        let mut difference = 0f32;
        for (name, tensor) in whole.only(TensorKind::Parameter).iter() {
            let other = &split.get(name).unwrap().values;
            for (a, b) in tensor.values.iter().zip(other) {
                largest = largest.max(a.abs());
                difference = difference.max((a - b).abs());
            }
        }
        assert!(
            difference <= 1e-7 * largest,
            "k = {k}: {difference} of {largest}"
        );
    }
}

#[test]
fn accumulation_refuses_what_it_cannot_split() {
    assert_smoke_refuses(
        "train.accumulate",
        &[
            (vec!["train.accumulate=0"], "positive"),
            (vec!["train.accumulate=64"], "data.batch_size"),
            (
                vec!["train.accumulate=2", "recipe.name=\"done\""],
                "weighs its images against each other",
            ),
            (
                vec!["train.accumulate=2", "optimizer.name=adahessian"],
                "re-evaluates the whole batch",
            ),
            (
                vec![
                    "train.accumulate=2",
                    "optimizer.name=adagrad",
                    "schedule.name=constant",
                    "data.batch_size=4",
                    "adaptive_batch.test=norm",
                    "adaptive_batch.eta=0.5",
                    "adaptive_batch.micro_batches=4",
                    "adaptive_batch.max_batch_size=48",
                ],
                "[adaptive_batch]",
            ),
        ],
    );
}
