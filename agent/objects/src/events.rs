//! The node's event store: Kubernetes core/v1 Events about pods, aggregated the way the event
//! recorder and `kubectl describe` present them. An event with the same object, type, reason,
//! message and source as an earlier one bumps that one's `count` and `lastTimestamp` instead of
//! adding a row, so a crash loop shows `BackOff ... (x12 over 3m)`. The store is bounded: the
//! oldest events (by last occurrence) are dropped beyond its capacity.

use std::sync::Mutex;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// The longest event message kept (events.k8s.io `note` is at most 1 kB).
pub const MESSAGE_MAX: usize = 1024;

/// Events kept per store by default.
pub const DEFAULT_CAPACITY: usize = 1000;

/// The object an event is about (a pod, optionally one of its containers, or a workload).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Involved {
    /// `Pod`, `Job`, `Deployment`...
    pub kind: &'static str,
    /// `v1`, `batch/v1`, `apps/v1`.
    pub api_version: &'static str,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `spec.containers{name}` style field path, if about one container.
    pub field_path: Option<String>,
}

impl Involved {
    pub fn pod(namespace: &str, name: &str, uid: &str) -> Involved {
        Involved::object("Pod", "v1", namespace, name, uid)
    }

    /// The node `name`, as the kubelet refers to it in its events: no namespace, no
    /// apiVersion, the node's name as UID (what `kubectl describe node` selects by).
    pub fn node(name: &str) -> Involved {
        Involved::object("Node", "", "", name, name)
    }

    /// Any object by kind (`Job`) and apiVersion (`batch/v1`).
    pub fn object(
        kind: &'static str,
        api_version: &'static str,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> Involved {
        Involved {
            kind,
            api_version,
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            field_path: None,
        }
    }

    /// The same pod, about its (init) container `container`.
    pub fn container(mut self, container: &str, init: bool) -> Involved {
        let list = if init { "initContainers" } else { "containers" };
        self.field_path = Some(format!("spec.{list}{{{container}}}"));
        self
    }
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Why an event was recorded: the kubelet's reasons for events about pods and containers,
/// each with the type the kubelet gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventReason {
    /// The pod was assigned to this node.
    Scheduled,
    /// The pod was rejected at admission for want of pod slots (`maxPods`).
    OutOfPods,
    FailedCreatePodSandBox,
    /// The sandbox died and is re-created.
    SandboxChanged,
    FailedMount,
    /// The pod's shim could not be reached.
    FailedSync,
    Pulling,
    Pulled,
    Created,
    Started,
    /// A container failed to pull, be created or start, or an init container failed.
    Failed,
    /// CrashLoopBackOff.
    BackOff,
    /// An image pull waits out its back-off (the kubelet's `BackOffPullImage`: spelled
    /// `BackOff`, but Normal).
    BackOffPullImage,
    Killing,
    Unhealthy,
    FailedPostStartHook,
    /// The OOM killer ended a container.
    OomKilling,
    /// Admission: the pod's requests exceed the node's allocatable CPU.
    OutOfCpu,
    /// Admission: the pod's requests exceed the node's allocatable memory.
    OutOfMemory,
    /// Admission: nodeSelector or required node affinity does not match the node's labels.
    NodeAffinity,
    /// Admission: the pod's `kubernetes.io/os` node selector is not this node's OS.
    PodOsSelectorNodeLabelDoesNotMatch,
    /// Admission: `spec.os` is not this node's OS.
    PodOsNotSupported,
    /// Soft admission: AppArmor asked for on a host without it (the pod stays Pending).
    AppArmor,
    /// A controller's pod does not fit the node: it stays Pending, as the scheduler leaves it
    /// (recorded for the scheduler, `default-scheduler`).
    FailedScheduling,
    /// Fields of the manifest this node's Pod API does not know were dropped.
    UnknownField,
    /// A container declares a hostPort but no CNI plugin of the network maps ports.
    HostPortNotSupported,
    /// Keys of an `envFrom` ConfigMap or Secret that are no valid variable names were skipped.
    InvalidEnvironmentVariableNames,
    /// The eviction manager killed the pod (node pressure or local storage limits), or its
    /// admission refused it under pressure.
    Evicted,
    /// Secrets named by `imagePullSecrets` are not on the node: the pull goes on without them.
    FailedToRetrieveImagePullSecret,
    /// Admission: the node is shutting down (graceful node shutdown).
    NodeShutdown,
}

impl EventReason {
    /// The reason as the kubelet spells it (`OutOfpods`, `OOMKilling`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Scheduled => "Scheduled",
            EventReason::OutOfPods => "OutOfpods",
            EventReason::FailedCreatePodSandBox => "FailedCreatePodSandBox",
            EventReason::SandboxChanged => "SandboxChanged",
            EventReason::FailedMount => "FailedMount",
            EventReason::FailedSync => "FailedSync",
            EventReason::Pulling => "Pulling",
            EventReason::Pulled => "Pulled",
            EventReason::Created => "Created",
            EventReason::Started => "Started",
            EventReason::Failed => "Failed",
            EventReason::BackOff | EventReason::BackOffPullImage => "BackOff",
            EventReason::Killing => "Killing",
            EventReason::Unhealthy => "Unhealthy",
            EventReason::FailedPostStartHook => "FailedPostStartHook",
            EventReason::OomKilling => "OOMKilling",
            EventReason::OutOfCpu => "OutOfcpu",
            EventReason::OutOfMemory => "OutOfmemory",
            EventReason::NodeAffinity => "NodeAffinity",
            EventReason::PodOsSelectorNodeLabelDoesNotMatch => "PodOSSelectorNodeLabelDoesNotMatch",
            EventReason::PodOsNotSupported => "PodOSNotSupported",
            EventReason::AppArmor => "AppArmor",
            EventReason::FailedScheduling => "FailedScheduling",
            EventReason::UnknownField => "UnknownField",
            EventReason::HostPortNotSupported => "HostPortNotSupported",
            EventReason::InvalidEnvironmentVariableNames => "InvalidEnvironmentVariableNames",
            EventReason::Evicted => "Evicted",
            EventReason::FailedToRetrieveImagePullSecret => "FailedToRetrieveImagePullSecret",
            EventReason::NodeShutdown => "NodeShutdown",
        }
    }

    /// `Normal` or `Warning`, as the kubelet records this reason.
    pub fn event_type(self) -> EventType {
        match self {
            EventReason::Scheduled
            | EventReason::SandboxChanged
            | EventReason::Pulling
            | EventReason::BackOffPullImage
            | EventReason::Pulled
            | EventReason::Created
            | EventReason::Started
            | EventReason::Killing => EventType::Normal,
            EventReason::OutOfPods
            | EventReason::FailedCreatePodSandBox
            | EventReason::FailedMount
            | EventReason::FailedSync
            | EventReason::Failed
            | EventReason::BackOff
            | EventReason::Unhealthy
            | EventReason::FailedPostStartHook
            | EventReason::OomKilling
            | EventReason::OutOfCpu
            | EventReason::OutOfMemory
            | EventReason::NodeAffinity
            | EventReason::PodOsSelectorNodeLabelDoesNotMatch
            | EventReason::PodOsNotSupported
            | EventReason::AppArmor
            | EventReason::FailedScheduling
            | EventReason::UnknownField
            | EventReason::HostPortNotSupported
            | EventReason::InvalidEnvironmentVariableNames
            | EventReason::Evicted
            | EventReason::FailedToRetrieveImagePullSecret
            | EventReason::NodeShutdown => EventType::Warning,
        }
    }
}

/// Why an event about the node was recorded: the kubelet's node events (its `Starting`,
/// node allocatable, node status setters and eviction manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeEventReason {
    /// The agent started ("Starting kubelet.").
    Starting,
    /// The pods' cgroup limits are in place.
    NodeAllocatableEnforced,
    NodeHasSufficientMemory,
    NodeHasInsufficientMemory,
    NodeHasNoDiskPressure,
    NodeHasDiskPressure,
    NodeHasSufficientPid,
    NodeHasInsufficientPid,
    NodeReady,
    /// The eviction manager saw a threshold met and reclaims a resource.
    EvictionThresholdMet,
    /// The node shutdown manager saw a shutdown (or its cancellation) announced.
    NodeShutdown,
}

impl NodeEventReason {
    /// The reason as the kubelet spells it (`NodeHasSufficientPID`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeEventReason::Starting => "Starting",
            NodeEventReason::NodeAllocatableEnforced => "NodeAllocatableEnforced",
            NodeEventReason::NodeHasSufficientMemory => "NodeHasSufficientMemory",
            NodeEventReason::NodeHasInsufficientMemory => "NodeHasInsufficientMemory",
            NodeEventReason::NodeHasNoDiskPressure => "NodeHasNoDiskPressure",
            NodeEventReason::NodeHasDiskPressure => "NodeHasDiskPressure",
            NodeEventReason::NodeHasSufficientPid => "NodeHasSufficientPID",
            NodeEventReason::NodeHasInsufficientPid => "NodeHasInsufficientPID",
            NodeEventReason::NodeReady => "NodeReady",
            NodeEventReason::EvictionThresholdMet => "EvictionThresholdMet",
            NodeEventReason::NodeShutdown => "NodeShutdown",
        }
    }

    /// The kubelet records its node status events as Normal (pressure included) and the
    /// eviction manager's `EvictionThresholdMet` as Warning.
    pub fn event_type(self) -> EventType {
        match self {
            NodeEventReason::EvictionThresholdMet => EventType::Warning,
            _ => EventType::Normal,
        }
    }

    /// Whether this reason is a node status change ("Node n1 status is now: <reason>").
    pub fn is_status(self) -> bool {
        !matches!(
            self,
            NodeEventReason::Starting
                | NodeEventReason::NodeAllocatableEnforced
                | NodeEventReason::EvictionThresholdMet
                | NodeEventReason::NodeShutdown
        )
    }
}

#[derive(Debug, Clone)]
struct Entry {
    involved: Involved,
    type_: EventType,
    reason: String,
    message: String,
    component: String,
    host: String,
    count: i32,
    first: Timestamp,
    last: Timestamp,
    seq: u64,
}

/// Thread-safe, bounded event store.
#[derive(Debug)]
pub struct EventStore {
    host: String,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Entry>,
    seq: u64,
}

impl EventStore {
    /// A store for node `host` (the events' `source.host`) keeping at most `capacity` events.
    pub fn new(host: &str, capacity: usize) -> EventStore {
        EventStore {
            host: host.to_string(),
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Record an event from component `kubelet` now, of the type its reason has.
    pub fn record(&self, involved: &Involved, reason: EventReason, message: &str) {
        self.record_at(
            involved,
            reason.event_type(),
            reason.as_str(),
            message,
            "kubelet",
            Timestamp::now(),
        );
    }

    /// Record an event at time `at` (for tests and replay).
    pub fn record_at(
        &self,
        involved: &Involved,
        type_: EventType,
        reason: &str,
        message: &str,
        component: &str,
        at: Timestamp,
    ) {
        // Bounded as the API server bounds an event's note (1 kB): a message quoting a huge
        // input is cut, never stored or served whole.
        let message = &*crate::field::bounded_to(message, MESSAGE_MAX);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.seq += 1;
        let seq = g.seq;
        if let Some(e) = g.entries.iter_mut().find(|e| {
            e.involved == *involved
                && e.type_ == type_
                && e.reason == reason
                && e.message == message
                && e.component == component
        }) {
            e.count += 1;
            e.last = e.last.max(at);
            e.seq = seq;
            return;
        }
        g.entries.push(Entry {
            involved: involved.clone(),
            type_,
            reason: reason.to_string(),
            message: message.to_string(),
            component: component.to_string(),
            host: self.host.clone(),
            count: 1,
            first: at,
            last: at,
            seq,
        });
        if g.entries.len() > self.capacity {
            // Drop the event that happened least recently.
            if let Some(i) = g
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| (e.last, e.seq))
                .map(|(i, _)| i)
            {
                g.entries.remove(i);
            }
        }
    }

    /// An event of the kubelet about this node (`host`); a status change is worded as the
    /// kubelet words it ("Node n1 status is now: NodeReady"), others take `message`.
    pub fn record_node(&self, reason: NodeEventReason, message: &str) {
        let status;
        let message = if reason.is_status() {
            status = format!("Node {} status is now: {}", self.host, reason.as_str());
            &status
        } else {
            message
        };
        self.record_at(
            &Involved::node(&self.host),
            reason.event_type(),
            reason.as_str(),
            message,
            "kubelet",
            Timestamp::now(),
        );
    }

    /// Forget every event about pod `uid` (the pod was removed).
    pub fn forget_pod(&self, uid: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.entries.retain(|e| e.involved.uid != uid);
    }

    /// Events, oldest first (by first occurrence), optionally only those of one namespace and
    /// one object name.
    pub fn list(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Event> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<&Entry> = g
            .entries
            .iter()
            .filter(|e| {
                // Events about cluster-scoped objects (the node) live in `default`.
                namespace.is_none_or(|n| {
                    e.involved.namespace == n || (e.involved.namespace.is_empty() && n == "default")
                })
            })
            .filter(|e| name.is_none_or(|n| e.involved.name == n))
            .collect();
        v.sort_by_key(|e| (e.first, e.seq));
        v.into_iter().map(to_event).collect()
    }
}

fn to_event(e: &Entry) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                e.involved.name,
                e.first.as_nanosecond() as u128 ^ e.seq as u128
            )),
            namespace: Some(if e.involved.namespace.is_empty() {
                "default".to_string()
            } else {
                e.involved.namespace.clone()
            }),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(e.involved.api_version.to_string()).filter(|v| !v.is_empty()),
            kind: Some(e.involved.kind.to_string()),
            namespace: Some(e.involved.namespace.clone()).filter(|n| !n.is_empty()),
            name: Some(e.involved.name.clone()),
            uid: Some(e.involved.uid.clone()),
            field_path: e.involved.field_path.clone(),
            ..Default::default()
        },
        type_: Some(e.type_.as_str().to_string()),
        reason: Some(e.reason.clone()),
        message: Some(e.message.clone()),
        source: Some(EventSource {
            component: Some(e.component.clone()),
            host: Some(e.host.clone()),
        }),
        count: Some(e.count),
        first_timestamp: Some(Time(e.first)),
        last_timestamp: Some(Time(e.last)),
        reporting_component: Some(e.component.clone()),
        reporting_instance: Some(e.host.clone()),
        ..Default::default()
    }
}

/// Go's `duration.HumanDuration` as kubectl prints ages: `45s`, `3m`, `3m20s`, `2h`, `5d`...
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        // kubectl prints "<invalid>" for negative and "0s"... for tiny values.
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rs = s % 60;
        return if rs == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rs}s")
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = s / 3600;
    if h < 8 {
        let rm = m % 60;
        return if rm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rm}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let rh = h % 24;
        let d = h / 24;
        return if rh == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rh}h")
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    if h < 24 * 365 * 8 {
        let y = h / (24 * 365);
        let dy = (h / 24) % 365;
        return if dy == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{dy}d")
        };
    }
    format!("{}y", h / (24 * 365))
}

fn since(t: Option<&Time>, now: Timestamp) -> String {
    match t {
        None => "<unknown>".to_string(),
        Some(t) => {
            let d = now.duration_since(t.0);
            if d.as_secs() < -1 {
                return "<invalid>".to_string();
            }
            if d.is_negative() {
                return "0s".to_string();
            }
            human_duration(d.unsigned_abs())
        }
    }
}

/// The Age column of `kubectl describe`'s Events table: `2m`, or `10s (x3 over 2m)` for an
/// event seen several times.
pub fn age_column(e: &Event, now: Timestamp) -> String {
    let count = e.count.unwrap_or(1);
    if count > 1 {
        format!(
            "{} (x{count} over {})",
            since(e.last_timestamp.as_ref(), now),
            since(e.first_timestamp.as_ref(), now)
        )
    } else {
        since(
            e.first_timestamp.as_ref().or(e.last_timestamp.as_ref()),
            now,
        )
    }
}

/// The Events section of `kubectl describe`: `Events:  <none>`, or a table of Type, Reason,
/// Age, From and Message sorted by last occurrence, laid out like kubectl's tabwriter
/// (columns padded to their widest cell plus two spaces, rows indented by two).
pub fn describe(events: &[Event], now: Timestamp) -> String {
    if events.is_empty() {
        return "Events:  <none>\n".to_string();
    }
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .or(e.first_timestamp.as_ref())
            .map(|t| t.0)
    });
    let mut rows: Vec<[String; 5]> = vec![
        ["Type", "Reason", "Age", "From", "Message"].map(String::from),
        ["----", "------", "----", "----", "-------"].map(String::from),
    ];
    for e in sorted {
        let from = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default();
        rows.push([
            e.type_.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            age_column(e, now),
            from,
            e.message.clone().unwrap_or_default().trim().to_string(),
        ]);
    }
    let mut width = [0usize; 4];
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::from("Events:\n");
    for r in &rows {
        out.push_str("  ");
        for (c, w) in r.iter().zip(width) {
            out.push_str(c);
            out.push_str(&" ".repeat(w - c.chars().count() + 2));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn same_event_is_counted_with_first_and_last_time() {
        let s = EventStore::new("node1", 100);
        let p = Involved::pod("default", "web-node1", "u1").container("app", false);
        s.record_at(
            &p,
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container app in pod web-node1_default(u1)",
            "kubelet",
            t(0),
        );
        s.record_at(&p, EventType::Normal, "Pulled", "pulled", "kubelet", t(1));
        s.record_at(
            &p,
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container app in pod web-node1_default(u1)",
            "kubelet",
            t(60),
        );
        s.record_at(
            &p,
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container app in pod web-node1_default(u1)",
            "kubelet",
            t(110),
        );
        // A different message is a different event.
        s.record_at(
            &p,
            EventType::Warning,
            "BackOff",
            "other",
            "kubelet",
            t(111),
        );
        let ev = s.list(Some("default"), Some("web-node1"));
        assert_eq!(ev.len(), 3);
        let b = &ev[0];
        assert_eq!(b.reason.as_deref(), Some("BackOff"));
        assert_eq!(b.count, Some(3));
        assert_eq!(b.first_timestamp.as_ref().unwrap().0, t(0));
        assert_eq!(b.last_timestamp.as_ref().unwrap().0, t(110));
        assert_eq!(b.type_.as_deref(), Some("Warning"));
        assert_eq!(
            b.involved_object.field_path.as_deref(),
            Some("spec.containers{app}")
        );
        assert_eq!(b.source.as_ref().unwrap().host.as_deref(), Some("node1"));
        assert_eq!(age_column(b, t(120)), "10s (x3 over 2m)");
        assert_eq!(age_column(&ev[1], t(120)), "119s");
        assert_eq!(ev[2].message.as_deref(), Some("other"));
        // Other objects and namespaces are filtered out.
        let q = Involved::pod("kube-system", "web-node1", "u2");
        s.record_at(&q, EventType::Normal, "Scheduled", "x", "kubelet", t(2));
        assert_eq!(s.list(Some("default"), None).len(), 3);
        assert_eq!(s.list(None, Some("web-node1")).len(), 4);
        s.forget_pod("u1");
        assert_eq!(s.list(None, None).len(), 1);
    }

    #[test]
    fn a_reason_records_with_its_kubelet_spelling_and_type() {
        let s = EventStore::new("n", 10);
        let p = Involved::pod("default", "a", "u");
        for (reason, spelled, type_) in [
            (EventReason::BackOff, "BackOff", "Warning"),
            (EventReason::BackOffPullImage, "BackOff", "Normal"),
            (EventReason::OomKilling, "OOMKilling", "Warning"),
            (EventReason::OutOfPods, "OutOfpods", "Warning"),
            (EventReason::OutOfCpu, "OutOfcpu", "Warning"),
            (EventReason::UnknownField, "UnknownField", "Warning"),
            (
                EventReason::InvalidEnvironmentVariableNames,
                "InvalidEnvironmentVariableNames",
                "Warning",
            ),
            (EventReason::Killing, "Killing", "Normal"),
            (EventReason::Pulled, "Pulled", "Normal"),
        ] {
            s.record(&p, reason, spelled);
            let e = s.list(None, None).pop().unwrap();
            assert_eq!(e.reason.as_deref(), Some(spelled));
            assert_eq!(e.type_.as_deref(), Some(type_), "{spelled}");
        }
    }

    #[test]
    fn node_events_as_the_kubelet_records_them() {
        let s = EventStore::new("node1", 100);
        s.record_node(NodeEventReason::Starting, "Starting kubelet.");
        s.record_node(NodeEventReason::NodeHasSufficientPid, "");
        s.record_node(
            NodeEventReason::EvictionThresholdMet,
            "Attempting to reclaim memory",
        );
        let all = s.list(None, None);
        let rows: Vec<_> = all
            .iter()
            .map(|e| {
                (
                    e.type_.as_deref().unwrap(),
                    e.reason.as_deref().unwrap(),
                    e.message.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("Normal", "Starting", "Starting kubelet."),
                (
                    "Normal",
                    "NodeHasSufficientPID",
                    "Node node1 status is now: NodeHasSufficientPID"
                ),
                (
                    "Warning",
                    "EvictionThresholdMet",
                    "Attempting to reclaim memory"
                ),
            ]
        );
        // In `default`, about the Node by name (its UID, as kubectl describe node asks),
        // without namespace or apiVersion.
        let e = &all[0];
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        let o = &e.involved_object;
        assert_eq!(
            (o.kind.as_deref(), o.name.as_deref(), o.uid.as_deref()),
            (Some("Node"), Some("node1"), Some("node1"))
        );
        assert_eq!(
            (o.namespace.as_deref(), o.api_version.as_deref()),
            (None, None)
        );
        assert_eq!(
            e.source.as_ref().unwrap().component.as_deref(),
            Some("kubelet")
        );
        // Listed with the namespace `default` (kubectl get events) and by the node's
        // empty namespace (describe node's field selector), not with another namespace.
        assert_eq!(s.list(Some("default"), Some("node1")).len(), 3);
        assert_eq!(s.list(Some(""), Some("node1")).len(), 3);
        assert!(s.list(Some("kube-system"), None).is_empty());
    }

    #[test]
    fn store_is_bounded_dropping_the_stalest() {
        let s = EventStore::new("n", 3);
        let p = Involved::pod("default", "a", "u");
        s.record_at(&p, EventType::Normal, "R0", "m", "kubelet", t(0));
        s.record_at(&p, EventType::Normal, "R1", "m", "kubelet", t(1));
        s.record_at(&p, EventType::Normal, "R0", "m", "kubelet", t(5));
        s.record_at(&p, EventType::Normal, "R2", "m", "kubelet", t(2));
        s.record_at(&p, EventType::Normal, "R3", "m", "kubelet", t(6));
        let reasons: Vec<String> = s
            .list(None, None)
            .into_iter()
            .map(|e| e.reason.unwrap())
            .collect();
        assert_eq!(reasons, ["R0", "R2", "R3"]);
    }

    #[test]
    fn describe_table_like_kubectl() {
        let s = EventStore::new("n1", 10);
        let p = Involved::pod("default", "web-n1", "u1");
        let c = p.clone().container("app", false);
        s.record_at(
            &p,
            EventType::Normal,
            "Scheduled",
            "Successfully assigned default/web-n1 to n1",
            "kubelet",
            t(0),
        );
        for i in 0..3 {
            s.record_at(
                &c,
                EventType::Warning,
                "BackOff",
                "Back-off restarting failed container app",
                "kubelet",
                t(10 + i * 30),
            );
        }
        s.record_at(
            &c,
            EventType::Normal,
            "Pulled",
            "Container image \"busybox\" already present on machine ",
            "kubelet",
            t(20),
        );
        let text = describe(&s.list(None, None), t(130));
        let want = "\
Events:
  Type     Reason     Age               From     Message
  ----     ------     ----              ----     -------
  Normal   Scheduled  2m10s             kubelet  Successfully assigned default/web-n1 to n1
  Normal   Pulled     110s              kubelet  Container image \"busybox\" already present on machine
  Warning  BackOff    60s (x3 over 2m)  kubelet  Back-off restarting failed container app
";
        assert_eq!(text, want);
        assert_eq!(describe(&[], t(0)), "Events:  <none>\n");
    }

    #[test]
    fn human_durations_match_kubectl() {
        use std::time::Duration as D;
        assert_eq!(human_duration(D::from_secs(0)), "0s");
        assert_eq!(human_duration(D::from_secs(119)), "119s");
        assert_eq!(human_duration(D::from_secs(120)), "2m");
        assert_eq!(human_duration(D::from_secs(200)), "3m20s");
        assert_eq!(human_duration(D::from_secs(600)), "10m");
        assert_eq!(human_duration(D::from_secs(3 * 3600 + 60)), "3h1m");
        assert_eq!(human_duration(D::from_secs(9 * 3600)), "9h");
        assert_eq!(human_duration(D::from_secs(50 * 3600)), "2d2h");
        assert_eq!(human_duration(D::from_secs(10 * 86400)), "10d");
        assert_eq!(human_duration(D::from_secs(800 * 86400)), "2y70d");
    }
}
