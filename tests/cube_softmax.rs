//! With `--features wgpu`: the CubeCL two-pass softmax kernel on wgpu (OpenGL; Mesa's llvmpipe
//! on a CPU-only machine) against the f64 reference, its special values, any dim, and its
//! gradient. Run: `cargo test --release --features wgpu --test cube_softmax`.
#![cfg(feature = "wgpu")]

use burn::tensor::{Device, Tensor, TensorData};
use stoke::kernels::softmax::reference::{max_relative_error, softmax_f64};
use stoke::kernels::softmax::{has_kernel, softmax};
use stoke::rng::{Rng, Stream};

fn device() -> Device {
    // Full autotuning compiles and times every matmul candidate: minutes on llvmpipe. Set once,
    // before the runtime starts; every test reaches the runtime through here, after the `Once`.
    static MINIMAL_AUTOTUNE: std::sync::Once = std::sync::Once::new();
    MINIMAL_AUTOTUNE.call_once(|| {
        if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
            // SAFETY: Rust's own reads of the environment are locked against this write, and
            // the C code that calls getenv (Mesa's GL driver) starts only after this `Once`.
            unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
        }
    });
    stoke::device::parse("opengl").expect("an OpenGL adapter (Mesa's llvmpipe on a CPU)")
}

fn random_rows(rows: usize, len: usize, scale: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed, Stream::Synthetic, len as u64, rows as u64);
    (0..rows * len)
        .map(|_| (rng.normal() * scale) as f32)
        .collect()
}

/// The kernel's output for `rows` rows of `len`, along the last dim.
fn on_device(x: &[f32], rows: usize, len: usize, device: &Device) -> Vec<f32> {
    let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [rows, len]), device);
    softmax(x, 1).into_data().iter::<f32>().collect::<Vec<_>>()
}

#[test]
fn the_kernel_runs_on_the_wgpu_device() {
    assert!(has_kernel(&device()));
    assert!(has_kernel(&device().autodiff()));
}

#[test]
fn matches_f64_on_random_rows_of_many_lengths() {
    let device = device();
    let mut worst = 0.0f64;
    // Shorter than, equal to and longer than a workgroup (256 units), not multiples of it,
    // and rows long enough that each unit strides many times.
    for len in [1, 2, 3, 7, 64, 255, 256, 257, 1000, 4099, 100_000] {
        let rows = (20_000 / len).clamp(1, 9);
        for (k, scale) in [0.1, 1.0, 10.0, 50.0].into_iter().enumerate() {
            let x = random_rows(rows, len, scale, k as u64);
            let y = on_device(&x, rows, len, &device);
            for (xr, yr) in x.chunks(len).zip(y.chunks(len)) {
                let error = max_relative_error(yr, &softmax_f64(xr));
                // The bound, as on the CPU: the polynomial's 1.7e-7 plus f32 rounding
                // of the sums and the scaling (GPU division is within 2.5 ulp).
                assert!(error < 2e-6, "len {len} scale {scale}: {error:e}");
                worst = worst.max(error);
            }
        }
    }
    eprintln!("largest relative error against f64: {worst:.2e}");
}

#[test]
fn special_values() {
    let device = device();
    let inf = f32::INFINITY;
    let rows: [&[f32]; 6] = [
        // -inf entries (attention masks) give exactly 0.
        &[1.0, -inf, 2.0, -inf],
        // A row of only -inf gives zeros, not NaN.
        &[-inf, -inf, -inf, -inf],
        // NaN anywhere gives NaN for the row, as does +inf.
        &[1.0, f32::NAN, 2.0, 3.0],
        &[1.0, inf, 2.0, 3.0],
        // +-1e30: no overflow; the largest entries share the mass.
        &[1e30, -1e30, 1e30, 0.0],
        &[-1e30, -1e30, -1e30, -1e30],
    ];
    let x: Vec<f32> = rows.concat();
    let y = on_device(&x, rows.len(), 4, &device);
    let close = |got: &[f32], want: &[f32]| {
        for (g, w) in got.iter().zip(want) {
            // f32 rounding of p / sum: a few ulp.
            assert!((g - w).abs() <= 1e-6 * w.abs(), "{got:?} vs {want:?}");
        }
    };
    let reference: Vec<f32> = softmax_f64(rows[0]).iter().map(|&v| v as f32).collect();
    close(&y[0..4], &reference);
    assert_eq!((y[1], y[3]), (0.0, 0.0), "-inf entries are exactly 0");
    assert_eq!(&y[4..8], &[0.0; 4]);
    assert!(y[8..16].iter().all(|v| v.is_nan()), "{:?}", &y[8..16]);
    close(&y[16..20], &[0.5, 0.0, 0.5, 0.0]);
    close(&y[20..24], &[0.25; 4]);
}

#[test]
fn any_dim_matches_the_builtin_softmax() {
    let device = device();
    let x = random_rows(1, 3 * 5 * 7, 3.0, 7);
    let x = Tensor::<3>::from_data(TensorData::new(x, [3, 5, 7]), &device);
    for dim in 0..3 {
        let got = softmax(x.clone(), dim)
            .into_data()
            .iter::<f32>()
            .collect::<Vec<_>>();
        let want = burn::tensor::activation::softmax(x.clone(), dim)
            .into_data()
            .iter::<f32>()
            .collect::<Vec<_>>();
        for (g, w) in got.iter().zip(&want) {
            // Both are f32 softmaxes of values within +-10: a few ulp apart.
            assert!((g - w).abs() <= 2e-6 * w.max(1e-3), "dim {dim}: {g} vs {w}");
        }
    }
}

#[test]
fn gradient_matches_flex() {
    let values = random_rows(4, 33, 2.0, 3);
    let weights = random_rows(4, 33, 1.0, 4);
    let grad = |device: Device| {
        let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [4, 33]), &device)
            .require_grad();
        let w = Tensor::<2>::from_data(TensorData::new(weights.clone(), [4, 33]), &device);
        let loss = (softmax(x.clone(), 1) * w).sum();
        let grads = loss.backward();
        x.grad(&grads)
            .unwrap()
            .into_data()
            .iter::<f32>()
            .collect::<Vec<_>>()
    };
    let on_flex = grad(Device::flex().autodiff());
    let on_gpu = grad(device().autodiff());
    for (a, b) in on_flex.iter().zip(&on_gpu) {
        // The same backward formula on outputs that agree to ~1e-7: differences of f32
        // rounding in y (dy - sum(dy y)), with |dy| ~ 1.
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

#[test]
fn a_vit_forward_on_wgpu_matches_flex() {
    use burn::module::Module;
    // Attention is the kernel's main consumer: a small ViT (two blocks, 17 tokens) from the
    // same weights gives the same logits on wgpu as on flex.
    let spec: stoke::models::ModelSpec =
        toml::from_str("arch = \"vit\"\npatch = 4\ndim = 32\ndepth = 2\nheads = 4").unwrap();
    let flex = Device::flex();
    flex.seed(0);
    let record = spec.build([1, 16, 16], 10, &flex).unwrap().into_record();
    let images = random_rows(2, 256, 1.0, 9);
    let logits = |device: Device| {
        let model = spec
            .build([1, 16, 16], 10, &device)
            .unwrap()
            .load_record(record.clone());
        let x = Tensor::<4>::from_data(TensorData::new(images.clone(), [2, 1, 16, 16]), &device);
        model
            .forward(x)
            .into_data()
            .iter::<f32>()
            .collect::<Vec<_>>()
    };
    let on_flex = logits(flex.clone());
    let on_gpu = logits(device());
    for (a, b) in on_flex.iter().zip(&on_gpu) {
        // Two blocks of f32 matmuls, layer norms and softmaxes in different summation orders:
        // differences of a few 1e-6 on logits of order 1. A wrong softmax is off by 1e-2.
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }
}
