//! Entropic optimal transport: log-domain Sinkhorn and Sinkhorn-Newton-Sparse.

pub mod compare;
pub mod dual;
pub mod generate;
pub mod problem;
pub mod sinkhorn;
pub mod sparse_newton;
pub mod trace;
