//! The static pod source: watches the static pod directory (inotify plus a full rescan every
//! `fileCheckFrequency`) and publishes the desired static pods as [`Snapshot`]s on a
//! `tokio::sync::watch` channel.
//!
//! Files: only regular files (symlinks followed) directly in the directory, named `*.yaml`,
//! `*.yml` or `*.json` (any case) and not starting with `.`; editor backups and swap files
//! (`x.yaml~`, `x.yaml.bak`, `.x.yaml.swp`, `#x.yaml#`, `4913`) never match. No recursion.
//!
//! Settling: a file is read once it is complete — right after its writer closes it
//! (`IN_CLOSE_WRITE`) or it is renamed into the directory (`IN_MOVED_TO`). A file still open
//! for writing is not read until closed (or quiet for `open_write_timeout`). Changes seen
//! only by the rescan, deletions and renames away are acted on once the file's size, mtime,
//! ctime and inode (or its absence) have been stable for `settle`, so an editor's
//! rename-and-rewrite does not stop and restart a pod whose content did not change.
//!
//! The rule a consumer follows (see [`Snapshot`]): run exactly `snapshot.pods()`. A file whose
//! content turns invalid keeps its last good pods in the snapshot (with the error beside them)
//! until it is fixed or removed; a valid edit replaces them (new UIDs); a removed file drops
//! them. Pods are identified by UID: a UID that disappears is stopped, a new one started.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::Config;
use nodelet_objects::field::{FieldError, FieldPath};
use nodelet_objects::manifest::{
    MAX_MANIFEST_SIZE, ManifestError, Problem, StaticPod, parse_manifest_all,
};
use nodelet_objects::workload::DeclaredObject;

/// How the source watches its directory.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// The static pod directory.
    pub dir: PathBuf,
    /// The node name pods are named and hashed with.
    pub node_name: String,
    /// Period of the full rescan (`fileCheckFrequency`).
    pub rescan_period: Duration,
    /// How long a file (or its absence) must stay unchanged before a change not announced by
    /// a close or a rename is acted on.
    pub settle: Duration,
    /// A file still open for writing is read anyway after this long without changes.
    pub open_write_timeout: Duration,
    /// Use inotify; `false` relies on the periodic rescan alone (filesystems without inotify).
    pub inotify: bool,
}

impl SourceOptions {
    /// Options for a node's configuration, with the default settling delays.
    pub fn from_config(cfg: &Config) -> SourceOptions {
        SourceOptions {
            dir: cfg.static_pod_path.clone(),
            node_name: cfg.node_name.clone(),
            rescan_period: cfg.file_check_frequency,
            settle: Duration::from_millis(100),
            open_write_timeout: Duration::from_secs(2),
            inotify: true,
        }
    }
}

/// One manifest file as the source sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestFile {
    pub path: PathBuf,
    /// The pods to run for this file: its current content's pods, or — while `error` is set —
    /// the last good version's (empty if none was ever seen).
    pub pods: Vec<Arc<StaticPod>>,
    /// The other objects the file declares (ConfigMaps, Jobs, Deployments...), current or
    /// last good as the pods.
    pub objects: Vec<Arc<DeclaredObject>>,
    /// Why the current content is not used, if it is not.
    pub error: Option<ManifestError>,
}

/// The desired static pods and the problems of the directory, as of one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Increases with every published change.
    pub generation: u64,
    /// Every candidate manifest file, sorted by path.
    pub files: Vec<ManifestFile>,
    /// Set while the directory cannot be listed (e.g. it does not exist). The files as last
    /// seen are kept meanwhile.
    pub dir_error: Option<String>,
}

impl Snapshot {
    /// All pods to run (unique UIDs and unique namespace/name).
    pub fn pods(&self) -> impl Iterator<Item = &Arc<StaticPod>> {
        self.files.iter().flat_map(|f| f.pods.iter())
    }
    /// Every declared object (Jobs, ConfigMaps...; unique kind/namespace/name).
    pub fn objects(&self) -> impl Iterator<Item = &Arc<DeclaredObject>> {
        self.files.iter().flat_map(|f| f.objects.iter())
    }
    /// The problems of all files whose current content is not used.
    pub fn errors(&self) -> impl Iterator<Item = &ManifestError> {
        self.files.iter().filter_map(|f| f.error.as_ref())
    }
    /// The file entry for `path`.
    pub fn file(&self, path: &Path) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.path == path)
    }
    /// The pod with this UID.
    pub fn pod_by_uid(&self, uid: &str) -> Option<&Arc<StaticPod>> {
        self.pods().find(|p| p.uid() == uid)
    }
}

/// Why the source could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create an inotify watcher: {0}")]
    Watcher(#[from] notify::Error),
    #[error("cannot start the static pod source thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Is `name` a manifest file name we read? (The rule lives with manifest decoding, where the
/// API's manifest writes use it too.)
pub use nodelet_objects::manifest::is_manifest_name;

/// What identifies a file version without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileSig {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileSig {
    fn of(m: &std::fs::Metadata) -> FileSig {
        FileSig {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

/// The signature of a regular file at `path` (symlinks followed); `None` if there is none.
fn stat_regular(path: &Path) -> Option<FileSig> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.file_type().is_file())
        .map(|m| FileSig::of(&m))
}

/// A file's content, parsed.
type Parsed = (Vec<Arc<StaticPod>>, Vec<Arc<DeclaredObject>>);

struct FileState {
    sig: Option<FileSig>,
    content_hash: Option<[u8; 32]>,
    /// The current content's result, before duplicate-name checks across files.
    parsed: Result<Parsed, ManifestError>,
    /// The pods in force (current or last good).
    accepted: Vec<Arc<StaticPod>>,
    /// The objects in force (current or last good).
    accepted_objects: Vec<Arc<DeclaredObject>>,
    error: Option<ManifestError>,
}

#[derive(Debug)]
struct Pending {
    open_for_write: bool,
    last_activity: Instant,
    immediate: bool,
    stable: Option<(Option<FileSig>, Instant)>,
}

/// What an inotify event means for a pending file.
enum Action {
    /// Written and closed, or renamed in: read it now.
    Complete,
    /// Created or written: wait for the close.
    Writing,
    /// Attributes changed.
    Touched,
    /// Removed or renamed away: act once the absence is stable.
    Gone,
}

enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// `Kind/namespace/name`: what must be unique among declared objects.
fn object_key(o: &DeclaredObject) -> String {
    format!(
        "{}/{}/{}",
        o.object.kind(),
        o.object.namespace(),
        o.object.name()
    )
}

/// The watcher state machine; runs on the source thread.
struct Scanner {
    opts: SourceOptions,
    files: BTreeMap<PathBuf, FileState>,
    pending: HashMap<PathBuf, Pending>,
    dir_error: Option<String>,
    watcher: Option<notify::RecommendedWatcher>,
    watched_dir: Option<(u64, u64)>,
    generation: u64,
    dirty: bool,
    rescan_now: bool,
    reads: Arc<AtomicU64>,
}

impl Scanner {
    fn new(opts: SourceOptions, watcher: Option<notify::RecommendedWatcher>) -> Scanner {
        Scanner {
            opts,
            files: BTreeMap::new(),
            pending: HashMap::new(),
            dir_error: None,
            watcher,
            watched_dir: None,
            generation: 0,
            dirty: false,
            rescan_now: false,
            reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// (Re-)establishes the inotify watch when the directory appeared or was replaced.
    fn ensure_watch(&mut self) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        let id = std::fs::metadata(&self.opts.dir)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| (m.dev(), m.ino()));
        if id == self.watched_dir {
            return;
        }
        if self.watched_dir.is_some() {
            let _ = w.unwatch(&self.opts.dir);
        }
        self.watched_dir = None;
        if id.is_some() {
            match w.watch(&self.opts.dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched_dir = id,
                Err(e) => tracing::warn!(dir = %self.opts.dir.display(), error = %e,
                    "cannot watch the static pod path; relying on the periodic rescan"),
            }
        }
    }

    /// Lists the directory. Initially every file is loaded at once; later, changed, new and
    /// vanished files are queued to be loaded once stable, and the others are re-read.
    fn rescan(&mut self, initial: bool, now: Instant) {
        self.ensure_watch();
        let entries = match std::fs::read_dir(&self.opts.dir) {
            Ok(e) => e,
            Err(e) => {
                let msg = format!(
                    "{}: cannot list the static pod path: {e}",
                    self.opts.dir.display()
                );
                if self.dir_error.as_ref() != Some(&msg) {
                    tracing::warn!("{msg}");
                    self.dir_error = Some(msg);
                    self.dirty = true;
                }
                return;
            }
        };
        if self.dir_error.take().is_some() {
            self.dirty = true;
        }
        let mut listed = HashSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_manifest_name(name) {
                continue;
            }
            let path = self.opts.dir.join(name);
            let Some(sig) = stat_regular(&path) else {
                continue;
            };
            listed.insert(path.clone());
            if initial {
                self.load(&path);
                continue;
            }
            if self.pending.contains_key(&path) {
                continue;
            }
            if self.files.get(&path).map(|f| f.sig) == Some(Some(sig)) {
                // Looks unchanged: re-read anyway, as the kubelet does, in case a write kept
                // size and timestamps (coarse-timestamp filesystems). Unchanged content is
                // recognised by its hash and not parsed again.
                self.load(&path);
            } else {
                self.queue_stable(path, now);
            }
        }
        let vanished: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !listed.contains(*p))
            .cloned()
            .collect();
        for path in vanished {
            if initial {
                self.remove(&path);
            } else if !self.pending.contains_key(&path) {
                self.queue_stable(path, now);
            }
        }
    }

    fn queue_stable(&mut self, path: PathBuf, now: Instant) {
        self.pending.insert(
            path,
            Pending {
                open_for_write: false,
                last_activity: now,
                immediate: false,
                stable: None,
            },
        );
    }

    /// Records one inotify event.
    fn on_event(&mut self, event: notify::Event, now: Instant) {
        if event.need_rescan() {
            self.rescan_now = true;
        }
        for path in &event.paths {
            if path == &self.opts.dir {
                // The directory itself was removed or moved: find out on a rescan.
                if matches!(
                    event.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                ) {
                    self.rescan_now = true;
                }
                continue;
            }
            if path.parent() != Some(self.opts.dir.as_path()) {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !is_manifest_name(name) {
                continue;
            }
            let action = match event.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => Action::Complete,
                // Opens and reads (including our own) change nothing.
                EventKind::Access(_) => continue,
                EventKind::Create(kind) => {
                    // A symlink is complete at once; a new file is being written.
                    let is_link = std::fs::symlink_metadata(path)
                        .map(|m| m.file_type().is_symlink())
                        .unwrap_or(false);
                    if is_link || kind == CreateKind::Folder {
                        Action::Complete
                    } else {
                        Action::Writing
                    }
                }
                EventKind::Modify(ModifyKind::Data(_)) => Action::Writing,
                EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Action::Complete,
                // Reported separately as From and To.
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => continue,
                EventKind::Modify(ModifyKind::Metadata(_)) => Action::Touched,
                // Removed, renamed away, anything else: act once stable.
                _ => Action::Gone,
            };
            let p = self.pending.entry(path.clone()).or_insert(Pending {
                open_for_write: false,
                last_activity: now,
                immediate: false,
                stable: None,
            });
            p.last_activity = now;
            p.stable = None;
            match action {
                Action::Complete => {
                    p.open_for_write = false;
                    p.immediate = true;
                }
                Action::Writing => {
                    p.open_for_write = true;
                    p.immediate = false;
                }
                // chmod/touch (e.g. `cp -p` after the close): keep what we knew.
                Action::Touched => {}
                Action::Gone => {
                    p.open_for_write = false;
                    p.immediate = false;
                }
            }
        }
    }

    /// Loads the pending files that are ready; returns the earliest time another is due.
    fn process_pending(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut ready = Vec::new();
        let settle = self.opts.settle;
        for (path, p) in self.pending.iter_mut() {
            if p.open_for_write && now < p.last_activity + self.opts.open_write_timeout {
                let due = p.last_activity + self.opts.open_write_timeout;
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            if p.immediate {
                ready.push(path.clone());
                continue;
            }
            let sig = stat_regular(path);
            match p.stable {
                Some((s, since)) if s == sig && now >= since + settle => ready.push(path.clone()),
                Some((s, since)) if s == sig => {
                    let due = since + settle;
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
                _ => {
                    p.stable = Some((sig, now));
                    let due = now + settle;
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        for path in ready {
            self.pending.remove(&path);
            self.load(&path);
        }
        next
    }

    fn remove(&mut self, path: &Path) {
        if let Some(old) = self.files.remove(path) {
            for pod in &old.accepted {
                tracing::info!(pod = %pod.full_name(), uid = pod.uid(), file = %path.display(),
                    "static pod removed: manifest file gone");
            }
            self.dirty = true;
        }
    }

    /// Reads and parses one file and records the result.
    fn load(&mut self, path: &Path) {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(path);
        let mut file: File = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.remove(path),
            Err(e) => {
                return self.record(
                    path,
                    None,
                    None,
                    Err(ManifestError::file(path, format!("cannot open: {e}"))),
                );
            }
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => {
                return self.record(
                    path,
                    None,
                    None,
                    Err(ManifestError::file(path, format!("cannot stat: {e}"))),
                );
            }
        };
        if !meta.file_type().is_file() {
            return self.remove(path);
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let sig = FileSig::of(&meta);
        if meta.len() > MAX_MANIFEST_SIZE {
            let err = ManifestError::file(
                path,
                format!("file is larger than {MAX_MANIFEST_SIZE} bytes"),
            );
            return self.record(path, Some(sig), None, Err(err));
        }
        let mut content = Vec::with_capacity(meta.len() as usize);
        if let Err(e) = (&mut file)
            .take(MAX_MANIFEST_SIZE + 1)
            .read_to_end(&mut content)
        {
            return self.record(
                path,
                Some(sig),
                None,
                Err(ManifestError::file(path, format!("cannot read: {e}"))),
            );
        }
        let hash: [u8; 32] = Sha256::digest(&content).into();
        if let Some(f) = self.files.get_mut(path)
            && f.content_hash == Some(hash)
        {
            f.sig = Some(sig);
            return;
        }
        let parsed =
            parse_manifest_all(path, &content, &self.opts.node_name, jiff::Timestamp::now());
        // Collected into new vectors: an in-place `collect` would keep the parsed vector's
        // allocation (a whole Pod per entry, ~2.5 KB) behind each 8-byte `Arc`.
        let parsed = parsed.map(|m| (shared(m.pods), shared(m.objects)));
        self.record(path, Some(sig), Some(hash), parsed);
    }

    fn record(
        &mut self,
        path: &Path,
        sig: Option<FileSig>,
        content_hash: Option<[u8; 32]>,
        parsed: Result<Parsed, ManifestError>,
    ) {
        let entry = self.files.entry(path.to_path_buf()).or_insert(FileState {
            sig: None,
            content_hash: None,
            parsed: Ok((Vec::new(), Vec::new())),
            accepted: Vec::new(),
            accepted_objects: Vec::new(),
            error: None,
        });
        entry.sig = sig;
        entry.content_hash = content_hash;
        // Keep the pod objects (and their first-seen time) of versions already in force; a
        // version whose labels or annotations were edited (same UID) keeps its first-seen time.
        entry.parsed = parsed.map(|(pods, objects)| {
            let pods = pods
                .into_iter()
                .map(|p| {
                    let Some(a) = entry.accepted.iter().find(|a| a.uid() == p.uid()) else {
                        return p;
                    };
                    let seen = |x: &StaticPod| x.seen().to_string();
                    let mut relabelled = (*p).clone();
                    if let Some(ann) = relabelled.pod.metadata.annotations.as_mut() {
                        ann.insert(
                            nodelet_objects::manifest::CONFIG_SEEN_ANNOTATION.into(),
                            seen(a),
                        );
                    }
                    if relabelled.pod == a.pod {
                        a.clone()
                    } else {
                        Arc::new(relabelled)
                    }
                })
                .collect();
            (pods, objects)
        });
        self.dirty = true;
    }

    /// Decides, for every file, which pods are in force: its parsed pods if valid and not
    /// clashing with pods of another file, else its last good pods.
    fn resolve(&mut self) {
        for _ in 0..=self.files.len() {
            let mut changed = false;
            let paths: Vec<PathBuf> = self.files.keys().cloned().collect();
            for path in paths {
                let claims: HashMap<String, PathBuf> = self
                    .files
                    .iter()
                    .filter(|(p, _)| **p != path)
                    .flat_map(|(p, f)| {
                        f.accepted
                            .iter()
                            .map(|pod| pod.full_name())
                            .chain(f.accepted_objects.iter().map(|o| object_key(o)))
                            .map(move |key| (key, p.clone()))
                    })
                    .collect();
                let Some(f) = self.files.get_mut(&path) else {
                    continue;
                };
                let (accepted, accepted_objects, error) = match &f.parsed {
                    Ok((pods, objects)) => {
                        let problems: Vec<Problem> = pods
                            .iter()
                            .filter_map(|pod| {
                                let other = claims.get(&pod.full_name())?;
                                let mut e = FieldError::duplicate(
                                    &FieldPath::new("metadata").child("name"),
                                    pod.name(),
                                );
                                e.detail = format!(
                                    "pod {} is already declared by {}",
                                    pod.full_name(),
                                    other.display()
                                );
                                Some(Problem::Field {
                                    document: pod.document,
                                    error: e,
                                })
                            })
                            .chain(objects.iter().filter_map(|o| {
                                let other = claims.get(&object_key(o))?;
                                let mut e = FieldError::duplicate(
                                    &FieldPath::new("metadata").child("name"),
                                    o.object.name(),
                                );
                                e.detail = format!(
                                    "{} is already declared by {}",
                                    object_key(o),
                                    other.display()
                                );
                                Some(Problem::Field {
                                    document: o.document,
                                    error: e,
                                })
                            }))
                            .chain(objects.iter().flat_map(|o| {
                                // An update of an object in force: the API server's update
                                // rules (an immutable ConfigMap's data stays).
                                f.accepted_objects
                                    .iter()
                                    .filter(|a| object_key(a) == object_key(o))
                                    .flat_map(|a| {
                                        nodelet_objects::workload::validate_update(
                                            &a.object, &o.object,
                                        )
                                    })
                                    .map(|error| Problem::Field {
                                        document: o.document,
                                        error,
                                    })
                                    .collect::<Vec<_>>()
                            }))
                            .collect();
                        if problems.is_empty() {
                            (pods.clone(), objects.clone(), None)
                        } else {
                            let documents = pods
                                .iter()
                                .map(|p| p.document + 1)
                                .chain(objects.iter().map(|o| o.document + 1))
                                .max()
                                .unwrap_or(0);
                            let err = ManifestError {
                                path: path.clone(),
                                documents,
                                problems,
                            };
                            (f.accepted.clone(), f.accepted_objects.clone(), Some(err))
                        }
                    }
                    Err(e) => (
                        f.accepted.clone(),
                        f.accepted_objects.clone(),
                        Some(e.clone()),
                    ),
                };
                let uids = |v: &[Arc<StaticPod>]| {
                    v.iter().map(|p| p.uid().to_string()).collect::<Vec<_>>()
                };
                // Labels, annotations, owner references, finalizers and the deletion time
                // (the API's deletion of a pod finalizers hold) are not in the UID: an edit
                // of only those is a change too (the running pod takes them).
                let metadata = |v: &[Arc<StaticPod>]| {
                    v.iter()
                        .map(|p| {
                            let m = &p.pod.metadata;
                            let mut a = m.annotations.clone().unwrap_or_default();
                            a.remove(nodelet_objects::manifest::CONFIG_SEEN_ANNOTATION);
                            (
                                m.labels.clone(),
                                a,
                                m.owner_references.clone(),
                                m.finalizers.clone(),
                                m.deletion_timestamp.clone(),
                            )
                        })
                        .collect::<Vec<_>>()
                };
                if uids(&accepted) != uids(&f.accepted)
                    || error != f.error
                    || metadata(&accepted) != metadata(&f.accepted)
                    || accepted_objects != f.accepted_objects
                {
                    if let Some(e) = &error
                        && f.error.as_ref() != Some(e)
                    {
                        tracing::warn!(file = %path.display(), error = %e,
                            kept_pods = accepted.len(), "invalid static pod manifest");
                    }
                    for p in accepted
                        .iter()
                        .filter(|p| !f.accepted.iter().any(|a| a.uid() == p.uid()))
                    {
                        tracing::info!(pod = %p.full_name(), uid = p.uid(), file = %path.display(), "static pod set");
                    }
                    f.accepted = accepted;
                    f.accepted_objects = accepted_objects;
                    f.error = error;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        self.generation += 1;
        Snapshot {
            generation: self.generation,
            files: self
                .files
                .iter()
                .map(|(path, f)| ManifestFile {
                    path: path.clone(),
                    pods: f.accepted.clone(),
                    objects: f.accepted_objects.clone(),
                    error: f.error.clone(),
                })
                .collect(),
            dir_error: self.dir_error.clone(),
        }
    }

    /// Publishes a snapshot if anything changed.
    fn publish(&mut self, tx: &watch::Sender<Arc<Snapshot>>) {
        if self.dirty {
            self.dirty = false;
            self.resolve();
            let snap = self.snapshot();
            tx.send_replace(Arc::new(snap));
        }
    }
}

/// A running static pod source. Dropping it stops its thread.
pub struct StaticPodSource {
    tx: mpsc::Sender<Msg>,
    rx: watch::Receiver<Arc<Snapshot>>,
    thread: Option<JoinHandle<()>>,
    reads: Arc<AtomicU64>,
}

/// `v`'s items behind `Arc`s, in a vector of their size.
fn shared<T>(v: Vec<T>) -> Vec<Arc<T>> {
    let mut out = Vec::with_capacity(v.len());
    out.extend(v.into_iter().map(Arc::new));
    out
}

impl StaticPodSource {
    /// Starts watching. Returns after the initial full scan, whose result is the first
    /// snapshot. `seed` are pods already running from an earlier run (e.g. adopted after a
    /// restart): for a file that is invalid on the initial scan, its seeded pods are kept as
    /// its last good version; seeds of files that are valid or gone are dropped.
    pub fn start(
        opts: SourceOptions,
        seed: Vec<StaticPod>,
    ) -> Result<StaticPodSource, SourceError> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let watcher = if opts.inotify {
            let events = tx.clone();
            Some(notify::recommended_watcher(move |res| {
                let _ = events.send(Msg::Fs(res));
            })?)
        } else {
            None
        };
        let mut scanner = Scanner::new(opts, watcher);
        for pod in seed {
            let f = scanner
                .files
                .entry(pod.manifest.clone())
                .or_insert(FileState {
                    sig: None,
                    content_hash: None,
                    parsed: Ok((Vec::new(), Vec::new())),
                    accepted: Vec::new(),
                    accepted_objects: Vec::new(),
                    error: None,
                });
            f.accepted.push(Arc::new(pod));
        }
        let start = Instant::now();
        scanner.rescan(true, start);
        scanner.resolve();
        scanner.dirty = false;
        let first = Arc::new(scanner.snapshot());
        let (snap_tx, snap_rx) = watch::channel(first);
        let reads = scanner.reads.clone();
        let thread = std::thread::Builder::new()
            .name("static-pods".into())
            .spawn(move || run(scanner, rx, snap_tx, start))?;
        Ok(StaticPodSource {
            tx,
            rx: snap_rx,
            thread: Some(thread),
            reads,
        })
    }

    /// A receiver of snapshots; `borrow()` is always the latest.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.rx.borrow().clone()
    }

    /// How many times a manifest file was read (a metric).
    pub fn manifest_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

impl Drop for StaticPodSource {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut s: Scanner, rx: mpsc::Receiver<Msg>, tx: watch::Sender<Arc<Snapshot>>, start: Instant) {
    let mut next_rescan = start + s.opts.rescan_period;
    let mut next_pending: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let deadline = next_pending.map_or(next_rescan, |p| p.min(next_rescan));
        let first = match rx.recv_timeout(deadline.saturating_duration_since(now)) {
            Ok(m) => Some(m),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let now = Instant::now();
        for msg in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            match msg {
                Msg::Stop => return,
                Msg::Fs(Ok(ev)) => s.on_event(ev, now),
                Msg::Fs(Err(e)) => {
                    tracing::warn!(error = %e, "inotify error; rescanning the static pod path");
                    s.rescan_now = true;
                }
            }
        }
        if s.rescan_now || now >= next_rescan {
            s.rescan_now = false;
            s.rescan(false, now);
            next_rescan = now + s.opts.rescan_period;
        }
        next_pending = s.process_pending(now);
        s.publish(&tx);
    }
}

/// One stream of snapshots from two sources (the static pod directory and the controllers'
/// directory): each published snapshot holds both sources' files, the first's first, with
/// its own increasing generation. The task ends when either source ends.
pub fn merge(
    mut a: watch::Receiver<Arc<Snapshot>>,
    mut b: watch::Receiver<Arc<Snapshot>>,
) -> watch::Receiver<Arc<Snapshot>> {
    fn combine(
        a: &mut watch::Receiver<Arc<Snapshot>>,
        b: &mut watch::Receiver<Arc<Snapshot>>,
        generation: u64,
    ) -> Snapshot {
        let (sa, sb) = (a.borrow_and_update().clone(), b.borrow_and_update().clone());
        Snapshot {
            generation,
            files: sa.files.iter().chain(sb.files.iter()).cloned().collect(),
            dir_error: sa.dir_error.clone().or_else(|| sb.dir_error.clone()),
        }
    }
    let mut generation = 1;
    let (tx, rx) = watch::channel(Arc::new(combine(&mut a, &mut b, generation)));
    tokio::spawn(async move {
        loop {
            let r = tokio::select! {
                r = a.changed() => r,
                r = b.changed() => r,
            };
            if r.is_err() {
                return;
            }
            generation += 1;
            if tx
                .send(Arc::new(combine(&mut a, &mut b, generation)))
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_snapshots_hold_both_sources() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let file = |p: &str| ManifestFile {
                path: PathBuf::from(p),
                pods: Vec::new(),
                objects: Vec::new(),
                error: None,
            };
            let snap = |files: Vec<ManifestFile>| {
                Arc::new(Snapshot {
                    generation: 1,
                    files,
                    dir_error: None,
                })
            };
            let (a_tx, a) = watch::channel(snap(vec![file("/m/a.yaml")]));
            let (b_tx, b) = watch::channel(snap(vec![file("/w/pod_default_x.json")]));
            let mut merged = merge(a, b);
            let paths = |s: &Snapshot| {
                s.files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
            };
            let first = merged.borrow_and_update().clone();
            assert_eq!(paths(&first), ["/m/a.yaml", "/w/pod_default_x.json"]);
            b_tx.send_replace(snap(vec![]));
            merged.changed().await.expect("merged");
            let second = merged.borrow_and_update().clone();
            assert_eq!(paths(&second), ["/m/a.yaml"]);
            assert!(second.generation > first.generation);
            drop(a_tx);
            // One source gone: the merged stream ends.
            assert!(merged.changed().await.is_err());
        });
    }

    #[test]
    fn manifest_names() {
        for ok in ["web.yaml", "web.yml", "web.json", "WEB.YAML", "a.b.yaml"] {
            assert!(is_manifest_name(ok), "{ok}");
        }
        for bad in [
            ".web.yaml",
            ".web.yaml.swp",
            "web.yaml~",
            "web.yaml.bak",
            "web.yaml.swp",
            "web.yaml.orig",
            "#web.yaml#",
            ".#web.yaml",
            "4913",
            "web",
            ".yaml",
            "yaml",
            "web.yaml.tmp",
        ] {
            assert!(!is_manifest_name(bad), "{bad}");
        }
    }
}
