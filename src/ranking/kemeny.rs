//! Kemeny consensus: the ranking minimising the summed Kendall distance to the per-task
//! rankings, i.e. over ordered pairs (a before b) the tasks preferring b to a (ties one half;
//! tasks missing either system do not count). Exact by dynamic programming over subsets
//! (the best order of each set of leading systems) up to [`EXACT_LIMIT`] systems; beyond, the
//! Borda order improved by moving single systems while that lowers the distance (a local
//! optimum, reported as not exact). (The official repository's Kemeny files are empty; this
//! follows the definition.)

use super::{Method, Preferences, Ranking, ScoreTable, borda, order_by};

/// Largest number of systems ranked exactly (2^20 subsets x 20 x 20 pair sums: 0.4 s here).
pub const EXACT_LIMIT: usize = 20;

/// The Kendall disagreement of `order` (best first) with the tasks' preferences.
pub fn disagreement(prefs: &Preferences, order: &[usize]) -> f64 {
    let mut total = 0.0;
    for (i, &a) in order.iter().enumerate() {
        for &b in &order[i + 1..] {
            total += prefs.wins[b][a];
        }
    }
    total
}

pub fn consensus(table: &ScoreTable) -> Ranking {
    let prefs = Preferences::of(table);
    let n = table.systems.len();
    let (order, exact) = match n <= EXACT_LIMIT {
        true => (exact_order(&prefs, n), true),
        false => (local_search(&prefs, order_by(&borda::counts(table))), false),
    };
    let mut scores = vec![0.0; n];
    for (position, &system) in order.iter().enumerate() {
        scores[system] = position as f64;
    }
    Ranking {
        method: Method::Kemeny,
        disagreement: Some(disagreement(&prefs, &order)),
        exact: Some(exact),
        order,
        scores,
    }
}

/// best[S]: the least disagreement of an order of the systems in S placed first; placing x
/// after S costs the tasks preferring x to each member of S.
fn exact_order(prefs: &Preferences, n: usize) -> Vec<usize> {
    let full = (1usize << n) - 1;
    let mut best = vec![f64::INFINITY; full + 1];
    let mut last = vec![usize::MAX; full + 1];
    best[0] = 0.0;
    for set in 0..full {
        if best[set].is_infinite() {
            continue;
        }
        for x in (0..n).filter(|x| set & (1 << x) == 0) {
            let cost: f64 = (0..n)
                .filter(|y| set & (1 << y) != 0)
                .map(|y| prefs.wins[x][y])
                .sum();
            let next = set | (1 << x);
            // Strictly better only: among equal orders the first found (lowest indices
            // first) is kept, so results are deterministic.
            if best[set] + cost < best[next] {
                best[next] = best[set] + cost;
                last[next] = x;
            }
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut set = full;
    while set != 0 {
        let x = last[set];
        order.push(x);
        set &= !(1 << x);
    }
    order.reverse();
    order
}

/// Moves one system to another position while that lowers the disagreement: each sweep
/// tries every system at every position, the cost of a move summed pair by pair as the system
/// passes its neighbours (O(n^2) a sweep; every accepted move lowers the disagreement by at
/// least one half, so it ends).
pub fn local_search(prefs: &Preferences, mut order: Vec<usize>) -> Vec<usize> {
    loop {
        let mut improved = false;
        for from in 0..order.len() {
            let x = order[from];
            // (change, position) of the best move of x.
            let mut best = (0.0, from);
            let mut change = 0.0;
            for to in (0..from).rev() {
                // x passes y to its left: the pair (y, x) becomes (x, y).
                let y = order[to];
                change += prefs.wins[y][x] - prefs.wins[x][y];
                if change < best.0 {
                    best = (change, to);
                }
            }
            change = 0.0;
            for (to, &z) in order.iter().enumerate().skip(from + 1) {
                // x passes z to its right: the pair (x, z) becomes (z, x).
                change += prefs.wins[x][z] - prefs.wins[z][x];
                if change < best.0 {
                    best = (change, to);
                }
            }
            if best.1 != from {
                order.remove(from);
                order.insert(best.1, x);
                improved = true;
            }
        }
        if !improved {
            return order;
        }
    }
}
