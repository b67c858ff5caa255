//! Models. Architectures live one per file; [`ModelSpec`] is the registry mapping a config to
//! a constructor, and the presets in the top-level models/ folder name concrete instances.

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
pub use spec::ModelSpec;
