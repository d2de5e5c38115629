//! `nodectl describe pod`: a pod and its events in `kubectl describe`'s layout (Name,
//! Namespace, Node, Start Time, Labels, Annotations, Status, IP, Init Containers, Containers
//! with State / Last State / Ready / Restart Count, Conditions, QoS Class, Events).

use std::fmt::Write;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Event, Pod};

fn map_lines(
    out: &mut String,
    title: &str,
    m: Option<&std::collections::BTreeMap<String, String>>,
) {
    let items: Vec<String> = m
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if items.is_empty() {
        let _ = writeln!(out, "{title:<15}<none>");
        return;
    }
    for (i, it) in items.iter().enumerate() {
        let label = if i == 0 { title } else { "" };
        let _ = writeln!(out, "{label:<15}{it}");
    }
}

fn time(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    t.map(|t| t.0.strftime("%a, %d %b %Y %H:%M:%S %z").to_string())
        .unwrap_or_default()
}

fn state(out: &mut String, title: &str, s: Option<&ContainerState>) {
    let Some(s) = s else { return };
    if let Some(r) = &s.running {
        let _ = writeln!(out, "    {title:<16}Running");
        let _ = writeln!(out, "      Started:      {}", time(r.started_at.as_ref()));
    } else if let Some(w) = &s.waiting {
        let _ = writeln!(out, "    {title:<16}Waiting");
        let _ = writeln!(
            out,
            "      Reason:       {}",
            w.reason.as_deref().unwrap_or("")
        );
        if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = writeln!(out, "      Message:      {m}");
        }
    } else if let Some(t) = &s.terminated {
        let _ = writeln!(out, "    {title:<16}Terminated");
        let _ = writeln!(
            out,
            "      Reason:       {}",
            t.reason.as_deref().unwrap_or("")
        );
        if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = writeln!(out, "      Message:      {m}");
        }
        let _ = writeln!(out, "      Exit Code:    {}", t.exit_code);
        let _ = writeln!(out, "      Started:      {}", time(t.started_at.as_ref()));
        let _ = writeln!(out, "      Finished:     {}", time(t.finished_at.as_ref()));
    } else if title == "Last State:" {
        let _ = writeln!(out, "    {title:<16}<none>");
    }
}

fn containers(
    out: &mut String,
    title: &str,
    pod: &Pod,
    statuses: Option<&Vec<ContainerStatus>>,
    init: bool,
) {
    let spec = pod.spec.as_ref();
    let list = if init {
        spec.and_then(|s| s.init_containers.as_ref())
    } else {
        spec.map(|s| &s.containers)
    };
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return;
    };
    let _ = writeln!(out, "{title}");
    for c in list {
        let st = statuses.into_iter().flatten().find(|s| s.name == c.name);
        let _ = writeln!(out, "  {}:", c.name);
        let _ = writeln!(
            out,
            "    Container ID:   {}",
            st.and_then(|s| s.container_id.clone()).unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "    Image:          {}",
            c.image.as_deref().unwrap_or("")
        );
        if let Some(cmd) = c.command.as_ref().filter(|v| !v.is_empty()) {
            let _ = writeln!(
                out,
                "    Command:\n{}",
                cmd.iter()
                    .map(|a| format!("      {a}\n"))
                    .collect::<String>()
                    .trim_end()
            );
        }
        if let Some(st) = st {
            state(out, "State:", st.state.as_ref());
            state(out, "Last State:", st.last_state.as_ref());
            let _ = writeln!(
                out,
                "    Ready:          {}",
                if st.ready { "True" } else { "False" }
            );
            let _ = writeln!(out, "    Restart Count:  {}", st.restart_count);
        }
    }
}

/// The `kubectl describe pod` text of `pod` with its `events`, ages measured at `now`.
pub fn pod(pod: &Pod, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let m = &pod.metadata;
    let st = pod.status.as_ref();
    let _ = writeln!(out, "{:<15}{}", "Name:", m.name.as_deref().unwrap_or(""));
    let _ = writeln!(
        out,
        "{:<15}{}",
        "Namespace:",
        m.namespace.as_deref().unwrap_or("default")
    );
    let _ = writeln!(
        out,
        "{:<15}{}",
        "Node:",
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("<none>")
    );
    let _ = writeln!(
        out,
        "{:<15}{}",
        "Start Time:",
        time(st.and_then(|s| s.start_time.as_ref()))
    );
    map_lines(&mut out, "Labels:", m.labels.as_ref());
    map_lines(&mut out, "Annotations:", m.annotations.as_ref());
    let _ = writeln!(
        out,
        "{:<15}{}",
        "Status:",
        st.and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
    );
    if let Some(r) = st.and_then(|s| s.reason.as_deref()) {
        let _ = writeln!(out, "{:<15}{r}", "Reason:");
    }
    let _ = writeln!(
        out,
        "{:<15}{}",
        "IP:",
        st.and_then(|s| s.pod_ip.as_deref()).unwrap_or("")
    );
    containers(
        &mut out,
        "Init Containers:",
        pod,
        st.and_then(|s| s.init_container_statuses.as_ref()),
        true,
    );
    containers(
        &mut out,
        "Containers:",
        pod,
        st.and_then(|s| s.container_statuses.as_ref()),
        false,
    );
    // kubectl's tabwriter: the Type column is as wide as its longest cell plus three spaces
    // (at least "ContainersReady").
    let conditions: Vec<_> = st
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let w = conditions
        .iter()
        .map(|c| c.type_.len())
        .chain(["ContainersReady".len()])
        .max()
        .unwrap_or(0)
        + 3;
    let _ = writeln!(out, "Conditions:\n  {:<w$}Status", "Type");
    for c in conditions {
        let _ = writeln!(out, "  {:<w$}{}", c.type_, c.status);
    }
    let _ = writeln!(
        out,
        "{:<15}{}",
        "QoS Class:",
        st.and_then(|s| s.qos_class.as_deref()).unwrap_or("")
    );
    out.push_str(&crate::events::describe(events, now));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerStateRunning, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    #[test]
    fn layout_like_kubectl() {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let p = Pod {
            metadata: ObjectMeta {
                name: Some("web-node1".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node1".into()),
                containers: vec![Container {
                    name: "web".into(),
                    image: Some("busybox".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some("10.244.1.2".into()),
                start_time: Some(Time(t)),
                container_statuses: Some(vec![ContainerStatus {
                    name: "web".into(),
                    ready: true,
                    restart_count: 2,
                    state: Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(Time(t)),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        };
        let text = pod(&p, &[], t);
        assert!(
            text.starts_with(
                "Name:          web-node1\nNamespace:     default\nNode:          node1\n"
            ),
            "{text}"
        );
        for want in [
            "Status:        Running",
            "IP:            10.244.1.2",
            "Containers:\n  web:",
            "    State:          Running",
            "    Ready:          True",
            "    Restart Count:  2",
            "Events:  <none>",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
    }
}
