//! The coordinate-wise median (Yin et al., ICML 2018): the lower median for an even count,
//! as torch's `median` (which the Flag repository's baseline uses).

/// Per coordinate, the middle value (the lower of the two middle ones for an even count).
pub fn median(vectors: &[Vec<f32>]) -> Vec<f32> {
    super::coordinate_wise(vectors, lower_median)
}

/// The lower median of `values` (reordered in place).
pub(crate) fn lower_median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    values[(values.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    /// By hand: odd count the middle; even count the lower middle; an infinity from a
    /// faulty worker only moves the median by one rank.
    #[test]
    fn takes_the_lower_middle_value() {
        let vectors = vec![
            vec![5.0, 1.0, 0.0],
            vec![1.0, 4.0, f32::INFINITY],
            vec![3.0, 2.0, 2.0],
            vec![9.0, 3.0, 1.0],
        ];
        assert_eq!(super::median(&vectors), [3.0, 2.0, 1.0]);
        assert_eq!(super::median(&vectors[..3]), [3.0, 2.0, 2.0]);
    }
}
