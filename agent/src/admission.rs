//! Pod admission, the kubelet's `lifecycle/predicate.go`: before anything is set up for a new
//! pod, decide whether it fits this node, in the kubelet's order — the pod's
//! `kubernetes.io/os` label and `spec.os`, then resources (pods, cpu, memory against
//! allocatable minus what admitted pods request), then nodeSelector / required node
//! affinity. The first failure is the pod's reason (`OutOfcpu`, `NodeAffinity`, ...) and its
//! message is the kubelet's. Pure: the manager keeps the running sum of admitted requests.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use nodelet_objects::node_affinity::{self, NodeFacts};

use crate::podspec::resources::pod_totals;

/// The OS this agent runs pods for (`kubernetes.io/os`, Go's `GOOS`).
pub const NODE_OS: &str = "linux";

/// The node as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Capacity minus systemReserved and kubeReserved.
    pub allocatable: Usage,
}

/// Pods, millicores and bytes of memory: what admitted pods request, or what the node has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub pods: i64,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.pods += other.pods;
        self.cpu_millis += other.cpu_millis;
        self.memory_bytes += other.memory_bytes;
    }
}

/// Why a pod was refused: the pod's `status.reason` and the event's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    OutOfPods,
    OutOfCpu,
    OutOfMemory,
    NodeAffinity,
    PodOsSelectorNodeLabelDoesNotMatch,
    PodOsNotSupported,
    /// Soft admission: the pod stays Pending, its containers `Blocked`.
    AppArmor,
    /// The eviction manager's admission under node pressure (`eviction::rules::admit`).
    Evicted,
    /// The node shutdown manager's admission: no new pod while the node shuts down.
    NodeShutdown,
}

impl Reason {
    /// The event recorded for this rejection.
    pub fn event_reason(self) -> nodelet_objects::events::EventReason {
        use nodelet_objects::events::EventReason as E;
        match self {
            Reason::OutOfPods => E::OutOfPods,
            Reason::OutOfCpu => E::OutOfCpu,
            Reason::OutOfMemory => E::OutOfMemory,
            Reason::NodeAffinity => E::NodeAffinity,
            Reason::PodOsSelectorNodeLabelDoesNotMatch => E::PodOsSelectorNodeLabelDoesNotMatch,
            Reason::PodOsNotSupported => E::PodOsNotSupported,
            Reason::AppArmor => E::AppArmor,
            Reason::Evicted => E::Evicted,
            Reason::NodeShutdown => E::NodeShutdown,
        }
    }

    /// What the scheduler says of a node that does not fit for this reason
    /// (`1 Insufficient cpu`), for pods a controller made: on a cluster they wait for a node.
    pub fn scheduler_text(self) -> &'static str {
        match self {
            Reason::OutOfPods => "Too many pods",
            Reason::OutOfCpu => "Insufficient cpu",
            Reason::OutOfMemory => "Insufficient memory",
            Reason::NodeAffinity
            | Reason::PodOsSelectorNodeLabelDoesNotMatch
            | Reason::PodOsNotSupported => "node(s) didn't match Pod's node affinity/selector",
            Reason::AppArmor => "node(s) didn't have AppArmor enabled",
            Reason::Evicted | Reason::NodeShutdown => "node(s) had untolerated taint(s)",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfPods => "OutOfpods",
            Reason::OutOfCpu => "OutOfcpu",
            Reason::OutOfMemory => "OutOfmemory",
            Reason::NodeAffinity => "NodeAffinity",
            Reason::PodOsSelectorNodeLabelDoesNotMatch => "PodOSSelectorNodeLabelDoesNotMatch",
            Reason::PodOsNotSupported => "PodOSNotSupported",
            Reason::AppArmor => "AppArmor",
            Reason::Evicted => "Evicted",
            Reason::NodeShutdown => "NodeShutdown",
        }
    }
}

/// A refused pod: reason and the kubelet's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
}

/// What a pod counts against the node once admitted (one pod and its effective requests).
/// A pod whose resources cannot be read counts as one pod asking nothing; its containers fail
/// later with the field named.
pub fn requests(pod: &Pod) -> Usage {
    let t = pod_totals(pod).unwrap_or_default();
    Usage {
        pods: 1,
        cpu_millis: t.cpu_request_millis,
        memory_bytes: t.memory_request,
    }
}

/// Admits `pod` on `node` where the admitted pods request `used`; on success, what the pod
/// adds to `used`.
pub fn admit(pod: &Pod, node: &NodeInfo, used: Usage) -> Result<Usage, Rejection> {
    let reject = |reason: Reason, message: String| Err(Rejection { reason, message });
    let os_label = "kubernetes.io/os";
    if let Some(want) = pod.metadata.labels.as_ref().and_then(|l| l.get(os_label))
        && node.labels.get(os_label) != Some(want)
    {
        return reject(
            Reason::PodOsSelectorNodeLabelDoesNotMatch,
            "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label".into(),
        );
    }
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.os.as_ref().is_some_and(|os| os.name != NODE_OS) {
        return reject(
            Reason::PodOsNotSupported,
            "Failed to admit pod as the OS field doesn't match node OS".into(),
        );
    }
    let want = requests(pod);
    let alloc = node.allocatable;
    let insufficient = |reason: Reason, name: &str, requested: i64, used: i64, capacity: i64| {
        reject(
            reason,
            format!(
                "Node didn't have enough resource: {name}, requested: {requested}, used: {used}, capacity: {capacity}"
            ),
        )
    };
    if used.pods + 1 > alloc.pods {
        return insufficient(Reason::OutOfPods, "pods", 1, used.pods, alloc.pods);
    }
    if want.cpu_millis > 0 && want.cpu_millis > alloc.cpu_millis - used.cpu_millis {
        return insufficient(
            Reason::OutOfCpu,
            "cpu",
            want.cpu_millis,
            used.cpu_millis,
            alloc.cpu_millis,
        );
    }
    if want.memory_bytes > 0 && want.memory_bytes > alloc.memory_bytes - used.memory_bytes {
        return insufficient(
            Reason::OutOfMemory,
            "memory",
            want.memory_bytes,
            used.memory_bytes,
            alloc.memory_bytes,
        );
    }
    let facts = NodeFacts {
        name: &node.name,
        labels: &node.labels,
    };
    if !node_affinity::matches(&spec, facts) {
        return reject(
            Reason::NodeAffinity,
            "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
                .into(),
        );
    }
    Ok(want)
}

/// Whether the pod asks for AppArmor confinement (kubelet `apparmor.isRequired`): a pod or
/// container `appArmorProfile` other than Unconfined, or a container annotation other than
/// `unconfined`.
pub fn apparmor_required(pod: &Pod) -> bool {
    let confined = |p: Option<&k8s_openapi::api::core::v1::AppArmorProfile>| {
        p.is_some_and(|p| p.type_ != "Unconfined")
    };
    let spec = pod.spec.as_ref();
    if confined(
        spec.and_then(|s| s.security_context.as_ref())
            .and_then(|sc| sc.app_armor_profile.as_ref()),
    ) {
        return true;
    }
    let containers = spec
        .into_iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers));
    for c in containers {
        if confined(
            c.security_context
                .as_ref()
                .and_then(|sc| sc.app_armor_profile.as_ref()),
        ) {
            return true;
        }
    }
    pod.metadata
        .annotations
        .iter()
        .flatten()
        .any(|(k, v)| k.starts_with(crate::apparmor::ANNOTATION_PREFIX) && v != "unconfined")
}

/// The kubelet's soft admission (`canRunPod`, its AppArmor validator): a pod that asks for
/// AppArmor on a host without it, or whose container's profile (by the kubelet's precedence)
/// is Localhost with an empty name, is kept Pending, its containers `Blocked`, with this
/// rejection as the reason.
pub fn soft_admit(pod: &Pod, apparmor_enabled: bool) -> Result<(), Rejection> {
    if !apparmor_required(pod) {
        return Ok(());
    }
    let reject = |why: &str| {
        Err(Rejection {
            reason: Reason::AppArmor,
            message: format!("Cannot enforce AppArmor: {why}"),
        })
    };
    if !apparmor_enabled {
        return reject("AppArmor is not enabled on the host");
    }
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(());
    };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers);
    let cf = nodelet_objects::field::FieldPath::new("spec");
    for c in containers {
        if let Some((p, _)) = crate::podspec::security::app_armor_profile(pod, c, &cf)
            && p.type_ == "Localhost"
            && p.localhost_profile
                .as_deref()
                .is_none_or(|n| n.trim().is_empty())
        {
            return reject(&format!(
                "invalid empty AppArmor profile name: {{type: Localhost, localhostProfile: {:?}}}",
                p.localhost_profile.as_deref().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Whether the kernel has AppArmor enabled (`/sys/module/apparmor/parameters/enabled` is Y).
pub fn host_apparmor_enabled() -> bool {
    crate::apparmor::kernel_enabled()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    fn node() -> NodeInfo {
        NodeInfo {
            name: "node1".into(),
            labels: [
                ("kubernetes.io/hostname", "node1"),
                ("kubernetes.io/os", "linux"),
                ("disktype", "ssd"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            allocatable: Usage {
                pods: 3,
                cpu_millis: 2000,
                memory_bytes: 4 << 30,
            },
        }
    }

    fn with(resources: &str, extra: &str) -> Pod {
        pod(&format!(
            "{{metadata: {{name: p}}, spec: {{{extra} containers: [{{name: c, image: i, \
             resources: {resources}}}]}}}}"
        ))
    }

    #[test]
    fn kubelet_order_and_messages() {
        let used = Usage {
            pods: 1,
            cpu_millis: 500,
            memory_bytes: 1 << 30,
        };
        let full = Usage { pods: 3, ..used };
        for (p, used, want) in [
            (with("{}", ""), used, Ok(())),
            (
                with("{requests: {cpu: '100'}}", ""),
                used,
                Err((
                    Reason::OutOfCpu,
                    "Node didn't have enough resource: cpu, requested: 100000, used: 500, capacity: 2000",
                )),
            ),
            (
                // A limit alone is the request.
                with("{limits: {memory: 4Gi}}", ""),
                used,
                Err((
                    Reason::OutOfMemory,
                    "Node didn't have enough resource: memory, requested: 4294967296, used: 1073741824, capacity: 4294967296",
                )),
            ),
            (
                with("{requests: {cpu: 1500m, memory: 3Gi}}", ""),
                used,
                Ok(()),
            ),
            (
                with("{}", ""),
                full,
                Err((
                    Reason::OutOfPods,
                    "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
                )),
            ),
            // Resources are checked before affinity.
            (
                with("{requests: {cpu: '3'}}", "nodeSelector: {disktype: hdd},"),
                used,
                Err((
                    Reason::OutOfCpu,
                    "Node didn't have enough resource: cpu, requested: 3000, used: 500, capacity: 2000",
                )),
            ),
            (
                with("{}", "nodeSelector: {disktype: hdd},"),
                used,
                Err((
                    Reason::NodeAffinity,
                    "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
                )),
            ),
            (with("{}", "nodeSelector: {disktype: ssd},"), used, Ok(())),
            (
                with("{}", "os: {name: windows},"),
                used,
                Err((
                    Reason::PodOsNotSupported,
                    "Failed to admit pod as the OS field doesn't match node OS",
                )),
            ),
        ] {
            let got = admit(&p, &node(), used)
                .map(|_| ())
                .map_err(|r| (r.reason, r.message));
            assert_eq!(
                got,
                want.map_err(|(r, m)| (r, m.to_string())),
                "{:?}",
                p.spec
            );
        }
    }

    #[test]
    fn admitted_requests_add_up() {
        let n = node();
        let mut used = Usage::default();
        let p = with("{requests: {cpu: 800m, memory: 1Gi}}", "");
        for _ in 0..2 {
            used.add(admit(&p, &n, used).unwrap());
        }
        assert_eq!(
            used,
            Usage {
                pods: 2,
                cpu_millis: 1600,
                memory_bytes: 2 << 30
            }
        );
        let r = admit(&p, &n, used).unwrap_err();
        assert_eq!(r.reason, Reason::OutOfCpu);
    }

    #[test]
    fn os_label_must_match() {
        let p = pod(
            "{metadata: {name: p, labels: {kubernetes.io/os: windows}}, spec: {containers: []}}",
        );
        assert_eq!(
            admit(&p, &node(), Usage::default()).unwrap_err().reason,
            Reason::PodOsSelectorNodeLabelDoesNotMatch
        );
    }

    #[test]
    fn apparmor_needs_the_host_to_have_it() {
        let plain = pod("{metadata: {name: p}, spec: {containers: [{name: c, image: i}]}}");
        let annotated = pod(
            "{metadata: {name: p, annotations: {container.apparmor.security.beta.kubernetes.io/c: runtime/default}}, spec: {containers: [{name: c, image: i}]}}",
        );
        let unconfined = pod(
            "{metadata: {name: p, annotations: {container.apparmor.security.beta.kubernetes.io/c: unconfined}}, spec: {containers: [{name: c, image: i}]}}",
        );
        let field = pod(
            "{metadata: {name: p}, spec: {containers: [{name: c, image: i, securityContext: {appArmorProfile: {type: RuntimeDefault}}}]}}",
        );
        let pod_field = pod(
            "{metadata: {name: p}, spec: {securityContext: {appArmorProfile: {type: Localhost, localhostProfile: k8s-x}}, containers: [{name: c, image: i}]}}",
        );
        for (p, required) in [
            (&plain, false),
            (&annotated, true),
            (&unconfined, false),
            (&field, true),
            (&pod_field, true),
        ] {
            assert_eq!(apparmor_required(p), required, "{:?}", p.metadata);
            assert!(soft_admit(p, true).is_ok());
            let r = soft_admit(p, false);
            assert_eq!(r.is_err(), required);
            if let Err(r) = r {
                assert_eq!(
                    (r.reason.as_str(), r.message.as_str()),
                    (
                        "AppArmor",
                        "Cannot enforce AppArmor: AppArmor is not enabled on the host"
                    )
                );
            }
        }
    }

    /// With AppArmor on the host, a Localhost profile without a name (field or
    /// `localhost/` annotation, for the container that gets it) is refused, as the kubelet's
    /// validator does.
    #[test]
    fn apparmor_empty_localhost_name_is_refused() {
        for (yaml, refused) in [
            (
                "{metadata: {name: p, annotations: {container.apparmor.security.beta.kubernetes.io/c: localhost/}}, spec: {containers: [{name: c, image: i}]}}",
                true,
            ),
            (
                "{metadata: {name: p}, spec: {containers: [{name: c, image: i, securityContext: {appArmorProfile: {type: Localhost, localhostProfile: ' '}}}]}}",
                true,
            ),
            (
                "{metadata: {name: p}, spec: {securityContext: {appArmorProfile: {type: Localhost}}, initContainers: [{name: i, image: i}], containers: [{name: c, image: i}]}}",
                true,
            ),
            // The container's own field wins over the empty pod-level one.
            (
                "{metadata: {name: p}, spec: {securityContext: {appArmorProfile: {type: Localhost}}, containers: [{name: c, image: i, securityContext: {appArmorProfile: {type: RuntimeDefault}}}]}}",
                false,
            ),
            (
                "{metadata: {name: p, annotations: {container.apparmor.security.beta.kubernetes.io/c: localhost/k8s-x}}, spec: {containers: [{name: c, image: i}]}}",
                false,
            ),
        ] {
            let r = soft_admit(&pod(yaml), true);
            assert_eq!(r.is_err(), refused, "{yaml}");
            if let Err(r) = r {
                assert_eq!(r.reason, Reason::AppArmor);
                assert!(
                    r.message.starts_with(
                        "Cannot enforce AppArmor: invalid empty AppArmor profile name"
                    ),
                    "{}",
                    r.message
                );
            }
        }
    }
}
