//! The federated round loop in one process: per round, the sampler picks the participants,
//! each gets a fresh [`Trainer`] on its own images, seeded by (seed, round, client), starts
//! from the server's weights and takes `local_steps` steps; the server's rule
//! ([`super::aggregator`]) combines their updates in client order and its optimizer steps.
//! Only participants hold a model, so a thousand clients cost what ten do (plus what a
//! stateful rule such as MIFA keeps per client).

use super::client_states::StateStorage;
use super::clock::{AsyncClock, ComputeTimes};
use super::momentum::ClientMomentum;
use super::participation::{Sampler, SamplerState};
use super::server_state::ServerState;
use super::{fedavg, partition, probabilities};
use crate::atomic::write_atomic;
use crate::config::RunConfig;
use crate::config::federated::{ClientStateName, FederatedConfig};
use crate::datasets::LoadedData;
use crate::distributed::World;
use crate::rng::{self, Stream};
use crate::train::checkpoint::{CheckpointDir, manifest_step, read_verified};
use crate::train::config_change;
use crate::train::run_dir::{create_driver_run, load_run_config, resume_driver_run};
use crate::train::session::{Interrupted, RunComplete};
use crate::train::{CancelToken, Evaluation, Setup, TensorKind, Trainer, Weights};
use crate::usage_error;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// One round, as metrics.jsonl records it.
#[derive(Clone, Debug)]
pub struct RoundReport {
    /// Rounds completed, this one included.
    pub round: usize,
    pub rounds: usize,
    pub participants: Vec<usize>,
    /// The participants' mean training loss over their local steps (None: nobody took part).
    pub client_loss: Option<f64>,
    /// The server model on the test split, at `evaluate_every` and the last round.
    pub evaluation: Option<Evaluation>,
    /// Bytes the participants sent and received this round (f32 weights, uncompressed).
    pub bytes_up: usize,
    pub bytes_down: usize,
    /// Bytes uploaded since the run began.
    pub total_bytes_up: usize,
    /// Simulated time at the end of the round ([`super::clock`]).
    pub clock: f64,
    pub wall_seconds: f64,
}

impl RoundReport {
    fn to_json(&self) -> serde_json::Value {
        let mut line = json!({
            // `step` too, so `stoke plot --x step` and resume's truncation read rounds.
            "step": self.round,
            "round": self.round,
            "participants": self.participants.len(),
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "total_bytes_up": self.total_bytes_up,
            "clock": self.clock,
            "wall_seconds": self.wall_seconds,
        });
        if let Some(loss) = self.client_loss {
            line["client_loss"] = loss.into();
        }
        if let Some(eval) = &self.evaluation {
            eval.add_test_scores(&mut line);
        }
        line
    }
}

/// What summary.json of a federated run holds (rank 0's; other ranks return theirs without
/// scores, which only rank 0 measures).
#[derive(Clone, Debug, Serialize)]
pub struct FederatedSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    pub rounds: usize,
    pub clients: usize,
    /// Simulated time at the end ([`super::clock`]).
    pub clock: f64,
    pub wall_seconds: f64,
    pub bytes_up: usize,
    pub bytes_down: usize,
    /// Bytes of state the server keeps per client (FedAU's intervals, MIFA's updates,
    /// control variates, error-feedback memories; asynchronous runs' older models).
    pub client_state_bytes: usize,
    /// Where the model-sized part of it lives (`federated.client_state`).
    pub client_state: ClientStateName,
    /// The server model as a stoke run directory (`stoke eval`, `export`, `sample` read it).
    pub server_run: PathBuf,
}

/// The server's progress saved with each checkpoint, beside its weights.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// Rounds completed.
    round: usize,
    bytes_up: usize,
    bytes_down: usize,
    /// Seconds spent before this process (for wall time across resumes).
    wall_seconds: f64,
    /// Test loss and accuracy of the last evaluation.
    test_loss: Option<f64>,
    test_accuracy: Option<f64>,
    /// Where the markov and cyclic participation chains stand.
    #[serde(default)]
    sampler: SamplerState,
    /// Simulated time.
    #[serde(default)]
    clock: f64,
    /// The run ended at `federated.max_clock` before its rounds.
    #[serde(default)]
    out_of_time: bool,
}

const SERVER_FILE: &str = "server.safetensors";
const PROGRESS_FILE: &str = "federated.json";

/// Where and how a federated run trains.
#[derive(Clone, Debug, Default)]
pub struct FederatedOptions {
    pub out_dir: PathBuf,
    /// Continue from the latest checkpoint in `out_dir`.
    pub resume: bool,
    /// Stops the run between rounds, with a checkpoint.
    pub cancel: CancelToken,
    /// MPI ranks sharing the round's participants (participant i trains on rank i mod
    /// size); every rank ends each round with the same server weights, bit for bit those of
    /// one process, and rank 0 alone writes the run directory. Under `resume` every rank
    /// reads the checkpoint (a shared filesystem, as `--resume` needs for config.toml).
    pub world: World,
}

/// Trains the federated run `config` in `out_dir`: a new run directory holding `resolved`
/// (config.toml, metrics.jsonl, summary.json, checkpoints at each evaluation, the server
/// model as a stoke run in `out_dir/server`), or with `resume` the one there, from its latest
/// checkpoint (bit for bit the uninterrupted run: every draw is keyed by seed, round and
/// client). `on_round` sees each round. Cancelled, it checkpoints and stops between rounds.
pub fn run(
    config: &RunConfig,
    resolved: &toml::Table,
    options: &FederatedOptions,
    on_round: &mut dyn FnMut(&RoundReport),
) -> anyhow::Result<FederatedSummary> {
    let FederatedOptions {
        out_dir,
        resume,
        cancel,
        world,
    } = options;
    let (out_dir, resume, leader) = (out_dir.as_path(), *resume, world.is_leader());
    let fed = config
        .federated
        .as_ref()
        .ok_or_else(|| usage_error!("the config has no [federated] section"))?;
    crate::train::validate::validate(config)?;
    let started = Instant::now();
    let device = crate::device::parse(&config.device)?;
    let data = crate::datasets::load(&config.dataset, config.seed)?;
    let parts = partition::partition(&data.train.labels, data.num_classes(), fed, config.seed)?;
    let probabilities = match fed.participation.has_probabilities() {
        true => probabilities::probabilities(
            fed,
            &parts,
            &data.train.labels,
            data.num_classes(),
            config.seed,
        ),
        false => Vec::new(),
    };
    let mut sampler = Sampler::new(fed, config.seed, probabilities);
    let known: Vec<f64> = (0..fed.clients).map(|n| sampler.probability(n)).collect();
    let times = ComputeTimes::new(fed, config.seed);
    let mut async_clock = fed
        .algorithm
        .is_asynchronous()
        .then(|| AsyncClock::new(fed, times.clone()));
    let storage = StateStorage::new(
        fed.client_state == ClientStateName::Disk,
        out_dir,
        world.rank(),
    )?;
    let mut state = ServerState::new(
        fed,
        config.optimizer.lr,
        config.seed,
        known,
        async_clock.as_ref(),
        storage,
    )?;
    let mut server_trainer = Trainer::build(
        &server_config(config),
        &device,
        Some(data.clone()),
        Setup::default(),
    )?;
    let checkpoints = CheckpointDir::new(out_dir);
    let (mut server, mut progress, mut metrics) = match resume {
        true => {
            let (_, saved) = load_run_config(out_dir, &[])?;
            let changes = config_change::changes(&saved, resolved);
            config_change::check_resumable(&changes)?;
            let (server, progress) =
                load_checkpoint(&checkpoints, &server_trainer.weights(), &mut state)?;
            if leader {
                // Files written after the checkpoint by the interrupted process go.
                state
                    .storage
                    .keep_only_checkpointed(&checkpoints.step_dirs()?)?;
            }
            sampler.restore(progress.sampler.clone())?;
            if let Some(clock) = &mut async_clock {
                while clock.done() < progress.round && clock.next_aggregation().is_some() {}
            }
            if progress.round >= fed.rounds || progress.out_of_time {
                return Err(RunComplete {
                    steps: progress.round,
                    length: "federated.rounds",
                }
                .into());
            }
            let metrics = resume_driver_run(out_dir, progress.round, resolved, &changes, leader)?;
            (server, progress, metrics)
        }
        false => {
            let metrics = create_driver_run(out_dir, resolved, leader)?;
            (server_trainer.weights(), Progress::default(), metrics)
        }
    };
    let wall_before = progress.wall_seconds;
    let wall = |started: &Instant| wall_before + started.elapsed().as_secs_f64();
    let values = server.num_values();
    let keep_last = config.train.keep_last;
    let save = |server: &Weights,
                state: &ServerState,
                progress: &Progress|
     -> anyhow::Result<Option<PathBuf>> {
        if !leader {
            return Ok(None);
        }
        let mut files = state.files()?;
        files.extend([
            (SERVER_FILE, server.to_safetensors_bytes()?),
            (PROGRESS_FILE, serde_json::to_vec_pretty(progress)?),
        ]);
        let saved = checkpoints.save_files(progress.round, &files, false, keep_last)?;
        // Client-state files that no retained checkpoint lists go.
        state
            .storage
            .keep_only_checkpointed(&checkpoints.step_dirs()?)?;
        Ok(Some(saved))
    };
    for round in progress.round..fed.rounds {
        if world.any(
            cancel.is_cancelled(),
            "agreeing on an interrupt between rounds",
        ) {
            progress.wall_seconds = wall(&started);
            progress.sampler = sampler.state.clone();
            let checkpoint = save(&server, &state, &progress)?;
            return Err(Interrupted {
                step: round,
                checkpoint,
            }
            .into());
        }
        // Who returns work this round, from which server model (version), and when.
        let (participants, started_from, clock) = match &mut async_clock {
            Some(clock) => match clock.next_aggregation() {
                Some(aggregation) => {
                    let (clients, from) = aggregation
                        .arrivals
                        .iter()
                        .map(|a| (a.client, a.version))
                        .unzip();
                    (clients, from, aggregation.time)
                }
                None => break,
            },
            None => {
                let participants = sampler.participants(round);
                let slowest = slowest(&times, &participants, round);
                let from = vec![round; participants.len()];
                (participants, from, progress.clock + slowest)
            }
        };
        let start = |version: usize| match version == round {
            true => Ok(&server),
            false => state.versions.get(&version).ok_or_else(|| {
                anyhow::anyhow!("server model {version} of an asynchronous client was not kept")
            }),
        };
        let mut updates = Vec::with_capacity(participants.len());
        let mut losses = vec![0.0; participants.len()];
        // SCAFFOLD-M's new client control variates, one per participant.
        let control_zero = server.only(TensorKind::Parameter).scale(0.0);
        let mut controls = match state
            .momentum
            .as_ref()
            .is_some_and(ClientMomentum::has_controls)
        {
            true => vec![control_zero.clone(); participants.len()],
            false => Vec::new(),
        };
        for (slot, &client) in participants.iter().enumerate() {
            if slot % world.size() != world.rank() {
                // Another rank trains this one; its slot stays zero until the exchange.
                updates.push(server.scale(0.0));
                continue;
            }
            let version = started_from[slot];
            let local = client_data(&data, &parts[client]);
            let mut local_config = client_config(config, fed, version, client, local.train.len());
            local_config.train.steps = times.steps(client, version, fed.local_steps);
            let mut trainer =
                Trainer::build(&local_config, &device, Some(local), Setup::default())?;
            trainer.set_weights(start(version)?)?;
            let reports = match (&state.momentum, &state.scallion) {
                (_, Some(scallion)) => scallion.train(&mut trainer, client)?,
                (Some(momentum), _) => {
                    let (reports, control) = momentum.train(&mut trainer, client)?;
                    if let Some(control) = control {
                        controls[slot] = control;
                    }
                    reports
                }
                (None, None) => trainer.run_steps(local_config.train.steps)?,
            };
            losses[slot] = reports.iter().map(|r| r.loss).sum::<f64>() / reports.len() as f64;
            updates.push(trainer.weights());
        }
        exchange(
            world,
            &mut [&mut updates, &mut controls],
            &mut losses,
            round,
        )?;
        let loss: f64 = losses.iter().sum();
        let mut deltas = updates
            .iter()
            .zip(&started_from)
            .map(|(update, &version)| update.sub(start(version)?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if fed.algorithm.is_anarchic() {
            // G_i = Delta_i / K_i: the client's average step (times -eta), whatever its K_i.
            for ((delta, &client), &version) in
                deltas.iter_mut().zip(&participants).zip(&started_from)
            {
                let steps = times.steps(client, version, fed.local_steps);
                *delta = delta.scale((1.0 / steps as f64) as f32);
            }
        }
        let zero = server.scale(0.0);
        let (delta, update_bytes) = match &mut state.scallion {
            Some(scallion) => {
                let step = scallion.aggregate(round, &participants, &deltas, &zero)?;
                // Batch-norm statistics travel uncompressed beside the compressed vector.
                let buffers = values - control_zero.num_values();
                (step.delta, step.bytes + 4 * buffers * participants.len())
            }
            None => {
                let (deltas, bytes) = state.uploads.send(round, &participants, deltas)?;
                let delta = state.rule.aggregate(&participants, &deltas, &zero)?;
                if let Some(momentum) = &mut state.momentum {
                    momentum.finish_round(&participants, &deltas, &controls)?;
                }
                (delta, bytes)
            }
        };
        let next = fedavg::with_buffer_mean(state.optimizer.step(&server, &delta)?, &updates)?;
        let previous = std::mem::replace(&mut server, next);
        if let Some(clock) = &async_clock {
            // Keep the models clients still work from: the one just replaced if some client
            // started from it, and older ones while their clients are away.
            let held = clock.held_versions();
            state.versions.insert(round, previous);
            state.versions.retain(|version, _| held.contains(version));
        }
        progress.clock = clock;
        // f32 weights both ways; FedAvg-M and SCAFFOLD-M also send g^r (and c) down,
        // SCAFFOLD-M sends c_i+ up.
        let parameters = control_zero.num_values();
        let (controls_up, down) = match (&state.momentum, &state.scallion) {
            (Some(m), _) if m.has_controls() => (parameters, values + 2 * parameters),
            (Some(_), _) => (0, values + parameters),
            // SCALLION and SCAFCOM clients receive x and c.
            (None, Some(_)) => (0, values + parameters),
            (None, None) => (0, values),
        };
        let bytes_up = update_bytes + 4 * controls_up * participants.len();
        let bytes_down = 4 * down * participants.len();
        progress.bytes_up += bytes_up;
        let total_bytes_up = progress.bytes_up;
        progress.bytes_down += bytes_down;
        progress.round = round + 1;
        let done = progress.round;
        // The next round would pass federated.max_clock: this one ends the run.
        progress.out_of_time = done < fed.rounds
            && match &async_clock {
                Some(clock) => clock.clone().next_aggregation().is_none(),
                None => fed.max_clock.is_some_and(|max| {
                    let next = sampler.clone().participants(done);
                    clock + slowest(&times, &next, done) > max
                }),
            };
        let last = done == fed.rounds || progress.out_of_time;
        let due = done.is_multiple_of(fed.evaluate_every) || last;
        let evaluation = match due && leader {
            true => {
                server_trainer.set_weights(&server)?;
                Some(server_trainer.evaluate()?)
            }
            false => None,
        };
        let report = RoundReport {
            round: done,
            rounds: fed.rounds,
            client_loss: (!participants.is_empty()).then(|| loss / participants.len() as f64),
            participants,
            evaluation,
            bytes_up,
            bytes_down,
            total_bytes_up,
            clock,
            wall_seconds: wall(&started),
        };
        metrics.write(&report.to_json())?;
        if let Some(eval) = &report.evaluation {
            progress.test_loss = Some(eval.test_loss);
            progress.test_accuracy = eval.test_accuracy;
            progress.wall_seconds = wall(&started);
            progress.sampler = sampler.state.clone();
            save(&server, &state, &progress)?;
        }
        on_round(&report);
        if progress.out_of_time {
            break;
        }
    }
    let server_run = out_dir.join("server");
    if leader {
        server_trainer.set_weights(&server)?;
        server_trainer.save(&server_run)?;
    }
    let summary = FederatedSummary {
        test_accuracy: progress.test_accuracy,
        test_loss: progress.test_loss.unwrap_or(f64::NAN),
        rounds: progress.round,
        clients: fed.clients,
        clock: progress.clock,
        wall_seconds: wall(&started),
        bytes_up: progress.bytes_up,
        bytes_down: progress.bytes_down,
        client_state_bytes: state.client_state_bytes(),
        client_state: fed.client_state,
        server_run,
    };
    if leader {
        write_atomic(
            &out_dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
    }
    Ok(summary)
}

/// Gives every rank all participants' weights (each group: one per participant; updates,
/// and SCAFFOLD-M's control variates) and losses: each rank filled the slots it trained and
/// left the others zero, so the sum over ranks is exact (x + 0 = x) and every rank
/// aggregates the same values in the same order as one process would.
fn exchange(
    world: &World,
    groups: &mut [&mut Vec<Weights>],
    losses: &mut [f64],
    round: usize,
) -> anyhow::Result<()> {
    if world.size() == 1 {
        return Ok(());
    }
    let mut buffers: Vec<Vec<f32>> = groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|w| {
            w.iter()
                .flat_map(|(_, t)| t.values.iter().copied())
                .collect()
        })
        .collect();
    world.sum_f32(
        &mut buffers,
        &format!("the client updates of round {}", round + 1),
    );
    world.sum_f64(losses, &format!("the client losses of round {}", round + 1));
    let weights = groups.iter_mut().flat_map(|group| group.iter_mut());
    for (update, values) in weights.zip(buffers) {
        let mut values = values.into_iter();
        let names: Vec<String> = update.names().map(str::to_string).collect();
        for name in names {
            let slot = update.values_mut(&name).expect("the name was just listed");
            for (value, summed) in slot.iter_mut().zip(&mut values) {
                *value = summed;
            }
        }
    }
    Ok(())
}

/// The server weights (tagged as `reference`'s) and progress of the latest checkpoint, with
/// `state` restored from it.
fn load_checkpoint(
    checkpoints: &CheckpointDir,
    reference: &Weights,
    state: &mut ServerState,
) -> anyhow::Result<(Weights, Progress)> {
    let dir = checkpoints.latest()?;
    let bytes = read_verified(&dir, SERVER_FILE)?;
    let server =
        Weights::from_safetensors_bytes(&bytes, &dir.join(SERVER_FILE))?.with_kinds_of(reference);
    let path = dir.join(PROGRESS_FILE);
    let progress: Progress = serde_json::from_slice(&read_verified(&dir, PROGRESS_FILE)?)
        .with_context(|| format!("{}: not a federated run's progress", path.display()))?;
    anyhow::ensure!(
        manifest_step(&dir)? == progress.round,
        "{}: round {} disagrees with its checkpoint {}",
        path.display(),
        progress.round,
        dir.display()
    );
    state.restore(&dir, reference, progress.round)?;
    Ok((server, progress))
}

/// How long a synchronous round takes: its slowest participant (nobody: no time).
fn slowest(times: &ComputeTimes, participants: &[usize], round: usize) -> f64 {
    participants
        .iter()
        .map(|&n| times.task(n, round))
        .fold(0.0, f64::max)
}

/// The server model's own config: the run without `[federated]`, one nominal step (the
/// server Trainer only holds and evaluates weights).
fn server_config(config: &RunConfig) -> RunConfig {
    let mut server = config.clone();
    server.federated = None;
    server.train.steps = 1;
    server.robust_eval.images = 0;
    server
}

/// A participant's config: its own seed (data order, augmentation, dropout) from (seed,
/// server model version it starts from: the round in synchronous runs, client),
/// `local_steps` steps, and a batch no larger than its data.
fn client_config(
    config: &RunConfig,
    fed: &FederatedConfig,
    version: usize,
    client: usize,
    images: usize,
) -> RunConfig {
    let mut local = server_config(config);
    local.seed = rng::key(
        config.seed,
        Stream::Federated,
        version as u64,
        2 + client as u64,
    );
    local.train.steps = fed.local_steps;
    local.data.batch_size = config.data.batch_size.min(images);
    local
}

/// A client's images as a dataset: its part of the training split, and one test image (a
/// Trainer needs a test split; the server evaluates, not the clients).
pub fn client_data(data: &LoadedData, indices: &[usize]) -> LoadedData {
    LoadedData {
        train: data.train.select(indices),
        test: data.test.select(&[0]),
        class_names: data.class_names.clone(),
        holdout: None,
    }
}

/// Weights of the server when a test wants to compare runs.
pub fn server_weights(summary: &FederatedSummary) -> anyhow::Result<Weights> {
    let config = crate::train::run_dir::load_run_config(&summary.server_run, &[])?.0;
    let device = crate::device::parse(&config.device)?;
    let latest = crate::train::checkpoint::CheckpointDir::new(&summary.server_run).latest()?;
    Ok(Trainer::from_checkpoint(&config, &latest, &device)?.weights())
}
