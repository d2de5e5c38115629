//! The manager: consumes static pod snapshots and keeps exactly their pods running, one
//! [`worker`](super::worker) task per pod UID. A replaced pod (same namespace/name, new UID)
//! is torn down before its successor's set-up starts. On start, [`Manager::recover`] adopts
//! live pods from disk and garbage-collects what no adoptable pod owns.

use std::collections::{HashMap, HashSet};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nodelet_images::{ImageService, PullBackoff, RegistryConfig, Store};
use tokio::sync::watch;

use crate::admission::{self, NodeInfo, Usage};
use crate::backoff::Backoff;
use crate::cni::{Cni, PodNetwork};
use crate::config::Config;
use crate::podspec::NodeResources;
use crate::sandbox::{netns, paths};
use crate::source::Snapshot;
use nodelet_objects::manifest::StaticPod;

use super::ctx::{Ctx, ManagerOptions};
use super::error::Error;
use super::shim::{self, ShimPaths};
use super::state::{ContainerSlot, PodState};
use super::view::PodsView;
use super::worker::{self, Command};
use super::{cgroup, setup, terminate};

/// How often CNI GC runs (besides once at start).
pub const CNI_GC_PERIOD: Duration = Duration::from_secs(600);

/// Runs CNI GC now and every `period`: plugins of spec 1.1 or later free every lease, host
/// port and veth of an attachment this node does not know (cached or with an ADD started).
async fn cni_gc_loop(ctx: Arc<Ctx>, period: Duration) {
    loop {
        match ctx.cni.gc().await {
            Ok(true) => tracing::debug!("CNI GC done"),
            Ok(false) => {}
            Err(e) => tracing::warn!("CNI GC: {e}"),
        }
        tokio::time::sleep(period).await;
    }
}

/// A pod the node's shutdown may stop: its uid, the pod with its current status, its task.
pub struct ActivePod {
    pub uid: String,
    pub pod: Arc<k8s_openapi::api::core::v1::Pod>,
    cmd: watch::Sender<Command>,
}

impl ActivePod {
    /// Tells the pod's task to stop it for the node's shutdown with `grace`.
    pub fn shut_down(&self, grace: Duration) {
        let _ = self.cmd.send(Command::Shutdown(grace));
    }
}

/// What the node shutdown manager (`shutdown::logind`) holds of the pod manager: the running
/// pods on request, and the view to follow their phases.
#[derive(Clone)]
pub struct Stopper {
    requests: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Vec<ActivePod>>>,
    pub view: PodsView,
}

impl Stopper {
    /// The pods the manager runs now (not stopping), each with its current status; empty
    /// once the manager ended.
    pub async fn pods(&self) -> Vec<ActivePod> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.requests.send(tx).await.is_err() {
            return vec![];
        }
        rx.await.unwrap_or_default()
    }
}

/// The next request of the node shutdown manager; never resolves without a receiver.
async fn next_request<T>(rx: &mut Option<tokio::sync::mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Was this pod stopped for the node's shutdown (phase Failed, reason `Terminated`)?
fn stopped_for_shutdown(st: &PodState) -> bool {
    st.released
        && st
            .failed
            .as_ref()
            .is_some_and(|f| f.0 == crate::shutdown::REASON)
}

struct Running {
    full_name: String,
    /// What the pod counts against the node (admission).
    usage: Usage,
    cmd: watch::Sender<Command>,
    done: watch::Receiver<bool>,
    stopping: bool,
}

/// The pod manager.
pub struct Manager {
    ctx: Arc<Ctx>,
    pods: HashMap<String, Running>,
    adoptable: HashMap<String, PodState>,
    /// Pods refused at admission (phase Failed: OutOfpods, OutOfcpu, NodeAffinity, ...).
    rejected: HashSet<String>,
    /// Controller-made pods that do not fit the node (Pending, judged again at every apply).
    unschedulable: HashSet<String>,
    /// The node as admission sees it.
    node: NodeInfo,
    /// The kernel has AppArmor enabled (soft admission).
    apparmor_enabled: bool,
    /// The eviction manager (node pressure, local storage limits, image GC).
    housekeeping: super::housekeeping::Housekeeping,
    /// The node is shutting down: new pods are refused (`NodeShutdown`).
    node_shutdown: crate::shutdown::NodeShutdown,
    /// The node shutdown manager's requests for the running pods.
    stopper: Stopper,
    requests: Option<tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<Vec<ActivePod>>>>,
}

impl Manager {
    pub fn new(cfg: Config, opts: ManagerOptions) -> Result<Manager, Error> {
        for (what, p) in [
            ("shim", &opts.shim_binary),
            ("pause", &opts.pause_binary),
            ("runtime", &opts.runtime_binary),
        ] {
            if !p.is_file() {
                return Err(Error::msg(
                    format!("{what} binary {}", p.display()),
                    "not found",
                ));
            }
        }
        for d in [&cfg.root_dir, &cfg.run_dir, &cfg.pod_logs_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::new(format!("create {}", d.display()), e))?;
        }
        let store =
            Store::open(cfg.root_dir.join("images")).map_err(|e| Error::new("image store", e))?;
        let images = ImageService::new(store, RegistryConfig::default())
            .map_err(|e| Error::new("image service", e))?;
        let node =
            NodeResources::of_host(&cfg.root_dir).map_err(|e| Error::new("node resources", e))?;
        let node_ip = crate::node_ip::node_ip(cfg.node_ip);
        match node_ip {
            Some(ip) => tracing::info!(%ip, "node IP"),
            None => {
                tracing::warn!("no node IP: the node has no usable address; hostIP stays empty")
            }
        }
        let node_info = NodeInfo {
            name: cfg.node_name.clone(),
            labels: cfg.node_labels.clone(),
            allocatable: crate::node_config::allocatable(
                node,
                cfg.max_pods,
                &[cfg.system_reserved, cfg.kube_reserved],
            ),
        };
        let housekeeping =
            super::housekeeping::Housekeeping::new(&cfg, node_info.allocatable.memory_bytes);
        let pid_capacity = crate::eviction::stats::node_pids().map_or(0, |o| o.capacity);
        if let Some(max) = crate::node_config::allocatable_pids(
            pid_capacity,
            &[cfg.system_reserved, cfg.kube_reserved],
        ) {
            cgroup::limit_pods_pids(cfg.cgroup_driver, cfg.cgroup_root.as_deref(), max)?;
            tracing::info!(max, "pods' pids limited (pid reservation)");
        }
        let ctx = Ctx {
            node_ip,
            cni: Cni::new(
                &cfg.cni_conf_dir,
                std::slice::from_ref(&cfg.cni_bin_dir),
                &paths::cni_cache_dir(&cfg.root_dir),
            ),
            backoff: Mutex::new(Backoff::new(
                cfg.crash_loop_back_off.initial,
                cfg.crash_loop_back_off.max,
                cfg.crash_loop_back_off.reset,
            )),
            pull_backoff: Mutex::new(PullBackoff::new()),
            images,
            node,
            view: PodsView::new(&cfg.node_name),
            metrics: opts.metrics.clone(),
            config: watch::channel(Arc::default()).0,
            opts,
            cfg,
        };
        let (req_tx, req_rx) = tokio::sync::mpsc::channel(4);
        let stopper = Stopper {
            requests: req_tx,
            view: ctx.view.clone(),
        };
        Ok(Manager {
            node_shutdown: Default::default(),
            stopper,
            requests: Some(req_rx),
            ctx: Arc::new(ctx),
            pods: HashMap::new(),
            adoptable: HashMap::new(),
            rejected: HashSet::new(),
            unschedulable: HashSet::new(),
            node: node_info,
            apparmor_enabled: admission::host_apparmor_enabled(),
            housekeeping,
        })
    }

    /// The pods and their statuses/events, for the API.
    pub fn view(&self) -> PodsView {
        self.ctx.view.clone()
    }

    /// The flag the node shutdown manager raises; while it is up new pods are refused.
    pub fn node_shutdown(&self) -> crate::shutdown::NodeShutdown {
        self.node_shutdown.clone()
    }

    /// The handle through which the node shutdown manager stops the running pods.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// The running pods, not stopping, with their current statuses (for the node shutdown).
    fn active_pods(&self) -> Vec<ActivePod> {
        self.pods
            .iter()
            .filter(|(_, r)| !r.stopping)
            .filter_map(|(uid, r)| {
                Some(ActivePod {
                    uid: uid.clone(),
                    pod: self.ctx.view.get(uid)?.pod,
                    cmd: r.cmd.clone(),
                })
            })
            .collect()
    }

    /// Rebuilds from disk: pods whose state file reads and whose shim answers (or whose
    /// sandbox was released: a terminal pod) become adoptable (returned, to seed the static pod source); everything else this node has —
    /// pod dirs, shims, netns pins, CNI cache entries, run dirs, pod cgroups — is torn down.
    pub async fn recover(&mut self) -> Vec<StaticPod> {
        let cfg = &self.ctx.cfg;
        let mut seen: HashSet<String> = HashSet::new();
        let mut garbage: Vec<(String, Option<PodState>)> = Vec::new();
        for e in std::fs::read_dir(cfg.root_dir.join("pods"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let uid = e.file_name().to_string_lossy().into_owned();
            if crate::disk::check_component("uid", &uid).is_err() {
                continue;
            }
            seen.insert(uid.clone());
            let terminating = super::state::terminating_marker(&cfg.root_dir, &uid).exists();
            match PodState::load(&cfg.root_dir, &uid) {
                Ok(st) if terminating => {
                    tracing::info!(pod = %st.pod.full_name(), uid = %uid,
                        "finishing the teardown a previous agent started");
                    garbage.push((uid, Some(st)));
                }
                Ok(st) if stopped_for_shutdown(&st) => {
                    // As a kubelet after the reboot: the pod runs again from its manifest.
                    tracing::info!(pod = %st.pod.full_name(), uid = %uid,
                        "stopped for the node's shutdown: starting it again");
                    garbage.push((uid, Some(st)));
                }
                Ok(st) if st.released || shim::alive(&st.shim_socket()).await => {
                    tracing::info!(pod = %st.pod.full_name(), uid = %uid, "adoptable pod found");
                    // Its last published status until its worker's first sync: readers (the
                    // API, the workload controllers) must not see a finished pod as new.
                    if let Ok(b) =
                        std::fs::read(paths::pod_dir(&cfg.root_dir, &uid).join("status.json"))
                        && let Ok(p) = nodelet_objects::decode::from_slice::<
                            k8s_openapi::api::core::v1::Pod,
                        >(&b)
                    {
                        self.ctx.view.set_pod(&uid, p);
                    }
                    self.adoptable.insert(uid, st);
                }
                Ok(st) => garbage.push((uid, Some(st))),
                Err(_) => garbage.push((uid, None)),
            }
        }
        // Owned things without a pod dir.
        let mut orphans: Vec<String> = Vec::new();
        if let Ok(pins) = netns::list_pins(&cfg.run_dir) {
            orphans.extend(pins.into_iter().map(|(u, _)| u));
        }
        for e in std::fs::read_dir(cfg.run_dir.join("pods"))
            .into_iter()
            .flatten()
            .flatten()
        {
            orphans.push(e.file_name().to_string_lossy().into_owned());
        }
        if let Ok(c) = cgroup::list(cfg.cgroup_driver, cfg.cgroup_root.as_deref()) {
            orphans.extend(c);
        }
        if let Ok(cached) = self.ctx.cni.list_cached() {
            orphans.extend(
                cached
                    .iter()
                    .map(|c| PodNetwork::from_cached(c, None).pod_uid),
            );
        }
        for uid in orphans {
            if !seen.contains(&uid) && crate::disk::check_component("uid", &uid).is_ok() {
                seen.insert(uid.clone());
                garbage.push((uid, None));
            }
        }
        for (uid, st) in garbage {
            tracing::info!(uid = %uid, "removing leftovers of a pod that is not running");
            let full_name = st.as_ref().map(|s| s.pod.full_name()).unwrap_or_default();
            if let Err(e) = setup::teardown(
                &self.ctx,
                &uid,
                st.clone(),
                Duration::from_secs(2),
                setup::Scope::Pod,
            )
            .await
            {
                tracing::warn!(uid = %uid, "garbage collection: {e}");
            }
            if terminate::network_left(&self.ctx, &uid) {
                // A DEL failed: retried in the background as a stopping pod, so a pod with
                // this UID or name starts only once it is done.
                let (cmd, _) = watch::channel(Command::Stop);
                let (done_tx, done) = watch::channel(false);
                let ctx = self.ctx.clone();
                let u = uid.clone();
                tokio::spawn(async move {
                    terminate::teardown_pod(&ctx, &u, st, Duration::from_secs(2)).await;
                    let _ = done_tx.send(true);
                });
                self.pods.insert(
                    uid,
                    Running {
                        full_name,
                        cmd,
                        done,
                        stopping: true,
                        usage: Usage::default(),
                    },
                );
            }
        }
        self.adoptable.values().map(|s| (*s.pod).clone()).collect()
    }

    /// Runs until `shutdown` resolves, then leaves every pod running (detaches).
    pub async fn run(
        mut self,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut requests = self.requests.take();
        // CNI GC now (after adoption: every adopted pod's attachment is cached) and
        // periodically.
        let gc = tokio::spawn(cni_gc_loop(self.ctx.clone(), CNI_GC_PERIOD));
        let mut housekeeping = tokio::time::interval(crate::eviction::rules::HOUSEKEEPING_PERIOD);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let snap = snapshots.borrow_and_update().clone();
            self.apply(&snap).await;
            // Stopping pods are forgotten (and their replacements started) on the next tick;
            // with none, only a new snapshot or the shutdown wakes the manager.
            let stopping = self.pods.values().any(|r| r.stopping);
            let tick = async {
                if stopping {
                    tokio::time::sleep(Duration::from_secs(1)).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                r = snapshots.changed() => if r.is_err() { break },
                _ = &mut shutdown => break,
                _ = tick => {}
                _ = housekeeping.tick() => self.housekeeping().await,
                Some(reply) = next_request(&mut requests) => {
                    let _ = reply.send(self.active_pods());
                }
            }
        }
        gc.abort();
        for r in self.pods.values() {
            if !r.stopping {
                let _ = r.cmd.send(Command::Detach);
            }
        }
    }

    /// Starts, stops and replaces pods so that exactly `snap.pods()` run; hands the
    /// snapshot's ConfigMaps and Secrets to the pods.
    pub async fn apply(&mut self, snap: &Snapshot) {
        self.ctx.set_config_objects(snap.objects().map(|o| &**o));
        let desired: HashMap<&str, &Arc<StaticPod>> = snap.pods().map(|p| (p.uid(), p)).collect();
        // Stop what is no longer desired; forget what finished stopping.
        for (uid, r) in self.pods.iter_mut() {
            if !r.stopping && !desired.contains_key(uid.as_str()) {
                let _ = r.cmd.send(Command::Stop);
                r.stopping = true;
            }
        }
        self.pods.retain(|_, r| !(r.stopping && *r.done.borrow()));
        // Adoptable pods that are not desired any more go the normal way (with grace).
        let undesired: Vec<String> = self
            .adoptable
            .keys()
            .filter(|u| !desired.contains_key(u.as_str()))
            .cloned()
            .collect();
        for uid in undesired {
            if let Some(st) = self.adoptable.remove(&uid) {
                let full_name = st.pod.full_name();
                let r = self.spawn(st, vec![], Command::Stop, Usage::default());
                self.pods.insert(
                    uid,
                    Running {
                        full_name,
                        stopping: true,
                        ..r
                    },
                );
            }
        }
        let view = self.ctx.view.clone();
        self.rejected.retain(|u| {
            let keep = desired.contains_key(u.as_str());
            if !keep {
                view.remove(u);
            }
            keep
        });
        self.unschedulable.retain(|u| {
            let keep = desired.contains_key(u.as_str());
            if !keep {
                view.remove(u);
            }
            keep
        });
        // In the snapshot's order (the kubelet admits pods one by one, each against the ones
        // admitted before it), pods already running here (adopted) first: they hold their
        // resources before any new pod is judged.
        let mut order: Vec<&Arc<StaticPod>> = snap.pods().collect();
        order.sort_by_key(|p| !self.adoptable.contains_key(p.uid()));
        for sp in order {
            let uid = sp.uid();
            // The file's labels and annotations (an edit of only these keeps the UID).
            let m = &sp.pod.metadata;
            view.set_metadata(uid, m);
            if m.deletion_timestamp.is_some() {
                // Deleted through the API while finalizers hold its manifest (a Job's pod):
                // its containers are stopped and it stays, terminal, until the manifest goes.
                self.terminate(sp);
                continue;
            }
            if self.pods.contains_key(uid) || self.rejected.contains(uid) {
                continue;
            }
            let usage = if self.adoptable.contains_key(uid) {
                // Already running here: counted, not judged again.
                admission::requests(&sp.pod)
            } else {
                // The active pods: not stopping, not finished (Succeeded/Failed).
                let mut used = Usage::default();
                for (u, r) in self.pods.iter().filter(|(_, r)| !r.stopping) {
                    let phase = view.phase(u);
                    if !matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
                        used.add(r.usage);
                    }
                }
                let conditions = self.housekeeping.conditions();
                let shutting_down = self.node_shutdown.is_shutting_down();
                let admitted = admission::admit(&sp.pod, &self.node, used).and_then(|u| {
                    if shutting_down {
                        // The node shutdown manager's admission handler.
                        return Err(admission::Rejection {
                            reason: admission::Reason::NodeShutdown,
                            message: crate::shutdown::NOT_ADMITTED_MESSAGE.into(),
                        });
                    }
                    let qos = crate::podspec::resources::qos_class(&sp.pod)
                        .unwrap_or(crate::podspec::QosClass::BestEffort);
                    crate::eviction::rules::admit(&sp.pod, qos, &conditions)
                        .map(|()| u)
                        .map_err(|message| admission::Rejection {
                            reason: admission::Reason::Evicted,
                            message,
                        })
                });
                match admitted {
                    Ok(u) => {
                        self.unschedulable.remove(uid);
                        u
                    }
                    Err(rej) if self.made_by_controller(sp) => {
                        self.unschedulable(sp, rej);
                        continue;
                    }
                    Err(rej) => {
                        self.reject(sp, rej);
                        continue;
                    }
                }
            };
            if !self.adoptable.contains_key(uid)
                && let Err(rej) = admission::soft_admit(&sp.pod, self.apparmor_enabled)
            {
                self.block(sp, rej);
                continue;
            }
            let full_name = sp.full_name();
            let wait_for: Vec<_> = self
                .pods
                .values()
                .filter(|r| r.stopping && r.full_name == full_name)
                .map(|r| r.done.clone())
                .collect();
            let st = match self.adoptable.remove(uid) {
                Some(mut st) => {
                    tracing::info!(pod = %full_name, "adopting running pod");
                    st.pod = sp.clone();
                    st
                }
                None => self.fresh_state(sp),
            };
            let r = self.spawn(st, wait_for, Command::Run, usage);
            self.pods.insert(uid.to_string(), r);
        }
    }

    /// Pod `sp`, whose manifest has a deletion time: a running pod's containers are stopped
    /// (once); a pod running here before the agent started is adopted to be stopped; one
    /// that never ran here is not started.
    fn terminate(&mut self, sp: &Arc<StaticPod>) {
        let uid = sp.uid();
        if let Some(r) = self.pods.get(uid) {
            if !r.stopping {
                r.cmd.send_if_modified(|c| {
                    let run = *c == Command::Run;
                    if run {
                        *c = Command::Terminate;
                    }
                    run
                });
            }
            return;
        }
        if let Some(mut st) = self.adoptable.remove(uid) {
            tracing::info!(pod = %sp.full_name(), "adopting a pod deleted through the API");
            st.pod = sp.clone();
            let r = self.spawn(st, vec![], Command::Terminate, Usage::default());
            self.pods.insert(uid.to_string(), r);
        }
    }

    /// One round of the eviction manager over the running pods that have not finished.
    async fn housekeeping(&mut self) {
        let mut targets = vec![];
        for (uid, r) in self.pods.iter().filter(|(_, r)| !r.stopping) {
            let Some(v) = self.ctx.view.get(uid) else {
                continue;
            };
            let phase = v.pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            targets.push(super::housekeeping::Target {
                uid: uid.clone(),
                pod: v.pod,
                cgroup: cgroup::pod_cgroup_path(
                    self.ctx.cfg.cgroup_driver,
                    self.ctx.cfg.cgroup_root.as_deref(),
                    uid,
                    None,
                ),
                cmd: r.cmd.clone(),
            });
        }
        let ctx = self.ctx.clone();
        self.housekeeping.round(&ctx, targets).await;
    }

    /// A pod the kubelet's soft admission holds back (`canRunPod`): phase Pending with the
    /// reason and message, every container waiting `Blocked`; nothing is set up for it.
    fn block(&mut self, sp: &StaticPod, rej: admission::Rejection) {
        use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus};
        let uid = sp.uid();
        let reason = rej.reason.as_str();
        tracing::warn!(pod = %sp.full_name(), "blocked ({reason}): {}", rej.message);
        let blocked = |cs: &[k8s_openapi::api::core::v1::Container]| -> Vec<ContainerStatus> {
            cs.iter()
                .map(|c| ContainerStatus {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("Blocked".into()),
                            message: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect()
        };
        let spec = sp.pod.spec.clone().unwrap_or_default();
        let mut pod = sp.pod.clone();
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Pending".into()),
            reason: Some(reason.into()),
            message: Some(rej.message),
            init_container_statuses: spec
                .init_containers
                .as_deref()
                .map(blocked)
                .filter(|v| !v.is_empty()),
            container_statuses: Some(blocked(&spec.containers)),
            ..Default::default()
        });
        let view = &self.ctx.view;
        view.set_pod(uid, pod);
        super::view::warn_ignored_fields(view, sp);
        self.rejected.insert(uid.to_string());
    }

    /// Is `sp` a pod a workload controller made (its file in `<rootDir>/workloads`)?
    fn made_by_controller(&self, sp: &StaticPod) -> bool {
        sp.manifest.parent() == Some(crate::config::workloads_dir(&self.ctx.cfg.root_dir).as_path())
    }

    /// A controller's pod that does not fit the node: on a cluster the scheduler would leave
    /// it Pending until a node fits (a ReplicaSet must not replace a refused pod again and
    /// again), so it stays Pending with `PodScheduled` False, reason `Unschedulable`, and one
    /// Warning `FailedScheduling` event; it is judged again at every apply.
    fn unschedulable(&mut self, sp: &StaticPod, rej: admission::Rejection) {
        use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
        let uid = sp.uid();
        let message = format!(
            "0/1 nodes are available: 1 {}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            rej.reason.scheduler_text()
        );
        let mut pod = sp.pod.clone();
        pod.status = Some(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some(message.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let view = &self.ctx.view;
        if self.unschedulable.insert(uid.to_string()) {
            tracing::warn!(pod = %sp.full_name(), "unschedulable ({}): {}", rej.reason.as_str(), rej.message);
            view.set_pod(uid, pod);
            view.event(
                uid,
                nodelet_objects::events::EventReason::FailedScheduling,
                message,
            );
        }
    }

    /// A pod refused at admission: phase Failed with the reason and message, a Warning event
    /// of that reason; nothing is set up for it.
    fn reject(&mut self, sp: &StaticPod, rej: admission::Rejection) {
        let uid = sp.uid();
        let reason = rej.reason.as_str();
        tracing::warn!(pod = %sp.full_name(), "rejected ({reason}): {}", rej.message);
        let mut pod = sp.pod.clone();
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Failed".into()),
            reason: Some(reason.into()),
            message: Some(rej.message.clone()),
            ..Default::default()
        });
        let view = &self.ctx.view;
        view.set_pod(uid, pod);
        super::view::warn_ignored_fields(view, sp);
        view.event(uid, rej.reason.event_reason(), rej.message);
        self.rejected.insert(uid.to_string());
    }

    fn fresh_state(&self, sp: &Arc<StaticPod>) -> PodState {
        let uid = sp.uid();
        let spec = sp.pod.spec.clone().unwrap_or_default();
        // As the kubelet: with init containers, a container not created yet waits with
        // PodInitializing (kubectl then shows Init:0/N, later PodInitializing), else
        // ContainerCreating.
        let has_init = spec.init_containers.as_ref().is_some_and(|v| !v.is_empty());
        let slots = |cs: &[k8s_openapi::api::core::v1::Container]| {
            cs.iter()
                .map(|c| {
                    let mut slot =
                        ContainerSlot::new(&c.name, c.image.as_deref().unwrap_or_default());
                    if has_init {
                        slot.waiting = Some(("PodInitializing".into(), None));
                    }
                    slot
                })
                .collect::<Vec<_>>()
        };
        PodState {
            pod: sp.clone(),
            sandbox_id: setup::sandbox_id(uid),
            cgroup_parent: cgroup::pod_cgroup_path(
                self.ctx.cfg.cgroup_driver,
                self.ctx.cfg.cgroup_root.as_deref(),
                uid,
                crate::podspec::resources::qos_class(&sp.pod).ok(),
            ),
            shim_dir: ShimPaths::of(&self.ctx.cfg.run_dir, uid).dir,
            shim_pid: None,
            pause_pid: None,
            pod_ip: None,
            sandbox_ready: false,
            start_time: None,
            init: slots(spec.init_containers.as_deref().unwrap_or_default()),
            containers: slots(&spec.containers),
            failed: None,
            deleted: false,
            released: false,
        }
    }

    fn spawn(
        &self,
        st: PodState,
        wait_for: Vec<watch::Receiver<bool>>,
        first: Command,
        usage: Usage,
    ) -> Running {
        let (cmd_tx, cmd_rx) = watch::channel(first);
        let (done_tx, done_rx) = watch::channel(false);
        let full_name = st.pod.full_name();
        let ctx = self.ctx.clone();
        tokio::spawn(worker::task(ctx, st, cmd_rx, wait_for, done_tx));
        Running {
            full_name,
            usage,
            cmd: cmd_tx,
            done: done_rx,
            stopping: first == Command::Stop,
        }
    }
}
