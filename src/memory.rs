//! What the machine can hold: size checks compare a request with it before allocating.

/// Bytes of memory available to new allocations (Linux: `MemAvailable` of /proc/meminfo),
/// if known.
pub fn available() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_plausible_amount_on_linux() {
        if let Some(bytes) = super::available() {
            // More than 16 MB and less than 64 TB: a real reading, not a parse slip.
            assert!(bytes > 1 << 24 && bytes < 1 << 46, "{bytes}");
        }
    }
}
