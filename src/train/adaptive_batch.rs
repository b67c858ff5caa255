//! Adaptive batch sizes (Lau, Liu, Kolar et al., "AdAdaGrad: Adaptive Batch Size Schemes for
//! Adaptive Gradient Methods", official code `timlautk/AdAdaGrad`): the batch grows when the
//! gradient's sampling noise is large against the gradient itself.
//!
//! With per-sample gradients `g_i`, mean `g` and sums over parameter tensors `l`:
//! - norm test: `b >= sum_l ||Var_i(g_i^l)||_1 / (eta^2 sum_l ||g^l||^2)`;
//! - augmented inner-product test: `b >= max(sum_l Var_i(<g_i^l, g^l>) / (theta^2 (sum_l
//!   ||g^l||^2)^2), sum_l sum_j Var_i(o_ij^l) / (nu^2 sum_l ||g^l||^2))` with the orthogonal
//!   part `o_i^l = g_i^l - (<g_i^l, g^l> / ||g^l||^2) g^l` (per tensor, as the official code).
//!
//! Per-sample variances are estimated from micro-batch gradients instead of per-sample ones
//! (Burn has no vmap): the batch is split into `M` micro-batches of sizes `n_m`, with mean
//! gradients `G_m` and `g = sum n_m G_m / b`. Since `Var(G_m) = sigma^2 / n_m` for iid samples,
//! `sigma^2 ~ sum_m n_m (G_m - g)^2 / (M - 1)` (elementwise), which is unbiased for any
//! micro-batch sizes; the same estimator serves the inner products and orthogonal parts. With
//! micro-batches of one sample it is the official per-sample estimate. Its noise falls with
//! `M` (a chi-squared with `M - 1` degrees of freedom), and, as in the official code, the
//! denominators use the noisy `||g||^2`, which overestimates the true squared gradient norm by
//! `tr(Sigma) / b`: the tests are conservative (they grow the batch later).
//!
//! The micro-batch gradients come from a detached copy of the model (batch-norm statistics are
//! not touched); the step itself uses the ordinary full-batch gradient.

use crate::batch::Batch;
use crate::config::AdaptiveBatchConfig;
use crate::config::schema::BatchTestName;
use crate::usage_error;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchTest {
    Norm { eta: f64 },
    InnerProduct { theta: f64, nu: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct AdaptiveBatch {
    pub test: BatchTest,
    pub micro_batches: usize,
    pub max_batch_size: usize,
    pub test_interval: usize,
}

/// The sums the tests need, over all parameter tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Statistics {
    /// `sum_l ||Var_i(g_i^l)||_1`
    pub variance: f64,
    /// `sum_l Var_i(<g_i^l, g^l>)`
    pub inner_product_variance: f64,
    /// `sum_l sum_j Var_i(o_ij^l)`
    pub orthogonal_variance: f64,
    /// `sum_l ||g^l||^2`
    pub mean_squared_norm: f64,
}

impl AdaptiveBatch {
    pub fn from_config(config: &AdaptiveBatchConfig, batch_size: usize) -> anyhow::Result<Self> {
        let positive = |key: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(usage_error!(
                    "key `adaptive_batch.{key}`: expected a positive number, got {value}"
                ))
            }
        };
        let test = match config.test {
            BatchTestName::Norm => BatchTest::Norm {
                eta: positive("eta", config.eta)?,
            },
            BatchTestName::InnerProduct => BatchTest::InnerProduct {
                theta: positive("theta", config.theta)?,
                nu: positive("nu", config.nu)?,
            },
        };
        if config.micro_batches < 2 {
            return Err(usage_error!(
                "key `adaptive_batch.micro_batches`: the variance needs at least 2, got {}",
                config.micro_batches
            ));
        }
        if batch_size < 2 {
            return Err(usage_error!(
                "key `data.batch_size`: adaptive batches start from at least 2 samples (the variance needs two micro-batches), got {batch_size}"
            ));
        }
        if config.test_interval == 0 {
            return Err(usage_error!(
                "key `adaptive_batch.test_interval`: expected a positive number of steps"
            ));
        }
        if config.max_batch_size < batch_size {
            return Err(usage_error!(
                "key `adaptive_batch.max_batch_size`: expected at least data.batch_size ({batch_size}), got {}",
                config.max_batch_size
            ));
        }
        Ok(Self {
            test,
            micro_batches: config.micro_batches,
            max_batch_size: config.max_batch_size,
            test_interval: config.test_interval,
        })
    }

    pub fn due(&self, step: usize) -> bool {
        step.is_multiple_of(self.test_interval)
    }

    /// Sizes of the micro-batches a batch of `batch` samples is split into (as equal as
    /// possible, at most `micro_batches`, at least 2 samples in total).
    pub fn split(&self, batch: usize) -> Vec<usize> {
        let m = self.micro_batches.min(batch).max(1);
        (0..m)
            .map(|i| batch / m + usize::from(i < batch % m))
            .collect()
    }

    /// The batch size the test asks for: never smaller than `current`, at most the maximum.
    pub fn next_batch_size(&self, stats: &Statistics, current: usize) -> usize {
        let g2 = stats.mean_squared_norm;
        let wanted = if g2.is_nan() || g2 <= 0.0 {
            // A zero gradient says nothing about the noise: keep the batch.
            0.0
        } else {
            match self.test {
                BatchTest::Norm { eta } => stats.variance / (eta * eta * g2),
                BatchTest::InnerProduct { theta, nu } => f64::max(
                    stats.inner_product_variance / (theta * theta * g2 * g2),
                    stats.orthogonal_variance / (nu * nu * g2),
                ),
            }
        };
        let wanted = if wanted.is_nan() {
            // A failed estimate (a non-finite micro-batch gradient) keeps the batch.
            0
        } else if wanted.is_finite() {
            wanted.ceil() as usize
        } else {
            self.max_batch_size
        };
        wanted.max(current).min(self.max_batch_size)
    }
}

impl AdaptiveBatch {
    /// The statistics of `batch` from the gradients of its micro-batches, computed on a
    /// detached copy of `model` with `loss_of` (the recipe's training loss).
    pub fn measure<M: Module>(
        &self,
        model: &M,
        batch: &Batch,
        loss_of: impl FnMut(&M, &Batch) -> Tensor<1>,
    ) -> Statistics {
        let whole = Share {
            first: 0,
            global: batch.size,
        };
        self.measure_share(model, batch, whole, loss_of, |_, grads, _| grads)
    }

    /// [`Self::measure`] for a data-parallel rank holding `batch`, the `share` of the global
    /// batch: the micro-batches are those of the global batch, each rank computes the
    /// gradient of its part of every micro-batch, and `average(model, grads, weight)` sums
    /// `weight * grads` over the ranks (the part's fraction of its micro-batch), so every
    /// rank sees the statistics one process would.
    pub fn measure_share<M: Module>(
        &self,
        model: &M,
        batch: &Batch,
        share: Share,
        mut loss_of: impl FnMut(&M, &Batch) -> Tensor<1>,
        mut average: impl FnMut(&M, GradientsParams, f64) -> GradientsParams,
    ) -> Statistics {
        let copy = model.valid().train();
        let mut micro = Vec::new();
        let mut start = 0;
        let mine = share.first..share.first + batch.size;
        for size in self.split(share.global) {
            let (low, high) = (start.max(mine.start), (start + size).min(mine.end));
            let grads = if low < high {
                let part = batch.slice(low - share.first, high - low);
                GradientsParams::from_grads(loss_of(&copy, &part).backward(), &copy)
            } else {
                GradientsParams::new()
            };
            let weight = high.saturating_sub(low) as f64 / size as f64;
            micro.push((average(&copy, grads, weight), size));
            start += size;
        }
        statistics(&copy, &micro)
    }
}

/// The batch-size test as a part of the training step: every `test_interval` steps it
/// measures the step's batch and chooses the batch size of the following steps.
pub struct BatchSizeTest {
    test: AdaptiveBatch,
    next: Option<usize>,
}

impl BatchSizeTest {
    pub fn new(test: AdaptiveBatch) -> Self {
        Self { test, next: None }
    }
}

impl<M: Module> crate::train::extension::StepExtension<M> for BatchSizeTest {
    fn name(&self) -> &str {
        "[adaptive_batch]"
    }

    /// The variance test on this batch (skipped once the batch is as large as it may get, as
    /// the official code does).
    fn after_backward(
        &mut self,
        view: &mut crate::train::extension::StepView<'_, M>,
        _grads: &GradientsParams,
    ) {
        let current = view.global_samples;
        let cap = self.test.max_batch_size.min(view.train_len);
        if !self.test.due(view.step) || current >= cap {
            return;
        }
        let share = Share {
            first: view.first,
            global: current,
        };
        let (step, all_reduce) = (view.step, view.all_reduce);
        let loss_at = &mut *view.loss_at;
        let stats = self.test.measure_share(
            view.model,
            view.batch,
            share,
            |copy, part| loss_at(copy, part),
            |copy, grads, weight| {
                let what = format!("the batch-size test's all-reduce at step {step}");
                all_reduce(copy, grads, weight, &what)
            },
        );
        self.next = Some(
            self.test
                .next_batch_size(&stats, current)
                .min(view.train_len),
        );
    }

    fn next_batch_size(&mut self) -> Option<usize> {
        self.next.take()
    }
}

/// Where a rank's batch lies in the global batch.
#[derive(Clone, Copy, Debug)]
pub struct Share {
    /// The position of its first sample.
    pub first: usize,
    /// The size of the global batch.
    pub global: usize,
}

/// The test statistics from micro-batch gradients `(grads, samples)` of the parameters of
/// `model` (one device read).
pub fn statistics<M: Module>(model: &M, micro: &[(GradientsParams, usize)]) -> Statistics {
    struct Visitor<'a> {
        micro: &'a [(GradientsParams, usize)],
        sums: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Visitor<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grads: Option<Vec<(Tensor<D>, f64)>> = self
                .micro
                .iter()
                .map(|(g, n)| g.get::<D>(param.id).map(|t| (t, *n as f64)))
                .collect();
            let Some(grads) = grads else { return };
            if grads.len() < 2 {
                return;
            }
            let total: f64 = grads.iter().map(|(_, n)| n).sum();
            let dof = (grads.len() - 1) as f64;
            let mean = grads
                .iter()
                .map(|(g, n)| g.clone().mul_scalar(*n / total))
                .reduce(|a, b| a + b)
                .expect("at least two micro-batches");
            let mean_sq = mean.clone().square().sum();
            let safe_mean_sq = mean_sq.clone().clamp_min(1e-30);
            let (mut variance, mut ip_variance, mut orth_variance) = (None, None, None);
            let add = |acc: &mut Option<Tensor<1>>, term: Tensor<1>| {
                *acc = Some(match acc.take() {
                    Some(a) => a + term,
                    None => term,
                });
            };
            for (g, n) in &grads {
                let weight = n / dof;
                let deviation = g.clone() - mean.clone();
                add(&mut variance, deviation.square().sum().mul_scalar(weight));
                let inner = (g.clone() * mean.clone()).sum();
                add(
                    &mut ip_variance,
                    (inner.clone() - mean_sq.clone())
                        .square()
                        .mul_scalar(weight),
                );
                let coefficient = (inner / safe_mean_sq.clone()).reshape([1usize; D]);
                let orthogonal = g.clone() - mean.clone() * coefficient;
                add(
                    &mut orth_variance,
                    orthogonal.square().sum().mul_scalar(weight),
                );
            }
            self.sums.push(Tensor::cat(
                vec![
                    variance.expect("non-empty"),
                    ip_variance.expect("non-empty"),
                    orth_variance.expect("non-empty"),
                    mean_sq,
                ],
                0,
            ));
        }
    }
    let mut visitor = Visitor {
        micro,
        sums: Vec::new(),
    };
    model.visit(&mut visitor);
    if visitor.sums.is_empty() {
        return Statistics::default();
    }
    let count = visitor.sums.len();
    let values: Vec<f64> = Tensor::cat(visitor.sums, 0)
        .reshape([count, 4])
        .sum_dim(0)
        .into_data()
        .iter::<f64>()
        .collect();
    Statistics {
        variance: values[0],
        inner_product_variance: values[1],
        orthogonal_variance: values[2],
        mean_squared_norm: values[3],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[derive(Module, Debug)]
    struct Pair {
        w: Param<Tensor<1>>,
    }

    #[test]
    fn statistics_match_a_hand_computation() {
        let device = Device::flex();
        let pair = Pair {
            w: Param::from_tensor(Tensor::zeros([2], &device)),
        };
        let grads = |values: [f32; 2]| {
            let mut g = GradientsParams::new();
            g.register(
                pair.w.id,
                Tensor::<1>::from_data(TensorData::new(values.to_vec(), [2]), &device),
            );
            (g, 1)
        };
        // G = [1, 2] and [3, 4]: mean [2, 3], |mean|^2 = 13; deviations +-[1, 1] -> 4;
        // inner products 8 and 18 -> (8-13)^2 + (18-13)^2 = 50; orthogonal parts
        // +-[3, -2] / 13 -> 2 * 13 / 169 = 2/13.
        let stats = statistics(&pair, &[grads([1.0, 2.0]), grads([3.0, 4.0])]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-5 * b.abs().max(1.0);
        assert!(close(stats.variance, 4.0), "{stats:?}");
        assert!(close(stats.mean_squared_norm, 13.0), "{stats:?}");
        assert!(close(stats.inner_product_variance, 50.0), "{stats:?}");
        assert!(close(stats.orthogonal_variance, 2.0 / 13.0), "{stats:?}");
    }

    fn adaptive(test: BatchTest) -> AdaptiveBatch {
        AdaptiveBatch {
            test,
            micro_batches: 4,
            max_batch_size: 1000,
            test_interval: 1,
        }
    }

    #[test]
    fn tests_grow_never_shrink_and_respect_the_cap() {
        let norm = adaptive(BatchTest::Norm { eta: 0.5 });
        let stats = Statistics {
            variance: 10.0,
            inner_product_variance: 0.0,
            orthogonal_variance: 0.0,
            mean_squared_norm: 1.0,
        };
        // 10 / (0.25 * 1) = 40.
        assert_eq!(norm.next_batch_size(&stats, 8), 40);
        assert_eq!(norm.next_batch_size(&stats, 64), 64);
        let big = Statistics {
            variance: 1e9,
            ..stats
        };
        assert_eq!(norm.next_batch_size(&big, 8), 1000);
        let ip = adaptive(BatchTest::InnerProduct {
            theta: 1.0,
            nu: 0.5,
        });
        let stats = Statistics {
            variance: 0.0,
            inner_product_variance: 8.0,
            orthogonal_variance: 3.0,
            mean_squared_norm: 2.0,
        };
        // max(8 / (1 * 4), 3 / (0.25 * 2)) = max(2, 6) = 6.
        assert_eq!(ip.next_batch_size(&stats, 4), 6);
        assert_eq!(norm.split(10), vec![3, 3, 2, 2]);
        assert_eq!(norm.split(3), vec![1, 1, 1]);
    }
}
