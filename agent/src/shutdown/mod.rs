//! The kubelet's graceful node shutdown (pkg/kubelet/nodeshutdown), decided in pure functions:
//! the priority groups from `shutdownGracePeriod` / `shutdownGracePeriodCriticalPods` (or an
//! explicit `shutdownGracePeriodByPodPriority` list), which pod goes into which group and with
//! which grace period, the order the groups are stopped in, whether logind's
//! `InhibitDelayMaxSec` must be raised (and the drop-in that raises it), and the kubelet's
//! reasons and messages, which pods a shutdown stops and when a step is done; and
//! [`NodeShutdown`], the one flag "the node is shutting down" that admission and the Node's
//! Ready condition read. No I/O: [`logind`] is the shell (the inhibitor lock over D-Bus,
//! `PrepareForShutdown`, the steps through the pod manager's `pods::manager::Stopper`).

pub mod logind;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

/// Priority of a pod without one (`scheduling.DefaultPriorityWhenNoDefaultClassExists`).
pub const DEFAULT_PRIORITY: i32 = 0;
/// Priority of the critical group (`scheduling.SystemCriticalPriority`).
pub const SYSTEM_CRITICAL_PRIORITY: i32 = crate::eviction::rules::SYSTEM_CRITICAL_PRIORITY;
/// The status reason of a pod stopped for the shutdown (`nodeShutdownReason`).
pub const REASON: &str = "Terminated";
/// The status message of a pod stopped for the shutdown (`nodeShutdownMessage`).
pub const MESSAGE: &str = "Pod was terminated in response to imminent node shutdown.";
/// The rejection reason of a pod admitted while the node shuts down.
pub const NOT_ADMITTED_REASON: &str = "NodeShutdown";
/// The rejection message of a pod admitted while the node shuts down.
pub const NOT_ADMITTED_MESSAGE: &str = "Pod was rejected as the node is shutting down.";
/// The Ready condition's message (status False, reason `KubeletNotReady`) during a shutdown.
pub const NOT_READY_MESSAGE: &str = "node is shutting down";
/// The logind drop-in that raises `InhibitDelayMaxSec` (the kubelet's is 99-kubelet.conf).
pub const LOGIND_DROP_IN: &str = "/etc/systemd/logind.conf.d/99-nodelet.conf";

/// Whether the node is shutting down now: set by [`logind`] on `PrepareForShutdown(true)`,
/// cleared on `PrepareForShutdown(false)`; read by the pod manager's admission and the Node's
/// Ready condition. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct NodeShutdown(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl NodeShutdown {
    pub fn set(&self, on: bool) {
        self.0.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The kubelet's `ShutdownStatus` as the Ready condition shows it: False,
    /// `KubeletNotReady`, "node is shutting down"; `None` while not shutting down.
    pub fn ready_condition(
        &self,
        now: jiff::Timestamp,
    ) -> Option<k8s_openapi::api::core::v1::NodeCondition> {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        self.is_shutting_down()
            .then(|| k8s_openapi::api::core::v1::NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: Some("KubeletNotReady".into()),
                message: Some(NOT_READY_MESSAGE.into()),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(Time(now)),
            })
    }
}

/// One priority group: pods of priority ≥ `priority` (up to the next group's) get at most
/// `grace` to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub priority: i32,
    pub grace: Duration,
}

/// A bad shutdown configuration, naming the key ([`ConfigError::key`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "shutdownGracePeriodCriticalPods {critical:?} must be <= shutdownGracePeriod {total:?}"
    )]
    CriticalExceedsTotal { total: Duration, critical: Duration },
    #[error("{key} {value:?} must be a whole number of seconds")]
    NotWholeSeconds { key: &'static str, value: Duration },
    #[error(
        "shutdownGracePeriodByPodPriority cannot be combined with shutdownGracePeriod / shutdownGracePeriodCriticalPods"
    )]
    Both,
    #[error("shutdownGracePeriodByPodPriority: priority {0} is listed twice")]
    DuplicatePriority(i32),
}

impl ConfigError {
    /// The configuration key at fault.
    pub fn key(&self) -> &'static str {
        match self {
            ConfigError::CriticalExceedsTotal { .. } => "shutdownGracePeriodCriticalPods",
            ConfigError::NotWholeSeconds { key, .. } => key,
            ConfigError::Both | ConfigError::DuplicatePriority(_) => {
                "shutdownGracePeriodByPodPriority"
            }
        }
    }
}

/// `shutdownGracePeriodByPodPriority` in the flag's form, `PRIORITY=SECONDS,...` (the file's
/// list of `{priority, shutdownGracePeriodSeconds}` is turned into it).
pub fn parse_by_priority(v: &str) -> Result<Vec<Group>, String> {
    let mut out = vec![];
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (p, s) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?}: expected PRIORITY=SECONDS"))?;
        let priority = p
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("{item:?}: priority must be a whole number"))?;
        let secs = s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{item:?}: shutdownGracePeriodSeconds must be >= 0"))?;
        out.push(Group {
            priority,
            grace: Duration::from_secs(secs),
        });
    }
    Ok(out)
}

/// How long logind must hold the shutdown: the sum of the groups' grace periods (the
/// kubelet's `periodRequested`).
pub fn period_requested(groups: &[Group]) -> Duration {
    groups.iter().map(|g| g.grace).sum()
}

/// The pods a shutdown stops: those not finished yet (the kubelet's active pods; phase
/// Succeeded or Failed are done), as [`PodRef`]s keyed by uid.
pub fn active<P: std::borrow::Borrow<Pod>>(pods: &[(String, P)]) -> Vec<PodRef> {
    pods.iter()
        .filter(|(_, p)| !is_finished(p.borrow()))
        .map(|(uid, p)| PodRef::of(uid.clone(), p.borrow()))
        .collect()
}

fn is_finished(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// Whether a step is done: each of its pods is finished or gone (`find` looks one up by uid).
pub fn step_done<P: std::borrow::Borrow<Pod>>(
    step: &Step,
    find: impl Fn(&str) -> Option<P>,
) -> bool {
    step.pods
        .iter()
        .all(|(uid, _)| find(uid).is_none_or(|p| is_finished(p.borrow())))
}

fn whole(key: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.subsec_nanos() != 0 {
        return Err(ConfigError::NotWholeSeconds { key, value });
    }
    Ok(())
}

/// The groups, lowest priority first (the order they are stopped in); empty = the feature is
/// off. `by_priority` is `shutdownGracePeriodByPodPriority`; otherwise the kubelet's migration
/// of the two durations: priority 0 gets `total − critical`, priority 2000000000 `critical`.
pub fn groups(
    total: Duration,
    critical: Duration,
    by_priority: &[Group],
) -> Result<Vec<Group>, ConfigError> {
    if !by_priority.is_empty() {
        if !total.is_zero() || !critical.is_zero() {
            return Err(ConfigError::Both);
        }
        let mut g = by_priority.to_vec();
        g.sort_by_key(|g| g.priority);
        if let Some(w) = g.windows(2).find(|w| w[0].priority == w[1].priority) {
            return Err(ConfigError::DuplicatePriority(w[0].priority));
        }
        for x in &g {
            whole("shutdownGracePeriodByPodPriority", x.grace)?;
        }
        return Ok(g);
    }
    whole("shutdownGracePeriod", total)?;
    whole("shutdownGracePeriodCriticalPods", critical)?;
    if critical > total {
        return Err(ConfigError::CriticalExceedsTotal { total, critical });
    }
    if total.is_zero() {
        return Ok(Vec::new());
    }
    Ok(vec![
        Group {
            priority: DEFAULT_PRIORITY,
            grace: total - critical,
        },
        Group {
            priority: SYSTEM_CRITICAL_PRIORITY,
            grace: critical,
        },
    ])
}

/// What the plan needs of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// The caller's key (the pod's uid).
    pub key: String,
    /// `spec.priority` (absent: 0).
    pub priority: i32,
    /// `spec.terminationGracePeriodSeconds`.
    pub grace_seconds: Option<i64>,
}

impl PodRef {
    pub fn of(key: impl Into<String>, pod: &Pod) -> PodRef {
        let spec = pod.spec.as_ref();
        PodRef {
            key: key.into(),
            priority: spec.and_then(|s| s.priority).unwrap_or(DEFAULT_PRIORITY),
            grace_seconds: spec.and_then(|s| s.termination_grace_period_seconds),
        }
    }
}

/// One step of the shutdown: stop these pods (key, grace period) together, then wait until
/// they are gone or `wait` has passed, before the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub priority: i32,
    pub wait: Duration,
    pub pods: Vec<(String, Duration)>,
}

/// The kubelet's `groupByPriority` and `processShutdownEvent`: each pod in the group of the
/// highest priority ≤ its own (below the lowest: the lowest), its grace period the group's,
/// or its own `terminationGracePeriodSeconds` when that is shorter (a negative one is 0);
/// groups without pods are skipped, so they cost no waiting.
pub fn plan(groups: &[Group], pods: &[PodRef]) -> Vec<Step> {
    let mut steps: Vec<Step> = groups
        .iter()
        .map(|g| Step {
            priority: g.priority,
            wait: g.grace,
            pods: Vec::new(),
        })
        .collect();
    if steps.is_empty() {
        return steps;
    }
    for p in pods {
        let i = groups
            .iter()
            .rposition(|g| g.priority <= p.priority)
            .unwrap_or(0);
        let mut grace = groups[i].grace;
        if let Some(s) = p.grace_seconds {
            let own = Duration::from_secs(s.max(0).unsigned_abs());
            if own <= grace {
                grace = own;
            }
        }
        steps[i].pods.push((p.key.clone(), grace));
    }
    steps.retain(|s| !s.pods.is_empty());
    steps
}

/// What to do about logind's `InhibitDelayMaxUSec` before taking the delay lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InhibitDelay {
    /// Long enough for the whole shutdown.
    Enough,
    /// Write [`LOGIND_DROP_IN`] with this content, reload logind (SIGHUP), read it again.
    Raise(String),
}

/// The kubelet's check: logind holds a shutdown at most `InhibitDelayMaxSec` (default 5 s), so
/// a shorter one than the whole `shutdownGracePeriod` is raised by a drop-in.
pub fn inhibit_delay(current: Duration, total: Duration) -> InhibitDelay {
    if current >= total {
        return InhibitDelay::Enough;
    }
    InhibitDelay::Raise(format!(
        "# nodelet's logind override: the node's shutdownGracePeriod\n[Login]\nInhibitDelayMaxSec={}\n",
        total.as_secs()
    ))
}

/// The error when logind still has less than asked after the reload (the kubelet's wording).
pub fn inhibit_delay_error(updated: Duration, total: Duration) -> Option<String> {
    (updated < total).then(|| {
        format!(
            "node shutdown manager was unable to update logind InhibitDelayMaxSec to {total:?} (ShutdownGracePeriod), current value of InhibitDelayMaxSec ({updated:?}) is less than requested ShutdownGracePeriod"
        )
    })
}

#[cfg(test)]
mod tests;
