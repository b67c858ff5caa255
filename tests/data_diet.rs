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
    // The per-run parts that let an interrupted scoring resume are gone once it finished.
    assert!(!dir.path().join("el2n.json.parts").exists());
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

/// GraNd is the norm of the gradient of each image's evaluation-mode loss: central finite
/// differences of `predict`'s per-image losses over every parameter of a tiny trained CNN
/// (one 2-channel conv stage, batch norm with trained running statistics, a linear head; no
/// autodiff involved) give the same norms.
#[test]
fn grand_is_the_norm_of_finite_difference_gradients_of_the_evaluation_loss() {
    let (config, _) = common::smoke(&[
        "model.widths=[2]",
        "train.epochs=0",
        "train.steps=6",
        "schedule.name=\"constant\"",
    ]);
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let mut trainer =
        stoke::Trainer::build(&config, &device, Some(data.clone()), Setup::default()).unwrap();
    trainer.run_steps(6).unwrap();
    let images = data.train.select(&[0, 1, 2, 3, 100, 200]);
    let grand = trainer.example_gradient_norms(&images).unwrap();
    let weights = trainer.weights();
    let names: Vec<String> = weights
        .iter()
        .filter(|(_, t)| t.kind == stoke::train::TensorKind::Parameter)
        .map(|(name, _)| name.to_string())
        .collect();
    // f32 losses near 1: steps of 1e-3 balance the rounding error (~1e-7 / 1e-3 per
    // component) against the curvature error (~h^2); 1e-2 and 3e-3 measured worse.
    let h = 1e-3f32;
    let mut squares = vec![0.0f64; images.len()];
    let mut perturbed = weights.clone();
    for name in &names {
        for k in 0..weights.get(name).unwrap().values.len() {
            let mut loss_at = |delta: f32| {
                perturbed.values_mut(name).unwrap()[k] =
                    weights.get(name).unwrap().values[k] + delta;
                trainer.set_weights(&perturbed).unwrap();
                trainer.predict(&images).unwrap().losses
            };
            let (up, down) = (loss_at(h), loss_at(-h));
            perturbed.values_mut(name).unwrap()[k] = weights.get(name).unwrap().values[k];
            for (i, square) in squares.iter_mut().enumerate() {
                let slope = (up[i] as f64 - down[i] as f64) / (2.0 * h as f64);
                *square += slope * slope;
            }
        }
    }
    for (i, (&g, square)) in grand.iter().zip(squares).enumerate() {
        let reference = square.sqrt();
        // Measured: relative differences up to 4e-5 (f32 differences of losses).
        assert!(
            (g - reference).abs() <= 2e-4 * reference,
            "image {i}: GraNd {g}, finite differences {reference}"
        );
        assert!(
            g > 1e-3,
            "image {i}: a trained model's loss gradient is not zero: {g}"
        );
    }
}

/// `stoke score --method grand --epochs 0` scores at initialisation, as the paper does: the
/// file holds, bit for bit, the library's GraNd of every training image under the freshly
/// built model of seed 0, and says which method made it.
#[test]
fn grand_scores_at_initialisation_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grand.json");
    let overrides = ["dataset.train_size=96", "train.epochs=0", "train.steps=1"];
    let mut args = vec!["score", "smoke"];
    args.extend(overrides);
    args.extend(["--method", "grand", "--epochs", "0", "--seeds", "1"]);
    args.extend(["--out", file.to_str().unwrap()]);
    let output = stoke(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let scores: ScoreFile = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!((scores.method.as_str(), scores.epochs), ("grand", 0));
    let (config, _) = common::smoke(&overrides);
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let trainer =
        stoke::Trainer::build(&config, &device, Some(data.clone()), Setup::default()).unwrap();
    assert_eq!(
        scores.scores,
        trainer.example_gradient_norms(&data.train).unwrap()
    );
}

/// Scoring keeps each finished run's scores in the parts directory: scoring 2 runs after 1
/// reads the first back and trains only the second, and the result equals scoring both
/// from scratch bit for bit; parts of another method or config are scored again.
#[test]
fn an_interrupted_scoring_resumes_from_its_finished_runs() {
    use stoke::data_diet::{Method, ScoreHooks, score};
    let (config, _) = common::smoke(&["dataset.train_size=128", "schedule.name=\"constant\""]);
    let _generator = common::device_generator();
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    let run = |method: Method, seeds: usize, parts: Option<&std::path::Path>| {
        let mut seen = Vec::new();
        let mut on_run = |run: usize, reused: bool| seen.push((run, reused));
        let hooks = ScoreHooks {
            parts,
            observers: None,
            on_run: Some(&mut on_run),
        };
        let file = score(&config, method, 1, seeds, hooks).unwrap();
        (file, seen)
    };
    let (_, seen) = run(Method::El2n, 1, Some(&parts));
    assert_eq!(seen, vec![(0, false)]);
    let (resumed, seen) = run(Method::El2n, 2, Some(&parts));
    assert_eq!(seen, vec![(0, true), (1, false)]);
    let (fresh, _) = run(Method::El2n, 2, None);
    assert_eq!(resumed.scores, fresh.scores);
    let (_, seen) = run(Method::Grand, 1, Some(&parts));
    assert_eq!(seen, vec![(0, false)]);
    // Nor are the parts of another config.
    let mut other = config.clone();
    other.optimizer.lr *= 2.0;
    let mut seen = Vec::new();
    let mut on_run = |run: usize, reused: bool| seen.push((run, reused));
    let hooks = ScoreHooks {
        parts: Some(&parts),
        observers: None,
        on_run: Some(&mut on_run),
    };
    score(&other, Method::El2n, 1, 1, hooks).unwrap();
    assert_eq!(seen, vec![(0, false)]);
}
