//! The DDPM UNet: parameter counts equal to the official architecture's (pesser/
//! pytorch_diffusion's port of Ho et al.'s release, counted with PyTorch), output shapes, the
//! sinusoidal embedding's closed form, and the optional conditioning inputs.

use burn::prelude::*;
use burn::tensor::{Device, Distribution};
use stoke::models::ModelSpec;
use stoke::models::param_count::trainable_params;
use stoke::models::unet::{UNet, UNetConfig, sinusoidal_embedding};

fn config(
    ch: usize,
    ch_mult: &[usize],
    res_blocks: usize,
    attn: &[usize],
    channels: usize,
    resolution: usize,
) -> UNetConfig {
    UNetConfig {
        ch,
        ch_mult: ch_mult.to_vec(),
        res_blocks,
        attn_resolutions: attn.to_vec(),
        dropout: 0.1,
        in_channels: channels,
        out_channels: channels,
        resolution,
        num_classes: None,
        aug_dim: None,
    }
}

#[test]
fn parameter_counts_match_the_official_ddpm_unet() {
    let device = Device::flex();
    // `sum(p.numel() for p in Model(...).parameters())` of pytorch_diffusion/model.py.
    let cifar = UNet::new(&config(128, &[1, 2, 2, 2], 2, &[16], 3, 32), &device).unwrap();
    assert_eq!(trainable_params(&cifar), 35_746_307);
    let small = UNet::new(&config(32, &[1, 2, 2], 1, &[7], 1, 28), &device).unwrap();
    assert_eq!(trainable_params(&small), 1_112_801);
}

#[test]
fn output_has_the_input_shape_and_conditioning_changes_it() {
    let device = Device::flex();
    device.seed(0);
    let mut c = config(32, &[1, 2], 1, &[14], 1, 28);
    c.num_classes = Some(10);
    c.aug_dim = Some(5);
    let unet = UNet::new(&c, &device).unwrap().valid();
    let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::from_floats([10.0, 500.0], &device);
    let plain = unet.forward(x.clone(), t.clone(), None, None);
    assert_eq!(plain.dims(), [2, 1, 28, 28]);
    let classes = Tensor::<1, Int>::from_ints([3, 7], &device);
    let conditioned = unet.forward(x.clone(), t.clone(), Some(classes), None);
    let augmented = unet.forward(x, t, None, Some(Tensor::ones([2, 5], &device)));
    let differs = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f64>() > 1e-6;
    assert!(differs(plain.clone(), conditioned));
    assert!(differs(plain, augmented));
}

#[test]
fn sinusoidal_embedding_matches_the_closed_form() {
    let device = Device::flex();
    let emb = sinusoidal_embedding(Tensor::<1>::from_floats([0.0, 3.0], &device), 8);
    let values: Vec<f64> = emb.into_data().iter::<f64>().collect();
    // half = 4, f_i = 10000^(-i/3).
    for i in 0..4 {
        let f = 10000f64.powf(-(i as f64) / 3.0);
        assert!((values[i] - 0.0).abs() < 1e-6 && (values[4 + i] - 1.0).abs() < 1e-6);
        assert!((values[8 + i] - (3.0 * f).sin()).abs() < 1e-5);
        assert!((values[12 + i] - (3.0 * f).cos()).abs() < 1e-5);
    }
}

#[test]
fn bad_configs_are_usage_errors() {
    let device = Device::flex();
    assert!(UNet::new(&config(0, &[1], 1, &[], 1, 28), &device).is_err());
    // Widths the release's 32 groups do not divide use gcd(32, channels) groups.
    let odd = UNet::new(&config(48, &[1, 2], 1, &[], 1, 28), &device).unwrap();
    let x = Tensor::<4>::zeros([1, 1, 28, 28], &device);
    let out = odd.forward(x, Tensor::<1>::from_floats([3.0], &device), None, None);
    assert_eq!(out.dims(), [1, 1, 28, 28]);
}

fn preset(name: &str) -> ModelSpec {
    toml::from_str(stoke::config::presets::model(name).unwrap()).unwrap()
}

#[test]
fn the_presets_build_and_the_cifar10_one_has_the_release_size() {
    let device = Device::flex();
    let cifar = preset("unet_cifar10")
        .unet_config([3, 32, 32], None, None)
        .unwrap();
    assert_eq!(
        trainable_params(&UNet::new(&cifar, &device).unwrap()),
        35_746_307
    );
    for name in ["unet_tiny", "unet_small"] {
        let config = preset(name)
            .unet_config([1, 28, 28], Some(10), Some(9))
            .unwrap();
        let unet = UNet::new(&config, &device).unwrap();
        println!("{name}: {} parameters on 1x28x28", trainable_params(&unet));
        let x = Tensor::<4>::zeros([2, 1, 28, 28], &device);
        let out = unet.forward(x, Tensor::<1>::from_floats([0.1, 2.0], &device), None, None);
        assert_eq!(out.dims(), [2, 1, 28, 28], "{name}");
    }
    // The halvings need a side they divide, and square images.
    let error = preset("unet_small")
        .unet_config([1, 30, 30], None, None)
        .unwrap_err();
    assert!(format!("{error}").contains("model.ch_mult"), "{error}");
    assert!(
        preset("unet_small")
            .unet_config([1, 28, 32], None, None)
            .is_err()
    );
    // Not a classifier, and classifiers are not denoisers.
    assert!(
        preset("unet_small")
            .build([1, 28, 28], 10, &device)
            .is_err()
    );
    assert!(
        preset("small_cnn")
            .unet_config([1, 28, 28], None, None)
            .is_err()
    );
}
