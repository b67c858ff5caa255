//! The two kinds of failure a user sees: their input was wrong (exit 2) or the run failed (exit 1).

use std::fmt;

/// A mistake in the command line or a config the user can fix: a bad key, value, name or path.
/// `stoke` exits with code 2 on it; every other error exits with 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`] from a function returning `anyhow::Result`.
#[macro_export]
macro_rules! usage_error {
    ($($arg:tt)*) => {
        ::anyhow::Error::new($crate::error::UsageError(format!($($arg)*)))
    };
}

/// The exit code for an error: 2 for usage errors anywhere in the chain, 1 otherwise.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if error
        .chain()
        .any(|e| e.downcast_ref::<UsageError>().is_some())
    {
        2
    } else {
        1
    }
}
