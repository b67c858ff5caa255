//! `stoke train --devices cuda:0,cuda:1`: data-parallel training over the GPUs of one machine,
//! one thread per device, with Burn's DDP (feature `cuda`): gradients are averaged by NCCL
//! inside the backward pass; the rest (sharding, evaluation, rank 0 writing the run) is the
//! engine's, as under MPI, with the ranks meeting in shared memory ([`ThreadGroup`]).
//!
//! Burn 0.22.1 implements its collective all-reduce for CUDA devices only (flex, ndarray, tch
//! and wgpu panic), so CPU devices are refused: several CPU ranks run under `mpirun`.

use super::{Observer, Summary, TrainOptions};
use crate::config::RunConfig;
use crate::distributed::threads::ThreadGroup;
use crate::distributed::{Collective, DEFAULT_TIMEOUT, World};
use crate::usage_error;

/// The devices of a `--devices` list, checked: at least two distinct CUDA devices, as
/// `cuda:N` names.
pub fn parse_devices(list: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for item in list.split(',').map(str::trim) {
        let (kind, index) = item.split_once(':').unwrap_or((item, "0"));
        if kind != "cuda" {
            return Err(usage_error!(
                "--devices {list}: DDP needs CUDA devices, got `{item}`; use mpirun for CPU \
                 ranks: `stoke launch -n N -- train ...`"
            ));
        }
        let index: usize = index.parse().map_err(|_| {
            usage_error!("--devices {list}: `{item}` is not cuda or cuda:N with N a number")
        })?;
        let name = format!("cuda:{index}");
        if names.contains(&name) {
            return Err(usage_error!("--devices {list}: `{name}` is listed twice"));
        }
        names.push(name);
    }
    if names.len() < 2 {
        return Err(usage_error!(
            "--devices {list}: data-parallel training needs at least two devices (for one, use --device)"
        ));
    }
    Ok(names)
}

/// How the gradients of the ranks are averaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientAveraging {
    /// By Burn's distributed backward (NCCL on CUDA): the parameters are marked distributed.
    InBackward,
    /// By the engine, through host memory (any backend; what the CPU tests use).
    Host,
}

/// A [`ThreadGroup`] member that tells the engine how gradients are averaged.
struct DeviceRank {
    rank: crate::distributed::threads::ThreadRank,
    averaging: GradientAveraging,
}

impl Collective for DeviceRank {
    fn rank(&self) -> usize {
        self.rank.rank()
    }
    fn size(&self) -> usize {
        self.rank.size()
    }
    fn sum_f32(&self, buffers: &mut [Vec<f32>], what: &str) {
        self.rank.sum_f32(buffers, what)
    }
    fn sum_f64(&self, values: &mut [f64], what: &str) {
        self.rank.sum_f64(values, what)
    }
    fn broadcast(&self, bytes: &mut Vec<u8>, what: &str) {
        self.rank.broadcast(bytes, what)
    }
    fn abort(&self, code: i32) -> ! {
        self.rank.abort(code)
    }
    fn averages_gradients_in_backward(&self) -> bool {
        self.averaging == GradientAveraging::InBackward
    }
}

/// What rank 0 of a thread group shows (progress); the other ranks show nothing.
pub type LeaderObservers<'a> = &'a (dyn Fn() -> Vec<Box<dyn Observer>> + Sync);

/// Trains `config` with one rank per device name, each in its own thread; returns rank 0's
/// summary, or the first rank's error.
pub fn train_threads(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &TrainOptions,
    devices: &[String],
    averaging: GradientAveraging,
    observers: LeaderObservers<'_>,
) -> anyhow::Result<Summary> {
    let group = ThreadGroup::new(devices.len(), DEFAULT_TIMEOUT);
    let results: Vec<anyhow::Result<Summary>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(rank, device)| {
                let group = group.clone();
                let mut config = config.clone();
                config.device = device.clone();
                let options = options.clone();
                scope.spawn(move || {
                    let world = World::new(DeviceRank {
                        rank: group.member(rank),
                        averaging,
                    });
                    let options = TrainOptions { world, ..options };
                    let shown = match rank {
                        0 => observers(),
                        _ => Vec::new(),
                    };
                    let result = super::train(&config, resolved, &options, shown);
                    if let Err(error) = &result {
                        group.fail(&format!("rank {rank} ({device}) failed: {error:#}"));
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(rank, handle)| {
                handle.join().unwrap_or_else(|panic| {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into());
                    group.fail(&format!("rank {rank} panicked: {why}"));
                    Err(anyhow::anyhow!("rank {rank} panicked: {why}"))
                })
            })
            .collect()
    });
    let mut summary = None;
    let mut failures = Vec::new();
    for (rank, result) in results.into_iter().enumerate() {
        match result {
            Ok(s) if rank == 0 => summary = Some(s),
            Ok(_) => {}
            Err(error) => failures.push(error),
        }
    }
    if failures.is_empty() {
        return summary.ok_or_else(|| anyhow::anyhow!("rank 0 returned no summary"));
    }
    // The error that started it, rather than the others' "stopped because ...".
    failures.sort_by_key(|e| format!("{e:#}").contains("stopped because"));
    Err(failures.remove(0))
}

/// `--devices`: Burn's DDP over the listed CUDA devices.
pub fn train_on_devices(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &TrainOptions,
    list: &str,
    observers: LeaderObservers<'_>,
) -> anyhow::Result<Summary> {
    let devices = parse_devices(list)?;
    if options.world.size() > 1 {
        return Err(usage_error!(
            "--devices runs one process with a thread per GPU; do not start it under mpirun"
        ));
    }
    ddp(config, resolved, options, &devices, observers)
}

/// Burn's DDP: compiled into every build (so it is type-checked here, where the `cuda`
/// feature cannot be built: its build downloads an LLVM bundle), usable with `cuda` only.
fn ddp(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &TrainOptions,
    devices: &[String],
    observers: LeaderObservers<'_>,
) -> anyhow::Result<Summary> {
    use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
    if !cfg!(feature = "cuda") {
        return Err(usage_error!(
            "--devices needs CUDA: rebuild with `cargo build --release --features cuda`"
        ));
    }
    let burn_devices = devices
        .iter()
        .map(|name| crate::device::parse(name).map(|d| d.autodiff()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Equal shards: the mean over devices is then the gradient of the global mean loss.
    if !config.data.batch_size.is_multiple_of(devices.len()) {
        return Err(usage_error!(
            "key `data.batch_size`: {} is not a multiple of the {} devices (DDP averages equal shards)",
            config.data.batch_size,
            devices.len()
        ));
    }
    let _context = DistributedContext::init(
        burn_devices,
        DistributedConfig {
            all_reduce_op: ReduceOperation::Mean,
        },
    );
    train_threads(
        config,
        resolved,
        options,
        devices,
        GradientAveraging::InBackward,
        observers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(list: &str) -> String {
        format!("{:#}", parse_devices(list).unwrap_err())
    }

    #[test]
    fn device_lists_name_distinct_cuda_devices() {
        assert_eq!(
            parse_devices("cuda:0,cuda:1").unwrap(),
            ["cuda:0", "cuda:1"]
        );
        assert_eq!(parse_devices("cuda, cuda:3").unwrap(), ["cuda:0", "cuda:3"]);
        assert!(error("cuda:0,cuda:0").contains("listed twice"));
        assert!(error("cuda:1").contains("at least two devices"));
        assert!(error("cuda:x,cuda:1").contains("not cuda or cuda:N"));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn without_cuda_a_valid_list_names_the_feature_to_build_with() {
        let config = crate::config::resolve("smoke", &[]).unwrap();
        let error = train_on_devices(
            &config.0,
            &config.1,
            &TrainOptions::default(),
            "cuda:0,cuda:1",
            &Vec::new,
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("--features cuda"),
            "{error:#}"
        );
    }

    #[test]
    fn cpu_devices_are_refused_with_the_way_to_run_cpu_ranks() {
        for list in ["flex,flex", "cuda:0,ndarray", "wgpu,cuda:1", "tch,tch"] {
            let message = error(list);
            assert!(
                message.contains("DDP needs CUDA devices")
                    && message.contains("use mpirun for CPU ranks"),
                "{list}: {message}"
            );
        }
    }
}
