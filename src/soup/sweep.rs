//! Fine-tuning sweeps, the input of a soup: one config, fine-tuned from one run's weights
//! (`train.init_from`) at every point of a grid of overrides, each point its own run
//! directory `OUT/point-NN`. The points are independent: run one after another here, or as
//! separate `stoke train` processes (what `stoke sweep --jobs` starts); a point whose run
//! finished is skipped and one that was interrupted resumes.

use crate::usage_error;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One key and the values it takes (`--grid key=v1,v2`).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

/// Parses `key=v1,v2,...`.
pub fn parse_axis(text: &str) -> anyhow::Result<Axis> {
    let (key, values) = text.split_once('=').ok_or_else(|| {
        usage_error!("--grid {text}: expected key=v1,v2 (e.g. optimizer.lr=0.01,0.03)")
    })?;
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    if key.trim().is_empty() || values.iter().any(String::is_empty) {
        return Err(usage_error!(
            "--grid {text}: expected key=v1,v2 with a key and no empty value"
        ));
    }
    Ok(Axis {
        key: key.trim().to_string(),
        values,
    })
}

/// One point of the grid: its run directory's name and its overrides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub name: String,
    pub overrides: Vec<String>,
}

/// Every combination of the axes' values (the last axis varying fastest), each with
/// `train.init_from` set to `from`.
pub fn plan(axes: &[Axis], from: &Path) -> Vec<Point> {
    let mut combinations: Vec<Vec<String>> = vec![Vec::new()];
    for axis in axes {
        combinations = combinations
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push(format!("{}={value}", axis.key));
                    next
                })
            })
            .collect();
    }
    let init = format!("train.init_from={}", toml_string(&from.to_string_lossy()));
    combinations
        .into_iter()
        .enumerate()
        .map(|(i, mut overrides)| {
            overrides.push(init.clone());
            Point {
                name: format!("point-{i:02}"),
                overrides,
            }
        })
        .collect()
}

/// A TOML basic string (an override's value is TOML).
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Where a point stands in `out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    New,
    /// Interrupted: resume it.
    Started,
    Finished,
}

pub fn status(out: &Path, point: &Point) -> Status {
    let dir = out.join(&point.name);
    match (
        dir.join("summary.json").is_file(),
        dir.join("config.toml").is_file(),
    ) {
        (true, _) => Status::Finished,
        (false, true) => Status::Started,
        (false, false) => Status::New,
    }
}

/// Trains (or resumes, or skips) one point in this process; returns its run directory.
pub fn run_point(
    recipe: &str,
    base: &[String],
    out: &Path,
    point: &Point,
    cancel: &crate::train::CancelToken,
) -> anyhow::Result<PathBuf> {
    let dir = out.join(&point.name);
    let state = status(out, point);
    if state == Status::Finished {
        return Ok(dir);
    }
    let overrides: Vec<String> = base.iter().chain(&point.overrides).cloned().collect();
    let (config, resolved) = crate::config::resolve(recipe, &overrides)?;
    let options = crate::train::TrainOptions {
        out_dir: dir.clone(),
        resume: state == Status::Started,
        cancel: cancel.clone(),
        ..Default::default()
    };
    crate::train::train(&config, &resolved, &options, Vec::new())?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_the_grid_product_each_from_the_run() {
        let axes = [
            parse_axis("optimizer.lr=0.1,0.2").unwrap(),
            parse_axis("seed=1,2,3").unwrap(),
        ];
        let points = plan(&axes, Path::new("runs/base"));
        assert_eq!(points.len(), 6);
        assert_eq!(points[0].name, "point-00");
        assert_eq!(
            points[4].overrides,
            vec![
                "optimizer.lr=0.2".to_string(),
                "seed=2".to_string(),
                "train.init_from=\"runs/base\"".to_string()
            ]
        );
        assert!(parse_axis("optimizer.lr").is_err());
        assert!(parse_axis("optimizer.lr=0.1,").is_err());
    }
}
