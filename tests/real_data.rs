//! The real Fashion-MNIST from Debian's `dataset-fashion-mnist` (installed by .ci/run) and the
//! subset built into the binary. Without the package the real-data test skips, unless
//! STOKE_REQUIRE_SYSTEM_DEPS=1.

mod common;

use stoke::config::resolve;
use stoke::datasets::{LoadedData, load};

fn load_preset(name: &str) -> LoadedData {
    let (config, _) = resolve("quickstart", &[format!("dataset.name={name}")]).unwrap();
    load(&config.dataset, 0).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

fn class_counts(labels: &[u32]) -> Vec<usize> {
    let mut counts = vec![0; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

#[test]
fn embedded_subset_is_balanced_fashion_mnist() {
    let data = load_preset("fashion-mnist-subset");
    assert_eq!((data.train.len(), data.test.len()), (10_000, 2_000));
    assert_eq!(
        (data.train.channels, data.train.height, data.train.width),
        (1, 28, 28)
    );
    assert_eq!(class_counts(&data.train.labels), vec![1000; 10]);
    assert_eq!(class_counts(&data.test.labels), vec![200; 10]);
    assert_eq!(data.class_names[9], "Ankle boot");
}

#[test]
fn real_fashion_mnist_reads_and_contains_the_subset() {
    let installed = std::path::Path::new("/usr/share/datasets/fashion-mnist").is_dir();
    if !common::system_dependency("Debian's dataset-fashion-mnist", installed) {
        return;
    }
    let full = load_preset("fashion-mnist");
    assert_eq!((full.train.len(), full.test.len()), (60_000, 10_000));
    assert_eq!(class_counts(&full.train.labels), vec![6000; 10]);
    assert_eq!(class_counts(&full.test.labels), vec![1000; 10]);
    // The subset is the first 1,000 (train) / 200 (test) images of each class in file order.
    let subset = load_preset("fashion-mnist-subset");
    for (whole, part, per_class) in [
        (&full.train, &subset.train, 1000),
        (&full.test, &subset.test, 200),
    ] {
        let mut taken = [0usize; 10];
        let mut chosen = Vec::new();
        for i in 0..whole.len() {
            let class = whole.labels[i] as usize;
            if taken[class] < per_class {
                taken[class] += 1;
                chosen.push(i);
            }
        }
        assert_eq!(chosen.len(), part.len());
        for (j, &i) in chosen.iter().enumerate() {
            assert_eq!(whole.labels[i], part.labels[j]);
            assert_eq!(whole.image(i), part.image(j), "image {j} of the subset");
        }
    }
}
