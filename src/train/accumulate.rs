//! Gradient accumulation (`train.accumulate = k`): a step's batch runs as k micro-batches,
//! one forward and backward each, so only one micro-batch's activations are alive at a
//! time; each micro-batch's loss is weighted by its share of the batch, so the summed
//! gradient is the gradient of the batch's mean loss, as without accumulation (up to float
//! summation order). Batch norms see micro-batch statistics, as in PyTorch.

use crate::recipes::Reduce;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The (start, length) of `k` micro-batches of a batch of `size`, as even as possible
/// (the first ones one longer); fewer when the batch has fewer than `k` samples.
pub fn micro_batches(size: usize, k: usize) -> Vec<(usize, usize)> {
    let parts = k.clamp(1, size.max(1));
    let (base, extra) = (size / parts, size % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let part = (start, len);
            start += len;
            part
        })
        .collect()
}

/// `a + b` per trainable tensor of `model` (a tensor with a gradient in one only keeps it).
pub fn add_gradients<M: Module>(
    model: &M,
    mut a: GradientsParams,
    mut b: GradientsParams,
) -> GradientsParams {
    struct Add<'a> {
        a: &'a mut GradientsParams,
        b: &'a mut GradientsParams,
        out: GradientsParams,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let sum = match (self.a.remove::<D>(param.id), self.b.remove::<D>(param.id)) {
                (Some(x), Some(y)) => x + y,
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => return,
            };
            self.out.register::<D>(param.id, sum);
        }
    }
    let mut add = Add {
        a: &mut a,
        b: &mut b,
        out: GradientsParams::new(),
    };
    model.visit(&mut add);
    add.out
}

/// A rank's figures of its batch, combined over micro-batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchFigures {
    pub loss: f64,
    pub correct: Option<usize>,
    pub metrics: Vec<(&'static str, f64)>,
}

impl BatchFigures {
    /// Adds a micro-batch holding `share` of the batch: losses and per-sample metrics
    /// weighted by the share, counts summed, maxima kept.
    pub fn add(
        &mut self,
        first: bool,
        share: f64,
        loss: f64,
        correct: Option<usize>,
        metrics: &[(&'static str, f64)],
        reduce: impl Fn(&str) -> Reduce,
    ) {
        if first {
            self.correct = correct;
            self.metrics = metrics.iter().map(|&(name, _)| (name, 0.0)).collect();
            self.metrics
                .iter_mut()
                .filter(|(name, _)| reduce(name) == Reduce::Max)
                .for_each(|(_, value)| *value = f64::NEG_INFINITY);
        } else {
            self.correct = self.correct.zip(correct).map(|(a, b)| a + b);
        }
        self.loss += share * loss;
        for ((name, total), (_, value)) in self.metrics.iter_mut().zip(metrics) {
            match reduce(name) {
                Reduce::SampleMean => *total += share * value,
                Reduce::Sum => *total += value,
                Reduce::Max => *total = total.max(*value),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_batches_cover_the_batch_evenly() {
        assert_eq!(micro_batches(10, 3), [(0, 4), (4, 3), (7, 3)]);
        assert_eq!(micro_batches(8, 4), [(0, 2), (2, 2), (4, 2), (6, 2)]);
        assert_eq!(micro_batches(2, 4), [(0, 1), (1, 1)]);
        assert_eq!(micro_batches(5, 1), [(0, 5)]);
        assert_eq!(micro_batches(5, 0), [(0, 5)]);
    }

    #[test]
    fn figures_combine_as_one_batch_would() {
        let reduce = |name: &str| match name {
            "count" => Reduce::Sum,
            "worst" => Reduce::Max,
            _ => Reduce::SampleMean,
        };
        let mut figures = BatchFigures::default();
        let metrics = |m: f64, c: f64, w: f64| [("mean", m), ("count", c), ("worst", w)];
        figures.add(true, 0.75, 2.0, Some(5), &metrics(1.0, 2.0, -3.0), reduce);
        figures.add(false, 0.25, 6.0, Some(1), &metrics(5.0, 1.0, -4.0), reduce);
        assert_eq!(figures.loss, 0.75 * 2.0 + 0.25 * 6.0);
        assert_eq!(figures.correct, Some(6));
        assert_eq!(
            figures.metrics,
            [("mean", 0.75 + 1.25), ("count", 3.0), ("worst", -3.0)]
        );
    }
}
