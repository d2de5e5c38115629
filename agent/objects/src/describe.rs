//! `nodectl describe pod`: a pod and its events exactly as `kubectl describe pod` prints them
//! (its `describePod`): Name, Namespace, Priority, Service Account, Node, Start Time, Labels,
//! Annotations, Status (or Terminating), Reason, Message, IP and IPs, Controlled By, Init
//! Containers and Containers (IDs, image, ports, command, args, state, last state, ready,
//! restarts, limits and requests, probes, environment with field references resolved against
//! the pod, mounts), Readiness Gates, Conditions, Volumes, QoS Class, Node-Selectors,
//! Tolerations, Events. The sections shared with pod templates are
//! [`crate::workload_describe`]'s; the layout is its `tabbed` (kubectl's tabwriter).

use std::fmt::Write;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, EnvVar, Event, Pod};

use crate::quantity::Quantity;
use crate::workload_describe::{
    annotations, container, controlled_by, finish, header, labels, time, tolerations, volumes,
};

/// A list of addresses as the downward API gives it: comma-separated.
fn joined(ips: Option<Vec<&str>>) -> String {
    ips.map(|v| v.join(",")).unwrap_or_default()
}

/// What a field reference (`valueFrom.fieldRef`) of `pod` reads, as the downward API and
/// kubectl's `EnvValueRetriever` resolve it; empty for paths it does not know.
fn field_value(pod: &Pod, path: &str) -> String {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let st = pod.status.as_ref();
    let keyed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    if let Some(k) = keyed("metadata.labels") {
        return m
            .labels
            .as_ref()
            .and_then(|l| l.get(k))
            .cloned()
            .unwrap_or_default();
    }
    if let Some(k) = keyed("metadata.annotations") {
        return m
            .annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .cloned()
            .unwrap_or_default();
    }
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    match path {
        "metadata.name" => s(m.name.as_ref()),
        "metadata.namespace" => s(m.namespace.as_ref()),
        "metadata.uid" => s(m.uid.as_ref()),
        "spec.nodeName" => s(spec.and_then(|s| s.node_name.as_ref())),
        "spec.serviceAccountName" => s(spec.and_then(|s| s.service_account_name.as_ref())),
        "status.hostIP" => s(st.and_then(|s| s.host_ip.as_ref())),
        "status.podIP" => s(st.and_then(|s| s.pod_ip.as_ref())),
        "status.podIPs" => joined(
            st.and_then(|s| s.pod_ips.as_ref())
                .map(|ips| ips.iter().map(|i| i.ip.as_str()).collect()),
        ),
        "status.hostIPs" => joined(
            st.and_then(|s| s.host_ips.as_ref())
                .map(|ips| ips.iter().map(|i| i.ip.as_str()).collect()),
        ),
        _ => String::new(),
    }
}

/// What a resource reference (`valueFrom.resourceFieldRef`) of container `c` reads: the
/// container's own limit or request over the divisor, rounded up (`ExtractContainerResource
/// Value`; an unset limit reads 0 here, kubectl does not default it either).
fn resource_value(c: &Container, resource: &str, divisor: Option<&str>) -> String {
    let res = c.resources.as_ref();
    let (map, name) = match resource.split_once('.') {
        Some(("limits", n)) => (res.and_then(|r| r.limits.as_ref()), n),
        Some(("requests", n)) => (res.and_then(|r| r.requests.as_ref()), n),
        _ => return String::new(),
    };
    let q = map
        .and_then(|m| m.get(name))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .unwrap_or(Quantity::ZERO);
    let divisor = divisor
        .and_then(|d| Quantity::parse(d).ok())
        .filter(|d| *d != Quantity::ZERO);
    if name == "cpu" {
        let d = divisor.map_or(1000, |d| d.milli_value()).max(1);
        let m = q.milli_value();
        return (m / d + i64::from(m % d != 0)).to_string();
    }
    let d = divisor.map_or(1, |d| d.value()).max(1);
    let v = q.value();
    (v / d + i64::from(v % d != 0)).to_string()
}

fn env_value(pod: &Pod, c: &Container, e: &EnvVar) -> String {
    let Some(v) = &e.value_from else {
        return String::new();
    };
    if let Some(f) = &v.field_ref {
        return field_value(pod, &f.field_path);
    }
    if let Some(r) = &v.resource_field_ref {
        return resource_value(c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()));
    }
    String::new()
}

/// The `kubectl describe pod` text of `pod` with its `events`, ages measured at `now`.
pub fn pod(pod: &Pod, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let st = pod.status.clone().unwrap_or_default();
    header(&mut out, m, true);
    if let Some(p) = spec.priority {
        let _ = writeln!(out, "Priority:\t{p}");
    }
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let _ = writeln!(out, "Priority Class Name:\t{p}");
    }
    if let Some(r) = spec.runtime_class_name.as_deref().filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "Runtime Class Name:\t{r}");
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        let _ = writeln!(out, "Service Account:\t{sa}");
    }
    match spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        None => out.push_str("Node:\t<none>\n"),
        Some(n) => {
            let _ = writeln!(out, "Node:\t{n}/{}", st.host_ip.as_deref().unwrap_or(""));
        }
    }
    if st.start_time.is_some() {
        let _ = writeln!(out, "Start Time:\t{}", time(st.start_time.as_ref()));
    }
    labels(&mut out, "Labels", m.labels.as_ref());
    annotations(&mut out, "Annotations", m.annotations.as_ref());
    match &m.deletion_timestamp {
        Some(t) => {
            let since = std::time::Duration::try_from(now.duration_since(t.0)).unwrap_or_default();
            let _ = writeln!(
                out,
                "Status:\tTerminating (lasts {})",
                crate::events::human_duration(since)
            );
            let _ = writeln!(
                out,
                "Termination Grace Period:\t{}s",
                m.deletion_grace_period_seconds.unwrap_or(0)
            );
        }
        None => {
            let _ = writeln!(out, "Status:\t{}", st.phase.as_deref().unwrap_or(""));
        }
    }
    if let Some(r) = st.reason.as_deref().filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "Reason:\t{r}");
    }
    if let Some(msg) = st.message.as_deref().filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "Message:\t{msg}");
    }
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        let _ = writeln!(out, "SeccompProfile:\t{}", p.type_);
        if let Some(l) = p.localhost_profile.as_deref() {
            let _ = writeln!(out, "LocalhostProfile:\t{l}");
        }
    }
    let _ = writeln!(out, "IP:\t{}", st.pod_ip.as_deref().unwrap_or(""));
    match st.pod_ips.as_deref().filter(|ips| !ips.is_empty()) {
        None => out.push_str("IPs:\t<none>\n"),
        Some(ips) => {
            out.push_str("IPs:\n");
            for ip in ips {
                let _ = writeln!(out, "  IP:\t{}", ip.ip);
            }
        }
    }
    controlled_by(&mut out, m);
    if let Some(n) = st.nominated_node_name.as_deref().filter(|n| !n.is_empty()) {
        let _ = writeln!(out, "NominatedNodeName:\t{n}");
    }
    for (title, list, statuses) in [
        (
            "Init Containers",
            spec.init_containers.clone().unwrap_or_default(),
            st.init_container_statuses.clone().unwrap_or_default(),
        ),
        (
            "Containers",
            spec.containers.clone(),
            st.container_statuses.clone().unwrap_or_default(),
        ),
    ] {
        if list.is_empty() && title == "Init Containers" {
            continue;
        }
        let _ = writeln!(out, "{title}:");
        for c in &list {
            let status = statuses.iter().find(|s| s.name == c.name);
            container(&mut out, c, "", status, &|e| env_value(pod, c, e));
        }
    }
    if let Some(gates) = spec.readiness_gates.as_deref().filter(|g| !g.is_empty()) {
        out.push_str("Readiness Gates:\n  Type\tStatus\n");
        for g in gates {
            let status = st
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == g.condition_type)
                .map_or("<none>", |c| c.status.as_str());
            let _ = writeln!(out, "  {} \t{status} ", g.condition_type);
        }
    }
    if let Some(conds) = st.conditions.as_deref().filter(|c| !c.is_empty()) {
        out.push_str("Conditions:\n  Type\tStatus\n");
        for c in conds {
            let _ = writeln!(out, "  {} \t{} ", c.type_, c.status);
        }
    }
    volumes(&mut out, spec.volumes.as_deref().unwrap_or(&[]), "");
    let _ = writeln!(
        out,
        "QoS Class:\t{}",
        st.qos_class.as_deref().unwrap_or_default()
    );
    labels(&mut out, "Node-Selectors", spec.node_selector.as_ref());
    tolerations(&mut out, spec.tolerations.as_deref().unwrap_or(&[]), "");
    finish(out, events, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStatus, EnvVarSource, ObjectFieldSelector, PodIP, PodSpec, PodStatus,
        ResourceFieldSelector, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn sample(t: Timestamp) -> Pod {
        let env = |name: &str, source: EnvVarSource| EnvVar {
            name: name.into(),
            value_from: Some(source),
            ..Default::default()
        };
        Pod {
            metadata: ObjectMeta {
                name: Some("web-node1".into()),
                namespace: Some("default".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node1".into()),
                containers: vec![Container {
                    name: "web".into(),
                    image: Some("busybox".into()),
                    resources: Some(ResourceRequirements {
                        limits: Some([("cpu".to_string(), Q("1500m".into()))].into()),
                        ..Default::default()
                    }),
                    env: Some(vec![
                        env(
                            "POD",
                            EnvVarSource {
                                field_ref: Some(ObjectFieldSelector {
                                    api_version: Some("v1".into()),
                                    field_path: "metadata.name".into(),
                                }),
                                ..Default::default()
                            },
                        ),
                        env(
                            "CPUS",
                            EnvVarSource {
                                resource_field_ref: Some(ResourceFieldSelector {
                                    resource: "limits.cpu".into(),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                        ),
                    ]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                host_ip: Some("192.0.2.1".into()),
                pod_ip: Some("10.244.1.2".into()),
                pod_ips: Some(vec![PodIP {
                    ip: "10.244.1.2".into(),
                }]),
                qos_class: Some("Burstable".into()),
                start_time: Some(Time(t)),
                container_statuses: Some(vec![ContainerStatus {
                    name: "web".into(),
                    ready: true,
                    restart_count: 2,
                    image_id: "sha256:abc".into(),
                    container_id: Some("nodelet://c1".into()),
                    state: Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(Time(t)),
                        }),
                        ..Default::default()
                    }),
                    last_state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: 137,
                            reason: Some("OOMKilled".into()),
                            started_at: Some(Time(t)),
                            finished_at: Some(Time(t)),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn layout_like_kubectl() {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let text = pod(&sample(t), &[], t);
        assert!(
            text.starts_with(
                "Name:         web-node1\nNamespace:    default\nNode:         node1/192.0.2.1\n"
            ),
            "{text}"
        );
        // Columns are the tabwriter's (tested against kubectl in workload_describe and
        // kubectl_e2e); here the content, spaces squeezed.
        let squeezed: String = text
            .lines()
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                format!(
                    "{}{}\n",
                    &l[..indent],
                    l.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        for want in [
            "Status: Running\nIP: 10.244.1.2\nIPs:\n  IP: 10.244.1.2\n",
            "Containers:\n  web:\n    Container ID: nodelet://c1\n    Image: busybox\n    Image ID: sha256:abc\n    Port: <none>\n    Host Port: <none>\n",
            "    State: Running\n",
            "    Last State: Terminated\n      Reason: OOMKilled\n      Exit Code: 137\n",
            "    Ready: True\n    Restart Count: 2\n",
            "    Limits:\n      cpu: 1500m\n",
            "      POD: web-node1 (v1:metadata.name)\n      CPUS: 2 (limits.cpu)\n",
            "Volumes: <none>\nQoS Class: Burstable\nNode-Selectors: <none>\nTolerations: <none>\nEvents: <none>\n",
        ] {
            assert!(squeezed.contains(want), "{want:?} in\n{text}");
        }
    }

    #[test]
    fn tolerations_sorted_by_key_with_kubectls_exists_forms() {
        use k8s_openapi::api::core::v1::Toleration;
        let t = |key: &str, op: &str, value: &str, effect: &str, secs: Option<i64>| Toleration {
            key: Some(key.into()).filter(|k: &String| !k.is_empty()),
            operator: Some(op.into()),
            value: Some(value.into()).filter(|v: &String| !v.is_empty()),
            effect: Some(effect.into()).filter(|e: &String| !e.is_empty()),
            toleration_seconds: secs,
        };
        let mut out = String::new();
        tolerations(
            &mut out,
            &[
                t(
                    "node.kubernetes.io/not-ready",
                    "Exists",
                    "",
                    "NoExecute",
                    Some(300),
                ),
                t("", "Exists", "", "NoExecute", None),
                t("dedicated", "Equal", "web", "NoSchedule", None),
                t("", "Exists", "", "", None),
            ],
            "",
        );
        assert_eq!(
            out,
            "Tolerations:\t:NoExecute op=Exists\n\top=Exists\n\tdedicated=web:NoSchedule\n\tnode.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n"
        );
    }

    #[test]
    fn a_deleted_pod_is_terminating() {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let mut p = sample(t);
        p.metadata.deletion_timestamp = Some(Time(t));
        p.metadata.deletion_grace_period_seconds = Some(30);
        let text = pod(&p, &[], t + jiff::SignedDuration::from_secs(5));
        assert!(
            text.contains("Status:                    Terminating (lasts 5s)\nTermination Grace Period:  30s\n"),
            "{text}"
        );
    }
}
