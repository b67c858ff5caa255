//! MeaMed (Xie, Koyejo and Gupta, "Generalized Byzantine-tolerant SGD", 2018; byzfl's
//! `Meamed`): per coordinate, the mean of the n - f values nearest the median.

pub fn meamed(vectors: &[Vec<f32>], f: usize) -> Vec<f32> {
    let n = vectors.len();
    super::coordinate_wise(vectors, |column| {
        let mut sorted = column.to_vec();
        let center = super::median::lower_median(&mut sorted);
        super::mean_of_nearest(column, center, n - f)
    })
}

#[cfg(test)]
mod tests {
    /// By hand, f = 2 of 5: [0, 1, 2, 3, 40]: median 2; the 3 values nearest are 1, 2, 3.
    #[test]
    fn averages_the_values_nearest_the_median() {
        let vectors: Vec<Vec<f32>> = [40.0, 0.0, 3.0, 1.0, 2.0]
            .iter()
            .map(|&x| vec![x])
            .collect();
        assert_eq!(super::meamed(&vectors, 2), [2.0]);
    }
}
