//! ConAdv: the auxiliary batch norms route gradients and statistics where they belong, the
//! concurrent attack reproduces the in-line one exactly, and the attack is one step stale.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{Device, Distribution};
use common::{smoke, train};
use stoke::loss::cross_entropy;
use stoke::models::dual_bn::DualBn;
use stoke::train::metrics::read_without_timing;

/// Every float tensor of a module, flattened, in visiting order.
struct Flatten(Vec<Vec<f32>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data().iter::<f32>().collect());
    }
}

fn tensors<M: Module>(m: &M) -> Vec<Vec<f32>> {
    let mut f = Flatten(Vec::new());
    m.visit(&mut f);
    f.0
}

#[derive(Default)]
struct GradientCount<'a> {
    grads: Option<&'a GradientsParams>,
    depth: usize,
    in_bn: usize,
    outside_bn: usize,
    outside_bn_total: usize,
}

impl ModuleVisitor for GradientCount<'_> {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        if container_type == "Struct:BatchNorm" {
            self.depth += 1;
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if container_type == "Struct:BatchNorm" {
            self.depth -= 1;
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let has = self.grads.unwrap().get::<D>(param.id).is_some();
        match (self.depth > 0, has) {
            (true, true) => self.in_bn += 1,
            (false, true) => self.outside_bn += 1,
            _ => {}
        }
        if self.depth == 0 {
            self.outside_bn_total += 1;
        }
    }
}

fn which_have_gradients<'a, M: Module>(m: &M, grads: &'a GradientsParams) -> GradientCount<'a> {
    let mut count = GradientCount {
        grads: Some(grads),
        ..Default::default()
    };
    m.visit(&mut count);
    count
}

fn small_dual(device: &Device) -> DualBn {
    let (config, _) = smoke(&[]);
    let build = || config.model.build([1, 28, 28], 10, device).unwrap();
    DualBn::new(build(), build())
}

#[test]
fn the_adversarial_view_shares_weights_but_not_batch_norms() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let dual = small_dual(&device);
    // `valid()` folds pending running-statistic updates in before reading them.
    let main_before = tensors(&dual.main.valid());
    let aux_before = tensors(&dual.aux.valid());
    let x = Tensor::<4>::random([8, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data([0, 1, 2, 3, 4, 5, 6, 7], &device);
    let loss = cross_entropy(dual.adversarial_view().forward(x), y, 0.0);
    let grads = GradientsParams::from_grads(loss.backward(), &dual);
    // The view's weights are main's, its batch norms aux's: gradients land on main's weights
    // and aux's batch-norm scales and shifts, nowhere else.
    let main = which_have_gradients(&dual.main, &grads);
    let aux = which_have_gradients(&dual.aux, &grads);
    assert!(main.outside_bn > 0 && main.outside_bn == main.outside_bn_total);
    assert_eq!(main.in_bn, 0, "main batch norms got gradients");
    assert_eq!(aux.outside_bn, 0, "aux's unused weights got gradients");
    assert!(aux.in_bn > 0);
    // The forward updated aux's running statistics only.
    let main_after = tensors(&dual.main.valid());
    let aux_after = tensors(&dual.aux.valid());
    assert_eq!(main_before, main_after, "main batch-norm statistics moved");
    assert_ne!(
        aux_before, aux_after,
        "aux batch-norm statistics did not move"
    );
}

/// A short ConAdv run on the smoke data: its per-step metrics.
fn run(extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = vec!["recipe.name=conadv", "recipe.steps=2", "recipe.step=4"];
    overrides.extend(extra);
    let (config, resolved) = smoke(&overrides);
    train(&config, &resolved, dir.path(), false, None).unwrap();
    read_without_timing(&dir.path().join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|l| l.get("grad_l2").is_some())
        .collect()
}

#[test]
fn the_concurrent_attack_reproduces_the_in_line_one_and_is_one_step_stale() {
    // `read_without_timing` drops the wall-clock fields, `attack_wait_ms` among them.
    let concurrent = run(&[]);
    let in_line = run(&["recipe.concurrent=false"]);
    assert_eq!(concurrent.len(), 48);
    // Bitwise: same draws on the main thread, same arithmetic on the second.
    assert_eq!(concurrent, in_line);
    assert_eq!(concurrent[0]["staleness"], 0.0);
    assert!(concurrent[1..].iter().all(|l| l["staleness"] == 1.0));
}

/// The attack prepared for the next step is part of the checkpoint: a run stopped and resumed
/// trains on the same stale adversarial batches as the uninterrupted one (before, the first
/// step after a resume attacked in line with fresh weights: staleness 0).
#[test]
fn a_resumed_run_matches_the_uninterrupted_one() {
    let overrides = [
        "recipe.name=conadv",
        "recipe.steps=2",
        "recipe.step=4",
        "train.steps=10",
    ];
    let (config, resolved) = smoke(&overrides);
    let dir = tempfile::tempdir().unwrap();
    let (whole, cut) = (dir.path().join("whole"), dir.path().join("cut"));
    train(&config, &resolved, &whole, false, None).unwrap();
    let stopped = train(&config, &resolved, &cut, false, Some(5));
    assert!(stopped.is_err(), "stopped after 5 steps");
    train(&config, &resolved, &cut, true, None).unwrap();
    let read = |d: &std::path::Path| read_without_timing(&d.join("metrics.jsonl")).unwrap();
    let (a, b) = (read(&whole), read(&cut));
    assert!(
        b.iter()
            .filter(|l| l.get("staleness").is_some())
            .skip(1)
            .all(|l| l["staleness"] == 1.0)
    );
    assert_eq!(a, b);
}
