//! Optimisation solvers that are not training recipes (`stoke solve`): structure learning of
//! linear DAGs, entropic optimal transport, greedy block coordinate descent and multi-block
//! bilevel optimisation (BSVRB).

pub mod bilevel;
pub mod coordinate;
pub mod dag;
pub mod numeric;
pub mod online;
pub mod transport;
