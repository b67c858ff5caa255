//! The modules of src/ form layers: no module refers to one that refers back to it (directly
//! or through others). Shared pieces (losses, EMA, atomic writes, the batch type, typed
//! option tables) are leaf modules that the rest build on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module of a file under src/ (`src/train/engine.rs` -> `train`).
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix("src").unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `module -> modules it names as crate::X` (outside comments).
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name != from && modules.contains(&name) {
                    graph.entry(from.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn modules_form_layers_without_cycles() {
    let graph = dependencies();
    // Depth-first search for a path back to the start.
    for start in graph.keys() {
        let mut stack: Vec<Vec<String>> = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().unwrap();
            for next in graph.get(last).into_iter().flatten() {
                assert!(
                    next != start,
                    "module cycle: {} -> {start}",
                    path.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    // The shared pieces sit at the bottom: they use nothing above them (the EMA visits a
    // model's tensors with the models' own helper; the batch type is made from a host batch).
    for (leaf, allowed) in [
        ("loss", &[][..]),
        ("atomic", &[]),
        ("options", &[]),
        ("rng", &[]),
        ("memory", &[]),
        ("fault", &[]),
        ("error", &[]),
        ("ema", &["models"]),
        ("batch", &["datasets"]),
    ] {
        let deps = graph.get(leaf).cloned().unwrap_or_default();
        assert!(
            deps.iter().all(|d| allowed.contains(&d.as_str())),
            "{leaf} depends on {deps:?}"
        );
    }
}
