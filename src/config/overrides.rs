//! Dotted `key.sub=value` overrides applied to a TOML document before it is type-checked, so
//! an override goes through the same validation (and error messages) as a file.

use crate::usage_error;
use toml::{Table, Value};

/// Parses `value` as a TOML value (`3`, `1e-3`, `true`, `[2, 2]`, `"text"`), or as a bare
/// string when it is not valid TOML (`model.name=resnet18`).
pub fn parse_value(text: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {text}")) {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| Value::String(text.to_string())),
        Err(_) => Value::String(text.to_string()),
    }
}

/// The override that sets `key` to the string `value` exactly, whatever it holds (quotes,
/// backslashes, `=`): the value is written as a TOML string with escapes.
pub fn string_override(key: &str, value: &str) -> String {
    format!("{key}={}", Value::String(value.to_string()))
}

/// Applies one `a.b.c=value` override to `doc`, creating intermediate tables.
pub fn apply(doc: &mut Table, assignment: &str) -> anyhow::Result<()> {
    let (key, value) = assignment
        .split_once('=')
        .ok_or_else(|| usage_error!("override `{assignment}` is not of the form key.sub=value"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(usage_error!("override key `{key}` has an empty part"));
    }
    let mut table = doc;
    for part in &parts[..parts.len() - 1] {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| usage_error!("override `{key}`: `{part}` is a value, not a section"))?;
    }
    table.insert(
        parts[parts.len() - 1].to_string(),
        parse_value(value.trim()),
    );
    Ok(())
}

/// Merges `over` into `base`, recursing into tables; values in `over` win.
pub fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_sub)), Value::Table(over_sub)) => merge(base_sub, over_sub),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_toml_or_string() {
        assert_eq!(parse_value("3"), Value::Integer(3));
        assert_eq!(parse_value("1e-3"), Value::Float(1e-3));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(parse_value("resnet18"), Value::String("resnet18".into()));
        assert_eq!(
            parse_value("[2, 2]"),
            Value::Array(vec![Value::Integer(2), Value::Integer(2)])
        );
    }

    #[test]
    fn apply_sets_nested_keys_and_rejects_bad_forms() {
        let mut doc = Table::new();
        apply(&mut doc, "optimizer.lr=0.5").unwrap();
        apply(&mut doc, "a.b.c=x").unwrap();
        assert_eq!(doc["optimizer"]["lr"], Value::Float(0.5));
        assert_eq!(doc["a"]["b"]["c"], Value::String("x".into()));
        assert!(apply(&mut doc, "no-equals").is_err());
        assert!(apply(&mut doc, "optimizer..lr=1").is_err());
        assert!(apply(&mut doc, "optimizer.lr.x=1").is_err());
    }

    #[test]
    fn merge_recurses() {
        let mut base: Table = toml::from_str("[m]\na = 1\nb = 2").unwrap();
        merge(&mut base, toml::from_str("[m]\nb = 3\nc = 4").unwrap());
        assert_eq!(
            toml::to_string(&base).unwrap(),
            "[m]\na = 1\nb = 3\nc = 4\n"
        );
    }
}
