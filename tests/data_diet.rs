//! Data Diet: `stoke score` writes the average EL2N of independently seeded runs, and
//! `dataset.keep` trains on the subset a scores file (or a seed) chooses.

mod common;

use common::{stderr, stoke};
use stoke::data_diet::{ScoreFile, el2n_scores};
use stoke::train::Setup;

/// The scores file holds, for every one of the 512 training images, the mean over the runs
/// of seeds 0 and 1 of their EL2N after one epoch, bit for bit what the library gives run by
/// run; training on its top half takes half the steps per epoch.
#[test]
fn scores_average_seeded_runs_and_keep_trains_on_the_chosen_half() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("el2n.json");
    let overrides = [
        "train.epochs=0",
        "train.steps=1",
        "schedule.name=\"constant\"",
    ];
    let mut args = vec!["score", "smoke"];
    args.extend(overrides);
    args.extend([
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--out",
        file.to_str().unwrap(),
    ]);
    let output = stoke(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let scores: ScoreFile = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!((scores.train_images, scores.scores.len()), (512, 512));
    let (config, _) = common::smoke(&overrides);
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let mut sums = vec![0.0; 512];
    for seed in 0..2 {
        let mut local = config.clone();
        local.seed = seed;
        local.train.steps = 16; // 512 images / 32 per batch: one epoch
        let mut trainer =
            stoke::Trainer::build(&local, &device, Some(data.clone()), Setup::default()).unwrap();
        trainer.run_steps(16).unwrap();
        let predictions = trainer.predict(&data.train).unwrap();
        for (sum, s) in sums.iter_mut().zip(el2n_scores(&predictions)) {
            *sum += s;
        }
    }
    let expected: Vec<f64> = sums.iter().map(|s| s / 2.0).collect();
    assert_eq!(scores.scores, expected);
    assert!(
        scores
            .scores
            .iter()
            .all(|&s| (0.0..=2f64.sqrt()).contains(&s))
    );
    drop(_generator);
    let keep = format!("dataset.keep=\"{}:top:0.5\"", file.display());
    let run = dir.path().join("run");
    let output = stoke(&[
        "train",
        "smoke",
        "train.epochs=0",
        "train.steps=8",
        &keep,
        "--quiet",
        "--json",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    // 256 kept images, 8 steps of 32: one epoch.
    assert_eq!(summary["epochs"].as_f64(), Some(1.0));
    // Another training split (64 images held out) does not match the file.
    let output = stoke(&[
        "train",
        "smoke",
        "dataset.holdout=64",
        &keep,
        "--quiet",
        "--out",
        dir.path().join("other").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("448"), "{}", stderr(&output));
}
