//! The adversarial-training recipes train (their loss falls) and log clean and adversarial
//! figures every step.

mod common;

use common::{smoke, train};
use stoke::train::metrics::read_without_timing;

#[test]
fn pgd_at_and_fast_at_learn_and_log_both_views() {
    for (recipe, extra) in [
        ("pgd-at", vec!["recipe.steps=3", "recipe.step=4"]),
        ("fast-at", vec![]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("recipe.name={recipe}");
        let mut overrides = vec![name.as_str(), "recipe.eps=8"];
        overrides.extend(extra.iter().copied());
        let (config, resolved) = smoke(&overrides);
        let summary = train(&config, &resolved, dir.path(), false, None).unwrap();
        let lines = read_without_timing(&dir.path().join("metrics.jsonl")).unwrap();
        let steps: Vec<_> = lines
            .iter()
            .filter(|l| l.get("grad_l2").is_some())
            .collect();
        assert_eq!(steps.len(), 48);
        for key in ["adv_loss", "adv_accuracy", "clean_loss", "clean_accuracy"] {
            assert!(steps.iter().all(|l| l[key].is_number()), "{recipe}: {key}");
        }
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
            summary.test_accuracy
        );
        // The synthetic classes stay separable at eps 8/255: the adversarial loss of the last
        // 8 steps is below that of the first 8, and the clean model beats the 25% of chance.
        assert!(last < first, "{recipe}: {first} -> {last}");
        assert!(
            summary.test_accuracy > 0.5,
            "{recipe}: {}",
            summary.test_accuracy
        );
    }
}
