//! What the manager publishes for readers (the local API, nodectl, tests): every pod's v1 Pod
//! with its current status behind a cheap shared handle, and the node's events about pods in
//! the one [`EventStore`] (kubectl's aggregation). Each pod's status is also written to
//! `<rootDir>/pods/<uid>/status.json` when it changes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::{Event, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use nodelet_objects::events::{EventReason, EventStore, Involved, NodeEventReason};

/// Events the node keeps (after aggregation), oldest dropped first.
pub const MAX_EVENTS: usize = 5000;

/// One pod: the manifest's pod with `status` filled in, shared (readers and the API's
/// resource versions hold it without copying it).
#[derive(Debug, Clone)]
pub struct PodView {
    pub pod: Arc<Pod>,
}

/// The shared, read-mostly table of pods by UID, and their events.
#[derive(Debug, Clone)]
pub struct PodsView {
    pods: Arc<RwLock<BTreeMap<String, PodView>>>,
    events: Arc<EventStore>,
    /// Labels and annotations of the pod's current manifest, by UID: an edit of only these
    /// keeps the UID (see `manifest::config_hash`), so the running pod shows them.
    metadata: Arc<RwLock<BTreeMap<String, Metadata>>>,
    /// Grace periods given with a deletion through the API, by UID.
    deletion_grace: Arc<RwLock<BTreeMap<String, std::time::Duration>>>,
    /// Bumped whenever a pod appears, changes (status or metadata) or goes: what the
    /// workload controllers wait on.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Why the eviction manager evicts pod `uid` and with what grace period.
    evictions: Arc<RwLock<BTreeMap<String, (String, std::time::Duration)>>>,
    /// The node's pressure conditions (MemoryPressure, DiskPressure, PIDPressure) as the
    /// eviction manager last set them; empty until its first round.
    node_conditions: Arc<RwLock<Vec<k8s_openapi::api::core::v1::NodeCondition>>>,
}

type Labels = Option<BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq)]
struct Metadata {
    labels: Labels,
    annotations: Labels,
    owner_references: Option<Vec<OwnerReference>>,
    finalizers: Option<Vec<String>>,
    /// Deleted through the API while finalizers hold its manifest (a Job's pod).
    deletion: Option<(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
        Option<i64>,
    )>,
}

impl PodsView {
    /// An empty view for node `node_name` (the events' source host).
    pub fn new(node_name: &str) -> PodsView {
        PodsView {
            pods: Arc::default(),
            events: Arc::new(EventStore::new(node_name, MAX_EVENTS)),
            metadata: Arc::default(),
            deletion_grace: Arc::default(),
            changes: Arc::new(tokio::sync::watch::channel(0).0),
            evictions: Arc::default(),
            node_conditions: Arc::default(),
        }
    }

    /// Pod `uid` is to be evicted with `message` and `grace` (its task reads it).
    pub(crate) fn set_eviction(&self, uid: &str, message: String, grace: std::time::Duration) {
        self.evictions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), (message, grace));
    }

    /// Why and with what grace pod `uid` is evicted, if it is.
    pub(crate) fn eviction(&self, uid: &str) -> Option<(String, std::time::Duration)> {
        self.evictions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .cloned()
    }

    /// The node's pressure conditions, as the eviction manager decided them.
    pub(crate) fn set_node_conditions(&self, c: Vec<k8s_openapi::api::core::v1::NodeCondition>) {
        *self
            .node_conditions
            .write()
            .unwrap_or_else(|p| p.into_inner()) = c;
    }

    /// The node's pressure conditions (empty before the eviction manager's first round).
    pub fn node_conditions(&self) -> Vec<k8s_openapi::api::core::v1::NodeCondition> {
        self.node_conditions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A receiver that sees a new value whenever a pod appears, changes or goes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Every pod (sorted by UID), status included; while an edited pod is replaced, only
    /// its newest version (one row per name, as the API server's mirror pod).
    pub fn pods(&self) -> Vec<PodView> {
        newest_per_name(self.read().values().cloned().collect())
    }

    /// Every pod's status by UID, without copying the pods (the workload controllers take
    /// the rest from the pods' files; a copy of every pod each pass made the heap peak).
    pub fn statuses(&self) -> BTreeMap<String, PodStatus> {
        self.read()
            .iter()
            .filter_map(|(uid, v)| Some((uid.clone(), v.pod.status.clone()?)))
            .collect()
    }

    /// One pod by UID.
    pub fn get(&self, uid: &str) -> Option<PodView> {
        self.read().get(uid).cloned()
    }

    /// The grace period a deletion of pod `uid` through the API asked for (instead of its
    /// `terminationGracePeriodSeconds`).
    pub fn set_deletion_grace(&self, uid: &str, grace: std::time::Duration) {
        self.deletion_grace
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), grace);
    }

    pub(crate) fn deletion_grace(&self, uid: &str) -> Option<std::time::Duration> {
        self.deletion_grace
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .copied()
    }

    /// The labels, annotations, owner references, finalizers and deletion time pod `uid`'s
    /// manifest declares now.
    pub(crate) fn set_metadata(&self, uid: &str, meta: &ObjectMeta) {
        let m = Metadata {
            labels: meta.labels.clone(),
            annotations: meta.annotations.clone(),
            owner_references: meta.owner_references.clone(),
            finalizers: meta.finalizers.clone(),
            deletion: meta
                .deletion_timestamp
                .clone()
                .map(|t| (t, meta.deletion_grace_period_seconds)),
        };
        let mut g = self.metadata.write().unwrap_or_else(|p| p.into_inner());
        if g.get(uid) != Some(&m) {
            if let Some(v) = self.write().get_mut(uid) {
                m.apply(Arc::make_mut(&mut v.pod));
            }
            g.insert(uid.to_string(), m);
            drop(g);
            self.changed();
        }
    }

    /// The labels and annotations of pod `uid` as its manifest has them now (an edit of only
    /// these keeps the pod), if the manager set them.
    pub(crate) fn labels_and_annotations(&self, uid: &str) -> Option<(Labels, Labels)> {
        let g = self.metadata.read().unwrap_or_else(|p| p.into_inner());
        g.get(uid)
            .map(|m| (m.labels.clone(), m.annotations.clone()))
    }

    /// One pod by `namespace/name` or by name alone (the newest version while it is
    /// replaced).
    pub fn find(&self, name: &str) -> Option<PodView> {
        self.pods().into_iter().find(|v| {
            let n = v.pod.metadata.name.as_deref().unwrap_or_default();
            let ns = v.pod.metadata.namespace.as_deref().unwrap_or_default();
            n == name || format!("{ns}/{n}") == name
        })
    }

    /// The events, aggregated, optionally of one namespace and one pod name.
    pub fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event> {
        self.events.list(namespace, name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, PodView>> {
        self.pods.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, PodView>> {
        self.pods.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores pod `uid` as readers see it: with its manifest's current metadata. Returns
    /// the stored pod (shared).
    pub(crate) fn set_pod(&self, uid: &str, mut pod: Pod) -> Arc<Pod> {
        // Lock order: metadata, then pods (as `set_metadata`).
        let meta = self.metadata.read().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = meta.get(uid) {
            m.apply(&mut pod);
        }
        let pod = Arc::new(pod);
        self.write()
            .insert(uid.to_string(), PodView { pod: pod.clone() });
        drop(meta);
        self.changed();
        pod
    }

    /// An event about pod `uid` (ignored if the view does not have it).
    pub(crate) fn event(&self, uid: &str, reason: EventReason, message: String) {
        tracing::info!(pod = uid, reason = reason.as_str(), "{message}");
        let involved = {
            let r = self.read();
            let Some(v) = r.get(uid) else { return };
            let m = &v.pod.metadata;
            Involved::pod(
                m.namespace.as_deref().unwrap_or("default"),
                m.name.as_deref().unwrap_or_default(),
                uid,
            )
        };
        self.events.record(&involved, reason, &message);
    }

    /// An event of the kubelet about the node (see `EventStore::record_node`).
    pub fn node_event(&self, reason: NodeEventReason, message: &str) {
        tracing::info!(reason = reason.as_str(), "node event: {message}");
        self.events.record_node(reason, message);
    }

    /// An event about a workload object, from controller `component`.
    pub fn object_event(
        &self,
        involved: &Involved,
        reason: nodelet_objects::controllers::ControllerReason,
        message: &str,
        component: &str,
    ) {
        self.events.record_at(
            involved,
            reason.event_type(),
            reason.as_str(),
            message,
            component,
            jiff::Timestamp::now(),
        );
    }

    /// Forgets the events about object `uid` (it is gone).
    pub fn forget_events(&self, uid: &str) {
        self.events.forget_pod(uid);
    }

    /// The phase pod `uid` shows, if any (read in place, no copy of the pod).
    pub(crate) fn phase(&self, uid: &str) -> Option<String> {
        self.read().get(uid)?.pod.status.as_ref()?.phase.clone()
    }

    pub(crate) fn remove(&self, uid: &str) {
        if self.write().remove(uid).is_some() {
            self.changed();
        }
        self.deletion_grace
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        self.metadata
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        self.evictions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        self.events.forget_pod(uid);
    }
}

impl Metadata {
    /// `pod` with its manifest's current labels, annotations, owner references and
    /// finalizers (applied when the pod or the metadata is stored, so that readers get
    /// plain copies).
    fn apply(&self, pod: &mut Pod) {
        pod.metadata.labels.clone_from(&self.labels);
        pod.metadata.annotations.clone_from(&self.annotations);
        pod.metadata
            .owner_references
            .clone_from(&self.owner_references);
        pod.metadata.finalizers.clone_from(&self.finalizers);
        if let Some((at, grace)) = &self.deletion {
            pod.metadata.deletion_timestamp = Some(at.clone());
            pod.metadata.deletion_grace_period_seconds = *grace;
        }
    }
}

/// Emits events of one pod.
#[derive(Debug, Clone)]
pub struct PodEvents {
    pub view: PodsView,
    pub uid: String,
}

impl PodEvents {
    pub fn emit(&self, reason: EventReason, message: String) {
        self.view.event(&self.uid, reason, message);
    }
}

/// Keeps, of pods with the same namespace/name (an edited pod and its replacement), the one
/// first seen last (`kubernetes.io/config.seen`); the order is otherwise kept.
fn newest_per_name(pods: Vec<PodView>) -> Vec<PodView> {
    let key = |v: &PodView| {
        let m = &v.pod.metadata;
        (m.namespace.clone(), m.name.clone())
    };
    let seen = |v: &PodView| {
        v.pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(nodelet_objects::manifest::CONFIG_SEEN_ANNOTATION))
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    };
    let mut newest: BTreeMap<(Option<String>, Option<String>), Option<jiff::Timestamp>> =
        BTreeMap::new();
    for v in &pods {
        let e = newest.entry(key(v)).or_insert(None);
        *e = (*e).max(seen(v));
    }
    let mut kept = std::collections::HashSet::new();
    pods.into_iter()
        .filter(|v| {
            let k = key(v);
            newest.get(&k).copied().flatten() == seen(v) && kept.insert(k)
        })
        .collect()
}

/// Tells the user which fields of pod `sp`'s manifest were dropped as unknown: a Warning
/// event `UnknownField` on the pod and a line in the agent's log. Nothing for a pod without.
pub(crate) fn warn_ignored_fields(view: &PodsView, sp: &nodelet_objects::manifest::StaticPod) {
    if let Some(m) = sp.ignored_fields_message() {
        tracing::warn!(pod = %sp.full_name(), "{m}");
        view.event(sp.uid(), EventReason::UnknownField, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, name: &str, seen: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.uid = Some(uid.into());
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("default".into());
        p.metadata.annotations = Some(
            [(
                nodelet_objects::manifest::CONFIG_SEEN_ANNOTATION.to_string(),
                seen.to_string(),
            )]
            .into(),
        );
        p
    }

    #[test]
    fn readers_see_the_manifest_s_current_metadata_whatever_came_first() {
        let v = PodsView::new("node1");
        let meta = |app: &str| ObjectMeta {
            labels: Some([("app".to_string(), app.to_string())].into()),
            finalizers: Some(vec!["f".into()]),
            ..Default::default()
        };
        let app = |p: PodView| p.pod.metadata.labels.as_ref().unwrap()["app"].clone();
        // Metadata first, then the pod (the worker publishes it later).
        v.set_metadata("a", &meta("one"));
        v.set_pod("a", pod("a", "a-node1", "2026-01-01T00:00:00Z"));
        assert_eq!(app(v.get("a").unwrap()), "one");
        // A relabel of the running pod.
        v.set_metadata("a", &meta("two"));
        assert_eq!(app(v.get("a").unwrap()), "two");
        assert_eq!(app(v.pods().remove(0)), "two");
        // A status update keeps it.
        v.set_pod("a", pod("a", "a-node1", "2026-01-01T00:00:00Z"));
        let p = v.get("a").unwrap();
        assert_eq!(
            p.pod.metadata.finalizers.as_deref(),
            Some(&["f".to_string()][..])
        );
        assert_eq!(app(p), "two");
    }

    #[test]
    fn one_row_per_name_while_replaced() {
        let v = PodsView::new("node1");
        v.set_pod("a", pod("a", "web-node1", "2026-01-01T00:00:00Z"));
        v.set_pod("b", pod("b", "web-node1", "2026-01-01T00:01:00Z"));
        v.set_pod("c", pod("c", "db-node1", "2026-01-01T00:00:00Z"));
        let uids: Vec<String> = v
            .pods()
            .iter()
            .filter_map(|p| p.pod.metadata.uid.clone())
            .collect();
        assert_eq!(uids, ["b", "c"]);
        let found = v.find("web-node1").unwrap();
        assert_eq!(found.pod.metadata.uid.as_deref(), Some("b"));
        v.remove("b");
        assert_eq!(
            v.find("web-node1").unwrap().pod.metadata.uid.as_deref(),
            Some("a")
        );
    }
}
