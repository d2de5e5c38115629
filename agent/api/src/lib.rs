//! nodelet's local API: HTTP on a root-only Unix socket (and, if configured, a TCP address)
//! serving what `nodectl` shows, in Kubernetes JSON. The node owns the data and implements
//! [`NodeState`] (nodelet's pod manager does, in `nodelet::node_api`); this crate owns the
//! routes and query parsing (`server`), the Kubernetes `Status` errors (`status`), pod watches
//! (`watch`), the Prometheus metrics (`metrics`) and the client `nodectl` uses (`client`). It
//! reads no node files and runs no container: logs, metrics and exec targets come from the
//! [`NodeState`].
//!
//! The Kubernetes API kubectl and client libraries use: discovery (`discovery`), pods, events,
//! nodes and namespaces with lists, watches, tables and field selectors (`kube`, printing and
//! selecting in `nodelet_objects::{table, field_selector}`), writes that become manifest files
//! in the static pod directory (`writes`, `manifest_files`, `patch`, `protobuf`), resource
//! versions (`revisions`), the Node object (`node_object`), exec and attach (`remote_exec`),
//! port-forward (`port_forward`), JSON and `Status` responses (`response`), every other error made a
//! `Status` (`errors`) and TLS with client
//! certificates on TCP (`tls`).

pub mod client;
pub mod discovery;
pub mod errors;
pub mod kube;
pub mod limits;
pub mod manifest_files;
pub mod metrics;
pub mod node_object;
pub mod object_writes;
pub mod objects;
pub mod patch;
pub mod port_forward;
pub mod protobuf;
pub mod remote_exec;
pub mod response;
pub mod revisions;
pub mod server;
pub mod status;
pub mod tls;
pub mod watch;
pub mod writes;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use nodelet_objects::log_options::{ReadOptions, Which};
use nodelet_objects::pod_metrics::PodMetrics;
use serde::{Deserialize, Serialize};

pub use client::{Client, ClientError, LogQuery};
pub use metrics::Metrics;
pub use server::{ApiError, bind_unix, router, serve};

/// Default path of the API socket (`apiSocket` in nodelet's configuration; where `nodectl`
/// looks unless told otherwise).
pub const DEFAULT_SOCKET: &str = "/run/nodelet/nodelet.sock";

/// What `GET .../pods/{name}/exectarget?container=C` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecTarget {
    pub container: String,
    /// noderun's state root holding the container (`<runDir>/pods/<uid>/runtime`).
    pub runtime_root: PathBuf,
    /// The running instance's noderun id.
    pub container_id: String,
}

/// A `GET .../pods/{name}/log` request, checked against the pod (the container exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub container: String,
    pub which: Which,
    pub opts: ReadOptions,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Keep sending lines while the instance runs.
    pub follow: bool,
    /// `limitBytes`: at most this many bytes of log text (the server cuts the stream).
    pub limit: Option<usize>,
}

/// Which output stream an attached container wrote a chunk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Where [`NodeState::attach_output`] sends a running container's output as it is written;
/// `false` back means the client has gone (stop). An empty chunk asks whether it is still there.
pub type OutputSink<'a> = &'a mut dyn FnMut(OutputStream, Vec<u8>) -> bool;

/// What an attach session sends to the container ([`NodeState::attach`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachInput {
    /// Bytes for the container's stdin (or terminal).
    Stdin(Vec<u8>),
    /// The client's stdin ended (v5's close of channel 0).
    CloseStdin,
    /// The client's terminal size.
    Resize { width: u16, height: u16 },
}

/// Where [`NodeState::container_log`] sends the log: rendered chunks of lines; `false` back
/// means the client has gone (stop). An empty chunk sends nothing: a follower uses it to ask
/// whether the client is still there.
pub type LogSink<'a> = &'a mut dyn FnMut(Vec<u8>) -> bool;

/// What the API serves; the node implements it. `pods` and `events` must be quick (they run on
/// the async runtime): return snapshots, don't do I/O. `container_log`, `pod_metrics` and
/// `exec_target` may block (the server calls them on the blocking pool).
pub trait NodeState: Send + Sync + 'static {
    /// Every pod on the node with its current status.
    fn pods(&self) -> Vec<Pod>;

    /// [`NodeState::pods`] as shared handles: the API's resource versions keep the pods they
    /// compare with, so a node that holds its pods behind `Arc` gives them without a copy.
    fn shared_pods(&self) -> Vec<std::sync::Arc<Pod>> {
        self.pods().into_iter().map(std::sync::Arc::new).collect()
    }

    /// One pod by namespace and name.
    fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.pods().into_iter().find(|p| {
            p.metadata.namespace.as_deref().unwrap_or("default") == namespace
                && p.metadata.name.as_deref() == Some(name)
        })
    }

    /// Every workload and configuration object on the node (ConfigMaps, Secrets, Namespaces,
    /// Jobs, CronJobs, Deployments, ReplicaSets, DaemonSets), declared in manifest files or
    /// made by a controller, with its current status. A snapshot: no I/O.
    fn objects(&self) -> Vec<nodelet_objects::workload::Object> {
        Vec::new()
    }

    /// The directory of what controllers made (their pods, a CronJob's Jobs, a Deployment's
    /// ReplicaSets), one manifest file per object, if the node runs controllers. Writes
    /// through the API (delete, label, scale of those objects) edit these files as they edit
    /// the static pod directory's.
    fn workload_dir(&self) -> Option<&Path> {
        None
    }

    /// Events, optionally of one namespace and one object name.
    fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event>;

    /// The log of `req.container` of `pod` into `sink`: the lines asked for in one chunk or
    /// more, then (with `req.follow`) new ones as they come. An error before the first chunk
    /// is the response (a Kubernetes Status); after it, it ends the stream.
    fn container_log(
        &self,
        pod: &Pod,
        req: &LogRequest,
        sink: LogSink<'_>,
    ) -> Result<(), Box<Status>>;

    /// metrics.k8s.io PodMetrics of those of `pods` this node can measure.
    fn pod_metrics(&self, pods: Vec<Pod>) -> Vec<PodMetrics> {
        let _ = pods;
        Vec::new()
    }

    /// What the running instance `instance` (its restart count) of `container` of `pod`
    /// writes from now on, into `sink`, until it stops running, the pod goes or the sink says
    /// stop (`pods/attach`). Blocking.
    fn attach_output(
        &self,
        pod: &Pod,
        container: &str,
        instance: u32,
        sink: OutputSink<'_>,
    ) -> Result<(), Box<Status>> {
        let _ = (pod, container, instance, sink);
        Err(status::failure(
            501,
            "NotImplemented",
            "attach is not supported by this node".to_string(),
        ))
    }

    /// An attach session to the running instance `instance` of `container` of `pod`: its
    /// output from now on into `sink`, and — with `stdin`, for a container that has a stdin or
    /// a terminal — what comes from `input` into the container (its stdin or terminal, with
    /// resizes), until the instance stops or the client goes (`input` disconnected or the sink
    /// says stop). Blocking. Without `stdin`, the node may serve it as `attach_output`.
    fn attach(
        &self,
        pod: &Pod,
        container: &str,
        instance: u32,
        stdin: bool,
        input: std::sync::mpsc::Receiver<AttachInput>,
        sink: OutputSink<'_>,
    ) -> Result<(), Box<Status>> {
        let _ = input;
        if stdin {
            return Err(status::failure(
                501,
                "NotImplemented",
                "attach with stdin is not supported by this node".to_string(),
            ));
        }
        self.attach_output(pod, container, instance, sink)
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

    /// Where the running instance of `container` of `pod` is, for `nodectl exec`.
    fn exec_target(&self, pod: &Pod, container: &str) -> Result<ExecTarget, Box<Status>> {
        let _ = (pod, container);
        Err(status::failure(
            501,
            "NotImplemented",
            "exec is not supported by this node".to_string(),
        ))
    }
}
