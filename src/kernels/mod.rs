//! Custom kernels: a reference, portable and SIMD versions with runtime dispatch, correctness
//! tests against the reference, and a benchmark (`stoke bench ...`) for each.

pub mod batch_norm;
pub mod max_pool;
pub mod softmax;
