//! Builds the table of TOML presets from the files in recipes/, models/ and datasets/, so a
//! preset is added by adding its file (no list to edit).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut code = String::new();
    for (table, dir) in [
        ("RECIPES", "recipes"),
        ("MODELS", "models"),
        ("DATASETS", "datasets"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        let mut names: Vec<String> = std::fs::read_dir(Path::new(&root).join(dir))
            .unwrap_or_else(|e| panic!("reading {dir}/: {e}"))
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let is_toml = path.extension().is_some_and(|e| e == "toml") && path.is_file();
                is_toml.then(|| path.file_stem()?.to_str().map(String::from))?
            })
            .collect();
        names.sort();
        writeln!(code, "const {table}: &[(&str, &str)] = &[").unwrap();
        for name in names {
            writeln!(
                code,
                "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{dir}/{name}.toml\"))),"
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("presets.rs");
    std::fs::write(out, code).expect("writing the preset table");
}
