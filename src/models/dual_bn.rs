//! A classifier with auxiliary batch norms for adversarial inputs (AdvProp; Xie et al., 2020,
//! as ConAdv uses them): clean and adversarial batches share every weight but are normalised
//! by separate batch-norm layers, so the statistics of one distribution do not pollute the
//! other. Evaluation uses the main batch norms.
//!
//! Any [`Classifier`] works: `aux` is a second instance of the same architecture whose batch
//! norms (scales, shifts and running statistics) serve the adversarial inputs; its other
//! weights are never used. [`DualBn::adversarial_view`] builds, per forward pass, a classifier
//! with `aux`'s batch norms and `main`'s other weights (the very tensors, so gradients of the
//! adversarial loss reach `main`).

use super::Classifier;
use super::flat_params::{BATCH_NORM, flat_floats};
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct DualBn {
    pub main: Classifier,
    pub aux: Classifier,
}

/// Replaces the float tensors outside batch-norm layers by the collected ones.
struct SubstituteShared {
    depth: usize,
    next: usize,
    tensors: Vec<Tensor<1>>,
}

impl ModuleMapper for SubstituteShared {
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

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.depth > 0 {
            return param;
        }
        let shared = self.tensors[self.next].clone();
        self.next += 1;
        param.map(|own| {
            let shape = own.shape();
            shared.reshape(shape)
        })
    }
}

impl DualBn {
    /// `main` and a second, independently initialised instance of the same architecture.
    pub fn new(main: Classifier, aux: Classifier) -> Self {
        Self { main, aux }
    }

    /// The classifier adversarial inputs go through: `aux`'s batch norms, `main`'s weights.
    pub fn adversarial_view(&self) -> Classifier {
        let mut substitute = SubstituteShared {
            depth: 0,
            next: 0,
            tensors: flat_floats(&self.main, true),
        };
        let view = self.aux.clone().map(&mut substitute);
        debug_assert_eq!(substitute.next, substitute.tensors.len());
        view
    }
}
