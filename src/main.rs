fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`stoke ls | head`) would panic;
    // the default action ends the process quietly, as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread starts; no handler
    // code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(stoke::cli::main());
}
