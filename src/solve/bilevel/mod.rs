//! Multi-block bilevel optimisation: BSVRB v1 and v2 (Hu, Qi, Liu and Yang, "Blockwise
//! Stochastic Variance-Reduced Methods with Parallel Speedup for Multi-Block Bilevel
//! Optimization", ICML 2023) and the RSVRB baseline of the official code, on its
//! hyper-parameter optimisation task (per-sample weights of m logistic regressions) with
//! generated data. One iteration's per-block work runs on a thread pool; the iterates are
//! bitwise the same for every thread count.

pub mod bsvrb;
pub mod dense;
pub mod experiment;
pub mod generate;
pub mod parallel;
pub mod problem;
pub mod rsvrb;
pub mod sampling;
pub mod settings;

pub use bsvrb::{BsvrbBlock, BsvrbState, BsvrbVariant};
pub use experiment::{
    BilevelMethod, BilevelReport, BilevelSettings, Iterates, MethodRun, Progress, run, run_problem,
};
pub use generate::{ProblemSpec, generate};
pub use parallel::Workers;
pub use problem::{BilevelProblem, Evaluation, LowerOracles};
pub use rsvrb::{RsvrbBlock, RsvrbState};
pub use sampling::{Batch, Sampler};
pub use settings::{BsvrbSettings, Quirks};
