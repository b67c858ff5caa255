//! Bulyan (El Mhamdi, Guerraoui and Rouault, "The Hidden Vulnerability of Distributed
//! Learning in Byzantium", ICML 2018): Krum picks theta = n - 2f vectors one at a time (each
//! pick leaves the pool, scores recomputed within it), then per coordinate the mean of the
//! beta = theta - 2f picked values nearest their median. Needs n >= 4f + 3. (The Flag
//! repository's bulyan.py averages Multi-Krum groups instead; this follows the paper.)

use super::Combined;

pub fn bulyan(vectors: &[Vec<f32>], f: usize) -> Combined {
    let n = vectors.len();
    let theta = n - 2 * f;
    // The distances once; each pick rescores the pool from them.
    let distances = super::krum::distances(vectors);
    let mut pool: Vec<usize> = (0..n).collect();
    let mut picked = Vec::with_capacity(theta);
    while picked.len() < theta {
        let best = super::krum::by_score(&distances, f, &pool)[0];
        pool.retain(|&i| i != best);
        picked.push(best);
    }
    let chosen: Vec<Vec<f32>> = picked.iter().map(|&i| vectors[i].clone()).collect();
    let beta = theta - 2 * f;
    let vector = super::coordinate_wise(&chosen, |column| {
        let mut sorted = column.to_vec();
        let center = super::median::lower_median(&mut sorted);
        super::mean_of_nearest(column, center, beta)
    });
    picked.sort_unstable();
    Combined {
        vector,
        selected: Some(picked),
        iterations: None,
    }
}

#[cfg(test)]
mod tests {
    /// By hand, n = 7, f = 1: values 0, 1, 2, 3, 4, 5 and an outlier 90 (one coordinate).
    /// Krum within a pool of n' sums the n' - 2 nearest distances; ties go to the earlier
    /// worker. Pool of 7 (5 nearest): 2 and 3 score 1+1+2+2+3 = 9, pick 2. Pool {0,1,3,4,5,90}
    /// (4 nearest): 0: 13, 1: 10, 3: 8, 4: 9, 5: 12, pick 3. Pool {0,1,4,5,90} (3): 0: 10,
    /// 1: 8, 4: 8, 5: 10, pick 1. Pool {0,4,5,90} (2): 0: 9, 4: 5, 5: 6, pick 4. Pool
    /// {0,5,90} (1): 0: 5, 5: 5, pick 0. theta = 5 picks {0,1,2,3,4}; beta = 3 values nearest
    /// their median 2 are 1, 2, 3: mean 2, exactly.
    #[test]
    fn picks_by_krum_then_trims_around_the_median() {
        let vectors: Vec<Vec<f32>> = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 90.0]
            .iter()
            .map(|&x| vec![x])
            .collect();
        let combined = super::bulyan(&vectors, 1);
        assert_eq!(combined.selected, Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(combined.vector, [2.0]);
    }
}
