//! The greedy soup (Wortsman et al., 2022, Recipe 1; `model-soups/main.py`): ingredients in
//! decreasing held-out accuracy, each added only if the soup's held-out accuracy rises
//! (strictly, as the official code; Sparse Model Soups accept ties).

use super::{Buffers, IngredientScores, Scorer, SoupSummary, score_ingredients};
use crate::train::Weights;
use crate::usage_error;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One candidate the greedy pass tried.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// The ingredient tried (index into the runs as given).
    pub ingredient: usize,
    /// The held-out accuracy of the soup with it.
    pub accuracy: f64,
    pub kept: bool,
}

/// The greedy selection: `alone[i]` is ingredient i's held-out accuracy and
/// `soup_accuracy(members)` the held-out accuracy of the mean of `members`. Returns the
/// members kept (in the order they joined) and every trial.
pub fn select(
    alone: &[f64],
    mut soup_accuracy: impl FnMut(&[usize]) -> anyhow::Result<f64>,
    strict: bool,
) -> anyhow::Result<(Vec<usize>, Vec<Trial>)> {
    let mut order: Vec<usize> = (0..alone.len()).collect();
    // Stable: ties keep the order given.
    order.sort_by(|&a, &b| alone[b].total_cmp(&alone[a]));
    let Some((&first, rest)) = order.split_first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut kept = vec![first];
    let mut best = alone[first];
    let mut trials = vec![Trial {
        ingredient: first,
        accuracy: best,
        kept: true,
    }];
    for &next in rest {
        let mut members = kept.clone();
        members.push(next);
        let accuracy = soup_accuracy(&members)?;
        let better = match strict {
            true => accuracy > best,
            false => accuracy >= best,
        };
        if better {
            kept = members;
            best = accuracy;
        }
        trials.push(Trial {
            ingredient: next,
            accuracy,
            kept: better,
        });
    }
    Ok((kept, trials))
}

/// What soup.json of a greedy soup adds to [`SoupSummary`].
#[derive(Clone, Debug, Serialize)]
pub struct GreedySummary {
    #[serde(flatten)]
    pub soup: SoupSummary,
    pub strict: bool,
    pub trials: Vec<Trial>,
}

/// `stoke soup greedy`: selects on the runs' held-out images (their configs' `dataset.holdout`),
/// scores the soup and writes it to `out`.
pub fn greedy_soup(
    runs: &[PathBuf],
    buffers: Buffers,
    strict: bool,
    out: &Path,
) -> anyhow::Result<GreedySummary> {
    let ingredients = super::load_ingredients(runs)?;
    let scorer = Scorer::new(&ingredients[0].config, buffers)?;
    if !scorer.has_holdout() {
        return Err(usage_error!(
            "a greedy soup selects on held-out images, and {}'s config keeps none: train the \
             runs with dataset.holdout=N (the test split never selects)",
            runs[0].display()
        ));
    }
    let each: Vec<IngredientScores> = score_ingredients(&scorer, &ingredients)?;
    let alone: Vec<f64> = each
        .iter()
        .map(|i| i.scores.holdout_accuracy.unwrap_or(f64::NEG_INFINITY))
        .collect();
    let mean_of = |members: &[usize]| -> anyhow::Result<Weights> {
        let weights: Vec<&Weights> = members.iter().map(|&m| &ingredients[m].weights).collect();
        Weights::mean(&weights)
    };
    let (kept, trials) = select(
        &alone,
        |members| {
            let (_, scores) = scorer.score(&mean_of(members)?)?;
            Ok(scores.holdout_accuracy.unwrap_or(f64::NEG_INFINITY))
        },
        strict,
    )?;
    let (soup, scores) = scorer.score(&mean_of(&kept)?)?;
    let summary = GreedySummary {
        soup: SoupSummary {
            kind: "greedy",
            buffers,
            ingredients: each,
            kept: kept.iter().map(|&k| runs[k].clone()).collect(),
            scores,
            out: out.to_path_buf(),
        },
        strict,
        trials,
    };
    super::write_soup(out, &ingredients[0].config, &soup, &summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up held-out accuracy of a soup: the members' mean accuracy, plus 0.05 if
    /// ingredient 2 is in and minus 0.1 if ingredient 3 is.
    fn made_up(alone: &[f64], members: &[usize]) -> f64 {
        let mean = members.iter().map(|&m| alone[m]).sum::<f64>() / members.len() as f64;
        mean + if members.contains(&2) { 0.05 } else { 0.0 }
            - if members.contains(&3) { 0.1 } else { 0.0 }
    }

    #[test]
    fn greedy_goes_by_held_out_accuracy_and_keeps_what_helps() {
        let alone = [0.80, 0.90, 0.85, 0.88];
        let (kept, trials) = select(&alone, |m| Ok(made_up(&alone, m)), true).unwrap();
        // Order 1 (0.90), 3 (0.88), 2 (0.85), 0 (0.80). By hand: {1,3}: 0.89 - 0.1 = 0.79,
        // rejected; {1,2}: 0.875 + 0.05 = 0.925, kept; {1,2,0}: 0.85 + 0.05 = 0.90, rejected.
        assert_eq!(kept, vec![1, 2]);
        let tried: Vec<(usize, bool)> = trials.iter().map(|t| (t.ingredient, t.kept)).collect();
        assert_eq!(tried, vec![(1, true), (3, false), (2, true), (0, false)]);
        assert!((trials[2].accuracy - 0.925).abs() < 1e-12);
    }

    #[test]
    fn ties_join_only_when_not_strict() {
        let alone = [0.5, 0.5];
        let flat = |_: &[usize]| Ok(0.5);
        assert_eq!(select(&alone, flat, true).unwrap().0, vec![0]);
        assert_eq!(select(&alone, flat, false).unwrap().0, vec![0, 1]);
    }
}
