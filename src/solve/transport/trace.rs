//! What a transport solver records per iterate (for the error-against-iterations and
//! error-against-time curves) and when it stops.

use crate::train::CancelToken;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// One iterate: its index, the wall-clock seconds since the solve began and its marginal error.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Iterate {
    pub iteration: usize,
    pub seconds: f64,
    pub marginal_error: f64,
}

/// The iterates of a solve, in order, and the iterations done so far.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    pub iterations: usize,
    pub iterates: Vec<Iterate>,
    #[serde(skip)]
    started: Option<Instant>,
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}

impl Trace {
    pub fn new() -> Self {
        Self {
            iterations: 0,
            iterates: Vec::new(),
            started: Some(Instant::now()),
        }
    }

    pub fn record(&mut self, marginal_error: f64) {
        let seconds = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.iterates.push(Iterate {
            iteration: self.iterations,
            seconds,
            marginal_error,
        });
    }

    pub fn last_error(&self) -> f64 {
        self.iterates
            .last()
            .map_or(f64::INFINITY, |i| i.marginal_error)
    }

    /// The first iteration whose error is at most `tolerance`, with its time.
    pub fn reached(&self, tolerance: f64) -> Option<Iterate> {
        self.iterates
            .iter()
            .find(|i| i.marginal_error <= tolerance)
            .copied()
    }
}

/// Told every recorded iterate (a progress display).
pub type IterateObserver = Arc<dyn Fn(&Iterate) + Send + Sync>;

/// When to stop: the error reached `tolerance`, `max_iterations` were done, or cancelled.
#[derive(Clone)]
pub struct Stop {
    pub tolerance: f64,
    pub max_iterations: usize,
    pub cancel: CancelToken,
    pub observer: Option<IterateObserver>,
}

impl Stop {
    pub fn new(tolerance: f64, max_iterations: usize) -> Self {
        Self {
            tolerance,
            max_iterations,
            cancel: CancelToken::new(),
            observer: None,
        }
    }

    /// Whether to stop after the trace's latest iterate (which the observer is shown).
    pub fn done(&self, trace: &Trace) -> bool {
        if let (Some(observe), Some(last)) = (&self.observer, trace.iterates.last()) {
            observe(last);
        }
        let error = trace.last_error();
        error <= self.tolerance
            || (!error.is_finite() && !trace.iterates.is_empty())
            || trace.iterations >= self.max_iterations
            || self.cancel.is_cancelled()
    }
}
