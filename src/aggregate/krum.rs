//! Krum and Multi-Krum (Blanchard et al., NeurIPS 2017), as the Flag repository's baseline
//! (hamidralmasi/FlagAggregator, aggregators/krum.py): each vector's score is the sum of its
//! un-squared distances to its n - f - 1 nearest others; Krum returns the best-scored vector,
//! Multi-Krum the mean of the m best (m = n - f - 2 by default). Equal scores keep worker
//! order (Python's stable sort).

use super::Combined;

pub fn multi_krum(vectors: &[Vec<f32>], f: usize, m: usize) -> Combined {
    let all: Vec<usize> = (0..vectors.len()).collect();
    let order = by_score(&distances(vectors), f, &all);
    let mut selected = order[..m].to_vec();
    let chosen: Vec<Vec<f32>> = selected.iter().map(|&i| vectors[i].clone()).collect();
    selected.sort_unstable();
    Combined {
        vector: super::mean::mean(&chosen),
        selected: Some(selected),
        iterations: None,
    }
}

/// The un-squared Euclidean distances between every two vectors (f64; a non-finite one
/// counts as infinite, as in the Flag repository).
pub(crate) fn distances(vectors: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let n = vectors.len();
    let mut distances = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let squared: f64 = vectors[i]
                .iter()
                .zip(&vectors[j])
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum();
            let d = squared.sqrt();
            let d = if d.is_finite() { d } else { f64::INFINITY };
            distances[i][j] = d;
            distances[j][i] = d;
        }
    }
    distances
}

/// The workers of `among` ordered by Krum's score within `among` (n = its length: the sum
/// of the distances to the n - f - 1 nearest others, none when that is not positive).
pub(crate) fn by_score(distances: &[Vec<f64>], f: usize, among: &[usize]) -> Vec<usize> {
    let n = among.len();
    let neighbours = n.saturating_sub(f + 1);
    let scores: Vec<f64> = among
        .iter()
        .map(|&i| {
            let mut others: Vec<f64> = among
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| distances[i][j])
                .collect();
            others.sort_by(f64::total_cmp);
            others[..neighbours.min(others.len())].iter().sum()
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    order.into_iter().map(|i| among[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, n = 5, f = 1 (3 nearest count) on the line: 0, 1, 2, 3 and an outlier 100.
    /// Scores: x=0: 1+2+3 = 6; x=1: 1+1+2 = 4; x=2: 1+1+2 = 4; x=3: 1+2+3 = 6; 100: 97+98+99.
    /// Krum: x=1 (tie with x=2, the earlier worker); Multi-Krum m = 5-1-2 = 2: mean of 1, 2.
    #[test]
    fn scores_by_distance_to_the_nearest_others() {
        let vectors: Vec<Vec<f32>> = [0.0, 1.0, 100.0, 2.0, 3.0]
            .iter()
            .map(|&x| vec![x, 0.0])
            .collect();
        let krum = multi_krum(&vectors, 1, 1);
        assert_eq!(
            (krum.vector, krum.selected),
            (vec![1.0, 0.0], Some(vec![1]))
        );
        let multi = multi_krum(&vectors, 1, 2);
        assert_eq!(
            (multi.vector, multi.selected),
            (vec![1.5, 0.0], Some(vec![1, 3]))
        );
    }
}
