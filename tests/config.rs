//! Config resolution: presets, dotted overrides and the errors a user sees.

use stoke::config::{resolve, resolve_str};

fn err(source: &str, overrides: &[&str]) -> String {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    format!("{:#}", resolve(source, &overrides).unwrap_err())
}

#[test]
fn overrides_change_values_and_presets_expand() {
    let overrides = vec![
        "optimizer.lr=0.5".to_string(),
        "model.widths=[4, 8]".into(),
        "data.hflip=false".into(),
    ];
    let (config, resolved) = resolve("quickstart", &overrides).unwrap();
    assert_eq!(config.optimizer.lr, 0.5);
    assert!(!config.data.hflip);
    // The model preset expanded with the override laid on top: the preset's other keys stay.
    assert_eq!(resolved["model"]["arch"].as_str(), Some("small_cnn"));
    assert_eq!(resolved["model"]["head"].as_str(), Some("flatten"));
    let expected: stoke::models::ModelSpec =
        toml::from_str("arch = \"small_cnn\"\nwidths = [4, 8]\nhead = \"flatten\"").unwrap();
    assert_eq!(config.model, expected);
    assert_eq!(config.dataset.path, "embedded:fashion-mnist-subset");
}

#[test]
fn unknown_keys_list_the_valid_ones() {
    let e = err("quickstart", &["train.epoch=3"]);
    assert!(
        e.contains("train.epoch") && e.contains("expected one of") && e.contains("`epochs`"),
        "{e}"
    );
    let e = err("quickstart", &["data.batchsize=3"]);
    assert!(
        e.contains("data.batchsize") && e.contains("`batch_size`"),
        "{e}"
    );
}

#[test]
fn wrong_types_name_the_key_and_expected_type() {
    let e = err("quickstart", &["data.batch_size=big"]);
    assert!(
        e.contains("key `data.batch_size`") && e.contains("expected usize"),
        "{e}"
    );
    let e = err("quickstart", &["optimizer.lr=[1]"]);
    assert!(e.contains("key `optimizer.lr`") && e.contains("f64"), "{e}");
}

#[test]
fn unknown_names_list_the_known_ones() {
    let e = err("quickstart", &["model.name=resnet19"]);
    assert!(e.contains("model.name") && e.contains("resnet18"), "{e}");
    let e = err("no-such-recipe", &[]);
    assert!(
        e.contains("no-such-recipe") && e.contains("quickstart"),
        "{e}"
    );
    let e = err("smoke", &["model.name=resnet18"]);
    assert!(
        e.contains("model.name") && e.contains("small_cnn") && e.contains("resnet"),
        "{e}"
    );
    let e = err("quickstart", &["badform"]);
    assert!(e.contains("key.sub=value"), "{e}");
}

#[test]
fn recipe_and_optimizer_options_are_checked_by_their_owner() {
    let (config, _) = resolve("quickstart", &["recipe.label_smoothing=0.1".into()]).unwrap();
    assert!(stoke::train::recipes::build(&config).is_ok());
    let (config, _) = resolve("quickstart", &["recipe.smoothing=0.1".into()]).unwrap();
    let e = format!("{:#}", stoke::train::recipes::build(&config).err().unwrap());
    assert!(
        e.contains("recipe.smoothing") && e.contains("label_smoothing"),
        "{e}"
    );
    let (config, _) = resolve("quickstart", &["optimizer.momentun=0.9".into()]).unwrap();
    let e = format!(
        "{:#}",
        stoke::optim::build(&config.optimizer).err().unwrap()
    );
    assert!(
        e.contains("optimizer.momentun") && e.contains("momentum"),
        "{e}"
    );
    let (config, _) = resolve("quickstart", &["optimizer.name=lbfgs".into()]).unwrap();
    let e = format!(
        "{:#}",
        stoke::optim::build(&config.optimizer).err().unwrap()
    );
    assert!(e.contains("lbfgs") && e.contains("sgd"), "{e}");
}

#[test]
fn invalid_toml_names_the_source() {
    let e = format!(
        "{:#}",
        resolve_str("[train\nepochs = 1", "my.toml", &[]).unwrap_err()
    );
    assert!(e.contains("my.toml") && e.contains("TOML"), "{e}");
}

#[test]
fn every_preset_resolves() {
    for name in stoke::config::presets::recipe_names() {
        let (config, _) = resolve(name, &[]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        stoke::train::validate::validate(&config).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

/// Every preset file of recipes/, models/ and datasets/ is built in (no list to edit) and
/// resolves; every registry entry and preset is listed by `stoke ls`.
#[test]
fn every_preset_file_resolves_and_every_entry_is_listed() {
    let files = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                (path.extension()? == "toml")
                    .then(|| path.file_stem()?.to_str().map(String::from))?
            })
            .collect();
        names.sort();
        names
    };
    let presets = stoke::config::presets::recipe_names();
    assert_eq!(files("recipes"), presets);
    for name in &presets {
        let path = format!("recipes/{name}.toml");
        let (config, _) = resolve(&path, &[]).unwrap_or_else(|e| panic!("{path}: {e:#}"));
        stoke::train::recipes::build(&config).unwrap();
    }
    assert_eq!(files("models"), stoke::config::presets::model_names());
    for name in files("models") {
        let text = std::fs::read_to_string(format!("models/{name}.toml")).unwrap();
        toml::from_str::<stoke::models::ModelSpec>(&text)
            .unwrap_or_else(|e| panic!("models/{name}.toml: {e}"));
    }
    assert_eq!(files("datasets"), stoke::config::presets::dataset_names());
    for name in files("datasets") {
        resolve("smoke", &[format!("dataset.name={name}")])
            .unwrap_or_else(|e| panic!("datasets/{name}.toml: {e:#}"));
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stoke"))
        .arg("ls")
        .output()
        .unwrap();
    assert!(output.status.success());
    let listed = String::from_utf8(output.stdout).unwrap();
    let words: std::collections::BTreeSet<&str> = listed.split_whitespace().collect();
    let mut expected: Vec<String> = Vec::new();
    expected.extend(
        stoke::train::recipes::RECIPES
            .iter()
            .map(|r| r.name.to_string()),
    );
    expected.extend(stoke::optim::OPTIMIZERS.iter().map(|e| e.name.to_string()));
    expected.extend(stoke::models::architectures().map(|e| e.name.to_string()));
    expected.extend(
        stoke::datasets::registry::FORMATS
            .iter()
            .map(|f| f.name.to_string()),
    );
    expected.extend(presets.iter().map(|p| p.to_string()));
    expected.extend(files("models"));
    expected.extend(files("datasets"));
    for name in expected {
        assert!(
            words.contains(name.as_str()),
            "`stoke ls` does not list {name}"
        );
    }
}

/// `[train]` takes `epochs` or `steps` (README), and needs one of them.
#[test]
fn train_length_is_epochs_or_steps() {
    let text = |train: &str| {
        format!(
            "[recipe]\nname = \"erm\"\n[dataset]\nname = \"synthetic\"\n[model]\n\
             arch = \"small_cnn\"\nwidths = [4]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n\
             [train]\n{train}\n"
        )
    };
    let (config, _) = resolve_str(&text("steps = 7"), "steps.toml", &[]).unwrap();
    assert_eq!((config.train.steps, config.train.epochs), (7, 0));
    let (config, _) = resolve_str(&text("epochs = 2"), "epochs.toml", &[]).unwrap();
    assert_eq!((config.train.steps, config.train.epochs), (0, 2));
    // Neither: the run has no length, which the Trainer refuses naming the keys.
    let (config, _) = resolve_str(&text("log_every = 5"), "none.toml", &[]).unwrap();
    let device = stoke::device::parse("flex").unwrap();
    let error = stoke::Trainer::new(&config, &device).err().unwrap();
    let message = format!("{error:#}");
    assert!(
        message.contains("train.epochs") && message.contains("train.steps"),
        "{message}"
    );
}
