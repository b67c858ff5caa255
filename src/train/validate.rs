//! One check of every config value before anything is built or allocated: ranges,
//! finiteness, the options a dataset format uses, sizes the machine can hold. `stoke config`
//! and every [`crate::Trainer`] (so `stoke train`, `--resume`, evaluation and library users)
//! run it; each error is a usage error naming the key, the value and what is allowed. Checks
//! that need the data (batch size against the training set, mean/std against the channels,
//! the model against the image size) follow when the data is loaded.

use crate::config::RunConfig;
use crate::usage_error;

/// The largest side of an image stoke accepts (models are built for it; larger images are
/// for other tools).
pub const MAX_IMAGE_SIDE: usize = 4096;
/// The most optimizer steps a run may take (schedules hold a value per step).
pub const MAX_STEPS: usize = 1_000_000_000;
/// The most classes a classifier head may have.
pub const MAX_CLASSES: usize = 100_000;

/// Checks every value of `config` that can be checked without the data.
pub fn validate(config: &RunConfig) -> anyhow::Result<()> {
    crate::device::parse(&config.device)?;
    dataset(config)?;
    loader(config)?;
    optimizer(config)?;
    schedule(config)?;
    train(config)?;
    robust_eval(config)?;
    gossip(config)?;
    pruning(config)?;
    byzantine(config)?;
    federated(config)?;
    crate::train::recipes::build(config)?;
    Ok(())
}

/// `key`: `value` must satisfy `ok`; `allowed` says what would.
fn require(
    key: &str,
    value: impl std::fmt::Display,
    ok: bool,
    allowed: &str,
) -> anyhow::Result<()> {
    match ok {
        true => Ok(()),
        false => Err(usage_error!("key `{key}`: expected {allowed}, got {value}")),
    }
}

fn positive_finite(key: &str, value: f64) -> anyhow::Result<()> {
    require(
        key,
        value,
        value.is_finite() && value > 0.0,
        "a positive number",
    )
}

fn dataset(config: &RunConfig) -> anyhow::Result<()> {
    let d = &config.dataset;
    crate::datasets::check_options(d)?;
    for (key, values) in [("dataset.mean", &d.mean), ("dataset.std", &d.std)] {
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(usage_error!(
                "key `{key}`: expected finite numbers, got {v}"
            ));
        }
    }
    if let Some(s) = d.std.iter().find(|s| **s <= 0.0) {
        return Err(usage_error!(
            "key `dataset.std`: expected positive numbers, got {s}"
        ));
    }
    if d.mean.len() != d.std.len() {
        return Err(usage_error!(
            "keys `dataset.mean` and `dataset.std`: {} and {} values; expected one of each per channel",
            d.mean.len(),
            d.std.len()
        ));
    }
    if let Some(size) = d.image_size {
        let ok = size.iter().all(|s| (1..=MAX_IMAGE_SIDE).contains(s));
        require(
            "dataset.image_size",
            format!("{size:?}"),
            ok,
            &format!("[height, width] of 1..={MAX_IMAGE_SIDE} pixels each"),
        )?;
    }
    if let Some(channels) = d.channels {
        require(
            "dataset.channels",
            channels,
            [1, 3].contains(&channels),
            "1 (grey) or 3 (RGB)",
        )?;
    }
    if let Some(classes) = d.num_classes {
        let ok = (2..=MAX_CLASSES).contains(&classes);
        require(
            "dataset.num_classes",
            classes,
            ok,
            &format!("2..={MAX_CLASSES}"),
        )?;
    }
    for (key, size) in [
        ("dataset.train_size", d.train_size),
        ("dataset.test_size", d.test_size),
    ] {
        if let Some(size) = size {
            require(key, size, size >= 1, "at least 1 image")?;
        }
    }
    // Generated data lives in memory: refuse what the machine cannot hold before allocating.
    if d.format == "synthetic" {
        let [h, w] = d.image_size.unwrap_or([16, 16]);
        let image = d.channels.unwrap_or(3) * h * w;
        let images = d
            .train_size
            .unwrap_or(512)
            .saturating_add(d.test_size.unwrap_or(128));
        let bytes = images.saturating_mul(image);
        if let Some(available) = crate::memory::available()
            && bytes > available / 2
        {
            return Err(usage_error!(
                "keys `dataset.train_size`, `dataset.test_size`, `dataset.image_size`: {images} \
                 images of {image} bytes need {:.1} GB, more than half of the {:.1} GB of memory \
                 available",
                bytes as f64 / 1e9,
                available as f64 / 1e9
            ));
        }
    }
    Ok(())
}

fn loader(config: &RunConfig) -> anyhow::Result<()> {
    let data = &config.data;
    require(
        "data.batch_size",
        data.batch_size,
        data.batch_size >= 1,
        "at least 1",
    )?;
    require(
        "data.eval_batch_size",
        data.eval_batch_size,
        data.eval_batch_size >= 1,
        "at least 1",
    )?;
    require(
        "data.prefetch",
        data.prefetch,
        (1..=1024).contains(&data.prefetch),
        "1..=1024 batches",
    )?;
    let ok = data.crop_padding <= MAX_IMAGE_SIDE;
    require(
        "data.crop_padding",
        data.crop_padding,
        ok,
        &format!("0..={MAX_IMAGE_SIDE} pixels"),
    )
}

fn optimizer(config: &RunConfig) -> anyhow::Result<()> {
    let o = &config.optimizer;
    if let Some(reference) = o.reference_batch_size {
        require(
            "optimizer.reference_batch_size",
            reference,
            reference >= 1,
            "at least 1",
        )?;
    }
    // lr, clipping and the optimizer's own options, by its builder.
    crate::optim::build(o).map(drop)
}

fn schedule(config: &RunConfig) -> anyhow::Result<()> {
    let s = &config.schedule;
    let warmup = s.warmup_epochs;
    require(
        "schedule.warmup_epochs",
        warmup,
        warmup.is_finite() && warmup >= 0.0,
        "a non-negative number",
    )?;
    positive_finite("schedule.gamma", s.gamma)?;
    let fraction = s.final_lr_fraction;
    require(
        "schedule.final_lr_fraction",
        fraction,
        (0.0..=1.0).contains(&fraction),
        "a value in [0, 1]",
    )?;
    if let Some(m) = s.milestones.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
        return Err(usage_error!(
            "key `schedule.milestones`: expected non-negative epochs, got {m}"
        ));
    }
    Ok(())
}

fn train(config: &RunConfig) -> anyhow::Result<()> {
    let t = &config.train;
    require(
        "train.steps",
        t.steps,
        t.steps <= MAX_STEPS,
        &format!("at most {MAX_STEPS}"),
    )?;
    require(
        "train.epochs",
        t.epochs,
        t.epochs <= MAX_STEPS,
        &format!("at most {MAX_STEPS}"),
    )?;
    require(
        "train.log_every",
        t.log_every,
        t.log_every >= 1,
        "at least 1 step",
    )?;
    require(
        "train.keep_last",
        t.keep_last,
        t.keep_last >= 1,
        "at least 1 checkpoint",
    )
}

fn robust_eval(config: &RunConfig) -> anyhow::Result<()> {
    let r = &config.robust_eval;
    for (key, value) in [("robust_eval.eps", r.eps), ("robust_eval.step", r.step)] {
        if let Some(v) = value {
            require(
                key,
                v,
                v.is_finite() && v > 0.0 && v <= 255.0,
                "a budget in 1/255 units in (0, 255]",
            )?;
        }
    }
    let drop = r.collapse_drop;
    require(
        "robust_eval.collapse_drop",
        drop,
        (0.0..=1.0).contains(&drop),
        "an accuracy drop in [0, 1]",
    )?;
    if r.images > 0 {
        require("robust_eval.steps", r.steps, r.steps >= 1, "at least 1")?;
        require(
            "robust_eval.restarts",
            r.restarts,
            r.restarts >= 1,
            "at least 1",
        )?;
    }
    Ok(())
}

fn byzantine(config: &RunConfig) -> anyhow::Result<()> {
    use crate::config::byzantine::AttackName;
    use crate::config::federated::PartitionName;
    let Some(byz) = &config.byzantine else {
        return Ok(());
    };
    if config.federated.is_some() {
        return Err(usage_error!(
            "key `byzantine`: a run is federated or Byzantine, not both; drop [federated] or \
             [byzantine]"
        ));
    }
    if config.train.epochs != 0 || config.train.steps == 0 {
        return Err(usage_error!(
            "key `train.steps`: a Byzantine run's length is train.steps (server steps); set it \
             and leave train.epochs out"
        ));
    }
    require(
        "byzantine.workers",
        byz.workers,
        byz.workers >= 1,
        "at least 1",
    )?;
    require(
        "byzantine.faulty",
        byz.faulty,
        byz.faulty < byz.workers,
        &format!("fewer than byzantine.workers = {}", byz.workers),
    )?;
    if byz.attack != AttackName::None && byz.faulty == 0 {
        return Err(usage_error!(
            "key `byzantine.attack`: {:?} needs faulty workers; set byzantine.faulty",
            byz.attack
        ));
    }
    // (Whether the rule can tolerate faulty of workers: crate::byzantine::check_rule.)
    if byz.partition == PartitionName::Shards {
        return Err(usage_error!(
            "key `byzantine.partition`: expected iid, dirichlet or by_class, got shards"
        ));
    }
    for (key, value) in [
        ("byzantine.reverse_scale", byz.reverse_scale),
        ("byzantine.little_z", byz.little_z),
        ("byzantine.empire_eps", byz.empire_eps),
    ] {
        require(key, value, value.is_finite(), "a finite number")?;
    }
    require(
        "byzantine.augment_time",
        byz.augment_time,
        (0.0..=1.0).contains(&byz.augment_time),
        "a time in [0, 1] (the Flag repository's 0.001 ... 0.010)",
    )?;
    positive_finite("byzantine.alpha", byz.alpha)?;
    require(
        "byzantine.evaluate_every",
        byz.evaluate_every,
        byz.evaluate_every >= 1,
        "at least 1 step",
    )?;
    Ok(())
}

fn gossip(config: &RunConfig) -> anyhow::Result<()> {
    use crate::config::federated::PartitionName;
    let Some(gossip) = &config.gossip else {
        return Ok(());
    };
    if config.federated.is_some() || config.byzantine.is_some() {
        return Err(usage_error!(
            "key `gossip`: a gossip run is not also federated or Byzantine; drop [gossip] or \
             the other section"
        ));
    }
    for (key, value) in [
        ("train.steps", config.train.steps),
        ("train.epochs", config.train.epochs),
    ] {
        if value != 0 {
            return Err(usage_error!(
                "key `{key}`: a gossip run's length is gossip.rounds x gossip.local_steps; \
                 leave {key} out"
            ));
        }
    }
    require(
        "gossip.nodes",
        gossip.nodes,
        gossip.nodes >= 2,
        "at least 2",
    )?;
    for (key, value) in [
        ("gossip.rounds", gossip.rounds),
        ("gossip.local_steps", gossip.local_steps),
    ] {
        require(
            key,
            value,
            (1..=MAX_STEPS).contains(&value),
            &format!("1..={MAX_STEPS}"),
        )?;
    }
    require(
        "gossip.rounds x gossip.local_steps",
        gossip.rounds.saturating_mul(gossip.local_steps),
        gossip.rounds.saturating_mul(gossip.local_steps) <= MAX_STEPS,
        &format!("at most {MAX_STEPS} steps"),
    )?;
    require(
        "gossip.self_weight",
        gossip.self_weight,
        (0.0..1.0).contains(&gossip.self_weight),
        "a weight in [0, 1) (1 would ignore the neighbours)",
    )?;
    require(
        "gossip.evaluate_every",
        gossip.evaluate_every,
        gossip.evaluate_every >= 1,
        "at least 1 round",
    )?;
    if gossip.partition == PartitionName::Shards {
        return Err(usage_error!(
            "key `gossip.partition`: expected iid, dirichlet or by_class, got shards"
        ));
    }
    positive_finite("gossip.alpha", gossip.alpha)?;
    // (Whether the graph can exist: crate::gossip::topology::build.)
    Ok(())
}

fn pruning(config: &RunConfig) -> anyhow::Result<()> {
    let Some(p) = &config.pruning else {
        return Ok(());
    };
    let others = [
        (config.federated.is_some(), "federated"),
        (config.byzantine.is_some(), "byzantine"),
        (config.gossip.is_some(), "gossip"),
    ];
    if let Some((_, other)) = others.iter().find(|(given, _)| *given) {
        return Err(usage_error!(
            "key `pruning`: a pruning run is not also a {other} run; drop [pruning] or [{other}]"
        ));
    }
    require(
        "pruning.sparsity",
        p.sparsity,
        (0.0..1.0).contains(&p.sparsity),
        "a fraction in [0, 1)",
    )?;
    require(
        "pruning.phases",
        p.phases,
        (1..=100).contains(&p.phases),
        "1..=100",
    )?;
    require(
        "pruning.soup_size",
        p.soup_size,
        (1..=99).contains(&p.soup_size),
        "1..=99 copies",
    )?;
    require(
        "pruning.retrain_epochs or pruning.retrain_steps",
        p.retrain_epochs.max(p.retrain_steps),
        p.retrain_epochs.max(p.retrain_steps) >= 1,
        "at least one epoch or step of retraining",
    )?;
    require(
        "pruning.retrain_steps",
        p.retrain_steps,
        p.retrain_steps <= MAX_STEPS,
        &format!("at most {MAX_STEPS}"),
    )?;
    if p.vary == "seed" {
        if !p.values.is_empty() {
            return Err(usage_error!(
                "key `pruning.values`: copies that vary by seed take no values; set                  pruning.vary to the key the values are for"
            ));
        }
    } else if p.values.len() != p.soup_size {
        return Err(usage_error!(
            "key `pruning.values`: pruning.vary = \"{}\" needs one value per copy              (pruning.soup_size = {}), got {}",
            p.vary,
            p.soup_size,
            p.values.len()
        ));
    }
    if let Some(step) = p.rewind_step
        && config.train.steps != 0
        && step > config.train.steps
    {
        return Err(usage_error!(
            "key `pruning.rewind_step`: expected a step of the dense run (at most train.steps = \
             {}), got {step}",
            config.train.steps
        ));
    }
    Ok(())
}

fn federated(config: &RunConfig) -> anyhow::Result<()> {
    let Some(fed) = &config.federated else {
        return Ok(());
    };
    for (key, value) in [
        ("train.steps", config.train.steps),
        ("train.epochs", config.train.epochs),
    ] {
        if value != 0 {
            return Err(usage_error!(
                "key `{key}`: a federated run's length is federated.rounds; leave {key} out"
            ));
        }
    }
    require(
        "federated.clients",
        fed.clients,
        fed.clients >= 1,
        "at least 1",
    )?;
    require(
        "federated.rounds",
        fed.rounds,
        (1..=MAX_STEPS).contains(&fed.rounds),
        &format!("1..={MAX_STEPS}"),
    )?;
    require(
        "federated.local_steps",
        fed.local_steps,
        (1..=MAX_STEPS).contains(&fed.local_steps),
        &format!("1..={MAX_STEPS}"),
    )?;
    require(
        "federated.evaluate_every",
        fed.evaluate_every,
        fed.evaluate_every >= 1,
        "at least 1 round",
    )?;
    positive_finite("federated.server_lr", fed.server_lr)?;
    positive_finite("federated.alpha", fed.alpha)?;
    positive_finite("federated.server_tau", fed.server_tau)?;
    for (key, value) in [
        ("federated.server_momentum", fed.server_momentum),
        ("federated.server_beta1", fed.server_beta1),
        ("federated.server_beta2", fed.server_beta2),
    ] {
        require(key, value, (0.0..1.0).contains(&value), "a value in [0, 1)")?;
    }
    if config.schedule.name != crate::config::schema::ScheduleName::Constant {
        return Err(usage_error!(
            "key `schedule.name`: {:?} would restart within every client's local steps each \
             round; a federated run takes schedule.name = \"constant\"",
            config.schedule.name
        ));
    }
    federated_participation(fed)?;
    federated_momentum(config, fed)?;
    let ratio = fed.compress_ratio;
    require(
        "federated.compress_ratio",
        ratio,
        ratio > 0.0 && ratio <= 1.0,
        "a share in (0, 1]",
    )?;
    require(
        "federated.qsgd_levels",
        fed.qsgd_levels,
        (1..=65_535).contains(&fed.qsgd_levels),
        "1..=65535",
    )?;
    if fed.error_feedback && fed.compressor == crate::config::federated::CompressorName::None {
        return Err(usage_error!(
            "key `federated.error_feedback`: there is no compression error to feed back with \
             federated.compressor = \"none\"; choose a compressor"
        ));
    }
    if fed.participation == crate::config::federated::ParticipationName::Uniform {
        let k = fed.clients_per_round;
        let allowed = format!("1..={} (federated.clients)", fed.clients);
        require(
            "federated.clients_per_round",
            k,
            (1..=fed.clients).contains(&k),
            &allowed,
        )?;
    }
    Ok(())
}

/// The participation model's keys, and the keys that belong to one algorithm only.
fn federated_participation(fed: &crate::config::federated::FederatedConfig) -> anyhow::Result<()> {
    use crate::config::federated::AlgorithmName;
    let (mean, min) = (fed.participation_mean, fed.participation_min);
    require(
        "federated.participation_mean",
        mean,
        mean > 0.0 && mean <= 1.0,
        "a probability in (0, 1]",
    )?;
    require(
        "federated.participation_min",
        min,
        min > 0.0 && min <= mean,
        "a probability in (0, federated.participation_mean]",
    )?;
    positive_finite("federated.participation_alpha", fed.participation_alpha)?;
    let q = fed.markov_to_active;
    require(
        "federated.markov_to_active",
        q,
        q > 0.0 && q <= 1.0,
        "a probability in (0, 1]",
    )?;
    require(
        "federated.cycle",
        fed.cycle,
        fed.cycle >= 2,
        "at least 2 rounds",
    )?;
    if fed.algorithm != AlgorithmName::Fedavg
        && let Some(rule) = fed.aggregation
    {
        return Err(usage_error!(
            "key `federated.aggregation`: {rule:?} is FedAvg's; algorithm {:?} has its own              weighting (leave federated.aggregation out)",
            fed.algorithm
        ));
    }
    federated_clock(fed)?;
    if let Some(k) = fed.fedau_cutoff {
        require(
            "federated.fedau_cutoff",
            k,
            fed.algorithm == AlgorithmName::Fedau && k >= 1,
            "at least 1, with algorithm = \"fedau\"",
        )?;
    }
    Ok(())
}

/// FedAvg-M, SCAFFOLD-M, SCALLION and SCAFCOM step the clients with plain SGD at
/// optimizer.lr on their own corrected direction, so the local optimizer must be exactly
/// that; SCALLION needs an unbiased compressor.
fn federated_momentum(
    config: &RunConfig,
    fed: &crate::config::federated::FederatedConfig,
) -> anyhow::Result<()> {
    use crate::config::federated::AlgorithmName;
    if !matches!(
        fed.algorithm,
        AlgorithmName::FedavgM
            | AlgorithmName::ScaffoldM
            | AlgorithmName::Scallion
            | AlgorithmName::Scafcom
    ) {
        return Ok(());
    }
    use crate::config::federated::CompressorName;
    if fed.algorithm == AlgorithmName::Scallion
        && matches!(fed.compressor, CompressorName::Topk | CompressorName::Sign)
    {
        return Err(usage_error!(
            "key `federated.compressor`: SCALLION needs an unbiased compressor (randk, qsgd \
             or none); {:?} is biased, use algorithm = \"scafcom\"",
            fed.compressor
        ));
    }
    if matches!(
        fed.algorithm,
        AlgorithmName::Scallion | AlgorithmName::Scafcom
    ) {
        if fed.error_feedback {
            return Err(usage_error!(
                "key `federated.error_feedback`: {:?} compresses its control variates its own \
                 way; leave error_feedback out",
                fed.algorithm
            ));
        }
        if let Some(alpha) = fed.scallion_alpha {
            require(
                "federated.scallion_alpha",
                alpha,
                alpha > 0.0 && alpha <= 1.0 && fed.algorithm == AlgorithmName::Scallion,
                "a step in (0, 1], with algorithm = \"scallion\"",
            )?;
        }
    }
    let beta = fed.momentum_beta;
    require(
        "federated.momentum_beta",
        beta,
        beta > 0.0 && beta <= 1.0,
        "a weight in (0, 1]",
    )?;
    let optimizer = &config.optimizer;
    let why = format!(
        "{:?} takes plain SGD steps of optimizer.lr on its own momentum direction",
        fed.algorithm
    );
    if optimizer.name != "sgd" {
        return Err(usage_error!(
            "key `optimizer.name`: {why}; set optimizer.name = \"sgd\" (got {})",
            optimizer.name
        ));
    }
    let momentum = optimizer
        .options
        .get("momentum")
        .and_then(toml::Value::as_float);
    if momentum.is_some_and(|m| m != 0.0) {
        return Err(usage_error!(
            "key `optimizer.momentum`: {why}; set it to 0 (got {})",
            momentum.unwrap_or_default()
        ));
    }
    if optimizer.lr_scaling != Some(crate::config::schema::LrScalingRule::None) {
        return Err(usage_error!(
            "key `optimizer.lr_scaling`: {why}, unscaled by client batch sizes; set \
             optimizer.lr_scaling = \"none\""
        ));
    }
    if optimizer.grad_clip_norm.is_some() {
        return Err(usage_error!(
            "key `optimizer.grad_clip_norm`: {why}; clipping would change its steps, leave it out"
        ));
    }
    Ok(())
}

/// The simulated clock's keys, and what the asynchronous algorithms need.
fn federated_clock(fed: &crate::config::federated::FederatedConfig) -> anyhow::Result<()> {
    use crate::config::federated::ParticipationName;
    let spread = fed.compute_spread;
    require(
        "federated.compute_spread",
        spread,
        (0.0..1.0).contains(&spread),
        "a value in [0, 1) (the fastest client takes 1 - spread of the slowest's time)",
    )?;
    let jitter = fed.compute_jitter;
    require(
        "federated.compute_jitter",
        jitter,
        (0.0..=3.0).contains(&jitter),
        "a log-normal sigma in [0, 3]",
    )?;
    positive_finite("federated.fedfix_interval", fed.fedfix_interval)?;
    if fed.algorithm == crate::config::federated::AlgorithmName::Fedbuff {
        require(
            "federated.fedbuff_size",
            fed.fedbuff_size,
            (1..=fed.clients).contains(&fed.fedbuff_size),
            &format!("1..={} (federated.clients)", fed.clients),
        )?;
    }
    if fed.algorithm.is_anarchic() {
        require(
            "federated.afa_updates",
            fed.afa_updates,
            (1..=fed.clients).contains(&fed.afa_updates),
            &format!("1..={} (federated.clients)", fed.clients),
        )?;
    }
    if let Some(max) = fed.max_clock {
        positive_finite("federated.max_clock", max)?;
    }
    if fed.algorithm.is_asynchronous() && fed.participation != ParticipationName::Full {
        return Err(usage_error!(
            "key `federated.participation`: {:?} keeps every client working on its own clock; \
             set participation = \"full\" (got {:?})",
            fed.algorithm,
            fed.participation
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smoke(overrides: &[&str]) -> anyhow::Result<()> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let (config, _) = crate::config::resolve("smoke", &overrides)?;
        validate(&config)
    }

    /// Each bad value is refused naming its key and value; the preset itself passes.
    #[test]
    fn bad_values_name_their_key() {
        smoke(&[]).unwrap();
        for (assignment, key) in [
            ("optimizer.lr=-1", "optimizer.lr"),
            ("optimizer.lr=nan", "optimizer.lr"),
            ("optimizer.momentum=1.5", "optimizer.momentum"),
            ("data.batch_size=0", "data.batch_size"),
            ("data.eval_batch_size=0", "data.eval_batch_size"),
            ("dataset.image_size=[1000000,1000000]", "dataset.image_size"),
            ("dataset.train_size=1000000000", "dataset.train_size"),
            ("dataset.channels=100000", "dataset.channels"),
            ("dataset.num_classes=1", "dataset.num_classes"),
            ("dataset.std=[0.2,0.0,0.2]", "dataset.std"),
            ("dataset.labels=\"fine\"", "dataset.labels"),
            ("schedule.final_lr_fraction=2", "schedule.final_lr_fraction"),
            ("schedule.warmup_epochs=inf", "schedule.warmup_epochs"),
            ("train.steps=100000000000", "train.steps"),
            ("train.log_every=0", "train.log_every"),
            (
                "robust_eval.collapse_drop=-0.5",
                "robust_eval.collapse_drop",
            ),
            ("device=\"tpu\"", "tpu"),
        ] {
            let message = format!("{:#}", smoke(&[assignment]).unwrap_err());
            assert!(message.contains(key), "{assignment}: {message}");
        }
        let federated = "federated={clients=10,rounds=2,local_steps=1}";
        let constant = "schedule.name=\"constant\"";
        smoke(&["train.epochs=0", constant, federated]).unwrap();
        for (extra, key) in [
            (
                "federated.clients_per_round=11",
                "federated.clients_per_round",
            ),
            ("federated.rounds=0", "federated.rounds"),
            ("federated.server_lr=0", "federated.server_lr"),
            ("train.steps=5", "train.steps"),
            ("schedule.name=\"cosine\"", "schedule.name"),
        ] {
            let message = format!(
                "{:#}",
                smoke(&["train.epochs=0", constant, federated, extra]).unwrap_err()
            );
            assert!(message.contains(key), "{extra}: {message}");
        }
        let adam = ["optimizer.name=adam", "optimizer.lr=0.001"];
        for (assignment, key) in [
            ("optimizer.beta1=2", "optimizer.beta1"),
            ("optimizer.eps=-1", "optimizer.eps"),
            ("optimizer.weight_decay=-0.1", "optimizer.weight_decay"),
        ] {
            let message = format!("{:#}", smoke(&[adam[0], adam[1], assignment]).unwrap_err());
            assert!(message.contains(key), "{assignment}: {message}");
        }
    }
}
