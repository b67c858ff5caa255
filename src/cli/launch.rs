//! `stoke launch -n N -- train ...`: runs a data-parallel training as N ranks under `mpirun`.

use crate::usage_error;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args, Debug)]
pub struct LaunchArgs {
    /// Number of ranks (processes) in all.
    #[arg(short = 'n', long = "ranks")]
    pub ranks: usize,
    /// An Open MPI hostfile naming the machines and their slots (see the README).
    #[arg(long)]
    pub hostfile: Option<PathBuf>,
    /// One more argument for mpirun (repeatable), e.g. `--mpirun-arg=--bind-to=none`.
    #[arg(long = "mpirun-arg", allow_hyphen_values = true, value_name = "ARG")]
    pub mpirun_args: Vec<String>,
    /// The stoke command every rank runs: `train <recipe> [overrides] [options]` (or
    /// `bench all-reduce`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(args: LaunchArgs) -> anyhow::Result<()> {
    if !cfg!(feature = "mpi") {
        return Err(usage_error!(
            "this stoke was built without MPI; rebuild with `cargo build --release --features mpi` \
             (needs Open MPI: Debian packages libopenmpi-dev openmpi-bin libclang-dev)"
        ));
    }
    if args.ranks == 0 {
        return Err(usage_error!("-n: expected at least one rank"));
    }
    let words: Vec<&str> = args.command.iter().take(2).map(String::as_str).collect();
    if !matches!(words.as_slice(), ["train", ..] | ["bench", "all-reduce"]) {
        return Err(usage_error!(
            "only `train` (and `bench all-reduce`) run data-parallel: \
             `stoke launch -n {} -- train <recipe> ...`",
            args.ranks
        ));
    }
    if let Some(hostfile) = &args.hostfile
        && !hostfile.is_file()
    {
        return Err(usage_error!(
            "--hostfile {}: no such file",
            hostfile.display()
        ));
    }
    let mpirun = find_in_path("mpirun").ok_or_else(|| {
        usage_error!(
            "mpirun not found on PATH: install Open MPI (Debian: apt-get install openmpi-bin \
             libopenmpi-dev)"
        )
    })?;
    let exe = std::env::current_exe()?;
    let mut command = Command::new(mpirun);
    command.arg("-np").arg(args.ranks.to_string());
    match &args.hostfile {
        Some(hostfile) => {
            command.arg("--hostfile").arg(hostfile);
        }
        None => {
            // One machine: more ranks than cores is slow but legitimate.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if args.ranks > cores {
                command.arg("--oversubscribe");
            }
        }
    }
    if running_as_root() {
        // Open MPI refuses root unless told; containers and CI machines often are root.
        command.arg("--allow-run-as-root");
    }
    command.args(&args.mpirun_args).arg(exe).args(&args.command);
    let status = command
        .status()
        .map_err(|e| anyhow::anyhow!("starting mpirun: {e}"))?;
    if !status.success() {
        // mpirun and the ranks have said why; pass its exit code on.
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new("/proc/self")).is_ok_and(|m| m.uid() == 0)
}
