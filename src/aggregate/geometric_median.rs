//! The geometric median by smoothed Weiszfeld iterations (Pillutla et al.; byzfl's
//! `GeometricMedian`): from z = 0, `iterations` times z <- sum_i x_i / max(|x_i - z|, nu)
//! over sum_i 1 / max(|x_i - z|, nu). Vectors with a non-finite value are left out (byzfl
//! leaves out infinite ones). Computed in f64.

pub fn geometric_median(vectors: &[Vec<f32>], nu: f64, iterations: usize) -> Vec<f32> {
    let finite: Vec<Vec<f64>> = vectors
        .iter()
        .filter(|v| v.iter().all(|x| x.is_finite()))
        .map(|v| v.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let d = vectors[0].len();
    let mut z = vec![0.0f64; d];
    if finite.is_empty() {
        return vec![0.0; d];
    }
    for _ in 0..iterations {
        let weights: Vec<f64> = finite
            .iter()
            .map(|x| {
                let distance = x
                    .iter()
                    .zip(&z)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
                1.0 / distance.max(nu)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        z = (0..d)
            .map(|j| {
                finite
                    .iter()
                    .zip(&weights)
                    .map(|(x, w)| x[j] * w)
                    .sum::<f64>()
                    / total
            })
            .collect();
    }
    z.into_iter().map(|x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    /// byzfl's documented example: [[1,2,3],[4,5,6],[7,8,9]] gives [3.78788764,
    /// 4.78788764, 5.78788764] with nu = 0.1 and 3 iterations (to f32 rounding: 1e-6).
    /// Many iterations on 3 collinear points converge to the middle one.
    #[test]
    fn matches_byzfl_and_converges_to_the_median_point() {
        let vectors = vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ];
        let z = super::geometric_median(&vectors, 0.1, 3);
        for (got, want) in z.iter().zip([3.787_887_6, 4.787_887_6, 5.787_887_6]) {
            assert!((got - want).abs() < 1e-6, "{z:?}");
        }
        let line = vec![vec![0.0], vec![1.0], vec![10.0]];
        let z = super::geometric_median(&line, 1e-6, 200);
        assert!((z[0] - 1.0).abs() < 1e-3, "{z:?}");
    }
}
