//! Optimisation solvers that are not training recipes (`stoke solve`): structure learning of
//! linear DAGs and entropic optimal transport.

pub mod coordinate;
pub mod dag;
pub mod transport;
