//! The kubelet's eviction decisions (pkg/kubelet/eviction) as pure functions: thresholds
//! (`evictionHard`, `evictionSoft` with grace periods, `evictionMinimumReclaim`) parsed and
//! checked against signal observations, node conditions with the pressure transition period,
//! which threshold to reclaim first, the ranking of pods for it, local ephemeral storage
//! limits (emptyDir `sizeLimit`, container and pod `ephemeral-storage`), who is critical,
//! and the kubelet's messages. No I/O: observations and usage come in, decisions go out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use nodelet_objects::events::NodeEventReason;
use nodelet_objects::manifest::CONFIG_SOURCE_ANNOTATION;
use nodelet_objects::quantity::Quantity;

use crate::podspec::QosClass;
use crate::podspec::resources::{self, Requirements};

/// The kubelet's default hard thresholds on Linux.
pub const DEFAULT_EVICTION_HARD: &str = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%";
/// The kubelet's `evictionPressureTransitionPeriod` default.
pub const DEFAULT_PRESSURE_TRANSITION: Duration = Duration::from_secs(300);
/// The kubelet's housekeeping period: how often the eviction manager synchronizes.
pub const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(10);
/// Priority at or above which a pod is critical (`scheduling.SystemCriticalPriority`).
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;
/// Grace period of a pod evicted for a hard threshold (`immediateEvictionGracePeriodSeconds`).
pub const IMMEDIATE_GRACE: Duration = Duration::from_secs(1);

/// An eviction signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    MemoryAvailable,
    AllocatableMemoryAvailable,
    NodeFsAvailable,
    NodeFsInodesFree,
    ImageFsAvailable,
    ImageFsInodesFree,
    PidAvailable,
}

impl Signal {
    pub const ALL: [Signal; 7] = [
        Signal::MemoryAvailable,
        Signal::AllocatableMemoryAvailable,
        Signal::NodeFsAvailable,
        Signal::NodeFsInodesFree,
        Signal::ImageFsAvailable,
        Signal::ImageFsInodesFree,
        Signal::PidAvailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::AllocatableMemoryAvailable => "allocatableMemory.available",
            Signal::NodeFsAvailable => "nodefs.available",
            Signal::NodeFsInodesFree => "nodefs.inodesFree",
            Signal::ImageFsAvailable => "imagefs.available",
            Signal::ImageFsInodesFree => "imagefs.inodesFree",
            Signal::PidAvailable => "pid.available",
        }
    }

    fn parse(s: &str) -> Result<Signal, String> {
        Signal::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unsupported eviction signal {s}"))
    }

    /// The node condition this signal reports under.
    pub fn condition(self) -> Condition {
        match self {
            Signal::MemoryAvailable | Signal::AllocatableMemoryAvailable => {
                Condition::MemoryPressure
            }
            Signal::PidAvailable => Condition::PidPressure,
            _ => Condition::DiskPressure,
        }
    }

    /// The resource reclaimed by evicting pods for this signal (the kubelet's
    /// `signalToResource`), as named in messages.
    pub fn resource(self) -> Resource {
        match self {
            Signal::MemoryAvailable | Signal::AllocatableMemoryAvailable => Resource::Memory,
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => Resource::EphemeralStorage,
            Signal::NodeFsInodesFree | Signal::ImageFsInodesFree => Resource::Inodes,
            Signal::PidAvailable => Resource::Pids,
        }
    }

    /// Disk signals are first relieved by deleting unused images.
    pub fn is_disk(self) -> bool {
        self.condition() == Condition::DiskPressure
    }
}

/// What evicting a pod frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Memory,
    EphemeralStorage,
    Inodes,
    Pids,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::EphemeralStorage => "ephemeral-storage",
            Resource::Inodes => "inodes",
            Resource::Pids => "pids",
        }
    }
}

/// A node condition the eviction manager owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    MemoryPressure,
    DiskPressure,
    PidPressure,
}

impl Condition {
    pub const ALL: [Condition; 3] = [
        Condition::MemoryPressure,
        Condition::DiskPressure,
        Condition::PidPressure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::MemoryPressure => "MemoryPressure",
            Condition::DiskPressure => "DiskPressure",
            Condition::PidPressure => "PIDPressure",
        }
    }

    /// The node event of the condition becoming true or false.
    pub fn event_reason(self, on: bool) -> NodeEventReason {
        match (self, on) {
            (Condition::MemoryPressure, false) => NodeEventReason::NodeHasSufficientMemory,
            (Condition::MemoryPressure, true) => NodeEventReason::NodeHasInsufficientMemory,
            (Condition::DiskPressure, false) => NodeEventReason::NodeHasNoDiskPressure,
            (Condition::DiskPressure, true) => NodeEventReason::NodeHasDiskPressure,
            (Condition::PidPressure, false) => NodeEventReason::NodeHasSufficientPid,
            (Condition::PidPressure, true) => NodeEventReason::NodeHasInsufficientPid,
        }
    }

    /// The node status setter's (reason, message) for the condition being true or false.
    pub fn reason_message(self, on: bool) -> (&'static str, &'static str) {
        match (self, on) {
            (Condition::MemoryPressure, false) => (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            (Condition::MemoryPressure, true) => (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
            (Condition::DiskPressure, false) => {
                ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")
            }
            (Condition::DiskPressure, true) => {
                ("KubeletHasDiskPressure", "kubelet has disk pressure")
            }
            (Condition::PidPressure, false) => (
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            (Condition::PidPressure, true) => (
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            ),
        }
    }
}

/// The kubelet's node status events for the pressure conditions now `on`, given the node's
/// conditions `before`: one per condition that is new or changed status
/// (`NodeHasSufficientMemory`, `NodeHasDiskPressure`...), then `NodeReady` with the first
/// conditions (the node's Ready condition is set with them).
pub fn node_status_events(
    before: &[k8s_openapi::api::core::v1::NodeCondition],
    on: &[(Condition, bool)],
) -> Vec<NodeEventReason> {
    let mut out = vec![];
    for &(c, on) in on {
        let was = before.iter().find(|n| n.type_ == c.as_str());
        if was.is_none_or(|n| (n.status == "True") != on) {
            out.push(c.event_reason(on));
        }
    }
    if before.is_empty() {
        out.push(NodeEventReason::NodeReady);
    }
    out
}

/// A threshold's value: an absolute quantity or a share of the signal's capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Quantity(i64),
    Percentage(f64),
}

impl Value {
    /// The quantity against a capacity (`GetThresholdQuantity`).
    pub fn quantity(self, capacity: i64) -> i64 {
        match self {
            Value::Quantity(q) => q,
            Value::Percentage(p) => (capacity as f64 * p) as i64,
        }
    }

    fn parse(s: &str) -> Result<Value, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.parse().map_err(|_| format!("invalid percentage {s:?}"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!(
                    "invalid percentage {s:?}: must be between 0% and 100%"
                ));
            }
            return Ok(Value::Percentage(v / 100.0));
        }
        let q = Quantity::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
        if q.is_negative() {
            return Err(format!("eviction threshold {s:?} cannot be negative"));
        }
        Ok(Value::Quantity(q.value()))
    }

    fn is_zero(self) -> bool {
        match self {
            Value::Quantity(q) => q == 0,
            Value::Percentage(p) => p == 0.0,
        }
    }
}

/// One eviction threshold: the signal is met when its available amount falls below `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub signal: Signal,
    pub value: Value,
    /// Zero for a hard threshold.
    pub grace: Duration,
    pub min_reclaim: Option<Value>,
}

impl Threshold {
    pub fn is_hard(&self) -> bool {
        self.grace.is_zero()
    }
}

/// The eviction settings of the configuration, as given (flag syntax: `signal<value,...`;
/// the file's mappings become `signal=value,...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub hard: Option<String>,
    pub soft: String,
    pub soft_grace: String,
    pub min_reclaim: String,
}

fn pairs(s: &str, ops: &[char]) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once(ops)
                .ok_or_else(|| format!("{p:?}: must be signal<value"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The kubelet's `ParseThresholdConfig`: hard thresholds (the defaults when `hard` is not
/// given; a given one replaces them all), soft ones with their grace periods, minimum
/// reclaims. Errors name the signal and the problem.
pub fn parse_thresholds(s: &Settings) -> Result<Vec<Threshold>, String> {
    let mut out: Vec<Threshold> = Vec::new();
    let hard = s.hard.as_deref().unwrap_or(DEFAULT_EVICTION_HARD);
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in pairs(hard, &['<', '='])? {
        let signal = Signal::parse(&k)?;
        if !seen.insert(signal) {
            return Err(format!("found duplicate eviction threshold for signal {k}"));
        }
        let value = Value::parse(&v)?;
        // A zero threshold disables the signal (the kubelet drops `<0%`).
        if !value.is_zero() {
            out.push(Threshold {
                signal,
                value,
                grace: Duration::ZERO,
                min_reclaim: None,
            });
        }
    }
    let mut graces: BTreeMap<Signal, Duration> = BTreeMap::new();
    for (k, v) in pairs(&s.soft_grace, &['='])? {
        let signal = Signal::parse(&k)?;
        let d = nodelet_objects::duration::parse_duration(&v)
            .map_err(|e| format!("evictionSoftGracePeriod {k}: {e}"))?;
        graces.insert(signal, d);
    }
    let mut soft_seen = std::collections::BTreeSet::new();
    for (k, v) in pairs(&s.soft, &['<', '='])? {
        let signal = Signal::parse(&k)?;
        if !soft_seen.insert(signal) {
            return Err(format!("found duplicate eviction threshold for signal {k}"));
        }
        let grace = graces
            .remove(&signal)
            .ok_or_else(|| format!("no grace period specified for soft eviction threshold {k}"))?;
        if grace.is_zero() {
            return Err(format!(
                "grace period for soft eviction threshold {k} must be positive"
            ));
        }
        out.push(Threshold {
            signal,
            value: Value::parse(&v)?,
            grace,
            min_reclaim: None,
        });
    }
    if let Some(signal) = graces.keys().next() {
        return Err(format!(
            "evictionSoftGracePeriod {}: no soft eviction threshold for this signal",
            signal.as_str()
        ));
    }
    for (k, v) in pairs(&s.min_reclaim, &['='])? {
        let signal = Signal::parse(&k)?;
        let value = Value::parse(&v)?;
        for t in out.iter_mut().filter(|t| t.signal == signal) {
            t.min_reclaim = Some(value);
        }
    }
    Ok(out)
}

/// One signal's observation: what is available of what capacity (bytes, inodes or pids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub available: i64,
    pub capacity: i64,
}

pub type Observations = BTreeMap<Signal, Observation>;

/// The thresholds whose signal is observed below them (`thresholdsMet`); with
/// `enforce_min_reclaim`, below them plus their minimum reclaim.
pub fn thresholds_met(
    thresholds: &[Threshold],
    obs: &Observations,
    enforce_min_reclaim: bool,
) -> Vec<Threshold> {
    thresholds
        .iter()
        .filter(|t| {
            let Some(o) = obs.get(&t.signal) else {
                return false;
            };
            let mut q = t.value.quantity(o.capacity);
            if enforce_min_reclaim && let Some(m) = t.min_reclaim {
                q += m.quantity(o.capacity);
            }
            q > o.available
        })
        .cloned()
        .collect()
}

/// `n` bytes as Go's `resource.NewQuantity(n, BinarySI).String()`: the largest binary
/// suffix that divides it exactly (`100Mi`, `1536Ki`), else the plain number.
pub fn binary_si(n: i64) -> String {
    const SUFFIXES: [(&str, u32); 6] = [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ];
    if n != 0 {
        for (s, shift) in SUFFIXES {
            let unit = 1i64 << shift;
            if n % unit == 0 {
                return format!("{}{s}", n / unit);
            }
        }
    }
    n.to_string()
}

/// The eviction manager's memory between synchronizations (the kubelet's `managerImpl`
/// fields), and [`State::synchronize`], one housekeeping round's decision.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Thresholds met at the last round (kept until resolved past their minimum reclaim).
    pub thresholds_met: Vec<Threshold>,
    /// When each threshold was first seen met (by signal and grace).
    first_observed: BTreeMap<(Signal, u64), Timestamp>,
    /// When each condition was last observed.
    conditions_last: BTreeMap<Condition, Timestamp>,
    /// The conditions the node reports now.
    pub conditions: Vec<Condition>,
}

/// What one round decided about node pressure.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// The threshold to reclaim for, first by eviction priority; None: nothing to do.
    pub reclaim: Option<Threshold>,
}

fn key(t: &Threshold) -> (Signal, u64) {
    (t.signal, t.grace.as_secs())
}

impl State {
    /// One synchronization: thresholds met (kept until their minimum reclaim is reached),
    /// node conditions (kept for `transition` after they were last observed), then the
    /// thresholds whose grace period has passed, in eviction order.
    pub fn synchronize(
        &mut self,
        thresholds: &[Threshold],
        obs: &Observations,
        transition: Duration,
        now: Timestamp,
    ) -> Round {
        let mut met = thresholds_met(thresholds, obs, false);
        if !self.thresholds_met.is_empty() {
            for t in thresholds_met(&self.thresholds_met, obs, true) {
                if !met.contains(&t) {
                    met.push(t);
                }
            }
        }
        let mut first = BTreeMap::new();
        for t in &met {
            let k = key(t);
            first.insert(k, self.first_observed.get(&k).copied().unwrap_or(now));
        }
        self.first_observed = first;
        for t in &met {
            self.conditions_last.insert(t.signal.condition(), now);
        }
        let transition = jiff::SignedDuration::try_from(transition).unwrap_or_default();
        self.conditions_last
            .retain(|_, last| now.duration_since(*last) < transition);
        self.conditions = self.conditions_last.keys().copied().collect();
        let mut due: Vec<Threshold> = met
            .into_iter()
            .filter(|t| {
                let since = self.first_observed.get(&key(t)).copied().unwrap_or(now);
                let grace = jiff::SignedDuration::try_from(t.grace).unwrap_or_default();
                now.duration_since(since) >= grace
            })
            .collect();
        self.thresholds_met = due.clone();
        // Memory first (`byEvictionPriority`), then the rest in signal order.
        due.sort_by_key(|t| (t.signal.resource() != Resource::Memory, t.signal));
        Round {
            reclaim: due.into_iter().next(),
        }
    }

    /// Does the node report `c`?
    pub fn has(&self, c: Condition) -> bool {
        self.conditions.contains(&c)
    }
}

/// The kubelet's `kubetypes.IsCriticalPod`: static pods (any `kubernetes.io/config.source`
/// other than `api`; nodelet gives `api` to pods made through its API or by its workload
/// controllers) and pods of priority ≥ 2000000000 are never evicted.
pub fn is_critical(pod: &Pod) -> bool {
    let source = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CONFIG_SOURCE_ANNOTATION));
    let is_static = source.is_some_and(|s| s != "api");
    is_static || priority(pod) >= SYSTEM_CRITICAL_PRIORITY
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// What one pod uses and asks for, as the ranking needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodUsage {
    /// Working set of the pod cgroup, bytes.
    pub memory: Option<i64>,
    /// Containers' writable layers + logs + local volumes, bytes.
    pub disk: Option<i64>,
    pub inodes: Option<i64>,
    pub pids: Option<i64>,
}

/// A pod as ranking sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub pod: &'a Pod,
    pub usage: PodUsage,
}

fn request_of(pod: &Pod, r: Resource) -> i64 {
    match r {
        Resource::Memory => resources::pod_totals(pod)
            .map(|t| t.memory_request)
            .unwrap_or(0),
        Resource::EphemeralStorage => {
            let mut sum = 0;
            let spec = pod.spec.as_ref();
            for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
                let f = nodelet_objects::field::FieldPath::new("spec");
                sum += Requirements::of(c, &f)
                    .ok()
                    .and_then(|r| r.ephemeral_request)
                    .unwrap_or(0);
            }
            sum
        }
        Resource::Inodes | Resource::Pids => 0,
    }
}

fn usage_of(u: &PodUsage, r: Resource) -> Option<i64> {
    match r {
        Resource::Memory => u.memory,
        Resource::EphemeralStorage => u.disk,
        Resource::Inodes => u.inodes,
        Resource::Pids => u.pids,
    }
}

/// The kubelet's ranking for `resource`: memory and disk — pods using more than they request
/// first, then lower priority, then usage over requests (largest first); pids — lower
/// priority, then more pids. Pods without stats rank as using nothing. Returns indexes into
/// `pods`, most evictable first.
pub fn rank(resource: Resource, pods: &[Candidate]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..pods.len()).collect();
    let key = |c: &Candidate| {
        let used = usage_of(&c.usage, resource).unwrap_or(0);
        let request = request_of(c.pod, resource);
        let exceeds =
            resource != Resource::Pids && usage_of(&c.usage, resource).is_some() && used > request;
        let over = if resource == Resource::Pids {
            used
        } else {
            used - request
        };
        (!exceeds, priority(c.pod), std::cmp::Reverse(over))
    };
    idx.sort_by_key(|&i| key(&pods[i]));
    idx
}

/// The kubelet's `evictionMessage`: what was low, the threshold and what was available, and
/// each container using more than it requests.
pub fn eviction_message(
    t: &Threshold,
    obs: &Observations,
    pod: &Pod,
    containers: &[(String, i64)],
) -> String {
    let resource = t.signal.resource();
    let mut m = format!("The node was low on resource: {}. ", resource.as_str());
    if let Some(o) = obs.get(&t.signal) {
        let q = t.value.quantity(o.capacity);
        let (q, a) = match resource {
            Resource::Memory | Resource::EphemeralStorage => (binary_si(q), binary_si(o.available)),
            _ => (q.to_string(), o.available.to_string()),
        };
        m += &format!("Threshold quantity: {q}, available: {a}. ");
    }
    if matches!(resource, Resource::Memory | Resource::EphemeralStorage) {
        let spec = pod.spec.as_ref();
        for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
            let Some((_, used)) = containers.iter().find(|(n, _)| *n == c.name) else {
                continue;
            };
            let f = nodelet_objects::field::FieldPath::new("spec");
            let r = Requirements::of(c, &f).unwrap_or_default();
            let request = match resource {
                Resource::Memory => r.memory_request,
                _ => r.ephemeral_request,
            }
            .unwrap_or(0);
            if *used > request {
                m += &format!(
                    "Container {} was using {}, request is {}, has larger consumption of {}. ",
                    c.name,
                    binary_si(*used),
                    if request == 0 {
                        "0".to_string()
                    } else {
                        binary_si(request)
                    },
                    resource.as_str()
                );
            }
        }
    }
    m
}

/// The kubelet's admission rule under pressure (`Admit` of the eviction manager): with no
/// condition, or for a critical pod, admit; under memory pressure alone, admit all but
/// BestEffort pods (unless they tolerate the memory-pressure taint); otherwise refuse with
/// `The node had condition: [..]. `.
pub fn admit(pod: &Pod, qos: QosClass, conditions: &[Condition]) -> Result<(), String> {
    if conditions.is_empty() || is_critical(pod) {
        return Ok(());
    }
    if conditions == [Condition::MemoryPressure] {
        if qos != QosClass::BestEffort {
            return Ok(());
        }
        let tolerates = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_ref())
            .into_iter()
            .flatten()
            .any(|t| {
                let key_ok = match t.key.as_deref() {
                    None | Some("") => t.operator.as_deref() == Some("Exists"),
                    Some(k) => k == "node.kubernetes.io/memory-pressure",
                };
                let effect_ok = matches!(t.effect.as_deref(), None | Some("") | Some("NoSchedule"));
                key_ok && effect_ok
            });
        if tolerates {
            return Ok(());
        }
    }
    let names: Vec<&str> = conditions.iter().map(|c| c.as_str()).collect();
    Err(format!("The node had condition: [{}]. ", names.join(" ")))
}

/// Local ephemeral storage a pod uses now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// Bytes per volume that stores on the node's disk or memory (emptyDirs), by name.
    pub volumes: Vec<(String, i64)>,
    /// Each container's writable layer + logs, by name.
    pub containers: Vec<(String, i64)>,
}

/// Why a pod breaks its local storage limits, in the kubelet's order and words: an emptyDir
/// over its `sizeLimit`, the pod over its containers' (or pod-level) `ephemeral-storage`
/// limit, a container over its own. Memory-backed emptyDirs count in memory, not here.
pub fn storage_violation(pod: &Pod, u: &StorageUsage) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    for v in spec.volumes.iter().flatten() {
        let Some(ed) = &v.empty_dir else { continue };
        let Some(limit) = &ed.size_limit else {
            continue;
        };
        let Ok(q) = Quantity::parse(&limit.0) else {
            continue;
        };
        let used = u.volumes.iter().find(|(n, _)| *n == v.name).map(|x| x.1);
        if q.value() > 0 && used.is_some_and(|used| used > q.value()) {
            return Some(format!(
                "Usage of EmptyDir volume {:?} exceeds the limit {:?}. ",
                v.name, limit.0
            ));
        }
    }
    // The pod's limit: pod-level resources, else the sum over containers that set one.
    let field = nodelet_objects::field::FieldPath::new("spec");
    let pod_level = spec
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("ephemeral-storage"))
        .map(|q| {
            (
                Quantity::parse(&q.0).map(|q| q.value()).unwrap_or(0),
                q.0.clone(),
            )
        });
    let limits: Vec<i64> = spec
        .containers
        .iter()
        .filter_map(|c| Requirements::of(c, &field).ok()?.ephemeral_limit)
        .collect();
    let pod_limit = pod_level.or_else(|| {
        (!limits.is_empty()).then(|| {
            let sum: i64 = limits.iter().sum();
            (sum, binary_si(sum))
        })
    });
    let ephemeral_volumes: i64 = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.empty_dir
                .as_ref()
                .is_some_and(|e| e.medium.as_deref() != Some("Memory"))
                || v.config_map.is_some()
                || v.downward_api.is_some()
        })
        .filter_map(|v| u.volumes.iter().find(|(n, _)| *n == v.name).map(|x| x.1))
        .sum();
    let total = ephemeral_volumes + u.containers.iter().map(|c| c.1).sum::<i64>();
    if let Some((limit, shown)) = pod_limit
        && total > limit
    {
        return Some(format!(
            "Pod ephemeral local storage usage exceeds the total limit of containers {shown}. "
        ));
    }
    for c in &spec.containers {
        let Some(limit) = Requirements::of(c, &field)
            .ok()
            .and_then(|r| r.ephemeral_limit)
        else {
            continue;
        };
        let used = u.containers.iter().find(|(n, _)| *n == c.name).map(|x| x.1);
        if used.is_some_and(|used| used > limit) {
            let shown = c
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("ephemeral-storage"))
                .map(|q| q.0.clone())
                .unwrap_or_else(|| binary_si(limit));
            return Some(format!(
                "Container {} exceeded its local ephemeral storage limit {shown:?}. ",
                c.name
            ));
        }
    }
    None
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.value {
            Value::Quantity(q) => binary_si(q),
            Value::Percentage(p) => format!("{}%", p * 100.0),
        };
        write!(f, "{}<{v}", self.signal.as_str())
    }
}

#[cfg(test)]
mod tests;
