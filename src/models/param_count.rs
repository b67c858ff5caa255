//! Trainable parameter counts as PyTorch reports them. Burn's `num_params` also counts batch
//! norm running statistics, which are state, not parameters.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// Names of float state tensors that are not trained.
const RUNNING_STATS: [&str; 2] = ["running_mean", "running_var"];

#[derive(Default)]
struct TrainableCounter {
    path: Vec<String>,
    count: usize,
}

impl ModuleVisitor for TrainableCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let is_state = self
            .path
            .last()
            .is_some_and(|name| RUNNING_STATS.contains(&name.as_str()));
        // Parameters frozen on an autodiff device (a weight average, say) are not trained.
        let frozen = param.is_initialized() && {
            let value = param.val();
            value.is_autodiff() && !value.is_require_grad()
        };
        if !is_state && !frozen {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

/// The number of trainable scalars of `module`.
pub fn trainable_params<M: Module>(module: &M) -> usize {
    let mut counter = TrainableCounter::default();
    module.visit(&mut counter);
    counter.count
}

/// Initialises every lazily initialised parameter of `module` now. Burn draws a parameter's
/// initial value at its first use; done here, the draws come from the generator state the
/// caller seeded rather than from whatever ran before the first forward pass.
pub fn initialise_now<M: Module>(module: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}
