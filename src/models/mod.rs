//! Models. Architectures live one per file, each with its own options type and an
//! [`architecture::Architecture`] impl; [`classifier`] lists them (one line each), [`ModelSpec`]
//! is the checked `[model]` section, and the presets in the top-level models/ folder name
//! concrete instances.

pub mod architecture;
pub mod cell_supernet;
pub mod cifar_resnet;
pub mod classifier;
pub mod dual_bn;
pub mod flat_params;
pub mod layers;
pub mod param_count;
pub mod preact_resnet;
pub mod resnet;
pub mod small_cnn;
pub mod spec;
pub mod unet;
pub mod vit;
pub mod wide_resnet;

pub use classifier::Classifier;
pub use param_count::{initialise_now, trainable_params};
pub use spec::{ModelSpec, architectures};
