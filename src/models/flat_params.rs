//! A module's float tensors as one flat list in visiting order: what code that pairs the
//! tensors of two modules of the same architecture needs (weight averaging, weight sharing).

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// Burn's container name of batch-norm layers, as `enter_module` reports it.
pub const BATCH_NORM: &str = "Struct:BatchNorm";

struct Flatten {
    skip_batch_norm: bool,
    depth: usize,
    tensors: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flatten {
    fn enter_module(&mut self, _name: &str, container_type: &str) {
        if container_type == BATCH_NORM {
            self.depth += 1;
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if container_type == BATCH_NORM {
            self.depth -= 1;
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !(self.skip_batch_norm && self.depth > 0) {
            let value = param.val();
            let n = value.shape().num_elements();
            self.tensors.push(value.reshape([n]));
        }
    }
}

/// Every float tensor of `module` (buffers included), flattened, in visiting order; without
/// those inside batch-norm layers when `skip_batch_norm`. The tensors are the module's own
/// (reshaped), so gradients flow back to them.
pub fn flat_floats<M: Module>(module: &M, skip_batch_norm: bool) -> Vec<Tensor<1>> {
    let mut flatten = Flatten {
        skip_batch_norm,
        depth: 0,
        tensors: Vec::new(),
    };
    module.visit(&mut flatten);
    flatten.tensors
}
