//! Test-only fault injection: `STOKE_FAULT=checkpoint:full` makes every checkpoint write fail
//! as a full disk would (ENOSPC) after its data files, and `STOKE_FAULT=checkpoint:stall=MS`
//! stalls it there for MS milliseconds, so tests can check that a full disk or a signal in
//! the middle of a checkpoint leaves the run loadable. Unset (always, outside tests), every
//! point is a no-op.

use std::io;

/// The fault configured for `point`, if any: `Err` for `full`, a pause for `stall=MS`.
pub fn at(point: &str) -> io::Result<()> {
    let Ok(spec) = std::env::var("STOKE_FAULT") else {
        return Ok(());
    };
    let Some((name, fault)) = spec.split_once(':') else {
        return Ok(());
    };
    if name != point {
        return Ok(());
    }
    if fault == "full" {
        return Err(io::Error::from_raw_os_error(28)); // ENOSPC
    }
    if let Some(ms) = fault.strip_prefix("stall=").and_then(|m| m.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    Ok(())
}
