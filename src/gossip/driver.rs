//! The gossip loop: per round every node trains `local_steps` batches on its share of the
//! data (its own [`Trainer`]), sends its parameters to its neighbours, and replaces them by
//! its average with theirs ([`super::averaging`]), all nodes at once from the models of the
//! round's end. Nodes are spread over the world's ranks in contiguous blocks; a node's
//! parameters travel point to point to each rank that hosts one of its neighbours, so every
//! rank count gives the same weights bit for bit.
//!
//! Each node is a stoke run in `out_dir/nodes/node-NNNN` (`stoke eval` reads it); a round's
//! checkpoint is complete once every node has saved it and rank 0 has published
//! `checkpoints/step-<round>`, which is what a resume continues from.

use super::averaging::{gossip_average, variance};
use super::topology::{self, Graph};
use crate::aggregate;
use crate::config::RunConfig;
use crate::config::gossip::{GossipConfig, TopologyName};
use crate::datasets::{ImageSet, LoadedData};
use crate::distributed::World;
use crate::federated::partition::{Split, split_indices};
use crate::federated::simulator::client_data;
use crate::rng::{self, Stream};
use crate::train::checkpoint::{CheckpointDir, read_verified};
use crate::train::config_change;
use crate::train::run_dir::{create_driver_run, load_run_config, resume_driver_run};
use crate::train::session::{Interrupted, RunComplete};
use crate::train::{CancelToken, Setup, TensorKind, Trainer, Weights};
use crate::usage_error;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

const PROGRESS_FILE: &str = "gossip.json";

/// Where and how a gossip run trains.
#[derive(Clone, Debug, Default)]
pub struct GossipOptions {
    pub out_dir: PathBuf,
    /// Continue from the latest complete round checkpoint in `out_dir`.
    pub resume: bool,
    /// Stops the run between rounds, with a checkpoint.
    pub cancel: CancelToken,
    /// The ranks sharing the nodes (contiguous blocks; rank 0 writes the run directory,
    /// every rank its own nodes' run directories, so a resume needs the same directories
    /// where the same nodes live: a shared filesystem or the same rank count).
    pub world: World,
}

/// The nodes' test scores at an evaluation round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeScores {
    /// Each node's test accuracy (or loss for models without one), in node order.
    pub accuracies: Vec<Option<f64>>,
    pub losses: Vec<f64>,
}

impl NodeScores {
    pub fn mean_accuracy(&self) -> Option<f64> {
        let values = self
            .accuracies
            .iter()
            .copied()
            .collect::<Option<Vec<f64>>>()?;
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }

    /// The population standard deviation, lowest and highest node accuracy.
    pub fn accuracy_spread(&self) -> Option<(f64, f64, f64)> {
        let values = self
            .accuracies
            .iter()
            .copied()
            .collect::<Option<Vec<f64>>>()?;
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / values.len() as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((var.sqrt(), min, max))
    }

    pub fn mean_loss(&self) -> f64 {
        self.losses.iter().sum::<f64>() / self.losses.len() as f64
    }
}

/// One round, as metrics.jsonl records it.
#[derive(Clone, Debug)]
pub struct GossipRound {
    /// Rounds completed, this one included.
    pub round: usize,
    pub rounds: usize,
    /// The nodes' mean training loss over the round's local steps.
    pub train_loss: f64,
    /// sqrt of the nodes' mean squared L2 distance to their mean (parameters), after the
    /// round's averaging.
    pub consensus_distance: f64,
    /// Per weight tensor (parameters of rank >= 2): the nodes' summed variance over their
    /// summed variance at initialization; the quantity plain averaging makes vanish.
    pub variance_ratio_by_tensor: BTreeMap<String, f64>,
    pub scores: Option<NodeScores>,
    pub wall_seconds: f64,
}

impl GossipRound {
    /// The mean over weight tensors of [`GossipRound::variance_ratio_by_tensor`].
    pub fn variance_ratio(&self) -> f64 {
        let ratios = &self.variance_ratio_by_tensor;
        ratios.values().sum::<f64>() / ratios.len().max(1) as f64
    }

    fn to_json(&self) -> serde_json::Value {
        let mut line = json!({
            "step": self.round,
            "round": self.round,
            "train_loss": self.train_loss,
            "consensus_distance": self.consensus_distance,
            "variance_ratio": self.variance_ratio(),
            "variance_ratio_by_tensor": self.variance_ratio_by_tensor,
            "wall_seconds": self.wall_seconds,
        });
        if let Some(scores) = &self.scores {
            line["test_loss"] = scores.mean_loss().into();
            if let (Some(mean), Some((std, min, max))) =
                (scores.mean_accuracy(), scores.accuracy_spread())
            {
                line["test_accuracy"] = mean.into();
                line["test_accuracy_std"] = std.into();
                line["test_accuracy_min"] = min.into();
                line["test_accuracy_max"] = max.into();
            }
        }
        line
    }
}

/// What summary.json of a gossip run holds (rank 0's).
#[derive(Clone, Debug, Serialize)]
pub struct GossipSummary {
    /// The nodes' mean test accuracy at the last evaluation, and its spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy_std: Option<f64>,
    pub test_loss: f64,
    pub rounds: usize,
    pub nodes: usize,
    pub topology: TopologyName,
    /// Neighbours per node (the mean, for graphs where it varies).
    pub degree: f64,
    pub variance_correction: bool,
    pub consensus_distance: f64,
    pub variance_ratio: f64,
    pub wall_seconds: f64,
    /// The nodes' run directories, `node-NNNN` each.
    pub node_runs: PathBuf,
}

/// What a round checkpoint records beside the nodes' own checkpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Progress {
    round: usize,
    wall_seconds: f64,
    /// Every node's variance of each weight tensor at initialization, in node order.
    initial_variances: Vec<BTreeMap<String, f64>>,
    /// The last evaluation and averaging figures, for the summary after a resume.
    scores: Option<NodeScores>,
    consensus_distance: f64,
    variance_ratio: f64,
}

/// Trains the gossip run `config` in `out_dir` (a new run directory holding `resolved`, or
/// with `resume` the one there). `on_round` sees each round (on every rank); cancelled, it
/// checkpoints and stops between rounds.
pub fn run(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &GossipOptions,
    on_round: &mut dyn FnMut(&GossipRound),
) -> anyhow::Result<GossipSummary> {
    let gossip = config
        .gossip
        .as_ref()
        .ok_or_else(|| usage_error!("the config has no [gossip] section"))?;
    crate::train::validate::validate(config)?;
    let graph = topology::build(gossip, config.seed)?;
    let GossipOptions {
        out_dir,
        resume,
        cancel,
        world,
    } = options;
    let (out_dir, leader, started) = (out_dir.as_path(), world.is_leader(), Instant::now());
    if world.size() > gossip.nodes {
        return Err(usage_error!(
            "{} ranks for {} gossip nodes: every rank needs at least one node; raise \
             gossip.nodes or start fewer ranks",
            world.size(),
            gossip.nodes
        ));
    }
    let device = crate::device::parse(&config.device)?;
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let split = Split {
        parts: gossip.nodes,
        kind: gossip.partition,
        alpha: gossip.alpha,
        shards_per_part: 1,
        section: "gossip",
        count_key: "nodes",
    };
    let parts = split_indices(&data.train.labels, data.num_classes(), &split, config.seed)?;
    let test = evaluation_images(&data, gossip.eval_images);
    let place = Placement::new(gossip.nodes, world.size());
    let mine = place.nodes_of(world.rank());
    let node_runs = out_dir.join("nodes");
    let mut nodes = mine
        .clone()
        .map(|i| {
            let local = client_data(&data, &parts[i]);
            let node = node_config(config, gossip, i, local.train.len());
            Trainer::build(&node, &device, Some(local), Setup::default())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let checkpoints = CheckpointDir::new(out_dir);
    let (mut progress, mut metrics) = match resume {
        true => {
            let (_, saved) = load_run_config(out_dir, &[])?;
            let changes = config_change::changes(&saved, resolved);
            config_change::check_resumable(&changes)?;
            let latest = checkpoints.latest()?;
            let progress: Progress =
                serde_json::from_slice(&read_verified(&latest, PROGRESS_FILE)?).map_err(|e| {
                    anyhow::anyhow!("{}: not a gossip checkpoint ({e})", latest.display())
                })?;
            if progress.round >= gossip.rounds {
                return Err(RunComplete {
                    steps: progress.round,
                    length: "gossip.rounds",
                }
                .into());
            }
            for (node, i) in nodes.iter_mut().zip(mine.clone()) {
                let dir = node_runs.join(node_name(i));
                let step = CheckpointDir::new(&dir).step_dir(progress.round * gossip.local_steps);
                if !step.is_dir() {
                    return Err(anyhow::anyhow!(
                        "{} is missing: node {i}'s checkpoint of round {} (the round {} \
                         records)",
                        step.display(),
                        progress.round,
                        latest.display()
                    ));
                }
                node.load_checkpoint(&step)?;
                // The node's config follows what the resume may change (its length).
                let toml = toml::to_string_pretty(node.config())?;
                crate::atomic::write_atomic(&dir.join("config.toml"), toml.as_bytes())?;
            }
            let metrics = resume_driver_run(out_dir, progress.round, resolved, &changes, leader)?;
            (progress, metrics)
        }
        false => {
            let metrics = create_driver_run(out_dir, resolved, leader)?;
            if gossip.shared_init {
                let first = shared_initial_weights(config, gossip, &data, &parts[0], &device)?;
                for node in &mut nodes {
                    node.set_weights(&first)?;
                }
            }
            let initial: Vec<Weights> = nodes.iter().map(Trainer::weights).collect();
            let progress = Progress {
                initial_variances: gather_variances(world, &place, &initial),
                ..Progress::default()
            };
            (progress, metrics)
        }
    };
    let wall_before = progress.wall_seconds;
    let wall = |started: &Instant| wall_before + started.elapsed().as_secs_f64();
    let save = |nodes: &mut [Trainer], progress: &Progress| -> anyhow::Result<PathBuf> {
        for (node, i) in nodes.iter_mut().zip(mine.clone()) {
            node.save(&node_runs.join(node_name(i)))?;
        }
        // The round is complete only once every rank has saved its nodes.
        world.any(false, "saving the nodes' checkpoints");
        let published = checkpoints.step_dir(progress.round);
        if leader {
            let bytes = serde_json::to_vec_pretty(progress)?;
            let keep_last = config.train.keep_last;
            checkpoints.save_files(progress.round, &[(PROGRESS_FILE, bytes)], false, keep_last)?;
        }
        Ok(published)
    };
    for round in progress.round..gossip.rounds {
        if world.any(
            cancel.is_cancelled(),
            "agreeing on an interrupt between rounds",
        ) {
            progress.wall_seconds = wall(&started);
            let checkpoint = save(&mut nodes, &progress)?;
            return Err(Interrupted {
                step: round,
                checkpoint: Some(checkpoint),
            }
            .into());
        }
        let mut losses = Vec::with_capacity(nodes.len());
        for node in &mut nodes {
            let reports = node.run_steps(gossip.local_steps)?;
            losses.push(reports.iter().map(|r| r.loss).sum::<f64>() / reports.len() as f64);
        }
        let before: Vec<Weights> = nodes.iter().map(Trainer::weights).collect();
        let received = exchange(world, &place, &graph, &before, round)?;
        for (k, (node, i)) in nodes.iter_mut().zip(mine.clone()).enumerate() {
            let neighbours: Vec<&Weights> = graph.neighbours[i]
                .iter()
                .map(|j| match mine.contains(j) {
                    true => &before[j - mine.start],
                    false => &received[j],
                })
                .collect();
            let averaged = gossip_average(
                &before[k],
                &neighbours,
                gossip.self_weight,
                gossip.variance_correction,
            )?;
            node.set_weights(&averaged)?;
        }
        let after: Vec<Weights> = nodes.iter().map(Trainer::weights).collect();
        let losses = losses.into_iter().map(|loss| vec![loss]).collect();
        let train_loss = gather_per_node(world, &place, losses, 1)
            .iter()
            .map(|record| record[0])
            .sum::<f64>()
            / gossip.nodes as f64;
        let consensus_distance = consensus_distance(world, &after, gossip.nodes);
        let variances = gather_variances(world, &place, &after);
        let variance_ratio_by_tensor = ratios(&variances, &progress.initial_variances);
        let done = round + 1;
        let due = done.is_multiple_of(gossip.evaluate_every) || done == gossip.rounds;
        let scores = match due {
            true => Some(evaluate(world, &place, &nodes, &test)?),
            false => None,
        };
        let report = GossipRound {
            round: done,
            rounds: gossip.rounds,
            train_loss,
            consensus_distance,
            variance_ratio_by_tensor,
            scores,
            wall_seconds: wall(&started),
        };
        metrics.write(&report.to_json())?;
        progress.round = done;
        progress.consensus_distance = report.consensus_distance;
        progress.variance_ratio = report.variance_ratio();
        if let Some(scores) = &report.scores {
            progress.scores = Some(scores.clone());
        }
        if due {
            progress.wall_seconds = wall(&started);
            save(&mut nodes, &progress)?;
        }
        on_round(&report);
    }
    let scores = match progress.scores.clone() {
        Some(scores) => scores,
        None => evaluate(world, &place, &nodes, &test)?,
    };
    let summary = GossipSummary {
        test_accuracy: scores.mean_accuracy(),
        test_accuracy_std: scores.accuracy_spread().map(|(std, _, _)| std),
        test_loss: scores.mean_loss(),
        rounds: progress.round,
        nodes: gossip.nodes,
        topology: gossip.topology,
        degree: graph.neighbours.iter().map(Vec::len).sum::<usize>() as f64 / gossip.nodes as f64,
        variance_correction: gossip.variance_correction,
        consensus_distance: progress.consensus_distance,
        variance_ratio: progress.variance_ratio,
        wall_seconds: wall(&started),
        node_runs,
    };
    if leader {
        crate::atomic::write_atomic(
            &out_dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
    }
    Ok(summary)
}

/// Which rank hosts which nodes: rank r the contiguous block `r n / size .. (r + 1) n / size`.
#[derive(Clone, Debug)]
struct Placement {
    nodes: usize,
    ranks: usize,
}

impl Placement {
    fn new(nodes: usize, ranks: usize) -> Self {
        Self { nodes, ranks }
    }

    fn nodes_of(&self, rank: usize) -> Range<usize> {
        rank * self.nodes / self.ranks..(rank + 1) * self.nodes / self.ranks
    }

    fn rank_of(&self, node: usize) -> usize {
        (0..self.ranks)
            .find(|&r| self.nodes_of(r).contains(&node))
            .expect("every node has a rank")
    }
}

fn node_name(node: usize) -> String {
    format!("node-{node:04}")
}

/// Node `i`'s config: its own seed (initialization, data order), the run's length in its
/// steps, a batch no larger than its data, and two checkpoints kept (a round is complete
/// only once every node has saved it, so the previous one must survive until then).
pub fn node_config(
    config: &RunConfig,
    gossip: &GossipConfig,
    node: usize,
    images: usize,
) -> RunConfig {
    let mut local = config.clone();
    local.gossip = None;
    // 63 bits: the node's config.toml holds it, and TOML integers are signed.
    local.seed = rng::key(config.seed, Stream::Gossip, u64::MAX, node as u64) >> 1;
    local.train.steps = gossip.rounds * gossip.local_steps;
    local.train.keep_last = config.train.keep_last.max(2);
    local.data.batch_size = config.data.batch_size.min(images);
    local.robust_eval.images = 0;
    local
}

/// Node 0's initial weights (what `shared_init` starts every node from), on every rank.
fn shared_initial_weights(
    config: &RunConfig,
    gossip: &GossipConfig,
    data: &LoadedData,
    part: &[usize],
    device: &burn::tensor::Device,
) -> anyhow::Result<Weights> {
    let local = client_data(data, part);
    let node = node_config(config, gossip, 0, local.train.len());
    Ok(Trainer::build(&node, device, Some(local), Setup::default())?.weights())
}

/// The variance of each weight tensor (parameters of rank >= 2: convolution and linear
/// weights, as the official code's per-layer records of `weight` tensors).
fn weight_variances(weights: &Weights) -> BTreeMap<String, f64> {
    weights
        .iter()
        .filter(|(_, t)| t.kind == TensorKind::Parameter && t.shape.len() >= 2)
        .map(|(name, t)| (name.to_string(), variance(&t.values)))
        .collect()
}

/// Per tensor: the nodes' summed variance now over at initialization.
fn ratios(
    now: &[BTreeMap<String, f64>],
    initial: &[BTreeMap<String, f64>],
) -> BTreeMap<String, f64> {
    let total = |maps: &[BTreeMap<String, f64>], name: &str| -> f64 {
        maps.iter()
            .map(|m| m.get(name).copied().unwrap_or(0.0))
            .sum()
    };
    let names = now.first().map(|m| m.keys().cloned().collect::<Vec<_>>());
    // Tensors initialized constant (variance 0) have no ratio: they are left out rather
    // than written as NaN, which a checkpoint's JSON could not read back.
    names
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let (now, start) = (total(now, &name), total(initial, &name));
            (start > 0.0 && now.is_finite()).then(|| (name, now / start))
        })
        .collect()
}

/// Every node's record (`width` numbers each) in node order, on every rank: each rank fills
/// its nodes' slots of a zeroed vector and the sum over ranks is exact (x + 0 = x, NaN
/// included).
fn gather_per_node(
    world: &World,
    place: &Placement,
    mine: Vec<Vec<f64>>,
    width: usize,
) -> Vec<Vec<f64>> {
    if world.size() == 1 {
        return mine;
    }
    let mut slots = vec![0.0; place.nodes * width];
    for (i, record) in place.nodes_of(world.rank()).zip(&mine) {
        slots[i * width..(i + 1) * width].copy_from_slice(record);
    }
    world.sum_f64(&mut slots, "gathering the nodes' figures");
    slots.chunks(width.max(1)).map(<[f64]>::to_vec).collect()
}

/// Every node's variance of each weight tensor, in node order, on every rank.
fn gather_variances(
    world: &World,
    place: &Placement,
    mine: &[Weights],
) -> Vec<BTreeMap<String, f64>> {
    let maps: Vec<BTreeMap<String, f64>> = mine.iter().map(weight_variances).collect();
    // Every node has the same tensors (one model): the names of any node's map.
    let names: Vec<String> = maps[0].keys().cloned().collect();
    let records = maps.iter().map(|m| m.values().copied().collect()).collect();
    gather_per_node(world, place, records, names.len())
        .into_iter()
        .map(|record| names.iter().cloned().zip(record).collect())
        .collect()
}

/// Gives this rank every neighbour's parameters it needs from other ranks (keyed by node):
/// one message per pair of ranks, the sender's nodes that border the receiver in ascending
/// order.
fn exchange(
    world: &World,
    place: &Placement,
    graph: &Graph,
    mine: &[Weights],
    round: usize,
) -> anyhow::Result<BTreeMap<usize, Weights>> {
    if world.size() == 1 {
        return Ok(BTreeMap::new());
    }
    let me = world.rank();
    let layout = mine[0].only(TensorKind::Parameter);
    let values = layout.num_values();
    // The nodes of `from` with a neighbour on `to`, ascending.
    let bordering = |from: usize, to: usize| -> Vec<usize> {
        place
            .nodes_of(from)
            .filter(|&i| graph.neighbours[i].iter().any(|&j| place.rank_of(j) == to))
            .collect()
    };
    let start = place.nodes_of(me).start;
    let outgoing: Vec<(usize, Vec<f32>)> = (0..world.size())
        .filter(|&to| to != me)
        .map(|to| {
            let message = bordering(me, to)
                .into_iter()
                .flat_map(|i| parameters(&mine[i - start]))
                .collect();
            (to, message)
        })
        .collect();
    let senders: Vec<(usize, Vec<usize>)> = (0..world.size())
        .filter(|&from| from != me)
        .map(|from| (from, bordering(from, me)))
        .collect();
    let incoming: Vec<(usize, usize)> = senders
        .iter()
        .map(|(from, nodes)| (*from, nodes.len() * values))
        .collect();
    let what = format!("sending the nodes' models of round {}", round + 1);
    let messages = world.exchange_f32(&outgoing, &incoming, &what);
    let mut received = BTreeMap::new();
    for ((_, nodes), message) in senders.iter().zip(messages) {
        for (node, flat) in nodes.iter().zip(message.chunks(values.max(1))) {
            received.insert(*node, aggregate::unflatten(&layout, flat));
        }
    }
    Ok(received)
}

fn parameters(weights: &Weights) -> Vec<f32> {
    weights
        .iter()
        .filter(|(_, t)| t.kind == TensorKind::Parameter)
        .flat_map(|(_, t)| t.values.iter().copied())
        .collect()
}

/// sqrt((1/n) sum_i ||w_i - mean||^2) over the parameters, the mean summed in f64 across
/// ranks (so rank counts agree to ~1e-15, not bit for bit).
fn consensus_distance(world: &World, mine: &[Weights], nodes: usize) -> f64 {
    let flat: Vec<Vec<f32>> = mine.iter().map(parameters).collect();
    let mut sum = vec![0.0f64; flat.first().map_or(0, Vec::len)];
    for node in &flat {
        sum.iter_mut().zip(node).for_each(|(s, &v)| *s += v as f64);
    }
    world.sum_f64(&mut sum, "summing the nodes' models");
    let mean: Vec<f64> = sum.iter().map(|s| s / nodes as f64).collect();
    let mut squares = [flat
        .iter()
        .map(|node| {
            node.iter()
                .zip(&mean)
                .map(|(&v, m)| (v as f64 - m) * (v as f64 - m))
                .sum::<f64>()
        })
        .sum::<f64>()];
    world.sum_f64(&mut squares, "summing the nodes' distances to their mean");
    (squares[0] / nodes as f64).sqrt()
}

/// The test images every node is scored on: the first `count` of the test split taken
/// class by class in turn (label-balanced, as the official code's fixed sample), or all of
/// it for 0.
fn evaluation_images(data: &LoadedData, count: usize) -> ImageSet {
    let labels = &data.test.labels;
    if count == 0 || count >= labels.len() {
        return data.test.clone();
    }
    let mut by_class = vec![Vec::new(); data.num_classes()];
    for (i, &label) in labels.iter().enumerate() {
        by_class[label as usize].push(i);
    }
    let longest = by_class.iter().map(Vec::len).max().unwrap_or(0);
    let mut chosen: Vec<usize> = (0..longest)
        .flat_map(|k| {
            by_class
                .iter()
                .filter_map(move |class| class.get(k).copied())
        })
        .take(count)
        .collect();
    chosen.sort_unstable();
    data.test.select(&chosen)
}

/// Every node's test accuracy and loss on `test`, in node order.
fn evaluate(
    world: &World,
    place: &Placement,
    nodes: &[Trainer],
    test: &ImageSet,
) -> anyhow::Result<NodeScores> {
    // (accuracy, or NaN for models without one; loss) per node.
    let scores = nodes
        .iter()
        .map(|node| {
            let eval = node.evaluate_on(test)?;
            Ok(vec![eval.test_accuracy.unwrap_or(f64::NAN), eval.test_loss])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let all = gather_per_node(world, place, scores, 2);
    Ok(NodeScores {
        accuracies: all
            .iter()
            .map(|r| Some(r[0]).filter(|a| !a.is_nan()))
            .collect(),
        losses: all.iter().map(|r| r[1]).collect(),
    })
}

/// The weights of node `node` of a finished or interrupted run (its latest checkpoint).
pub fn node_weights(run: &Path, node: usize) -> anyhow::Result<Weights> {
    let dir = run.join("nodes").join(node_name(node));
    let config = load_run_config(&dir, &[])?.0;
    let device = crate::device::parse(&config.device)?;
    let latest = CheckpointDir::new(&dir).latest()?;
    Ok(Trainer::from_checkpoint(&config, &latest, &device)?.weights())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_ratios_sum_over_nodes_and_skip_constant_initializations() {
        let map = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let initial = [
            map(&[("a", 1.0), ("b", 0.0)]),
            map(&[("a", 3.0), ("b", 0.0)]),
        ];
        let now = [
            map(&[("a", 0.5), ("b", 2.0)]),
            map(&[("a", 0.5), ("b", 1.0)]),
        ];
        // a: (0.5 + 0.5) / (1 + 3); b started at variance 0: no ratio.
        assert_eq!(ratios(&now, &initial), map(&[("a", 0.25)]));
    }

    #[test]
    fn placement_gives_every_node_one_rank_in_blocks() {
        let place = Placement::new(10, 4);
        let blocks: Vec<Range<usize>> = (0..4).map(|r| place.nodes_of(r)).collect();
        assert_eq!(blocks, vec![0..2, 2..5, 5..7, 7..10]);
        assert_eq!(place.rank_of(4), 1);
        assert_eq!(place.rank_of(9), 3);
    }
}
