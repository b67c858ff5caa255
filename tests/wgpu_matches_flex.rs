//! With `--features wgpu`: a short training on wgpu (OpenGL; Mesa's llvmpipe on a CPU-only
//! machine) follows the same trajectory as on flex. Run: `cargo test --release --features wgpu
//! --test wgpu_matches_flex`.
#![cfg(feature = "wgpu")]

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use stoke::batch::to_device;
use stoke::datasets::augment::Augment;
use stoke::datasets::synthetic::{SyntheticSpec, generate};
use stoke::datasets::{BatchPlan, Pipeline, TrainLoader};
use stoke::loss::cross_entropy;

/// Losses of 12 SGD steps of the smoke CNN started from the same weights on `device`.
fn losses(device: &Device, record: burn::store::ModuleRecord) -> Vec<f64> {
    let spec: stoke::models::ModelSpec =
        toml::from_str("arch = \"small_cnn\"\nwidths = [8, 16]").unwrap();
    let mut model = spec
        .build([3, 16, 16], 4, device)
        .unwrap()
        .load_record(record);
    let mut options = toml::Table::new();
    options.insert("momentum".into(), 0.9.into());
    let mut optim = stoke::optim::builtin::sgd(&options).unwrap().optim;
    let spec = SyntheticSpec {
        num_classes: 4,
        channels: 3,
        height: 16,
        width: 16,
    };
    let set = std::sync::Arc::new(generate(spec, 256, 0, 0));
    let pipeline = Pipeline {
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
        augment: Augment {
            crop_padding: 1,
            hflip: true,
        },
    };
    let plan = BatchPlan {
        batch_size: 32,
        seed: 0,
        start: 0,
        end: 12,
        prefetch: 2,
        cursor: None,
        shard: Default::default(),
    };
    let mut loader = TrainLoader::new(set, pipeline, plan);
    let mut out = Vec::new();
    while let Some(host) = loader.next_batch() {
        let batch = to_device(host, device);
        let loss = cross_entropy(model.forward(batch.images), batch.labels, 0.0);
        out.push(loss.clone().into_scalar::<f64>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
    }
    out
}

#[test]
fn short_training_on_wgpu_matches_flex() {
    // Full autotuning compiles and times every matmul candidate: minutes on llvmpipe. Set
    // before the runtime starts; this binary has this one test, so no thread reads it now.
    if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
        // SAFETY: no other thread of this process exists yet that reads the environment.
        unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
    }
    let flex = Device::flex().autodiff();
    flex.seed(0);
    let spec: stoke::models::ModelSpec =
        toml::from_str("arch = \"small_cnn\"\nwidths = [8, 16]").unwrap();
    let init = spec.build([3, 16, 16], 4, &flex).unwrap().into_record();
    let on_flex = losses(&flex, init.clone());
    let on_wgpu = losses(&stoke::device::parse("opengl").unwrap().autodiff(), init);
    // Kernels differ in summation order (f32 rounding ~1e-7 per op); over 12 steps of a
    // well-conditioned problem the losses agree to 1e-3 relative. A wrong kernel or a broken
    // optimizer step shows up as a difference of 1e-2 or more.
    assert!(
        on_flex[11] < on_flex[0],
        "training does not learn: {on_flex:?}"
    );
    let largest = on_flex
        .iter()
        .zip(&on_wgpu)
        .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
        .fold(0.0, f64::max);
    eprintln!(
        "flex:   {on_flex:?}\nopengl: {on_wgpu:?}\nlargest relative difference {largest:.2e}"
    );
    for (step, (a, b)) in on_flex.iter().zip(&on_wgpu).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * a.abs().max(1.0),
            "step {step}: flex {a} vs wgpu {b}\n{on_flex:?}\n{on_wgpu:?}"
        );
    }
}
