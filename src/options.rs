//! Typed option tables: a section of free keys (a recipe's, an optimizer's, a model
//! architecture's options) deserialised into the owner's own struct, with errors that name the
//! full key. A leaf module: config, models, recipes and optimizers all use it.

use crate::usage_error;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Deserialises one section (a recipe's or an optimizer's own options) with errors that name
/// the full key, e.g. `recipe.label_smoothing: invalid type: string "x", expected f64`.
pub fn typed_section<T: DeserializeOwned>(table: &Table, section: &str) -> anyhow::Result<T> {
    typed(Value::Table(table.clone()), section).map_err(|e| usage_error!("{e}"))
}

/// Deserialises `value` with errors naming the key under `prefix`.
pub fn typed<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = match (prefix.is_empty(), path == ".") {
            (true, _) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        // The TOML deserializer appends "in `key`", which the prefix already says.
        let message = e.inner().to_string();
        let message = message
            .split("\nin `")
            .next()
            .unwrap_or_default()
            .trim_end();
        format!("key `{key}`: {message}")
    })
}
