//! The federated simulator: one FedAvg round of one full-batch local step on equal clients is
//! one step of full-batch gradient descent on their union; runs are reproducible; the CLI
//! trains, records rounds and refuses what is not built yet.

mod common;

use common::{assert_usage_error, smoke, stderr, stoke};
use stoke::federated::simulator::{self, FederatedOptions, FederatedSummary};
use stoke::train::{CancelToken, Setup};
use stoke::{Trainer, Weights};

/// Plain full-batch SGD on 64 synthetic images with a one-block ViT: no augmentation, no
/// momentum, no dropout.
const PLAIN: &[&str] = &[
    "dataset.train_size=64",
    "data.crop_padding=0",
    "data.hflip=false",
    "optimizer.momentum=0",
    "optimizer.lr=0.1",
    "schedule.name=\"constant\"",
    "train.epochs=0",
    // Layer norm, unlike the small CNN's batch norm, treats each image alone, so the mean
    // gradient over the union is the mean of the clients' mean gradients.
    "model={name=\"vit_tiny\",depth=1,dim=32,heads=2,drop_path=0.0}",
];

fn options(out: &std::path::Path, resume: bool, cancel: CancelToken) -> FederatedOptions {
    FederatedOptions {
        out_dir: out.to_path_buf(),
        resume,
        cancel,
        ..Default::default()
    }
}

fn federated(extra: &[&str], out: &std::path::Path) -> FederatedSummary {
    let mut overrides = PLAIN.to_vec();
    overrides.extend_from_slice(extra);
    let (config, resolved) = smoke(&overrides);
    let _generator = common::device_generator();
    simulator::run(
        &config,
        &resolved,
        &options(out, false, CancelToken::new()),
        &mut |_| {},
    )
    .unwrap()
}

fn max_difference(a: &Weights, b: &Weights) -> f32 {
    a.iter()
        .flat_map(|(name, t)| t.values.iter().zip(&b.get(name).unwrap().values))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// FedAvg with 2 IID clients of 32 images, full participation, one local step on the
/// client's whole data and server_lr 1 moves the weights by -lr * (g1 + g2) / 2, which is the
/// full-batch gradient of the 64 images: one step of a centralized Trainer with batch 64.
/// They differ only in float summation order: measured max |difference| 1.2e-7 (an ulp of
/// weights near 1) for a step of 1.5e-2, so 1e-6 catches any error of the rule (a wrong
/// divisor alone would move them by ~7e-3).
#[test]
fn one_round_of_full_batch_fedavg_is_one_step_of_gradient_descent() {
    let dir = tempfile::tempdir().unwrap();
    let summary = federated(
        &[
            "data.batch_size=32",
            "federated={clients=2,rounds=1,local_steps=1,participation=\"full\",evaluate_every=1}",
        ],
        &dir.path().join("fed"),
    );
    let server = {
        let _generator = common::device_generator();
        simulator::server_weights(&summary).unwrap()
    };

    let mut overrides = PLAIN.to_vec();
    overrides.extend_from_slice(&["data.batch_size=64", "train.steps=1"]);
    let (config, _) = smoke(&overrides);
    let _generator = common::device_generator();
    let device = stoke::device::parse(&config.device).unwrap();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let mut central = Trainer::build(&config, &device, Some(data), Setup::default()).unwrap();
    let before = central.weights();
    central.step().unwrap();
    let after = central.weights();
    let moved = max_difference(&before, &after);
    let difference = max_difference(&server, &after);
    eprintln!("max |fedavg - gd| = {difference:e}, step size {moved:e}");
    assert!(moved > 1e-3, "the step moved the weights by {moved}");
    assert!(difference < 1e-6, "max |fedavg - gd| = {difference}");
}

/// When every client returns within each aggregation interval, FedFix (weighted: d_i =
/// ceil(tau_i / dt) / N = 1/N) and FedBuff with c = N (identical: 1/c) are FedAvg over all
/// clients: the same clients train from the same models with the same seeds, and only the
/// order of scaling and summing differs, which with N = 4 (scaling by 1/4 is exact) leaves
/// the weights bit for bit equal. Their clocks: FedFix ticks every dt = 1; FedBuff waits for
/// the slowest client, tau = 1.
#[test]
fn fedfix_and_fedbuff_with_everyone_on_time_are_fedavg() {
    let dir = tempfile::tempdir().unwrap();
    let common = "clients=4,rounds=3,local_steps=2,participation=\"full\",compute_spread=0.5";
    let run = |name: &str, rule: &str| {
        let section = format!("federated={{{common},{rule}}}");
        let summary = federated(&[&section], &dir.path().join(name));
        let _generator = common::device_generator();
        let metrics = stoke::train::metrics::read_without_timing(
            &dir.path().join(name).join("metrics.jsonl"),
        )
        .unwrap();
        let clocks: Vec<f64> = metrics
            .iter()
            .map(|m| m["clock"].as_f64().unwrap())
            .collect();
        (simulator::server_weights(&summary).unwrap(), clocks)
    };
    let (fedavg, fedavg_clock) = run("fedavg", "aggregation=\"all\"");
    let (fedfix, fedfix_clock) = run("fedfix", "algorithm=\"fedfix\",fedfix_interval=1.0");
    let (fedbuff, fedbuff_clock) = run(
        "fedbuff",
        "algorithm=\"fedbuff\",fedbuff_size=4,async_weights=\"identical\"",
    );
    assert_eq!(fedavg_clock, [1.0, 2.0, 3.0]);
    assert_eq!(fedfix_clock, fedavg_clock);
    assert_eq!(fedbuff_clock, fedavg_clock);
    for (name, other) in [("fedfix", &fedfix), ("fedbuff", &fedbuff)] {
        assert_eq!(max_difference(&fedavg, other), 0.0, "{name}");
    }
}

/// `federated.max_clock` ends a run at its last aggregation before that simulated time:
/// async FedAvg with tau = 1, 0.75, 0.5 aggregates at 0.5, 0.75, 1, 1, 1.5, 1.5, 2, ...,
/// so max_clock = 1.2 keeps 4; the last is evaluated and checkpointed, and resuming
/// reports the run complete.
#[test]
fn max_clock_ends_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "federated={clients=3,rounds=50,local_steps=1,evaluate_every=10,algorithm=\"async_fedavg\",participation=\"full\",compute_spread=0.5,max_clock=1.2}",
    ];
    let summary = federated(&extra, &dir.path().join("run"));
    assert_eq!((summary.rounds, summary.clock), (4, 1.0));
    assert!(summary.test_accuracy.is_some());
    let metrics =
        stoke::train::metrics::read_without_timing(&dir.path().join("run").join("metrics.jsonl"))
            .unwrap();
    let clocks: Vec<f64> = metrics
        .iter()
        .map(|m| m["clock"].as_f64().unwrap())
        .collect();
    assert_eq!(clocks, [0.5, 0.75, 1.0, 1.0]);
    assert!(metrics[3].get("test_accuracy").is_some());
    let mut overrides = PLAIN.to_vec();
    overrides.extend_from_slice(&extra);
    let (config, resolved) = smoke(&overrides);
    let _generator = common::device_generator();
    let again = simulator::run(
        &config,
        &resolved,
        &options(&dir.path().join("run"), true, CancelToken::new()),
        &mut |_| {},
    );
    let complete = again.unwrap_err();
    assert!(
        complete
            .downcast_ref::<stoke::train::RunComplete>()
            .is_some(),
        "{complete:#}"
    );
}

/// FedAvg-M and SCAFFOLD-M against their recursions (Cheng et al., ICLR 2024) computed here
/// step by step from full-batch client gradients: 2 Dirichlet clients, 2 rounds of K = 2
/// local steps, beta = 0.5, eta = 0.1, server_lr 1. The reference does the SGD steps in
/// Weights arithmetic where the simulator's clients use the optimizer, so they differ by
/// float rounding only: measured max |difference| 6e-8 (an ulp near 1); bound 1e-6, while
/// leaving out the momentum (beta = 1) moves the weights by > 1e-2 and SCAFFOLD-M's control
/// variates move them by > 1e-3 (checked below).
#[test]
fn fedavg_m_and_scaffold_m_follow_their_recursions() {
    for scaffold in [false, true] {
        let algorithm = if scaffold { "scaffold_m" } else { "fedavg_m" };
        let (server, config) = two_full_batch_clients(&format!("algorithm=\"{algorithm}\""));
        let _generator = common::device_generator();
        let reference = recursion_by_hand(&config, scaffold, 0.5);
        let without = recursion_by_hand(&config, scaffold, 1.0);
        let difference = max_difference(&server, &reference);
        let effect = max_difference(&reference, &without);
        eprintln!(
            "{algorithm}: max |simulator - recursion| = {difference:e}, momentum moves {effect:e}"
        );
        assert!(difference < 1e-6, "{algorithm}: {difference}");
        assert!(
            effect > 1e-3,
            "{algorithm}: the momentum changed little ({effect})"
        );
    }
}

/// Anarchic FL (Yang et al., ICML 2022) with the server waiting for every client: each
/// client takes its own K_i (1..=4, keyed) plain full-batch SGD steps from the server model
/// and the server steps on the mean of G_i = (x_i - x) / K_i; recomputed here from the
/// clients' gradients (float rounding only: measured 3e-8; bound 1e-6). AFA-CS, averaging
/// every client's latest G, is then the same sum: equal bit for bit.
#[test]
fn afa_follows_its_recursion() {
    let dir = tempfile::tempdir().unwrap();
    let run = |algorithm: &str| {
        let section = format!(
            "federated={{clients=2,rounds=3,local_steps=4,participation=\"full\",\
             partition=\"dirichlet\",alpha=0.5,algorithm=\"{algorithm}\",afa_updates=2}}"
        );
        let extra = [section, "data.batch_size=64".to_string()];
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let summary = federated(&extra, &dir.path().join(algorithm));
        let _generator = common::device_generator();
        let mut overrides = PLAIN.to_vec();
        overrides.extend_from_slice(&extra);
        (
            simulator::server_weights(&summary).unwrap(),
            smoke(&overrides).0,
        )
    };
    let (cd, config) = run("afa_cd");
    let (cs, _) = run("afa_cs");
    assert_eq!(max_difference(&cd, &cs), 0.0);

    let _generator = common::device_generator();
    let fed = config.federated.clone().unwrap();
    let times = stoke::federated::clock::ComputeTimes::new(&fed, config.seed);
    let (mut x, mut clients) = full_batch_clients(&config);
    let mut chosen = Vec::new();
    for round in 0..fed.rounds {
        let mut sum = x.scale(0.0);
        for (i, client) in clients.iter_mut().enumerate() {
            let k = times.steps(i, round, fed.local_steps);
            chosen.push(k);
            let mut y = x.clone();
            for _ in 0..k {
                client.set_weights(&y).unwrap();
                let grad = client.gradients().unwrap().0;
                y = y.sub(&grad.scale(config.optimizer.lr as f32)).unwrap();
            }
            sum = sum.add(&y.sub(&x).unwrap().scale(1.0 / k as f32)).unwrap();
        }
        x = x.add(&sum.scale(0.5)).unwrap();
    }
    let difference = max_difference(&cd, &x);
    eprintln!("afa: steps chosen {chosen:?}, max |simulator - recursion| = {difference:e}");
    assert!(chosen.iter().any(|&k| k != chosen[0]), "{chosen:?}");
    assert!(difference < 1e-6, "{difference}");
}

/// SCALLION (random-k, half the values, alpha = k/d) and SCAFCOM (top-k 30%, beta = 0.5)
/// against their recursions (Huang et al., ICLR 2024) recomputed here from full-batch client
/// gradients and the public compressor with the same keyed draws: 2 Dirichlet clients, 2
/// rounds of K = 2 steps. Float rounding only: measured max |difference| 1.2e-7 (SCALLION)
/// and 8e-9 (SCAFCOM); bound 1e-6. A wrong alpha (1 instead of k/d) moves SCALLION's
/// weights by 3e-2 (bound 1e-2).
#[test]
fn scallion_and_scafcom_follow_their_recursions() {
    for (algorithm, compressor) in [("scallion", "randk"), ("scafcom", "topk")] {
        let ratio = if algorithm == "scallion" { 0.5 } else { 0.3 };
        let (server, config) = two_full_batch_clients(&format!(
            "algorithm=\"{algorithm}\",compressor=\"{compressor}\",compress_ratio={ratio}"
        ));
        let _generator = common::device_generator();
        let reference = compressed_control_by_hand(&config, None);
        let difference = max_difference(&server, &reference);
        eprintln!("{algorithm}: max |simulator - recursion| = {difference:e}");
        assert!(difference < 1e-6, "{algorithm}: {difference}");
        if algorithm == "scallion" {
            let wrong = compressed_control_by_hand(&config, Some(1.0));
            let effect = max_difference(&reference, &wrong);
            eprintln!("alpha 1 instead of k/d moves {effect:e}");
            assert!(effect > 1e-2, "{effect}");
        }
    }
}

/// The server's parameters after SCALLION or SCAFCOM (`config`'s algorithm) by the paper's
/// recursion, with `alpha` in place of SCALLION's default when given.
fn compressed_control_by_hand(config: &stoke::config::RunConfig, alpha: Option<f64>) -> Weights {
    use stoke::config::federated::AlgorithmName;
    use stoke::rng::{Rng, Stream};
    let fed = config.federated.clone().unwrap();
    let scafcom = fed.algorithm == AlgorithmName::Scafcom;
    let (eta, k, n) = (config.optimizer.lr, fed.local_steps, fed.clients);
    let beta = fed.momentum_beta as f32;
    let (mut x, mut clients) = full_batch_clients(config);
    let d = x.num_values();
    let alpha = match (scafcom, alpha) {
        (true, _) => 1.0,
        (false, Some(alpha)) => alpha,
        (false, None) => (fed.compress_ratio * d as f64).ceil() / d as f64,
    };
    let zero = x.scale(0.0);
    let (mut c, mut c_i, mut v_i) = (zero.clone(), vec![zero.clone(); n], vec![zero.clone(); n]);
    let flat = |w: &Weights| -> Vec<f32> { w.iter().flat_map(|(_, t)| t.values.clone()).collect() };
    let unflat = |layout: &Weights, values: &[f32]| {
        let mut rest = values;
        Weights::from_tensors(layout.iter().map(|(name, t)| {
            let (mine, others) = rest.split_at(t.values.len());
            rest = others;
            let mut tensor = t.clone();
            tensor.values = mine.to_vec();
            (name.to_string(), tensor)
        }))
        .unwrap()
    };
    for round in 0..fed.rounds {
        let mut sum = zero.clone();
        for i in 0..n {
            let mut y = x.clone();
            for _ in 0..k {
                clients[i].set_weights(&y).unwrap();
                let grad = clients[i].gradients().unwrap().0;
                let step = grad.add(&c).unwrap().sub(&c_i[i]).unwrap();
                y = y.sub(&step.scale(eta as f32)).unwrap();
            }
            let g = y
                .sub(&x)
                .unwrap()
                .scale((-1.0 / (eta * k as f64)) as f32)
                .add(&c_i[i])
                .unwrap()
                .sub(&c)
                .unwrap();
            let target = match scafcom {
                false => g.sub(&c_i[i]).unwrap(),
                true => {
                    v_i[i] = match round {
                        0 => g.scale(beta),
                        _ => v_i[i].scale(1.0 - beta).add(&g.scale(beta)).unwrap(),
                    };
                    v_i[i].sub(&c_i[i]).unwrap()
                }
            };
            let mut rng = Rng::new(config.seed, Stream::Compress, round as u64, i as u64);
            let sent = stoke::federated::compress::compress(
                fed.compressor,
                fed.compress_ratio,
                fed.qsgd_levels,
                &flat(&target),
                &mut rng,
            );
            let d_i = unflat(&target, &sent.values);
            c_i[i] = c_i[i].add(&d_i.scale(alpha as f32)).unwrap();
            sum = sum.add(&d_i).unwrap();
        }
        let mean = sum.scale(1.0 / n as f32);
        x = x
            .add(&c.add(&mean).unwrap().scale(-(eta * k as f64) as f32))
            .unwrap();
        c = c.add(&sum.scale((alpha / n as f64) as f32)).unwrap();
    }
    x
}

/// A federated run of 2 Dirichlet(0.5) clients, both in each of 2 rounds of 2 full-batch
/// plain SGD steps, with `rule`'s keys added to its section (momentum_beta 0.5): the
/// server's final weights and the run's config.
fn two_full_batch_clients(rule: &str) -> (Weights, stoke::config::RunConfig) {
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "federated={{clients=2,rounds=2,local_steps=2,participation=\"full\",\
         partition=\"dirichlet\",alpha=0.5,momentum_beta=0.5,{rule}}}"
    );
    let extra = [
        section.as_str(),
        "data.batch_size=64",
        "optimizer.lr_scaling=\"none\"",
        "optimizer.weight_decay=0",
    ];
    let summary = federated(&extra, &dir.path().join("run"));
    let _generator = common::device_generator();
    let server = simulator::server_weights(&summary).unwrap();
    let mut overrides = PLAIN.to_vec();
    overrides.extend_from_slice(&extra);
    (server, smoke(&overrides).0)
}

/// Full-batch clients of `config`'s federated split (each a Trainer whose batch is all its
/// images, so its gradients depend on the weights only) and the server's initial parameters.
fn full_batch_clients(config: &stoke::config::RunConfig) -> (Weights, Vec<Trainer>) {
    let fed = config.federated.clone().unwrap();
    let device = stoke::device::parse(&config.device).unwrap();
    let data = stoke::datasets::load(&config.dataset, config.seed).unwrap();
    let parts = stoke::federated::partition::partition(
        &data.train.labels,
        data.num_classes(),
        &fed,
        config.seed,
    )
    .unwrap();
    let mut plain = config.clone();
    plain.federated = None;
    plain.train.steps = 100;
    let x = Trainer::build(&plain, &device, Some(data.clone()), Setup::default())
        .unwrap()
        .weights()
        .only(stoke::train::TensorKind::Parameter);
    let clients = parts
        .iter()
        .map(|part| {
            let mut config = plain.clone();
            config.data.batch_size = part.len();
            let local = simulator::client_data(&data, part);
            Trainer::build(&config, &device, Some(local), Setup::default()).unwrap()
        })
        .collect();
    (x, clients)
}

/// The server's parameters after the run of `config` by the FedAvg-M (or SCAFFOLD-M)
/// recursion with weight `beta` of the fresh gradient, from full-batch client gradients.
fn recursion_by_hand(config: &stoke::config::RunConfig, scaffold: bool, beta: f32) -> Weights {
    let fed = config.federated.clone().unwrap();
    let (eta, k, n) = (config.optimizer.lr as f32, fed.local_steps, fed.clients);
    let (mut x, mut clients) = full_batch_clients(config);
    let mut gradient = |i: usize, at: &Weights| {
        clients[i].set_weights(at).unwrap();
        clients[i].gradients().unwrap().0
    };
    let (mut g, mut c): (Option<Weights>, Option<Weights>) = (None, None);
    let mut c_i: Vec<Option<Weights>> = vec![None; n];
    for _round in 0..fed.rounds {
        let (mut deltas, mut new_c) = (Vec::new(), Vec::new());
        for (i, control) in c_i.iter().enumerate() {
            let mut y = x.clone();
            let mut sum: Option<Weights> = None;
            for _ in 0..k {
                let grad = gradient(i, &y);
                let mut corrected = grad.clone();
                if scaffold {
                    if let Some(c) = &c {
                        corrected = corrected.add(c).unwrap();
                    }
                    if let Some(ci) = control {
                        corrected = corrected.sub(ci).unwrap();
                    }
                }
                let d = match &g {
                    Some(g) => corrected.scale(beta).add(&g.scale(1.0 - beta)).unwrap(),
                    None => corrected,
                };
                y = y.sub(&d.scale(eta)).unwrap();
                sum = Some(match sum {
                    None => grad,
                    Some(s) => s.add(&grad).unwrap(),
                });
            }
            deltas.push(y.sub(&x).unwrap());
            new_c.push(sum.unwrap().scale(1.0 / k as f32));
        }
        let total = deltas[1..]
            .iter()
            .fold(deltas[0].clone(), |s, d| s.add(d).unwrap());
        g = Some(total.scale(-1.0 / (eta * (n * k) as f32)));
        x = x.add(&total.scale(1.0 / n as f32)).unwrap();
        if scaffold {
            for i in 0..n {
                let old = c_i[i].clone().unwrap_or_else(|| new_c[i].scale(0.0));
                let change = new_c[i].sub(&old).unwrap().scale(1.0 / n as f32);
                c = Some(match c {
                    None => change,
                    Some(c) => c.add(&change).unwrap(),
                });
                c_i[i] = Some(new_c[i].clone());
            }
        }
    }
    x
}

/// Each compressor's uploads are counted at their size on the wire, for d parameter values
/// per client (the one-block ViT has no buffers): none 4d, top-k (ratio 0.1) 8 ceil(d/10),
/// random-k 4 ceil(d/10) + 8, QSGD with 16 levels 4 + ceil(6d/8), sign 4 + ceil(d/8); a
/// compressed run still trains (its server moved).
#[test]
fn compressed_uploads_count_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for compressor in ["none", "topk", "randk", "qsgd", "sign"] {
        let section = format!(
            "federated={{clients=4,rounds=1,local_steps=1,clients_per_round=2,compressor=\"{compressor}\"}}"
        );
        let out = dir.path().join(compressor);
        let summary = federated(&[&section], &out);
        let _generator = common::device_generator();
        let metrics =
            stoke::train::metrics::read_without_timing(&out.join("metrics.jsonl")).unwrap();
        sizes.push(metrics[0]["bytes_up"].as_u64().unwrap() as usize);
        if compressor == "none" {
            continue;
        }
        let server = simulator::server_weights(&summary).unwrap();
        let none = simulator::server_weights(&FederatedSummary {
            server_run: dir.path().join("none").join("server"),
            ..summary.clone()
        })
        .unwrap();
        assert!(max_difference(&server, &none) > 0.0, "{compressor}");
    }
    let d = sizes[0] / (2 * 4);
    let k = d.div_ceil(10);
    assert_eq!(
        sizes,
        [
            2 * 4 * d,
            2 * 8 * k,
            2 * (4 * k + 8),
            2 * (4 + (6 * d).div_ceil(8)),
            2 * (4 + d.div_ceil(8)),
        ]
    );
}

/// The same config gives the same server model bit for bit, and the same metrics.
#[test]
fn federated_runs_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let summary = federated(
            &[
                "federated={clients=8,rounds=3,local_steps=2,clients_per_round=3,partition=\"dirichlet\",alpha=0.5}",
            ],
            &out,
        );
        let _generator = common::device_generator();
        let weights = simulator::server_weights(&summary).unwrap();
        let metrics =
            stoke::train::metrics::read_without_timing(&out.join("metrics.jsonl")).unwrap();
        (weights, metrics)
    };
    let (a, metrics_a) = run("a");
    let (b, metrics_b) = run("b");
    assert_eq!(max_difference(&a, &b), 0.0);
    assert_eq!(metrics_a, metrics_b);
    assert_eq!(metrics_a.len(), 3);
}

/// `stoke train` runs a federated config, `stoke eval` scores its server model, and keys
/// that do not fit or features not built yet are usage errors naming them.
#[test]
fn the_cli_trains_federated_and_refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let federated =
        "federated={clients=4,rounds=2,local_steps=2,clients_per_round=2,evaluate_every=1}";
    let output = stoke(&[
        "train",
        "smoke",
        "train.epochs=0",
        "schedule.name=\"constant\"",
        federated,
        "--out",
        run_s,
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["rounds"], 2);
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    assert!(metrics.contains("\"test_accuracy\""), "{metrics}");
    let eval = stoke(&["eval", run.join("server").to_str().unwrap(), "--json"]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let scores: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(scores["test_accuracy"], summary["test_accuracy"]);

    // A valid federated run of `smoke` with `extra` overrides.
    let federated_run = |extra: &[&'static str]| {
        let mut args = vec![
            "train",
            "smoke",
            "train.epochs=0",
            "schedule.name=\"constant\"",
            federated,
        ];
        args.extend(extra);
        args
    };
    for (args, key) in [
        (
            federated_run(&["federated.clients_per_round=5"]),
            "federated.clients_per_round",
        ),
        (vec!["train", "smoke", federated], "train.epochs"),
        (
            federated_run(&[
                "federated.partition=\"shards\"",
                "federated.shards_per_client=200",
            ]),
            "federated.shards_per_client",
        ),
        (
            vec!["train", "--resume", run_s, "federated.clients=8"],
            "federated.clients",
        ),
        (
            federated_run(&[
                "federated.algorithm=\"fedau\"",
                "federated.aggregation=\"all\"",
            ]),
            "federated.aggregation",
        ),
        (
            federated_run(&["federated.fedau_cutoff=5"]),
            "federated.fedau_cutoff",
        ),
        (
            federated_run(&[
                "federated.participation=\"markov\"",
                "federated.participation_mean=1.5",
            ]),
            "federated.participation_mean",
        ),
        // What a single run takes but the simulator would ignore is refused.
        (
            federated_run(&["train.tensorboard=true"]),
            "train.tensorboard",
        ),
        (
            federated_run(&["model.init=\"/nonexistent\""]),
            "model.init",
        ),
        (
            federated_run(&["train.precision=\"bf16\""]),
            "train.precision",
        ),
    ] {
        assert_usage_error(&stoke(&args), key);
    }
}

/// Stopped after round 3 (checkpoint on the way out) and resumed, a federated run ends with
/// the uninterrupted run's server model bit for bit and the same metrics; resuming the
/// finished run changes nothing. Run for each kind of state a checkpoint must carry: the
/// FedAdam server's moments; FedAU's intervals and the markov chains' states; the older
/// server models asynchronous clients still work from (FedBuff with jittered compute times,
/// async FedAvg); SCAFFOLD-M's control variates and momentum direction; SCAFCOM's control
/// variates and upload momenta; top-k's
/// error-feedback memories; MIFA's stored updates, the cyclic chains and a momentum server.
#[test]
fn a_resumed_federated_run_equals_the_uninterrupted_one() {
    let probabilities = "participation_mean=0.5,participation_min=0.2";
    for (name, section) in [
        (
            "fedadam",
            "federated={clients=6,rounds=6,local_steps=2,clients_per_round=2,evaluate_every=2,server_optimizer=\"adam\",server_lr=0.01}".to_string(),
        ),
        (
            "fedau-markov",
            format!("federated={{clients=6,rounds=6,local_steps=2,evaluate_every=2,algorithm=\"fedau\",fedau_cutoff=2,participation=\"markov\",markov_to_active=0.5,{probabilities}}}"),
        ),
        (
            "fedbuff-jitter",
            "federated={clients=6,rounds=6,local_steps=2,evaluate_every=2,algorithm=\"fedbuff\",fedbuff_size=2,participation=\"full\",compute_spread=0.5,compute_jitter=0.3}".to_string(),
        ),
        (
            "async-fedavg",
            "federated={clients=6,rounds=6,local_steps=2,evaluate_every=2,algorithm=\"async_fedavg\",participation=\"full\",compute_spread=0.8,server_lr=0.5}".to_string(),
        ),
        (
            "scaffold-m",
            "federated={clients=6,rounds=6,local_steps=2,clients_per_round=3,evaluate_every=2,algorithm=\"scaffold_m\"}".to_string(),
        ),
        (
            "topk-error-feedback",
            "federated={clients=6,rounds=6,local_steps=2,clients_per_round=2,evaluate_every=2,compressor=\"topk\",compress_ratio=0.05,error_feedback=true}".to_string(),
        ),
        (
            "scafcom-topk",
            "federated={clients=6,rounds=6,local_steps=2,clients_per_round=3,evaluate_every=2,algorithm=\"scafcom\",compressor=\"topk\",compress_ratio=0.05}".to_string(),
        ),
        (
            "afa-cs",
            "federated={clients=6,rounds=6,local_steps=3,evaluate_every=2,algorithm=\"afa_cs\",afa_updates=2,participation=\"full\",compute_spread=0.5}".to_string(),
        ),
        (
            "mifa-cyclic",
            format!("federated={{clients=6,rounds=6,local_steps=2,evaluate_every=2,algorithm=\"mifa\",participation=\"cyclic\",cycle=3,server_optimizer=\"momentum\",{probabilities}}}"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        // SCAFFOLD-M's clients take unscaled SGD steps.
        let _ = resume_is_exact(dir.path(), &[&section, "optimizer.lr_scaling=\"none\""], name);
    }
}

/// The uninterrupted run's summary.
fn resume_is_exact(dir: &std::path::Path, extra: &[&str], name: &str) -> FederatedSummary {
    let mut overrides = PLAIN.to_vec();
    overrides.extend_from_slice(extra);
    let (config, resolved) = smoke(&overrides);
    let whole = federated(extra, &dir.join("whole"));

    let parted = dir.join("parted");
    let cancel = CancelToken::new();
    let stop = cancel.clone();
    let interrupted = {
        let _generator = common::device_generator();
        let mut on_round = |report: &simulator::RoundReport| {
            if report.round == 3 {
                stop.cancel();
            }
        };
        simulator::run(
            &config,
            &resolved,
            &options(&parted, false, cancel.clone()),
            &mut on_round,
        )
    };
    let error = interrupted.unwrap_err();
    let stopped = error
        .downcast_ref::<stoke::train::Interrupted>()
        .expect("interrupted");
    assert_eq!(stopped.step, 3, "{name}");
    let resumed = {
        let _generator = common::device_generator();
        simulator::run(
            &config,
            &resolved,
            &options(&parted, true, CancelToken::new()),
            &mut |_| {},
        )
        .unwrap()
    };
    let _generator = common::device_generator();
    let (a, b) = (
        simulator::server_weights(&whole).unwrap(),
        simulator::server_weights(&resumed).unwrap(),
    );
    assert_eq!(max_difference(&a, &b), 0.0, "{name}");
    let metrics = |run: &str| {
        stoke::train::metrics::read_without_timing(&dir.join(run).join("metrics.jsonl")).unwrap()
    };
    let participants: Vec<_> = metrics("whole")
        .iter()
        .map(|line| line["participants"].as_u64().unwrap())
        .collect();
    eprintln!("{name}: participants per round {participants:?}");
    assert_eq!(metrics("whole"), metrics("parted"), "{name}");
    assert_eq!(
        (
            whole.bytes_up,
            whole.test_accuracy,
            whole.client_state_bytes
        ),
        (
            resumed.bytes_up,
            resumed.test_accuracy,
            resumed.client_state_bytes
        ),
        "{name}"
    );
    let again = simulator::run(
        &config,
        &resolved,
        &options(&parted, true, CancelToken::new()),
        &mut |_| {},
    );
    let complete = again.unwrap_err();
    assert!(
        complete
            .downcast_ref::<stoke::train::RunComplete>()
            .is_some(),
        "{name}: {complete:#}"
    );
    whole
}

/// With `client_state = "disk"` the clients' model-sized state (SCAFCOM's control variates
/// and momenta, MIFA's stored updates, error-feedback memories) lives in files: the run is
/// bit for bit the in-memory one, resumes exactly (also from a checkpoint written by an
/// in-memory run), and afterwards the store holds only files that a kept checkpoint lists.
#[test]
fn client_state_on_disk_is_exact_and_tidy() {
    for (name, section) in [
        (
            "scafcom-topk",
            "clients=6,rounds=6,local_steps=2,clients_per_round=3,evaluate_every=2,algorithm=\"scafcom\",compressor=\"topk\",compress_ratio=0.05",
        ),
        (
            "mifa-topk-error-feedback",
            "clients=6,rounds=6,local_steps=2,clients_per_round=2,evaluate_every=2,algorithm=\"mifa\",compressor=\"topk\",compress_ratio=0.05,error_feedback=true",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let scaling = "optimizer.lr_scaling=\"none\"";
        let memory = format!("federated={{{section}}}");
        let disk = format!("federated={{{section},client_state=\"disk\"}}");
        let on_disk = resume_is_exact(dir.path(), &[&disk, scaling], name);
        let in_memory = federated(&[&memory, scaling], &dir.path().join("memory"));
        let _generator = common::device_generator();
        let server = |summary: &FederatedSummary| simulator::server_weights(summary).unwrap();
        assert_eq!(
            max_difference(&server(&in_memory), &server(&on_disk)),
            0.0,
            "{name}"
        );
        assert_eq!(in_memory.client_state_bytes, on_disk.client_state_bytes);
        assert!(on_disk.client_state_bytes > 0, "{name}");

        // Every stored file is listed by a kept checkpoint, and every listed file exists.
        for run in ["whole", "parted"] {
            let run = dir.path().join(run);
            let mut listed = std::collections::BTreeSet::new();
            for index in files_under(&run.join("checkpoints"), ".index.json") {
                let index: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(index).unwrap()).unwrap();
                for file in index["clients"].as_object().unwrap().values() {
                    listed.insert(run.join(file["path"].as_str().unwrap()));
                }
            }
            let stored: std::collections::BTreeSet<_> =
                files_under(&run.join("client-state"), ".safetensors")
                    .into_iter()
                    .collect();
            assert!(!stored.is_empty(), "{name}");
            assert_eq!(stored, listed, "{name}");
        }

        // An in-memory run stopped after round 3 resumes onto disk, exactly.
        let switched = dir.path().join("switched");
        let (config, resolved) = smoke(&[PLAIN, &[memory.as_str(), scaling]].concat());
        let cancel = CancelToken::new();
        let stop = cancel.clone();
        let mut on_round = |report: &simulator::RoundReport| {
            if report.round == 3 {
                stop.cancel();
            }
        };
        assert!(
            simulator::run(
                &config,
                &resolved,
                &options(&switched, false, cancel),
                &mut on_round
            )
            .is_err()
        );
        let (config, resolved) = smoke(&[PLAIN, &[disk.as_str(), scaling]].concat());
        let resumed = simulator::run(
            &config,
            &resolved,
            &options(&switched, true, CancelToken::new()),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            max_difference(&server(&in_memory), &server(&resumed)),
            0.0,
            "{name}"
        );
    }
}

fn files_under(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}
