//! Phocas (Xie, Koyejo and Gupta, "Phocas: dimensional Byzantine-resilient stochastic
//! gradient descent", 2018): per coordinate, the mean of the n - f values nearest the
//! f-trimmed mean.

pub fn phocas(vectors: &[Vec<f32>], f: usize) -> Vec<f32> {
    let n = vectors.len();
    super::coordinate_wise(vectors, |column| {
        let mut sorted = column.to_vec();
        let center = super::trimmed_mean::trimmed(&mut sorted, f);
        super::mean_of_nearest(column, center, n - f)
    })
}

#[cfg(test)]
mod tests {
    /// By hand, f = 1 of 5: [0, 1, 2, 3, 40]: trimmed mean (1 + 2 + 3)/3 = 2; the 4 values
    /// nearest 2 are 0..=3: mean 1.5.
    #[test]
    fn averages_the_values_nearest_the_trimmed_mean() {
        let vectors: Vec<Vec<f32>> = [40.0, 0.0, 3.0, 1.0, 2.0]
            .iter()
            .map(|&x| vec![x])
            .collect();
        assert_eq!(super::phocas(&vectors, 1), [1.5]);
    }
}
