//! Turning a weighted estimate into a graph and scoring it against the true graph, as the
//! NOTEARS/DAGMA/CoLiDE evaluation code does.

use serde::Serialize;

/// Zeroes |W_ij| <= threshold, then, while the graph has a cycle, removes the remaining
/// edges from the weakest up (CoLiDE's `to_dag`; ties in row-major order).
pub fn threshold_to_dag(weights: &[Vec<f64>], threshold: f64) -> Vec<Vec<f64>> {
    let mut a: Vec<Vec<f64>> = weights
        .iter()
        .map(|row| {
            row.iter()
                .map(|&w| if w.abs() <= threshold { 0.0 } else { w })
                .collect()
        })
        .collect();
    let mut edges: Vec<(usize, usize)> = nonzero(&a);
    edges.sort_by(|&(i, j), &(k, l)| a[i][j].abs().total_cmp(&a[k][l].abs()));
    for (i, j) in edges {
        if is_dag(&a) {
            break;
        }
        a[i][j] = 0.0;
    }
    a
}

/// Zeroes |W_ij| < threshold and nothing else (DAGMA's rule; the result may have cycles).
pub fn threshold(weights: &[Vec<f64>], threshold: f64) -> Vec<Vec<f64>> {
    weights
        .iter()
        .map(|row| {
            row.iter()
                .map(|&w| if w.abs() < threshold { 0.0 } else { w })
                .collect()
        })
        .collect()
}

fn nonzero(a: &[Vec<f64>]) -> Vec<(usize, usize)> {
    (0..a.len())
        .flat_map(|i| (0..a.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| a[i][j] != 0.0)
        .collect()
}

/// Whether the directed graph with an edge i -> j for every nonzero a[i][j] is acyclic (a
/// nonzero diagonal is a self-loop), by Kahn's algorithm.
pub fn is_dag(a: &[Vec<f64>]) -> bool {
    topological_order(a).is_some()
}

/// A topological order of the graph of `a`, or None when it has a cycle.
pub fn topological_order(a: &[Vec<f64>]) -> Option<Vec<usize>> {
    let d = a.len();
    let mut in_degree: Vec<usize> = (0..d)
        .map(|j| (0..d).filter(|&i| a[i][j] != 0.0).count())
        .collect();
    let mut ready: Vec<usize> = (0..d).filter(|&j| in_degree[j] == 0).collect();
    let mut order = Vec::with_capacity(d);
    while let Some(i) = ready.pop() {
        order.push(i);
        for j in 0..d {
            if a[i][j] != 0.0 {
                in_degree[j] -= 1;
                if in_degree[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    (order.len() == d).then_some(order)
}

/// Structure-recovery scores of an estimated graph (NOTEARS' `count_accuracy`).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct GraphAccuracy {
    /// Structural Hamming distance: extra, missing and reversed edges, each counting 1.
    pub shd: usize,
    /// True positive rate: correctly oriented edges over true edges.
    pub tpr: f64,
    /// False discovery rate: reversed and extra edges over predicted edges.
    pub fdr: f64,
    /// False positive rate: reversed and extra edges over true non-edges.
    pub fpr: f64,
    /// Predicted edges.
    pub edges: usize,
}

/// Scores the nonzero pattern of `estimate` against that of `truth` (both d x d).
pub fn count_accuracy(truth: &[Vec<f64>], estimate: &[Vec<f64>]) -> GraphAccuracy {
    let d = truth.len();
    let t = |i: usize, j: usize| truth[i][j] != 0.0;
    let e = |i: usize, j: usize| estimate[i][j] != 0.0;
    let pairs = || (0..d).flat_map(move |i| (0..d).map(move |j| (i, j)));
    let predicted = pairs().filter(|&(i, j)| e(i, j)).count();
    let true_edges = pairs().filter(|&(i, j)| t(i, j)).count();
    let true_positive = pairs().filter(|&(i, j)| e(i, j) && t(i, j)).count();
    let false_positive = pairs()
        .filter(|&(i, j)| e(i, j) && !t(i, j) && !t(j, i))
        .count();
    let reversed = pairs()
        .filter(|&(i, j)| e(i, j) && !t(i, j) && t(j, i))
        .count();
    // Skeletons: the lower triangle (diagonal included) of A + A^T.
    let lower = |f: &dyn Fn(usize, usize) -> bool, i: usize, j: usize| f(i, j) || f(j, i);
    let (mut extra, mut missing) = (0, 0);
    for i in 0..d {
        for j in 0..=i {
            match (lower(&e, i, j), lower(&t, i, j)) {
                (true, false) => extra += 1,
                (false, true) => missing += 1,
                _ => {}
            }
        }
    }
    let negatives = 0.5 * (d * d.saturating_sub(1)) as f64 - true_edges as f64;
    let wrong = (reversed + false_positive) as f64;
    GraphAccuracy {
        shd: extra + missing + reversed,
        tpr: true_positive as f64 / true_edges.max(1) as f64,
        fdr: wrong / predicted.max(1) as f64,
        fpr: wrong / negatives.max(1.0),
        edges: predicted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(d: usize, edges: &[(usize, usize)]) -> Vec<Vec<f64>> {
        let mut a = vec![vec![0.0; d]; d];
        for &(i, j) in edges {
            a[i][j] = 1.0;
        }
        a
    }

    /// Truth 0->1, 1->2, 0->3; estimate 1->0 (reversed), 1->2 (right), 2->3 (extra),
    /// 0->3 missing: SHD 3 (1 reversed + 1 extra + 1 missing), TPR 1/3, FDR 2/3, FPR 2/3
    /// (3 non-edges of 6 pairs). Counted by hand from NOTEARS' definitions.
    #[test]
    fn hand_counted_accuracy() {
        let truth = graph(4, &[(0, 1), (1, 2), (0, 3)]);
        let estimate = graph(4, &[(1, 0), (1, 2), (2, 3)]);
        let a = count_accuracy(&truth, &estimate);
        assert_eq!(a.shd, 3);
        assert_eq!(a.edges, 3);
        assert!((a.tpr - 1.0 / 3.0).abs() < 1e-15);
        assert!((a.fdr - 2.0 / 3.0).abs() < 1e-15);
        assert!((a.fpr - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(count_accuracy(&truth, &truth).shd, 0);
    }

    /// A 3-cycle keeps its two strongest edges; weights at the threshold are dropped.
    #[test]
    fn thresholding_breaks_cycles_from_the_weakest_edge() {
        let w = vec![
            vec![0.0, 0.9, 0.3],
            vec![0.0, 0.0, -0.5],
            vec![0.4, 0.0, 0.0],
        ];
        let dag = threshold_to_dag(&w, 0.3);
        assert_eq!(dag[0][2], 0.0, "at the threshold");
        assert_eq!(dag[2][0], 0.0, "the weakest edge of the cycle");
        assert_eq!((dag[0][1], dag[1][2]), (0.9, -0.5));
        assert!(is_dag(&dag) && !is_dag(&w));
        assert!(!is_dag(&graph(2, &[(1, 1)])), "a self-loop is a cycle");
    }
}
