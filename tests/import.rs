//! `stoke import`: export -> import gives back the same weights bit for bit (the export of
//! the imported run is the same file, evaluation the same figures); a file of another shape
//! or another format is a usage error naming the tensor and both shapes, or the file; a
//! weights file starts a fine-tuning run exactly as the run it came from.

mod common;

use common::{assert_usage_error, stderr, stdout, stoke};
use std::path::Path;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(args: &[&str]) -> String {
    let output = stoke(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

#[test]
fn export_import_round_trip_is_exact_and_mismatches_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let (run, weights) = (dir.path().join("run"), dir.path().join("w.safetensors"));
    ok(&[
        "train",
        "smoke",
        "train.epochs=1",
        "--out",
        path(&run),
        "--quiet",
    ]);
    ok(&["export", path(&run), path(&weights)]);
    let imported = dir.path().join("imported");
    let said = ok(&["import", path(&weights), "smoke", "--out", path(&imported)]);
    assert!(said.contains("imported"), "{said}");
    let again = dir.path().join("again.safetensors");
    ok(&["export", path(&imported), path(&again)]);
    assert!(std::fs::read(&weights).unwrap() == std::fs::read(&again).unwrap());
    let eval = |run: &Path| {
        let mut figures: serde_json::Value =
            serde_json::from_str(&ok(&["eval", path(run), "--json"])).unwrap();
        figures.as_object_mut().unwrap().remove("checkpoint");
        figures
    };
    assert_eq!(eval(&run), eval(&imported));

    // Into an existing run: refused.
    let output = stoke(&["import", path(&weights), "smoke", "--out", path(&imported)]);
    assert_usage_error(&output, "already holds a run");
    // Another width: the tensor and both shapes are named.
    let other = dir.path().join("other");
    let output = stoke(&[
        "import",
        path(&weights),
        "smoke",
        "model.widths=[8,32]",
        "--out",
        path(&other),
    ]);
    assert_usage_error(
        &output,
        "tensor `convs.1.bn.bias` has shape [16], the model expects [32]",
    );
    assert!(!other.join("config.toml").exists());
    // Not a safetensors file.
    let output = stoke(&[
        "import",
        path(&run.join("metrics.jsonl")),
        "smoke",
        "--out",
        path(&other),
    ]);
    assert_usage_error(&output, "metrics.jsonl");

    // Fine-tuning from the file starts exactly where fine-tuning from the run does: two
    // steps of `smoke` with the initial-weight keys `inits`, and their first metrics line.
    let first_line = |inits: &[String], name: &str| {
        let out = dir.path().join(name);
        let mut args = vec![
            "train",
            "smoke",
            "train.steps=2",
            "--out",
            path(&out),
            "--quiet",
        ];
        args.extend(inits.iter().map(String::as_str));
        ok(&args);
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        metrics.lines().next().unwrap().to_string()
    };
    let from = |key: &str, source: &Path| format!("{key}={:?}", path(source));
    let from_file = first_line(&[from("train.init_from", &weights)], "from-file");
    assert_eq!(
        from_file,
        first_line(&[from("train.init_from", &run)], "from-run")
    );
    // `model.init` is the same thing, named with the model.
    let from_model = first_line(&[from("model.init", &weights)], "from-model");
    assert_eq!(from_model, from_file);
    // With both, train.init_from wins (a sweep's points start from their run): another
    // run's weights give that run's start, not the file's.
    let seed1 = dir.path().join("seed1");
    ok(&[
        "train",
        "smoke",
        "train.epochs=1",
        "--seed",
        "1",
        "--out",
        path(&seed1),
        "--quiet",
    ]);
    let from_seed1 = first_line(&[from("train.init_from", &seed1)], "from-seed1");
    let both = first_line(
        &[
            from("model.init", &weights),
            from("train.init_from", &seed1),
        ],
        "both",
    );
    assert_eq!(both, from_seed1);
    assert_ne!(both, from_model);
    let missing = format!("model.init={:?}", path(&dir.path().join("nothing")));
    let output = stoke(&[
        "train",
        "smoke",
        &missing,
        "--out",
        path(&dir.path().join("y")),
    ]);
    assert_usage_error(&output, "key `model.init`");
}

/// The logits `config_text`'s model gives on `name`.json's images with the weights of
/// `name`.safetensors imported, against the logits PyTorch gave there: the largest error
/// relative to the largest logit. Also imports the file from the CLI, returning what it said.
fn imported_logits_error(name: &str, config_text: &str, input: [usize; 4]) -> (f32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("model.toml");
    std::fs::write(&config_file, config_text).unwrap();
    let file = format!("tests/golden/{name}.safetensors");
    let (config, _) = stoke::config::resolve(path(&config_file), &[]).unwrap();
    let weights = stoke::train::import::read_for(Path::new(&file), &config).unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("tests/golden/{name}.json")).unwrap(),
    )
    .unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let expected: Vec<f32> = golden["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    let device = burn::tensor::Device::flex();
    let [_, c, h, w] = input;
    let model = config.model.build([c, h, w], 10, &device).unwrap();
    let model = weights.load_into(model).unwrap();
    let images = burn::tensor::TensorData::new(floats(&golden["images"]), input);
    let logits: Vec<f32> = model
        .forward(burn::tensor::Tensor::<4>::from_data(images, &device))
        .into_data()
        .iter::<f32>()
        .collect();
    assert_eq!(logits.len(), expected.len());
    assert!(logits.iter().all(|v| v.is_finite()), "{logits:?}");
    let largest = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let error = logits
        .iter()
        .zip(&expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let out = dir.path().join("imported");
    let said = ok(&["import", &file, path(&config_file), "--out", path(&out)]);
    (error / largest, said)
}

/// A one-step config of synthetic 10-class data (`dataset` adds its own keys) and `model`:
/// what an import needs to know of the data.
fn config_of(dataset: &str, model: &str) -> String {
    format!(
        "seed = 0\n[recipe]\nname = \"erm\"\n[dataset]\nname = \"synthetic\"\nnum_classes = 10\n\
         {dataset}\n[data]\nbatch_size = 16\n[model]\n{model}\n[optimizer]\nname = \"sgd\"\n\
         lr = 0.1\n[train]\nsteps = 1\n"
    )
}

/// The narrow torchvision ResNet of scripts/golden_torchvision_resnet.py (torchvision's own
/// blocks, 7x7 stem and max-pool, two blocks in the first stage, non-trivial batch-norm
/// statistics) as stoke's resnet with `stem = "imagenet"`: the imported weights give
/// PyTorch's eval-mode logits on the fixed batch, and the CLI imports the file (its int64
/// `num_batches_tracked` dropped).
#[test]
fn a_torchvision_resnet_gives_pytorchs_logits() {
    let config = config_of(
        "image_size = [32, 32]",
        "arch = \"resnet\"\nblock = \"basic\"\nlayers = [2, 1, 1, 1]\n\
         widths = [8, 16, 32, 64]\nstem = \"imagenet\"",
    );
    let (error, said) = imported_logits_error("torchvision_resnet", &config, [2, 3, 32, 32]);
    // f32 convolutions summed in another order: measured 2e-7 of the largest logit.
    assert!(error <= 1e-6, "{error}");
    // 86 tensors in the file, 14 of them batch-norm step counters.
    assert!(said.contains("imported 72 tensors"), "{said}");
}

/// A tiny timm VisionTransformer (scripts/golden_timm_vit.py: class token, fused qkv, every
/// parameter redrawn) as stoke's vit: PyTorch's eval-mode logits.
#[test]
fn a_timm_vit_gives_pytorchs_logits() {
    let config = config_of(
        "channels = 1\nimage_size = [28, 28]\nmean = [0.5]\nstd = [0.25]",
        "arch = \"vit\"\npatch = 7\ndim = 16\ndepth = 2\nheads = 2",
    );
    let (error, said) = imported_logits_error("timm_vit", &config, [2, 1, 28, 28]);
    // Measured 2e-7 of the largest logit.
    assert!(error <= 1e-6, "{error}");
    assert!(said.contains("imported 32 tensors"), "{said}");
}
