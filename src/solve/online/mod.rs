//! Online convex optimisation in the stochastically extended adversarial (SEA) model
//! (issue 25 part 1): optimistic online mirror descent (Chen, Zhang, Tu, Zhao, Zhang, ICML
//! 2023) with Euclidean, online-Newton and entropic geometries, the plain baselines, a seeded
//! SEA simulator with tunable stochastic variance and adversarial variation, and regret
//! against the number of rounds.

pub mod ball;
pub mod environment;
pub mod experiment;
pub mod learner;
