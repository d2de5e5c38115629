//! What the manager publishes for readers (the local API, nodectl, tests): every pod's v1 Pod
//! with its current status, and its recent events, behind a cheap shared handle. Each pod's
//! status is also written to `<rootDir>/pods/<uid>/status.json` when it changes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

/// Events kept per pod.
pub const MAX_EVENTS: usize = 100;

/// One event as `kubectl describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub time: Timestamp,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
}

/// One pod: the manifest's pod with `status` filled in, and its events (oldest first).
#[derive(Debug, Clone, Serialize)]
pub struct PodView {
    pub pod: Pod,
    pub events: VecDeque<Event>,
}

/// The shared, read-mostly table of pods by UID.
#[derive(Debug, Clone, Default)]
pub struct PodsView(Arc<RwLock<BTreeMap<String, PodView>>>);

impl PodsView {
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, PodView>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, PodView>> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_pod(&self, uid: &str, pod: Pod) {
        let mut w = self.write();
        match w.get_mut(uid) {
            Some(v) => v.pod = pod,
            None => {
                w.insert(
                    uid.to_string(),
                    PodView {
                        pod,
                        events: VecDeque::new(),
                    },
                );
            }
        }
    }

    pub(crate) fn event(&self, uid: &str, type_: &'static str, reason: &str, message: String) {
        tracing::info!(pod = uid, reason, "{message}");
        let mut w = self.write();
        if let Some(v) = w.get_mut(uid) {
            if v.events.len() >= MAX_EVENTS {
                v.events.pop_front();
            }
            v.events.push_back(Event {
                time: Timestamp::now(),
                type_,
                reason: reason.to_string(),
                message,
            });
        }
    }

    pub(crate) fn remove(&self, uid: &str) {
        self.write().remove(uid);
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
