//! Data-parallel training across processes (the Horovod model): every rank holds the whole
//! model, trains on its shard of each global batch, and the ranks average their gradients
//! with all-reduce before every optimizer step, so the weights stay identical everywhere.
//!
//! The engine talks to the other ranks only through [`Collective`]; [`Solo`] is the one-process
//! world, and `MpiWorld` (cargo feature `mpi`) runs over the system's MPI under `mpirun`.

pub mod gradients;
pub mod launch;
#[cfg(feature = "mpi")]
pub mod mpi_world;
pub mod shard;
pub mod threads;

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;
use std::time::Duration;

/// The collective operations data-parallel training needs. Every rank must call the same
/// operations in the same order; an operation that does not complete within the world's
/// timeout ends the whole job with an error naming it (never a silent hang).
pub trait Collective {
    /// This process's rank, `0..size()`; rank 0 writes logs, metrics and checkpoints.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces each buffer by its element-wise sum over all ranks. `what` names the
    /// operation in errors.
    fn sum_f32(&self, buffers: &mut [Vec<f32>], what: &str);
    /// Replaces `values` by their element-wise sum over all ranks.
    fn sum_f64(&self, values: &mut [f64], what: &str);
    /// Replaces `bytes` on every rank by rank 0's.
    fn broadcast(&self, bytes: &mut Vec<u8>, what: &str);
    /// Ends every rank of the job with `code` (after a rank-local error the others would
    /// otherwise wait forever in their next collective).
    fn abort(&self, code: i32) -> !;
    /// Point to point: sends each `(rank, values)` of `outgoing` to that (other) rank, at
    /// most one message per rank, and returns what each `(rank, len)` of `incoming` sent
    /// here, in `incoming`'s order. Every rank calls it together. This default routes the
    /// messages through two sums (every rank sees all of them), right for any world;
    /// `MpiWorld` sends them point to point.
    fn exchange_f32(
        &self,
        outgoing: &[(usize, Vec<f32>)],
        incoming: &[(usize, usize)],
        what: &str,
    ) -> Vec<Vec<f32>> {
        let (me, size) = (self.rank(), self.size());
        // lengths[from * size + to]: the message from `from` to `to`.
        let mut lengths = vec![0.0; size * size];
        for (to, values) in outgoing {
            assert!(*to != me && *to < size, "{what}: no rank {to} to send to");
            lengths[me * size + to] = values.len() as f64;
        }
        self.sum_f64(&mut lengths, &format!("{what} (message lengths)"));
        let offsets: Vec<usize> = std::iter::once(0)
            .chain(lengths.iter().scan(0, |total, &len| {
                *total += len as usize;
                Some(*total)
            }))
            .collect();
        let mut all = vec![0.0; offsets[size * size]];
        for (to, values) in outgoing {
            let at = offsets[me * size + to];
            all[at..at + values.len()].copy_from_slice(values);
        }
        let mut buffers = [all];
        self.sum_f32(&mut buffers, what);
        incoming
            .iter()
            .map(|&(from, len)| {
                let slot = from * size + me;
                assert_eq!(
                    offsets[slot + 1] - offsets[slot],
                    len,
                    "{what}: rank {from} sent another length than expected"
                );
                buffers[0][offsets[slot]..offsets[slot] + len].to_vec()
            })
            .collect()
    }
    /// Whether the backend averages the gradients of distributed-marked parameters during
    /// the backward pass (Burn's DDP), so the engine must not average them again.
    fn averages_gradients_in_backward(&self) -> bool {
        false
    }
}

/// The world of a single process: every collective is the identity.
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [Vec<f32>], _: &str) {}
    fn sum_f64(&self, _: &mut [f64], _: &str) {}
    fn broadcast(&self, _: &mut Vec<u8>, _: &str) {}
    fn abort(&self, code: i32) -> ! {
        // Nobody waits for a single process; its caller reports the error and exits.
        panic!("abort({code}) of a one-process world: return the error instead")
    }
}

/// A shared handle to the world a training runs in ([`Solo`] by default).
#[derive(Clone)]
pub struct World(Rc<dyn Collective>);

impl World {
    pub fn new(collective: impl Collective + 'static) -> Self {
        Self(Rc::new(collective))
    }

    /// Whether this rank writes the run directory.
    pub fn is_leader(&self) -> bool {
        self.rank() == 0
    }

    /// Whether any rank holds `flag` (one process: the flag itself); with several ranks a
    /// collective, so also a barrier. `what` names it in errors.
    pub fn any(&self, flag: bool, what: &str) -> bool {
        if self.size() == 1 {
            return flag;
        }
        let mut votes = [f64::from(u8::from(flag))];
        self.sum_f64(&mut votes, what);
        votes[0] > 0.0
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new(Solo)
    }
}

impl Deref for World {
    type Target = dyn Collective;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "World(rank {} of {})", self.rank(), self.size())
    }
}

/// How long a collective may wait for the other ranks before the job is ended.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
