//! Federated training as a driver around [`crate::Trainer`]: the training set is split over
//! simulated clients ([`partition`]), each round some of them ([`participation`], with
//! [`probabilities`]) train a few local steps from the server's weights, and the server
//! combines what they send by its rule ([`aggregator`]: [`fedavg`], [`fedau`], [`mifa`]),
//! or on a simulated [`clock`] clients work asynchronously (async FedAvg, FedFix, FedBuff),
//! or clients mix the server's momentum into their steps ([`momentum`]: FedAvg-M,
//! SCAFFOLD-M), or upload compressed control variates ([`scallion`]: SCALLION, SCAFCOM).
//! [`simulator::run`] is what `stoke train` calls for a config with a `[federated]` section.

pub mod aggregator;
pub mod client_states;
pub mod clock;
pub mod compress;
pub mod fedau;
pub mod fedavg;
pub mod keyed_weights;
pub mod mifa;
pub mod momentum;
pub mod participation;
pub mod partition;
pub mod probabilities;
pub mod scallion;
pub mod server_optimizer;
pub mod server_state;
pub mod simulator;
