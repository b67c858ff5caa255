//! Pruning masks in training (exact zeros, exact resume) and the IMP / Sparse Model Soups
//! driver (`stoke train` with `[pruning]`), on the tiny smoke model.

mod common;

use common::{assert_smoke_refuses, assert_usage_error, device_generator, smoke, stoke, stoke_ok};
use stoke::prune::driver::{PruningEvent, PruningOptions};
use stoke::prune::{Masks, Selector};
use stoke::train::{CancelToken, Trainer, Weights};

/// Asserts that every masked-out entry of `weights` is exactly zero and returns how many
/// kept entries are not.
#[track_caller]
fn check_masked_zero(weights: &Weights, masks: &Masks) -> usize {
    let mut nonzero = 0;
    for (name, mask) in masks.iter() {
        let values = &weights.get(name).unwrap().values;
        for (v, keep) in values.iter().zip(&mask.keep) {
            match keep {
                false => assert_eq!(*v, 0.0, "{name}: a pruned weight moved"),
                true => nonzero += (*v != 0.0) as usize,
            }
        }
    }
    nonzero
}

#[test]
fn pruned_weights_stay_exactly_zero_under_momentum_weight_decay_and_adam() {
    for optimizer in [
        vec!["optimizer.weight_decay=5e-4", "optimizer.nesterov=true"],
        vec![
            "optimizer.name=adamw",
            "optimizer.lr=1e-3",
            "optimizer.weight_decay=0.05",
        ],
    ] {
        let _turn = device_generator();
        let (config, _) = smoke(&optimizer);
        let device = stoke::device::parse(&config.device).unwrap();
        let mut trainer = Trainer::new(&config, &device).unwrap();
        let dense = trainer.weights();
        let masks = Masks::dense(&dense)
            .prune_by_magnitude(&dense, 0.7, Selector::Global)
            .unwrap();
        trainer.set_masks(Some(masks.clone())).unwrap();
        // Pruned at once, and kept pruned by set_weights of dense weights.
        check_masked_zero(&trainer.weights(), &masks);
        trainer.set_weights(&dense).unwrap();
        check_masked_zero(&trainer.weights(), &masks);
        trainer.run_steps(6).unwrap();
        let after = trainer.weights();
        // Every kept weight trains (none stuck at zero), every pruned one stays zero.
        assert_eq!(check_masked_zero(&after, &masks), masks.kept());
        let moved = after
            .sub(&dense)
            .unwrap()
            .only(stoke::train::TensorKind::Parameter);
        assert!(moved.l2_norm() > 0.0);
        assert_eq!(trainer.masks(), Some(&masks));
    }
}

/// Saves the smoke model as initialised, with `amount` of each layer pruned, as the run
/// `dir`; returns its masks.
fn save_pruned_smoke(dir: &std::path::Path, amount: f64) -> Masks {
    let _turn = device_generator();
    let (config, _) = smoke(&[]);
    let device = stoke::device::parse(&config.device).unwrap();
    let mut trainer = Trainer::new(&config, &device).unwrap();
    let w = trainer.weights();
    let masks = Masks::dense(&w)
        .prune_by_magnitude(&w, amount, Selector::Layer)
        .unwrap();
    trainer.set_masks(Some(masks.clone())).unwrap();
    trainer.save(dir).unwrap();
    masks
}

#[test]
fn masks_travel_with_init_from_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let pruned = dir.path().join("pruned");
    let masks = save_pruned_smoke(&pruned, 0.5);
    let init = format!("train.init_from={:?}", pruned.to_str().unwrap());
    let (config, resolved) = smoke(&[&init, "train.epochs=2"]);
    let whole = dir.path().join("whole");
    let cut = dir.path().join("cut");
    common::train(&config, &resolved, &whole, false, None).unwrap();
    let stopped = common::train(&config, &resolved, &cut, false, Some(5)).unwrap_err();
    assert!(
        stopped
            .downcast_ref::<stoke::train::Interrupted>()
            .is_some()
    );
    common::train(&config, &resolved, &cut, true, None).unwrap();
    let _turn = device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let load = |run: &std::path::Path| {
        let latest = stoke::train::checkpoint::CheckpointDir::new(run)
            .latest()
            .unwrap();
        Trainer::from_checkpoint(&config, &latest, &device).unwrap()
    };
    let (a, b) = (load(&whole), load(&cut));
    assert_eq!(a.masks(), Some(&masks));
    assert_eq!(b.masks(), Some(&masks));
    // Bit for bit: the resumed run is the uninterrupted one.
    assert_eq!(a.weights(), b.weights());
    assert_eq!(check_masked_zero(&a.weights(), &masks), masks.kept());
}

/// A 2-phase, 2-copy soup of the smoke model to 75% sparsity.
fn tiny_sms(extra: &[&str]) -> (stoke::config::RunConfig, toml::Table) {
    let mut overrides = vec![
        "train.epochs=1",
        "pruning.sparsity=0.75",
        "pruning.phases=2",
        "pruning.retrain_steps=3",
        "pruning.soup_size=2",
    ];
    overrides.extend(extra);
    smoke(&overrides)
}

fn run_driver(
    config: &stoke::config::RunConfig,
    resolved: &toml::Table,
    out: &std::path::Path,
    resume: bool,
    cancel_after_phase: Option<usize>,
) -> anyhow::Result<stoke::prune::driver::PruningSummary> {
    let _turn = device_generator();
    let options = PruningOptions {
        out_dir: out.to_path_buf(),
        resume,
        cancel: CancelToken::new(),
    };
    let token = options.cancel.clone();
    let mut on_event = |event: PruningEvent<'_>| {
        if let PruningEvent::Phase(report) = event
            && Some(report.phase) == cancel_after_phase
        {
            token.cancel();
        }
    };
    stoke::prune::driver::run(config, resolved, &options, &mut on_event)
}

#[test]
fn the_driver_prunes_retrains_averages_and_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = tiny_sms(&[]);
    let whole = dir.path().join("whole");
    let summary = run_driver(&config, &resolved, &whole, false, None).unwrap();

    // Phase sparsities: 1 - 0.25^(1/2) = 50% of the prunable weights, then 75%.
    let sparsities: Vec<f64> = summary.phases.iter().map(|p| p.sparsity).collect();
    assert!((sparsities[0] - 0.5).abs() < 1e-3, "{sparsities:?}");
    assert!((sparsities[1] - 0.75).abs() < 1e-3, "{sparsities:?}");
    assert_eq!(summary.phases[1].kept, [0, 1]);

    let _turn = device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let load = |run: &std::path::Path| {
        let located = stoke::train::run_dir::locate(run, false, &[]).unwrap();
        Trainer::from_checkpoint(&located.config, &located.checkpoint, &device).unwrap()
    };
    // Phase 1 starts from the dense weights, pruned by magnitude.
    let dense = load(&whole.join("dense")).weights();
    let pruned = load(&whole.join("phase-01/pruned"));
    let masks = pruned.masks().unwrap().clone();
    let expected = Masks::dense(&dense)
        .prune_by_magnitude(&dense, 0.5, Selector::Global)
        .unwrap();
    assert_eq!(masks, expected);
    assert_eq!(pruned.weights(), masks.apply(&dense).unwrap());
    // The phase's model is the mean of its copies (parameters; the statistics are
    // recomputed), within the f32 rounding of a mean of two values.
    let copies: Vec<Weights> = ["copy-00", "copy-01"]
        .iter()
        .map(|c| load(&whole.join("phase-01").join(c)).weights())
        .collect();
    assert_ne!(copies[0], copies[1], "copies with other seeds must differ");
    let mean = Weights::mean(&[&copies[0], &copies[1]]).unwrap();
    let model = load(&whole.join("phase-01/model"));
    assert_eq!(model.masks(), Some(&masks));
    let params = |w: &Weights| w.only(stoke::train::TensorKind::Parameter);
    let gap = params(&model.weights()).sub(&params(&mean)).unwrap();
    assert!(
        gap.l2_norm() <= 1e-6 * params(&mean).l2_norm(),
        "{}",
        gap.l2_norm()
    );
    let final_model = load(&summary.model_run);
    let final_masks = final_model.masks().unwrap();
    assert_eq!(
        check_masked_zero(&final_model.weights(), final_masks),
        final_masks.kept()
    );
    drop(_turn);

    // Interrupted after phase 1 and resumed: the same phases, scores and final weights.
    let cut = dir.path().join("cut");
    let stopped = run_driver(&config, &resolved, &cut, false, Some(1)).unwrap_err();
    assert!(
        stopped
            .downcast_ref::<stoke::train::Interrupted>()
            .is_some(),
        "{stopped:#}"
    );
    let resumed = run_driver(&config, &resolved, &cut, true, None).unwrap();
    let strip = |s: &stoke::prune::driver::PruningSummary| -> Vec<String> {
        s.phases
            .iter()
            .map(|p| format!("{:?} {:?} {:?}", p.sparsity, p.model, p.kept))
            .collect()
    };
    assert_eq!(strip(&resumed), strip(&summary));
    let _turn = device_generator();
    assert_eq!(
        load(&resumed.model_run).weights(),
        load(&summary.model_run).weights()
    );
}

#[test]
fn bad_pruning_settings_are_usage_errors_naming_the_key() {
    let base = ["pruning.phases=1", "train.epochs=1"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    assert_smoke_refuses(
        "pruning.sparsity",
        &[
            (with(&["pruning.sparsity=1.0"]), "[0, 1)"),
            (with(&["pruning.sparsity=-0.1"]), "-0.1"),
        ],
    );
    assert_smoke_refuses(
        "pruning.phases",
        &[(vec!["pruning.sparsity=0.5", "pruning.phases=0"], "1..=100")],
    );
    assert_smoke_refuses(
        "pruning.values",
        &[(
            with(&[
                "pruning.sparsity=0.5",
                "pruning.soup_size=2",
                "pruning.vary=optimizer.weight_decay",
                "pruning.values=[1e-4]",
            ]),
            "one value per copy",
        )],
    );
    assert_smoke_refuses(
        "pruning.soup",
        &[(
            with(&["pruning.sparsity=0.5", "pruning.soup=\"greedy\""]),
            "dataset.holdout",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let output = stoke(&["sparsity", dir.path().join("absent").to_str().unwrap()]);
    assert_usage_error(&output, "absent");
}

#[test]
fn sparsity_reports_each_layer_of_a_pruned_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("pruned");
    save_pruned_smoke(&run, 0.6);
    let output = stoke_ok(&["sparsity", run.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let tensors = report["tensors"].as_array().unwrap();
    assert!(tensors.len() >= 3);
    for t in tensors {
        // Each layer: round(0.6 n) removed (halves to even), all of them zero.
        let n = t["params"].as_u64().unwrap() as f64;
        let removed = (0.6 * n).round_ties_even() as u64;
        assert_eq!(t["masked"].as_u64(), Some(removed), "{t}");
        assert_eq!(t["zeros"].as_u64(), Some(removed), "{t}");
    }
    let text = common::stdout(&stoke_ok(&["sparsity", run.to_str().unwrap()]));
    assert!(text.contains("masks remove"), "{text}");
    // The export carries the sparsity in its header and the zeros in its tensors.
    let file = dir.path().join("pruned.safetensors");
    stoke_ok(&["export", run.to_str().unwrap(), file.to_str().unwrap()]);
    let bytes = std::fs::read(&file).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    let sparsity: f64 = metadata["stoke.sparsity"].parse().unwrap();
    let global = report["masked_sparsity"].as_f64().unwrap();
    assert!((sparsity - global).abs() < 1e-12, "{sparsity} vs {global}");
    let exported = Weights::read_safetensors(&file).unwrap();
    let names: Vec<&str> = metadata["stoke.pruned_tensors"].split(',').collect();
    assert_eq!(names.len(), tensors.len());
    let zeros: usize = names
        .iter()
        .map(|n| {
            exported
                .get(n)
                .unwrap()
                .values
                .iter()
                .filter(|&&v| v == 0.0)
                .count()
        })
        .sum();
    assert_eq!(zeros as u64, report["zeros"].as_u64().unwrap());
}

/// Masks from PyTorch's `global_unstructured` / `l1_unstructured` applied phase after phase
/// as the official SMS code does (scripts/golden_pruning.py): stoke's must be identical,
/// entry for entry (the weights are distinct random floats, so there are no ties).
#[test]
fn masks_match_pytorch_pruning_phase_by_phase() {
    let text = std::fs::read_to_string("tests/golden/pruning.json").unwrap();
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    for case in golden["cases"].as_array().unwrap() {
        let tensors = case["weights"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, t)| {
                let shape: Vec<usize> = common::floats(&t["shape"])
                    .iter()
                    .map(|&d| d as usize)
                    .collect();
                let values: Vec<f32> = common::floats(&t["values"])
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                let tensor = stoke::train::WeightTensor {
                    shape,
                    values,
                    kind: stoke::train::TensorKind::Parameter,
                };
                (name.clone(), tensor)
            });
        let weights = Weights::from_tensors(tensors).unwrap();
        let selector = match case["selector"].as_str().unwrap() {
            "global" => Selector::Global,
            _ => Selector::Layer,
        };
        let phases = case["phases"].as_u64().unwrap() as usize;
        let amount = stoke::prune::masks::amount_per_phase(case["goal"].as_f64().unwrap(), phases);
        let mut masks = Masks::dense(&weights);
        for (phase, expected) in case["masks"].as_array().unwrap().iter().enumerate() {
            masks = masks
                .prune_by_magnitude(&weights, amount, selector)
                .unwrap();
            for (name, bits) in expected.as_object().unwrap() {
                let ours: String = masks
                    .get(name)
                    .unwrap()
                    .keep
                    .iter()
                    .map(|&k| if k { '1' } else { '0' })
                    .collect();
                assert_eq!(
                    ours,
                    bits.as_str().unwrap(),
                    "{selector:?} phase {}: {name}",
                    phase + 1
                );
            }
        }
    }
}

#[test]
fn the_greedy_soup_starts_from_the_best_held_out_copy_and_keeps_its_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = tiny_sms(&[
        "pruning.soup=\"greedy\"",
        "pruning.soup_size=3",
        "pruning.phases=1",
        "dataset.holdout=64",
    ]);
    let summary = run_driver(&config, &resolved, &dir.path().join("greedy"), false, None).unwrap();
    let phase = &summary.phases[0];
    let holdout = |s: &stoke::soup::Scores| s.holdout_accuracy.expect("a holdout split");
    let alone: Vec<f64> = phase.copies.iter().map(|c| holdout(&c.scores)).collect();
    let top = alone.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // The first copy of the highest held-out accuracy comes first (ties keep their order).
    assert_eq!(phase.kept[0], alone.iter().position(|&a| a == top).unwrap());
    // Each join needs the soup's held-out accuracy not to fall below the best so far.
    assert!(
        holdout(&phase.model) >= top,
        "{} < {top}",
        holdout(&phase.model)
    );
    assert_eq!(summary.test_accuracy, phase.model.test_accuracy);
}

#[test]
fn rewinding_restarts_the_kept_weights_from_the_dense_run_at_the_rewind_step() {
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = tiny_sms(&[
        "pruning.rewind_step=3",
        "pruning.phases=1",
        "pruning.soup_size=1",
    ]);
    let out = dir.path().join("rewind");
    run_driver(&config, &resolved, &out, false, None).unwrap();
    // The dense run alone, stopped at step 3: the weights the driver must rewind to.
    let (dense_config, dense_resolved) = smoke(&["train.epochs=1"]);
    let early = dir.path().join("early");
    let stopped = common::train(&dense_config, &dense_resolved, &early, false, Some(3));
    assert!(stopped.is_err());
    let _turn = device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let load = |run: &std::path::Path| {
        let located = stoke::train::run_dir::locate(run, false, &[]).unwrap();
        Trainer::from_checkpoint(&located.config, &located.checkpoint, &device).unwrap()
    };
    let at_step = load(&early).weights();
    let dense = load(&out.join("dense")).weights();
    assert_ne!(at_step, dense);
    // Masks from the trained dense weights; the kept weights from step 3.
    let masks = Masks::dense(&dense)
        .prune_by_magnitude(&dense, 0.75, Selector::Global)
        .unwrap();
    let pruned = load(&out.join("phase-01/pruned"));
    assert_eq!(pruned.masks(), Some(&masks));
    assert_eq!(pruned.weights(), masks.apply(&at_step).unwrap());
}
