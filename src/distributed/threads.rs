//! Ranks as threads of one process (multi-GPU training on one machine): the collectives meet
//! in shared memory. A rank that fails poisons the group, and the others stop at their next
//! collective instead of waiting for it forever.

use super::Collective;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What the ranks of one collective contribute and get back.
enum Payload {
    F32(Vec<Vec<f32>>),
    F64(Vec<f64>),
    Bytes(Vec<u8>),
}

#[derive(Default)]
struct Meeting {
    /// Collectives completed so far.
    generation: u64,
    arrived: usize,
    /// The sum (or rank 0's bytes) of the collective in progress.
    accumulated: Option<Payload>,
    /// The result of the last completed collective, read by every rank before any of them
    /// can complete the next one.
    result: Option<Arc<Payload>>,
    /// Why the group stopped, once a rank failed.
    failed: Option<String>,
}

struct Shared {
    ranks: usize,
    timeout: Duration,
    meeting: Mutex<Meeting>,
    changed: Condvar,
}

/// The ranks of one process; [`ThreadGroup::member`] gives each thread its [`Collective`].
#[derive(Clone)]
pub struct ThreadGroup {
    shared: Arc<Shared>,
}

impl ThreadGroup {
    pub fn new(ranks: usize, timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                ranks,
                timeout,
                meeting: Mutex::new(Meeting::default()),
                changed: Condvar::new(),
            }),
        }
    }

    pub fn member(&self, rank: usize) -> ThreadRank {
        assert!(
            rank < self.shared.ranks,
            "rank {rank} of {}",
            self.shared.ranks
        );
        ThreadRank {
            shared: self.shared.clone(),
            rank,
        }
    }

    /// Stops the group: every rank waiting in, or later entering, a collective panics with
    /// `why` (its thread then ends, and the caller joining it reports the first error).
    pub fn fail(&self, why: &str) {
        let mut meeting = lock(&self.shared.meeting);
        meeting.failed.get_or_insert_with(|| why.to_string());
        self.shared.changed.notify_all();
    }
}

pub struct ThreadRank {
    shared: Arc<Shared>,
    rank: usize,
}

fn lock(meeting: &Mutex<Meeting>) -> MutexGuard<'_, Meeting> {
    meeting.lock().unwrap_or_else(|e| e.into_inner())
}

impl ThreadRank {
    /// Adds `mine` to the collective in progress and returns its result once every rank has.
    fn meet(&self, mine: Payload, what: &str) -> Arc<Payload> {
        let shared = &*self.shared;
        let mut meeting = lock(&shared.meeting);
        if let Some(why) = &meeting.failed {
            panic!("{what}: stopped because {why}");
        }
        meeting.accumulated = Some(match (meeting.accumulated.take(), mine) {
            (None, mine) => mine,
            (Some(Payload::F32(mut sum)), Payload::F32(mine)) => {
                for (total, part) in sum.iter_mut().zip(&mine) {
                    for (t, p) in total.iter_mut().zip(part) {
                        *t += p;
                    }
                }
                Payload::F32(sum)
            }
            (Some(Payload::F64(mut sum)), Payload::F64(mine)) => {
                for (t, p) in sum.iter_mut().zip(&mine) {
                    *t += p;
                }
                Payload::F64(sum)
            }
            // A broadcast keeps rank 0's bytes (the others send none).
            (Some(Payload::Bytes(a)), Payload::Bytes(b)) => {
                Payload::Bytes(if a.is_empty() { b } else { a })
            }
            _ => panic!("{what}: the ranks called different collectives"),
        });
        meeting.arrived += 1;
        let generation = meeting.generation;
        if meeting.arrived == shared.ranks {
            meeting.arrived = 0;
            meeting.generation += 1;
            meeting.result = meeting.accumulated.take().map(Arc::new);
            shared.changed.notify_all();
        }
        while meeting.generation == generation {
            if let Some(why) = &meeting.failed {
                panic!("{what}: stopped because {why}");
            }
            let (next, wait) = shared
                .changed
                .wait_timeout(meeting, shared.timeout)
                .unwrap_or_else(|e| e.into_inner());
            meeting = next;
            if wait.timed_out() && meeting.generation == generation {
                let why = format!(
                    "{what} did not complete within {} s on rank {} (--timeout)",
                    shared.timeout.as_secs_f64(),
                    self.rank
                );
                meeting.failed = Some(why.clone());
                shared.changed.notify_all();
                panic!("{why}");
            }
        }
        meeting
            .result
            .clone()
            .expect("a completed collective's result")
    }
}

impl Collective for ThreadRank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.ranks
    }

    fn sum_f32(&self, buffers: &mut [Vec<f32>], what: &str) {
        let result = self.meet(Payload::F32(buffers.to_vec()), what);
        let Payload::F32(sums) = &*result else {
            unreachable!("an f32 collective returns f32 sums")
        };
        for (buffer, sum) in buffers.iter_mut().zip(sums) {
            buffer.copy_from_slice(sum);
        }
    }

    fn sum_f64(&self, values: &mut [f64], what: &str) {
        let result = self.meet(Payload::F64(values.to_vec()), what);
        let Payload::F64(sums) = &*result else {
            unreachable!("an f64 collective returns f64 sums")
        };
        values.copy_from_slice(sums);
    }

    fn broadcast(&self, bytes: &mut Vec<u8>, what: &str) {
        let mine = if self.rank == 0 {
            std::mem::take(bytes)
        } else {
            Vec::new()
        };
        let result = self.meet(Payload::Bytes(mine), what);
        let Payload::Bytes(root) = &*result else {
            unreachable!("a broadcast returns bytes")
        };
        *bytes = root.clone();
    }

    /// Fails the group, so the other ranks leave their collectives with an error, and ends
    /// this rank's thread (its panic is reported by the group's runner).
    fn abort(&self, code: i32) -> ! {
        let why = format!("rank {} aborted (code {code})", self.rank);
        let mut meeting = lock(&self.shared.meeting);
        meeting.failed.get_or_insert_with(|| why.clone());
        self.shared.changed.notify_all();
        drop(meeting);
        panic!("{why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Send>(ranks: usize, body: impl Fn(ThreadRank) -> T + Sync) -> Vec<T> {
        let group = ThreadGroup::new(ranks, Duration::from_secs(10));
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..ranks)
                .map(|rank| {
                    let member = group.member(rank);
                    let body = &body;
                    scope.spawn(move || body(member))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn repeated_collectives_sum_and_broadcast_across_threads() {
        let results = run(3, |member| {
            let mut out = Vec::new();
            for round in 0..50 {
                let r = member.rank() as f32;
                let mut buffers = vec![vec![r, 1.0], vec![round as f32 * r]];
                member.sum_f32(&mut buffers, "test");
                let mut scalars = [r as f64 + 0.5];
                member.sum_f64(&mut scalars, "test");
                let mut bytes = vec![member.rank() as u8 + round as u8; 1 + member.rank()];
                member.broadcast(&mut bytes, "test");
                out.push((buffers, scalars[0], bytes));
            }
            out
        });
        for per_rank in &results {
            for (round, (buffers, scalar, bytes)) in per_rank.iter().enumerate() {
                assert_eq!(buffers, &vec![vec![3.0, 3.0], vec![3.0 * round as f32]]);
                assert_eq!(*scalar, 4.5);
                assert_eq!(bytes, &vec![round as u8]);
            }
        }
    }

    #[test]
    fn a_failed_group_stops_the_ranks_waiting_in_a_collective() {
        let group = ThreadGroup::new(2, Duration::from_secs(60));
        let waiting = group.member(0);
        let handle = std::thread::spawn(move || {
            let mut values = [1.0];
            waiting.sum_f64(&mut values, "the sum");
        });
        std::thread::sleep(Duration::from_millis(50));
        group.fail("rank 1 failed");
        let error = handle.join().unwrap_err();
        let message = error.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("stopped because rank 1 failed"),
            "{message}"
        );
    }

    #[test]
    fn messages_reach_the_ranks_they_are_sent_to() {
        // Rank r sends r + 1 copies of 10 r + to to every other rank `to`.
        let results = run(3, |member| {
            let me = member.rank();
            let others: Vec<usize> = (0..3).filter(|&r| r != me).collect();
            let outgoing: Vec<(usize, Vec<f32>)> = others
                .iter()
                .map(|&to| (to, vec![(10 * me + to) as f32; me + 1]))
                .collect();
            let incoming: Vec<(usize, usize)> =
                others.iter().map(|&from| (from, from + 1)).collect();
            (others, member.exchange_f32(&outgoing, &incoming, "test"))
        });
        for (me, (others, received)) in results.iter().enumerate() {
            for (from, values) in others.iter().zip(received) {
                assert_eq!(values, &vec![(10 * from + me) as f32; from + 1]);
            }
        }
    }

    #[test]
    fn a_collective_a_rank_never_joins_times_out() {
        let group = ThreadGroup::new(2, Duration::from_millis(200));
        let alone = group.member(1);
        let error = std::thread::spawn(move || alone.sum_f64(&mut [1.0], "the lonely sum"))
            .join()
            .unwrap_err();
        let message = error.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("did not complete within 0.2 s"),
            "{message}"
        );
    }
}
