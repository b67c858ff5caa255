//! Joining the world this process was started in: alone, or as one rank of an `mpirun` job.

use super::World;
use std::time::Duration;

/// The number of ranks of the MPI job that started this process, read from the launcher's
/// environment (Open MPI, MPICH/Hydra or PMIx); `None` when no launcher started it.
pub fn launcher_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|key| std::env::var(key).ok()?.parse().ok())
}

/// Ranks of the job on this machine (they share its cores).
#[cfg(feature = "mpi")]
fn local_ranks() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|key| std::env::var(key).ok()?.parse().ok())
        .unwrap_or(1)
}

/// The world of this process: [`super::Solo`] unless an MPI launcher started several ranks.
/// `timeout` bounds every collective.
pub fn join(timeout: Duration) -> anyhow::Result<World> {
    let Some(ranks) = launcher_ranks().filter(|&n| n > 1) else {
        return Ok(World::default());
    };
    join_mpi(ranks, timeout)
}

#[cfg(feature = "mpi")]
fn join_mpi(ranks: usize, timeout: Duration) -> anyhow::Result<World> {
    let world = super::mpi_world::MpiWorld::init(timeout).ok_or_else(|| {
        anyhow::anyhow!("the MPI launcher announced {ranks} ranks but MPI failed to initialise")
    })?;
    share_cores();
    end_job_on_panic();
    Ok(World::new(world))
}

#[cfg(not(feature = "mpi"))]
fn join_mpi(ranks: usize, _timeout: Duration) -> anyhow::Result<World> {
    Err(crate::usage_error!(
        "started by an MPI launcher with {ranks} ranks, but this stoke was built without MPI; \
         rebuild with `cargo build --release --features mpi` (needs Open MPI: Debian packages \
         libopenmpi-dev openmpi-bin libclang-dev)"
    ))
}

/// Splits this machine's cores between its ranks (unless `RAYON_NUM_THREADS` says otherwise):
/// each rank's compute threads would otherwise claim every core.
#[cfg(feature = "mpi")]
fn share_cores() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    // `available_parallelism` honours the core binding mpirun gives each rank.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound = cores < num_cores_online();
    let threads = if bound { cores } else { cores / local_ranks() };
    // Fails only when the pool exists already; it then keeps its size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
}

/// Online cores of the machine, whatever this process is bound to.
#[cfg(feature = "mpi")]
fn num_cores_online() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| parse_cpu_list(text.trim()))
        .unwrap_or(usize::MAX)
}

/// The number of cores in a Linux CPU list such as `0-3,6,8-9`.
pub fn parse_cpu_list(text: &str) -> Option<usize> {
    text.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => Some(b.parse::<usize>().ok()? + 1 - a.parse::<usize>().ok()?),
            None => part.parse::<usize>().ok().map(|_| 1),
        })
        .sum()
}

/// A panic on one rank ends the process at once: unwinding would finalise MPI, which waits
/// for the other ranks, who wait in their next collective for this one.
#[cfg(feature = "mpi")]
fn end_job_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        eprintln!("stoke: a rank panicked; ending the job (the last checkpoint is kept)");
        std::process::exit(101);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_their_cores() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
