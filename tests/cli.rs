//! The `stoke` binary: exit codes, JSON output, eval, export and Ctrl-C.

mod common;

use common::{stderr, stdout, stoke};

#[test]
fn exit_codes_distinguish_usage_and_runtime_errors() {
    // Usage / config errors: 2.
    for args in [
        vec!["train", "smoke", "train.epoch=1"],
        vec!["train", "no-such-recipe"],
        vec!["train", "smoke", "--device", "cuda"],
        vec![
            "train",
            "smoke",
            "dataset.name=cifar10",
            "dataset.path=/nonexistent",
        ],
        vec!["ls", "everything"],
        vec!["frobnicate"],
        vec!["eval", "/nonexistent-run"],
        // Values with a fixed set of choices are checked when the config is read.
        vec!["config", "quickstart", "kernels.softmax=foo"],
        vec!["config", "quickstart", "schedule.name=exp"],
        vec!["config", "quickstart", "optimizer.name=nesterov"],
        vec!["config", "quickstart", "model.arch=mlp"],
    ] {
        let output = stoke(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("error"), "{args:?}");
    }
    // A config naming a device not compiled in says which feature to build with.
    let output = stoke(&["train", "smoke", "--device", "wgpu"]);
    assert!(
        stderr(&output).contains("--features wgpu"),
        "{}",
        stderr(&output)
    );
    // Corrupt data is a runtime error naming the file: 1.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("test_batch.bin"), vec![0u8; 3073 * 2 + 5]).unwrap();
    for i in 1..=5 {
        std::fs::write(
            dir.path().join(format!("data_batch_{i}.bin")),
            vec![0u8; 3073],
        )
        .unwrap();
    }
    let path = format!("dataset.path={}", dir.path().display());
    let output = stoke(&["train", "smoke", "dataset.name=cifar10", &path]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("test_batch.bin") && stderr(&output).contains("truncated"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn ls_config_and_cp_work() {
    for what in ["recipes", "models", "optimizers", "datasets", "devices"] {
        let output = stoke(&["ls", what]);
        assert_eq!(output.status.code(), Some(0));
        assert!(!stdout(&output).is_empty());
    }
    assert!(stdout(&stoke(&["ls", "models"])).contains("resnet18"));
    let output = stoke(&["config", "quickstart", "optimizer.lr=0.01"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("lr = 0.01"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    assert_eq!(
        stoke(&["cp", "smoke", path.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert!(std::fs::read_to_string(&path).unwrap().contains("[recipe]"));
    // Never overwrites.
    assert_eq!(
        stoke(&["cp", "smoke", path.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn train_json_then_eval_and_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = stoke(&[
        "train",
        "smoke",
        "--quiet",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    let trained_accuracy = summary["test_accuracy"].as_f64().unwrap();

    let output = stoke(&["eval", out.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let eval: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    // The latest checkpoint is the final model, so evaluation reproduces the summary exactly.
    assert_eq!(eval["test_accuracy"].as_f64().unwrap(), trained_accuracy);

    // Robust evaluation: the clean accuracy agrees with the plain one, an attack can only
    // lower it, and a large PGD budget on an undefended model lowers it a lot.
    let run = out.to_str().unwrap();
    let robust = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["eval", run, "--json"];
        all.extend(args);
        let output = stoke(&all);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_str(stdout(&output).trim()).unwrap()
    };
    let fgsm = robust(&["--attack", "fgsm", "--eps", "8"]);
    let pgd = robust(&["--attack", "pgd", "--eps", "32", "--steps", "10"]);
    assert_eq!(pgd["clean_accuracy"].as_f64().unwrap(), trained_accuracy);
    assert_eq!(pgd["images"], 128);
    let (f, p) = (
        fgsm["robust_accuracy"].as_f64().unwrap(),
        pgd["robust_accuracy"].as_f64().unwrap(),
    );
    assert!(
        f <= trained_accuracy && p < 0.5 * trained_accuracy,
        "fgsm {f}, pgd {p}"
    );
    let limited = robust(&[
        "--attack", "pgd", "--eps", "8", "--steps", "2", "--limit", "40",
    ]);
    assert_eq!(limited["images"], 40);
    // APGD-CE (100 iterations by default) is at least as strong as PGD-10 at the same budget,
    // up to one image of 128 (different random starts).
    let apgd = robust(&["--attack", "apgd-ce", "--eps", "32"]);
    assert_eq!(apgd["attack"]["steps"], 100);
    let a = apgd["robust_accuracy"].as_f64().unwrap();
    assert!(a <= p + 1.0 / 128.0, "apgd-ce {a}, pgd {p}");
    // Curves of the run as an SVG chart; a metric no line has is a usage error.
    let svg = dir.path().join("curves.svg");
    let plot = |metric: &str| {
        stoke(&[
            "plot",
            run,
            "--metric",
            metric,
            "--out",
            svg.to_str().unwrap(),
        ])
    };
    let output = plot("test_accuracy");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.matches("<polyline").count() == 1);
    let output = plot("no_such_metric");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no_such_metric"),
        "{}",
        stderr(&output)
    );
    let output = stoke(&["eval", run, "--attack", "cw"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--attack"), "{}", stderr(&output));

    let file = dir.path().join("model.safetensors");
    let output = stoke(&[
        "export",
        out.to_str().unwrap(),
        "--format",
        "safetensors",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let bytes = std::fs::read(&file).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names = tensors.names();
    // PyTorch naming: BN gamma/beta become weight/bias; the head weight is [out, in].
    assert!(names.iter().any(|n| n.ends_with("bn.weight")), "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("bn.running_mean")),
        "{names:?}"
    );
    let head = tensors.tensor("head.weight").unwrap();
    assert_eq!(head.shape(), &[4, 16]);

    // Values round-trip: compare with the weights loaded from the checkpoint.
    let (config, _) = stoke::config::resolve_str(
        &std::fs::read_to_string(out.join("config.toml")).unwrap(),
        "run",
        &[],
    )
    .unwrap();
    let device = burn::tensor::Device::flex();
    let model = config.model.build([3, 16, 16], 4, &device).unwrap();
    let latest = stoke::train::checkpoint::CheckpointDir::new(&out)
        .latest()
        .unwrap();
    let model = stoke::train::checkpoint::load_model(&latest, model).unwrap();
    let expected = stoke::export::named_tensors(&model);
    assert_eq!(expected.len(), names.len());
    for (name, (shape, data)) in expected {
        let view = tensors.tensor(&name).unwrap();
        assert_eq!(view.shape(), shape.as_slice(), "{name}");
        assert_eq!(view.data(), data.as_slice(), "{name}");
    }
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_finishes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = signal_a_long_run(&out, "INT");
    assert_eq!(status.code(), Some(130));
    let latest = stoke::train::checkpoint::CheckpointDir::new(&out)
        .latest()
        .unwrap();
    assert!(latest.join("model.bpk").is_file() && latest.join("optim.bpk").is_file());
    let saved_step: usize = latest.file_name().unwrap().to_string_lossy()[5..]
        .parse()
        .unwrap();
    assert!(saved_step > 0 && saved_step < 2000 * 16);

    // A shorter horizon by override: the resumed run starts at the checkpoint and ends two
    // steps later.
    let steps = format!("train.steps={}", saved_step + 2);
    let output = stoke(&["train", "--resume", out.to_str().unwrap(), &steps, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["steps"], saved_step + 2);
}

#[test]
fn benches_print_one_json_object() {
    let output = stoke(&[
        "bench",
        "train-step",
        "--model",
        "resnet8",
        "--batch",
        "4",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--input",
        "3x16x16",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert!(result["median_images_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(result["step_seconds"].as_array().unwrap().len(), 2);
    assert!(result["peak_memory_mb"].as_f64().unwrap() > 1.0);

    let output = stoke(&["bench", "data", "smoke", "--batches", "5", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["batches"], 5);
    assert!(result["images_per_second"].as_f64().unwrap() > 0.0);

    let output = stoke(&[
        "bench",
        "recipes",
        "--base",
        "smoke",
        "--variants",
        "fast-at,conadv+recipe.concurrent=false",
        "--steps",
        "2",
        "--repeats",
        "1",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let timings = result["timings"].as_array().unwrap();
    assert_eq!(timings.len(), 2);
    assert_eq!(timings[0]["step_time_ratio"], 1.0);
    assert!(timings[1]["median_images_per_second"].as_f64().unwrap() > 0.0);

    let output = stoke(&[
        "bench",
        "train-step",
        "--model",
        "resnet8",
        "--input",
        "3x32",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn optim_trace_prints_the_trajectory_and_rejects_bad_input() {
    let out = stoke(&[
        "optim",
        "trace",
        "--optimizer",
        "sgdp",
        "--problem",
        "quadratic",
        "--start",
        "-1,2",
        "--steps",
        "5",
        "--lr",
        "0.1",
        "momentum=0.5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let trace: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(trace["trajectory"].as_array().unwrap().len(), 6);
    assert_eq!(trace["trajectory"][0], serde_json::json!([-1.0, 2.0]));
    assert_eq!(trace["loss"][0], 5.0);

    for bad in [
        vec!["--problem", "quadratic", "--start", "1", "--lr", "0.1"],
        vec!["--problem", "nowhere", "--lr", "0.1"],
        vec!["--problem", "quadratic", "--lr", "0.1", "momentum"],
    ] {
        let mut args = vec!["optim", "trace", "--optimizer", "sgdp"];
        args.extend(bad);
        let out = stoke(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = stoke(&["ls", "optimizers"]);
    for name in ["diffgrad", "adamp", "sgdp", "adahessian"] {
        assert!(stdout(&out).contains(name), "{}", stdout(&out));
    }
}

/// `eval --data DIR` passes the path as a TOML string with escapes: a directory whose name
/// holds a quote and a backslash is read (before, the override did not parse).
#[test]
fn eval_data_accepts_paths_with_quotes_and_backslashes() {
    use stoke::datasets::idx::{write_idx_images, write_idx_labels};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("my \"data\" \\ here");
    std::fs::create_dir(&data).unwrap();
    let (config, _) = common::smoke(&[]);
    let set = stoke::datasets::load(&config.dataset, 0).unwrap();
    for (prefix, split) in [("train", &set.train), ("t10k", &set.test)] {
        // IDX holds one channel: the first channel of the synthetic images.
        let mut grey = split.slice(0..split.len());
        let size = grey.height * grey.width;
        grey.pixels = split
            .pixels
            .chunks(split.image_size())
            .flat_map(|img| img[..size].to_vec())
            .collect();
        grey.channels = 1;
        let images = data.join(format!("{prefix}-images-idx3-ubyte"));
        write_idx_images(&images, &grey, false).unwrap();
        write_idx_labels(
            &data.join(format!("{prefix}-labels-idx1-ubyte")),
            &grey,
            false,
        )
        .unwrap();
    }
    let run = dir.path().join("run");
    // The training config names the directory itself, as a TOML string with escapes.
    let path = toml::Value::String(data.to_str().unwrap().to_string());
    let config = dir.path().join("idx.toml");
    std::fs::write(
        &config,
        format!(
            "seed = 0\n[recipe]\nname = \"erm\"\n[dataset]\nformat = \"idx\"\npath = {path}\n\
             mean = [0.5]\nstd = [0.25]\n[data]\nbatch_size = 32\neval_batch_size = 64\n\
             [model]\narch = \"small_cnn\"\nwidths = [8, 16]\n[optimizer]\nname = \"sgd\"\n\
             lr = 0.05\n[train]\nepochs = 1\nsteps = 2\n"
        ),
    )
    .unwrap();
    let output = stoke(&[
        "train",
        config.to_str().unwrap(),
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = stoke(&[
        "eval",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("test_loss"), "{}", stdout(&output));
}

/// SIGTERM, what job schedulers send before killing a job, is handled like Ctrl-C: a
/// checkpoint after the current step, then exit 143; the checkpoint resumes.
#[cfg(unix)]
#[test]
fn sigterm_saves_a_checkpoint_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert_eq!(signal_a_long_run(&out, "TERM").code(), Some(143));
    let latest = stoke::train::checkpoint::CheckpointDir::new(&out)
        .latest()
        .unwrap();
    assert!(latest.join("model.bpk").is_file() && latest.join("state.json").is_file());
    let device = stoke::device::parse("flex").unwrap();
    let _generator = common::device_generator();
    let resumed = stoke::Trainer::resume(&out, &[], &device).unwrap();
    assert!(resumed.completed_steps() > 0);
}

/// `stoke export` refuses to overwrite an existing file unless `--force`, and never writes
/// over a run directory's own files: the run still loads and nothing of it changed.
#[test]
fn export_never_overwrites_a_runs_files_and_asks_before_others() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_arg = run.to_str().unwrap();
    let output = stoke(&[
        "train",
        "smoke",
        "train.steps=2",
        "--quiet",
        "--out",
        run_arg,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let latest = stoke::train::checkpoint::CheckpointDir::new(&run)
        .latest()
        .unwrap();
    let own = [
        run.join("config.toml"),
        latest.join("model.bpk"),
        run.join("metrics.jsonl"),
    ];
    let before: Vec<Vec<u8>> = own.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for target in &own {
        for force in [false, true] {
            let mut args = vec!["export", run_arg, target.to_str().unwrap()];
            if force {
                args.push("--force");
            }
            let output = stoke(&args);
            assert_eq!(output.status.code(), Some(2), "{args:?}");
            assert!(
                stderr(&output).contains("never writes over"),
                "{}",
                stderr(&output)
            );
        }
    }
    let after: Vec<Vec<u8>> = own.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(before == after, "a run file changed");
    let elsewhere = dir.path().join("weights.safetensors");
    let path = elsewhere.to_str().unwrap();
    assert!(stoke(&["export", run_arg, path]).status.success());
    let again = stoke(&["export", run_arg, path]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(
        stoke(&["export", run_arg, path, "--force"])
            .status
            .success()
    );
}

/// No invented scores: empty splits, one-class data and `--limit 0` are usage errors that say
/// what is wrong, not a 0% or 100% accuracy.
#[test]
fn scores_of_nothing_are_usage_errors() {
    for (args, needle) in [
        (
            vec!["train", "smoke", "dataset.test_size=0"],
            "`dataset.test_size`: expected at least 1 image",
        ),
        (
            vec!["train", "smoke", "dataset.train_size=0"],
            "`dataset.train_size`: expected at least 1 image",
        ),
    ] {
        let output = stoke(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(needle),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    // A folder of one class: a classifier of one class would score 100% on anything.
    let folder = dir.path().join("one-class");
    for split in ["train", "test"] {
        let class = folder.join(split).join("cat");
        std::fs::create_dir_all(&class).unwrap();
        for i in 0..4u8 {
            let image = image::GrayImage::from_pixel(8, 8, image::Luma([i * 40]));
            image.save(class.join(format!("{i}.png"))).unwrap();
        }
    }
    let path = toml::Value::String(folder.to_str().unwrap().to_string());
    let config = dir.path().join("one-class.toml");
    std::fs::write(
        &config,
        format!(
            "[recipe]\nname = \"erm\"\n[dataset]\nformat = \"image-folder\"\npath = {path}\n\
             channels = 1\nmean = [0.5]\nstd = [0.25]\n[data]\nbatch_size = 2\n\
             [model]\narch = \"small_cnn\"\nwidths = [4]\n[optimizer]\nname = \"sgd\"\n\
             lr = 0.05\n[train]\nepochs = 1\n"
        ),
    )
    .unwrap();
    let output = stoke(&["train", config.to_str().unwrap(), "--quiet"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("at least 2"),
        "{}",
        stderr(&output)
    );
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    let output = stoke(&["train", "smoke", "train.steps=2", "--quiet", "--out", run]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = stoke(&["eval", run, "--attack", "fgsm", "--limit", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--limit 0"), "{}", stderr(&output));
}

/// Starts a long smoke training into `out`, sends it `signal` once it has logged, and waits
/// for it to end.
fn signal_a_long_run(out: &std::path::Path, signal: &str) -> std::process::ExitStatus {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args(["train", "smoke", "train.epochs=2000", "--quiet", "--out"])
        .arg(out)
        .spawn()
        .unwrap();
    let metrics = out.join("metrics.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&metrics).map_or(true, |m| m.len() == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait().unwrap()
}

/// `stoke completions SHELL` prints a script that knows the subcommands; bash parses it.
#[test]
fn completions_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = stoke(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        for command in ["train", "eval", "soup", "nas"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let bash = stdout(&stoke(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stoke.bash");
    std::fs::write(&file, bash).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let output = stoke(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
}

/// `stoke ls` prints whole descriptions in one aligned column.
#[test]
fn ls_descriptions_are_whole_and_aligned() {
    let text = stdout(&stoke(&["ls", "recipes"]));
    let line = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("adadagrad-fashion-mnist (config)")
        })
        .unwrap();
    assert!(
        line.ends_with(
            "AdAdaGrad (AdaGrad + norm-test adaptive batch) on the Fashion-MNIST subset"
        ),
        "{line}"
    );
    // Every description that shares a line with its name starts in the same column.
    let columns: std::collections::BTreeSet<usize> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| {
            let name_end = 2 + l[2..].find(" (config)").map_or_else(
                || l[2..].find(' ').unwrap_or(l.len() - 2),
                |i| i + " (config)".len(),
            );
            let rest = &l[name_end..];
            let spaces = rest.len() - rest.trim_start().len();
            (!rest.trim().is_empty()).then_some(name_end + spaces)
        })
        .collect();
    assert_eq!(columns.len(), 1, "{columns:?}\n{text}");
}

/// `stoke train ... | head -1` with the reader gone before the last line: the run finishes,
/// is saved and exits 0 (no panic on the closed pipe).
#[test]
fn training_into_a_closed_pipe_finishes_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stoke"))
        .args(["train", "smoke", "--quiet", "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reading end closes at once.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("summary.json").exists());
}
