fn main() {
    keep_freed_memory();
    std::process::exit(stoke::cli::main());
}

/// glibc serves every block above its mmap threshold (at most 32 MiB) with a fresh mapping
/// and unmaps it on free, so each training step faulted and zero-filled its activations
/// anew; without mmap for the heap and without trimming, freed activations are reused (issue
/// 17: +15-25% on a ResNet-18 step, peak memory +3%; BENCHMARKS.md). mimalloc measured
/// slower and 1.2-1.6x larger here. `STOKE_MALLOC=glibc` keeps glibc's defaults, to measure.
/// The binary sets this, not the library: a program embedding stoke keeps its allocator.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("STOKE_MALLOC").is_none_or(|v| v != "glibc") {
        // SAFETY: mallopt only changes glibc's malloc parameters; it is called before any
        // other thread exists, and both parameters accept these values.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }
}
