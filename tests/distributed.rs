//! Data-parallel training under MPI: equivalence with one process, resume across rank
//! counts, and a job that ends (instead of hanging) when a rank dies or stops answering.
//! The MPI tests need the `mpi` feature and Open MPI's `mpirun` (what `.ci/run` installs).

mod common;

use common::{stderr, stoke};

#[test]
fn launch_runs_only_the_train_command() {
    let output = stoke(&["launch", "-n", "2", "--", "eval", "runs/x"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("only `train` (and `bench all-reduce`) run data-parallel")
            || message.contains("without MPI"),
        "{message}"
    );
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_binary_without_mpi_refuses_to_run_as_one_of_several_ranks() {
    // What `mpirun -np 2 stoke train ...` looks like to a binary built without the feature:
    // training alone in the same directory as the other rank would corrupt the run.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args(["train", "smoke", "--quiet", "--out", "/nonexistent/never"])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--features mpi"),
        "{}",
        stderr(&output)
    );
}

/// Equivalence configs: a ViT (layer norm, no batch norm, whose statistics would be per
/// rank) on synthetic data, with augmentation, so sharding and per-sample augmentation keys
/// are exercised.
const VIT_ERM: &str = r#"
description = "data-parallel equivalence"
seed = 3
[recipe]
name = "erm"
[dataset]
name = "synthetic"
[data]
batch_size = 32
eval_batch_size = 48
crop_padding = 1
hflip = true
[model]
arch = "vit"
patch = 4
dim = 32
depth = 2
heads = 2
[optimizer]
name = "adamw"
lr = 0.002
[schedule]
name = "cosine"
[train]
epochs = 2
log_every = 4
"#;

/// Relative tolerance of the equivalence tests. The ranks add their shards' gradients in
/// another order than one process sums its batch, so float32 rounding differs at ~1e-7 per
/// step and compounds over the run's 32 AdamW steps; measured at most 2e-6 (loss) and 1.5e-4
/// (gradient norms, small numbers whose relative error is largest). 1e-3 leaves room and
/// still fails on any real difference (a wrong shard, a missing average, weights that drift
/// apart).
const TOLERANCE: f64 = 1e-3;

/// Every number of `a` and `b`, line by line, within `tolerance` relative to `a` (or absolute
/// below 1); every other field equal.
fn assert_close(a: &[serde_json::Value], b: &[serde_json::Value], tolerance: f64) {
    assert_close_by(a, b, |_| tolerance)
}

/// [`assert_close`] with a tolerance per field name.
fn assert_close_by(
    a: &[serde_json::Value],
    b: &[serde_json::Value],
    tolerance: impl Fn(&str) -> f64,
) {
    assert_eq!(a.len(), b.len(), "metrics lines");
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.as_object().unwrap(), y.as_object().unwrap());
        assert_eq!(
            x.keys().collect::<Vec<_>>(),
            y.keys().collect::<Vec<_>>(),
            "fields"
        );
        for (key, value) in x {
            match (value.as_f64(), y[key].as_f64()) {
                (Some(p), Some(q)) => assert!(
                    (p - q).abs() <= tolerance(key) * p.abs().max(1.0),
                    "step {}: {key} {p} vs {q}",
                    x["step"]
                ),
                _ => assert_eq!(value, &y[key], "{key}"),
            }
        }
    }
}

fn metrics(run: &std::path::Path) -> Vec<serde_json::Value> {
    stoke::train::metrics::read_without_timing(&run.join("metrics.jsonl")).unwrap()
}

/// The in-process ranks of `--devices` (threads meeting in shared memory), run on CPU
/// devices with the engine averaging gradients through host memory: everything of the
/// multi-GPU path but Burn's NCCL all-reduce, which needs CUDA devices.
#[test]
fn ranks_in_threads_train_as_one_process() {
    use stoke::train::devices::{GradientAveraging, train_threads};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, VIT_ERM).unwrap();
    let (config, resolved) = stoke::config::resolve(path.to_str().unwrap(), &[]).unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    common::train(&config, &resolved, &one, false, None).unwrap();
    let _generator = common::device_generator();
    let options = stoke::train::TrainOptions {
        out_dir: two.clone(),
        ..Default::default()
    };
    let devices = ["flex".to_string(), "flex".to_string()];
    let summary = train_threads(
        &config,
        &resolved,
        &options,
        &devices,
        GradientAveraging::Host,
        &Vec::new,
    )
    .unwrap();
    assert_eq!(summary.ranks, 2);
    assert_close(&metrics(&one), &metrics(&two), TOLERANCE);
}

#[test]
fn devices_must_be_cuda() {
    let output = stoke(&[
        "train",
        "smoke",
        "--devices",
        "flex,flex",
        "--quiet",
        "--out",
        "/nonexistent/x",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("DDP needs CUDA devices") && message.contains("use mpirun for CPU ranks"),
        "{message}"
    );
}

/// Built without MPI, the MPI tests below are not compiled: say so (and fail in CI).
#[cfg(not(feature = "mpi"))]
#[test]
fn mpi_tests_need_the_mpi_feature() {
    common::system_dependency(
        "the `mpi` feature (Open MPI: cargo test --features mpi)",
        false,
    );
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;
    use serde_json::Value;
    use std::path::Path;
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    fn write_config(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().to_string()
    }

    fn launch(ranks: usize, args: &[&str]) -> Output {
        let mut all = vec!["launch", "-n"];
        let ranks = ranks.to_string();
        all.push(&ranks);
        all.push("--");
        all.extend(args);
        stoke(&all)
    }

    fn train_alone(config: &str, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["train", config, "--quiet", "--out", out.to_str().unwrap()];
        args.extend(extra);
        stoke(&args)
    }

    fn equivalence(config_text: &str) {
        equivalence_by(config_text, |_| TOLERANCE)
    }

    fn equivalence_by(config_text: &str, tolerance: impl Fn(&str) -> f64) {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "config.toml", config_text);
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        let output = train_alone(&config, &one, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let output = launch(
            2,
            &["train", &config, "--quiet", "--out", two.to_str().unwrap()],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert_close_by(&metrics(&one), &metrics(&two), tolerance);
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(two.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["ranks"], 2);
        // Only rank 0 wrote: one copy of each line, and a single progress-free summary line
        // on stdout.
        assert_eq!(common::stdout(&output).lines().count(), 1);
    }

    #[test]
    fn two_ranks_train_as_one_process_with_the_same_global_batch() {
        equivalence(VIT_ERM);
    }

    #[test]
    fn two_ranks_train_pgd_at_as_one_process() {
        let config = VIT_ERM.replace(
            "name = \"erm\"",
            "name = \"pgd-at\"\neps = 8.0\nstep = 2.0\nsteps = 3",
        );
        equivalence(&config);
    }

    /// AdAdaGrad: the batch-size test sees the global batch's micro-batches (the batch grows
    /// 4, 35, 48 here, so the shards are also unequal: 17 and 18).
    #[test]
    fn two_ranks_grow_the_batch_as_one_process() {
        let config = VIT_ERM
            .replace("batch_size = 32", "batch_size = 4")
            .replace(
                "name = \"adamw\"\nlr = 0.002",
                "name = \"adagrad\"\nlr = 0.01",
            )
            .replace("name = \"cosine\"", "name = \"constant\"")
            .replace("epochs = 2", "epochs = 0\nsteps = 12")
            + "[adaptive_batch]\ntest = \"norm\"\neta = 0.5\nmicro_batches = 4\nmax_batch_size = 48\n";
        equivalence(&config);
    }

    /// AdaHessian: the Hessian-vector products are averaged too. Finite differences divide
    /// gradient differences by a small step, which magnifies the rounding of the summation
    /// order: measured 3e-3 relative on gradient norms and 2e-5 on losses over 16 steps.
    /// Unaveraged products (weights drifting apart across ranks) change the losses far more.
    #[test]
    fn two_ranks_train_adahessian_as_one_process() {
        let config = VIT_ERM
            .replace(
                "name = \"adamw\"\nlr = 0.002",
                "name = \"adahessian\"\nlr = 0.05",
            )
            .replace("epochs = 2", "epochs = 1");
        equivalence_by(
            &config,
            |key| if key.contains("loss") { 2e-4 } else { 2e-2 },
        );
    }

    #[test]
    fn a_run_resumes_on_another_number_of_ranks() {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "config.toml", VIT_ERM);
        let whole = dir.path().join("whole");
        let output = train_alone(&config, &whole, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        for (first, then) in [(2, 1), (1, 2)] {
            let run = dir.path().join(format!("{first}-then-{then}"));
            let run_arg = run.to_str().unwrap();
            let output = match first {
                1 => train_alone(&config, &run, &["--stop-after", "10"]),
                _ => launch(
                    first,
                    &[
                        "train",
                        &config,
                        "--quiet",
                        "--out",
                        run_arg,
                        "--stop-after",
                        "10",
                    ],
                ),
            };
            assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
            let output = match then {
                1 => stoke(&["train", "--resume", run_arg, "--quiet"]),
                _ => launch(then, &["train", "--resume", run_arg, "--quiet"]),
            };
            assert!(output.status.success(), "{}", stderr(&output));
            assert_close(&metrics(&whole), &metrics(&run), TOLERANCE);
        }
    }

    #[test]
    fn a_global_batch_smaller_than_the_ranks_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let out = out.to_str().unwrap();
        let output = launch(
            2,
            &[
                "train",
                "smoke",
                "data.batch_size=1",
                "--quiet",
                "--out",
                out,
            ],
        );
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("cannot be shared by 2 ranks"),
            "{}",
            stderr(&output)
        );
    }

    /// The pid of `rank` of the job writing `run`, once it runs.
    fn rank_pid(run: &Path, rank: usize) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
        loop {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
                let has = |bytes: &[u8], text: &str| {
                    bytes.split(|&b| b == 0).any(|part| part == text.as_bytes())
                };
                if has(&cmdline, run.to_str().unwrap())
                    && has(&environ, &wanted)
                    && !has(&cmdline, "launch")
                {
                    return pid;
                }
            }
            assert!(Instant::now() < deadline, "rank {rank} never started");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A long job; returns once it has written its first checkpoint.
    fn start_long_job(run: &Path, extra: &[&str]) -> Child {
        let mut args = vec![
            "launch",
            "-n",
            "2",
            "--",
            "train",
            "smoke",
            "train.epochs=100000",
            "train.checkpoint_every=20",
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ];
        args.extend(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_stoke"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !run.join("checkpoints/latest").exists() {
            assert!(Instant::now() < deadline, "no checkpoint after 120 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    }

    /// Waits for the job to end; returns its exit code, stderr and how long it took.
    fn wait_for_end(mut child: Child, limit: Duration) -> (Option<i32>, String, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut text = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut text)
                    .unwrap();
                return (status.code(), text, started.elapsed());
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("the job still runs {} s later", limit.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(pid: u32, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The latest checkpoint loads: evaluating it succeeds.
    fn assert_checkpoint_loads(run: &Path) {
        let output = stoke(&["eval", run.to_str().unwrap(), "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }

    #[test]
    fn a_killed_rank_ends_the_job_within_seconds_and_the_checkpoint_stays_valid() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let job = start_long_job(&run, &[]);
        signal(rank_pid(&run, 1), "KILL");
        let (code, text, took) = wait_for_end(job, Duration::from_secs(30));
        assert_ne!(code, Some(0), "{text}");
        assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
        assert_checkpoint_loads(&run);
    }

    #[test]
    fn a_rank_that_stops_answering_ends_the_job_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let job = start_long_job(&run, &["--timeout", "3"]);
        let stuck = rank_pid(&run, 1);
        signal(stuck, "STOP");
        let (code, text, took) = wait_for_end(job, Duration::from_secs(60));
        let _ = Command::new("kill")
            .args(["-KILL", &stuck.to_string()])
            .status();
        assert_ne!(code, Some(0), "{text}");
        assert!(text.contains("did not complete within 3 s"), "{text}");
        assert!(took < Duration::from_secs(30), "took {took:?}: {text}");
        assert_checkpoint_loads(&run);
    }

    /// Federated clients spread over ranks (participant i on rank i mod ranks) give the
    /// in-process run's server model bit for bit (the exported safetensors are the same
    /// bytes) and the same metrics; only rank 0 writes. Every algorithm on 4 ranks (with 3
    /// participants a round, one rank trains nobody), the first also on 2.
    #[test]
    fn federated_clients_on_four_ranks_equal_one_process() {
        let probabilities = "participation_mean=0.5,participation_min=0.2";
        let sections = [
            "clients=6,rounds=4,local_steps=2,clients_per_round=3,evaluate_every=2".to_string(),
            // Per-client state on every rank: FedAU's intervals, the markov chains.
            format!(
                "clients=6,rounds=4,local_steps=2,evaluate_every=2,algorithm=\"fedau\",\
                 participation=\"markov\",markov_to_active=0.5,{probabilities}"
            ),
            // MIFA's stored updates, on disk: every rank keeps its own files.
            format!(
                "clients=6,rounds=4,local_steps=2,evaluate_every=2,algorithm=\"mifa\",\
                 participation=\"cyclic\",cycle=3,client_state=\"disk\",{probabilities}"
            ),
            // Stale models kept on every rank: asynchronous clients work from older versions.
            "clients=6,rounds=4,local_steps=2,evaluate_every=2,algorithm=\"fedbuff\",\
             fedbuff_size=2,participation=\"full\",compute_spread=0.5"
                .to_string(),
            "clients=6,rounds=4,local_steps=2,evaluate_every=2,algorithm=\"fedfix\",\
             fedfix_interval=0.6,participation=\"full\",compute_spread=0.5"
                .to_string(),
            "clients=6,rounds=4,local_steps=2,evaluate_every=2,algorithm=\"async_fedavg\",\
             participation=\"full\",compute_spread=0.5,server_lr=0.5"
                .to_string(),
            // Anarchic clients pick their own step counts.
            "clients=6,rounds=4,local_steps=3,evaluate_every=2,algorithm=\"afa_cd\",\
             afa_updates=2,participation=\"full\",compute_spread=0.5"
                .to_string(),
            "clients=6,rounds=4,local_steps=3,evaluate_every=2,algorithm=\"afa_cs\",\
             afa_updates=2,participation=\"full\",compute_spread=0.5"
                .to_string(),
            // Momentum and control variates trained on one rank, exchanged with the updates.
            "clients=6,rounds=4,local_steps=2,clients_per_round=3,evaluate_every=2,\
             algorithm=\"fedavg_m\""
                .to_string(),
            "clients=6,rounds=4,local_steps=2,clients_per_round=3,evaluate_every=2,\
             algorithm=\"scaffold_m\""
                .to_string(),
            // Compressed uploads keyed by (seed, round, client) on whichever rank.
            "clients=6,rounds=4,local_steps=2,clients_per_round=3,evaluate_every=2,\
             algorithm=\"scallion\",compressor=\"randk\",compress_ratio=0.1"
                .to_string(),
            "clients=6,rounds=4,local_steps=2,clients_per_round=3,evaluate_every=2,\
             algorithm=\"scafcom\",compressor=\"topk\",compress_ratio=0.05,\
             client_state=\"disk\""
                .to_string(),
            "clients=6,rounds=4,local_steps=2,clients_per_round=3,evaluate_every=2,\
             server_optimizer=\"adam\",server_lr=0.01,compressor=\"qsgd\",\
             error_feedback=true"
                .to_string(),
        ];
        federated_run_on_ranks_equals_one_process(&sections[0], 2);
        for section in &sections {
            federated_run_on_ranks_equals_one_process(section, 4);
        }
    }

    /// Byzantine workers spread over ranks (worker w on rank w mod size) give the one-process
    /// run's server model bit for bit and the same metrics: colluding attacks that need the
    /// faulty workers' honest gradients from several ranks, a data attack, and a rule that
    /// draws a random start.
    #[test]
    fn byzantine_workers_on_ranks_equal_one_process() {
        let sections = [
            "byzantine={workers=7,faulty=2,attack=\"little\",rule=\"flag\",flag_iterations=2,evaluate_every=2}",
            "byzantine={workers=7,faulty=2,attack=\"augmented\",rule=\"median\",evaluate_every=2}",
        ];
        let dir = tempfile::tempdir().unwrap();
        for (k, section) in sections.iter().enumerate() {
            let args = |out: &Path| -> Vec<String> {
                [
                    "train",
                    "smoke",
                    "train.epochs=0",
                    "train.steps=4",
                    section,
                    "--quiet",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain(["--out".into(), out.to_string_lossy().into()])
                .collect()
            };
            let (one, many) = (
                dir.path().join(format!("one-{k}")),
                dir.path().join(format!("many-{k}")),
            );
            let alone = args(&one);
            let output = stoke(&alone.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(output.status.success(), "{}", stderr(&output));
            let ranked = args(&many);
            let output = launch(3, &ranked.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(output.status.success(), "{section}: {}", stderr(&output));
            assert_eq!(common::stdout(&output).lines().count(), 1);
            let export = |run: &Path| {
                let out = run.join("server.safetensors");
                let server = run.join("server");
                let output = stoke(&["export", server.to_str().unwrap(), out.to_str().unwrap()]);
                assert!(output.status.success(), "{}", stderr(&output));
                std::fs::read(out).unwrap()
            };
            assert!(
                export(&one) == export(&many),
                "{section}: the server models differ"
            );
            assert_eq!(metrics(&one), metrics(&many), "{section}");
        }
    }

    /// Gossip nodes spread over ranks (contiguous blocks, neighbours' models sent point to
    /// point) end with every node's weights of the one-process run bit for bit, and the same
    /// metrics (the consensus distance, whose mean model is summed across ranks in f64, to
    /// 1e-12). A random 4-regular graph of 7 nodes on 3 ranks (blocks of 2, 2, 3) and on 2,
    /// with variance correction and a self weight other than the default.
    #[test]
    fn gossip_nodes_on_ranks_equal_one_process() {
        let section = "gossip={nodes=7,degree=4,rounds=3,local_steps=2,evaluate_every=1,\
                       eval_images=64,variance_correction=true,self_weight=0.3}";
        let dir = tempfile::tempdir().unwrap();
        let args = |out: &Path| -> Vec<String> {
            [
                "train",
                "smoke",
                "train.epochs=0",
                "schedule.name=\"constant\"",
                section,
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([
                "--quiet".into(),
                "--out".into(),
                out.to_string_lossy().into(),
            ])
            .collect()
        };
        let one = dir.path().join("one");
        let alone = args(&one);
        let output = stoke(&alone.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(output.status.success(), "{}", stderr(&output));
        let export = |run: &Path, node: usize| {
            let node = run.join("nodes").join(format!("node-{node:04}"));
            let out = node.join("weights.safetensors");
            let (node, out) = (node.to_str().unwrap(), out.to_str().unwrap());
            let output = stoke(&["export", node, out, "--force"]);
            assert!(output.status.success(), "{}", stderr(&output));
            std::fs::read(out).unwrap()
        };
        for ranks in [3, 2] {
            let many = dir.path().join(format!("ranks-{ranks}"));
            let ranked = args(&many);
            let output = launch(
                ranks,
                &ranked.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            assert!(
                output.status.success(),
                "{ranks} ranks: {}",
                stderr(&output)
            );
            assert_eq!(common::stdout(&output).lines().count(), 1);
            for node in 0..7 {
                assert!(
                    export(&one, node) == export(&many, node),
                    "node {node} on {ranks} ranks differs from one process"
                );
            }
            assert_close_by(&metrics(&one), &metrics(&many), |key| match key {
                "consensus_distance" => 1e-12,
                _ => 0.0,
            });
        }
    }

    fn federated_run_on_ranks_equals_one_process(section: &str, ranks: usize) {
        let federated = format!("federated={{{section}}}");
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        let args = |out: &Path| -> Vec<String> {
            [
                "train",
                "smoke",
                "train.epochs=0",
                "schedule.name=\"constant\"",
                // SCAFFOLD-M's clients take plain, unscaled SGD steps.
                "optimizer.momentum=0",
                "optimizer.lr_scaling=\"none\"",
                &federated,
                "--quiet",
                "--out",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([out.to_string_lossy().to_string()])
            .collect()
        };
        let alone: Vec<String> = args(&one);
        let output = stoke(&alone.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(output.status.success(), "{}", stderr(&output));
        let ranked = args(&two);
        let output = launch(
            ranks,
            &ranked.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(output.status.success(), "{section}: {}", stderr(&output));
        assert_eq!(common::stdout(&output).lines().count(), 1);
        let export = |run: &Path| {
            let out = run.join("server.safetensors");
            let server = run.join("server");
            let output = stoke(&["export", server.to_str().unwrap(), out.to_str().unwrap()]);
            assert!(output.status.success(), "{}", stderr(&output));
            std::fs::read(out).unwrap()
        };
        assert!(
            export(&one) == export(&two),
            "{section} on {ranks} ranks: the server models differ"
        );
        let metrics = |run: &Path| {
            stoke::train::metrics::read_without_timing(&run.join("metrics.jsonl")).unwrap()
        };
        assert_eq!(metrics(&one), metrics(&two), "{section} on {ranks} ranks");
    }
}
