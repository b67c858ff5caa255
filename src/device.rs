//! Backend selection at run time: `--device flex|ndarray|wgpu|vulkan|opengl|tch|cuda[:N]`.
//! Which names work depends on the cargo features this binary was built with.

use crate::usage_error;
use burn::tensor::Device;

/// (device name, cargo feature that compiles it in, whether it is compiled in)
pub fn backends() -> Vec<(&'static str, &'static str, bool)> {
    vec![
        ("flex", "flex", cfg!(feature = "flex")),
        ("ndarray", "ndarray", cfg!(feature = "ndarray")),
        ("wgpu", "wgpu", cfg!(feature = "wgpu")),
        ("vulkan", "wgpu", cfg!(feature = "wgpu")),
        ("opengl", "wgpu", cfg!(feature = "wgpu")),
        ("tch", "tch", cfg!(feature = "tch")),
        ("cuda[:N]", "cuda", cfg!(feature = "cuda")),
    ]
}

/// The device a name selects, or a usage error naming the feature to build with.
pub fn parse(name: &str) -> anyhow::Result<Device> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index
                .parse()
                .map_err(|_| usage_error!("device `{name}`: `{index}` is not a device index"))?;
            (kind, index)
        }
        None => (name, 0),
    };
    let missing = |feature: &str| {
        usage_error!(
            "device `{name}` is not compiled into this binary; rebuild with `--features {feature}` \
             (compiled in: {})",
            compiled().join(", ")
        )
    };
    match kind {
        "flex" => flex().ok_or_else(|| missing("flex")),
        "ndarray" => ndarray().ok_or_else(|| missing("ndarray")),
        "wgpu" => wgpu(false).ok_or_else(|| missing("wgpu")),
        "vulkan" => wgpu(true).ok_or_else(|| missing("wgpu")),
        "opengl" => opengl().ok_or_else(|| missing("wgpu"))?,
        "tch" => tch().ok_or_else(|| missing("tch")),
        "cuda" => cuda(index).ok_or_else(|| missing("cuda")),
        _ => Err(usage_error!(
            "unknown device `{name}`; expected one of flex, ndarray, wgpu, vulkan, opengl, tch, cuda[:N]"
        )),
    }
}

fn compiled() -> Vec<&'static str> {
    backends()
        .into_iter()
        .filter(|b| b.2)
        .map(|b| b.0)
        .collect()
}

fn flex() -> Option<Device> {
    #[cfg(feature = "flex")]
    return Some(Device::flex());
    #[cfg(not(feature = "flex"))]
    None
}

fn ndarray() -> Option<Device> {
    // Deprecated upstream in favour of flex; kept as a selectable reference backend.
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    return Some(Device::ndarray());
    #[cfg(not(feature = "ndarray"))]
    None
}

#[allow(unused_variables)]
fn wgpu(vulkan: bool) -> Option<Device> {
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::DeviceKind;
        Some(if vulkan {
            Device::vulkan(DeviceKind::DefaultDevice)
        } else {
            Device::wgpu(DeviceKind::DefaultDevice)
        })
    }
    #[cfg(not(feature = "wgpu"))]
    {
        None
    }
}

/// wgpu on OpenGL, initialised once per process (Burn refuses a second initialisation).
/// Mesa's llvmpipe runs it on a CPU-only machine where its Vulkan driver (lavapipe) crashes
/// compiling Burn's matmul kernels.
fn opengl() -> Option<anyhow::Result<Device>> {
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::wgpu::WgpuBackend;
        use std::sync::OnceLock;
        static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
        let device = DEVICE.get_or_init(|| {
            Device::wgpu_options()
                .graphics_api(WgpuBackend::Gl)
                .init()
                .map_err(|e| e.to_string())
        });
        Some(
            device
                .clone()
                .map_err(|e| anyhow::anyhow!("device `opengl`: no OpenGL adapter: {e}")),
        )
    }
    #[cfg(not(feature = "wgpu"))]
    {
        None
    }
}

#[allow(deprecated)] // burn-tch is deprecated upstream but still the libtorch bridge
fn tch() -> Option<Device> {
    #[cfg(feature = "tch")]
    return Some(Device::libtorch());
    #[cfg(not(feature = "tch"))]
    None
}

#[allow(unused_variables)]
fn cuda(index: usize) -> Option<Device> {
    #[cfg(feature = "cuda")]
    return Some(Device::cuda(index));
    #[cfg(not(feature = "cuda"))]
    None
}
