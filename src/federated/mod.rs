//! Federated training as a driver around [`crate::Trainer`]: the training set is split over
//! simulated clients ([`partition`]), each round some of them ([`participation`]) train a few
//! local steps from the server's weights, and the server combines what they send
//! ([`fedavg`]). [`simulator::run`] is what `stoke train` calls for a config with a
//! `[federated]` section.

pub mod fedavg;
pub mod participation;
pub mod partition;
pub mod server_optimizer;
pub mod simulator;
