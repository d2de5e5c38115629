//! One pod's task: set the sandbox up, then on every sync read the shim's container states,
//! ask the plan ([`super::plan`]) what to do — init containers strictly in order, the app
//! containers, restarts per restartPolicy with CrashLoopBackOff, a new sandbox — and carry it
//! out (shim calls, events), run the probes that are due, publish the status; on stop, tear
//! the pod down.
//!
//! Syncs are event-driven once a pod has settled (every container running or finished for
//! good, nothing waiting): the task sleeps on the shim's exit stream (`Watch`) until a
//! container ends, a probe is due, the manager sends a command, or the idle resync period
//! passes. While anything is pending (set-up, CrashLoopBackOff), or when the shim cannot be
//! watched, it syncs every sync period. A sync that failed (sandbox, volumes, an image pull or
//! a container's creation) is retried 10–15 s later, as the kubelet's pod worker requeues a
//! failed sync, with one event per real attempt: an image in its pull back-off is not pulled
//! (a Normal `BackOff` event instead of `Pulling`). A pod with configMap, secret or projected
//! volumes, or whose environment names a ConfigMap or Secret, also wakes when the node's
//! ConfigMaps or Secrets change, and rewrites those volumes' files (env is not updated, as in
//! Kubernetes); downward API files follow label and annotation edits at the next sync.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodStatus;
use nodelet_objects::config_sources::ConfigObjects;
use nodelet_shim_protocol::protocol::ContainerInfo;
use tokio::sync::watch;

use crate::backoff;
use crate::podspec::{
    self, ContainerRef, PodContext, PodFiles, PodVolumes, SandboxNamespaces, SpecErrorKind,
};
use crate::sandbox::{NamespaceOptions, dns, paths};
use crate::shutdown;
use nodelet_objects::events::EventReason;
use nodelet_objects::status::{self, PodRuntime};

use super::containers;
use super::ctx::Ctx;
use super::plan::{self, Action, Observed, Sandbox};
use super::setup;
use super::shim;
use super::state::{ContainerSlot, Ended, PodState, grace_period};

/// What the manager tells a pod task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Run,
    /// Tear the pod down and end.
    Stop,
    /// End without touching the pod (agent shutdown).
    Detach,
    /// The eviction manager evicts the pod (message and grace in the view): kill its
    /// containers, free their writable layers and emptyDirs, phase Failed, reason Evicted.
    Evict,
    /// The pod was deleted through the API and finalizers keep its manifest: stop its
    /// containers (the deletion's grace period) and keep it, terminal, until `Stop`.
    Terminate,
    /// The node shuts down (`shutdown::logind`): stop the containers with this grace period,
    /// phase Failed, reason `Terminated`; then, as any terminal pod, release the sandbox.
    Shutdown(Duration),
}

struct Worker {
    ctx: Arc<Ctx>,
    st: PodState,
    volumes: Option<PodVolumes>,
    /// The pod as last published: the view's copy, shared (its status is the previous one).
    prev: Option<Arc<k8s_openapi::api::core::v1::Pod>>,
    /// `status.json` holds `prev`'s status (a failed write is retried at the next
    /// publication).
    written: bool,
    /// Per-slot key of the last waiting reason reported as an event (no repeats per tick).
    reported: HashMap<String, String>,
    sandbox_error: Option<String>,
    /// Probes of the running app containers, by index.
    probes: HashMap<ContainerRef, super::probes::Probes>,
    /// When this agent first saw a pod it creates (not an adopted one), until its start
    /// latency is recorded.
    seen: Option<std::time::Instant>,
    /// The last sync changed nothing (no status to recompute).
    quiet: bool,
    /// The last sync failed (sandbox, volumes, a container's image or creation): the next
    /// attempt waits the kubelet's worker back-off instead of one sync period.
    sync_failed: bool,
    /// The last sync saw a container end: its termination (Error, OOMKilled, Completed) is
    /// shown for one sync period before it is restarted, as between the kubelet's PLEG relist
    /// and its next sync.
    just_ended: bool,
    /// The shim's exit stream, while connected.
    watch: Option<shim::Watch>,
    /// The ConfigMaps and Secrets the volumes' files were last written from.
    config_seen: Option<Arc<ConfigObjects>>,
    /// Changes of the ConfigMaps and Secrets, for a pod with volumes of their files.
    config_changes: Option<watch::Receiver<Arc<ConfigObjects>>>,
    /// The labels and annotations the downward API files were last written from (pods with
    /// such files only).
    metadata_seen: Option<(Labels, Labels)>,
    /// The pod has downward API files (a downwardAPI volume or projected source).
    uses_downward: bool,
}

type Labels = Option<std::collections::BTreeMap<String, String>>;

/// Pod `st`'s task: [`run`], then `done` raised (the manager forgets a stopped pod and
/// starts its replacement only then). The worker is set up here, before the future exists,
/// and boxed: an async fn keeps its arguments beside the futures it awaits, so a `PodState`
/// passed down by value would be stored twice in every pod's task.
pub fn task(
    ctx: Arc<Ctx>,
    st: PodState,
    cmd: watch::Receiver<Command>,
    wait_for: Vec<watch::Receiver<bool>>,
    done: watch::Sender<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let w = Box::new(Worker::new(ctx, st));
    async move {
        run(w, cmd, wait_for).await;
        let _ = done.send(true);
    }
}

impl Worker {
    /// The worker of pod `st`.
    fn new(ctx: Arc<Ctx>, st: PodState) -> Worker {
        let mut w = Worker {
            ctx: ctx.clone(),
            st,
            volumes: None,
            prev: None,
            written: false,
            reported: HashMap::new(),
            sync_failed: false,
            sandbox_error: None,
            probes: HashMap::new(),
            seen: None,
            quiet: false,
            just_ended: false,
            watch: None,
            config_seen: None,
            config_changes: None,
            metadata_seen: None,
            uses_downward: false,
        };
        let uses_objects = w.st.pod.pod.spec.as_ref().is_some_and(|s| {
            s.volumes
                .iter()
                .flatten()
                .any(|v| v.config_map.is_some() || v.secret.is_some() || v.projected.is_some())
                || s.init_containers
                    .iter()
                    .flatten()
                    .chain(&s.containers)
                    .any(references_objects)
        });
        if uses_objects {
            w.config_changes = Some(ctx.config.subscribe());
        }
        w.uses_downward =
            w.st.pod
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .is_some_and(|vs| {
                    vs.iter().any(|v| {
                        v.downward_api.is_some()
                            || v.projected.iter().any(|p| {
                                p.sources.iter().flatten().any(|s| s.downward_api.is_some())
                            })
                    })
                });
        if w.st.shim_pid.is_none() {
            w.seen = Some(std::time::Instant::now());
        }
        w
    }
}

/// Runs the pod of worker `w` until told to stop or detach. `wait_for` are the done signals
/// of pods this one replaces: their teardown finishes before this pod's set-up starts. An
/// idle pod's task holds this future: whatever it awaits unboxed is in every pod's task.
async fn run(
    mut w: Box<Worker>,
    mut cmd: watch::Receiver<Command>,
    wait_for: Vec<watch::Receiver<bool>>,
) {
    let ctx = w.ctx.clone();
    w.st.restore_backoff(&mut ctx.backoff.lock().unwrap_or_else(|p| p.into_inner()));
    w.publish();
    // A static pod is never scheduled: no `Scheduled` event, as with the kubelet.
    if w.st.shim_pid.is_none() && !w.st.released {
        super::view::warn_ignored_fields(&w.ctx.view, &w.st.pod);
    }
    for mut d in wait_for {
        let _ = d.wait_for(|done| *done).await;
    }
    if w.st.released {
        // Adopted after its release began: finish it.
        Box::pin(w.release_leftovers()).await;
    }
    loop {
        let c = *cmd.borrow();
        match c {
            Command::Detach => return,
            Command::Stop => {
                Box::pin(w.stop()).await;
                return;
            }
            Command::Run => {}
            Command::Evict => Box::pin(w.evict()).await,
            Command::Terminate => Box::pin(w.terminate()).await,
            Command::Shutdown(grace) => Box::pin(w.shut_down(grace)).await,
        }
        // Boxed: the sync's state (pulls, starts, teardowns) exists only while it runs, and
        // each idle pod task stays small.
        Box::pin(w.sync()).await;
        if !w.quiet {
            w.publish();
        }
        if !w.st.released && w.terminal() {
            Box::pin(w.release()).await;
        }
        if w.watch.is_none() && w.st.sandbox_ready && w.st.failed.is_none() && !w.st.deleted {
            // Exits are pushed from now on; sync once more at once, so that none that fell
            // between the last List and the subscription goes unseen.
            // Boxed: the connection's set-up is not kept in the idle task.
            if let Ok(watch) = Box::pin(shim::Watch::open(&w.st.shim_socket())).await {
                w.watch = Some(watch);
                continue;
            }
        }
        let wake = w.next_wake(ctx.opts.sync_period, ctx.opts.idle_resync);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            ev = next_exit(&mut w.watch) => {
                if let Err(e) = ev {
                    tracing::debug!(pod = %w.uid(), "{e}");
                    w.watch = None;
                }
            }
            r = cmd.changed() => { if r.is_err() { return; } }
            _ = config_changed(&mut w.config_changes) => {}
        }
    }
}

/// The container's environment names a ConfigMap or Secret: a container waiting for a
/// missing one starts as soon as it appears.
fn references_objects(c: &k8s_openapi::api::core::v1::Container) -> bool {
    c.env_from
        .iter()
        .flatten()
        .any(|e| e.config_map_ref.is_some() || e.secret_ref.is_some())
        || c.env.iter().flatten().any(|e| {
            e.value_from
                .as_ref()
                .is_some_and(|v| v.config_map_key_ref.is_some() || v.secret_key_ref.is_some())
        })
}

/// How long a pod task waits after a failed sync: the kubelet's pod worker requeues a pod
/// whose sync failed `backOffPeriod` (10 s) later, jittered by up to half of it, so a pod
/// that cannot be set up is tried (and reported) about every 10–15 s, not every tick. A
/// sync period above 10 s (tests never set one) stretches it.
fn error_backoff(sync_period: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    const BACK_OFF: Duration = Duration::from_secs(10);
    let base = BACK_OFF.max(sync_period);
    // Any source of randomness does: the hasher's keys are random per instance.
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    base + base.mul_f64((r % 1000) as f64 / 2000.0)
}

/// The next change of the ConfigMaps and Secrets; never resolves without a receiver.
async fn config_changed(rx: &mut Option<watch::Receiver<Arc<ConfigObjects>>>) {
    match rx {
        Some(r) => {
            if r.changed().await.is_err() {
                // The manager is gone: nothing will change any more.
                *rx = None;
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending().await,
    }
}

/// The next exit on the shim's watch; never resolves without one.
async fn next_exit(watch: &mut Option<shim::Watch>) -> Result<String, super::error::Error> {
    match watch {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

fn ts(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

impl Worker {
    fn uid(&self) -> String {
        self.st.pod.uid().to_string()
    }

    fn event(&self, reason: EventReason, message: String) {
        self.ctx.view.event(self.st.pod.uid(), reason, message);
    }

    async fn stop(&mut self) {
        // A deletion through the API may shorten it (`kubectl delete --grace-period`).
        let grace = self
            .ctx
            .view
            .deletion_grace(self.st.pod.uid())
            .unwrap_or_else(|| grace_period(&self.st));
        self.report_killing();
        let uid = self.uid();
        // From here on the pod is going away: an agent killed mid-teardown finishes it at
        // its next start instead of adopting (and restarting) what it had already stopped,
        // also when a manifest with the same UID came back meanwhile (a new pod, as on a
        // kubelet).
        let marker = super::state::terminating_marker(&self.ctx.cfg.root_dir, &uid);
        if let Err(e) = std::fs::write(&marker, b"") {
            tracing::warn!(pod = %uid, "{}: {e}", marker.display());
        }
        super::terminate::teardown_pod(&self.ctx, &uid, Some(self.st.clone()), grace).await;
        self.ctx
            .backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget_prefix(&format!("{uid}/"));
        let names: Vec<&str> = self.st.slots().map(|s| s.name.as_str()).collect();
        self.ctx
            .metrics
            .forget_pod(self.st.pod.namespace(), self.st.pod.name(), &names);
        self.ctx.view.remove(&uid);
    }

    /// Evicts the pod (once): a Warning `Evicted` event with the eviction manager's message,
    /// its containers stopped with the eviction's grace period, their writable layers and
    /// the pod's volumes removed (what evicting for disk must reclaim; the kubelet's container
    /// GC and volume manager do it for an evicted pod), then phase Failed with reason
    /// `Evicted`, kept in the pod's state so a restarted agent shows it the same. Then, as
    /// any terminal pod, its sandbox is released (`release`).
    async fn evict(&mut self) {
        if self.st.failed.as_ref().is_some_and(|f| f.0 == "Evicted") {
            return;
        }
        let uid = self.uid();
        let Some((message, grace)) = self.ctx.view.eviction(&uid) else {
            return;
        };
        tracing::warn!(pod = %self.st.pod.full_name(), "evicted: {message}");
        self.event(EventReason::Evicted, message.clone());
        self.report_killing();
        let root = self.ctx.cfg.root_dir.clone();
        self.stop_and_observe(grace).await;
        self.st.failed = Some(("Evicted".into(), message));
        self.probes.clear();
        let ids: Vec<String> = self.st.slots().filter_map(|s| s.id.clone()).collect();
        for id in ids {
            containers::remove(&self.ctx, &self.st, &id).await;
        }
        let vols = setup::volumes_dir(&root, &uid);
        if let Err(e) = tokio::task::spawn_blocking(move || podspec::volumes::teardown(&vols))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        {
            tracing::warn!(pod = %uid, "evicted pod's volumes: {e}");
        }
        if let Err(e) = self.st.save(&root) {
            tracing::warn!(pod = %uid, "{e}");
        }
        self.publish();
    }

    /// Stops the containers of a pod deleted through the API whose manifest finalizers keep
    /// (once): `Killing` events, the deletion's grace period, then a terminal phase that
    /// the workload controllers read (a Job counts the pod and removes its finalizer; then
    /// the manifest goes and `Stop` tears the sandbox down).
    async fn terminate(&mut self) {
        if self.st.deleted {
            return;
        }
        let grace = self
            .ctx
            .view
            .deletion_grace(self.st.pod.uid())
            .unwrap_or_else(|| grace_period(&self.st));
        self.report_killing();
        let root = self.ctx.cfg.root_dir.clone();
        if self.st.sandbox_ready {
            self.stop_and_observe(grace).await;
        }
        self.st.deleted = true;
        self.probes.clear();
        if let Err(e) = self.st.save(&root) {
            tracing::warn!(pod = %self.uid(), "{e}");
        }
        self.publish();
    }

    /// Stops the pod for the node's shutdown (once), as the kubelet's shutdown manager kills
    /// it: `Killing` events, preStop hooks and the stop signal with `grace` (the group's, or
    /// the pod's own when shorter), then phase Failed, reason `Terminated` and the kubelet's
    /// message (and a DisruptionTarget condition, `publish`), kept in the pod's state. A pod
    /// failed so is not adopted by the next agent: it starts again from its manifest, as a
    /// kubelet runs a static pod again after the reboot (`Manager::recover`).
    async fn shut_down(&mut self, grace: Duration) {
        if self
            .st
            .failed
            .as_ref()
            .is_some_and(|f| f.0 == shutdown::REASON)
        {
            return;
        }
        tracing::info!(pod = %self.st.pod.full_name(), "shutdown manager killing pod with gracePeriod {}s", grace.as_secs());
        self.report_killing();
        let root = self.ctx.cfg.root_dir.clone();
        if self.st.sandbox_ready {
            self.stop_and_observe(grace).await;
        }
        self.st.failed = Some((shutdown::REASON.into(), shutdown::MESSAGE.into()));
        self.probes.clear();
        if let Err(e) = self.st.save(&root) {
            tracing::warn!(pod = %self.uid(), "{e}");
        }
        tracing::info!(pod = %self.st.pod.full_name(), "shutdown manager finished killing pod");
        self.publish();
    }

    /// A `Killing` event for each container that still runs (the kubelet's, before it stops
    /// them).
    fn report_killing(&self) {
        for s in self.st.slots() {
            if s.id.is_some() && s.ended.is_none() {
                self.event(
                    EventReason::Killing,
                    format!("Stopping container {}", s.name),
                );
            }
        }
    }

    /// Stops the pod's containers (preStop hooks, stop signals, `grace`, then SIGKILL) and
    /// records their exits as the shim saw them before it deleted them (a list read after
    /// the delete would leave them `ContainerStatusUnknown`).
    async fn stop_and_observe(&mut self, grace: Duration) {
        let sock = self.st.shim_socket();
        let root = self.ctx.cfg.root_dir.clone();
        let infos =
            setup::stop_containers(&sock, &self.st.sandbox_id, grace, Some((&root, &self.st)))
                .await;
        if infos.is_empty() {
            return;
        }
        let by_id: HashMap<String, ContainerInfo> =
            infos.into_iter().map(|c| (c.id.clone(), c)).collect();
        for slot in self.st.init.iter_mut().chain(self.st.containers.iter_mut()) {
            observe(slot, &by_id);
        }
    }

    /// The status last published.
    fn prev_status(&self) -> Option<&PodStatus> {
        self.prev.as_deref()?.status.as_ref()
    }

    /// The published phase is Succeeded or Failed.
    fn terminal(&self) -> bool {
        self.prev_status()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed")
    }

    /// Releases a terminal pod's sandbox, as the kubelet kills a pod once it is terminal:
    /// what still runs (a sidecar) is stopped, the shim and pause end, the network is torn
    /// down (the IP lease goes back; the status keeps showing the IP, as the kubelet keeps
    /// the last IPs of a pod whose sandbox is gone), container instances, volumes and the
    /// pod cgroup are removed. State, status and logs stay until the pod is deleted, whose
    /// teardown retries a DEL that failed here.
    async fn release(&mut self) {
        let uid = self.uid();
        tracing::info!(pod = %self.st.pod.full_name(), "terminal: releasing the sandbox");
        self.watch = None;
        self.probes.clear();
        // Recorded first: an agent killed halfway adopts the pod as released and finishes
        // the release (`release_leftovers`) instead of seeing a dead sandbox to re-create.
        self.st.released = true;
        if let Err(e) = self.st.save(&self.ctx.cfg.root_dir) {
            tracing::warn!(pod = %uid, "{e}");
        }
        self.release_leftovers().await;
    }

    /// What [`Self::release`] removes, whatever is left of it (idempotent; quick when
    /// nothing is).
    async fn release_leftovers(&mut self) {
        let uid = self.uid();
        let grace = grace_period(&self.st);
        if let Err(e) = setup::teardown(
            &self.ctx,
            &uid,
            Some(self.st.clone()),
            grace,
            setup::Scope::Sandbox,
        )
        .await
        {
            tracing::warn!(pod = %uid, "releasing a terminal pod's sandbox: {e}");
        }
        // The pod cgroup, and the volumes as the kubelet unmounts a terminated pod's (a
        // memory-backed emptyDir frees its memory).
        let cg = self.st.cgroup_parent.clone();
        let vols = setup::volumes_dir(&self.ctx.cfg.root_dir, &uid);
        self.volumes = None;
        let r = tokio::task::spawn_blocking(move || {
            let cg = super::cgroup::remove(&cg).map_err(|e| e.to_string());
            let vols = podspec::volumes::teardown(&vols).map_err(|e| e.to_string());
            cg.and(vols)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = r {
            tracing::warn!(pod = %uid, "releasing a terminal pod's cgroup and volumes: {e}");
        }
        if self.st.sandbox_ready || self.st.shim_pid.is_some() {
            self.st.sandbox_ready = false;
            self.st.shim_pid = None;
            self.st.pause_pid = None;
            if let Err(e) = self.st.save(&self.ctx.cfg.root_dir) {
                tracing::warn!(pod = %uid, "{e}");
            }
        }
        // PodReadyToStartContainers is False now.
        self.publish();
    }

    /// Nothing is pending that only a timer would notice: the shim is watched, the sandbox
    /// is up, and every container is running or finished for good (or the pod failed).
    fn settled(&self) -> bool {
        if !self.st.sandbox_ready || self.sandbox_error.is_some() || self.just_ended {
            return false;
        }
        if self.st.failed.is_some() || self.st.deleted || self.st.released {
            return true;
        }
        self.watch.is_some()
            && self.volumes.is_some()
            && self.st.slots().all(|s| s.waiting.is_none())
    }

    /// When to sync next without an event: one sync period away while anything is pending,
    /// else at the next due probe or the idle resync, whichever is first.
    fn next_wake(&self, sync_period: Duration, idle_resync: Duration) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let mut wake = if self.sync_failed {
            now + error_backoff(sync_period)
        } else if !self.settled() {
            return now + sync_period;
        } else {
            now + idle_resync.max(sync_period)
        };
        for p in self.probes.values() {
            if let Some(due) = p.next_due() {
                wake = wake.min(tokio::time::Instant::from_std(due));
            }
        }
        wake
    }

    fn pod_context(&self) -> PodContext {
        let cfg = &self.ctx.cfg;
        let uid = self.st.pod.uid();
        let spec = self.st.pod.pod.spec.clone().unwrap_or_default();
        let ns = NamespaceOptions::from_pod_spec(&spec);
        let pause = self.st.pause_pid.unwrap_or_default();
        let proc_ns = |k: &str| Some(PathBuf::from(format!("/proc/{pause}/ns/{k}")));
        let files = dns::files(&cfg.root_dir, uid);
        PodContext {
            namespaces: SandboxNamespaces {
                net: ns
                    .needs_network()
                    .then(|| paths::netns_pin_path(&cfg.run_dir, uid)),
                ipc: proc_ns("ipc"),
                uts: proc_ns("uts"),
                pid: proc_ns("pid"),
            },
            files: PodFiles {
                hosts: Some(files.hosts),
                resolv_conf: Some(files.resolv_conf),
                hostname: None,
                shm: None,
            },
            hostname: crate::sandbox::bundle::pod_hostname(
                self.st.pod.name(),
                spec.hostname.as_deref(),
            ),
            pod_ips: self.st.pod_ip.iter().cloned().collect(),
            host_ips: self.ctx.node_ip.iter().map(|ip| ip.to_string()).collect(),
            cgroup_parent: self.st.cgroup_parent.clone(),
            node: self.ctx.node,
            pids_limit: None,
            seccomp_root: cfg.root_dir.join("seccomp"),
            oom_score_adj_floor: podspec::resources::oom_score_adj_floor(),
            no_swap: podspec::resources::swap_controller_available(),
            config: self.ctx.config_objects(),
            apparmor: crate::apparmor::Host::detect(&cfg.root_dir),
        }
    }

    async fn sync(&mut self) {
        self.quiet = false;
        self.sync_failed = false;
        if self.st.deleted || self.st.released {
            // Terminal: nothing starts again; the status was published when it stopped.
            self.quiet = true;
            return;
        }
        if !self.st.sandbox_ready {
            let t0 = std::time::Instant::now();
            let res = setup::sandbox(&self.ctx, &mut self.st).await;
            self.ctx
                .metrics
                .runtime_operation("run_podsandbox", t0.elapsed(), res.is_ok());
            match res {
                Ok(()) => self.sandbox_error = None,
                Err(e) => {
                    // One event per attempt (the store counts repeats), attempts a worker
                    // back-off apart.
                    self.event(
                        EventReason::FailedCreatePodSandBox,
                        format!("Failed to create pod sandbox: {e}"),
                    );
                    self.sandbox_error = Some(e.to_string());
                    self.sync_failed = true;
                    return;
                }
            }
        }
        if self.st.failed.is_some() {
            return;
        }
        let objects = self.ctx.config_objects();
        if self.volumes.is_none() {
            match setup::volumes(&self.ctx, &self.st, &objects) {
                Ok(v) => {
                    self.volumes = Some(v);
                    self.config_seen = Some(objects.clone());
                    let m = &self.st.pod.pod.metadata;
                    self.metadata_seen = self
                        .uses_downward
                        .then(|| (m.labels.clone(), m.annotations.clone()));
                }
                Err(e) => {
                    let m = e.to_string();
                    // Volume types a node without an API server can never provide: the pod
                    // fails with a reason instead of waiting forever.
                    if e.kind == SpecErrorKind::UnsupportedVolume {
                        self.event(EventReason::FailedMount, m.clone());
                        self.st.failed = Some(("UnsupportedVolume".into(), m));
                        if let Err(e) = self.st.save(&self.ctx.cfg.root_dir) {
                            tracing::warn!(pod = %self.uid(), "{e}");
                        }
                        return;
                    }
                    self.event(EventReason::FailedMount, m.clone());
                    self.sandbox_error = Some(m);
                    self.sync_failed = true;
                    return;
                }
            }
        }
        let metadata = if self.uses_downward {
            self.ctx.view.labels_and_annotations(self.st.pod.uid())
        } else {
            None
        };
        let objects_changed = self
            .config_seen
            .as_ref()
            .is_some_and(|seen| !Arc::ptr_eq(seen, &objects));
        let metadata_changed = metadata.is_some() && metadata != self.metadata_seen;
        if objects_changed || metadata_changed {
            // The ConfigMaps or Secrets, or the labels, changed: the volumes' files follow (a
            // volume that cannot keeps its files, as on a kubelet, and says why).
            let mut pod = self.st.pod.pod.clone();
            if let Some((labels, annotations)) = &metadata {
                pod.metadata.labels = labels.clone();
                pod.metadata.annotations = annotations.clone();
            }
            for e in setup::refresh_volumes(&self.ctx, &self.st, &pod, &objects) {
                self.event(EventReason::FailedMount, e.to_string());
            }
            self.config_seen = Some(objects);
            if metadata.is_some() {
                self.metadata_seen = metadata;
            }
        }
        let listed = shim::list(&self.st.shim_socket()).await;
        let sandbox_dead = match &listed {
            Ok(l) => l
                .iter()
                .find(|c| c.id == self.st.sandbox_id)
                .is_none_or(|c| c.exit.is_some() || c.status == "stopped"),
            Err(_) => !self
                .st
                .shim_pid
                .is_some_and(|p| setup::is_shim(p, &self.st.shim_dir)),
        };
        let sandbox = if sandbox_dead {
            Sandbox::Dead
        } else {
            Sandbox::Running
        };
        let infos = match listed {
            Ok(l) => Some(l),
            Err(_) if sandbox_dead => None,
            Err(e) => {
                let m = format!("pod shim unreachable: {e}");
                if self.sandbox_error.as_deref() != Some(&m) {
                    self.event(EventReason::FailedSync, m.clone());
                }
                self.sandbox_error = Some(m);
                return;
            }
        };
        // Everything a sync can change (the pod itself never changes here).
        let changing = |st: &PodState| {
            (
                st.init.clone(),
                st.containers.clone(),
                st.failed.clone(),
                (st.shim_pid, st.pause_pid, st.sandbox_ready),
            )
        };
        let before = changing(&self.st);
        if let Some(infos) = infos {
            let by_id: HashMap<String, ContainerInfo> =
                infos.into_iter().map(|c| (c.id.clone(), c)).collect();
            let mut oom = vec![];
            let mut ended = vec![];
            let inits = self.st.init.len();
            for (n, slot) in self
                .st
                .init
                .iter_mut()
                .chain(self.st.containers.iter_mut())
                .enumerate()
            {
                let was_ended = slot.ended.is_some();
                if observe(slot, &by_id) {
                    oom.push(slot.name.clone());
                }
                if !was_ended && slot.ended.is_some() {
                    ended.push(match n.checked_sub(inits) {
                        None => ContainerRef::Init(n),
                        Some(i) => ContainerRef::App(i),
                    });
                }
            }
            if !ended.is_empty() {
                super::termination::fill(&self.ctx, &mut self.st, &ended).await;
            }
            self.just_ended = !ended.is_empty();
            // Of a dead sandbox, only that it died is reported.
            for name in oom.into_iter().filter(|_| sandbox == Sandbox::Running) {
                self.event(
                    EventReason::OomKilling,
                    format!("Memory cgroup out of memory: container {name} was OOM-killed"),
                );
            }
        }
        // An exit is shown for one sync period before anything restarts it (as on a kubelet).
        if !self.just_ended {
            let now = Timestamp::now();
            let actions = {
                let observed = Observed {
                    sandbox,
                    init: &self.st.init,
                    containers: &self.st.containers,
                };
                let book = self.ctx.backoff.lock().unwrap_or_else(|p| p.into_inner());
                plan::compute_pod_actions(
                    &self.st.pod.pod,
                    self.st.pod.uid(),
                    &observed,
                    &book,
                    now,
                )
            };
            if !self.carry_out(actions, now).await {
                return; // the pod was killed: the next sync builds a new sandbox
            }
        }
        self.probe().await;
        self.quiet = changing(&self.st) == before;
        if !self.quiet
            && let Err(e) = self.st.save(&self.ctx.cfg.root_dir)
        {
            tracing::warn!(pod = %self.uid(), "{e}");
        }
    }

    /// Carries out one sync's actions (decided by [`plan::compute_pod_actions`]) in order.
    /// False when the pod was killed (its sandbox died).
    async fn carry_out(&mut self, actions: Vec<Action>, now: Timestamp) -> bool {
        for action in actions {
            match action {
                Action::KillPod => {
                    self.recreate_sandbox().await;
                    return false;
                }
                Action::Retire(which) => self.retire(which).await,
                Action::Start {
                    which,
                    restart_count,
                    after,
                } => self.start(which, restart_count, after, now).await,
                Action::BackOff {
                    which,
                    delay,
                    first,
                    ..
                } => self.back_off(which, delay, first),
                Action::FailPod { message, .. } => {
                    self.event(EventReason::Failed, message.clone());
                    self.st.failed = Some(("InitContainerFailed".into(), message));
                }
            }
        }
        true
    }

    /// The pause (or the whole shim) died: kill what is left of the pod's runtime, mark its
    /// running containers ended, and let the next sync build a new sandbox; containers are
    /// then restarted per restart policy.
    async fn recreate_sandbox(&mut self) {
        self.watch = None;
        self.event(
            EventReason::SandboxChanged,
            "Pod sandbox changed, it will be killed and re-created.".into(),
        );
        let uid = self.uid();
        if let Err(e) = setup::teardown(
            &self.ctx,
            &uid,
            Some(self.st.clone()),
            grace_period(&self.st),
            setup::Scope::Sandbox,
        )
        .await
        {
            tracing::warn!(pod = %uid, "sandbox teardown: {e}");
        }
        let now = Timestamp::now();
        for slot in self.st.init.iter_mut().chain(self.st.containers.iter_mut()) {
            if let (Some(id), None) = (&slot.id, &slot.ended) {
                slot.ended = Some(Ended {
                    exit_code: 137,
                    signal: Some(libc::SIGKILL),
                    reason: "Error".into(),
                    message: Some("the pod sandbox was re-created".into()),
                    started_at: slot.started_at,
                    finished_at: now,
                    container_id: Some(format!("nodelet://{id}")),
                });
                slot.waiting = None;
            }
        }
        // As the kubelet: a new sandbox runs the init containers again, in order, before
        // any app container restarts (their instances are gone with the old sandbox).
        for slot in self.st.init.iter_mut() {
            if slot.id.is_some() && slot.ended.is_some() {
                slot.last = slot.ended.take();
                slot.id = None;
                slot.started_at = None;
                slot.ready = None;
                slot.probe_started = None;
                slot.waiting = Some(("PodInitializing".into(), None));
            }
        }
        self.probes.clear();
        self.st.sandbox_ready = false;
        self.st.shim_pid = None;
        self.st.pause_pid = None;
        self.st.pod_ip = None;
        if let Err(e) = self.st.save(&self.ctx.cfg.root_dir) {
            tracing::warn!(pod = %uid, "{e}");
        }
    }

    /// One round of the probes of the app containers and of the sidecars (init containers
    /// with restartPolicy Always, whose probes the kubelet runs too).
    async fn probe(&mut self) {
        let pod_ip = self
            .st
            .pod_ip
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let sock = self.st.shim_socket();
        let grace = grace_period(&self.st);
        let spec = self.st.pod.pod.spec.clone().unwrap_or_default();
        let targets = spec
            .init_containers
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, c)| nodelet_objects::restart::is_sidecar(c))
            .map(|(i, c)| (ContainerRef::Init(i), c))
            .chain(
                spec.containers
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (ContainerRef::App(i), c)),
            );
        for (i, c) in targets {
            let s = self.slot_mut(i);
            let (Some(id), None, None) = (s.id.clone(), &s.ended, &s.waiting) else {
                self.probes.remove(&i);
                continue;
            };
            if c.liveness_probe.is_none()
                && c.readiness_probe.is_none()
                && c.startup_probe.is_none()
            {
                continue;
            }
            if self.probes.get(&i).is_none_or(|p| p.id != id) {
                let bundle = paths::pod_dir(&self.ctx.cfg.root_dir, self.st.pod.uid())
                    .join("containers")
                    .join(&id);
                let field = i.field().to_string();
                match super::probes::Probes::new(c, &field, &pod_ip, &id, &sock, &bundle) {
                    Ok(p) => {
                        self.probes.insert(i, p);
                    }
                    Err(e) => {
                        if self.reported.get(&c.name) != Some(&e) {
                            self.event(EventReason::Unhealthy, e.clone());
                            self.reported.insert(c.name.clone(), e);
                        }
                        continue;
                    }
                }
            }
            let Some(p) = self.probes.get_mut(&i) else {
                continue;
            };
            let round = p.round(&c.name).await;
            let (ready, started) = (p.ready(), p.started());
            for (r, m) in round.events {
                self.event(r, m);
            }
            let (ns, pod) = (self.st.pod.namespace(), self.st.pod.name());
            for (probe_type, ok, took) in round.runs {
                let result = if ok {
                    nodelet_api::metrics::ProbeResult::Successful
                } else {
                    nodelet_api::metrics::ProbeResult::Failed
                };
                self.ctx
                    .metrics
                    .probe(probe_type, result, ns, pod, &c.name, took);
            }
            if round.kill {
                // As any stop: preStop first, then SIGTERM, SIGKILL after what is left of
                // the grace period (the probe's own, if it sets one).
                let grace = round.kill_grace.unwrap_or(grace);
                let (root, pod) = (self.ctx.cfg.root_dir.clone(), self.st.pod.pod.clone());
                let (uid, ip, sock, id) = (self.uid(), pod_ip.clone(), sock.clone(), id.clone());
                tokio::spawn(async move {
                    let t = std::time::Instant::now();
                    super::hooks::pre_stop(
                        &root,
                        &pod,
                        &uid,
                        &ip,
                        &sock,
                        std::slice::from_ref(&id),
                        grace,
                    )
                    .await;
                    let rest = grace
                        .saturating_sub(t.elapsed())
                        .max(Duration::from_secs(2).min(grace));
                    let signal = super::stop_signal::of_instance(&root, &uid, &id);
                    super::probes::kill_with_grace(sock, id, rest, signal);
                });
            }
            let slot = self.slot_mut(i);
            slot.ready = Some(ready);
            slot.probe_started = Some(started);
        }
    }

    fn slot_mut(&mut self, which: ContainerRef) -> &mut ContainerSlot {
        match which {
            ContainerRef::Init(i) => &mut self.st.init[i],
            ContainerRef::App(i) => &mut self.st.containers[i],
        }
    }

    /// An ended instance that will be restarted: its termination becomes lastState, the
    /// instance is deleted.
    async fn retire(&mut self, which: ContainerRef) {
        let slot = self.slot_mut(which);
        let Some(ended) = slot.ended.take() else {
            return;
        };
        let id = slot.id.take();
        slot.last = Some(ended);
        slot.started_at = None;
        slot.ready = None;
        slot.probe_started = None;
        slot.waiting = Some(("ContainerCreating".into(), None));
        if let Some(id) = id {
            containers::remove(&self.ctx, &self.st, &id).await;
        }
    }

    /// The slot waits out its CrashLoopBackOff; `first`: report it.
    fn back_off(&mut self, which: ContainerRef, delay: Duration, first: bool) {
        let pod_name = self.st.pod.name().to_string();
        let s = self.slot_mut(which);
        let name = s.name.clone();
        let msg = format!(
            "back-off {} restarting failed container={name} pod={pod_name}",
            humanize(delay),
        );
        s.waiting = Some(("CrashLoopBackOff".into(), Some(msg)));
        if first {
            self.event(
                EventReason::BackOff,
                format!("Back-off restarting failed container {name} in pod {pod_name}"),
            );
        }
    }

    /// Starts instance `restart_count` of the slot; `after`: the finish time of the instance
    /// it replaces, whose back-off is committed now.
    async fn start(
        &mut self,
        which: ContainerRef,
        restart_count: i32,
        after: Option<Timestamp>,
        now: Timestamp,
    ) {
        let uid = self.uid();
        let slot = self.slot_mut(which).clone();
        if let Some(finished_at) = after {
            let key = backoff::key(&uid, &slot.name);
            let entry = {
                let mut book = self.ctx.backoff.lock().unwrap_or_else(|p| p.into_inner());
                // The plan saw no back-off at `now`: this records the restart.
                let _ = book.decide(&key, finished_at, now);
                book.entry(&key)
            };
            // Persisted with the pod's state: a restarted agent keeps waiting.
            self.slot_mut(which).backoff = entry;
        }
        let pctx = self.pod_context();
        let Some(volumes) = self.volumes.clone() else {
            return;
        };
        let ctx = self.ctx.clone();
        let events = super::view::PodEvents {
            view: ctx.view.clone(),
            uid: uid.clone(),
        };
        let t0 = std::time::Instant::now();
        let res = containers::start(
            &ctx,
            &self.st,
            &pctx,
            &volumes,
            which,
            restart_count,
            &events,
        )
        .await;
        ctx.metrics
            .runtime_operation("start_container", t0.elapsed(), res.is_ok());
        if res.is_ok() && restart_count > slot.restart_count {
            ctx.metrics.container_restarted(
                self.st.pod.namespace(),
                self.st.pod.name(),
                &slot.name,
            );
        }
        // A probed instance is not ready (nor, with a startup probe, started) before its
        // probes say so: a sidecar's startup probe holds back the containers after it.
        let (readiness, startup) = which
            .get(&self.st.pod.pod)
            .map(|c| (c.readiness_probe.is_some(), c.startup_probe.is_some()))
            .unwrap_or_default();
        let s = self.slot_mut(which);
        match res {
            Ok((id, image_id, started_at)) => {
                s.id = Some(id);
                s.image_id = image_id;
                s.restart_count = restart_count;
                s.started_at = Some(started_at.unwrap_or_else(Timestamp::now));
                s.waiting = None;
                s.ended = None;
                s.ready = (readiness || startup).then_some(false);
                s.probe_started = startup.then_some(false);
                let name = s.name.clone();
                self.reported.remove(&name);
            }
            Err(f) if f.reason == containers::StartReason::Run => {
                // containerd's StartContainer failed: the instance exists and ended
                // `StartError` with exit code 128 (started at the epoch), so it is restarted
                // per restart policy with the CrashLoopBackOff, as the kubelet does.
                let id = containers::container_id(&uid, which, &s.name, restart_count);
                s.id = Some(id.clone());
                s.restart_count = restart_count;
                s.started_at = None;
                s.waiting = None;
                s.ended = Some(Ended {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: Some(f.message.clone()),
                    started_at: Some(Timestamp::UNIX_EPOCH),
                    finished_at: Timestamp::now(),
                    container_id: Some(format!("nodelet://{id}")),
                });
                let name = s.name.clone();
                self.reported.remove(&name);
                self.event(EventReason::Failed, format!("Error: {}", f.message));
            }
            Err(f) => {
                // Retried a worker back-off later (after the CrashLoopBackOff, for a
                // restart), with one event per attempt as the kubelet records them.
                s.waiting = Some((f.reason.as_str().into(), Some(f.message.clone())));
                self.sync_failed = true;
                let message = match f.reason {
                    // The kubelet's words: `Error: configmap "x" not found`.
                    containers::StartReason::Spec(SpecErrorKind::Config) => {
                        format!("Error: {}", f.message)
                    }
                    // The pull said what failed; the container only why it waits:
                    // `Error: ErrImagePull`, `Error: ImagePullBackOff`.
                    containers::StartReason::Image(_)
                    | containers::StartReason::ErrImagePull
                    | containers::StartReason::InvalidImageName => format!("Error: {}", f.reason),
                    _ => format!("Error: {}: {}", f.reason, f.message),
                };
                self.event(EventReason::Failed, message);
            }
        }
    }

    /// Recomputes the status, publishes it and writes status.json when it changed.
    fn publish(&mut self) {
        let pod = &self.st.pod.pod;
        let rt = PodRuntime {
            init: self.st.init.iter().map(ContainerSlot::record).collect(),
            containers: self
                .st
                .containers
                .iter()
                .map(ContainerSlot::record)
                .collect(),
            pod_ip: self.st.pod_ip.clone().or_else(|| {
                // hostNetwork pods have the node's IP, as with the kubelet.
                let host_net = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.host_network)
                    .unwrap_or(false);
                host_net
                    .then(|| self.ctx.node_ip.map(|ip| ip.to_string()))
                    .flatten()
            }),
            host_ip: self.ctx.node_ip.map(|ip| ip.to_string()),
            start_time: self.st.start_time,
            sandbox_ready: self.st.sandbox_ready,
            reason: self.st.failed.as_ref().map(|f| f.0.clone()),
            message: self.st.failed.as_ref().map(|f| f.1.clone()),
        };
        let mut status = status::pod_status(pod, &rt, self.prev_status(), Timestamp::now());
        if self.st.failed.is_some() {
            status.phase = Some("Failed".into());
        } else if self.st.deleted {
            // The kubelet's terminal phase of a deleted (non-static) pod: Succeeded only
            // if every app container finished with 0.
            let succeeded = self
                .st
                .containers
                .iter()
                .all(|c| c.ended.as_ref().is_some_and(|e| e.exit_code == 0));
            status.phase = Some(if succeeded { "Succeeded" } else { "Failed" }.into());
        }
        if let Some((reason, message)) = &self.st.failed
            && (reason == "Evicted" || reason == shutdown::REASON)
        {
            // The kubelet's DisruptionTarget condition on a pod it evicted or stopped for
            // the node's shutdown; its transition time is the first publication's.
            use k8s_openapi::api::core::v1::PodCondition;
            let since = self
                .prev_status()
                .into_iter()
                .flat_map(|p| p.conditions.iter().flatten())
                .find(|c| c.type_ == "DisruptionTarget")
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    Timestamp::now(),
                ));
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            conditions.retain(|c| c.type_ != "DisruptionTarget");
            conditions.push(PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("TerminationByKubelet".into()),
                message: Some(message.clone()),
                last_transition_time: Some(since),
                ..Default::default()
            });
        }
        status.qos_class = podspec::resources::qos_class(pod)
            .ok()
            .map(|q| q.as_str().to_string());
        let unchanged = self.prev_status() == Some(&status);
        if unchanged && self.written {
            // Nothing changed since the last sync: the view and status.json are current.
            return;
        }
        let mut full = pod.clone();
        full.status = Some(status);
        let all_running = full
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            });
        if all_running && let Some(seen) = self.seen.take() {
            self.ctx.metrics.pod_started(seen.elapsed());
        }
        if !unchanged {
            self.written = false;
        }
        let p = paths::pod_dir(&self.ctx.cfg.root_dir, self.st.pod.uid()).join("status.json");
        let data = (!self.written && p.parent().is_some_and(|d| d.is_dir()))
            .then(|| serde_json::to_vec_pretty(&full).ok())
            .flatten();
        self.prev = Some(self.ctx.view.set_pod(self.st.pod.uid(), full));
        if let Some(data) = data {
            self.written = crate::disk::write_atomic(&p, &data, 0o644).is_ok();
        }
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Updates a slot from the shim's view of its current instance.
/// Records what the shim reports about `slot`'s container. True when it has just been seen
/// ended by the OOM killer.
fn observe(slot: &mut ContainerSlot, by_id: &HashMap<String, ContainerInfo>) -> bool {
    let Some(id) = slot.id.clone() else {
        return false;
    };
    if slot.ended.is_some() {
        return false;
    }
    match by_id.get(&id) {
        Some(info) => {
            if let Some(x) = &info.exit {
                let finished = ts(Some(&x.finished_at)).unwrap_or_else(Timestamp::now);
                slot.ended = Some(Ended {
                    exit_code: x.exit_code,
                    signal: x.signal,
                    reason: status::terminated_reason(x.exit_code, x.oom_killed).to_string(),
                    message: None,
                    started_at: ts(Some(&x.started_at)).or(slot.started_at),
                    finished_at: finished,
                    container_id: Some(format!("nodelet://{id}")),
                });
                slot.waiting = None;
                return x.oom_killed;
            } else if let Some(t) = ts(info.started_at.as_deref()) {
                slot.started_at = Some(t);
            }
        }
        None => {
            // The shim no longer knows it (e.g. the shim was replaced): it is gone.
            slot.ended = Some(Ended {
                exit_code: 137,
                signal: None,
                reason: "ContainerStatusUnknown".into(),
                message: Some("The container could not be located when the pod was synced".into()),
                started_at: slot.started_at,
                finished_at: Timestamp::now(),
                container_id: Some(format!("nodelet://{id}")),
            });
            slot.waiting = None;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodelet_shim_protocol::exits::ExitRecord;

    fn info(id: &str, exit: Option<ExitRecord>) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            status: if exit.is_some() { "stopped" } else { "running" }.into(),
            pid: Some(42),
            started_at: Some("2026-01-01T00:00:00Z".into()),
            exit,
            log_path: None,
        }
    }

    fn running_slot() -> ContainerSlot {
        let mut s = ContainerSlot::new("app", "busybox");
        s.id = Some("u-app-app-0".into());
        s.waiting = None;
        s
    }

    #[test]
    fn observe_running_takes_the_shims_start_time() {
        let mut s = running_slot();
        let m: HashMap<String, ContainerInfo> =
            [("u-app-app-0".to_string(), info("u-app-app-0", None))].into();
        observe(&mut s, &m);
        assert_eq!(s.started_at, Some("2026-01-01T00:00:00Z".parse().unwrap()));
        assert!(s.ended.is_none());
    }

    #[test]
    fn observe_exit_maps_reasons() {
        for (code, oom, reason) in [
            (0, false, "Completed"),
            (1, false, "Error"),
            (137, true, "OOMKilled"),
        ] {
            let mut s = running_slot();
            let rec = ExitRecord {
                pid: 42,
                exit_code: code,
                signal: (code == 137).then_some(9),
                oom_killed: oom,
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:05Z".into(),
            };
            let m: HashMap<String, ContainerInfo> =
                [("u-app-app-0".to_string(), info("u-app-app-0", Some(rec)))].into();
            observe(&mut s, &m);
            let e = s.ended.as_ref().unwrap();
            assert_eq!((e.exit_code, e.reason.as_str()), (code, reason));
            assert_eq!(e.finished_at, "2026-01-01T00:00:05Z".parse().unwrap());
        }
    }

    #[test]
    fn observe_missing_container_is_unknown() {
        let mut s = running_slot();
        observe(&mut s, &HashMap::new());
        let e = s.ended.unwrap();
        assert_eq!(
            (e.exit_code, e.reason.as_str()),
            (137, "ContainerStatusUnknown")
        );
    }

    /// The size of the future `f` returns.
    fn future_size<A, B, C, D, E, F: std::future::Future>(
        _: impl FnOnce(A, B, C, D, E) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every pod has one task, mostly idle: its future holds the boxed worker, the command
    /// and done channels and the idle wait (sleep, exit stream, commands, ConfigMap changes);
    /// whatever it awaits unboxed or keeps beside the worker is paid once per pod, and so is
    /// the worker (the pod itself is shared with the source's snapshot). Measured (debug):
    /// task 616 bytes, worker 632 bytes; 10.5 KB and 4.4 KB before.
    #[test]
    fn an_idle_pod_task_stays_small() {
        let task = future_size(task);
        let worker = std::mem::size_of::<Worker>();
        assert!(task <= 1024, "a pod's task future is {task} bytes");
        assert!(worker <= 1024, "a pod's worker is {worker} bytes");
    }

    #[test]
    fn backoff_messages() {
        assert_eq!(humanize(Duration::from_secs(10)), "10s");
        assert_eq!(humanize(Duration::from_secs(300)), "5m0s");
        assert_eq!(humanize(Duration::from_secs(80)), "1m20s");
    }
}
