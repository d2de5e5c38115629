//! The local API's view of this node: `api::NodeState` over the pod manager's `PodsView`.
//! Pods come with their live status; each pod's events are aggregated the kubectl way
//! ("x3 over 2m") through an `EventStore` built per request from the view's event log.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Pod};

use crate::events::{EventStore, EventType, Involved};
use crate::pods::PodsView;

pub struct NodeView {
    pub view: PodsView,
    pub pod_logs_dir: PathBuf,
    pub node_name: String,
    /// The node's `runDir` (pods' runtime state is `<runDir>/pods/<uid>/runtime`).
    pub run_dir: PathBuf,
}

impl crate::api::NodeState for NodeView {
    fn pods(&self) -> Vec<Pod> {
        self.view.pods().into_iter().map(|v| v.pod).collect()
    }

    fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event> {
        let store = EventStore::new(&self.node_name, usize::MAX);
        for v in self.view.pods() {
            let m = &v.pod.metadata;
            let involved = Involved::pod(
                m.namespace.as_deref().unwrap_or("default"),
                m.name.as_deref().unwrap_or_default(),
                m.uid.as_deref().unwrap_or_default(),
            );
            for e in &v.events {
                let t = if e.type_ == "Warning" {
                    EventType::Warning
                } else {
                    EventType::Normal
                };
                store.record_at(&involved, t, &e.reason, &e.message, "kubelet", e.time);
            }
        }
        store.list(namespace, name)
    }

    fn runtime_root(&self, pod: &Pod) -> Option<PathBuf> {
        let uid = pod.metadata.uid.as_deref().filter(|u| !u.is_empty())?;
        Some(crate::pods::shim::ShimPaths::of(&self.run_dir, uid).runtime_root)
    }

    fn pod_logs_dir(&self) -> &Path {
        &self.pod_logs_dir
    }
}
