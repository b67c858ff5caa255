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
        for (name, about) in rows(section) {
            println!("  {name:<24} {about}");
        }
    }
    Ok(())
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
                    presets::summary(presets::recipe(n).unwrap_or("")).to_string(),
                )
            }));
            rows
        }
        "models" => {
            let mut rows: Vec<_> = crate::models::architectures()
                .map(|e| (format!("arch {}", e.name), e.description.to_string()))
                .collect();
            rows.extend(
                presets::model_names()
                    .into_iter()
                    .map(|n| own((n, presets::summary(presets::model(n).unwrap_or(""))))),
            );
            rows
        }
        "optimizers" => crate::optim::OPTIMIZERS
            .iter()
            .map(|e| own((e.name, e.description)))
            .collect(),
        "datasets" => {
            let mut rows: Vec<_> = presets::dataset_names()
                .into_iter()
                .map(|n| own((n, presets::summary(presets::dataset(n).unwrap_or("")))))
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
