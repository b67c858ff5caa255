//! Averaging gradients over the ranks. The gradients of all trainable parameters are copied
//! into a few large buckets (many small all-reduces would be latency-bound), summed across
//! the ranks with every bucket's all-reduce in flight at once, and copied back.
//!
//! Burn's `backward()` returns all gradients together, so, unlike PyTorch DDP, the reduction
//! cannot start while the backward pass is still running; what overlaps is the buckets'
//! transfers with each other.

use super::World;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

/// Floats per bucket: 25 MiB, PyTorch DDP's default bucket size.
pub const BUCKET_FLOATS: usize = 25 * 1024 * 1024 / 4;

/// Where one parameter's gradient sits in the buckets.
struct Slot {
    id: ParamId,
    bucket: usize,
    offset: usize,
    len: usize,
}

/// First pass: copies the local gradients, scaled by `weight`, into the buckets.
struct Pack<'a> {
    grads: &'a GradientsParams,
    weight: f32,
    slots: Vec<Slot>,
    buckets: Vec<Vec<f32>>,
    /// 1 where this rank has a gradient for the slot's parameter, else 0.
    present: Vec<f32>,
}

impl ModuleVisitor for Pack<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Which parameters take part is structural (the same on every rank); whether a
        // gradient exists may differ (a branch unused on one rank's shard): it then counts 0.
        if !param.val().is_require_grad() {
            return;
        }
        let len = param.lazy_shape().num_elements();
        let last = self.buckets.len() - 1;
        if !self.buckets[last].is_empty() && self.buckets[last].len() + len > BUCKET_FLOATS {
            self.buckets
                .push(Vec::with_capacity(BUCKET_FLOATS.min(len)));
        }
        let bucket = self.buckets.len() - 1;
        let buffer = &mut self.buckets[bucket];
        let offset = buffer.len();
        match self.grads.get::<D>(param.id) {
            Some(grad) => {
                let data = grad.into_data();
                match data.as_slice::<f32>() {
                    Ok(values) => buffer.extend(values.iter().map(|v| v * self.weight)),
                    Err(_) => buffer.extend(data.iter::<f32>().map(|v| v * self.weight)),
                }
                self.present.push(1.0);
            }
            None => {
                buffer.resize(offset + len, 0.0);
                self.present.push(0.0);
            }
        }
        self.slots.push(Slot {
            id: param.id,
            bucket,
            offset,
            len,
        });
    }
}

/// Second pass: the summed buckets become the new gradients.
struct Unpack<'a> {
    slots: std::slice::Iter<'a, Slot>,
    buckets: &'a [Vec<f32>],
    present: &'a [f32],
    index: usize,
    out: GradientsParams,
}

impl ModuleVisitor for Unpack<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.val().is_require_grad() {
            return;
        }
        let slot = self
            .slots
            .next()
            .expect("the same parameters as the first pass");
        debug_assert_eq!(slot.id, param.id);
        let index = self.index;
        self.index += 1;
        if self.present[index] == 0.0 {
            return; // no rank has a gradient for it
        }
        let values = self.buckets[slot.bucket][slot.offset..slot.offset + slot.len].to_vec();
        let dims: [usize; D] = param.lazy_shape().dims();
        let device = param.val().device().without_autodiff();
        let grad = Tensor::<D>::from_data(TensorData::new(values, dims), &device);
        self.out.register(slot.id, grad);
    }
}

/// The gradients averaged over the ranks: each rank contributes its local gradient times
/// `weight` (its share of the global batch, so the result is the gradient of the global mean
/// loss even when shards differ in size). On one rank, `grads` is returned unchanged.
pub fn all_reduce<M: Module>(
    world: &World,
    model: &M,
    grads: GradientsParams,
    weight: f64,
    what: &str,
) -> GradientsParams {
    if world.size() == 1 {
        return grads;
    }
    let mut pack = Pack {
        grads: &grads,
        weight: weight as f32,
        slots: Vec::new(),
        buckets: vec![Vec::new()],
        present: Vec::new(),
    };
    model.visit(&mut pack);
    let Pack {
        slots,
        mut buckets,
        present,
        ..
    } = pack;
    buckets.push(present);
    world.sum_f32(&mut buckets, what);
    let present = buckets.pop().expect("the presence bucket");
    let mut unpack = Unpack {
        slots: slots.iter(),
        buckets: &buckets,
        present: &present,
        index: 0,
        out: GradientsParams::new(),
    };
    model.visit(&mut unpack);
    unpack.out
}

/// The number of floats one all-reduce of `model`'s gradients moves per rank.
pub fn gradient_floats<M: Module>(model: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0 += param.lazy_shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}

/// Marks every parameter of `model` distributed, so Burn's backward averages its gradient
/// over the devices of the `DistributedContext` (Burn's DDP).
pub fn mark_distributed<M: Module>(model: M) -> M {
    struct Mark;
    impl burn::module::ModuleMapper for Mark {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.set_distributed(id), mapper)
        }
    }
    model.map(&mut Mark)
}
