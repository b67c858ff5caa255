//! The TOML presets of the top-level `recipes/`, `models/` and `datasets/` folders, built into
//! the binary so that `stoke` works from any directory. Adding a preset: add the file and its
//! name here.

macro_rules! presets {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../", $dir, "/", $name, ".toml")))),*]
    };
}

const RECIPES: &[(&str, &str)] = presets!("recipes":
    "quickstart", "fashion-mnist", "cifar10-resnet18", "smoke", "adadagrad-fashion-mnist",
    "vit-fashion-mnist", "vit-cifar10", "pgd-at-fashion-mnist", "fast-at-fashion-mnist",
    "trades-fashion-mnist", "aaer-fashion-mnist", "weat-fashion-mnist", "done-fashion-mnist",
    "conadv-fashion-mnist", "fast-at-cifar10", "aaer-cifar10", "trades-cifar10",
    "edm-fashion-mnist", "scoreaug-fashion-mnist", "ddpm-fashion-mnist", "ddpm-cifar10",
);

const MODELS: &[(&str, &str)] = presets!("models":
    "small_cnn", "resnet8", "resnet20", "resnet18", "resnet34", "resnet50",
    "preact_resnet18", "wrn_16_2", "wrn_28_10", "wrn_34_10", "vit_tiny", "vit_small", "vit_mini",
    "unet_tiny", "unet_small", "unet_cifar10",
);

const DATASETS: &[(&str, &str)] = presets!("datasets":
    "fashion-mnist-subset", "fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic",
);

fn find(table: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

pub fn recipe(name: &str) -> Option<&'static str> {
    find(RECIPES, name)
}

pub fn model(name: &str) -> Option<&'static str> {
    find(MODELS, name)
}

pub fn dataset(name: &str) -> Option<&'static str> {
    find(DATASETS, name)
}

pub fn recipe_names() -> Vec<&'static str> {
    RECIPES.iter().map(|(n, _)| *n).collect()
}

pub fn model_names() -> Vec<&'static str> {
    MODELS.iter().map(|(n, _)| *n).collect()
}

pub fn dataset_names() -> Vec<&'static str> {
    DATASETS.iter().map(|(n, _)| *n).collect()
}

/// The first comment line of a preset, shown by `stoke ls`.
pub fn summary(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .unwrap_or("")
}
