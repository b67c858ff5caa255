//! Ranking systems across tasks (Colombo et al., "What are the best systems? New perspectives
//! on NLP benchmarking", NeurIPS 2022): from a table of scores (systems x tasks, higher is
//! better, some possibly missing), the ranking by mean score, by Borda count (the paper's
//! recommendation and its official code's `ranking_aggregation`) and by Kemeny consensus (the
//! ranking closest to the per-task rankings in summed Kendall distance).
//!
//! Everything is computed from the pairwise preferences: `wins[a][b]` counts the tasks where
//! `a` scores above `b` (a tie counts one half), over the tasks scoring both.

pub mod borda;
pub mod kemeny;
pub mod table;

pub use table::ScoreTable;

use serde::Serialize;

/// How systems are ranked (`stoke metric rank --method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Mean,
    Borda,
    Kemeny,
}

/// A ranking: systems best first, with the score that ordered them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ranking {
    pub method: Method,
    /// System indices (rows of the table), best first.
    pub order: Vec<usize>,
    /// Per system (table order): the mean score, the Borda count, or for Kemeny the
    /// position (0 = first).
    pub scores: Vec<f64>,
    /// Kemeny: the summed Kendall distance of the ranking to the per-task rankings, and
    /// whether it is the exact minimum (dynamic programming up to
    /// [`kemeny::EXACT_LIMIT`] systems) or a local optimum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
}

/// Pairwise preferences of a table: `wins[a][b]` (ties one half) and `common[a][b]`, the
/// tasks scoring both.
pub struct Preferences {
    pub wins: Vec<Vec<f64>>,
    pub common: Vec<Vec<f64>>,
}

impl Preferences {
    pub fn of(table: &ScoreTable) -> Preferences {
        let n = table.systems.len();
        let mut wins = vec![vec![0.0; n]; n];
        let mut common = vec![vec![0.0; n]; n];
        for task in 0..table.tasks.len() {
            for a in 0..n {
                for b in 0..n {
                    if a == b {
                        continue;
                    }
                    if let (Some(x), Some(y)) = (table.scores[a][task], table.scores[b][task]) {
                        common[a][b] += 1.0;
                        wins[a][b] += match x.partial_cmp(&y) {
                            Some(std::cmp::Ordering::Greater) => 1.0,
                            Some(std::cmp::Ordering::Equal) => 0.5,
                            _ => 0.0,
                        };
                    }
                }
            }
        }
        Preferences { wins, common }
    }
}

/// Ranks the table's systems by `method`.
pub fn rank(table: &ScoreTable, method: Method) -> Ranking {
    let scores = match method {
        Method::Mean => table.mean_scores(),
        Method::Borda => borda::counts(table),
        Method::Kemeny => return kemeny::consensus(table),
    };
    Ranking {
        method,
        order: order_by(&scores),
        scores,
        disagreement: None,
        exact: None,
    }
}

/// System indices by decreasing score (ties keep the table's order).
pub fn order_by(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Rng, Stream};

    fn table(rows: &[&[Option<f64>]]) -> ScoreTable {
        ScoreTable {
            systems: (0..rows.len()).map(|i| format!("S{i}")).collect(),
            tasks: (0..rows[0].len()).map(|t| format!("T{t}")).collect(),
            scores: rows.iter().map(|r| r.to_vec()).collect(),
        }
    }

    /// The paper's point: a task on a large scale decides the mean (A > B > C), while the
    /// tasks' rankings say C > B > A.
    #[test]
    fn mean_and_borda_disagree_on_scales() {
        let t = table(&[
            &[Some(100.0), Some(0.0), Some(0.0)],
            &[Some(50.0), Some(0.5), Some(0.5)],
            &[Some(0.0), Some(1.0), Some(1.0)],
        ]);
        assert_eq!(rank(&t, Method::Mean).order, vec![0, 1, 2]);
        let borda = rank(&t, Method::Borda);
        // Task 1: A 2, B 1, C 0; tasks 2 and 3: C 2, B 1, A 0.
        assert_eq!(borda.scores, vec![2.0, 3.0, 4.0]);
        assert_eq!(borda.order, vec![2, 1, 0]);
        assert_eq!(rank(&t, Method::Kemeny).order, vec![2, 1, 0]);
    }

    /// Borda without missing scores is the official per-task argsort(argsort) summed (by
    /// hand here); a missing score scales the pair's share of wins to all tasks.
    #[test]
    fn borda_counts_by_hand() {
        let t = table(&[
            &[Some(0.9), Some(10.0), Some(3.0)],
            &[Some(0.5), Some(30.0), Some(1.0)],
            &[Some(0.7), Some(20.0), Some(2.0)],
        ]);
        // Ranks (0 = worst): S0 2,0,2 = 4; S1 0,2,0 = 2; S2 1,1,1 = 3.
        assert_eq!(borda::counts(&t), vec![4.0, 2.0, 3.0]);
        let tied = table(&[&[Some(1.0)], &[Some(1.0)], &[Some(0.0)]]);
        assert_eq!(borda::counts(&tied), vec![1.5, 1.5, 0.0]);
        // S2 misses task 0: against S0 it won 1 of the 2 common tasks -> 1.5 of 3.
        let missing = table(&[
            &[Some(0.9), Some(10.0), Some(3.0)],
            &[Some(0.5), Some(30.0), Some(1.0)],
            &[None, Some(20.0), Some(2.0)],
        ]);
        let counts = borda::counts(&missing);
        assert_eq!(counts[2], 1.5 + 1.5);
        assert_eq!(counts[0], 2.0 + 1.5);
    }

    /// Complete data gives integer counts exactly, for any number of tasks (15/22*22 is not
    /// 15 in f64; 15*22/22 is); a pair with no common task splits the tasks' points.
    #[test]
    fn borda_is_exact_and_neutral_for_pairs_never_compared() {
        let first: Vec<Option<f64>> = (0..22)
            .map(|t| Some(if t < 15 { 1.0 } else { 0.0 }))
            .collect();
        let second: Vec<Option<f64>> = (0..22)
            .map(|t| Some(if t < 15 { 0.0 } else { 1.0 }))
            .collect();
        assert_eq!(borda::counts(&table(&[&first, &second])), vec![15.0, 7.0]);
        // A has only T0 (beating D there); B and C only T1 and T2.
        let sparse = table(&[
            &[Some(1.0), None, None],
            &[Some(0.0), Some(1.0), Some(1.0)],
            &[None, Some(0.5), Some(0.5)],
            &[None, Some(0.0), Some(0.0)],
        ]);
        // A: 3 (beats D) + 1.5 + 1.5 (never compared with B, C); D: 0 + 3 + 3.
        assert_eq!(borda::counts(&sparse), vec![6.0, 6.0, 4.5, 1.5]);
    }

    fn random_table(seed: u64, systems: usize, tasks: usize) -> ScoreTable {
        let mut rng = Rng::new(seed, Stream::Synthetic, 0, 0);
        ScoreTable {
            systems: (0..systems).map(|i| format!("S{i}")).collect(),
            tasks: (0..tasks).map(|i| format!("T{i}")).collect(),
            scores: (0..systems)
                .map(|_| {
                    (0..tasks)
                        .map(|_| match rng.below(6) {
                            0 => None,
                            v => Some(v as f64),
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// The local search (what tables beyond 20 systems get) returns an order no single move
    /// improves, no worse than Borda's and no better than the exact minimum.
    #[test]
    fn local_search_reaches_a_local_optimum() {
        for seed in 0..10 {
            let t = random_table(seed, 9, 7);
            let prefs = Preferences::of(&t);
            let start = order_by(&borda::counts(&t));
            let order = kemeny::local_search(&prefs, start.clone());
            let cost = kemeny::disagreement(&prefs, &order);
            assert!(cost <= kemeny::disagreement(&prefs, &start));
            assert!(cost >= rank(&t, Method::Kemeny).disagreement.unwrap());
            for from in 0..9 {
                for to in 0..9 {
                    let mut moved = order.clone();
                    let x = moved.remove(from);
                    moved.insert(to, x);
                    assert!(kemeny::disagreement(&prefs, &moved) >= cost, "seed {seed}");
                }
            }
        }
    }

    fn brute_force(prefs: &Preferences, n: usize) -> f64 {
        fn permute(
            rest: &mut Vec<usize>,
            order: &mut Vec<usize>,
            prefs: &Preferences,
            best: &mut f64,
        ) {
            if rest.is_empty() {
                *best = best.min(kemeny::disagreement(prefs, order));
                return;
            }
            for i in 0..rest.len() {
                let x = rest.remove(i);
                order.push(x);
                permute(rest, order, prefs, best);
                order.pop();
                rest.insert(i, x);
            }
        }
        let mut best = f64::INFINITY;
        permute(&mut (0..n).collect(), &mut Vec::new(), prefs, &mut best);
        best
    }

    /// The dynamic programme finds the minimum that trying all 720 orders finds, on random
    /// tables with ties and missing scores.
    #[test]
    fn kemeny_is_the_brute_force_minimum() {
        for seed in 0..20 {
            let t = random_table(seed, 6, 5);
            let ranking = rank(&t, Method::Kemeny);
            let prefs = Preferences::of(&t);
            assert_eq!(
                ranking.disagreement,
                Some(brute_force(&prefs, 6)),
                "seed {seed}"
            );
            assert_eq!(ranking.exact, Some(true));
            let mut sorted = ranking.order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        }
    }

    /// A system preferred to every other by most tasks (a Condorcet winner) comes first.
    #[test]
    fn kemeny_ranks_a_condorcet_winner_first() {
        let t = table(&[
            &[Some(1.0), Some(3.0), Some(2.0)],
            &[Some(3.0), Some(2.0), Some(2.5)],
            &[Some(2.0), Some(1.0), Some(3.0)],
            &[Some(0.0), Some(0.0), Some(1.0)],
        ]);
        // S1 beats S0 (tasks 0 and 2), S2 (tasks 0 and 1) and S3 (all); no other system
        // beats all the others.
        let prefs = Preferences::of(&t);
        assert!(
            (0..4)
                .filter(|&b| b != 1)
                .all(|b| prefs.wins[1][b] > prefs.wins[b][1])
        );
        assert_eq!(rank(&t, Method::Kemeny).order[0], 1);
    }

    #[test]
    fn bad_tables_name_the_row_and_column() {
        let err = |text: &str| ScoreTable::parse(text).unwrap_err().to_string();
        assert!(err("Model,A\nx,1\nx,2").contains("row 3: system `x` appears twice"));
        assert!(err("Model,A,B\nx,1,abc\ny,1,2").contains("row 2, column `B`: `abc`"));
        assert!(err("Model\nx").contains("at least one task"));
        assert!(err("Model,A\nx,1").contains("at least 2"));
        assert!(err("Model,A\nx,\ny,1").contains("row 2: system `x` has no score"));
        assert!(err("Model,A,B\nx,1\ny,1,2").contains("row 2"));
        assert!(err("").contains("0 column(s)"));
        assert!(err("Model,A\n").contains("0 system(s)"));
        assert!(err("Model,A,A\nx,1,2\ny,1,2").contains("task column 3 is named `A`"));
        assert!(err("Model,A,\nx,1,2\ny,1,2").contains("task column 3 is named ``"));
        let t = ScoreTable::parse("Model, A ,B\nx,1,NA\ny,2,\n").unwrap();
        assert_eq!(t.tasks, vec!["A", "B"]);
        assert_eq!(t.scores, vec![vec![Some(1.0), None], vec![Some(2.0), None]]);
    }
}
