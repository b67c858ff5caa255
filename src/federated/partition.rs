//! Splitting a training set over clients: IID, Dirichlet label mixes (Hsu et al., 2019, as
//! FedAU's experiments), label-sorted shards (McMahan et al., 2017) and one class per client.
//! Every split is a pure function of the labels, the config and the seed, and gives every
//! image to exactly one client.

use crate::config::federated::{FederatedConfig, PartitionName};
use crate::rng::{Rng, Stream};
use crate::usage_error;

/// Dirichlet draws tried before a split with an empty client is an error.
const DIRICHLET_ATTEMPTS: usize = 100;

/// How to split a training set: into `parts`, by `kind`, with the options of the config
/// section `section` (named in errors, the parts counted by its key `count_key`).
#[derive(Clone, Debug)]
pub struct Split {
    pub parts: usize,
    pub kind: PartitionName,
    pub alpha: f64,
    pub shards_per_part: usize,
    pub section: &'static str,
    pub count_key: &'static str,
}

/// The image indices of each client, each list ascending.
pub fn partition(
    labels: &[u32],
    num_classes: usize,
    config: &FederatedConfig,
    seed: u64,
) -> anyhow::Result<Vec<Vec<usize>>> {
    let split = Split {
        parts: config.clients,
        kind: config.partition,
        alpha: config.alpha,
        shards_per_part: config.shards_per_client,
        section: "federated",
        count_key: "clients",
    };
    split_indices(labels, num_classes, &split, seed)
}

/// The image indices of each of `split.parts` parts, each list ascending: every image in
/// exactly one part, a pure function of the labels, the split and the seed.
pub fn split_indices(
    labels: &[u32],
    num_classes: usize,
    split: &Split,
    seed: u64,
) -> anyhow::Result<Vec<Vec<usize>>> {
    let (clients, section) = (split.parts, split.section);
    if clients == 0 || clients > labels.len() {
        return Err(usage_error!(
            "key `{section}.{}`: expected 1..={} (the training images), got {clients}",
            split.count_key,
            labels.len()
        ));
    }
    let mut rng = Rng::new(seed, Stream::Federated, 0, 0);
    let mut parts = match split.kind {
        PartitionName::Iid => iid(labels.len(), clients, &mut rng),
        PartitionName::Dirichlet => {
            let alpha = split.alpha;
            if !(alpha.is_finite() && alpha > 0.0) {
                return Err(usage_error!(
                    "key `{section}.alpha`: expected a positive number, got {alpha}"
                ));
            }
            // As the usual Dirichlet splitters do (NIID-Bench, FedLab), draw again until no
            // client is empty; the error below reports a split that stays impossible.
            let mut parts = dirichlet(labels, num_classes, clients, alpha, &mut rng);
            for _ in 0..DIRICHLET_ATTEMPTS {
                if parts.iter().all(|p| !p.is_empty()) {
                    break;
                }
                parts = dirichlet(labels, num_classes, clients, alpha, &mut rng);
            }
            parts
        }
        PartitionName::Shards => shards(labels, clients, split.shards_per_part, &mut rng)?,
        PartitionName::ByClass => by_class(labels, num_classes, clients, &mut rng),
    };
    if let Some(empty) = parts.iter().position(Vec::is_empty) {
        return Err(usage_error!(
            "key `{section}.partition`: the {:?} split of {} images over {clients} {count} leaves \
             part {empty} with no data; use fewer {count}{}",
            split.kind,
            labels.len(),
            match split.kind {
                PartitionName::Dirichlet => format!(" or a larger {section}.alpha"),
                PartitionName::ByClass => " (at most as many as images of the rarest class)".into(),
                _ => String::new(),
            },
            count = split.count_key,
        ));
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    Ok(parts)
}

/// A random permutation cut into near-equal consecutive parts.
fn iid(len: usize, clients: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let order = rng.permutation(len);
    (0..clients)
        .map(|c| order[c * len / clients..(c + 1) * len / clients].to_vec())
        .collect()
}

/// The indices of each class, in a random order.
fn by_label(labels: &[u32], num_classes: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut classes = vec![Vec::new(); num_classes];
    for i in rng.permutation(labels.len()) {
        classes[labels[i] as usize].push(i);
    }
    classes
}

/// For each class, client proportions drawn from Dir(alpha), its images cut accordingly.
fn dirichlet(
    labels: &[u32],
    num_classes: usize,
    clients: usize,
    alpha: f64,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    let mut parts = vec![Vec::new(); clients];
    for class in by_label(labels, num_classes, rng) {
        let draws: Vec<f64> = (0..clients).map(|_| gamma(alpha, rng)).collect();
        let total: f64 = draws.iter().sum();
        let mut start = 0usize;
        let mut cumulative = 0.0;
        for (client, draw) in draws.iter().enumerate() {
            cumulative += draw;
            let end = match client + 1 == clients {
                true => class.len(),
                false => ((cumulative / total) * class.len() as f64).round() as usize,
            };
            let end = end.clamp(start, class.len());
            parts[client].extend_from_slice(&class[start..end]);
            start = end;
        }
    }
    parts
}

/// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 through Gamma(shape + 1) U^(1/shape).
pub(crate) fn gamma(shape: f64, rng: &mut Rng) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.uniform();
        return gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Images sorted by label, cut into `clients * per_client` shards dealt at random.
fn shards(
    labels: &[u32],
    clients: usize,
    per_client: usize,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Vec<usize>>> {
    let count = clients.saturating_mul(per_client);
    if per_client == 0 || count > labels.len() {
        return Err(usage_error!(
            "key `federated.shards_per_client`: expected 1..={} ({} images over {clients} \
             clients), got {per_client}",
            labels.len() / clients,
            labels.len()
        ));
    }
    let mut sorted: Vec<usize> = (0..labels.len()).collect();
    sorted.sort_by_key(|&i| (labels[i], i));
    let deal = rng.permutation(count);
    let mut parts = vec![Vec::new(); clients];
    for (position, shard) in deal.into_iter().enumerate() {
        let range = shard * labels.len() / count..(shard + 1) * labels.len() / count;
        parts[position / per_client].extend_from_slice(&sorted[range]);
    }
    Ok(parts)
}

/// Client c holds a share of class c mod C: the clients of a class split its images.
fn by_class(labels: &[u32], num_classes: usize, clients: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut parts = vec![Vec::new(); clients];
    for (class, images) in by_label(labels, num_classes, rng).into_iter().enumerate() {
        let owners: Vec<usize> = (class..clients).step_by(num_classes).collect();
        for (k, &owner) in owners.iter().enumerate() {
            let range = k * images.len() / owners.len()..(k + 1) * images.len() / owners.len();
            parts[owner].extend_from_slice(&images[range]);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(partition: PartitionName, clients: usize) -> FederatedConfig {
        toml::from_str::<FederatedConfig>(&format!(
            "clients = {clients}\nrounds = 1\nlocal_steps = 1"
        ))
        .map(|c| FederatedConfig { partition, ..c })
        .unwrap()
    }

    /// 10 classes of 100 images each, interleaved.
    fn labels() -> Vec<u32> {
        (0..1000).map(|i| (i % 10) as u32).collect()
    }

    fn assert_exact_cover(parts: &[Vec<usize>], len: usize) {
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..len).collect::<Vec<_>>());
    }

    fn classes_of(part: &[usize], labels: &[u32]) -> std::collections::BTreeSet<u32> {
        part.iter().map(|&i| labels[i]).collect()
    }

    #[test]
    fn every_split_covers_each_image_once_and_is_seeded() {
        let labels = labels();
        for partition in [
            PartitionName::Iid,
            PartitionName::Dirichlet,
            PartitionName::Shards,
            PartitionName::ByClass,
        ] {
            let config = config(partition, 20);
            let parts = partition_of(&labels, &config, 3);
            assert_eq!(parts.len(), 20);
            assert_exact_cover(&parts, labels.len());
            assert_eq!(parts, partition_of(&labels, &config, 3), "{partition:?}");
            assert_ne!(parts, partition_of(&labels, &config, 4), "{partition:?}");
        }
    }

    fn partition_of(labels: &[u32], config: &FederatedConfig, seed: u64) -> Vec<Vec<usize>> {
        partition(labels, 10, config, seed).unwrap()
    }

    #[test]
    fn splits_have_their_shapes() {
        let labels = labels();
        // IID: sizes differ by at most one.
        let iid = partition_of(&labels, &config(PartitionName::Iid, 7), 0);
        let sizes: Vec<usize> = iid.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        // One class per client.
        let by_class = partition_of(&labels, &config(PartitionName::ByClass, 20), 0);
        for (client, part) in by_class.iter().enumerate() {
            let classes = classes_of(part, &labels);
            assert_eq!(
                classes.into_iter().collect::<Vec<_>>(),
                [(client % 10) as u32]
            );
        }
        // Two label-sorted shards of 25 images: at most two classes each (shards of 25 in
        // classes of 100 never straddle a class boundary).
        let shards = partition_of(&labels, &config(PartitionName::Shards, 20), 0);
        for part in &shards {
            assert_eq!(part.len(), 50);
            assert!(classes_of(part, &labels).len() <= 2);
        }
        // Dirichlet: alpha 0.1 concentrates clients on few classes; alpha 1000 spreads them
        // over nearly all ten.
        let mean_classes = |alpha: f64| {
            let config = FederatedConfig {
                alpha,
                ..config(PartitionName::Dirichlet, 10)
            };
            let parts = partition_of(&labels, &config, 0);
            parts
                .iter()
                .map(|p| classes_of(p, &labels).len())
                .sum::<usize>() as f64
                / 10.0
        };
        // Measured: 4.5 and 10 classes on average.
        let (few, many) = (mean_classes(0.1), mean_classes(1000.0));
        assert!(
            few < 6.0 && many > 9.5,
            "alpha 0.1: {few} classes, alpha 1000: {many}"
        );
    }

    /// The Gamma sampler's mean and variance are both `shape` (closed form): on 40,000 draws
    /// the mean within 3% and the variance within 10% (at shape 0.1, the hardest case, their
    /// standard errors are 1.6% and 4%).
    #[test]
    fn gamma_draws_have_the_right_moments() {
        for shape in [0.1, 0.5, 2.0, 7.0] {
            let mut rng = Rng::new(1, Stream::Federated, 0, 0);
            let draws: Vec<f64> = (0..40_000).map(|_| gamma(shape, &mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
            assert!(
                (mean / shape - 1.0).abs() < 0.03,
                "shape {shape}: mean {mean}"
            );
            assert!(
                (var / shape - 1.0).abs() < 0.1,
                "shape {shape}: variance {var}"
            );
        }
    }

    #[test]
    fn impossible_splits_name_their_key() {
        let labels = labels();
        let error = partition(&labels, 10, &config(PartitionName::Iid, 1001), 0).unwrap_err();
        assert!(error.to_string().contains("federated.clients"), "{error}");
        let config = FederatedConfig {
            shards_per_client: 100,
            ..config(PartitionName::Shards, 20)
        };
        let error = partition(&labels, 10, &config, 0).unwrap_err();
        assert!(
            error.to_string().contains("federated.shards_per_client"),
            "{error}"
        );
        // One image of class 9 for its two owners (clients 9 and 19): one gets none.
        let mut few: Vec<u32> = (0..100).map(|i| (i % 9) as u32).collect();
        few.push(9);
        let error = partition(&few, 10, &config_by_class(20), 0).unwrap_err();
        assert!(error.to_string().contains("no data"), "{error}");
    }

    fn config_by_class(clients: usize) -> FederatedConfig {
        config(PartitionName::ByClass, clients)
    }
}
