//! The coordinate-wise trimmed mean (Yin et al., ICML 2018; byzfl's `TrMean`): per
//! coordinate, drop the f lowest and f highest values and average the n - 2f left.

pub fn trimmed_mean(vectors: &[Vec<f32>], f: usize) -> Vec<f32> {
    super::coordinate_wise(vectors, |column| trimmed(column, f))
}

/// The mean of `values` without its f lowest and f highest (reordered in place).
pub(crate) fn trimmed(values: &mut [f32], f: usize) -> f32 {
    values.sort_by(f32::total_cmp);
    super::mean_of(&values[f..values.len() - f])
}

#[cfg(test)]
mod tests {
    /// By hand, f = 1 of 5: [-100, 1, 2, 3, 50] keeps 1, 2, 3: 2; f = 0 is the mean.
    #[test]
    fn drops_the_extremes_of_each_coordinate() {
        let vectors: Vec<Vec<f32>> = [50.0, 2.0, -100.0, 3.0, 1.0]
            .iter()
            .map(|&x| vec![x, 2.0 * x])
            .collect();
        assert_eq!(super::trimmed_mean(&vectors, 1), [2.0, 4.0]);
        assert_eq!(super::trimmed_mean(&vectors, 0), [-8.8, -17.6]);
    }
}
