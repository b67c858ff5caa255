//! FGSM and PGD on a trained model: inside the eps-ball and the image range, PGD raises the
//! loss above FGSM and the clean loss, and restarts keep the worst case per example.

mod common;

use burn::prelude::*;
use common::trained_smoke_classifier as trained;
use stoke::attacks::{Pgd, eval_mode, fgsm, from_255, pgd, trades_attack};
use stoke::loss::{cross_entropy_per_sample, kl_per_sample};

/// Both tests seed the device's global random generator; run in parallel (as `cargo test`
/// does) one test's draws would interleave with the other's and the restarts' first draw
/// would no longer be the single run's (seen failing in CI), so each holds this lock.
static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[test]
fn attacks_stay_in_bounds_and_pgd_beats_fgsm() {
    let _rng = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (model, images, labels, norm) = trained();
    // Evaluation mode: per-example losses do not depend on the rest of the batch.
    let model = eval_mode(&model);
    let loss = |x: Tensor<4>| {
        cross_entropy_per_sample(model.forward(norm.to_model(x)), labels.clone(), 0.0)
    };
    let eps = from_255(16.0);
    let device = images.device();

    device.seed(1);
    let fast = fgsm(&images, eps, 1.25 * eps, true, loss);
    let attack = Pgd {
        eps,
        step: from_255(4.0),
        steps: 10,
        restarts: 1,
        random_start: true,
        start_key: None,
    };
    device.seed(2);
    let strong = pgd(&images, attack, loss);
    let clean = host(images.clone());
    for adversarial in [&fast, &strong] {
        for (a, c) in host(adversarial.clone()).iter().zip(&clean) {
            // f32 rounding of x +- eps: a few ulps of 1.
            assert!((a - c).abs() <= eps as f32 + 1e-6, "{a} vs {c}");
            assert!((0.0..=1.0).contains(a), "{a}");
        }
    }
    let mean = |x: &Tensor<4>| host(loss(x.clone())).iter().sum::<f32>() / 64.0;
    let (clean_loss, fgsm_loss, pgd_loss) = (mean(&images), mean(&fast), mean(&strong));
    println!("loss: clean {clean_loss:.4}, FGSM {fgsm_loss:.4}, PGD-10 {pgd_loss:.4}");
    assert!(fgsm_loss > clean_loss, "{fgsm_loss} <= {clean_loss}");
    assert!(pgd_loss > fgsm_loss, "{pgd_loss} <= {fgsm_loss}");

    // Three restarts, the first drawn exactly as the single run: never a lower loss per example.
    device.seed(2);
    let worst = pgd(
        &images,
        Pgd {
            restarts: 3,
            ..attack
        },
        loss,
    );
    let (one, three) = (host(loss(strong)), host(loss(worst)));
    for (a, b) in one.iter().zip(&three) {
        assert!(b >= a, "{b} < {a}");
    }
}

#[test]
fn the_trades_attack_stays_in_bounds_and_raises_the_kl() {
    let _rng = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (model, images, _, norm) = trained();
    let model = eval_mode(&model);
    let clean_logits = model.forward(norm.to_model(images.clone())).detach();
    let logits = |x: Tensor<4>| model.forward(norm.to_model(x));
    let eps = from_255(16.0);
    let kl = |x: &Tensor<4>| -> f64 {
        kl_per_sample(
            clean_logits.clone(),
            model.forward(norm.to_model(x.clone())),
        )
        .mean()
        .into_scalar()
    };
    let device = images.device();
    device.seed(4);
    // Zero steps: the 0.001 N(0, I) start alone.
    let start = trades_attack(&images, clean_logits.clone(), eps, from_255(4.0), 0, logits);
    device.seed(4);
    let attacked = trades_attack(
        &images,
        clean_logits.clone(),
        eps,
        from_255(4.0),
        10,
        logits,
    );
    let clean = host(images.clone());
    for (a, c) in host(attacked.clone()).iter().zip(&clean) {
        assert!((a - c).abs() <= eps as f32 + 1e-6, "{a} vs {c}");
        assert!((0.0..=1.0).contains(a));
    }
    let (at_start, after) = (kl(&start), kl(&attacked));
    println!("TRADES attack: KL {at_start:.2e} at the start, {after:.3} after 10 steps");
    // The start is within 0.001 of the clean image (KL near 0); ascent moves the prediction.
    assert!(
        at_start < 1e-3 && after > 100.0 * at_start.max(1e-6),
        "{at_start} -> {after}"
    );
}
