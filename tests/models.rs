//! Model shapes and parameter counts against the reference architectures.
//!
//! Reference counts are PyTorch's `sum(p.numel() for p in model.parameters())` of the common
//! CIFAR implementations (kuangliu/pytorch-cifar ResNets, the WRN authors' layout) for 10
//! classes; exact integers, so the tolerance is zero.

use burn::prelude::*;
use burn::tensor::Device;
use stoke::bench::model_spec;
use stoke::models::trainable_params;

fn device() -> Device {
    Device::flex()
}

fn count(name: &str, in_channels: usize, classes: usize) -> usize {
    let model = model_spec(name)
        .unwrap()
        .build([in_channels, 32, 32], classes, &device())
        .unwrap();
    trainable_params(&model)
}

#[test]
fn resnet_parameter_counts_match_pytorch() {
    assert_eq!(count("resnet18", 3, 10), 11_173_962);
    assert_eq!(count("resnet34", 3, 10), 21_282_122);
    assert_eq!(count("resnet50", 3, 10), 23_520_842);
    // CIFAR-100 head: 512 * 100 + 100 instead of 512 * 10 + 10.
    assert_eq!(count("resnet18", 3, 100), 11_173_962 + 512 * 90 + 90);
}

#[test]
fn wide_and_cifar_resnet_counts_match_the_papers_code() {
    assert_eq!(count("wrn_28_10", 3, 10), 36_479_194);
    assert_eq!(count("resnet20", 3, 10), 269_722);
}

/// DeiT-Tiny and DeiT-Small (timm `deit_tiny_patch16_224` 5,717,416 and
/// `deit_small_patch16_224` 22,050,664 parameters) are the ViT presets' width, depth and heads
/// at 224x224 with 16x16 patches and 1000 classes.
#[test]
fn vit_parameter_counts_match_deit() {
    let deit = |preset: &str| {
        let spec = model_spec(preset).unwrap();
        let spec = spec
            .with("patch", 16)
            .unwrap()
            .with("drop_path", 0.0)
            .unwrap();
        trainable_params(&spec.build([3, 224, 224], 1000, &device()).unwrap())
    };
    assert_eq!(deit("vit_tiny"), 5_717_416);
    assert_eq!(deit("vit_small"), 22_050_664);
    // The CIFAR presets: 64 patches + class token; the position embeddings and the head change.
    let cifar_tiny =
        5_717_416 - (197 - 65) * 192 - 16 * 16 * 3 * 192 + 4 * 4 * 3 * 192 - 1000 * 192 - 1000
            + 10 * 192
            + 10;
    assert_eq!(count("vit_tiny", 3, 10), cifar_tiny);
}

#[test]
fn burn_num_params_also_counts_batch_norm_statistics() {
    let model = model_spec("resnet18")
        .unwrap()
        .build([3, 32, 32], 10, &device())
        .unwrap();
    // Each BN layer has 2 running statistics of its width; ResNet-18 has 4800 BN channels.
    assert_eq!(model.num_params() - trainable_params(&model), 2 * 4800);
}

#[test]
fn every_preset_classifies_both_image_shapes() {
    let device = device();
    for name in stoke::config::presets::model_names() {
        if name.starts_with("wrn_28")
            || name.starts_with("wrn_34")
            || name == "resnet50"
            || name == "resnet34"
            || name == "vit_small"
        {
            continue; // large; their structure is covered by the counts above
        }
        if name.starts_with("unet") {
            continue; // denoisers, not classifiers: tests/unet.rs
        }
        if name == "cell_supernet" {
            continue; // the supernet recipe's model, classifying per architecture: tests/nas.rs
        }
        for (channels, side) in [(1, 28), (3, 32)] {
            let model = model_spec(name)
                .unwrap()
                .build([channels, side, side], 7, &device)
                .unwrap();
            let logits = model.forward(Tensor::zeros([2, channels, side, side], &device));
            assert_eq!(logits.dims(), [2, 7], "{name} on {channels}x{side}x{side}");
        }
    }
}

#[test]
fn bad_architectures_are_rejected_with_the_key() {
    // Checked when the section is read, by the architecture's own options type.
    let err = toml::from_str::<stoke::models::ModelSpec>(
        "arch = \"wide_resnet\"\ndepth = 27\nwiden_factor = 2",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("model.depth") && err.contains("6n+4"), "{err}");
    let unknown = toml::from_str::<stoke::models::ModelSpec>(
        "arch = \"resnet\"\nblock = \"basic\"\nlayers = [2]\nwidth = 3",
    );
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `width`")
    );
}
