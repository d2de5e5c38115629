//! The eviction manager's shell (the kubelet's `synchronize`, every housekeeping period of
//! 10 s): measure the node and the pods (`eviction::stats`), decide (`eviction::rules`),
//! publish the node's pressure conditions in the view, evict pods over their local storage
//! limits, delete unused images before evicting for disk, and evict at most one pod a round
//! for node pressure, through its pod task ([`Command::Evict`]). Unused images are also
//! collected every 5 minutes above `imageGCHighThresholdPercent`, as the kubelet's image GC.
//!
//! Cost: a round reads one cgroup per pod; local storage is walked (`du`) only for pods that
//! set an emptyDir `sizeLimit` or an `ephemeral-storage` limit, and for every pod that may be
//! evicted (not critical) only while a disk threshold is met (to rank them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{NodeCondition, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nodelet_objects::events::NodeEventReason;
use tokio::sync::watch;

use crate::config::Config;
use crate::eviction::rules::{
    self, Candidate, Condition, PodUsage, Resource, State, StorageUsage, Threshold,
};
use crate::eviction::stats;
use crate::podspec::volumes::EMPTY_DIR_PLUGIN;

use super::ctx::Ctx;
use super::worker::Command;

/// How often unused images are collected when the disk is above the high threshold.
pub const IMAGE_GC_PERIOD: Duration = Duration::from_secs(300);

/// One running pod the round may measure and evict.
pub struct Target {
    pub uid: String,
    /// The pod with its current status (the view's).
    pub pod: Arc<Pod>,
    /// Its cgroup (`[cgroupRoot/]pod<uid>`).
    pub cgroup: String,
    pub cmd: watch::Sender<Command>,
}

/// The eviction manager's state across rounds.
pub struct Housekeeping {
    thresholds: Vec<Threshold>,
    state: State,
    /// When each condition last changed (the node condition's lastTransitionTime).
    transitions: BTreeMap<Condition, Timestamp>,
    allocatable_memory: i64,
    transition_period: Duration,
    max_pod_grace: i64,
    last_image_gc: Option<Instant>,
    gc_high: u8,
    gc_low: u8,
    /// The pods' cgroups as resolved, by path (kept while the pod runs).
    cgroups: std::collections::HashMap<String, Option<noderun_cgroups::Cgroup>>,
}

/// What was measured of one pod.
#[derive(Default)]
struct Measured {
    usage: PodUsage,
    storage: Option<StorageUsage>,
}

impl Housekeeping {
    /// From the checked configuration (its thresholds parse: `Config` checked them).
    pub fn new(cfg: &Config, allocatable_memory: i64) -> Housekeeping {
        let thresholds = rules::parse_thresholds(&cfg.eviction).unwrap_or_default();
        let now = Timestamp::now();
        Housekeeping {
            thresholds,
            state: State::default(),
            transitions: Condition::ALL.into_iter().map(|c| (c, now)).collect(),
            allocatable_memory,
            transition_period: cfg.eviction_pressure_transition,
            max_pod_grace: cfg.eviction_max_pod_grace,
            last_image_gc: None,
            gc_high: cfg.image_gc_high_percent,
            gc_low: cfg.image_gc_low_percent,
            cgroups: Default::default(),
        }
    }

    /// The node's pressure conditions now (for admission).
    pub fn conditions(&self) -> Vec<Condition> {
        self.state.conditions.clone()
    }

    /// One round. Blocking reads run on the blocking pool.
    pub async fn round(&mut self, ctx: &Arc<Ctx>, targets: Vec<Target>) {
        let cfg = ctx.cfg.clone();
        let alloc = self.allocatable_memory;
        let pods: Vec<(String, Arc<Pod>, String)> = targets
            .iter()
            .map(|t| (t.uid.clone(), t.pod.clone(), t.cgroup.clone()))
            .collect();
        let mut cgroups = std::mem::take(&mut self.cgroups);
        let Ok((measured, obs, cgroups)) = tokio::task::spawn_blocking(move || {
            cgroups.retain(|path, _| pods.iter().any(|p| p.2 == *path));
            let measured: Vec<Measured> = pods
                .iter()
                .map(|(uid, pod, path)| {
                    let cg = cgroups
                        .entry(path.clone())
                        // Resolving reads /proc/self/mountinfo (long with many pods): once.
                        .or_insert_with(|| super::cgroup::usage_reader(path));
                    let (memory, pids) = cg.as_ref().map_or((None, None), stats::cgroup_usage);
                    let storage = has_storage_limits(pod).then(|| storage(&cfg, uid, pod));
                    Measured {
                        usage: PodUsage {
                            memory,
                            pids,
                            ..Default::default()
                        },
                        storage,
                    }
                })
                .collect();
            let ws: i64 = measured.iter().filter_map(|m| m.usage.memory).sum();
            (
                measured,
                stats::observe_node(&cfg.root_dir, alloc, ws),
                cgroups,
            )
        })
        .await
        else {
            return;
        };
        self.cgroups = cgroups;
        let now = Timestamp::now();
        let round = self
            .state
            .synchronize(&self.thresholds, &obs, self.transition_period, now);
        self.publish_conditions(ctx, now);
        self.image_gc(ctx).await;

        // Local storage limits first (the kubelet's localStorageEviction).
        let mut evicted = false;
        for (t, m) in targets.iter().zip(&measured) {
            let Some(u) = &m.storage else { continue };
            if let Some(message) = rules::storage_violation(&t.pod, u) {
                evicted |= evict(ctx, t, message, rules::IMMEDIATE_GRACE);
            }
        }
        if evicted {
            return;
        }
        let Some(threshold) = round.reclaim else {
            return;
        };
        tracing::info!(
            "eviction manager: threshold {threshold} met, attempting to reclaim {}",
            threshold.signal.resource().as_str()
        );
        let resource = threshold.signal.resource();
        ctx.view.node_event(
            NodeEventReason::EvictionThresholdMet,
            &format!("Attempting to reclaim {}", resource.as_str()),
        );
        let mut measured = measured;
        let mut obs = obs;
        if threshold.signal.is_disk() {
            // Node-level reclaim first: unused images.
            let store = ctx.images.store().clone();
            let min_age = ctx.cfg.image_minimum_gc_age;
            match tokio::task::spawn_blocking(move || store.prune_unused(min_age)).await {
                Ok(Ok(r)) => tracing::info!(
                    "eviction manager: deleted {} unused images, {} bytes",
                    r.images.len(),
                    r.bytes_freed
                ),
                Ok(Err(e)) => tracing::warn!("eviction manager: image GC: {e}"),
                Err(_) => {}
            }
            let root = ctx.cfg.root_dir.clone();
            let ws: i64 = measured.iter().filter_map(|m| m.usage.memory).sum();
            if let Ok(o) =
                tokio::task::spawn_blocking(move || stats::observe_node(&root, alloc, ws)).await
            {
                obs = o;
            }
            if rules::thresholds_met(std::slice::from_ref(&threshold), &obs, true).is_empty() {
                tracing::info!(
                    "eviction manager: able to reduce {} pressure without evicting pods",
                    resource.as_str()
                );
                return;
            }
            // Rank by disk: the local storage of every pod that may be evicted.
            let cfg = ctx.cfg.clone();
            let pods: Vec<Option<(String, Arc<Pod>)>> = targets
                .iter()
                .map(|t| (!rules::is_critical(&t.pod)).then(|| (t.uid.clone(), t.pod.clone())))
                .collect();
            if let Ok(all) = tokio::task::spawn_blocking(move || {
                pods.iter()
                    .map(|p| p.as_ref().map(|(uid, pod)| storage(&cfg, uid, pod)))
                    .collect::<Vec<_>>()
            })
            .await
            {
                for (m, s) in measured.iter_mut().zip(all) {
                    if let Some(s) = s {
                        m.usage.disk = Some(total(&s));
                        m.storage = Some(s);
                    }
                }
            }
        }
        let candidates: Vec<Candidate> = targets
            .iter()
            .zip(&measured)
            .map(|(t, m)| Candidate {
                pod: &t.pod,
                usage: m.usage.clone(),
            })
            .collect();
        for i in rules::rank(resource, &candidates) {
            let t = &targets[i];
            if rules::is_critical(&t.pod) {
                continue;
            }
            let per_container = match resource {
                Resource::Memory => container_memory(ctx, t),
                Resource::EphemeralStorage => measured[i]
                    .storage
                    .as_ref()
                    .map(|s| s.containers.clone())
                    .unwrap_or_default(),
                _ => vec![],
            };
            let message = rules::eviction_message(&threshold, &obs, &t.pod, &per_container);
            let grace = if threshold.is_hard() {
                rules::IMMEDIATE_GRACE
            } else {
                let own = t
                    .pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
                    .unwrap_or(30);
                Duration::from_secs(own.min(self.max_pod_grace).max(0) as u64)
            };
            if evict(ctx, t, message, grace) {
                return;
            }
        }
        tracing::info!("eviction manager: unable to evict any pods from the node");
    }

    /// The node's MemoryPressure, DiskPressure and PIDPressure conditions into the view.
    fn publish_conditions(&mut self, ctx: &Ctx, now: Timestamp) {
        let before = ctx.view.node_conditions();
        let on: Vec<(Condition, bool)> = Condition::ALL
            .iter()
            .map(|&c| (c, self.state.has(c)))
            .collect();
        for reason in rules::node_status_events(&before, &on) {
            ctx.view.node_event(reason, "");
        }
        let mut out = vec![];
        for c in Condition::ALL {
            let on = self.state.has(c);
            let was_on = ctx
                .view
                .node_conditions()
                .iter()
                .any(|n| n.type_ == c.as_str() && n.status == "True");
            if on != was_on {
                self.transitions.insert(c, now);
                if on {
                    tracing::warn!("node condition {} is now True", c.as_str());
                }
            }
            let (reason, message) = c.reason_message(on);
            out.push(NodeCondition {
                type_: c.as_str().into(),
                status: if on { "True" } else { "False" }.into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(Time(self.transitions.get(&c).copied().unwrap_or(now))),
            });
        }
        ctx.view.set_node_conditions(out);
    }

    /// The kubelet's image GC: every [`IMAGE_GC_PERIOD`], when the image file system is used
    /// above the high threshold, unused images least recently used first down to the low one,
    /// none pulled or used less than `imageMinimumGCAge` ago.
    async fn image_gc(&mut self, ctx: &Ctx) {
        if self
            .last_image_gc
            .is_some_and(|t| t.elapsed() < IMAGE_GC_PERIOD)
        {
            return;
        }
        self.last_image_gc = Some(Instant::now());
        let store = ctx.images.store().clone();
        let (high, low) = (self.gc_high, self.gc_low);
        let min_age = ctx.cfg.image_minimum_gc_age;
        match tokio::task::spawn_blocking(move || store.gc_by_disk_aged(high, low, min_age)).await {
            Ok(Ok(r)) if !r.images.is_empty() => tracing::info!(
                "image garbage collection: deleted {} images, {} bytes",
                r.images.len(),
                r.bytes_freed
            ),
            Ok(Err(e)) => tracing::warn!("image garbage collection: {e}"),
            _ => {}
        }
    }
}

/// Hands the eviction to the pod's task; false if the pod is critical.
fn evict(ctx: &Ctx, t: &Target, message: String, grace: Duration) -> bool {
    if rules::is_critical(&t.pod) {
        tracing::warn!(pod = %t.uid, "eviction manager: cannot evict a critical pod ({message})");
        return false;
    }
    ctx.view.set_eviction(&t.uid, message, grace);
    let _ = t.cmd.send(Command::Evict);
    true
}

/// Does the pod set a limit local storage is checked against?
fn has_storage_limits(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let sized = spec
        .volumes
        .iter()
        .flatten()
        .any(|v| v.empty_dir.as_ref().is_some_and(|e| e.size_limit.is_some()));
    let limited = |r: Option<&k8s_openapi::api::core::v1::ResourceRequirements>| {
        r.and_then(|r| r.limits.as_ref())
            .is_some_and(|l| l.contains_key("ephemeral-storage"))
    };
    sized
        || limited(spec.resources.as_ref())
        || spec
            .containers
            .iter()
            .any(|c| limited(c.resources.as_ref()))
}

fn total(s: &StorageUsage) -> i64 {
    s.volumes.iter().map(|v| v.1).sum::<i64>() + s.containers.iter().map(|c| c.1).sum::<i64>()
}

/// The runtime ids of the pod's app containers' current instances, by name.
fn container_ids(pod: &Pod) -> Vec<(String, String)> {
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| {
            let id = c.container_id.as_deref()?.split_once("://")?.1;
            (!id.is_empty()).then(|| (c.name.clone(), id.to_string()))
        })
        .collect()
}

/// A pod's local storage: its disk emptyDirs (memory-backed ones: their tmpfs's use) and
/// each container's writable layer plus logs. Blocking.
fn storage(cfg: &Config, uid: &str, pod: &Pod) -> StorageUsage {
    let mut u = StorageUsage::default();
    let vols = super::setup::volumes_dir(&cfg.root_dir, uid).join(EMPTY_DIR_PLUGIN);
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let Some(ed) = &v.empty_dir else { continue };
        let p = vols.join(&v.name);
        let used = if ed.medium.as_deref() == Some("Memory") {
            stats::mounted_used(&p)
        } else {
            stats::du(&p).0
        };
        u.volumes.push((v.name.clone(), used));
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let ids = container_ids(pod);
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let mut used = 0;
        if let Some((_, id)) = ids.iter().find(|(n, _)| *n == c.name) {
            used += stats::du(
                &cfg.root_dir
                    .join("images/containers")
                    .join(id)
                    .join("upper"),
            )
            .0;
        }
        used += stats::du(&crate::logs::files::container_dir(
            &cfg.pod_logs_dir,
            ns,
            name,
            uid,
            &c.name,
        ))
        .0;
        u.containers.push((c.name.clone(), used));
    }
    u
}

/// Each app container's working set, for the eviction message.
fn container_memory(ctx: &Ctx, t: &Target) -> Vec<(String, i64)> {
    let root = super::shim::ShimPaths::of(&ctx.cfg.run_dir, &t.uid).runtime_root;
    container_ids(&t.pod)
        .into_iter()
        .filter_map(|(name, id)| {
            let (_, ws) = crate::top::read_usage(&root, &id)?;
            Some((name, ws as i64))
        })
        .collect()
}
