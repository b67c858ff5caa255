//! Masks on the model's device: what the engine multiplies the weights (after every update)
//! and the gradients (before it) by, without a round trip through host memory.

use super::masks::Masks;
use super::weights::{NamePath, NamedVisit, transpose, visit_named};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use std::collections::BTreeMap;

/// [`Masks`] as 0/1 tensors in the model's layout (a linear weight transposed), flattened,
/// on the device the model's tensors live on (without autodiff).
pub(crate) struct DeviceMasks {
    tensors: BTreeMap<String, Tensor<1>>,
}

impl DeviceMasks {
    /// The masks laid out for `model`'s tensors (the masks are checked against the model's
    /// weights before).
    pub(crate) fn new<M: Module>(masks: &Masks, model: &M) -> DeviceMasks {
        struct Build<'a> {
            masks: &'a Masks,
            tensors: BTreeMap<String, Tensor<1>>,
        }
        impl NamedVisit for Build<'_> {
            fn tensor<const D: usize>(
                &mut self,
                name: String,
                transposed: bool,
                param: &Param<Tensor<D>>,
            ) {
                let Some(mask) = self.masks.get(&name) else {
                    return;
                };
                let mut flags: Vec<f32> = mask.keep.iter().map(|&k| k as u8 as f32).collect();
                if transposed {
                    // Export layout [out, in] to the model's [in, out].
                    flags = transpose(&flags, mask.shape[0], mask.shape[1]);
                }
                let device = param.val().device().without_autodiff();
                let len = flags.len();
                let tensor = Tensor::<1>::from_data(TensorData::new(flags, [len]), &device);
                self.tensors.insert(name, tensor);
            }
        }
        let build = Build {
            masks,
            tensors: BTreeMap::new(),
        };
        DeviceMasks {
            tensors: visit_named(model, build).tensors,
        }
    }

    /// `model` with every masked-out weight set to zero (parameters keep their ids and
    /// whether they require a gradient).
    pub(crate) fn apply_to_model<M: Module>(&self, model: M) -> M {
        struct Zero<'a> {
            at: NamePath,
            tensors: &'a BTreeMap<String, Tensor<1>>,
        }
        impl ModuleMapper for Zero<'_> {
            fn enter_module(&mut self, name: &str, container_type: &str) {
                self.at.enter(name, container_type);
            }
            fn exit_module(&mut self, _name: &str, container_type: &str) {
                self.at.exit(container_type);
            }
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (name, _) = self.at.name(D);
                let Some(mask) = self.tensors.get(&name) else {
                    return param;
                };
                param.map(|old| {
                    let (autodiff, require_grad) = (old.is_autodiff(), old.is_require_grad());
                    let dims: [usize; D] = old.dims();
                    let masked = old.inner() * mask.clone().reshape(dims);
                    let masked = match autodiff {
                        true => masked.autodiff(),
                        false => masked,
                    };
                    masked.set_require_grad(require_grad)
                })
            }
        }
        model.map(&mut Zero {
            at: NamePath::default(),
            tensors: &self.tensors,
        })
    }

    /// `grads` (of `model`) with the gradients of masked-out weights set to zero, so an
    /// optimizer's state (momentum, moments) never moves for them.
    pub(crate) fn apply_to_gradients<M: Module>(
        &self,
        model: &M,
        grads: GradientsParams,
    ) -> GradientsParams {
        struct Zero<'a> {
            tensors: &'a BTreeMap<String, Tensor<1>>,
            grads: GradientsParams,
        }
        impl NamedVisit for Zero<'_> {
            fn tensor<const D: usize>(
                &mut self,
                name: String,
                _transposed: bool,
                param: &Param<Tensor<D>>,
            ) {
                let Some(mask) = self.tensors.get(&name) else {
                    return;
                };
                if let Some(grad) = self.grads.remove::<D>(param.id) {
                    let dims: [usize; D] = grad.dims();
                    let masked = grad * mask.clone().reshape(dims);
                    self.grads.register(param.id, masked);
                }
            }
        }
        visit_named(
            model,
            Zero {
                tensors: &self.tensors,
                grads,
            },
        )
        .grads
    }
}
