//! Decentralized (gossip) learning as a driver around [`crate::Trainer`]: nodes on a graph
//! ([`topology`]) train on their shares of the data and average with their neighbours,
//! plainly or with the variance correction of "Vanishing Variance Problem in Fully
//! Decentralized Neural-Network Systems" ([`averaging`]); [`driver::run`] is what
//! `stoke train` calls for a config with a `[gossip]` section, in one process or with the
//! nodes spread over MPI ranks.

pub mod averaging;
pub mod driver;
pub mod topology;
