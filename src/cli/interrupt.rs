//! Ctrl-C (SIGINT) for the command line: the first one cancels the run's token, so the
//! Trainer checkpoints and stops after its current step; a second one exits at once.

use crate::train::CancelToken;
use std::sync::{Mutex, Once};

static INSTALL: Once = Once::new();
/// The token the handler cancels (the handler is process-wide; the token is the run's).
static TOKEN: Mutex<Option<CancelToken>> = Mutex::new(None);

/// Makes Ctrl-C cancel `token` (replacing the token of an earlier call).
pub fn cancel_on_ctrl_c(token: &CancelToken) {
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
}
