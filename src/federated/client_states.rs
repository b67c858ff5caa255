//! Model-sized state kept per client (MIFA's and AFA-CS's latest updates, control variates,
//! SCAFCOM's momenta, error-feedback memories), in memory or spilled to disk
//! (`federated.client_state`). Both are exact: the disk store keeps each client's f32
//! tensors as a safetensors file, so results, checkpoints and resumes are bit for bit the
//! in-memory ones while the process holds one client's state at a time.
//!
//! On disk each write is a new file (`<run>/client-state/rank-R/<store>/<client>-<n>`,
//! written atomically) and a checkpoint saves only an index of the current files with
//! their SHA-256. A superseded file is deleted at once unless a retained checkpoint still
//! lists it; [`StateStorage::keep_only_checkpointed`] deletes the rest after each
//! checkpoint (the latest one lists exactly the current files). Ranks other than 0 keep
//! their own copies and, on resume, copy rank 0's checkpointed files into their store.

use super::aggregator::ReadState;
use super::keyed_weights;
use crate::atomic::write_atomic;
use crate::train::Weights;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where the clients' state lives: memory, or a rank's directory of client-state files
/// inside the run directory (a shared handle: every store of a run pins files together).
#[derive(Clone, Debug)]
pub struct StateStorage(Rc<Place>);

#[derive(Debug)]
struct Place {
    disk: bool,
    run_dir: PathBuf,
    /// Relative to `run_dir`.
    rank_dir: PathBuf,
    /// Files (relative to `run_dir`) that a retained checkpoint lists.
    pinned: RefCell<BTreeSet<String>>,
    /// Files that a store of this run holds now.
    live: RefCell<BTreeSet<String>>,
}

const INDEX_SUFFIX: &str = ".index.json";

impl StateStorage {
    /// In memory, or with `disk` under `run_dir/client-state/rank-RANK`; a rank other than
    /// 0 starts from an empty directory (it never checkpoints; rank 0's files are the
    /// checkpoint's). Either reads a checkpoint's files from `run_dir`.
    pub fn new(disk: bool, run_dir: &Path, rank: usize) -> anyhow::Result<Self> {
        let rank_dir = PathBuf::from("client-state").join(format!("rank-{rank}"));
        let absolute = run_dir.join(&rank_dir);
        if disk && rank != 0 && absolute.exists() {
            std::fs::remove_dir_all(&absolute)
                .with_context(|| format!("clearing {}", absolute.display()))?;
        }
        Ok(Self(Rc::new(Place {
            disk,
            run_dir: run_dir.to_path_buf(),
            rank_dir,
            pinned: RefCell::default(),
            live: RefCell::default(),
        })))
    }

    pub fn is_disk(&self) -> bool {
        self.0.disk
    }

    /// After a checkpoint (or on resume): pins the files that the checkpoints in
    /// `checkpoint_dirs` list and deletes every other file of this rank's store that no
    /// store holds now (superseded ones and leftovers of an interrupted process).
    pub fn keep_only_checkpointed(&self, checkpoint_dirs: &[PathBuf]) -> anyhow::Result<()> {
        let place = &*self.0;
        if !place.disk {
            return Ok(());
        }
        let mut pinned = BTreeSet::new();
        for dir in checkpoint_dirs {
            for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
                let path = entry?.path();
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                if name.ends_with(INDEX_SUFFIX) {
                    let index = Index::read(&path)?;
                    pinned.extend(index.clients.into_values().map(|file| file.path));
                }
            }
        }
        let root = place.run_dir.join(&place.rank_dir);
        if root.exists() {
            for store in std::fs::read_dir(&root)? {
                let store = store?.path();
                for file in std::fs::read_dir(&store)? {
                    let file = file?.path();
                    let relative = file.strip_prefix(&place.run_dir)?.to_string_lossy();
                    let live = place.live.borrow().contains(relative.as_ref());
                    if !live && !pinned.contains(relative.as_ref()) {
                        std::fs::remove_file(&file)
                            .with_context(|| format!("deleting {}", file.display()))?;
                    }
                }
            }
        }
        *place.pinned.borrow_mut() = pinned;
        Ok(())
    }
}

/// The checkpoint files of one kind of state: `memory` holds every client's tensors (the
/// in-memory store's format), `index` lists the disk store's files.
#[derive(Clone, Copy, Debug)]
pub struct StateFiles {
    pub memory: &'static str,
    pub index: &'static str,
}

/// One model-sized vector per client that has one, keyed by client id.
pub struct ClientStates {
    files: StateFiles,
    storage: StateStorage,
    memory: BTreeMap<usize, Weights>,
    disk: Index,
    /// The tensors' kinds and shapes, from the first state written or the restore.
    reference: Option<Weights>,
    values_per_client: usize,
}

/// The disk store's current files (what a checkpoint saves).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    clients: BTreeMap<usize, StoredFile>,
    /// Writes so far: the next file's number.
    writes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredFile {
    /// Relative to the run directory.
    path: String,
    bytes: u64,
    sha256: String,
}

impl Index {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&bytes, &path.display().to_string())
    }

    fn parse(bytes: &[u8], file: &str) -> anyhow::Result<Self> {
        serde_json::from_slice(bytes)
            .with_context(|| format!("{file}: not an index of client-state files"))
    }
}

impl ClientStates {
    pub fn new(storage: &StateStorage, files: StateFiles) -> Self {
        Self {
            files,
            storage: storage.clone(),
            memory: BTreeMap::new(),
            disk: Index::default(),
            reference: None,
            values_per_client: 0,
        }
    }

    pub fn len(&self) -> usize {
        match self.storage.is_disk() {
            false => self.memory.len(),
            true => self.disk.clients.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clients that have a state, ascending.
    pub fn clients(&self) -> Vec<usize> {
        match self.storage.is_disk() {
            false => self.memory.keys().copied().collect(),
            true => self.disk.clients.keys().copied().collect(),
        }
    }

    /// Bytes of f32 state (held in memory, or on disk with the disk store).
    pub fn state_bytes(&self) -> usize {
        4 * self.values_per_client * self.len()
    }

    /// Client `client`'s state (read back and verified from disk with the disk store).
    pub fn get(&self, client: usize) -> anyhow::Result<Option<Weights>> {
        if !self.storage.is_disk() {
            return Ok(self.memory.get(&client).cloned());
        }
        match self.disk.clients.get(&client) {
            None => Ok(None),
            Some(file) => {
                let reference = self.reference.as_ref().expect("set with the first file");
                read_stored(&self.storage.0.run_dir, file, reference).map(Some)
            }
        }
    }

    pub fn insert(&mut self, client: usize, state: Weights) -> anyhow::Result<()> {
        if self.reference.is_none() {
            self.values_per_client = state.num_values();
            self.reference = Some(state.clone());
        }
        let place = &*self.storage.0;
        if !place.disk {
            self.memory.insert(client, state);
            return Ok(());
        }
        let store = Path::new(self.files.memory)
            .file_stem()
            .unwrap_or_default()
            .to_owned();
        let relative = place
            .rank_dir
            .join(store)
            .join(format!("{client}-{}.safetensors", self.disk.writes));
        let absolute = place.run_dir.join(&relative);
        let bytes = state.to_safetensors_bytes()?;
        std::fs::create_dir_all(absolute.parent().expect("a store directory"))?;
        write_atomic(&absolute, &bytes)?;
        self.disk.writes += 1;
        place
            .live
            .borrow_mut()
            .insert(relative.to_string_lossy().into_owned());
        let file = StoredFile {
            path: relative.to_string_lossy().into_owned(),
            bytes: bytes.len() as u64,
            sha256: format!("{:x}", sha2::Sha256::digest(&bytes)),
        };
        if let Some(old) = self.disk.clients.insert(client, file) {
            place.live.borrow_mut().remove(&old.path);
            if !place.pinned.borrow().contains(&old.path) {
                let old = place.run_dir.join(&old.path);
                std::fs::remove_file(&old)
                    .with_context(|| format!("deleting {}", old.display()))?;
            }
        }
        Ok(())
    }

    /// Every state summed in client order (`zero` when there is none): the same additions,
    /// in the same order, in memory and on disk.
    pub fn sum(&self, zero: &Weights) -> anyhow::Result<Weights> {
        let mut sum: Option<Weights> = None;
        for client in self.clients() {
            let state = self.get(client)?.expect("a listed client");
            sum = Some(match sum {
                None => state,
                Some(sum) => sum.add(&state)?,
            });
        }
        Ok(sum.unwrap_or_else(|| zero.clone()))
    }

    /// The checkpoint file: every state (memory) or the index of the files (disk); nothing
    /// while no client has a state.
    pub fn save(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![match self.storage.is_disk() {
            false => (self.files.memory, keyed_weights::pack(&self.memory)?),
            true => (self.files.index, serde_json::to_vec_pretty(&self.disk)?),
        }])
    }

    /// Restores what [`ClientStates::save`] wrote, in either format whatever this store's
    /// storage (a run may change `federated.client_state` on resume); clients below
    /// `limit`, tensors checked against `reference`.
    pub fn restore(
        &mut self,
        read: &mut ReadState,
        reference: &Weights,
        limit: usize,
    ) -> anyhow::Result<()> {
        let mut restored = Self::new(&self.storage, self.files);
        restored.reference = Some(reference.clone());
        restored.values_per_client = reference.num_values();
        if let Some(bytes) = read(self.files.memory)? {
            for (client, state) in
                keyed_weights::unpack(&bytes, self.files.memory, reference, limit)?
            {
                restored.insert(client, state)?;
            }
        }
        if let Some(bytes) = read(self.files.index)? {
            let index = Index::parse(&bytes, self.files.index)?;
            let run_dir = self.storage.0.run_dir.clone();
            for (&client, file) in &index.clients {
                anyhow::ensure!(
                    client < limit,
                    "{}: client {client} is not below {limit}",
                    self.files.index
                );
                let state = read_stored(&run_dir, file, reference)?;
                restored.adopt_or_insert(client, file, state)?;
            }
            restored.disk.writes = restored.disk.writes.max(index.writes);
        }
        let mut live = self.storage.0.live.borrow_mut();
        for file in self.disk.clients.values() {
            live.remove(&file.path);
        }
        drop(live);
        *self = restored;
        Ok(())
    }

    /// Keeps a checkpointed file that is already in this rank's store; copies one of
    /// another rank's (rank 0's checkpoint, read by another rank).
    fn adopt_or_insert(
        &mut self,
        client: usize,
        file: &StoredFile,
        state: Weights,
    ) -> anyhow::Result<()> {
        let place = &*self.storage.0;
        match place.disk && Path::new(&file.path).starts_with(&place.rank_dir) {
            true => {
                place.live.borrow_mut().insert(file.path.clone());
                self.disk.clients.insert(client, file.clone());
                Ok(())
            }
            false => self.insert(client, state),
        }
    }
}

/// A stored file, verified against its index entry and tagged with `reference`'s kinds.
fn read_stored(run_dir: &Path, file: &StoredFile, reference: &Weights) -> anyhow::Result<Weights> {
    let path = run_dir.join(&file.path);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let sha256 = format!("{:x}", sha2::Sha256::digest(&bytes));
    anyhow::ensure!(
        bytes.len() as u64 == file.bytes && sha256 == file.sha256,
        "{} is damaged: {} bytes with SHA-256 {sha256}, but its index saved {} bytes with \
         SHA-256 {}",
        path.display(),
        bytes.len(),
        file.bytes,
        file.sha256
    );
    let state = Weights::from_safetensors_bytes(&bytes, &path)?.with_kinds_of(reference);
    anyhow::ensure!(
        state.len() == reference.len()
            && state
                .iter()
                .all(|(name, t)| reference.get(name).is_some_and(|r| r.shape == t.shape)),
        "{}: not the model's parameters",
        path.display()
    );
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::fedavg::tests::weights;

    const FILES: StateFiles = StateFiles {
        memory: "test.safetensors",
        index: "test.index.json",
    };

    fn state(x: f32) -> Weights {
        weights(&[x, 2.0 * x], &[]).only(crate::train::TensorKind::Parameter)
    }

    fn values(states: &ClientStates, client: usize) -> Vec<f32> {
        let state = states.get(client).unwrap().unwrap();
        state.get("w").unwrap().values.clone()
    }

    fn files_in(dir: &Path) -> usize {
        walk(dir).len()
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => files.extend(walk(&path)),
                false => files.push(path),
            }
        }
        files
    }

    /// The disk store answers exactly as the memory store, keeps one file per client (a
    /// superseded one is deleted unless a checkpoint lists it), and either format restores
    /// into either store.
    #[test]
    fn disk_and_memory_stores_agree_and_restore_each_other() {
        let run = tempfile::tempdir().unwrap();
        let disk = StateStorage::new(true, run.path(), 0).unwrap();
        let mut on_disk = ClientStates::new(&disk, FILES);
        let memory = StateStorage::new(false, run.path(), 0).unwrap();
        let mut in_memory = ClientStates::new(&memory, FILES);
        for (client, x) in [(3, 1.5f32), (0, -2.25), (3, 7.0), (1, 1e-7)] {
            on_disk.insert(client, state(x)).unwrap();
            in_memory.insert(client, state(x)).unwrap();
        }
        assert_eq!(on_disk.clients(), [0, 1, 3]);
        assert_eq!(values(&on_disk, 3), [7.0, 14.0]);
        assert_eq!(on_disk.get(2).unwrap(), None);
        let zero = state(0.0);
        assert_eq!(on_disk.sum(&zero).unwrap(), in_memory.sum(&zero).unwrap());
        assert_eq!(on_disk.state_bytes(), 3 * 2 * 4);
        assert_eq!(files_in(&run.path().join("client-state")), 3);

        // A checkpoint pins the current files: superseding client 3 keeps its old file.
        let checkpoint = run.path().join("step-1");
        std::fs::create_dir(&checkpoint).unwrap();
        for (name, bytes) in on_disk.save().unwrap() {
            std::fs::write(checkpoint.join(name), bytes).unwrap();
        }
        disk.keep_only_checkpointed(std::slice::from_ref(&checkpoint))
            .unwrap();
        on_disk.insert(3, state(9.0)).unwrap();
        assert_eq!(files_in(&run.path().join("client-state")), 4);
        let mut read = |name: &str| {
            let path = checkpoint.join(name);
            Ok(path.exists().then(|| std::fs::read(path).unwrap()))
        };
        let mut back = ClientStates::new(&memory, FILES);
        back.restore(&mut read, &zero, 4).unwrap();
        assert_eq!(values(&back, 3), [7.0, 14.0]);
        assert_eq!(files_in(&run.path().join("client-state")), 4);
        let mut resumed = ClientStates::new(&disk, FILES);
        resumed.restore(&mut read, &zero, 4).unwrap();
        assert_eq!(values(&resumed, 3), [7.0, 14.0]);
        assert_eq!(resumed.sum(&zero).unwrap(), in_memory.sum(&zero).unwrap());
        let mut too_few = ClientStates::new(&disk, FILES);
        assert!(too_few.restore(&mut read, &zero, 3).is_err());
        // After the next checkpoint only its files and those a store holds remain: a
        // leftover goes, `on_disk`'s newer file for client 3 stays.
        std::fs::write(
            run.path().join("client-state/rank-0/test/9-99.safetensors"),
            b"",
        )
        .unwrap();
        disk.keep_only_checkpointed(std::slice::from_ref(&checkpoint))
            .unwrap();
        assert_eq!(files_in(&run.path().join("client-state")), 4);
        assert!(
            !run.path()
                .join("client-state/rank-0/test/9-99.safetensors")
                .exists()
        );

        // Memory's checkpoint restores onto disk (another rank's copy) and back.
        let saved = in_memory.save().unwrap();
        let mut read = |name: &str| Ok(saved.iter().find(|f| f.0 == name).map(|f| f.1.clone()));
        let rank1 = StateStorage::new(true, run.path(), 1).unwrap();
        let mut copy = ClientStates::new(&rank1, FILES);
        copy.restore(&mut read, &zero, 4).unwrap();
        assert_eq!(copy.sum(&zero).unwrap(), in_memory.sum(&zero).unwrap());
        assert_eq!(files_in(&run.path().join("client-state/rank-1")), 3);
    }

    /// A damaged state file is an error naming it, never wrong numbers.
    #[test]
    fn a_damaged_file_is_refused() {
        let run = tempfile::tempdir().unwrap();
        let disk = StateStorage::new(true, run.path(), 0).unwrap();
        let mut states = ClientStates::new(&disk, FILES);
        states.insert(5, state(1.0)).unwrap();
        let path = walk(&run.path().join("client-state")).remove(0);
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let error = states.get(5).unwrap_err().to_string();
        assert!(
            error.contains("is damaged") && error.contains("5-0"),
            "{error}"
        );
    }
}
