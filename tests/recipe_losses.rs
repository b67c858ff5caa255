//! The recipes' loss functions against golden values from the official code on fixed logits
//! (tests/golden/recipes.json, written by scripts/golden_recipes.py with PyTorch in float64:
//! TRADES' `trades_loss` and WEAT's `WEAT_nat`/`WEAT_adv` called directly, AAER's training
//! loop mirrored line by line, DONE's closed form). Values and gradients with respect to the
//! logits are compared.
//!
//! Tolerance: stoke computes in f32; the logits are below 8 in magnitude, so each input
//! carries a rounding error near 5e-7 and the sums of a few dozen terms stay within 1e-5
//! relative; we allow 2e-5 relative plus 2e-5 absolute.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::Value;
use stoke::loss::cross_entropy_per_sample;
use stoke::recipes::aaer::{Lambdas, aaer_objective};
use stoke::recipes::done::{done_objective, done_weights};
use stoke::recipes::trades::trades_objective;
use stoke::recipes::weat::{WeatVariant, energy_weights, weat_objective};

const TOLERANCE: f64 = 2e-5;

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/recipes.json"
    ))
    .expect("tests/golden/recipes.json");
    serde_json::from_str(&text).expect("golden JSON")
}

fn device() -> Device {
    Device::flex().autodiff()
}

fn matrix(v: &Value) -> Tensor<2> {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let (b, k) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.concat();
    Tensor::from_data(TensorData::new(flat, [b, k]), &device()).require_grad()
}

fn vector(v: &Value) -> Tensor<1> {
    let values: Vec<f32> = numbers(v).iter().map(|&x| x as f32).collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), &device()).require_grad()
}

fn labels(v: &Value) -> Tensor<1, Int> {
    let values: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), &device())
}

/// A flat list of numbers from a JSON number, list, or list of lists.
fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => panic!("not numeric: {other}"),
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= TOLERANCE * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, golden {w}"
        );
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f64>()
}

#[test]
fn trades_objective_matches_the_official_trades_loss() {
    let golden = golden();
    for (n, case) in golden["trades"].as_array().unwrap().iter().enumerate() {
        let (nat, adv) = (matrix(&case["logits_nat"]), matrix(&case["logits_adv"]));
        let beta = case["beta"].as_f64().unwrap();
        let (loss, natural, robust) =
            trades_objective(nat.clone(), adv.clone(), labels(&case["labels"]), beta);
        let what = format!("trades case {n}");
        assert_close(&what, &[scalar(natural)], &numbers(&case["natural_ce"]));
        assert_close(&what, &[scalar(robust)], &numbers(&case["robust_kl"]));
        assert_close(&what, &[scalar(loss.clone())], &numbers(&case["loss"]));
        let grads = loss.backward();
        let grad_nat = values(nat.grad(&grads).unwrap());
        let grad_adv = values(adv.grad(&grads).unwrap());
        assert_close(&what, &grad_nat, &numbers(&case["grad_logits_nat"]));
        assert_close(&what, &grad_adv, &numbers(&case["grad_logits_adv"]));
    }
}

#[test]
fn aaer_objective_matches_the_released_training_loop() {
    let golden = golden();
    for case in golden["aaer"].as_array().unwrap() {
        let what = case["name"].as_str().unwrap();
        let (z0, z1) = (matrix(&case["z0"]), matrix(&case["z1"]));
        let y = labels(&case["labels"]);
        // As the released code: l0 from the first pass, detached; l1 carries gradient.
        let l0 = cross_entropy_per_sample(z0.clone(), y.clone(), 0.0).detach();
        let l1 = cross_entropy_per_sample(z1.clone(), y, 0.0);
        assert_close(what, &values(l0.clone()), &numbers(&case["l0"]));
        let lambdas = Lambdas {
            lambda1: case["lambda1"].as_f64().unwrap(),
            lambda2: case["lambda2"].as_f64().unwrap(),
            lambda3: case["lambda3"].as_f64().unwrap(),
        };
        let terms = aaer_objective(z0.clone(), z1.clone(), l0, l1, lambdas, false);
        let abnormal: Vec<bool> = case["abnormal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        assert_eq!(terms.abnormal, abnormal, "{what}");
        assert_eq!(
            terms.abnormal_count as u64,
            case["abnormal_count"].as_u64().unwrap()
        );
        assert_close(what, &[terms.ce_variation], &numbers(&case["ce_variation"]));
        assert_close(what, &[terms.var_abnormal], &numbers(&case["var_abnormal"]));
        assert_close(what, &[terms.var_normal], &numbers(&case["var_normal"]));
        assert_close(what, &[terms.regularizer], &numbers(&case["regularizer"]));
        assert_close(what, &[scalar(terms.loss.clone())], &numbers(&case["loss"]));
        let grads = terms.loss.backward();
        // z0 is detached in the released code: its golden gradient is zero.
        let grad_z0 = z0
            .grad(&grads)
            .map(values)
            .unwrap_or_else(|| vec![0.0; numbers(&case["grad_z0"]).len()]);
        assert_close(what, &grad_z0, &numbers(&case["grad_z0"]));
        assert_close(
            what,
            &values(z1.grad(&grads).unwrap()),
            &numbers(&case["grad_z1"]),
        );
    }
}

#[test]
fn aaer_differentiable_ce_adds_the_gradient_of_the_loss_decrease() {
    // Hand-computed: with the CE variation live, d/dl0 of the regulariser is
    // lambda1 * |A|/B * lambda2 / |A| = lambda1 lambda2 / B for each abnormal example, and
    // d/dl1 = 1/B (the mean) minus the same for the abnormal ones.
    let z0 = matrix(&serde_json::json!([[2.0, 0.0], [0.0, 1.0]]));
    let z1 = matrix(&serde_json::json!([[3.0, 0.0], [0.0, 0.5]]));
    let y = labels(&serde_json::json!([0, 1]));
    let l0 = cross_entropy_per_sample(z0, y.clone(), 0.0)
        .detach()
        .require_grad();
    let l1 = cross_entropy_per_sample(z1, y, 0.0).detach().require_grad();
    let lambdas = Lambdas {
        lambda1: 1.0,
        lambda2: 2.5,
        lambda3: 0.0,
    };
    let logits = |v: serde_json::Value| matrix(&v);
    for differentiable in [true, false] {
        let terms = aaer_objective(
            logits(serde_json::json!([[2.0, 0.0], [0.0, 1.0]])),
            logits(serde_json::json!([[3.0, 0.0], [0.0, 0.5]])),
            l0.clone(),
            l1.clone(),
            lambdas,
            differentiable,
        );
        // Example 0's loss falls (its margin grows): abnormal; example 1's rises: normal.
        assert_eq!(terms.abnormal, vec![true, false]);
        let grads = terms.loss.backward();
        let live = if differentiable { 2.5 / 2.0 } else { 0.0 };
        let d_l0 = l0.grad(&grads).map(values).unwrap_or(vec![0.0, 0.0]);
        assert_close("dL/dl0", &d_l0, &[live, 0.0]);
        assert_close(
            "dL/dl1",
            &values(l1.grad(&grads).unwrap()),
            &[0.5 - live, 0.5],
        );
    }
}

#[test]
fn weat_weights_and_loss_match_the_official_weat_loss() {
    let golden = golden();
    for (n, case) in golden["weat"].as_array().unwrap().iter().enumerate() {
        let (nat, adv) = (matrix(&case["logits_nat"]), matrix(&case["logits_adv"]));
        let variant = match case["variant"].as_str().unwrap() {
            "nat" => WeatVariant::Nat,
            _ => WeatVariant::Adv,
        };
        let what = format!("weat case {n} ({variant:?})");
        let (energy, weights) = energy_weights(nat.clone());
        assert_close(&what, &values(energy), &numbers(&case["energy"]));
        assert_close(&what, &values(weights), &numbers(&case["weights"]));
        let beta = case["beta"].as_f64().unwrap();
        let loss = weat_objective(
            nat.clone(),
            adv.clone(),
            labels(&case["labels"]),
            beta,
            variant,
        );
        assert_close(&what, &[scalar(loss.clone())], &numbers(&case["loss"]));
        let grads = loss.backward();
        assert_close(
            &what,
            &values(nat.grad(&grads).unwrap()),
            &numbers(&case["grad_logits_nat"]),
        );
        assert_close(
            &what,
            &values(adv.grad(&grads).unwrap()),
            &numbers(&case["grad_logits_adv"]),
        );
    }
}

#[test]
fn weat_weight_of_a_hand_computed_energy() {
    // Logits (0, 0): E = -ln 2, w = 1 / ln(1 + e^{ln 2}) = 1 / ln 3.
    let (energy, weights) = energy_weights(matrix(&serde_json::json!([[0.0, 0.0]])));
    assert_close("energy", &values(energy), &[-(2f64.ln())]);
    assert_close("weight", &values(weights), &[1.0 / 3f64.ln()]);
}

#[test]
fn done_weights_are_the_softmax_of_the_losses_over_r() {
    let golden = golden();
    for (n, case) in golden["done"].as_array().unwrap().iter().enumerate() {
        let what = format!("done case {n}");
        let r = case["r"].as_f64().unwrap();
        let losses = vector(&case["losses"]);
        assert_close(
            &what,
            &values(done_weights(losses.clone(), r)),
            &numbers(&case["weights"]),
        );
        let loss = done_objective(losses.clone(), r);
        assert_close(&what, &[scalar(loss.clone())], &numbers(&case["loss"]));
        // The weights are constants: the gradient of the loss is the weight vector.
        let grads = loss.backward();
        assert_close(
            &what,
            &values(losses.grad(&grads).unwrap()),
            &numbers(&case["grad_losses"]),
        );
    }
    // Hand-computed: equal losses give uniform weights whatever r.
    let equal = vector(&serde_json::json!([0.7, 0.7, 0.7, 0.7]));
    assert_close("uniform", &values(done_weights(equal, 0.05)), &[0.25; 4]);
}
