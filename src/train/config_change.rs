//! What a resumed run may change of its saved config: the optimizer's hyper-parameters, the
//! schedule, the training length, the evaluation, logging and checkpoint cadence and
//! `train.on_nonfinite` (plus the device and the description). Keys that decide the model,
//! the data, the objective or the optimizer's state (its name) are refused, naming the key:
//! the checkpoint would no longer fit them, or the run would silently become another one.

use crate::usage_error;
use serde::Serialize;
use toml::{Table, Value};

/// Dotted keys (or `section.` prefixes) `--resume` may change.
pub const RESUMABLE: &[&str] = &[
    "description",
    "device",
    "optimizer.",
    "schedule.",
    "train.",
    "robust_eval.",
    "data.eval_batch_size",
    "data.prefetch",
    "kernels.",
    "federated.rounds",
    "federated.evaluate_every",
    "federated.client_state",
    "gossip.rounds",
    "gossip.evaluate_every",
];

/// Keys under a resumable prefix that still may not change.
const FIXED: &[&str] = &["optimizer.name"];

/// One key whose value differs between two resolved configs (`None`: absent).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The keys whose values differ between `before` and `after`, in key order.
pub fn changes(before: &Table, after: &Table) -> Vec<Change> {
    let (mut old, mut new) = (Vec::new(), Vec::new());
    flatten("", before, &mut old);
    flatten("", after, &mut new);
    let old: std::collections::BTreeMap<_, _> = old.into_iter().collect();
    let new: std::collections::BTreeMap<_, _> = new.into_iter().collect();
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| Change {
            key: key.clone(),
            before: old.get(key).cloned(),
            after: new.get(key).cloned(),
        })
        .collect()
}

fn flatten(prefix: &str, table: &Table, out: &mut Vec<(String, Value)>) {
    for (key, value) in table {
        let key = match prefix.is_empty() {
            true => key.clone(),
            false => format!("{prefix}.{key}"),
        };
        match value {
            Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

/// Whether `--resume` may change `key`.
pub fn resumable(key: &str) -> bool {
    !FIXED.contains(&key)
        && RESUMABLE
            .iter()
            .any(|allowed| match allowed.strip_suffix('.') {
                Some(section) => key.starts_with(allowed) || key == section,
                None => key == *allowed,
            })
}

/// Refuses changes a resumed run cannot take, naming the first such key.
pub fn check_resumable(changes: &[Change]) -> anyhow::Result<()> {
    if let Some(change) = changes.iter().find(|c| !resumable(&c.key)) {
        let shown = |v: &Option<Value>| v.as_ref().map_or("unset".to_string(), Value::to_string);
        return Err(usage_error!(
            "key `{}` cannot change when a run resumes ({} -> {}): it decides the model, the \
             data or the optimizer's state. Resumable: optimizer hyper-parameters (not \
             optimizer.name), schedule.*, train.*, robust_eval.*, data.eval_batch_size, \
             data.prefetch, kernels.*, device, description; start a new run for the rest",
            change.key,
            shown(&change.before),
            shown(&change.after)
        ));
    }
    Ok(())
}

/// Makes `resolved` the run's config.toml and appends `changes`, taking effect at `step`, to
/// its config_history.jsonl (nothing when there are none).
pub fn record(
    dir: &std::path::Path,
    step: usize,
    resolved: &Table,
    changes: &[Change],
) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let history = dir.join(CONFIG_HISTORY_FILE);
    let mut text = match std::fs::read_to_string(&history) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("reading {}", history.display())));
        }
    };
    let line = serde_json::json!({ "step": step, "changes": changes });
    text.push_str(&format!("{line}\n"));
    crate::atomic::write_atomic(&history, text.as_bytes())?;
    crate::atomic::write_atomic(
        &dir.join("config.toml"),
        toml::to_string_pretty(resolved)?.as_bytes(),
    )
}

/// One line per resume that changed the config: the step it took effect at and the changes.
pub const CONFIG_HISTORY_FILE: &str = "config_history.jsonl";

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn lists_changed_added_and_removed_keys() {
        let before = table("seed = 1\n[optimizer]\nlr = 0.1\nmomentum = 0.9\n[train]\nsteps = 5");
        let after = table("seed = 1\n[optimizer]\nlr = 0.01\n[train]\nsteps = 5\nlog_every = 1");
        let keys: Vec<String> = changes(&before, &after)
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(
            keys,
            ["optimizer.lr", "optimizer.momentum", "train.log_every"]
        );
    }

    #[test]
    fn cadence_and_hyper_parameters_resume_shapes_do_not() {
        for key in [
            "optimizer.lr",
            "optimizer.beta2",
            "schedule.name",
            "train.steps",
            "train.on_nonfinite",
            "device",
        ] {
            assert!(resumable(key), "{key}");
        }
        for key in [
            "optimizer.name",
            "model.widths",
            "dataset.image_size",
            "data.batch_size",
            "recipe.name",
            "seed",
            "trainx",
            "optimizerx.lr",
        ] {
            assert!(!resumable(key), "{key}");
        }
        let refused = changes(
            &table("[model]\nwidths = [8]"),
            &table("[model]\nwidths = [16]"),
        );
        let message = check_resumable(&refused).unwrap_err().to_string();
        assert!(
            message.contains("`model.widths`") && message.contains("[8] -> [16]"),
            "{message}"
        );
    }
}
