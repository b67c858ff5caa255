//! The threads that run one iteration's per-block work. Each block's update is sequential
//! arithmetic on its own state and the block contributions to the hyper-gradient are summed
//! afterwards in a fixed order, so every thread count gives bitwise the same iterates.

use crate::usage_error;
use rayon::prelude::*;

pub struct Workers {
    pool: rayon::ThreadPool,
}

impl Workers {
    pub fn new(threads: usize) -> anyhow::Result<Workers> {
        if threads == 0 {
            return Err(usage_error!("bilevel: threads = 0: expected at least 1"));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| anyhow::anyhow!("bilevel: cannot start {threads} threads: {e}"))?;
        Ok(Workers { pool })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// `f(i, &mut items[i])` for every item, in parallel; the results in index order.
    pub fn map_mut<T: Send, R: Send>(
        &self,
        items: &mut [T],
        f: impl Fn(usize, &mut T) -> R + Sync,
    ) -> Vec<R> {
        self.pool.install(|| {
            items
                .par_iter_mut()
                .enumerate()
                .map(|(i, item)| f(i, item))
                .collect()
        })
    }
}
