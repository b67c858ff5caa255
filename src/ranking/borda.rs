//! Borda count: per task a system earns one point per system it beats (one half per tie),
//! summed over tasks, as the official code's `ranking_aggregation` (per-task
//! `argsort(argsort(scores))`, summed). With missing scores each pair's share of wins over
//! the tasks scoring both stands for all tasks (`wins / common * tasks`), so a system is not
//! penalised for a task it was not run on; without missing scores this is the plain count.

use super::{Preferences, ScoreTable};

/// The Borda count of each system (table order).
pub fn counts(table: &ScoreTable) -> Vec<f64> {
    let tasks = table.tasks.len() as f64;
    let prefs = Preferences::of(table);
    let n = table.systems.len();
    (0..n)
        .map(|a| {
            (0..n)
                .filter(|&b| b != a && prefs.common[a][b] > 0.0)
                .map(|b| prefs.wins[a][b] / prefs.common[a][b] * tasks)
                .sum()
        })
        .collect()
}
