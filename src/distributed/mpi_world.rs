//! The MPI world (cargo feature `mpi`): one rank per process started by `mpirun`, collectives
//! over the system's MPI (Open MPI on Debian), each guarded by a watchdog.
//!
//! Collectives block inside MPI, which keeps MPI's progress engine running at full speed. A
//! watchdog thread ends the process when one has not completed within the timeout (a hung or
//! stopped peer); `mpirun` then ends the other ranks. A rank that dies is noticed by `mpirun`
//! itself, which ends the others within seconds.

use super::Collective;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Buffers larger than this go in several calls (MPI counts are 32-bit).
const MAX_CHUNK: usize = 1 << 30;

pub struct MpiWorld {
    // Dropping the universe finalises MPI, after the communicator is gone.
    world: SimpleCommunicator,
    _universe: Universe,
    watchdog: Watchdog,
}

impl MpiWorld {
    /// Initialises MPI; `None` when it cannot be (not started by an MPI launcher).
    pub fn init(timeout: Duration) -> Option<Self> {
        // The data loader and watchdog threads never call MPI: funnelled is enough.
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)?;
        let world = universe.world();
        let watchdog = Watchdog::start(world.rank() as usize, timeout);
        Some(Self {
            world,
            _universe: universe,
            watchdog,
        })
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, buffers: &mut [Vec<f32>], what: &str) {
        let _guard = self.watchdog.arm(what);
        for buffer in buffers.iter_mut() {
            // The values become the send buffer, and the sums go to fresh zeroed memory,
            // which the OS hands out lazily: cheaper than copying the values aside.
            let send = std::mem::replace(buffer, vec![0.0; buffer.len()]);
            for (mine, sums) in send.chunks(MAX_CHUNK).zip(buffer.chunks_mut(MAX_CHUNK)) {
                self.world
                    .all_reduce_into(mine, sums, mpi::collective::SystemOperation::sum());
            }
        }
    }

    fn sum_f64(&self, values: &mut [f64], what: &str) {
        let _guard = self.watchdog.arm(what);
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, mpi::collective::SystemOperation::sum());
    }

    fn broadcast(&self, bytes: &mut Vec<u8>, what: &str) {
        let _guard = self.watchdog.arm(what);
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        for chunk in bytes.chunks_mut(MAX_CHUNK) {
            root.broadcast_into(chunk);
        }
    }

    fn exchange_f32(
        &self,
        outgoing: &[(usize, Vec<f32>)],
        incoming: &[(usize, usize)],
        what: &str,
    ) -> Vec<Vec<f32>> {
        let _guard = self.watchdog.arm(what);
        let mut received: Vec<Vec<f32>> = incoming.iter().map(|&(_, len)| vec![0.0; len]).collect();
        mpi::request::scope(|scope| {
            // Sends never block, so every rank reaches its receives; messages between two
            // ranks arrive in the order they were sent (MPI's non-overtaking rule), which
            // keeps the chunks of a long message in order.
            let sends: Vec<_> = outgoing
                .iter()
                .flat_map(|(to, values)| {
                    let process = self.world.process_at_rank(*to as i32);
                    values
                        .chunks(MAX_CHUNK)
                        .map(move |chunk| process.immediate_send(scope, chunk))
                })
                .collect();
            for ((from, _), buffer) in incoming.iter().zip(received.iter_mut()) {
                let process = self.world.process_at_rank(*from as i32);
                for chunk in buffer.chunks_mut(MAX_CHUNK) {
                    process.receive_into(chunk);
                }
            }
            for send in sends {
                send.wait();
            }
        });
        received
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// The collective in progress (when it started, what it is), if any.
type ArmedSlot = Mutex<Option<(Instant, String)>>;

/// Ends the process when an armed collective outlives the timeout.
struct Watchdog {
    shared: Arc<(ArmedSlot, Condvar)>,
}

/// Disarms the watchdog when the collective returns.
struct Armed<'a>(&'a Watchdog);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        let (slot, _) = &*self.0.shared;
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Watchdog {
    fn start(rank: usize, timeout: Duration) -> Self {
        let shared: Arc<(ArmedSlot, Condvar)> = Arc::new((Mutex::new(None), Condvar::new()));
        let watched = shared.clone();
        std::thread::Builder::new()
            .name("stoke-mpi-watchdog".into())
            .spawn(move || {
                let (slot, wake) = &*watched;
                let mut armed = slot.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    match armed.as_ref() {
                        None => armed = wake.wait(armed).unwrap_or_else(|e| e.into_inner()),
                        Some((since, what)) => {
                            let waited = since.elapsed();
                            if waited >= timeout {
                                eprintln!(
                                    "error: rank {rank}: {what} did not complete within {} s \
                                     (--timeout): another rank is stuck or unreachable; ending \
                                     the job (the last checkpoint is kept)",
                                    timeout.as_secs_f64()
                                );
                                std::process::exit(1);
                            }
                            armed = wake
                                .wait_timeout(armed, timeout - waited)
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    }
                }
            })
            .expect("spawning the MPI watchdog thread");
        Self { shared }
    }

    fn arm(&self, what: &str) -> Armed<'_> {
        let (slot, wake) = &*self.shared;
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), what.to_string()));
        wake.notify_one();
        Armed(self)
    }
}
