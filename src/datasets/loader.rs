//! Batches for training and evaluation. Training batches are built on a background thread
//! (shuffle, augment, normalise) and handed over through a bounded channel, so the next batch
//! is ready when the training step asks for it.
//!
//! Which images and which augmentations make step `s` depend only on (seed, s): the epoch is
//! `s / steps_per_epoch`, its order is a permutation keyed by (seed, epoch), and each sample's
//! augmentation is keyed by (seed, s, position). A loader started at any step reproduces the
//! uninterrupted sequence exactly. A data-parallel rank builds only its shard of each batch,
//! with the augmentation of each sample's position in the global batch, so the ranks' shards
//! together are exactly the one-process batch.

use super::augment::{Augment, normalisation, write_image};
use super::image_set::ImageSet;
use crate::distributed::shard::Shard;
use crate::rng::{Rng, Stream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// A batch in host memory, ready to become tensors.
#[derive(Clone, Debug)]
pub struct HostBatch {
    /// Normalised images, `[batch, channels, height, width]` row-major.
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    pub shape: [usize; 4],
    /// Each image's index in its set (what per-example statistics are kept by).
    pub indices: Vec<usize>,
}

/// How images are normalised and augmented.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub augment: Augment,
}

/// Builds the batch of the given image indices; `first_position` is the position of the
/// first one in its global batch (it keys the augmentation).
fn build_batch(
    set: &ImageSet,
    indices: &[usize],
    first_position: usize,
    pipeline: &Pipeline,
    augment_key: Option<(u64, u64)>,
) -> HostBatch {
    let (scale, shift) = normalisation(&pipeline.mean, &pipeline.std);
    let size = set.image_size();
    let mut images = vec![0f32; indices.len() * size];
    let mut labels = Vec::with_capacity(indices.len());
    for (position, (&index, out)) in indices.iter().zip(images.chunks_mut(size)).enumerate() {
        let position = (first_position + position) as u64;
        let mut rng =
            augment_key.map(|(seed, step)| Rng::new(seed, Stream::Augment, step, position));
        let augment = rng.as_mut().map(|rng| (&pipeline.augment, rng));
        write_image(
            set.image(index),
            out,
            set.channels,
            set.height,
            set.width,
            &scale,
            &shift,
            augment,
        );
        labels.push(set.labels[index] as i64);
    }
    HostBatch {
        images,
        labels,
        shape: [indices.len(), set.channels, set.height, set.width],
        indices: indices.to_vec(),
    }
}

/// The order of the training set in `epoch`.
pub fn epoch_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    Rng::new(seed, Stream::Shuffle, epoch, 0).permutation(len)
}

/// Training batches for steps `start..end`, produced ahead on a background thread. The last
/// incomplete batch of each epoch is dropped, as is usual, so every step has the same size.
pub struct TrainLoader {
    receiver: Receiver<HostBatch>,
    worker: Option<JoinHandle<()>>,
    pub steps_per_epoch: usize,
}

/// Per-example sampling weights: batches draw examples with probability proportional to
/// their weight, with replacement, keyed by (seed, step), instead of walking epoch orders
/// (importance sampling; the loss correction, if any, is the caller's).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingWeights {
    weights: Vec<f64>,
    /// Running sums of the weights, for drawing by binary search.
    cumulative: Vec<f64>,
}

impl SamplingWeights {
    /// Weights for a set of `len` examples: finite, non-negative, not all zero.
    pub fn new(weights: Vec<f64>, len: usize) -> Result<Self, String> {
        if weights.len() != len {
            return Err(format!(
                "{} sampling weights for {len} training examples",
                weights.len()
            ));
        }
        if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
            return Err(format!(
                "sampling weight {i} is {}: expected finite and non-negative",
                weights[i]
            ));
        }
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        if total <= 0.0 {
            return Err("the sampling weights are all zero".into());
        }
        Ok(Self {
            weights,
            cumulative,
        })
    }

    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The examples of the global batch of `step`.
    fn draw(&self, seed: u64, step: usize, batch_size: usize) -> Vec<usize> {
        let total = *self.cumulative.last().expect("checked non-empty");
        let mut rng = Rng::new(seed, Stream::Sample, step as u64, 0);
        (0..batch_size)
            .map(|_| {
                let u = rng.uniform() * total;
                // The first example whose running sum exceeds u (never a zero-weight one).
                self.cumulative
                    .partition_point(|&c| c <= u)
                    .min(self.cumulative.len() - 1)
            })
            .collect()
    }
}

/// Which training batches a loader produces.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    pub batch_size: usize,
    pub seed: u64,
    /// First step to produce.
    pub start: usize,
    /// One past the last step.
    pub end: usize,
    /// Batches prepared ahead.
    pub prefetch: usize,
    /// Adaptive batch sizes: the samples already consumed. Batches then take the next
    /// `batch_size` samples of the stream of epoch orders (crossing epoch boundaries, nothing
    /// dropped), so a loader restarted with a new batch size continues where the old one
    /// stopped. `None`: fixed-size batches laid out per epoch as described above.
    pub cursor: Option<usize>,
    /// The part of each global batch this loader builds (data-parallel ranks).
    pub shard: Shard,
    /// Weighted sampling instead of epoch orders (None: every example once per epoch).
    pub weights: Option<Arc<SamplingWeights>>,
}

impl TrainLoader {
    pub fn new(set: Arc<ImageSet>, pipeline: Pipeline, plan: BatchPlan) -> Self {
        let steps_per_epoch = (set.len() / plan.batch_size).max(1);
        let (sender, receiver) = sync_channel(plan.prefetch.max(1));
        let worker = std::thread::Builder::new()
            .name("stoke-loader".into())
            .spawn(move || produce(set, pipeline, plan, sender))
            .expect("spawning the data loader thread");
        Self {
            receiver,
            worker: Some(worker),
            steps_per_epoch,
        }
    }

    /// The next batch, or `None` once `end` is reached.
    pub fn next_batch(&mut self) -> Option<HostBatch> {
        self.receiver.recv().ok()
    }
}

impl Drop for TrainLoader {
    fn drop(&mut self) {
        // Dropping the receiver first makes the worker's next send fail, which ends it.
        let (_, dummy) = sync_channel(1);
        drop(std::mem::replace(&mut self.receiver, dummy));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn produce(set: Arc<ImageSet>, pipeline: Pipeline, plan: BatchPlan, sender: SyncSender<HostBatch>) {
    let BatchPlan {
        batch_size,
        seed,
        start,
        end,
        ..
    } = plan;
    let steps_per_epoch = (set.len() / batch_size).max(1);
    let mut order: Option<(usize, Vec<usize>)> = None;
    for step in start..end {
        // The global batch's examples: weighted draws, or the next ones of the epoch order.
        let chunk: Vec<usize> = if let Some(weights) = &plan.weights {
            weights.draw(seed, step, batch_size)
        } else {
            if plan.cursor.is_none() {
                let epoch = step / steps_per_epoch;
                if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    order = Some((epoch, epoch_order(set.len(), seed, epoch as u64)));
                }
            }
            let indices: &[usize] = order.as_ref().map_or(&[], |(_, o)| o);
            match plan.cursor {
                None => {
                    let offset = (step % steps_per_epoch) * batch_size;
                    indices[offset..(offset + batch_size).min(indices.len())].to_vec()
                }
                Some(cursor) => {
                    let first = cursor + (step - start) * batch_size;
                    (first..first + batch_size)
                        .map(|position| {
                            let epoch = position / set.len();
                            if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                                order = Some((epoch, epoch_order(set.len(), seed, epoch as u64)));
                            }
                            order.as_ref().map_or(0, |(_, o)| o[position % set.len()])
                        })
                        .collect()
                }
            }
        };
        let mine = plan.shard.range(chunk.len());
        let batch = build_batch(
            &set,
            &chunk[mine.clone()],
            mine.start,
            &pipeline,
            Some((seed, step as u64)),
        );
        if sender.send(batch).is_err() {
            return;
        }
    }
}

/// Evaluation batches over the whole set in order, without augmentation.
pub fn eval_batches<'a>(
    set: &'a ImageSet,
    pipeline: &'a Pipeline,
    batch_size: usize,
) -> impl Iterator<Item = HostBatch> + 'a {
    eval_batches_in(set, pipeline, batch_size, 0..set.len())
}

/// Evaluation batches over the images `range` of the set, in order.
pub fn eval_batches_in<'a>(
    set: &'a ImageSet,
    pipeline: &'a Pipeline,
    batch_size: usize,
    range: std::ops::Range<usize>,
) -> impl Iterator<Item = HostBatch> + 'a {
    let indices: Vec<usize> = range.collect();
    (0..indices.len().div_ceil(batch_size)).map(move |b| {
        let chunk = &indices[b * batch_size..((b + 1) * batch_size).min(indices.len())];
        build_batch(set, chunk, 0, pipeline, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::synthetic::{SyntheticSpec, generate};

    fn setup() -> (Arc<ImageSet>, Pipeline) {
        let spec = SyntheticSpec {
            num_classes: 3,
            channels: 1,
            height: 6,
            width: 6,
        };
        let pipeline = Pipeline {
            mean: vec![0.5],
            std: vec![0.25],
            augment: Augment {
                crop_padding: 1,
                hflip: true,
            },
        };
        (Arc::new(generate(spec, 40, 0, 1)), pipeline)
    }

    fn plan(start: usize, end: usize) -> BatchPlan {
        BatchPlan {
            batch_size: 8,
            seed: 3,
            start,
            end,
            prefetch: 2,
            cursor: None,
            shard: Shard::default(),
            weights: None,
        }
    }

    #[test]
    fn cursor_batches_continue_the_sample_stream_across_a_size_change() {
        let (set, pipeline) = setup();
        let stream = |cursor: usize, start: usize, batch_size: usize, steps: usize| {
            let plan = BatchPlan {
                batch_size,
                cursor: Some(cursor),
                ..plan(start, start + steps)
            };
            collect(&mut TrainLoader::new(set.clone(), pipeline.clone(), plan))
        };
        // 40 samples: batches of 8 for 3 steps, then of 12 from sample 24 (crossing into
        // epoch 1 at sample 40) equal one stream of labels through the epoch orders.
        let small = stream(0, 0, 8, 3);
        let large = stream(24, 3, 12, 3);
        let labels: Vec<i64> = small
            .iter()
            .chain(&large)
            .flat_map(|b| b.labels.clone())
            .collect();
        let order = |epoch| epoch_order(set.len(), 3, epoch);
        let expected: Vec<i64> = order(0)
            .into_iter()
            .chain(order(1))
            .take(60)
            .map(|i| set.labels[i] as i64)
            .collect();
        assert_eq!(labels, expected);
        assert_eq!(large[0].shape[0], 12);
    }

    /// Weighted sampling draws only examples with weight, about in proportion (binomial,
    /// 5 standard deviations), the same batches whatever step the loader starts at, and the
    /// ranks' shards of one global draw.
    #[test]
    fn weighted_sampling_follows_the_weights_and_resumes_exactly() {
        let (set, pipeline) = setup();
        // Two examples of different classes: the labels tell which was drawn.
        let first = 5;
        let second = (0..set.len())
            .find(|&j| set.labels[j] != set.labels[first])
            .unwrap();
        let mut weights = vec![0.0; set.len()];
        weights[first] = 1.0;
        weights[second] = 3.0;
        let weights = Arc::new(SamplingWeights::new(weights, set.len()).unwrap());
        let weighted = |start, end, shard| BatchPlan {
            weights: Some(weights.clone()),
            shard,
            ..plan(start, end)
        };
        let batches = collect(&mut TrainLoader::new(
            set.clone(),
            pipeline.clone(),
            weighted(0, 50, Shard::default()),
        ));
        let labels: Vec<i64> = batches.iter().flat_map(|b| b.labels.clone()).collect();
        assert_eq!(labels.len(), 400);
        let (a, b) = (set.labels[first] as i64, set.labels[second] as i64);
        assert!(
            labels.iter().all(|&l| l == a || l == b),
            "only weighted examples"
        );
        let share = labels.iter().filter(|&&l| l == b).count() as f64 / 400.0;
        let sigma = (0.75 * 0.25 / 400.0f64).sqrt();
        assert!((share - 0.75).abs() < 5.0 * sigma, "share {share}");
        let resumed = collect(&mut TrainLoader::new(
            set.clone(),
            pipeline.clone(),
            weighted(20, 50, Shard::default()),
        ));
        assert_eq!(
            resumed.iter().map(|b| &b.images).collect::<Vec<_>>(),
            batches[20..].iter().map(|b| &b.images).collect::<Vec<_>>()
        );
        let half = collect(&mut TrainLoader::new(
            set.clone(),
            pipeline.clone(),
            weighted(0, 50, Shard { rank: 1, ranks: 2 }),
        ));
        assert_eq!(half[0].labels, batches[0].labels[4..]);
        // Bad weights are refused with what is wrong.
        assert!(SamplingWeights::new(vec![1.0; 3], 4).is_err());
        assert!(SamplingWeights::new(vec![0.0; 4], 4).is_err());
        assert!(SamplingWeights::new(vec![1.0, f64::NAN, 1.0, 1.0], 4).is_err());
    }

    fn collect(loader: &mut TrainLoader) -> Vec<HostBatch> {
        std::iter::from_fn(|| loader.next_batch()).collect()
    }

    #[test]
    fn the_shards_of_the_ranks_together_are_the_one_process_batch() {
        let (set, pipeline) = setup();
        let whole = collect(&mut TrainLoader::new(
            set.clone(),
            pipeline.clone(),
            plan(0, 6),
        ));
        let ranks = 3;
        let shards: Vec<Vec<HostBatch>> = (0..ranks)
            .map(|rank| {
                let plan = BatchPlan {
                    shard: Shard { rank, ranks },
                    ..plan(0, 6)
                };
                collect(&mut TrainLoader::new(set.clone(), pipeline.clone(), plan))
            })
            .collect();
        for (step, batch) in whole.iter().enumerate() {
            let images: Vec<f32> = shards.iter().flat_map(|s| s[step].images.clone()).collect();
            let labels: Vec<i64> = shards.iter().flat_map(|s| s[step].labels.clone()).collect();
            // Augmented images included: each sample keeps its global position's draws.
            assert_eq!(images, batch.images, "step {step}");
            assert_eq!(labels, batch.labels, "step {step}");
            assert_eq!(shards[0][step].shape[0], 2); // 8 samples over 3 ranks: 2, 3, 3
        }
    }

    #[test]
    fn starting_mid_run_reproduces_the_same_batches() {
        let (set, pipeline) = setup();
        let full = collect(&mut TrainLoader::new(
            set.clone(),
            pipeline.clone(),
            plan(0, 12),
        ));
        assert_eq!(full.len(), 12);
        let tail = collect(&mut TrainLoader::new(set, pipeline, plan(7, 12)));
        for (a, b) in full[7..].iter().zip(&tail) {
            assert_eq!(a.images, b.images);
            assert_eq!(a.labels, b.labels);
        }
    }

    #[test]
    fn each_epoch_visits_every_full_batch_once() {
        let (set, pipeline) = setup();
        let loader = &mut TrainLoader::new(set.clone(), pipeline, plan(0, 10));
        assert_eq!(loader.steps_per_epoch, 5);
        let batches = collect(loader);
        let mut first: Vec<i64> = batches[..5].iter().flat_map(|b| b.labels.clone()).collect();
        let mut all: Vec<i64> = set.labels.iter().map(|&l| l as i64).collect();
        first.sort_unstable();
        all.sort_unstable();
        assert_eq!(first, all);
        // A new epoch, a new order.
        assert_ne!(batches[0].labels, batches[5].labels);
    }

    #[test]
    fn dropping_a_running_loader_stops_its_thread() {
        let (set, pipeline) = setup();
        let mut loader = TrainLoader::new(set, pipeline, plan(0, 1_000_000));
        assert!(loader.next_batch().is_some());
        drop(loader); // must not hang
    }

    #[test]
    fn eval_batches_cover_the_set_in_order() {
        let (set, pipeline) = setup();
        let batches: Vec<_> = eval_batches(&set, &pipeline, 16).collect();
        assert_eq!(
            batches.iter().map(|b| b.shape[0]).collect::<Vec<_>>(),
            vec![16, 16, 8]
        );
        let labels: Vec<i64> = batches.iter().flat_map(|b| b.labels.clone()).collect();
        assert_eq!(
            labels,
            set.labels.iter().map(|&l| l as i64).collect::<Vec<_>>()
        );
    }
}
