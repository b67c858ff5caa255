//! Run configuration: TOML presets, dotted overrides, and the typed schema they resolve to.

pub mod byzantine;
pub mod federated;
pub mod gossip;
pub mod overrides;
pub mod presets;
pub mod pruning;
pub mod resolve;
pub mod schema;

pub use crate::options::typed_section;
pub use federated::FederatedConfig;
pub use resolve::{resolve, resolve_str};
pub use schema::{
    AdaptiveBatchConfig, DatasetConfig, KernelsConfig, LoaderConfig, OptimizerConfig, Precision,
    RecipeConfig, RobustEvalConfig, RunConfig, ScheduleConfig, TrainConfig,
};
