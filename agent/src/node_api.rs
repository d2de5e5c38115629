//! The local API's view of this node: `api::NodeState` over the pod manager's `PodsView`.
//! Pods come with their live status; events come aggregated the kubectl way ("x3 over 2m")
//! from the view's event store.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Pod};

use crate::pods::PodsView;

pub struct NodeView {
    pub view: PodsView,
    pub pod_logs_dir: PathBuf,
    /// The node's `runDir` (pods' runtime state is `<runDir>/pods/<uid>/runtime`).
    pub run_dir: PathBuf,
    /// The Node object's facts (name, IP, maxPods, start time).
    pub facts: crate::api::node_object::NodeFacts,
    /// Where API writes go (`staticPodPath`).
    pub static_pod_path: PathBuf,
}

impl crate::api::NodeState for NodeView {
    fn pods(&self) -> Vec<Pod> {
        self.view.pods().into_iter().map(|v| v.pod).collect()
    }

    fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event> {
        self.view.events(namespace, name)
    }

    fn runtime_root(&self, pod: &Pod) -> Option<PathBuf> {
        let uid = pod.metadata.uid.as_deref().filter(|u| !u.is_empty())?;
        Some(crate::pods::shim::ShimPaths::of(&self.run_dir, uid).runtime_root)
    }

    fn node_facts(&self) -> crate::api::node_object::NodeFacts {
        self.facts.clone()
    }

    fn set_deletion_grace(&self, uid: &str, grace: std::time::Duration) {
        self.view.set_deletion_grace(uid, grace);
    }

    fn pod_netns(&self, pod: &Pod) -> Option<PathBuf> {
        let uid = pod.metadata.uid.as_deref().filter(|u| !u.is_empty())?;
        let pin = crate::sandbox::paths::netns_pin_path(&self.run_dir, uid);
        pin.exists().then_some(pin)
    }

    fn static_pod_dir(&self) -> Option<&Path> {
        Some(&self.static_pod_path)
    }

    fn pod_logs_dir(&self) -> &Path {
        &self.pod_logs_dir
    }
}
