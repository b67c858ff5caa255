//! The adversarial-training recipes train (their loss falls), log clean and adversarial
//! figures every step, and report robust accuracy at each evaluation.

mod common;

use common::{smoke, train};
use stoke::train::metrics::read_without_timing;

#[test]
fn every_adversarial_recipe_learns_and_logs_both_views() {
    for (recipe, extra, own) in [
        ("pgd-at", vec!["recipe.steps=3", "recipe.step=4"], vec![]),
        ("fast-at", vec![], vec![]),
        (
            "trades",
            vec!["recipe.steps=3", "recipe.step=4"],
            vec!["robust_kl"],
        ),
        (
            "aaer",
            vec![],
            vec!["abnormal_count", "abnormal_ce", "aaer_regularizer"],
        ),
        (
            "weat",
            vec!["recipe.steps=3", "recipe.step=4", "recipe.variant=adv"],
            vec!["mean_energy", "mean_weight"],
        ),
        (
            "done",
            vec!["recipe.steps=3", "recipe.step=4", "recipe.r=2"],
            vec!["done_max_weight"],
        ),
        ("conadv", vec![], vec!["staleness"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("recipe.name={recipe}");
        let mut overrides = vec![name.as_str(), "recipe.eps=8"];
        overrides.extend(extra.iter().copied());
        overrides.extend(["robust_eval.images=64", "robust_eval.steps=3"]);
        let (config, resolved) = smoke(&overrides);
        let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
        let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
        let steps: Vec<_> = lines
            .iter()
            .filter(|l| l.get("grad_l2").is_some())
            .collect();
        assert_eq!(steps.len(), 48);
        for key in ["adv_loss", "adv_accuracy", "clean_loss", "clean_accuracy"]
            .iter()
            .chain(&own)
        {
            assert!(steps.iter().all(|l| l[key].is_number()), "{recipe}: {key}");
        }
        // Robust accuracy at each of the 3 evaluations, on the 64 first test images.
        let evals: Vec<_> = lines
            .iter()
            .filter(|l| l.get("test_accuracy").is_some())
            .collect();
        assert_eq!(evals.len(), 3, "{recipe}");
        for eval in &evals {
            assert_eq!(eval["robust_images"], 64, "{recipe}");
            let robust = eval["robust_accuracy"].as_f64().unwrap();
            let fgsm = eval["fgsm_accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&robust) && (0.0..=1.0).contains(&fgsm));
        }
        assert!(summary.robust_accuracy.is_some(), "{recipe}");
        let first: f64 = steps[..8]
            .iter()
            .map(|l| l["adv_loss"].as_f64().unwrap())
            .sum();
        let last: f64 = steps[40..]
            .iter()
            .map(|l| l["adv_loss"].as_f64().unwrap())
            .sum();
        println!(
            "{recipe}: adversarial loss {:.3} -> {:.3}, clean test accuracy {:.3}",
            first / 8.0,
            last / 8.0,
            summary.test_accuracy.unwrap()
        );
        // The synthetic classes stay separable at eps 8/255: the adversarial loss of the last
        // 8 steps is below that of the first 8, and the clean model beats the 25% of chance.
        assert!(last < first, "{recipe}: {first} -> {last}");
        assert!(
            summary.test_accuracy.unwrap() > 0.5,
            "{recipe}: {}",
            summary.test_accuracy.unwrap()
        );
    }
}

#[test]
fn fast_at_early_stop_restores_the_weights_of_the_best_robust_accuracy() {
    // With `collapse_drop = 0` any fall of robust accuracy below its best counts as a
    // collapse; evaluating every step, one comes within the 48 steps.
    let dir = tempfile::tempdir().unwrap();
    let (config, resolved) = smoke(&[
        "recipe.name=fast-at",
        "recipe.eps=16",
        "recipe.early_stop=true",
        "train.eval_every=1",
        "robust_eval.images=64",
        "robust_eval.steps=3",
        "robust_eval.collapse_drop=0",
    ]);
    let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
    let stopped = summary
        .stopped_on_collapse
        .expect("a collapse stopped training");
    assert!(stopped < 48 && summary.steps == stopped, "{summary:?}");
    let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
    let evals: Vec<_> = lines
        .iter()
        .filter(|l| l.get("robust_accuracy").is_some())
        .collect();
    let best = evals
        .iter()
        .map(|l| l["robust_accuracy"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let last = evals.last().unwrap();
    assert_eq!(last["step"], stopped);
    assert_eq!(last["robust_collapse"], true);
    assert!(last["robust_accuracy"].as_f64().unwrap() < best);
    // The final model is the one evaluated at the restored step: same clean accuracy, same
    // robust accuracy as recorded there.
    let restored = lines
        .iter()
        .find(|l| l.get("stopped_on_collapse").is_some())
        .unwrap();
    let restored_step = restored["restored_step"].as_u64().unwrap();
    let at_best = evals
        .iter()
        .find(|l| l["step"].as_u64() == Some(restored_step))
        .unwrap();
    assert_eq!(at_best["robust_accuracy"].as_f64().unwrap(), best);
    assert_eq!(restored["test_accuracy"], at_best["test_accuracy"]);
    assert_eq!(
        summary.test_accuracy.unwrap(),
        at_best["test_accuracy"].as_f64().unwrap()
    );
    assert_eq!(summary.robust_accuracy, Some(best));
}

/// The robust-accuracy history is part of the checkpoint: a run with `[robust_eval]`
/// stopped and resumed reports the same verdicts (collapse, catastrophic overfitting) and
/// the same early stop as the uninterrupted run.
#[test]
fn a_resumed_run_keeps_its_robust_accuracy_history() {
    let overrides = [
        "recipe.name=fast-at",
        "recipe.eps=16",
        "recipe.early_stop=true",
        "train.eval_every=1",
        "robust_eval.images=64",
        "robust_eval.steps=3",
        "robust_eval.collapse_drop=0",
    ];
    let (config, resolved) = smoke(&overrides);
    let dir = tempfile::tempdir().unwrap();
    let (whole, cut) = (dir.path().join("whole"), dir.path().join("cut"));
    let summary = train(&config, &resolved, &whole, false, None).unwrap();
    let stopped = summary
        .stopped_on_collapse
        .expect("a collapse stopped training");
    assert!(stopped > 2, "the stop comes after the cut: {summary:?}");
    assert!(train(&config, &resolved, &cut, false, Some(2)).is_err());
    let resumed = train(&config, &resolved, &cut, true, None).unwrap();
    assert_eq!(resumed.stopped_on_collapse, Some(stopped));
    let read = |d: &std::path::Path| read_without_timing(&d.join("metrics.jsonl")).unwrap();
    assert_eq!(read(&whole), read(&cut));
}
