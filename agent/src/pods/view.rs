//! What the manager publishes for readers (the local API, nodectl, tests): every pod's v1 Pod
//! with its current status behind a cheap shared handle, and the node's events about pods in
//! the one [`EventStore`] (kubectl's aggregation). Each pod's status is also written to
//! `<rootDir>/pods/<uid>/status.json` when it changes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::{Event, Pod};

use nodelet_objects::events::{EventStore, EventType, Involved};

/// Events the node keeps (after aggregation), oldest dropped first.
pub const MAX_EVENTS: usize = 5000;

/// One pod: the manifest's pod with `status` filled in.
#[derive(Debug, Clone)]
pub struct PodView {
    pub pod: Pod,
}

/// The shared, read-mostly table of pods by UID, and their events.
#[derive(Debug, Clone)]
pub struct PodsView {
    pods: Arc<RwLock<BTreeMap<String, PodView>>>,
    events: Arc<EventStore>,
}

impl PodsView {
    /// An empty view for node `node_name` (the events' source host).
    pub fn new(node_name: &str) -> PodsView {
        PodsView {
            pods: Arc::default(),
            events: Arc::new(EventStore::new(node_name, MAX_EVENTS)),
        }
    }

    /// Every pod (sorted by UID), status included.
    pub fn pods(&self) -> Vec<PodView> {
        self.read().values().cloned().collect()
    }

    /// One pod by UID.
    pub fn get(&self, uid: &str) -> Option<PodView> {
        self.read().get(uid).cloned()
    }

    /// One pod by `namespace/name` or by name alone.
    pub fn find(&self, name: &str) -> Option<PodView> {
        self.read()
            .values()
            .find(|v| {
                let n = v.pod.metadata.name.as_deref().unwrap_or_default();
                let ns = v.pod.metadata.namespace.as_deref().unwrap_or_default();
                n == name || format!("{ns}/{n}") == name
            })
            .cloned()
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

    pub(crate) fn set_pod(&self, uid: &str, pod: Pod) {
        self.write().insert(uid.to_string(), PodView { pod });
    }

    /// An event about pod `uid` (ignored if the view does not have it).
    pub(crate) fn event(&self, uid: &str, type_: &'static str, reason: &str, message: String) {
        tracing::info!(pod = uid, reason, "{message}");
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
        let t = if type_ == "Warning" {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.events.record(&involved, t, reason, &message);
    }

    /// The phase pod `uid` shows, if any (read in place, no copy of the pod).
    pub(crate) fn phase(&self, uid: &str) -> Option<String> {
        self.read().get(uid)?.pod.status.as_ref()?.phase.clone()
    }

    pub(crate) fn remove(&self, uid: &str) {
        self.write().remove(uid);
        self.events.forget_pod(uid);
    }
}

/// Emits events of one pod.
#[derive(Debug, Clone)]
pub struct PodEvents {
    pub view: PodsView,
    pub uid: String,
}

impl PodEvents {
    pub fn emit(&self, type_: &'static str, reason: &str, message: String) {
        self.view.event(&self.uid, type_, reason, message);
    }
}

/// Tells the user which fields of pod `sp`'s manifest were dropped as unknown: a Warning
/// event `UnknownField` on the pod and a line in the agent's log. Nothing for a pod without.
pub(crate) fn warn_ignored_fields(view: &PodsView, sp: &nodelet_objects::manifest::StaticPod) {
    if let Some(m) = sp.ignored_fields_message() {
        tracing::warn!(pod = %sp.full_name(), "{m}");
        view.event(sp.uid(), "Warning", "UnknownField", m);
    }
}
