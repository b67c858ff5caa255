//! The library API: a Trainer steps exactly as `stoke train` does, its gradients and their
//! application make the same step, several Trainers do not disturb each other, weights move
//! in and out by name, and a saved Trainer resumes exactly.

mod common;

use common::{smoke, stderr, stoke};
use std::sync::{Arc, Mutex};
use stoke::train::observer::{Event, Observer, StepReport, TrainerAccess};
use stoke::train::recorder::RunRecorder;
use stoke::train::{Interrupted, TensorKind};
use stoke::{Trainer, Weights};

fn trainer(overrides: &[&str]) -> Trainer {
    let (config, _) = smoke(overrides);
    let device = stoke::device::parse(&config.device).unwrap();
    Trainer::new(&config, &device).unwrap()
}

fn losses(reports: &[StepReport]) -> Vec<f64> {
    reports.iter().map(|r| r.loss).collect()
}

/// `stoke train` and `step()` from the library: the same losses, bit for bit (the CLI's
/// metrics.jsonl prints each f64 in its shortest exact form).
#[test]
fn library_steps_equal_stoke_train_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = stoke(&[
        "train",
        "recipes/quickstart.toml",
        "train.steps=30",
        "train.eval_every=30",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    // Parsed by Rust's exact parser (serde_json's default float parsing may be 1 ulp off).
    let cli: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("\"batch_loss\":").nth(1))
        .map(|rest| rest.split([',', '}']).next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(cli.len(), 30);

    let _generator = common::device_generator();
    let overrides = ["train.steps=30".to_string()];
    let (config, _) = stoke::config::resolve("recipes/quickstart.toml", &overrides).unwrap();
    let device = stoke::device::parse(&config.device).unwrap();
    let mut trainer = Trainer::new(&config, &device).unwrap();
    let library: Vec<f64> = (0..30).map(|_| trainer.step().unwrap().loss).collect();
    assert_eq!(library, cli);
    assert!(trainer.is_finished());
    assert!(
        trainer.step().is_err(),
        "a finished run takes no more steps"
    );
}

/// `gradients()` then `apply_gradients()` is `step()`: same reports, same weights, with
/// momentum, clipping and a linear head (whose weight is transposed on the way out and in).
#[test]
fn gradients_then_apply_is_a_step() {
    let _generator = common::device_generator();
    let overrides = ["optimizer.grad_clip_norm=0.5", "model.dropout=0.2"];
    let mut stepped = trainer(&overrides);
    let mut split = trainer(&overrides);
    for _ in 0..6 {
        let a = stepped.step().unwrap();
        let (gradients, before) = split.gradients().unwrap();
        assert!(
            gradients
                .iter()
                .all(|(_, t)| t.kind == TensorKind::Parameter)
        );
        assert_eq!(
            gradients.len(),
            split.weights().only(TensorKind::Parameter).len()
        );
        let b = split.apply_gradients(&gradients).unwrap();
        assert_eq!((a.loss, a.grad_l2, a.lr), (b.loss, b.grad_l2, b.lr));
        assert_eq!((before.loss, before.grad_l2), (b.loss, b.grad_l2));
    }
    assert_eq!(stepped.weights(), split.weights());

    // Gradients from elsewhere: named tensors of the model, with their shapes.
    let (mut gradients, _) = split.gradients().unwrap();
    let name = gradients
        .iter()
        .find(|(_, t)| t.shape.len() > 1)
        .map(|(n, _)| n.to_string())
        .unwrap();
    gradients = Weights::from_tensors(gradients.iter().map(|(n, t)| {
        let mut t = t.clone();
        if n == name {
            t.shape = vec![t.values.len()];
        }
        (n.to_string(), t)
    }))
    .unwrap();
    let error = split.apply_gradients(&gradients).unwrap_err();
    assert!(format!("{error:#}").contains(&name), "{error:#}");
}

/// Two Trainers stepped alternately give exactly what each gives alone (dropout draws from
/// the device generator, which each step re-seeds from its own keys).
#[test]
fn alternating_trainers_match_each_alone() {
    let _generator = common::device_generator();
    let a_config = ["model.dropout=0.3", "seed=1"];
    let b_config = [
        "model.dropout=0.3",
        "seed=2",
        "optimizer.name=\"adam\"",
        "optimizer.lr=0.003",
    ];
    let alone_a = losses(&trainer(&a_config).run_steps(5).unwrap());
    let alone_b = losses(&trainer(&b_config).run_steps(5).unwrap());
    let (mut a, mut b) = (trainer(&a_config), trainer(&b_config));
    let (mut both_a, mut both_b) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        both_a.push(a.step().unwrap().loss);
        both_b.push(b.step().unwrap().loss);
    }
    assert_eq!(both_a, alone_a);
    assert_eq!(both_b, alone_b);
    assert_ne!(alone_a, alone_b);
}

/// Trainers with different ids draw different dropout masks from one seed.
#[test]
fn trainer_ids_key_the_device_generator() {
    let _generator = common::device_generator();
    let (config, _) = smoke(&["model.dropout=0.5"]);
    let device = stoke::device::parse(&config.device).unwrap();
    let run = |id| {
        let setup = stoke::train::Setup {
            id,
            ..Default::default()
        };
        let mut t = Trainer::build(&config, &device, None, setup).unwrap();
        losses(&t.run_steps(3).unwrap())
    };
    assert_eq!(
        run(0),
        losses(&trainer(&["model.dropout=0.5"]).run_steps(3).unwrap())
    );
    assert_ne!(run(0), run(1));
}

/// Weights: the names and values `stoke export` writes, parameters and buffers tagged, set
/// back exactly, and mismatches named.
#[test]
fn weights_match_the_export_and_set_back_exactly() {
    let _generator = common::device_generator();
    let mut t = trainer(&[]);
    t.run_steps(4).unwrap();
    let weights = t.weights();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    assert_eq!(t.export_safetensors(&path).unwrap(), weights.len());
    let exported = Weights::read_safetensors(&path)
        .unwrap()
        .with_kinds_of(&weights);
    assert_eq!(exported, weights);
    let kind = |name: &str| weights.get(name).map(|t| t.kind);
    let buffers: Vec<&str> = weights
        .iter()
        .filter(|(_, t)| t.kind == TensorKind::Buffer)
        .map(|(n, _)| n)
        .collect();
    assert!(
        !buffers.is_empty()
            && buffers
                .iter()
                .all(|n| n.ends_with("running_mean") || n.ends_with("running_var")),
        "{buffers:?}"
    );
    assert!(
        weights
            .iter()
            .any(|(n, _)| kind(n) == Some(TensorKind::Parameter))
    );

    // Into a fresh Trainer: the same evaluation, bit for bit.
    let before = t.evaluate().unwrap();
    let mut fresh = trainer(&[]);
    assert_ne!(fresh.weights(), weights);
    fresh.set_weights(&weights).unwrap();
    assert_eq!(fresh.weights(), weights);
    assert_eq!(fresh.evaluate().unwrap(), before);

    // Shapes and names must match.
    let name = weights.names().next().unwrap().to_string();
    let wrong = Weights::from_tensors(weights.iter().map(|(n, t)| {
        let mut t = t.clone();
        if n == name {
            t.values.push(0.0);
            t.shape = vec![t.values.len()];
        }
        (n.to_string(), t)
    }))
    .unwrap();
    let error = fresh.set_weights(&wrong).unwrap_err();
    assert!(format!("{error:#}").contains(&name), "{error:#}");
    let missing = Weights::from_tensors(
        weights
            .iter()
            .filter(|(n, _)| *n != name)
            .map(|(n, t)| (n.to_string(), t.clone())),
    )
    .unwrap();
    let error = fresh.set_weights(&missing).unwrap_err();
    assert!(format!("{error:#}").contains(&name), "{error:#}");
    assert_eq!(
        fresh.weights(),
        weights,
        "a failed set_weights changes nothing"
    );
}

/// Saved with `save`, a Trainer resumes (by the library or `stoke train --resume`) to the
/// losses of the uninterrupted run.
#[test]
fn a_saved_trainer_resumes_exactly() {
    let _generator = common::device_generator();
    let overrides = ["train.steps=12", "model.dropout=0.2"];
    let whole = losses(&trainer(&overrides).run_steps(12).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut first = trainer(&overrides);
    let mut seen = losses(&first.run_steps(5).unwrap());
    first.save(dir.path()).unwrap();
    drop(first);
    let device = stoke::device::parse("flex").unwrap();
    let mut resumed = Trainer::resume(dir.path(), &[], &device).unwrap();
    assert_eq!(resumed.completed_steps(), 5);
    seen.extend(losses(&resumed.run_steps(100).unwrap()));
    assert_eq!(seen, whole);
    // Saving into a directory of another run is refused.
    let mut other = trainer(&["seed=9"]);
    let error = other.save(dir.path()).unwrap_err();
    assert!(format!("{error:#}").contains("another run"), "{error:#}");
}

/// Per-example predictions agree with the evaluation: their mean loss is the test loss (to
/// f32 summation order, 1e-6 relative) and their argmax gives the test accuracy exactly.
#[test]
fn predictions_agree_with_the_evaluation() {
    let _generator = common::device_generator();
    let mut t = trainer(&[]);
    t.run_steps(6).unwrap();
    let eval = t.evaluate().unwrap();
    let (config, _) = smoke(&[]);
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let predictions = t.predict(&data.test).unwrap();
    assert_eq!(predictions.len(), data.test.len());
    let mean = predictions
        .losses
        .iter()
        .map(|&l| f64::from(l))
        .sum::<f64>()
        / predictions.len() as f64;
    assert!(
        (mean - eval.test_loss).abs() <= 1e-6 * eval.test_loss,
        "{mean} vs {}",
        eval.test_loss
    );
    let correct = (0..predictions.len())
        .filter(|&i| predictions.predicted(i) == predictions.labels[i] as usize)
        .count();
    assert_eq!(
        Some(correct as f64 / predictions.len() as f64),
        eval.test_accuracy
    );
    // Evaluating on a part of the data the Trainer was given.
    let part = data.test.slice(0..10);
    assert_eq!(t.evaluate_on(&part).unwrap().images, 10);
    let empty = data.test.slice(0..0);
    assert!(t.predict(&empty).is_err());
}

/// Cancels its Trainer's token once `at` steps are done.
struct CancelAt {
    at: usize,
    token: stoke::CancelToken,
    events: Arc<Mutex<Vec<String>>>,
}

impl Observer for CancelAt {
    fn on_event(&mut self, event: &Event<'_>, _: &mut dyn TrainerAccess) -> anyhow::Result<()> {
        if let Event::Step(report) = event
            && report.step == self.at
        {
            self.token.cancel();
        }
        let name = format!("{event:?}");
        let name = name
            .split([' ', '(', '{'])
            .next()
            .unwrap_or_default()
            .to_string();
        self.events.lock().unwrap().push(name);
        Ok(())
    }
}

/// The caller's token stops `run` after the current step, with a checkpoint from the
/// recorder; the run then resumes to the uninterrupted metrics.
#[test]
fn a_cancelled_run_checkpoints_and_resumes() {
    let _generator = common::device_generator();
    let (config, resolved) = smoke(&["train.steps=10"]);
    let device = stoke::device::parse(&config.device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (whole_dir, cut_dir) = (dir.path().join("whole"), dir.path().join("cut"));
    let mut whole = Trainer::new(&config, &device).unwrap();
    whole.attach(RunRecorder::create(&whole_dir, &resolved, 3).unwrap());
    whole.run().unwrap();

    let mut cut = Trainer::new(&config, &device).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    cut.attach(RunRecorder::create(&cut_dir, &resolved, 3).unwrap());
    cut.attach(CancelAt {
        at: 4,
        token: cut.cancel_token(),
        events: events.clone(),
    });
    let error = cut.run().unwrap_err();
    let interrupted = error
        .downcast_ref::<Interrupted>()
        .expect("an interruption");
    assert_eq!(interrupted.step, 4);
    assert!(
        interrupted
            .checkpoint
            .as_ref()
            .unwrap()
            .ends_with("step-00000004")
    );
    let events = events.lock().unwrap().clone();
    assert_eq!(events.first().map(String::as_str), Some("Started"));
    assert_eq!(events.last().map(String::as_str), Some("Interrupted"));
    drop(cut);

    let options = stoke::train::TrainOptions {
        out_dir: cut_dir.clone(),
        resume: true,
        ..Default::default()
    };
    stoke::train::train(&config, &resolved, &options, Vec::new()).unwrap();
    let read = |d: &std::path::Path| {
        stoke::train::metrics::read_without_timing(&d.join("metrics.jsonl")).unwrap()
    };
    assert_eq!(read(&cut_dir), read(&whole_dir));
}

/// A Trainer without observers writes nothing to the terminal: a child process that trains
/// and evaluates one prints nothing on stderr (the test harness writes to stdout).
#[test]
fn a_trainer_without_observers_prints_nothing() {
    if std::env::var_os("STOKE_TRAINER_CHILD").is_some() {
        let mut t = trainer(&["train.steps=5", "train.log_every=1", "train.eval_every=2"]);
        t.run().unwrap();
        t.evaluate().unwrap();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_trainer_without_observers_prints_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STOKE_TRAINER_CHILD", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

/// Per-example sampling weights change the batches from the next step on, are kept in the
/// checkpoint (a resumed run draws the same batches), and bad weights are refused.
#[test]
fn sampling_weights_steer_the_batches_and_survive_a_resume() {
    let _generator = common::device_generator();
    let overrides = ["train.steps=12"];
    let plain = losses(&trainer(&overrides).run_steps(12).unwrap());
    let weights: Vec<f64> = (0..512)
        .map(|i| if i % 4 == 0 { 1.0 } else { 0.1 })
        .collect();
    let weighted = |t: &mut Trainer| t.set_sampling_weights(Some(weights.clone())).unwrap();
    let mut whole = trainer(&overrides);
    let mut seen = losses(&whole.run_steps(3).unwrap());
    weighted(&mut whole);
    seen.extend(losses(&whole.run_steps(9).unwrap()));
    assert_eq!(seen[..3], plain[..3]);
    assert_ne!(seen[3..], plain[3..]);

    let dir = tempfile::tempdir().unwrap();
    let mut first = trainer(&overrides);
    let mut cut = losses(&first.run_steps(3).unwrap());
    weighted(&mut first);
    cut.extend(losses(&first.run_steps(3).unwrap()));
    first.save(dir.path()).unwrap();
    drop(first);
    let device = stoke::device::parse("flex").unwrap();
    let mut resumed = Trainer::resume(dir.path(), &[], &device).unwrap();
    cut.extend(losses(&resumed.run_steps(6).unwrap()));
    assert_eq!(cut, seen);

    let error = resumed
        .set_sampling_weights(Some(vec![1.0; 3]))
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("3 sampling weights for 512"),
        "{error:#}"
    );
    let error = resumed
        .set_sampling_weights(Some(vec![0.0; 512]))
        .unwrap_err();
    assert!(format!("{error:#}").contains("all zero"), "{error:#}");
}
