//! nodelet's local API: HTTP on a root-only Unix socket (and, if configured, a TCP address)
//! serving what `nodectl` shows, in Kubernetes JSON. The pod manager owns the data and
//! implements [`NodeState`]; this module owns the routes (`server`), the Kubernetes `Status`
//! errors (`status`), label selectors (`selector`), the Prometheus metrics (`metrics`) and the
//! client `nodectl` uses (`client`).

pub mod client;
pub mod discovery;
pub mod errors;
pub mod fields;
pub mod kube;
pub mod manifest_files;
pub mod metrics;
pub mod node_object;
pub mod patch;
pub mod port_forward;
pub mod protobuf;
pub mod remote_exec;
pub mod revisions;
pub mod selector;
pub mod server;
pub mod status;
pub mod table;
pub mod tls;
pub mod writes;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Pod};

pub use client::{Client, ClientError, LogQuery};
pub use metrics::Metrics;
pub use server::{ApiError, bind_unix, router, serve};

/// Default path of the API socket (`apiSocket` in the configuration).
pub use crate::config::DEFAULT_API_SOCKET as DEFAULT_SOCKET;

/// What the API serves; the pod manager implements it. Calls must be quick (they run on the
/// async runtime): return snapshots, don't do I/O.
pub trait NodeState: Send + Sync + 'static {
    /// Every pod on the node with its current status.
    fn pods(&self) -> Vec<Pod>;

    /// One pod by namespace and name.
    fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.pods().into_iter().find(|p| {
            p.metadata.namespace.as_deref().unwrap_or("default") == namespace
                && p.metadata.name.as_deref() == Some(name)
        })
    }

    /// Events, optionally of one namespace and one object name (see `crate::events`).
    fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event>;

    /// noderun's state root of the pod's containers, when this node runs them (exec, top).
    fn runtime_root(&self, pod: &Pod) -> Option<PathBuf> {
        let _ = pod;
        None
    }

    /// This node: name, IP, maxPods, start time, labels (the Node object).
    fn node_facts(&self) -> node_object::NodeFacts {
        node_object::NodeFacts::default()
    }

    /// A deletion through the API asked for this grace period for pod `uid` (instead of its
    /// `terminationGracePeriodSeconds`); called before its manifest goes.
    fn set_deletion_grace(&self, uid: &str, grace: std::time::Duration) {
        let _ = (uid, grace);
    }

    /// The static pod directory API writes go to; `None`: the API is read-only.
    fn static_pod_dir(&self) -> Option<&Path> {
        None
    }

    /// The pod's network namespace (its pin), when this node runs it (port-forward connects
    /// to the pod's loopback from inside it).
    fn pod_netns(&self, pod: &Pod) -> Option<PathBuf> {
        let _ = pod;
        None
    }

    /// The node's `podLogsDir`.
    fn pod_logs_dir(&self) -> &Path;

    /// The log directory of `container` of `pod` (see `crate::logs::container_dir`).
    fn container_log_dir(&self, pod: &Pod, container: &str) -> PathBuf {
        crate::logs::container_dir(
            self.pod_logs_dir(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.name.as_deref().unwrap_or_default(),
            pod.metadata.uid.as_deref().unwrap_or_default(),
            container,
        )
    }
}
