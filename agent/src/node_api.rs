//! This node as the local API sees it: `nodelet_api::NodeState` over the pod manager's
//! `PodsView`. Pods come with their live status; events aggregated the kubectl way ("x3 over
//! 2m") from the view's event store; container logs read from the node's CRI log files
//! ([`container_log`]); pod metrics sampled from the containers' cgroups (`crate::top`); exec
//! targets checked in the containers' noderun state (`crate::exec_target`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use nodelet_api::node_object::NodeFacts;
use nodelet_api::{
    AttachInput, ExecTarget, LogRequest, LogSink, NodeState, OutputSink, OutputStream, status,
};
use nodelet_objects::pod_metrics::PodMetrics;

use crate::logs::{self, LogError, Which};
use crate::pods::PodsView;
use crate::top::{Sampler, Target};

/// How often a followed log is polled for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub struct NodeView {
    view: PodsView,
    pod_logs_dir: PathBuf,
    /// The node's `runDir` (pods' runtime state is `<runDir>/pods/<uid>/runtime`).
    run_dir: PathBuf,
    sampler: Sampler,
    /// The Node object's facts (name, IP, maxPods, start time, labels).
    facts: NodeFacts,
    /// Where API writes go (`staticPodPath`).
    static_pod_path: PathBuf,
    /// The controllers' read side, once they run.
    workloads: std::sync::OnceLock<crate::workloads::WorkloadsView>,
    /// The node shutdown manager's flag (Ready False while shutting down), once it runs.
    node_shutdown: std::sync::OnceLock<crate::shutdown::NodeShutdown>,
}

impl NodeView {
    pub fn new(
        view: PodsView,
        pod_logs_dir: PathBuf,
        run_dir: PathBuf,
        facts: NodeFacts,
        static_pod_path: PathBuf,
    ) -> NodeView {
        NodeView {
            view,
            pod_logs_dir,
            run_dir,
            sampler: Sampler::new(),
            facts,
            static_pod_path,
            workloads: std::sync::OnceLock::new(),
            node_shutdown: std::sync::OnceLock::new(),
        }
    }

    /// Serves the controllers' objects (set once, when they start).
    pub fn set_workloads(&self, w: crate::workloads::WorkloadsView) {
        let _ = self.workloads.set(w);
    }

    /// The node shutdown manager's flag: the Node is not Ready while it is up.
    pub fn set_node_shutdown(&self, s: crate::shutdown::NodeShutdown) {
        let _ = self.node_shutdown.set(s);
    }

    /// noderun's state root of the pod's containers.
    fn runtime_root(&self, pod: &Pod) -> Option<PathBuf> {
        let uid = pod.metadata.uid.as_deref().filter(|u| !u.is_empty())?;
        Some(crate::pods::shim::ShimPaths::of(&self.run_dir, uid).runtime_root)
    }
}

impl NodeState for NodeView {
    fn pods(&self) -> Vec<Pod> {
        self.view
            .pods()
            .into_iter()
            .map(|v| std::sync::Arc::unwrap_or_clone(v.pod))
            .collect()
    }

    fn shared_pods(&self) -> Vec<std::sync::Arc<Pod>> {
        self.view.pods().into_iter().map(|v| v.pod).collect()
    }

    fn events(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event> {
        self.view.events(namespace, name)
    }

    fn container_log(
        &self,
        pod: &Pod,
        req: &LogRequest,
        sink: LogSink<'_>,
    ) -> Result<(), Box<Status>> {
        container_log(self, &self.pod_logs_dir, pod, req, sink)
    }

    fn pod_metrics(&self, pods: Vec<Pod>) -> Vec<PodMetrics> {
        let targets: Vec<Target> = pods
            .into_iter()
            .filter_map(|pod| {
                let runtime_root = self.runtime_root(&pod)?;
                Some(Target { pod, runtime_root })
            })
            .collect();
        self.sampler.collect(&targets)
    }

    fn exec_target(&self, pod: &Pod, container: &str) -> Result<ExecTarget, Box<Status>> {
        let Some(root) = self.runtime_root(pod) else {
            return Err(status::bad_request(format!(
                "container not found ({container:?})"
            )));
        };
        crate::exec_target::resolve(pod, container, &root)
    }

    fn attach_output(
        &self,
        pod: &Pod,
        container: &str,
        instance: u32,
        sink: OutputSink<'_>,
    ) -> Result<(), Box<Status>> {
        attach_output(self, &self.pod_logs_dir, pod, container, instance, sink)
    }

    fn attach(
        &self,
        pod: &Pod,
        container: &str,
        instance: u32,
        stdin: bool,
        input: std::sync::mpsc::Receiver<AttachInput>,
        sink: OutputSink<'_>,
    ) -> Result<(), Box<Status>> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let sock = crate::pods::shim::ShimPaths::of(&self.run_dir, uid)
            .dir
            .join("shim.sock");
        let id = container_status(pod, container)
            .filter(|c| u32::try_from(c.restart_count).ok() == Some(instance))
            .and_then(|c| c.container_id.as_deref())
            .and_then(|id| id.split_once("://").map(|(_, id)| id.to_string()))
            .ok_or_else(|| status::bad_request(format!("container {container} is not running")))?;
        match attach_shim(&sock, &id, stdin, input, sink) {
            // A shim from before attach sessions: output from the log, as before.
            Err(AttachError::Unsupported) if !stdin => {
                self.attach_output(pod, container, instance, sink)
            }
            Err(AttachError::Unsupported) => Err(status::bad_request(format!(
                "container {container} runs under an older shim without attach; restart the pod to attach with stdin"
            ))),
            Err(AttachError::Shim(e)) => Err(status::internal(e.to_string())),
            Ok(()) => Ok(()),
        }
    }

    fn node_facts(&self) -> NodeFacts {
        let mut conditions = self.view.node_conditions();
        conditions.extend(
            self.node_shutdown
                .get()
                .and_then(|s| s.ready_condition(jiff::Timestamp::now())),
        );
        NodeFacts {
            conditions,
            ..self.facts.clone()
        }
    }

    fn set_deletion_grace(&self, uid: &str, grace: Duration) {
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

    fn objects(&self) -> Vec<nodelet_objects::workload::Object> {
        self.workloads
            .get()
            .map(|w| w.objects())
            .unwrap_or_default()
    }

    fn workload_dir(&self) -> Option<&Path> {
        self.workloads.get().map(|w| w.dir())
    }
}

fn container_status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let st = pod.status.as_ref()?;
    st.container_statuses
        .iter()
        .flatten()
        .chain(st.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
}

/// The restart count of `container`'s running instance, if it runs.
fn running_instance(pod: &Pod, container: &str) -> Option<u32> {
    let cs = container_status(pod, container)?;
    cs.state.as_ref()?.running.as_ref()?;
    u32::try_from(cs.restart_count).ok()
}

/// Why an instance can't be read, in the kubelet's words.
fn no_logs(pod: &Pod, container: &str, which: Which) -> Box<Status> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Which::Previous(_) = which {
        return status::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        ));
    }
    let waiting = container_status(pod, container)
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone());
    let reason = waiting.unwrap_or_else(|| "ContainerCreating".to_string());
    status::bad_request(format!(
        "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
    ))
}

/// `NodeState::container_log` over the CRI log files under `pod_logs_dir`: the instance
/// `req` asks for, read whole; or, when following the running instance, its lines and then
/// new ones until the instance stops running (as `node` reports the pod), the pod goes away or
/// the client hangs up. Blocking.
pub fn container_log<S: NodeState + ?Sized>(
    node: &S,
    pod_logs_dir: &Path,
    pod: &Pod,
    req: &LogRequest,
    sink: LogSink<'_>,
) -> Result<(), Box<Status>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let dir = logs::container_dir(pod_logs_dir, ns, name, uid, &req.container);
    let running = running_instance(pod, &req.container);
    // `--previous` of a finished container is the instance before its last one, as the
    // kubelet answers (a Completed pod that never restarted has no previous instance).
    let anchor = match req.which {
        Which::Previous(_) => running.or_else(|| {
            let cs = container_status(pod, &req.container)?;
            cs.state.as_ref()?.terminated.as_ref()?;
            u32::try_from(cs.restart_count).ok()
        }),
        Which::Current => running,
    };
    let instance = match logs::select_instance(&dir, anchor, req.which) {
        Ok(i) => i,
        Err(LogError::NoInstance { .. }) => return Err(no_logs(pod, &req.container, req.which)),
        Err(e) => return Err(status::internal(e.to_string())),
    };
    let follow = req.follow && req.which == Which::Current && running == Some(instance);
    if !follow {
        return match logs::read(&dir, instance, &req.opts) {
            Ok(entries) => {
                sink(logs::render(&entries, req.timestamps));
                Ok(())
            }
            // The running instance has not written a line yet.
            Err(LogError::NoInstance { .. }) => Ok(()),
            Err(e) => Err(status::internal(e.to_string())),
        };
    }
    let (mut f, initial) = match logs::Follower::open(&dir, instance, &req.opts) {
        Ok(x) => x,
        Err(e) => {
            sink(format!("error: {e}\n").into_bytes());
            return Ok(());
        }
    };
    // The first chunk goes out even when empty: the client gets its response at once.
    if !sink(logs::render(&initial, req.timestamps)) {
        return Ok(());
    }
    loop {
        std::thread::sleep(FOLLOW_POLL);
        if !sink(Vec::new()) {
            return Ok(()); // the client hung up
        }
        let still = node
            .pod(ns, name)
            .is_some_and(|p| running_instance(&p, &req.container) == Some(instance));
        // After the instance ended, one more poll picks up its last lines.
        match f.poll() {
            Ok(entries) => {
                if !entries.is_empty() && !sink(logs::render(&entries, req.timestamps)) {
                    return Ok(());
                }
                // Said where it happened, in the stream (as the follow's own errors are).
                for skip in f.take_skips() {
                    tracing::warn!(pod = %name, container = %req.container, "logs -f: {skip}");
                    if !sink(format!("nodelet: {skip}\n").into_bytes()) {
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                sink(format!("error: {e}\n").into_bytes());
                return Ok(());
            }
        }
        if !still {
            return Ok(());
        }
    }
}

enum AttachError {
    /// The shim does not know `Attach` (it predates it).
    Unsupported,
    Shim(nodelet_shim_protocol::protocol::ClientError),
}

/// An attach session through the pod's shim at `sock` to container `id`: frames from the shim
/// into `sink`, `input` to the shim on a thread of its own. Ends when the shim ends the
/// session (the container stopped), the sink says stop, or `input` disconnects (the client
/// went: the socket is shut down, which the shim takes as the end of this session's input).
fn attach_shim(
    sock: &Path,
    id: &str,
    stdin: bool,
    input: std::sync::mpsc::Receiver<AttachInput>,
    sink: OutputSink<'_>,
) -> Result<(), AttachError> {
    use nodelet_shim_protocol::attach as frames;
    use nodelet_shim_protocol::protocol::{Client, ClientError};
    use std::io::Write;
    let attached = Client::connect(sock)
        .and_then(|c| c.attach(id, stdin))
        .map_err(|e| match e {
            ClientError::Shim(m) if m.contains("unknown variant") => AttachError::Unsupported,
            e => AttachError::Shim(e),
        })?;
    let mut reader = attached.reader;
    let writer = attached.writer;
    let shut = writer.try_clone().map_err(|source| {
        AttachError::Shim(ClientError::Io {
            path: sock.to_path_buf(),
            source,
        })
    })?;
    let sender = std::thread::Builder::new()
        .name("attach-input".into())
        .spawn(move || {
            let mut w = writer;
            for i in input {
                let f = match i {
                    AttachInput::Stdin(data) => frames::frame(frames::STDIN, &data),
                    AttachInput::CloseStdin => frames::frame(frames::CLOSE_STDIN, &[]),
                    AttachInput::Resize { width, height } => frames::resize_frame(height, width),
                };
                if w.write_all(&f).is_err() {
                    return;
                }
            }
            // The client went: so does the session.
            let _ = w.shutdown(std::net::Shutdown::Both);
        });
    loop {
        match frames::read_frame(&mut reader) {
            Ok(Some((frames::STDOUT, data))) => {
                if !sink(OutputStream::Stdout, data) {
                    break;
                }
            }
            Ok(Some((frames::STDERR, data))) => {
                if !sink(OutputStream::Stderr, data) {
                    break;
                }
            }
            Ok(Some((frames::END, _))) | Ok(None) | Err(_) => break,
            Ok(Some(_)) => {}
        }
    }
    let _ = shut.shutdown(std::net::Shutdown::Both);
    if let Ok(t) = sender {
        // The input thread ends once the client's side disconnects `input`; not waited for.
        drop(t);
    }
    Ok(())
}

/// `NodeState::attach_output` over the CRI log files under `pod_logs_dir`: what `instance` of
/// `container` writes from now on (the shim records it), until it stops running (as `node`
/// reports the pod), the pod goes away or the sink says stop. Blocking.
pub fn attach_output<S: NodeState + ?Sized>(
    node: &S,
    pod_logs_dir: &Path,
    pod: &Pod,
    container: &str,
    instance: u32,
    sink: OutputSink<'_>,
) -> Result<(), Box<Status>> {
    use nodelet_shim_protocol::crilog::Stream;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let dir = logs::container_dir(pod_logs_dir, ns, name, uid, container);
    let opts = logs::ReadOptions {
        tail: Some(0),
        since: None,
    };
    let (mut f, _) =
        logs::Follower::open(&dir, instance, &opts).map_err(|e| status::internal(e.to_string()))?;
    loop {
        std::thread::sleep(FOLLOW_POLL);
        if !sink(OutputStream::Stdout, Vec::new()) {
            return Ok(()); // the client hung up
        }
        let still = node
            .pod(ns, name)
            .is_some_and(|p| running_instance(&p, container) == Some(instance));
        // After the instance ended, one more poll picks up its last lines.
        for e in f.poll().unwrap_or_default() {
            let stream = if e.stream == Stream::Stderr {
                OutputStream::Stderr
            } else {
                OutputStream::Stdout
            };
            let mut line = e.text;
            line.push(b'\n');
            if !sink(stream, line) {
                return Ok(());
            }
        }
        if !still {
            return Ok(());
        }
    }
}
