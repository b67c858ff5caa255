//! From a recipe file or preset name plus overrides to a checked [`RunConfig`].

use super::overrides;
use super::presets;
use super::schema::RunConfig;
use crate::models::ModelSpec;
use crate::options::typed;
use crate::usage_error;
use std::path::Path;
use toml::{Table, Value};

/// Reads `source` (a path to a TOML file, or the name of a preset in recipes/), applies the
/// dotted `overrides`, expands `model.name` and `dataset.name` presets, and type-checks the
/// result. Returns the config and the resolved document (what `config.toml` of a run holds).
pub fn resolve(source: &str, overrides: &[String]) -> anyhow::Result<(RunConfig, Table)> {
    let (text, origin) = read_source(source)?;
    resolve_str(&text, &origin, overrides)
}

/// Like [`resolve`] for a document already in memory; `origin` names it in errors.
pub fn resolve_str(
    text: &str,
    origin: &str,
    assignments: &[String],
) -> anyhow::Result<(RunConfig, Table)> {
    let mut doc: Table =
        toml::from_str(text).map_err(|e| usage_error!("{origin}: not valid TOML: {e}"))?;
    // Switching the optimizer or recipe by override drops the file's options of the old one
    // (`optimizer.name=adamp` on a file with `momentum = 0.9`); the common keys stay.
    forget_options_on_switch(&mut doc, assignments, "optimizer", COMMON_OPTIMIZER_KEYS);
    forget_options_on_switch(&mut doc, assignments, "recipe", &["name"]);
    for assignment in assignments {
        overrides::apply(&mut doc, assignment)?;
    }
    expand_preset(
        &mut doc,
        "model",
        presets::model,
        presets::model_names(),
        true,
    )?;
    expand_preset(
        &mut doc,
        "dataset",
        presets::dataset,
        presets::dataset_names(),
        false,
    )?;
    // The model section first, so its errors come from the architecture's own checks.
    if let Some(Value::Table(model)) = doc.get("model") {
        let mut options = model.clone();
        // `init` belongs to every architecture (ModelSpec keeps it apart).
        options.remove("init");
        if let Some(Value::String(arch)) = options.remove("arch") {
            ModelSpec::new(&arch, &options).map_err(|e| usage_error!("{origin}: {e:#}"))?;
        }
    }
    let config: RunConfig =
        typed(Value::Table(doc.clone()), "").map_err(|e| usage_error!("{origin}: {e}"))?;
    Ok((config, doc))
}

/// Keys of `[optimizer]` that belong to every optimizer.
const COMMON_OPTIMIZER_KEYS: &[&str] = &[
    "name",
    "lr",
    "grad_clip_norm",
    "lr_scaling",
    "reference_batch_size",
];

fn forget_options_on_switch(doc: &mut Table, assignments: &[String], section: &str, keep: &[&str]) {
    let key = format!("{section}.name");
    let switched_to = assignments.iter().rev().find_map(|a| {
        let (k, v) = a.split_once('=')?;
        (k.trim() == key).then(|| overrides::parse_value(v.trim()))
    });
    let Some(new_name) = switched_to else {
        return;
    };
    if let Some(Value::Table(table)) = doc.get_mut(section)
        && table.get("name") != Some(&new_name)
    {
        table.retain(|k, _| keep.contains(&k));
    }
}

fn read_source(source: &str) -> anyhow::Result<(String, String)> {
    let path = Path::new(source);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage_error!("reading config {}: {e}", path.display()))?;
        return Ok((text, path.display().to_string()));
    }
    if let Some(text) = presets::recipe(source) {
        return Ok((text.to_string(), format!("recipe preset `{source}`")));
    }
    Err(usage_error!(
        "`{source}` is neither a config file nor a recipe preset; presets: {}",
        presets::recipe_names().join(", ")
    ))
}

/// Replaces `section.name = "x"` by preset `x`'s table with the section's other keys laid on
/// top, so a user can take a preset and change one field.
fn expand_preset(
    doc: &mut Table,
    section: &str,
    lookup: fn(&str) -> Option<&'static str>,
    known: Vec<&'static str>,
    drop_name: bool,
) -> anyhow::Result<()> {
    let Some(Value::Table(table)) = doc.get_mut(section) else {
        return Ok(());
    };
    let Some(name) = table
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(());
    };
    let text = match lookup(&name) {
        Some(text) => text.to_string(),
        None if Path::new(&name).is_file() => std::fs::read_to_string(&name)
            .map_err(|e| usage_error!("reading {section} preset {name}: {e}"))?,
        None => {
            return Err(usage_error!(
                "key `{section}.name`: unknown {section} `{name}`; known: {}",
                known.join(", ")
            ));
        }
    };
    let mut expanded: Table = toml::from_str(&text)
        .map_err(|e| usage_error!("{section} preset `{name}`: not valid TOML: {e}"))?;
    // A section that names a preset of one kind but sets another inline (e.g. `model.name =
    // "resnet18"` over a section with `arch = "small_cnn"`) is contradictory: say so.
    for kind in ["arch", "format"] {
        if let (Some(inline), Some(preset)) = (table.get(kind), expanded.get(kind))
            && inline != preset
        {
            return Err(usage_error!(
                "key `{section}.name`: preset `{name}` has {kind} = {preset}, but the section also sets \
                 {kind} = {inline}; drop `{section}.name` or the section's own {kind} and its keys"
            ));
        }
    }
    let mut own = std::mem::take(table);
    if drop_name {
        own.remove("name");
    }
    overrides::merge(&mut expanded, own);
    *table = expanded;
    Ok(())
}
