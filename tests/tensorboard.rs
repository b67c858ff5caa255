//! `train.tensorboard = true` writes event files whose scalars are exactly metrics.jsonl's
//! numbers (as f32) at the same steps, and, for a diffusion run, a PNG grid of samples at
//! each evaluation.

mod common;

use common::{smoke, train};
use std::collections::BTreeMap;
use std::path::Path;
use stoke::tensorboard::{Value, read_events};

/// Every event of every file in RUN/tensorboard, in file order.
fn events(run: &Path) -> Vec<stoke::tensorboard::Event> {
    let dir = run.join("tensorboard");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no event file in {}", dir.display());
    for file in &files {
        assert!(
            file.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .contains("tfevents")
        );
    }
    files.iter().flat_map(|f| read_events(f).unwrap()).collect()
}

#[test]
fn scalars_are_the_metrics_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&["train.tensorboard=true", "train.epochs=1"]);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    let events = events(dir.path());
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    let mut scalars: BTreeMap<(String, i64), f32> = BTreeMap::new();
    for event in &events {
        for value in &event.values {
            if let Value::Scalar { tag, value } = value {
                scalars.insert((tag.clone(), event.step), *value);
            }
        }
    }
    let lines = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let mut checked = 0;
    for line in lines.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let step = line["step"].as_i64().unwrap();
        // Which kind of line: a step's has the batch loss, a window's the epoch, an
        // evaluation's the test loss.
        let prefix = match () {
            _ if line.get("batch_loss").is_some() => "step",
            _ if line.get("test_loss").is_some() => "eval",
            _ => "train",
        };
        for (name, value) in line.as_object().unwrap() {
            let Some(value) = value.as_f64() else {
                continue;
            };
            if name == "step" {
                continue;
            }
            let tag = format!("{prefix}/{name}");
            let written = scalars.get(&(tag.clone(), step));
            assert_eq!(written, Some(&(value as f32)), "{tag} at step {step}");
            checked += 1;
        }
    }
    assert!(scalars.contains_key(&("eval/test_accuracy".to_string(), config_steps(&lines))));
    assert!(checked > 20, "{checked}");
}

fn config_steps(lines: &str) -> i64 {
    lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["step"].as_i64())
        .max()
        .unwrap()
}

#[test]
fn diffusion_runs_get_a_sample_grid_at_each_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let overrides: Vec<String> = [
        "model.name=\"unet_tiny\"",
        "dataset.train_size=64",
        "dataset.test_size=16",
        "data.batch_size=16",
        "data.eval_batch_size=16",
        "train.steps=4",
        "train.eval_every=2",
        "schedule.warmup_epochs=0.0",
        "train.tensorboard=true",
        "train.tensorboard_samples=4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (config, resolved) = stoke::config::resolve("edm-fashion-mnist", &overrides).unwrap();
    train(&config, &resolved, dir.path(), false, None).unwrap();
    let images: Vec<(i64, u32, u32, u32, Vec<u8>)> = events(dir.path())
        .into_iter()
        .flat_map(|e| {
            let step = e.step;
            e.values.into_iter().filter_map(move |v| match v {
                Value::Image {
                    tag,
                    height,
                    width,
                    channels,
                    png,
                } if tag == "samples" => Some((step, height, width, channels, png)),
                _ => None,
            })
        })
        .collect();
    let steps: Vec<i64> = images.iter().map(|i| i.0).collect();
    assert_eq!(steps, [2, 4]);
    for (_, height, width, channels, png) in images {
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (width, height));
        assert_eq!(channels, 1);
        // Four 28x28 samples: a 2x2 grid at least 56 pixels a side.
        assert!(width >= 56 && height >= 56, "{width}x{height}");
    }
}
