//! Linear DAG structure learning: CoLiDE (concomitant noise scale) and DAGMA, simulated
//! structural equation models and the structure-recovery metrics.

pub mod accuracy;
pub mod experiment;
pub mod path_following;
pub mod simulate;
