//! Signals for the command line. Ctrl-C (SIGINT) and SIGTERM (what job schedulers send before
//! killing) cancel the run's token, so the Trainer checkpoints and stops after its current
//! step; a second signal exits at once (130 for Ctrl-C, 143 for SIGTERM).

use crate::train::CancelToken;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};

static INSTALL: Once = Once::new();
/// The token the Ctrl-C handler cancels (the handler is process-wide; the token is the run's).
static TOKEN: Mutex<Option<CancelToken>> = Mutex::new(None);
/// Set by SIGTERM.
static TERMINATED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Makes Ctrl-C and SIGTERM cancel `token`.
pub fn cancel_on_signals(token: &CancelToken) {
    *TOKEN.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let token = TOKEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let Some(token) = token else { return };
            if token.is_cancelled() {
                eprintln!("\nsecond interrupt: exiting without a checkpoint");
                std::process::exit(130);
            }
            token.cancel();
            eprintln!(
                "\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)"
            );
        });
    });
    #[cfg(unix)]
    {
        use signal_hook::consts::SIGTERM;
        let terminated = TERMINATED.get_or_init(|| {
            let flag = Arc::new(AtomicBool::new(false));
            // A second SIGTERM ends the process at once; the first only sets the flags.
            let _ = signal_hook::flag::register_conditional_shutdown(SIGTERM, 143, flag.clone());
            let _ = signal_hook::flag::register(SIGTERM, flag.clone());
            flag
        });
        let _ = terminated;
        let _ = signal_hook::flag::register(SIGTERM, token.shared_flag());
    }
}

/// Whether SIGTERM stopped the run (exit 143 rather than 130).
pub fn terminated() -> bool {
    TERMINATED
        .get()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}
