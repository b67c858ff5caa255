//! A score table read from CSV: a header `Model,TASK,...` (the official code's layout; the
//! first column may have any name), one row per system, an empty cell or `NA`/`NaN` for a
//! missing score.

use crate::usage_error;
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct ScoreTable {
    pub systems: Vec<String>,
    pub tasks: Vec<String>,
    /// `scores[system][task]`, higher is better.
    pub scores: Vec<Vec<Option<f64>>>,
}

impl ScoreTable {
    pub fn read_csv(path: &Path) -> anyhow::Result<ScoreTable> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage_error!("cannot read score table {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| usage_error!("score table {}: {e}", path.display()))
    }

    /// Parses CSV text; errors name the row (1 = the header) and column.
    pub fn parse(text: &str) -> anyhow::Result<ScoreTable> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| anyhow::anyhow!("the header: {e}"))?
            .clone();
        if header.len() < 2 {
            anyhow::bail!(
                "the header has {} column(s); expected a system column and at least one task",
                header.len()
            );
        }
        let tasks: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
        for (i, task) in tasks.iter().enumerate() {
            if task.is_empty() || tasks[..i].contains(task) {
                anyhow::bail!(
                    "the header: task column {} is named `{task}` (empty or repeated)",
                    i + 2
                );
            }
        }
        let (mut systems, mut scores) = (Vec::new(), Vec::new());
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            let record = record.map_err(|e| anyhow::anyhow!("row {row}: {e}"))?;
            let name = record.get(0).unwrap_or_default().to_string();
            if systems.contains(&name) {
                anyhow::bail!("row {row}: system `{name}` appears twice");
            }
            let mut values = Vec::with_capacity(tasks.len());
            for (task, cell) in tasks.iter().zip(record.iter().skip(1)) {
                values.push(match cell {
                    "" | "NA" | "NaN" | "nan" => None,
                    _ => match cell.parse::<f64>() {
                        Ok(v) if v.is_finite() => Some(v),
                        _ => anyhow::bail!(
                            "row {row}, column `{task}`: `{cell}` is not a finite number (empty or NA for a missing score)"
                        ),
                    },
                });
            }
            if values.iter().all(Option::is_none) {
                anyhow::bail!("row {row}: system `{name}` has no score");
            }
            systems.push(name);
            scores.push(values);
        }
        if systems.len() < 2 {
            anyhow::bail!("{} system(s); ranking needs at least 2", systems.len());
        }
        Ok(ScoreTable {
            systems,
            tasks,
            scores,
        })
    }

    /// Each system's mean over the tasks it has a score for (pandas' `mean(skipna=True)`,
    /// what the official code's mean aggregation computes).
    pub fn mean_scores(&self) -> Vec<f64> {
        self.scores
            .iter()
            .map(|row| {
                let present: Vec<f64> = row.iter().flatten().copied().collect();
                present.iter().sum::<f64>() / present.len() as f64
            })
            .collect()
    }
}
