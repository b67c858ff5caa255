//! The plain mean: what FedAvg and data-parallel SGD use, robust to nothing; and the
//! weighted sum of whole models that FedAvg's variants aggregate with.

use crate::train::Weights;

/// The coordinate-wise mean (summed in f64 in worker order).
pub fn mean(vectors: &[Vec<f32>]) -> Vec<f32> {
    super::coordinate_wise(vectors, |column| super::mean_of(column))
}

/// `items` summed in order, each scaled by its factor; `zero` when there are none.
pub fn weighted_sum(items: &[(&Weights, f32)], zero: &Weights) -> anyhow::Result<Weights> {
    let mut sum: Option<Weights> = None;
    for (weights, factor) in items {
        let term = match *factor == 1.0 {
            true => (*weights).clone(),
            false => weights.scale(*factor),
        };
        sum = Some(match sum {
            None => term,
            Some(sum) => sum.add(&term)?,
        });
    }
    Ok(sum.unwrap_or_else(|| zero.clone()))
}

#[cfg(test)]
mod tests {
    /// By hand: the mean of [1, -2], [3, 4] and [5, 1] is [3, 1], exactly.
    #[test]
    fn averages_each_coordinate() {
        let vectors = vec![vec![1.0, -2.0], vec![3.0, 4.0], vec![5.0, 1.0]];
        assert_eq!(super::mean(&vectors), [3.0, 1.0]);
    }
}
