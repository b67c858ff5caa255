//! Borda count: per task a system earns one point per system it beats (one half per tie),
//! summed over tasks, as the official code's `ranking_aggregation` (per-task
//! `argsort(argsort(scores))`, summed). With missing scores each pair's share of wins over
//! the tasks scoring both stands for all tasks (`wins * tasks / common`), and a pair with no
//! task in common splits the tasks' points evenly, so a system is not penalised for a task it
//! was not run on; without missing scores this is the plain count, exactly.

use super::{Preferences, ScoreTable};

/// The Borda count of each system (table order).
pub fn counts(table: &ScoreTable) -> Vec<f64> {
    let tasks = table.tasks.len() as f64;
    let prefs = Preferences::of(table);
    let n = table.systems.len();
    (0..n)
        .map(|a| {
            (0..n)
                .filter(|&b| b != a)
                .map(|b| {
                    let common = prefs.common[a][b];
                    match common > 0.0 {
                        // Multiplied first: wins * tasks / tasks is exactly wins.
                        true => prefs.wins[a][b] * tasks / common,
                        false => tasks / 2.0,
                    }
                })
                .sum()
        })
        .collect()
}
