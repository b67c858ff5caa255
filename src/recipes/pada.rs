//! PA&DA's importance sampling of paths and data (Lu et al., CVPR 2023; the official
//! `ShunLu91/PA-DA`, `nasbench201/train_panda_201.py`), and the gradient variance it is meant
//! to reduce. Followed as the official code does it:
//!
//! - Paths: one distribution over operations, shared by every edge; each edge draws its
//!   operation from it. After each step, an operation's importance is the summed gradient
//!   norm of its convolutions over the cells' edges that chose it, divided by the number of
//!   edges that chose it, folded in as the mean of the old value and the new one (from 0 at
//!   the start of each epoch); weight-free operations stay at 0. At an epoch's end
//!   p = importance / sum * tau + uniform * (1 - tau), tau = epoch / epochs.
//! - Data: each training image's score is ||softmax(logits) - one_hot(label)||_2 from the
//!   training forward pass (the gradient norm of the loss at the logits), folded in the same
//!   way when an image is seen twice in an epoch, unseen images 0. At an epoch's end the next
//!   epoch draws its examples with replacement with p = score / sum * tau + (1 - tau) / N.
//!
//! Neither reweights the loss by 1/p (the official code does not).

use crate::models::cell_supernet::{EDGES, OPERATIONS};
use crate::rng::{Rng, Stream};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The official code's running mean: the first value counts half.
fn fold(old: f64, new: f64) -> f64 {
    (old + new) / 2.0
}

/// The distribution paths are drawn from and this epoch's operation importances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathImportance {
    pub probabilities: [f64; OPERATIONS.len()],
    importance: [f64; OPERATIONS.len()],
}

impl Default for PathImportance {
    fn default() -> Self {
        Self {
            probabilities: [1.0 / OPERATIONS.len() as f64; OPERATIONS.len()],
            importance: [0.0; OPERATIONS.len()],
        }
    }
}

impl PathImportance {
    /// The path of `step`: each edge's operation drawn from the current distribution.
    pub fn sample(&self, seed: u64, step: usize) -> [usize; EDGES] {
        let mut rng = Rng::new(seed, Stream::Nas, step as u64, 1);
        [0; EDGES].map(|_| {
            let u = rng.uniform();
            let mut cumulative = 0.0;
            for (operation, p) in self.probabilities.iter().enumerate() {
                cumulative += p;
                if u < cumulative {
                    return operation;
                }
            }
            // Rounding left u above the last running sum: the last operation with mass.
            self.probabilities
                .iter()
                .rposition(|&p| p > 0.0)
                .unwrap_or(0)
        })
    }

    /// A step's gradient norms of `path`'s operations, summed over the cells (as
    /// `CellSupernet::operation_gradient_norms` gives them).
    pub fn observe(&mut self, path: [usize; EDGES], norm_sums: [f64; OPERATIONS.len()]) {
        for (operation, &sum) in norm_sums.iter().enumerate() {
            if sum != 0.0 {
                let edges = path.iter().filter(|&&o| o == operation).count();
                self.importance[operation] =
                    fold(self.importance[operation], sum / edges.max(1) as f64);
            }
        }
    }

    /// The end of an epoch: the next epoch's distribution, importances reset.
    pub fn end_epoch(&mut self, tau: f64) {
        let total: f64 = self.importance.iter().sum();
        let uniform = 1.0 / OPERATIONS.len() as f64;
        for (p, &g) in self.probabilities.iter_mut().zip(&self.importance) {
            let normalised = if total > 0.0 { g / total } else { uniform };
            *p = normalised * tau + uniform * (1.0 - tau);
        }
        self.importance = [0.0; OPERATIONS.len()];
    }
}

/// This epoch's per-image scores (image index -> score; unseen images 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataImportance {
    scores: Vec<f64>,
}

impl DataImportance {
    /// Scores of the images `indices` of a step.
    pub fn observe(&mut self, indices: &[usize], scores: &[f64]) {
        for (&index, &score) in indices.iter().zip(scores) {
            if index >= self.scores.len() {
                self.scores.resize(index + 1, 0.0);
            }
            let old = self.scores[index];
            self.scores[index] = if old != 0.0 { fold(old, score) } else { score };
        }
    }

    /// The end of an epoch: the next epoch's sampling weights over `len` training images,
    /// scores reset.
    pub fn end_epoch(&mut self, tau: f64, len: usize) -> Vec<f64> {
        self.scores.resize(len.max(self.scores.len()), 0.0);
        let total: f64 = self.scores[..len].iter().sum();
        let uniform = 1.0 / len.max(1) as f64;
        let weights = self.scores[..len]
            .iter()
            .map(|&s| {
                let normalised = if total > 0.0 { s / total } else { uniform };
                normalised * tau + uniform * (1.0 - tau)
            })
            .collect();
        self.scores.clear();
        weights
    }
}

/// ||softmax(logits) - one_hot(labels)||_2 of each row: the norm of the cross-entropy's
/// gradient with respect to the logits.
pub fn logit_gradient_norms(logits: Tensor<2>, labels: Tensor<1, Int>) -> Vec<f64> {
    let classes = logits.dims()[1];
    let probabilities = burn::tensor::activation::softmax(logits.detach(), 1);
    let one_hot = labels.one_hot(classes).float();
    (probabilities - one_hot)
        .square()
        .sum_dim(1)
        .sqrt()
        .into_data()
        .iter::<f64>()
        .collect()
}

/// The variance of the training gradient over an epoch's steps: the trace of the covariance
/// of the gradient vector, mean ||g_t||^2 - ||mean g_t||^2 over every trainable tensor
/// (tensors a step did not train count as zero). It includes the drift of the weights over
/// the epoch, the same for every sampling scheme compared.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GradientVariance {
    sum: Vec<f64>,
    squared_norms: f64,
    steps: usize,
}

impl GradientVariance {
    pub fn observe<M: Module>(&mut self, model: &M, grads: &GradientsParams) {
        let gradient = flat_gradient(model, grads);
        if self.sum.len() != gradient.len() {
            self.sum = vec![0.0; gradient.len()];
        }
        for (s, &g) in self.sum.iter_mut().zip(&gradient) {
            *s += g as f64;
        }
        self.squared_norms += gradient.iter().map(|&g| (g as f64).powi(2)).sum::<f64>();
        self.steps += 1;
    }

    /// The epoch's variance (None without steps); resets.
    pub fn end_epoch(&mut self) -> Option<f64> {
        let steps = std::mem::take(&mut self.steps);
        let squared_norms = std::mem::take(&mut self.squared_norms);
        let sum = std::mem::take(&mut self.sum);
        (steps > 0).then(|| {
            let n = steps as f64;
            let mean_norm: f64 = sum.iter().map(|s| (s / n).powi(2)).sum();
            (squared_norms / n - mean_norm).max(0.0)
        })
    }
}

/// Every trainable tensor's gradient, flattened in visiting order (zeros where none).
fn flat_gradient<M: Module>(model: &M, grads: &GradientsParams) -> Vec<f32> {
    struct Collect<'a> {
        grads: &'a GradientsParams,
        present: Vec<Tensor<1>>,
        /// (length, whether it has a gradient) of each trainable tensor.
        layout: Vec<(usize, bool)>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !param.is_require_grad() {
                return;
            }
            let len = param.shape().num_elements();
            match self.grads.get::<D>(param.id) {
                Some(grad) => {
                    self.present.push(grad.reshape([len]));
                    self.layout.push((len, true));
                }
                None => self.layout.push((len, false)),
            }
        }
    }
    let mut collect = Collect {
        grads,
        present: Vec::new(),
        layout: Vec::new(),
    };
    model.visit(&mut collect);
    let values: Vec<f32> = match collect.present.is_empty() {
        true => Vec::new(),
        false => Tensor::cat(collect.present, 0)
            .into_data()
            .iter::<f32>()
            .collect(),
    };
    let mut out = Vec::with_capacity(collect.layout.iter().map(|(n, _)| n).sum());
    let mut read = 0;
    for (len, present) in collect.layout {
        match present {
            true => {
                out.extend_from_slice(&values[read..read + len]);
                read += len;
            }
            false => out.resize(out.len() + len, 0.0),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official update worked by hand (in the comments).
    #[test]
    fn path_importance_folds_and_mixes_as_the_official_code() {
        let mut paths = PathImportance::default();
        // Step 1: conv3x3 on two edges (norm sum 4: per edge 2), conv1x1 on one (norm 6).
        paths.observe([0, 0, 1], [4.0, 6.0, 0.0]);
        // Step 2: conv3x3 on one edge (norm 5), pooling on two.
        paths.observe([0, 2, 2], [5.0, 0.0, 0.0]);
        // conv3x3: fold(fold(0, 2), 5) = (1 + 5) / 2 = 3; conv1x1: fold(0, 6) = 3; pool 0.
        assert_eq!(paths.importance, [3.0, 3.0, 0.0]);
        paths.end_epoch(0.5);
        let third = 1.0 / 3.0;
        let expected = [
            0.5 * 0.5 + third * 0.5,
            0.5 * 0.5 + third * 0.5,
            third * 0.5,
        ];
        for (p, e) in paths.probabilities.iter().zip(expected) {
            assert!((p - e).abs() < 1e-15, "{p} vs {e}");
        }
        assert_eq!(paths.importance, [0.0; 3]);
        // At tau = 0 the distribution is uniform again whatever was observed.
        paths.observe([1, 1, 1], [9.0, 0.0, 0.0]);
        paths.end_epoch(0.0);
        assert_eq!(paths.probabilities, [third; 3]);
    }

    /// Drawn paths follow the distribution (5000 draws of 3 edges, within 4 standard errors)
    /// and an operation of probability 0 is never drawn.
    #[test]
    fn paths_are_drawn_from_the_distribution() {
        let paths = PathImportance {
            probabilities: [0.6, 0.4, 0.0],
            importance: [0.0; 3],
        };
        let mut counts = [0usize; 3];
        let draws = 5000;
        for step in 0..draws {
            for o in paths.sample(7, step) {
                counts[o] += 1;
            }
        }
        assert_eq!(counts[2], 0);
        let n = (draws * EDGES) as f64;
        let share = counts[0] as f64 / n;
        let error = (0.6f64 * 0.4 / n).sqrt();
        assert!((share - 0.6).abs() < 4.0 * error, "{share}");
        // Repeatable: the same (seed, step), the same path.
        assert_eq!(paths.sample(7, 11), paths.sample(7, 11));
    }

    #[test]
    fn data_importance_mixes_scores_with_uniform() {
        let mut data = DataImportance::default();
        data.observe(&[0, 2], &[1.0, 3.0]);
        data.observe(&[2], &[5.0]);
        // Image 2: fold(3, 5) = 4; image 0: 1; images 1 and 3 unseen.
        let weights = data.end_epoch(0.5, 4);
        let expected = [0.2 * 0.5 + 0.125, 0.125, 0.8 * 0.5 + 0.125, 0.125];
        for (w, e) in weights.iter().zip(expected) {
            assert!((w - e).abs() < 1e-15, "{w} vs {e}");
        }
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // Reset: nothing observed, uniform.
        assert_eq!(data.end_epoch(1.0, 2), vec![0.5, 0.5]);
    }

    /// softmax - one_hot by hand: logits (0, ln 3) give probabilities (1/4, 3/4); label 0:
    /// (-3/4, 3/4), norm 3/4 * sqrt 2.
    #[test]
    fn logit_gradient_norm_is_softmax_minus_one_hot() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data([[0.0f32, 3f32.ln()]], &device);
        let labels = Tensor::<1, Int>::from_data([0i64], &device);
        let norms = logit_gradient_norms(logits, labels);
        let expected = 0.75 * 2f64.sqrt();
        // f32 softmax: a few ulps.
        assert!((norms[0] - expected).abs() < 1e-6, "{}", norms[0]);
    }

    /// Two steps with gradients g1, g2: variance = (|g1|^2 + |g2|^2) / 2 - |(g1 + g2) / 2|^2
    /// = |g1 - g2|^2 / 4.
    #[test]
    fn gradient_variance_is_the_trace_of_the_covariance() {
        let device = Device::flex().autodiff();
        let linear = burn::nn::LinearConfig::new(2, 1)
            .with_bias(false)
            .init(&device);
        let mut variance = GradientVariance::default();
        let mut gradients = Vec::new();
        for x in [[1.0f32, 2.0], [3.0, -1.0]] {
            let input = Tensor::<2>::from_data([x], &device);
            let grads =
                GradientsParams::from_grads(linear.forward(input).sum().backward(), &linear);
            // d(w . x)/dw = x.
            gradients.push(x);
            variance.observe(&linear, &grads);
        }
        let difference: f64 = (0..2)
            .map(|i| (gradients[0][i] - gradients[1][i]) as f64)
            .map(|d| d * d)
            .sum();
        let measured = variance.end_epoch().unwrap();
        assert!((measured - difference / 4.0).abs() < 1e-9, "{measured}");
        assert_eq!(variance.end_epoch(), None);
    }
}
