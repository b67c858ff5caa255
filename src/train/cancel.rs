//! Stopping a run from outside: the caller owns a [`CancelToken`], clones it into whatever
//! decides to stop (a signal handler, another thread, a test), and the Trainer checks it
//! between steps. The library never installs a signal handler or exits the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared stop flag; clones share it.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the Trainers holding this token to stop after their current step.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for; also true on a second ask.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, for code that can only set an `AtomicBool` (a signal handler).
    pub fn shared_flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Clears the flag (a run that was stopped and is continued).
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}
