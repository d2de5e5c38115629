//! The controller loop: one task that, whenever the snapshot (declared and controller-made
//! objects), a pod or a timer changes, syncs every Job, CronJob, Deployment, ReplicaSet and
//! DaemonSet through its pure controller (`nodelet_objects::controllers`, called in
//! [`super::dispatch`]), persists each status before acting, then carries the actions out as
//! files in the [`Store`] and records the events. Afterwards it collects garbage: what a
//! controller made whose owner is gone (background cascading deletion), pods whose deletion
//! waited for a finalizer that is gone, records of objects that no longer exist, and every
//! document of a namespace whose declared Namespace object is gone.
//!
//! Crash safety: every effect is a file written atomically or removed, names are chosen by
//! the controllers (random suffixes are checked against existing files, a CronJob's job names
//! are its schedule times), and the status that counts finished pods is written before the
//! actions it allows. After a `kill -9` the next agent reads the same files and records and
//! continues: no pod created twice (the pods it made are in the directory), no schedule fired
//! twice (the job's file exists), no replica duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use nodelet_objects::controllers::{Action, Child, ControllerEvent, NodeInfo, Suffixes};
use nodelet_objects::events::Involved;
use nodelet_objects::manifest::APPEND_NODE_NAME_ANNOTATION;
use nodelet_objects::workload::{Object, object_uid};

use super::dispatch;
use super::expectations::Expectations;
use super::store::{Record, Store};
use crate::pods::view::PodsView;
use crate::source::Snapshot;

/// Controller-run kinds in the order a pass syncs them: owners of child objects first, so
/// that the ReplicaSets a Deployment scaled are synced with their new size in the same pass.
const ORDER: [&str; 5] = ["CronJob", "Deployment", "Job", "ReplicaSet", "DaemonSet"];

/// Namespaces a declared Namespace object's removal never empties (the API refuses to delete
/// them).
const KEPT_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// How long a declared Namespace must stay gone before what is in it is deleted: a file
/// renamed or rewritten by an editor may be missing from one snapshot.
const NAMESPACE_GONE_FOR: Duration = Duration::from_secs(2);

/// Passes in a row made at once because statuses changed (owners see their children's new
/// status); after that, one a second while statuses keep changing.
const MAX_REPASSES: u32 = 10;

/// Changes arriving within this window are handled by one pass (a burst of pod starts).
const COALESCE: Duration = Duration::from_millis(20);

/// The read side for the API: every object with what the controllers keep of it.
#[derive(Clone, Debug)]
pub struct WorkloadsView {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    records: Arc<RwLock<BTreeMap<String, Record>>>,
    dir: std::path::PathBuf,
}

impl WorkloadsView {
    /// Every declared or controller-made object, with status, `creationTimestamp` and
    /// `generation`.
    pub fn objects(&self) -> Vec<Object> {
        let snap = self.snapshots.borrow().clone();
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        snap.objects()
            .map(|d| {
                let mut o = d.object.clone();
                if let Some(r) = records.get(o.uid()) {
                    hydrate(&mut o, r);
                }
                o
            })
            .collect()
    }

    /// The directory of controller-made objects.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Random 5-character name suffixes in the API server's alphabet (no vowels, no 0/1/3).
#[derive(Debug, Default)]
pub struct RandomSuffixes;

impl Suffixes for RandomSuffixes {
    fn next_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        // RandomState is keyed from the OS's randomness per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        let mut n = h.finish();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
                n /= ALPHABET.len() as u64;
                c as char
            })
            .collect()
    }
}

enum ActionKind {
    /// A child's name must be new (a CronJob's job for a schedule time: made once).
    Create,
    Other,
}

/// The controller loop's state.
pub struct Workloads {
    store: Store,
    /// The static pod directory: a Namespace removed from it empties its namespace there.
    static_dir: std::path::PathBuf,
    view: PodsView,
    node: NodeInfo,
    records: Arc<RwLock<BTreeMap<String, Record>>>,
    expect: Expectations,
    suffixes: RandomSuffixes,
    /// Each object's manifest file and whether it is the file's only document (as of the
    /// pass's snapshot).
    declared: BTreeMap<String, (std::path::PathBuf, bool)>,
    /// Passes in a row made at once because statuses changed.
    repasses: u32,
    /// Declared Namespaces (record UIDs) seen gone, and since when.
    namespaces_gone: BTreeMap<String, Instant>,
}

/// `metadata.creationTimestamp`, `generation` and `status` from the record.
fn hydrate(o: &mut Object, r: &Record) {
    let m = o.metadata_mut();
    m.creation_timestamp = Some(Time(r.created));
    if r.kind == "Namespace" {
        // Kept only to notice its removal: no generation, status or annotations.
        return;
    }
    m.generation = Some(r.generation);
    if !r.annotations.is_empty() {
        let a = m.annotations.get_or_insert_with(Default::default);
        a.extend(r.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    dispatch::set_status(o, &r.status);
}

/// A hash of the object's spec (what `generation` counts).
fn spec_hash(o: &Object) -> String {
    let v = o.to_value();
    let spec = v.get("spec").cloned().unwrap_or_default();
    let digest = Sha256::digest(serde_json::to_vec(&spec).unwrap_or_default());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Workloads {
    /// Controllers for node `node`, keeping their files under `root_dir`; `static_dir` is
    /// the static pod directory.
    pub fn new(
        root_dir: &Path,
        static_dir: &Path,
        view: PodsView,
        node: NodeInfo,
    ) -> Result<Workloads, crate::disk::DiskError> {
        let store = Store::new(root_dir);
        store.create()?;
        let records = Arc::new(RwLock::new(store.load_all()));
        Ok(Workloads {
            store,
            static_dir: static_dir.to_path_buf(),
            view,
            node,
            records,
            expect: Expectations::default(),
            suffixes: RandomSuffixes,
            declared: BTreeMap::new(),
            repasses: 0,
            namespaces_gone: BTreeMap::new(),
        })
    }

    /// The directory the second source must read.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// The read side, over the merged snapshots.
    pub fn read_side(&self, snapshots: watch::Receiver<Arc<Snapshot>>) -> WorkloadsView {
        WorkloadsView {
            snapshots,
            records: self.records.clone(),
            dir: self.store.dir().to_path_buf(),
        }
    }

    /// Runs until `shutdown` is true.
    pub async fn run(
        mut self,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut pods = self.view.subscribe();
        loop {
            let snap = snapshots.borrow_and_update().clone();
            pods.borrow_and_update();
            let next = self.sync_all(&snap);
            let wait = next.unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                r = snapshots.changed() => if r.is_err() { return },
                r = pods.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            tokio::time::sleep(COALESCE).await;
        }
    }

    /// The record of `o` (made now if new; `generation` bumped if its spec changed), with
    /// the object hydrated from it.
    fn record_for(&mut self, o: &mut Object, wall: jiff::Timestamp) -> Record {
        let hash = spec_hash(o);
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        let new = !records.contains_key(o.uid());
        let r = records
            .entry(o.uid().to_string())
            .or_insert_with(|| Record {
                kind: o.kind().to_string(),
                namespace: o.namespace().to_string(),
                name: o.name().to_string(),
                created: o
                    .metadata()
                    .creation_timestamp
                    .as_ref()
                    .map_or(wall, |t| t.0),
                generation: 1,
                spec_hash: hash.clone(),
                status: serde_json::Value::Null,
                annotations: BTreeMap::new(),
            });
        if r.spec_hash != hash {
            r.generation += 1;
            r.spec_hash = hash;
        }
        let r = r.clone();
        if new
            && r.kind == "Namespace"
            && let Err(e) = self.store.save(o.uid(), &r)
        {
            // A Namespace has no status to write later: its record is kept now, so that its
            // removal while the agent is down is noticed too.
            tracing::warn!(uid = o.uid(), "keeping a Namespace's record: {e}");
        }
        hydrate(o, &r);
        r
    }

    /// One pass over every controller-run object; returns when the next timed sync is due.
    fn sync_all(&mut self, snap: &Snapshot) -> Option<Duration> {
        // A node of static pods only: nothing to sync or collect, and no copy of every pod
        // at each pod change.
        let idle = !snap
            .objects()
            .any(|o| ORDER.contains(&o.object.kind()) || o.object.kind() == "Namespace")
            && !snap
                .files
                .iter()
                .any(|f| f.path.parent() == Some(self.store.dir()))
            && self
                .records
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
        if idle {
            return None;
        }
        let now = Instant::now();
        let wall = jiff::Timestamp::now();
        // Pods a controller may own: those in the controllers' directory (and those just
        // written there). Static pods of the manifest directory are the node's, never a
        // controller's (the API server gives mirror pods the Node as controller). A pod whose
        // file exists is a pod, whether or not the manager shows it yet (after a restart it
        // adopts pods a moment after this loop starts): the view only adds its status.
        let mut shown = self.view.statuses();
        let observed: Vec<Pod> = snap
            .files
            .iter()
            .filter(|f| f.path.parent() == Some(self.store.dir()))
            .flat_map(|f| f.pods.iter())
            .map(|sp| {
                // The file's metadata (labels, owner references, finalizers: what the
                // controllers write) with the view's status.
                let mut p = sp.pod.clone();
                p.status = shown.remove(sp.uid());
                p
            })
            .collect();
        let mut pods = self.expect.pods(observed, now, wall);
        // By namespace (stable: each namespace's pods keep their order), so that every
        // object's controller is handed its namespace's pods without a copy.
        pods.sort_by(|a, b| a.metadata.namespace.cmp(&b.metadata.namespace));
        self.declared = snap
            .files
            .iter()
            .flat_map(|f| {
                let alone = f.pods.len() + f.objects.len() == 1;
                f.objects
                    .iter()
                    .map(move |o| (o.object.uid().to_string(), (f.path.clone(), alone)))
            })
            .collect();
        let mut next: Option<Duration> = None;
        let mut seen_uids: BTreeSet<String> = BTreeSet::new();
        let mut statuses_changed = false;
        // The objects as controllers see them; made again only after a kind wrote children
        // (the next kinds must see them), not five times a pass.
        let mut hydrated: Vec<Object> = Vec::new();
        let mut stale = true;
        for kind in ORDER {
            if stale {
                let declared: Vec<Object> = snap.objects().map(|d| d.object.clone()).collect();
                hydrated = self.expect.children(declared, now);
                for o in &mut hydrated {
                    if o.uid().is_empty() {
                        // Written this pass, not yet read: the UID the source will give it.
                        let path = self.store.file(o.kind(), o.namespace(), o.name());
                        let uid =
                            object_uid(&self.node.name, &path, o.kind(), o.namespace(), o.name());
                        o.metadata_mut().uid = Some(uid);
                    }
                    seen_uids.insert(o.uid().to_string());
                    if ORDER.contains(&o.kind()) || o.kind() == "Namespace" {
                        self.record_for(o, wall);
                    }
                }
                stale = false;
            }
            for i in 0..hydrated.len() {
                if hydrated[i].kind() != kind {
                    continue;
                }
                let o = hydrated[i].clone();
                let Some(out) =
                    dispatch::sync(&o, &hydrated, &pods, &self.node, wall, &mut self.suffixes)
                else {
                    continue;
                };
                let mut own = BTreeMap::new();
                let actions: Vec<Action> = out
                    .actions
                    .into_iter()
                    .filter_map(|a| match a {
                        Action::SetOwnAnnotations(x) => {
                            own.extend(x);
                            None
                        }
                        a => Some(a),
                    })
                    .collect();
                if self.keep_status(&o, out.status, own) {
                    statuses_changed = true;
                }
                let ns = o.namespace().to_string();
                for a in actions {
                    if matches!(
                        a,
                        Action::CreateChild(_)
                            | Action::UpdateChild(_)
                            | Action::DeleteChild { .. }
                    ) {
                        stale = true;
                    }
                    if let Err(e) = self.act(&ns, &o, a, now) {
                        tracing::warn!(kind = o.kind(), object = %format!("{ns}/{}", o.name()), "controller action failed (retried next sync): {e}");
                        next = Some(
                            next.map_or(Duration::from_secs(1), |n| n.min(Duration::from_secs(1))),
                        );
                        break;
                    }
                }
                self.events(&o, out.events);
                if let Some(r) = out.requeue_after {
                    next = Some(next.map_or(r, |n| n.min(r)));
                }
            }
        }
        if let Some(again) = self.collect_garbage(snap, &seen_uids, now) {
            next = Some(next.map_or(again, |n| n.min(again)));
        }
        // A status written in this pass is an input of owners synced before it (a CronJob
        // sees its Job complete): look again at once — a few passes in a row, then once a
        // second (a controller whose status changed every pass must not spin).
        if statuses_changed {
            self.repasses += 1;
            let soon = if self.repasses <= MAX_REPASSES {
                Duration::ZERO
            } else {
                Duration::from_secs(1)
            };
            return Some(next.map_or(soon, |n| n.min(soon)));
        }
        self.repasses = 0;
        next
    }

    /// Persists an object's new status (before its actions are carried out).
    /// True if it changed.
    fn keep_status(
        &mut self,
        o: &Object,
        status: serde_json::Value,
        annotations: BTreeMap<String, String>,
    ) -> bool {
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        let Some(r) = records.get_mut(o.uid()) else {
            return false;
        };
        let mut merged = r.annotations.clone();
        merged.extend(annotations);
        if r.status == status && r.annotations == merged {
            return false;
        }
        r.status = status;
        r.annotations = merged;
        if let Err(e) = self.store.save(o.uid(), r) {
            tracing::warn!(uid = o.uid(), "keeping a workload's status: {e}");
        }
        true
    }

    fn events(&self, o: &Object, events: Vec<ControllerEvent>) {
        let involved =
            Involved::object(o.kind(), o.api_version(), o.namespace(), o.name(), o.uid());
        let component = match o.kind() {
            "Job" => "job-controller",
            "CronJob" => "cronjob-controller",
            "ReplicaSet" => "replicaset-controller",
            "Deployment" => "deployment-controller",
            _ => "daemonset-controller",
        };
        for e in events {
            tracing::info!(kind = o.kind(), object = %format!("{}/{}", o.namespace(), o.name()), reason = e.reason.as_str(), "{}", e.message);
            self.view
                .object_event(&involved, e.reason, &e.message, component);
        }
    }

    /// Carries out one action of `owner` in namespace `ns`.
    fn act(
        &mut self,
        ns: &str,
        owner: &Object,
        a: Action,
        now: Instant,
    ) -> Result<(), crate::disk::DiskError> {
        let a_kind = if matches!(a, Action::CreateChild(_)) {
            ActionKind::Create
        } else {
            ActionKind::Other
        };
        match a {
            Action::CreatePod(pod) => {
                let mut pod = *pod;
                pod.metadata.namespace = Some(ns.to_string());
                pod.metadata.uid = None;
                pod.status = None;
                pod.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(APPEND_NODE_NAME_ANNOTATION.into(), "false".into());
                let name = pod.metadata.name.clone().unwrap_or_default();
                let mut v = serde_json::to_value(&pod).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.insert("apiVersion".into(), "v1".into());
                    m.insert("kind".into(), "Pod".into());
                }
                if self.store.write("Pod", ns, &name, &v, true)? {
                    self.expect.pod_created(pod, now);
                } else {
                    tracing::info!(pod = %format!("{ns}/{name}"), "a pod of that name exists; not created again");
                }
            }
            Action::DeletePod { name, grace } => {
                if let Some(g) = grace
                    && let Some(p) = self.view.find(&format!("{ns}/{name}"))
                {
                    self.view
                        .set_deletion_grace(p.pod.metadata.uid.as_deref().unwrap_or_default(), g);
                }
                self.store.remove("Pod", ns, &name)?;
                self.expect.pod_deleted(ns, &name, now);
            }
            Action::SetPodMetadata {
                name,
                labels,
                owner_references,
            } => {
                let path = self.store.file("Pod", ns, &name);
                let text = std::fs::read(&path)
                    .map_err(|e| crate::disk::DiskError::io("read", &path, e))?;
                let mut v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
                    crate::disk::DiskError::invalid(path.display().to_string(), e.to_string())
                })?;
                if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    meta.insert(
                        "labels".into(),
                        serde_json::to_value(labels).unwrap_or_default(),
                    );
                    if owner_references.is_empty() {
                        meta.remove("ownerReferences");
                    } else {
                        meta.insert(
                            "ownerReferences".into(),
                            serde_json::to_value(owner_references).unwrap_or_default(),
                        );
                    }
                }
                self.store.write("Pod", ns, &name, &v, false)?;
            }
            Action::CreateChild(child) | Action::UpdateChild(child) => {
                let create = matches!(&a_kind, ActionKind::Create);
                let mut o = match child {
                    Child::Job(j) => Object::Job(j),
                    Child::ReplicaSet(r) => Object::ReplicaSet(r),
                    Child::ControllerRevision(r) => Object::ControllerRevision(r),
                };
                // Its creation time is part of its identity (a child made again under the
                // same name is a new object): set once, kept by updates.
                let created = match a_kind {
                    ActionKind::Create => Some(Time(jiff::Timestamp::now())),
                    ActionKind::Other => self.written_creation(o.kind(), ns, o.name()),
                };
                let m = o.metadata_mut();
                m.namespace = Some(ns.to_string());
                m.uid = None;
                m.creation_timestamp = created;
                m.generation = None;
                let mut v = o.to_value();
                if let Some(m) = v.as_object_mut() {
                    m.remove("status");
                }
                let name = o.name().to_string();
                let kind = o.kind();
                if self.store.write(kind, ns, &name, &v, create)? {
                    // As the source will read it: defaulted (a Job's selector and pod
                    // labels), validated, with its UID.
                    let path = self.store.file(kind, ns, &name);
                    match nodelet_objects::workload::from_document(
                        kind,
                        v,
                        &self.node.name,
                        &path,
                        0,
                    ) {
                        Ok(d) => self.expect.child_written(d.object, now),
                        Err(e) => {
                            tracing::warn!(file = %path.display(), "a controller wrote an invalid {kind}: {}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
                        }
                    }
                }
            }
            Action::RemovePodFinalizer { name, finalizer } => {
                let path = self.store.file("Pod", ns, &name);
                let text = match std::fs::read(&path) {
                    Ok(t) => t,
                    // A pod that is gone has no finalizer left.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(crate::disk::DiskError::io("read", &path, e)),
                };
                let mut v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
                    crate::disk::DiskError::invalid(path.display().to_string(), e.to_string())
                })?;
                let Some(list) = v
                    .pointer_mut("/metadata/finalizers")
                    .and_then(|f| f.as_array_mut())
                else {
                    return Ok(());
                };
                list.retain(|f| f.as_str() != Some(finalizer.as_str()));
                if list.is_empty()
                    && let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut())
                {
                    m.remove("finalizers");
                    if m.contains_key("deletionTimestamp") {
                        // Deleted through the API while the finalizer held it: it goes now,
                        // as the API server removes an object whose last finalizer went.
                        tracing::info!(pod = %format!("{ns}/{name}"), "last finalizer removed: deleting the pod");
                        self.store.remove("Pod", ns, &name)?;
                        self.expect.pod_deleted(ns, &name, now);
                        return Ok(());
                    }
                }
                self.store.write("Pod", ns, &name, &v, false)?;
            }
            Action::DeleteSelf => self.delete_self(owner)?,
            // Taken out before the actions run: kept with the status.
            Action::SetOwnAnnotations(_) => {}
            Action::DeleteChild { kind, name } => {
                let kind = match kind {
                    nodelet_objects::controllers::ChildKind::Job => "Job",
                    nodelet_objects::controllers::ChildKind::ReplicaSet => "ReplicaSet",
                    nodelet_objects::controllers::ChildKind::ControllerRevision => {
                        "ControllerRevision"
                    }
                };
                self.store.remove(kind, ns, &name)?;
                self.expect.child_removed(kind, ns, &name, now);
            }
        }
        Ok(())
    }

    /// The `creationTimestamp` in the file of child `kind` `ns/name`, if any.
    fn written_creation(&self, kind: &str, ns: &str, name: &str) -> Option<Time> {
        let text = std::fs::read(self.store.file(kind, ns, name)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
        serde_json::from_value(v.pointer("/metadata/creationTimestamp")?.clone()).ok()
    }

    /// Deletes `o` itself (a finished Job's `ttlSecondsAfterFinished`): its file if a
    /// controller made it or it is alone in its manifest, else its document in its manifest
    /// (rewritten atomically, the other documents kept as written); what it owns goes by
    /// garbage collection.
    fn delete_self(&mut self, o: &Object) -> Result<(), crate::disk::DiskError> {
        let Some((path, alone)) = self.declared.get(o.uid()).cloned() else {
            return Ok(());
        };
        let what = format!("{}/{}", o.namespace(), o.name());
        if path.parent() == Some(self.store.dir()) || alone {
            tracing::info!(kind = o.kind(), object = %what, file = %path.display(), "deleting a finished object (ttlSecondsAfterFinished)");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::disk::DiskError::io("remove", &path, e)),
            }
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let located = nodelet_api::manifest_files::locate_object(
            &[dir],
            &self.node.name,
            o.kind(),
            o.namespace(),
            o.name(),
        )
        .map_err(|e| crate::disk::DiskError::io("read", &path, std::io::Error::other(e)))?;
        // Another file of the directory may declare it first only if the source would refuse
        // the duplicate; remove only the document of the file that declares it.
        if let Some(loc) = located.filter(|l| l.path == path) {
            tracing::info!(kind = o.kind(), object = %what, file = %path.display(), document = loc.document + 1, "deleting a finished object's document (ttlSecondsAfterFinished)");
            nodelet_api::manifest_files::remove(&loc).map_err(|e| {
                crate::disk::DiskError::io("rewrite", &path, std::io::Error::other(e))
            })?;
        }
        Ok(())
    }

    /// Removes what controllers made whose controller is gone, and records of objects that
    /// are gone — unless the owner's manifest file is only invalid for now (its last good
    /// version still counts; the owner's UID is its identity, so it can be checked).
    /// When to look again (a Namespace seen gone, not yet for long enough).
    fn collect_garbage(
        &mut self,
        snap: &Snapshot,
        alive: &BTreeSet<String>,
        now: Instant,
    ) -> Option<Duration> {
        let broken: Vec<&Path> = snap
            .files
            .iter()
            .filter(|f| f.error.is_some())
            .map(|f| f.path.as_path())
            .collect();
        let owner_broken =
            |ns: &str, r: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference| {
                broken
                    .iter()
                    .any(|p| object_uid(&self.node.name, p, &r.kind, ns, &r.name) == r.uid)
            };
        let mut doomed: Vec<(&'static str, String, String)> = Vec::new();
        for f in snap
            .files
            .iter()
            .filter(|f| f.path.parent() == Some(self.store.dir()))
        {
            let metas = f.pods.iter().map(|p| ("Pod", &p.pod.metadata)).chain(
                f.objects
                    .iter()
                    .map(|o| (o.object.kind(), o.object.metadata())),
            );
            for (kind, meta) in metas {
                let ns = meta.namespace.as_deref().unwrap_or_default();
                if kind == "Pod"
                    && meta.deletion_timestamp.is_some()
                    && meta.finalizers.as_ref().is_none_or(Vec::is_empty)
                {
                    // Deleted through the API while a finalizer held it, which is gone now.
                    let name = meta.name.as_deref().unwrap_or_default();
                    doomed.push((kind, ns.to_string(), name.to_string()));
                    continue;
                }
                let Some(owner) = meta
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|r| r.controller == Some(true))
                else {
                    continue;
                };
                if !alive.contains(&owner.uid) && !owner_broken(ns, owner) {
                    let name = meta.name.as_deref().unwrap_or_default();
                    // A pod's name in the file is the name it runs with.
                    doomed.push((kind, ns.to_string(), name.to_string()));
                }
            }
        }
        for (kind, ns, name) in doomed {
            tracing::info!(kind, object = %format!("{ns}/{name}"), "owner is gone: deleting");
            if let Err(e) = self.store.remove(kind, &ns, &name) {
                tracing::warn!("garbage collection: {e}");
            }
        }
        let mut gone: Vec<String> = {
            let records = self.records.read().unwrap_or_else(|p| p.into_inner());
            records
                .iter()
                .filter(|(uid, r)| {
                    !alive.contains(*uid)
                        && !broken.iter().any(|p| {
                            object_uid(&self.node.name, p, &r.kind, &r.namespace, &r.name) == **uid
                        })
                })
                .map(|(uid, _)| uid.clone())
                .collect()
        };
        // A Namespace counts as gone only after it stayed gone for a moment.
        self.namespaces_gone.retain(|uid, _| gone.contains(uid));
        let mut again = None;
        {
            let records = self.records.read().unwrap_or_else(|p| p.into_inner());
            gone.retain(|uid| {
                if records.get(uid).is_none_or(|r| r.kind != "Namespace") {
                    return true;
                }
                let since = *self.namespaces_gone.entry(uid.clone()).or_insert(now);
                let left = NAMESPACE_GONE_FOR.saturating_sub(now.duration_since(since));
                if left.is_zero() {
                    return true;
                }
                again = Some(again.map_or(left, |a: Duration| a.min(left)));
                false
            });
        }
        if gone.is_empty() {
            return again;
        }
        self.empty_removed_namespaces(snap, &gone);
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        for uid in gone {
            records.remove(&uid);
            self.view.forget_events(&uid);
            if let Err(e) = self.store.forget(&uid) {
                tracing::warn!("garbage collection: {e}");
            }
            self.namespaces_gone.remove(&uid);
        }
        again
    }

    /// A declared Namespace that is gone for good (its record's UID is in `gone`) takes
    /// everything in it along, as deleting it through the API does: every document of its
    /// namespace in the static pod directory and the controllers' directory — unless another
    /// Namespace object of that name is still declared (moved to another file) or it is one
    /// of the namespaces that are never deleted.
    fn empty_removed_namespaces(&self, snap: &Snapshot, gone: &[String]) {
        let names: Vec<String> = {
            let records = self.records.read().unwrap_or_else(|p| p.into_inner());
            gone.iter()
                .filter_map(|uid| records.get(uid))
                .filter(|r| r.kind == "Namespace")
                .map(|r| r.name.clone())
                .collect()
        };
        for ns in names {
            let declared = snap
                .objects()
                .any(|o| o.object.kind() == "Namespace" && o.object.name() == ns);
            if declared || KEPT_NAMESPACES.contains(&ns.as_str()) {
                continue;
            }
            let dirs = [self.static_dir.as_path(), self.store.dir()];
            match nodelet_api::manifest_files::remove_namespace_documents(
                &dirs,
                &self.node.name,
                &ns,
            ) {
                Ok(changed) => {
                    for (path, what) in changed {
                        tracing::info!(namespace = %ns, file = %path.display(), removed = %what.join(", "), "the Namespace object is gone: deleting what was in it");
                    }
                }
                Err(e) => {
                    tracing::warn!(namespace = %ns, "deleting a removed Namespace's objects: {e}")
                }
            }
        }
    }
}
