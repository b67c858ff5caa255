//! The official code's batches: the training set, the validation set and the task list are
//! each shuffled when a pass over them starts and cut into consecutive slices; one iteration
//! takes I tasks and I * B training and validation indices (B per sampled task). RSVRB draws a
//! second, independent task list for its hyper-gradient.

use crate::rng::{Rng, Stream};

/// The samples of one iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The sampled tasks, distinct, in the order their data slices follow.
    pub tasks: Vec<usize>,
    /// RSVRB's second task sample (empty for BSVRB).
    pub tasks2: Vec<usize>,
    /// `tasks.len() * B` training indices: slice k (B of them) belongs to the k-th sampled
    /// task (BSVRB: in `tasks` order; RSVRB: in increasing task id, as the official loop).
    pub train: Vec<usize>,
    /// Validation indices, sliced the same way.
    pub val: Vec<usize>,
}

impl Batch {
    /// B, the data batch per task.
    pub fn data_batch(&self) -> usize {
        self.train.len() / self.tasks.len().max(1)
    }

    pub fn train_slice(&self, k: usize) -> &[usize] {
        let b = self.data_batch();
        &self.train[k * b..(k + 1) * b]
    }

    pub fn val_slice(&self, k: usize) -> &[usize] {
        let b = self.data_batch();
        &self.val[k * b..(k + 1) * b]
    }
}

/// One shuffled index list cut into slices; a new permutation (keyed by the pass number)
/// when a pass starts.
#[derive(Clone, Debug)]
struct Passes {
    seed: u64,
    counter: u64,
    order: Vec<usize>,
    slice: usize,
    per_pass: usize,
}

impl Passes {
    fn new(seed: u64, counter: u64, n: usize, slice: usize) -> Passes {
        Passes {
            seed,
            counter,
            order: Vec::new(),
            slice,
            per_pass: (n / slice.max(1)).max(1),
        }
    }

    fn take(&mut self, iteration: u64, n: usize) -> Vec<usize> {
        let k = (iteration % self.per_pass as u64) as usize;
        if k == 0 {
            let pass = iteration / self.per_pass as u64;
            self.order = Rng::new(self.seed, Stream::Solve, self.counter, pass).permutation(n);
        }
        self.order[k * self.slice..(k + 1) * self.slice].to_vec()
    }
}

/// Draws the official batches from a seed; `task_batch * data_batch` must not exceed the
/// training or validation size, nor `task_batch` the number of tasks (checked by the caller).
#[derive(Clone, Debug)]
pub struct Sampler {
    iteration: u64,
    tasks: usize,
    n_train: usize,
    n_val: usize,
    two_task_lists: bool,
    train: Passes,
    val: Passes,
    task: Passes,
    task2: Passes,
}

impl Sampler {
    pub fn new(
        seed: u64,
        tasks: usize,
        n_train: usize,
        n_val: usize,
        task_batch: usize,
        data_batch: usize,
        two_task_lists: bool,
    ) -> Sampler {
        let slice = task_batch * data_batch;
        Sampler {
            iteration: 0,
            tasks,
            n_train,
            n_val,
            two_task_lists,
            train: Passes::new(seed, 42, n_train, slice),
            val: Passes::new(seed, 43, n_val, slice),
            task: Passes::new(seed, 44, tasks, task_batch),
            task2: Passes::new(seed, 45, tasks, task_batch),
        }
    }

    pub fn next_batch(&mut self) -> Batch {
        let t = self.iteration;
        self.iteration += 1;
        Batch {
            train: self.train.take(t, self.n_train),
            val: self.val.take(t, self.n_val),
            tasks: self.task.take(t, self.tasks),
            tasks2: if self.two_task_lists {
                self.task2.take(t, self.tasks)
            } else {
                Vec::new()
            },
        }
    }
}
