//! Resource versions for pods, as the API server gives them: every change the API observes in
//! a pod (a new pod, any field of it, its removal) takes the next number of one node-wide
//! counter. The pod carries its number in `metadata.resourceVersion`, a list carries the
//! counter, and a watch from version N replays what changed after N (ADDED, MODIFIED, DELETED
//! by the pods' numbers) before it streams new changes. Removed pods are kept for
//! [`KEEP_DELETED`] removals; a watch from before the oldest kept removal gets 410 Gone, as
//! from an API server whose watch cache moved on.
//!
//! The API fills in `metadata.creationTimestamp` here too: the `kubernetes.io/config.seen`
//! time of the pod's version, else (or the node's own) the time this API first saw the pod.
//!
//! The same bookkeeping, generic over [`Versioned`], versions the workload objects
//! (`nodelet_objects::workload::Object`, keyed by kind, namespace and name) in a second
//! instance: one counter for all their kinds, a watch of one kind filters.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use nodelet_objects::workload::Object;

/// What [`Revisions`] versions: an object with an identity and metadata.
pub trait Versioned: Clone + PartialEq {
    /// Unique among the objects one [`Revisions`] keeps.
    fn key(&self) -> String;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// When this version was first seen, if the object records it.
    fn seen(&self) -> Option<jiff::Timestamp> {
        None
    }
    /// The object as compact JSON for the removals kept (`None`: kept as is).
    fn to_json(&self) -> Option<Vec<u8>> {
        None
    }
    /// The object back from [`Versioned::to_json`].
    fn from_json(_json: &[u8]) -> Option<Self> {
        None
    }
}

impl Versioned for Pod {
    fn key(&self) -> String {
        crate::watch::key(self)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn seen(&self) -> Option<jiff::Timestamp> {
        seen_time(self)
    }
    fn to_json(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(self).ok()
    }
    fn from_json(json: &[u8]) -> Option<Self> {
        nodelet_objects::decode::from_slice(json).ok()
    }
}

impl Versioned for Object {
    fn key(&self) -> String {
        format!("{}/{}/{}", self.kind(), self.namespace(), self.name())
    }
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.metadata_mut()
    }
}

/// Removals remembered for watches that start in the past: kube-apiserver's watch cache
/// keeps 100 events per resource by default (`--default-watch-cache-size`).
pub const KEEP_DELETED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "ADDED",
            Change::Modified => "MODIFIED",
            Change::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
struct Entry<T> {
    /// The object as the node reported it (no resourceVersion), for comparison; shared with
    /// the node's own copy when it gave an `Arc` (pods: the pod manager's view).
    raw: Arc<T>,
    rv: u64,
    created_rv: u64,
    created: jiff::Timestamp,
}

#[derive(Debug)]
struct Inner<T> {
    counter: u64,
    pods: HashMap<String, Entry<T>>,
    /// (resourceVersion of the removal, the object as last seen), oldest first.
    deleted: VecDeque<(u64, Kept<T>)>,
}

/// A removed object as kept for watches: pods as their JSON (about 2 KB in one block instead
/// of a Pod's hundred small allocations: 256 removed pods held ~1.5 MB more of nodelet's heap
/// after a few rounds of 110 pods), other objects as they are, boxed: the queue's slots are
/// two words, not a whole object each (an inline `Pod` made every slot ~1.2 KB whichever
/// variant it held: 0.3 MB for the kept removals).
#[derive(Debug)]
enum Kept<T> {
    Object(Box<T>),
    Json(Box<[u8]>),
}

impl<T: Versioned> Kept<T> {
    fn new(o: T) -> Kept<T> {
        match o.to_json() {
            Some(j) => Kept::Json(j.into_boxed_slice()),
            None => Kept::Object(Box::new(o)),
        }
    }

    fn get(&self) -> Option<T> {
        match self {
            Kept::Object(o) => Some((**o).clone()),
            Kept::Json(j) => T::from_json(j),
        }
    }
}

/// The node-wide resource version bookkeeping (one per API server for pods, one for the
/// workload objects).
#[derive(Debug)]
pub struct Revisions<T = Pod> {
    inner: Mutex<Inner<T>>,
}

impl<T> Default for Revisions<T> {
    fn default() -> Self {
        Revisions {
            inner: Mutex::new(Inner {
                counter: 0,
                pods: HashMap::new(),
                deleted: VecDeque::new(),
            }),
        }
    }
}

/// Why a watch cannot start at the version asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct TooOld {
    pub asked: u64,
    pub oldest: u64,
}

fn decorate<T: Versioned>(e: &Entry<T>) -> T {
    decorated(T::clone(&e.raw), e)
}

/// `p` (equal to `e.raw`) with `e`'s resource version and creation time.
fn decorated<T: Versioned>(mut p: T, e: &Entry<T>) -> T {
    let m = p.meta_mut();
    m.resource_version = Some(e.rv.to_string());
    if m.creation_timestamp.is_none() {
        m.creation_timestamp = Some(Time(e.created));
    }
    p
}

fn seen_time(p: &Pod) -> Option<jiff::Timestamp> {
    p.metadata
        .annotations
        .as_ref()?
        .get(nodelet_objects::manifest::CONFIG_SEEN_ANNOTATION)?
        .parse()
        .ok()
}

impl<T: Versioned> Revisions<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the node's pods as they are now (owned or shared); returns them with resource
    /// versions and creation times, and the list's resource version.
    pub fn observe(&self, pods: Vec<impl Into<Arc<T>>>) -> (u64, Vec<T>) {
        let mut g = self.lock();
        let g = &mut *g;
        let mut out = Vec::with_capacity(pods.len());
        let mut present = std::collections::HashSet::with_capacity(pods.len());
        for p in pods {
            let p: Arc<T> = p.into();
            let k = p.key();
            match g.pods.get_mut(&k) {
                Some(e) if Arc::ptr_eq(&e.raw, &p) || e.raw == p => {
                    // Unchanged: the caller's copy is decorated (no second copy when the
                    // caller's was its own).
                    present.insert(k);
                    out.push(decorated(Arc::unwrap_or_clone(p), e));
                    continue;
                }
                Some(e) => {
                    g.counter += 1;
                    e.rv = g.counter;
                    e.raw = p;
                }
                None => {
                    g.counter += 1;
                    let created = p.seen().unwrap_or_else(jiff::Timestamp::now);
                    g.pods.insert(
                        k.clone(),
                        Entry {
                            raw: p,
                            rv: g.counter,
                            created_rv: g.counter,
                            created,
                        },
                    );
                }
            }
            if let Some(e) = g.pods.get(&k) {
                out.push(decorate(e));
            }
            present.insert(k);
        }
        let gone: Vec<String> = g
            .pods
            .keys()
            .filter(|k| !present.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(e) = g.pods.remove(&k) {
                g.counter += 1;
                let mut last = decorate(&e);
                last.meta_mut().resource_version = Some(g.counter.to_string());
                g.deleted.push_back((g.counter, Kept::new(last)));
                if g.deleted.len() > KEEP_DELETED {
                    g.deleted.pop_front();
                }
            }
        }
        (g.counter, out)
    }

    /// What changed after version `since`, in version order, and the current version.
    /// `pods` are the decorated pods `observe` returned (already filtered by the caller).
    pub fn changes_since(&self, since: u64, pods: &[T]) -> Result<(u64, Vec<(Change, T)>), TooOld> {
        let g = self.lock();
        if let Some((oldest, _)) = g.deleted.front()
            && g.deleted.len() >= KEEP_DELETED
            && since < *oldest
        {
            return Err(TooOld {
                asked: since,
                oldest: *oldest,
            });
        }
        let mut out: Vec<(u64, Change, T)> = vec![];
        for p in pods {
            let Some(e) = g.pods.get(&p.key()) else {
                continue;
            };
            if e.rv > since {
                let c = if e.created_rv > since {
                    Change::Added
                } else {
                    Change::Modified
                };
                out.push((e.rv, c, p.clone()));
            }
        }
        for (rv, p) in &g.deleted {
            if *rv > since
                && let Some(p) = p.get()
            {
                out.push((*rv, Change::Deleted, p));
            }
        }
        out.sort_by_key(|(rv, _, _)| *rv);
        Ok((g.counter, out.into_iter().map(|(_, c, p)| (c, p)).collect()))
    }

    /// The current version.
    pub fn current(&self) -> u64 {
        self.lock().counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p-{uid}"), "uid": uid,
                         "annotations": {"kubernetes.io/config.seen": "2026-12-01T10:00:00Z"}},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    fn kinds(v: &[(Change, Pod)]) -> Vec<(Change, String)> {
        v.iter()
            .map(|(c, p)| (*c, p.metadata.uid.clone().unwrap()))
            .collect()
    }

    #[test]
    fn versions_follow_changes_and_watches_replay_after_a_version() {
        let r = Revisions::default();
        let (v1, pods) = r.observe(vec![pod("a", "Pending"), pod("b", "Running")]);
        assert_eq!(v1, 2);
        assert_eq!(pods[0].metadata.resource_version.as_deref(), Some("1"));
        assert_eq!(
            pods[0]
                .metadata
                .creation_timestamp
                .as_ref()
                .unwrap()
                .0
                .to_string(),
            "2026-12-01T10:00:00Z"
        );
        // Unchanged: same versions.
        let (again, _) = r.observe(vec![pod("a", "Pending"), pod("b", "Running")]);
        assert_eq!(again, v1);
        let (v2, pods) = r.observe(vec![pod("a", "Running"), pod("c", "Pending")]);
        assert_eq!(v2, 5);
        let (_, ch) = r.changes_since(v1, &pods).unwrap();
        assert_eq!(
            kinds(&ch),
            [
                (Change::Modified, "a".into()),
                (Change::Added, "c".into()),
                (Change::Deleted, "b".into())
            ]
        );
        let (_, ch) = r.changes_since(0, &pods).unwrap();
        assert_eq!(ch.iter().filter(|(c, _)| *c == Change::Added).count(), 2);
        assert!(r.changes_since(v2, &pods).unwrap().1.is_empty());
    }

    #[test]
    fn shared_pods_are_kept_without_a_copy() {
        let r: Revisions = Revisions::default();
        let a = Arc::new(pod("a", "Running"));
        let (v1, _) = r.observe(vec![a.clone()]);
        assert_eq!(Arc::strong_count(&a), 2, "kept as given");
        let (v2, pods) = r.observe(vec![a.clone()]);
        assert_eq!(v2, v1);
        assert_eq!(pods[0].metadata.resource_version.as_deref(), Some("1"));
        // An equal copy is unchanged too.
        assert_eq!(r.observe(vec![pod("a", "Running")]).0, v1);
        let (v3, _) = r.observe(vec![Arc::new(pod("a", "Succeeded"))]);
        assert_eq!(v3, v1 + 1);
        assert_eq!(Arc::strong_count(&a), 1);
    }

    #[test]
    fn a_watch_from_before_the_kept_removals_is_too_old() {
        let r = Revisions::default();
        for i in 0..=KEEP_DELETED {
            r.observe(vec![pod(&format!("x{i}"), "Running")]);
        }
        r.observe(Vec::<Pod>::new());
        assert!(r.changes_since(1, &[]).is_err());
        assert!(r.changes_since(r.current(), &[]).is_ok());
    }

    #[test]
    fn a_kept_removal_is_two_words() {
        assert!(std::mem::size_of::<Kept<Pod>>() <= 3 * std::mem::size_of::<usize>());
    }
}
