//! The diffusion recipes end to end on a tiny UNet and 128 Fashion-MNIST images: training
//! without an accuracy (best checkpoint by test loss, the loss per noise level), exact resume
//! with the EMA in the checkpoint, deterministic sampling, class conditioning, and the errors
//! a wrong config gets.

mod common;

use common::{stderr, stoke, train};
use stoke::config::{RunConfig, resolve};
use stoke::diffusion::generate::{GeneratedImages, SampleRequest, Sampler};
use stoke::train::checkpoint::CheckpointDir;
use stoke::train::metrics::read_without_timing;

/// The EDM preset shrunk to seconds: tiny UNet, 128 training and 32 test images.
fn tiny(recipe: &str, extra: &[&str]) -> (RunConfig, toml::Table) {
    let mut overrides: Vec<String> = [
        "model.name=\"unet_tiny\"",
        "dataset.train_size=128",
        "dataset.test_size=32",
        "data.batch_size=16",
        "data.eval_batch_size=16",
        "train.steps=24",
        "train.eval_every=8",
        "train.checkpoint_every=4",
        "train.log_every=4",
        "optimizer.lr=0.002",
        "schedule.warmup_epochs=0.0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if recipe != "edm" {
        overrides.push(format!("recipe.name=\"{recipe}\""));
    }
    overrides.extend(extra.iter().map(|s| s.to_string()));
    resolve("edm-fashion-mnist", &overrides).expect("config resolves")
}

fn request(n: usize, batch_size: usize, seed: u64) -> SampleRequest {
    SampleRequest {
        n,
        steps: Some(4),
        sampler: None,
        class: None,
        seed,
        use_ema: true,
        batch_size,
        progress: None,
    }
}

fn sample(dir: &std::path::Path, config: &RunConfig, request: &SampleRequest) -> GeneratedImages {
    // Restoring builds (randomly initialised) models: not while another test trains.
    let _guard = common::device_generator();
    let latest = CheckpointDir::new(dir).latest().unwrap();
    let device = stoke::device::parse(&config.device).unwrap();
    let trainer = stoke::Trainer::from_checkpoint(config, &latest, &device).unwrap();
    trainer.generate(request).unwrap()
}

#[test]
fn edm_trains_with_a_test_loss_per_noise_level_and_samples_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = tiny("edm", &[]);
    let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
    assert_eq!(summary.test_accuracy, None);
    // Eight stratified levels, each with 4 of the 32 test images.
    assert_eq!(
        summary.test_loss_parts.len(),
        8,
        "{:?}",
        summary.test_loss_parts
    );
    let mean: f64 = summary.test_loss_parts.values().sum::<f64>() / 8.0;
    assert!((mean - summary.test_loss).abs() < 1e-6 * summary.test_loss.max(1.0));
    let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
    let test_losses: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["test_loss"].as_f64())
        .collect();
    assert_eq!(test_losses.len(), 3);
    assert!(lines.iter().all(|l| l.get("test_accuracy").is_none()));
    // An untrained EDM denoiser scores about 1 (unit-variance targets); 24 steps must bring
    // the test loss of the EMA weights down.
    println!("test losses {test_losses:.4?}");
    assert!(test_losses[2] < test_losses[0], "{test_losses:?}");
    // The best checkpoint is the one of the lowest test loss.
    let best = test_losses.iter().cloned().fold(f64::INFINITY, f64::min);
    let best_step = 8 * (1 + test_losses.iter().position(|l| *l == best).unwrap());
    assert_eq!(summary.best_step, Some(best_step));
    assert!(CheckpointDir::new(dir.path()).best().is_some());

    // Sampling: the shape and range of images, the same images for a seed whatever the
    // batch size, other images for another seed.
    let a = sample(dir.path(), &config, &request(5, 5, 1));
    assert_eq!(a.shape, [5, 1, 28, 28]);
    assert_eq!((a.sampler, a.steps), (Sampler::Heun, 4));
    assert!(a.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    let b = sample(dir.path(), &config, &request(5, 2, 1));
    assert_eq!(a.pixels, b.pixels);
    let c = sample(dir.path(), &config, &request(5, 5, 2));
    assert_ne!(a.pixels, c.pixels);
    // The raw weights sample differently from their average.
    let raw = sample(
        dir.path(),
        &config,
        &SampleRequest {
            use_ema: false,
            ..request(5, 5, 1)
        },
    );
    assert_ne!(a.pixels, raw.pixels);
}

#[test]
fn a_resumed_scoreaug_run_matches_the_uninterrupted_one() {
    // The EMA and the augmentation draws must continue exactly: the evaluations after the
    // resume score the EMA weights.
    let extra = ["recipe.augment=\"scoreaug\"", "recipe.aug_probability=0.8"];
    let (config, resolved) = tiny("edm", &extra);
    let full = tempfile::tempdir().unwrap();
    let summary = train(&config, &resolved, full.path(), false, None).unwrap();
    let parted = tempfile::tempdir().unwrap();
    let stopped = train(&config, &resolved, parted.path(), false, Some(10));
    assert!(stopped.is_err());
    let resumed = train(&config, &resolved, parted.path(), true, None).unwrap();
    assert_eq!(
        read_without_timing(&full.path().join("metrics.jsonl")).unwrap(),
        read_without_timing(&parted.path().join("metrics.jsonl")).unwrap()
    );
    assert_eq!(summary.test_loss, resumed.test_loss);
    let lines = read_without_timing(&full.path().join("metrics.jsonl")).unwrap();
    let augmented: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["augmented_fraction"].as_f64())
        .collect();
    let mean = augmented.iter().sum::<f64>() / augmented.len() as f64;
    // 24 steps of 16 examples at probability 0.8: 384 draws, standard deviation 0.02.
    assert!((mean - 0.8).abs() < 0.1, "{mean}");
}

#[test]
fn ddpm_trains_and_samples_with_ddim_and_ancestral_steps() {
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "recipe.timesteps=50",
        "recipe.schedule=\"cosine\"",
        "recipe.class_conditional=true",
    ];
    let (config, resolved) = tiny("ddpm", &extra);
    let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
    assert!(summary.test_loss.is_finite());
    assert!(
        summary
            .test_loss_parts
            .keys()
            .all(|k| k.starts_with("test_loss_t"))
    );
    let ddim = sample(
        dir.path(),
        &config,
        &SampleRequest {
            sampler: Some(Sampler::Ddim),
            ..request(4, 4, 0)
        },
    );
    // Class-conditional: the classes in turn.
    assert_eq!(ddim.classes, Some(vec![0, 1, 2, 3]));
    assert!(ddim.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    let ancestral = |batch_size| {
        sample(
            dir.path(),
            &config,
            &SampleRequest {
                sampler: Some(Sampler::Ddpm),
                steps: None,
                class: Some(7),
                ..request(3, batch_size, 5)
            },
        )
    };
    let one = ancestral(3);
    assert_eq!((one.steps, one.classes.clone()), (50, Some(vec![7, 7, 7])));
    // Ancestral sampling draws fresh noise per image and step: batches do not matter.
    assert_eq!(one.pixels, ancestral(1).pixels);

    let latest = CheckpointDir::new(dir.path()).latest().unwrap();
    let device = stoke::device::parse(&config.device).unwrap();
    let trainer = {
        let _guard = common::device_generator();
        stoke::Trainer::from_checkpoint(&config, &latest, &device).unwrap()
    };
    for (bad, needle) in [
        (
            SampleRequest {
                class: Some(10),
                ..request(2, 2, 0)
            },
            "--class 10",
        ),
        (
            SampleRequest {
                sampler: Some(Sampler::Heun),
                ..request(2, 2, 0)
            },
            "ddpm or ddim",
        ),
        (
            SampleRequest {
                sampler: Some(Sampler::Ddpm),
                steps: Some(10),
                ..request(2, 2, 0)
            },
            "all 50 timesteps",
        ),
    ] {
        let _guard = common::device_generator();
        let error = trainer.generate(&bad).unwrap_err();
        assert!(format!("{error:#}").contains(needle), "{error:#}");
    }
}

#[test]
fn wrong_configs_get_errors_that_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            tiny("edm", &["model.name=\"small_cnn\""]),
            "arch = \"unet\"",
        ),
        (tiny("erm", &[]), "not a classifier"),
        (tiny("edm", &["recipe.timesteps=10"]), "recipe.timesteps"),
        (tiny("edm", &["recipe.augment=\"mixup\""]), "recipe.augment"),
        (
            tiny("edm", &["recipe.condition_on_augmentation=true"]),
            "no augmentation",
        ),
        (tiny("edm", &["recipe.ema_decay=1.0"]), "recipe.ema_decay"),
        (
            tiny(
                "edm",
                &["recipe.augment=\"scoreaug\"", "recipe.transforms=[]"],
            ),
            "recipe.transforms",
        ),
        (tiny("ddpm", &["recipe.timesteps=1"]), "recipe.schedule"),
    ];
    for ((config, resolved), needle) in cases {
        let error = train(&config, &resolved, &dir.path().join("x"), false, None).unwrap_err();
        assert!(format!("{error:#}").contains(needle), "{needle}: {error:#}");
    }
}

#[test]
fn the_sample_command_writes_a_png_grid_and_raw_values() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = tiny("edm", &["train.steps=4"]);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    let grid = dir.path().join("grid.png");
    let raw = dir.path().join("raw.safetensors");
    let run = dir.path().to_str().unwrap();
    let output = stoke(&[
        "sample",
        run,
        "--n",
        "6",
        "--steps",
        "3",
        "--columns",
        "3",
        "--scale",
        "1",
        "--out",
        grid.to_str().unwrap(),
        "--raw",
        raw.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let png = image::open(&grid).unwrap().to_luma8();
    // 3 x 2 cells of 28 + 2 pixels, plus the outer padding.
    assert_eq!(png.dimensions(), (3 * 30 + 2, 2 * 30 + 2));
    assert!(std::fs::metadata(&raw).unwrap().len() > 6 * 784 * 4);
    // The training split's denoising loss (the overfitting gap to the test loss).
    let output = stoke(&["eval", run, "--split", "train", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let eval: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    assert_eq!(
        (eval["images"].as_u64(), eval["split"].as_str()),
        (Some(128), Some("train"))
    );
    assert!(eval.get("test_accuracy").is_none() && eval["test_loss"].as_f64().unwrap() > 0.0);
    // A missing run directory is named.
    let output = stoke(&["sample", "/nonexistent/run"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("/nonexistent/run"));
}

#[test]
fn fid_compares_samples_with_the_test_split_in_classifier_or_inception_features() {
    let edm = tempfile::tempdir().unwrap();
    let (config, resolved) = tiny("edm", &["train.steps=4"]);
    train(&config, &resolved, edm.path(), false, None).unwrap();
    let classifier = tempfile::tempdir().unwrap();
    let (config, resolved) = resolve(
        "quickstart",
        &[
            "dataset.train_size=256".to_string(),
            "train.steps=8".to_string(),
        ],
    )
    .unwrap();
    train(&config, &resolved, classifier.path(), false, None).unwrap();
    let run = edm.path().to_str().unwrap();
    let fid = |features: &[&str]| {
        let mut args = vec!["fid", run, "--n", "24", "--steps", "2", "--json", "--quiet"];
        args.extend_from_slice(features);
        let output = stoke(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str::<serde_json::Value>(&common::stdout(&output)).unwrap()
    };
    let by_classifier = fid(&["--classifier", classifier.path().to_str().unwrap()]);
    let distance = by_classifier["fid_classifier"].as_f64().unwrap();
    // Samples of a 4-step model are noise: far from the data in any feature space.
    assert!(distance.is_finite() && distance > 0.0, "{by_classifier}");
    assert_eq!(by_classifier["generated"], 24);
    assert_eq!(by_classifier["reference"], 32);
    // The same samples and features give the same number.
    let again = fid(&["--classifier", classifier.path().to_str().unwrap()]);
    assert_eq!(again["fid_classifier"], by_classifier["fid_classifier"]);
    // The Inception path, with the small fake network of the real one's interface (grey
    // images are repeated to RGB and resized to 299x299).
    let weights = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/fake_inception.safetensors"
    );
    let by_inception = fid(&["--inception", weights]);
    assert!(
        by_inception["fid"].as_f64().unwrap().is_finite(),
        "{by_inception}"
    );
    // No feature network: a usage error.
    let output = stoke(&["fid", run, "--n", "4"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--classifier"),
        "{}",
        stderr(&output)
    );
}
