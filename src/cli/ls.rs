//! `stoke ls`: what this build offers.

use crate::config::presets;
use crate::usage_error;

pub fn run(what: Option<&str>) -> anyhow::Result<()> {
    let all = ["recipes", "models", "optimizers", "datasets", "devices"];
    let sections: Vec<&str> = match what {
        None => all.to_vec(),
        Some(w) if all.contains(&w) => vec![w],
        Some(w) => {
            return Err(usage_error!(
                "cannot list `{w}`; choose one of {}",
                all.join(", ")
            ));
        }
    };
    for (i, section) in sections.iter().enumerate() {
        if sections.len() > 1 {
            if i > 0 {
                println!();
            }
            println!("{section}:");
        }
        print!("{}", table(&rows(section)));
    }
    Ok(())
}

/// Names longer than this get a line of their own, so one long name does not push every
/// description to the right.
const NAME_COLUMN: usize = 34;

/// Two columns: names padded to the longest that fits [`NAME_COLUMN`], descriptions aligned
/// after them; a longer name stands alone with its description on the next line.
fn table(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .filter(|&n| n <= NAME_COLUMN)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, about) in rows {
        if name.chars().count() > width {
            out.push_str(&format!("  {name}\n  {:width$} {about}\n", ""));
        } else {
            out.push_str(&format!("  {name:<width$} {about}\n"));
        }
    }
    out
}

fn rows(section: &str) -> Vec<(String, String)> {
    let own = |(n, d): (&str, &str)| (n.to_string(), d.to_string());
    match section {
        "recipes" => {
            let mut rows: Vec<_> = crate::train::recipes::RECIPES
                .iter()
                .map(|e| own((e.name, e.description)))
                .collect();
            rows.extend(presets::recipe_names().into_iter().map(|n| {
                (
                    format!("{n} (config)"),
                    presets::summary(presets::recipe(n).unwrap_or("")),
                )
            }));
            rows
        }
        "models" => {
            let mut rows: Vec<_> = crate::models::architectures()
                .map(|e| (format!("arch {}", e.name), e.description.to_string()))
                .collect();
            rows.extend(presets::model_names().into_iter().map(|n| {
                (
                    n.to_string(),
                    presets::summary(presets::model(n).unwrap_or("")),
                )
            }));
            rows
        }
        "optimizers" => crate::optim::OPTIMIZERS
            .iter()
            .map(|e| own((e.name, e.description)))
            .collect(),
        "datasets" => {
            let mut rows: Vec<_> = presets::dataset_names()
                .into_iter()
                .map(|n| {
                    (
                        n.to_string(),
                        presets::summary(presets::dataset(n).unwrap_or("")),
                    )
                })
                .collect();
            rows.extend(
                crate::datasets::registry::FORMATS
                    .iter()
                    .map(|e| (format!("format {}", e.name), e.description.to_string())),
            );
            rows
        }
        _ => crate::device::backends()
            .into_iter()
            .map(|(name, feature, compiled)| {
                let state = if compiled {
                    "available".to_string()
                } else {
                    format!("build with --features {feature}")
                };
                (name.to_string(), state)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_line_up_and_long_names_stand_alone() {
        let row = |n: &str, d: &str| (n.to_string(), d.to_string());
        let long = "x".repeat(NAME_COLUMN + 1);
        let text = table(&[
            row("erm", "one"),
            row("fast-at", "two"),
            row(&long, "three"),
        ]);
        assert_eq!(
            text,
            format!("  erm     one\n  fast-at two\n  {long}\n          three\n")
        );
    }

    /// Every preset's line is whole: its `description` key when it has one.
    #[test]
    fn preset_summaries_are_their_descriptions() {
        let text = "# A comment that wraps\n# onto a second line.\n\ndescription = \"Short.\"\n";
        assert_eq!(presets::summary(text), "Short.");
        let text = "# A comment that wraps\n# onto a second line.\n\n# Another.\nseed = 0\n";
        assert_eq!(
            presets::summary(text),
            "A comment that wraps onto a second line."
        );
    }
}
