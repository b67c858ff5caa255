//! Ctrl-C handling: the first Ctrl-C asks the engine to checkpoint and stop after the current
//! step; a second one exits at once.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)"
            );
        });
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Asks the engine to stop as Ctrl-C would (for tests and embedding applications).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
