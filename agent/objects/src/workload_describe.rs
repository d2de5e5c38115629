//! `nodectl describe` of the workload and configuration kinds in `kubectl describe`'s layout
//! (its `describe.go`): ConfigMaps (Data, BinaryData), Secrets (Type, Data sizes),
//! Deployments (Replicas, StrategyType, RollingUpdateStrategy, Conditions, Old/New
//! ReplicaSets), ReplicaSets and DaemonSets (Pods Status), Jobs (Parallelism, Completions,
//! Pods Statuses...), CronJobs (Schedule, policies, Last Schedule Time, Active Jobs), each
//! with its Pod Template (labels, containers with image, ports, command, args, resources,
//! probes, environment, mounts; volumes, node selectors, tolerations) and Events. The text is
//! laid out by [`tabbed`], Go's `text/tabwriter` as kubectl configures it, so columns line up
//! exactly as kubectl's do.

use std::collections::BTreeMap;
use std::fmt::Write;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerState, ContainerStatus, EnvVar, Event, Pod, PodTemplateSpec,
    Probe, Secret, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::workload_table::selector_string;

/// Go's `text/tabwriter` with kubectl's settings (min width 0, padding 2, spaces): a cell is
/// text ending in a tab; a column's cells in consecutive lines that have it are padded to the
/// widest plus two; text after a line's last tab is not aligned.
pub fn tabbed(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l).split('\t').collect())
        .collect();
    let mut widths = vec![Vec::new(); lines.len()];
    let mut stack = Vec::new();
    columns(&lines, 0, 0, lines.len(), &mut stack, &mut widths);
    let mut out = String::new();
    for (cells, w) in lines.iter().zip(&widths) {
        let n = cells.len() - 1;
        for (j, cell) in cells[..n].iter().enumerate() {
            out.push_str(cell);
            let pad = w.get(j).copied().unwrap_or(0);
            out.push_str(&" ".repeat(pad.saturating_sub(cell.chars().count())));
        }
        out.push_str(cells[n]);
        out.push('\n');
    }
    if !text.ends_with('\n') {
        out.pop();
    }
    out
}

/// Go's `Writer.format`: the width of column `col` for each block of consecutive lines of
/// `start..end` that have a cell in it, recursively for the next columns.
fn columns(
    lines: &[Vec<&str>],
    col: usize,
    start: usize,
    end: usize,
    stack: &mut Vec<usize>,
    widths: &mut [Vec<usize>],
) {
    let mut this = start;
    while this < end {
        if col >= lines[this].len() - 1 {
            widths[this] = stack.clone();
            this += 1;
            continue;
        }
        let block = this;
        let mut width = 0;
        while this < end && col < lines[this].len() - 1 {
            width = width.max(lines[this][col].chars().count() + 2);
            this += 1;
        }
        stack.push(width);
        columns(lines, col + 1, block, this, stack, widths);
        stack.pop();
    }
}

pub(crate) fn time(t: Option<&Time>) -> String {
    t.map(|t| t.0.strftime("%a, %d %b %Y %H:%M:%S %z").to_string())
        .unwrap_or_default()
}

/// `printLabelsMultiline`: `Title:\tk=v`, further labels on `\tk=v` lines, `<none>`.
pub(crate) fn labels(out: &mut String, title: &str, m: Option<&BTreeMap<String, String>>) {
    let _ = write!(out, "{title}:\t");
    match m.filter(|m| !m.is_empty()) {
        None => out.push_str("<none>\n"),
        Some(m) => {
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                let _ = writeln!(out, "{k}={v}");
            }
        }
    }
}

/// The annotations kubectl leaves out of `describe`.
const SKIPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];
const MAX_ANNOTATION_LEN: usize = 140;

/// `printAnnotationsMultiline`: `key: value`, long or multi-line values on their own lines.
pub(crate) fn annotations(out: &mut String, title: &str, m: Option<&BTreeMap<String, String>>) {
    let _ = write!(out, "{title}:\t");
    let items: Vec<(&String, &String)> = m
        .into_iter()
        .flatten()
        .filter(|(k, _)| !SKIPPED_ANNOTATIONS.contains(&k.as_str()))
        .collect();
    if items.is_empty() {
        out.push_str("<none>\n");
        return;
    }
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let value = v.strip_suffix('\n').unwrap_or(v);
        if value.len() + k.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            let _ = writeln!(out, "{k}:");
            for s in value.split('\n') {
                let short = if s.len() > MAX_ANNOTATION_LEN - 2 {
                    let mut end = MAX_ANNOTATION_LEN - 5;
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    format!("{}...", &s[..end])
                } else {
                    s.to_string()
                };
                let _ = writeln!(out, "\t  {short}");
            }
        } else {
            let _ = writeln!(out, "{k}: {value}");
        }
    }
}

pub(crate) fn header(out: &mut String, m: &ObjectMeta, namespace: bool) {
    let _ = writeln!(out, "Name:\t{}", m.name.as_deref().unwrap_or_default());
    if namespace {
        let _ = writeln!(
            out,
            "Namespace:\t{}",
            m.namespace.as_deref().unwrap_or_default()
        );
    }
}

fn intstr(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => String::new(),
    }
}

/// `DescribeProbe`.
fn probe(p: &Probe) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        p.initial_delay_seconds.unwrap_or(0),
        p.timeout_seconds.unwrap_or(0),
        p.period_seconds.unwrap_or(0),
        p.success_threshold.unwrap_or(0),
        p.failure_threshold.unwrap_or(0)
    );
    if let Some(e) = &p.exec {
        return format!(
            "exec [{}] {attrs}",
            e.command.clone().unwrap_or_default().join(" ")
        );
    }
    if let Some(h) = &p.http_get {
        let scheme = h.scheme.as_deref().unwrap_or("").to_lowercase();
        let host = h.host.as_deref().unwrap_or("");
        let port = intstr(Some(&h.port));
        let hostport = if port.is_empty() {
            host.to_string()
        } else if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        return format!(
            "http-get {scheme}://{hostport}{} {attrs}",
            h.path.as_deref().unwrap_or("")
        );
    }
    if let Some(t) = &p.tcp_socket {
        return format!(
            "tcp-socket {}:{} {attrs}",
            t.host.as_deref().unwrap_or(""),
            intstr(Some(&t.port))
        );
    }
    if let Some(g) = &p.grpc {
        return format!(
            "grpc <pod>:{} {} {attrs}",
            g.port,
            g.service.as_deref().unwrap_or("")
        );
    }
    format!("unknown {attrs}")
}

/// `describeStatus`: a container state (`State`, `Last State`) with its details.
fn state(out: &mut String, title: &str, s: Option<&ContainerState>) {
    let s = s.cloned().unwrap_or_default();
    if let Some(r) = &s.running {
        let _ = writeln!(out, "    {title}:\tRunning");
        let _ = writeln!(out, "      Started:\t{}", time(r.started_at.as_ref()));
    } else if let Some(w) = &s.waiting {
        let _ = writeln!(out, "    {title}:\tWaiting");
        if let Some(r) = w.reason.as_deref().filter(|r| !r.is_empty()) {
            let _ = writeln!(out, "      Reason:\t{r}");
        }
    } else if let Some(t) = &s.terminated {
        let _ = writeln!(out, "    {title}:\tTerminated");
        if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
            let _ = writeln!(out, "      Reason:\t{r}");
        }
        if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = writeln!(out, "      Message:\t{m}");
        }
        let _ = writeln!(out, "      Exit Code:\t{}", t.exit_code);
        if let Some(sig) = t.signal.filter(|s| *s > 0) {
            let _ = writeln!(out, "      Signal:\t{sig}");
        }
        let _ = writeln!(out, "      Started:\t{}", time(t.started_at.as_ref()));
        let _ = writeln!(out, "      Finished:\t{}", time(t.finished_at.as_ref()));
    } else {
        let _ = writeln!(out, "    {title}:\tWaiting");
    }
}

/// How an environment variable's `valueFrom` reads in `describe`: a pod's resolved value,
/// nothing for a template.
pub(crate) type EnvValue<'a> = &'a dyn Fn(&EnvVar) -> String;

/// One container (`describeContainers`): `space` is `""` for a pod, `"  "` in a pod
/// template; `status` (a pod's) adds Container ID, Image ID, State, Last State, Ready and
/// Restart Count; `env_value` resolves field and resource references.
pub(crate) fn container(
    out: &mut String,
    c: &Container,
    space: &str,
    status: Option<&ContainerStatus>,
    env_value: EnvValue,
) {
    let name_indent = if space.is_empty() { "" } else { " " };
    let _ = writeln!(out, "  {name_indent}{}:", c.name);
    if let Some(st) = status {
        let _ = writeln!(
            out,
            "    Container ID:\t{}",
            st.container_id.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "    Image:\t{}",
        c.image.as_deref().unwrap_or_default()
    );
    if let Some(st) = status {
        let _ = writeln!(out, "    Image ID:\t{}", st.image_id);
    }
    let ports = c.ports.as_deref().unwrap_or(&[]);
    let proto =
        |p: &k8s_openapi::api::core::v1::ContainerPort| p.protocol.clone().unwrap_or_default();
    let list: Vec<String> = ports
        .iter()
        .map(|p| format!("{}/{}", p.container_port, proto(p)))
        .collect();
    let host: Vec<String> = ports
        .iter()
        .map(|p| format!("{}/{}", p.host_port.unwrap_or(0), proto(p)))
        .collect();
    for (one, many, v) in [("Port", "Ports", list), ("Host Port", "Host Ports", host)] {
        match v.len() {
            0 => {
                let _ = writeln!(out, "    {one}:\t<none>");
            }
            1 => {
                let _ = writeln!(out, "    {one}:\t{}", v[0]);
            }
            _ => {
                let _ = writeln!(out, "    {many}:\t{}", v.join(", "));
            }
        }
    }
    if let Some(p) = c
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        let _ = writeln!(out, "    SeccompProfile:\t{}", p.type_);
        if let Some(l) = p.localhost_profile.as_deref() {
            let _ = writeln!(out, "    LocalhostProfile:\t{l}");
        }
    }
    for (title, items) in [("Command", &c.command), ("Args", &c.args)] {
        let items = items.as_deref().unwrap_or(&[]);
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    {title}:");
        for i in items {
            for s in i.split('\n') {
                let _ = writeln!(out, "      {s}");
            }
        }
    }
    if let Some(st) = status {
        state(out, "State", st.state.as_ref());
        if st
            .last_state
            .as_ref()
            .is_some_and(|l| l.terminated.is_some())
        {
            state(out, "Last State", st.last_state.as_ref());
        }
        let _ = writeln!(
            out,
            "    Ready:\t{}",
            if st.ready { "True" } else { "False" }
        );
        let _ = writeln!(out, "    Restart Count:\t{}", st.restart_count);
    }
    let res = c.resources.as_ref();
    for (title, m) in [
        ("Limits", res.and_then(|r| r.limits.as_ref())),
        ("Requests", res.and_then(|r| r.requests.as_ref())),
    ] {
        let Some(m) = m.filter(|m| !m.is_empty()) else {
            continue;
        };
        let _ = writeln!(out, "    {title}:");
        for (k, q) in m {
            let _ = writeln!(out, "      {k}:\t{}", q.0);
        }
    }
    for (title, p) in [
        ("Liveness", &c.liveness_probe),
        ("Readiness", &c.readiness_probe),
        ("Startup", &c.startup_probe),
    ] {
        if let Some(p) = p {
            let _ = writeln!(out, "    {title}:\t{}", probe(p));
        }
    }
    if let Some(from) = c.env_from.as_deref().filter(|f| !f.is_empty()) {
        let _ = writeln!(out, "    Environment Variables from:");
        for f in from {
            let prefix = f.prefix.as_deref().unwrap_or("");
            let (name, kind, optional) = match (&f.config_map_ref, &f.secret_ref) {
                (Some(r), _) => (r.name.clone(), "ConfigMap", r.optional),
                (_, Some(r)) => (r.name.clone(), "Secret", r.optional),
                _ => continue,
            };
            let optional = optional.unwrap_or(false);
            if prefix.is_empty() {
                let _ = writeln!(out, "      {name}\t{kind}\tOptional: {optional}");
            } else {
                let _ = writeln!(
                    out,
                    "      {name}\t{kind} with prefix '{prefix}'\tOptional: {optional}"
                );
            }
        }
    }
    let env = c.env.as_deref().unwrap_or(&[]);
    if env.is_empty() {
        out.push_str("    Environment:\t<none>\n");
    } else {
        out.push_str("    Environment:\n");
    }
    for e in env {
        match &e.value_from {
            None => {
                for (i, s) in e.value.as_deref().unwrap_or("").split('\n').enumerate() {
                    if i == 0 {
                        let _ = writeln!(out, "      {}:\t{s}", e.name);
                    } else {
                        let _ = writeln!(out, "\t{s}");
                    }
                }
            }
            Some(v) => {
                if let Some(f) = &v.field_ref {
                    let _ = writeln!(
                        out,
                        "      {}:\t{} ({}:{})",
                        e.name,
                        env_value(e),
                        f.api_version.as_deref().unwrap_or(""),
                        f.field_path
                    );
                } else if let Some(r) = &v.resource_field_ref {
                    let _ = writeln!(out, "      {}:\t{} ({})", e.name, env_value(e), r.resource);
                } else if let Some(s) = &v.secret_key_ref {
                    let _ = writeln!(
                        out,
                        "      {}:\t<set to the key '{}' in secret '{}'>\tOptional: {}",
                        e.name,
                        s.key,
                        s.name,
                        s.optional.unwrap_or(false)
                    );
                } else if let Some(c) = &v.config_map_key_ref {
                    let _ = writeln!(
                        out,
                        "      {}:\t<set to the key '{}' of config map '{}'>\tOptional: {}",
                        e.name,
                        c.key,
                        c.name,
                        c.optional.unwrap_or(false)
                    );
                }
            }
        }
    }
    let mut mounts = c.volume_mounts.clone().unwrap_or_default();
    if mounts.is_empty() {
        out.push_str("    Mounts:\t<none>\n");
    } else {
        out.push_str("    Mounts:\n");
    }
    mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
    for m in mounts {
        let mut flags = vec![
            if m.read_only == Some(true) {
                "ro"
            } else {
                "rw"
            }
            .to_string(),
        ];
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            flags.push(format!("path={sp:?}"));
        }
        let _ = writeln!(
            out,
            "      {} from {} ({})",
            m.mount_path,
            m.name,
            flags.join(",")
        );
    }
}

/// `describeVolumes` for the volume types pods here use; `space` as for [`container`].
pub(crate) fn volumes(out: &mut String, vols: &[Volume], space: &str) {
    if vols.is_empty() {
        let _ = writeln!(out, "{space}Volumes:\t<none>");
        return;
    }
    let _ = writeln!(out, "{space}Volumes:");
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in vols {
        let _ = writeln!(out, "  {name_indent}{}:", v.name);
        if let Some(e) = &v.empty_dir {
            let _ = writeln!(
                out,
                "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)"
            );
            let _ = writeln!(out, "    Medium:\t{}", e.medium.as_deref().unwrap_or(""));
            let _ = writeln!(
                out,
                "    SizeLimit:\t{}",
                e.size_limit
                    .as_ref()
                    .map_or("<unset>".to_string(), |q| q.0.clone())
            );
        } else if let Some(h) = &v.host_path {
            let _ = writeln!(out, "    Type:\tHostPath (bare host directory volume)");
            let _ = writeln!(out, "    Path:\t{}", h.path);
            let _ = writeln!(
                out,
                "    HostPathType:\t{}",
                h.type_.as_deref().unwrap_or("")
            );
        } else if let Some(c) = &v.config_map {
            let _ = writeln!(
                out,
                "    Type:\tConfigMap (a volume populated by a ConfigMap)"
            );
            let _ = writeln!(out, "    Name:\t{}", c.name);
            let _ = writeln!(out, "    Optional:\t{}", c.optional.unwrap_or(false));
        } else if let Some(s) = &v.secret {
            let _ = writeln!(out, "    Type:\tSecret (a volume populated by a Secret)");
            let _ = writeln!(
                out,
                "    SecretName:\t{}",
                s.secret_name.as_deref().unwrap_or("")
            );
            let _ = writeln!(out, "    Optional:\t{}", s.optional.unwrap_or(false));
        } else {
            out.push_str("    <unknown>\n");
        }
    }
}

/// `printPodTolerationsMultiline`, sorted by key as kubectl prints them; `space` as for
/// [`container`].
pub(crate) fn tolerations(out: &mut String, ts: &[Toleration], space: &str) {
    let _ = write!(out, "{space}Tolerations:\t");
    if ts.is_empty() {
        out.push_str("<none>\n");
        return;
    }
    let mut ts: Vec<&Toleration> = ts.iter().collect();
    ts.sort_by(|a, b| a.key.cmp(&b.key));
    for (i, t) in ts.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let mut s = t.key.clone().unwrap_or_default();
        if let Some(v) = t.value.as_deref().filter(|v| !v.is_empty()) {
            let _ = write!(s, "={v}");
        }
        if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
            let _ = write!(s, ":{e}");
        }
        if t.operator.as_deref() == Some("Exists") && t.value.as_deref().unwrap_or("").is_empty() {
            if t.key.as_deref().unwrap_or("").is_empty()
                && t.effect.as_deref().unwrap_or("").is_empty()
            {
                s.push_str("op=Exists");
            } else {
                s.push_str(" op=Exists");
            }
        }
        if let Some(secs) = t.toleration_seconds {
            let _ = write!(s, " for {secs}s");
        }
        let _ = writeln!(out, "{s}");
    }
}

/// `DescribePodTemplate`.
fn pod_template(out: &mut String, t: Option<&PodTemplateSpec>) {
    out.push_str("Pod Template:\n");
    let Some(t) = t else {
        out.push_str("  <unset>");
        return;
    };
    let meta = t.metadata.clone().unwrap_or_default();
    labels(out, "  Labels", meta.labels.as_ref());
    if meta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        annotations(out, "  Annotations", meta.annotations.as_ref());
    }
    let spec = t.spec.clone().unwrap_or_default();
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        let _ = writeln!(out, "  Service Account:\t{sa}");
    }
    let init = spec.init_containers.as_deref().unwrap_or(&[]);
    if !init.is_empty() {
        out.push_str("  Init Containers:\n");
        for c in init {
            container(out, c, "  ", None, &|_| String::new());
        }
    }
    out.push_str("  Containers:\n");
    for c in &spec.containers {
        container(out, c, "  ", None, &|_| String::new());
    }
    volumes(out, spec.volumes.as_deref().unwrap_or(&[]), "  ");
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        let _ = writeln!(out, "  Priority Class Name:\t{p}");
    }
    labels(out, "  Node-Selectors", spec.node_selector.as_ref());
    tolerations(out, spec.tolerations.as_deref().unwrap_or(&[]), "  ");
}

/// `DescribePodTemplate` as `kubectl rollout history --revision=N` prints it: the prefix
/// writer's text, tabs as they are (that command does not align them).
pub fn pod_template_text(t: &PodTemplateSpec) -> String {
    let mut out = String::new();
    pod_template(&mut out, Some(t));
    out
}

/// The Events section, in the tabbed text when there are none (kubectl's `Events:\t<none>`
/// lines up with what precedes it), else `events::describe`'s table.
pub(crate) fn finish(mut out: String, events: &[Event], now: Timestamp) -> String {
    if events.is_empty() {
        out.push_str("Events:\t<none>\n");
        return tabbed(&out);
    }
    let mut text = tabbed(&out);
    text.push_str(&crate::events::describe(events, now));
    text
}

/// How many of `pods` are Running, Pending, Succeeded and Failed (`Pods Status`).
pub fn pod_phases(pods: &[Pod]) -> [usize; 4] {
    let mut n = [0; 4];
    for p in pods {
        match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => n[0] += 1,
            Some("Pending") => n[1] += 1,
            Some("Succeeded") => n[2] += 1,
            Some("Failed") => n[3] += 1,
            _ => {}
        }
    }
    n
}

fn pods_status(out: &mut String, title: &str, pods: &[Pod]) {
    let [r, w, s, f] = pod_phases(pods);
    let _ = writeln!(
        out,
        "{title}:\t{r} Running / {w} Waiting / {s} Succeeded / {f} Failed"
    );
}

/// `Controlled By:` of an object with a controller owner reference.
pub(crate) fn controlled_by(out: &mut String, m: &ObjectMeta) {
    if let Some(r) = m
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
    {
        let _ = writeln!(out, "Controlled By:\t{}/{}", r.kind, r.name);
    }
}

pub fn configmap(cm: &ConfigMap, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    header(&mut out, &cm.metadata, true);
    labels(&mut out, "Labels", cm.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", cm.metadata.annotations.as_ref());
    out.push_str("\nData\n====\n");
    for (k, v) in cm.data.iter().flatten() {
        let _ = write!(out, "{k}:\n----\n{v}\n\n");
    }
    out.push_str("\nBinaryData\n====\n");
    for (k, v) in cm.binary_data.iter().flatten() {
        let _ = writeln!(out, "{k}: {} bytes", v.0.len());
    }
    out.push('\n');
    finish(out, events, now)
}

/// `describe secret` (kubectl prints no events for Secrets).
pub fn secret(s: &Secret) -> String {
    let mut out = String::new();
    header(&mut out, &s.metadata, true);
    labels(&mut out, "Labels", s.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", s.metadata.annotations.as_ref());
    let _ = write!(
        out,
        "\nType:\t{}\n\nData\n====\n",
        s.type_.as_deref().unwrap_or_default()
    );
    for (k, v) in s.data.iter().flatten() {
        let _ = writeln!(out, "{k}:\t{} bytes", v.0.len());
    }
    // kubectl prints no Events section for Secrets.
    tabbed(&out)
}

/// The ReplicaSets of a Deployment, split as kubectl does: the one whose template is the
/// Deployment's (the new one) and the others it owns.
pub fn split_replicasets<'a>(
    d: &Deployment,
    owned: &'a [ReplicaSet],
) -> (Vec<&'a ReplicaSet>, Option<&'a ReplicaSet>) {
    // The oldest whose template is the Deployment's (the controller's own rule).
    let mut by_age: Vec<&ReplicaSet> = owned.iter().collect();
    by_age.sort_by(|a, b| {
        let t = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let mut old = vec![];
    let mut new = None;
    for rs in by_age {
        let same = rs.spec.template.as_ref().is_some_and(|t| {
            crate::controllers::deployment::equal_ignore_hash(t, &d.spec.template)
        });
        if same && new.is_none() {
            new = Some(rs);
        } else {
            old.push(rs);
        }
    }
    (old, new)
}

fn replicasets_line(rss: &[&ReplicaSet]) -> String {
    if rss.is_empty() {
        return "<none>".into();
    }
    rss.iter()
        .map(|rs| {
            format!(
                "{} ({}/{} replicas created)",
                rs.metadata.name.as_deref().unwrap_or_default(),
                rs.status.as_ref().map_or(0, |s| s.replicas),
                rs.spec.replicas.unwrap_or(1)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `describe deployment`; `owned`: the ReplicaSets it controls.
pub fn deployment(
    d: &Deployment,
    owned: &[ReplicaSet],
    events: &[Event],
    now: Timestamp,
) -> String {
    let mut out = String::new();
    let s = &d.spec;
    let st = d.status.clone().unwrap_or_default();
    header(&mut out, &d.metadata, true);
    let _ = writeln!(
        out,
        "CreationTimestamp:\t{}",
        time(d.metadata.creation_timestamp.as_ref())
    );
    labels(&mut out, "Labels", d.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", d.metadata.annotations.as_ref());
    let _ = writeln!(out, "Selector:\t{}", selector_string(Some(&s.selector)));
    let _ = writeln!(
        out,
        "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable",
        s.replicas.unwrap_or(1),
        st.updated_replicas.unwrap_or(0),
        st.replicas.unwrap_or(0),
        st.available_replicas.unwrap_or(0),
        st.unavailable_replicas.unwrap_or(0)
    );
    let strategy = s.strategy.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "StrategyType:\t{}",
        strategy.type_.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "MinReadySeconds:\t{}",
        s.min_ready_seconds.unwrap_or(0)
    );
    if let Some(ru) = &strategy.rolling_update {
        let _ = writeln!(
            out,
            "RollingUpdateStrategy:\t{} max unavailable, {} max surge",
            intstr(ru.max_unavailable.as_ref()),
            intstr(ru.max_surge.as_ref())
        );
    }
    pod_template(&mut out, Some(&s.template));
    conditions(
        &mut out,
        st.conditions.iter().flatten().map(|c| {
            (
                c.type_.clone().unwrap_or_default(),
                c.status.clone().unwrap_or_default(),
                c.reason.clone(),
            )
        }),
    );
    let (old, new) = split_replicasets(d, owned);
    if !old.is_empty() || new.is_some() {
        let _ = writeln!(out, "OldReplicaSets:\t{}", replicasets_line(&old));
        let _ = writeln!(
            out,
            "NewReplicaSet:\t{}",
            replicasets_line(&new.into_iter().collect::<Vec<_>>())
        );
    }
    finish(out, events, now)
}

/// `describe replicaset`; `pods`: those it controls.
pub fn replicaset(rs: &ReplicaSet, pods: &[Pod], events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    header(&mut out, &rs.metadata, true);
    let _ = writeln!(
        out,
        "Selector:\t{}",
        selector_string(Some(&rs.spec.selector))
    );
    labels(&mut out, "Labels", rs.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", rs.metadata.annotations.as_ref());
    controlled_by(&mut out, &rs.metadata);
    let _ = writeln!(
        out,
        "Replicas:\t{} current / {} desired",
        rs.status.as_ref().map_or(0, |s| s.replicas),
        rs.spec.replicas.unwrap_or(1)
    );
    pods_status(&mut out, "Pods Status", pods);
    pod_template(&mut out, rs.spec.template.as_ref());
    conditions(
        &mut out,
        rs.status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .map(|c| {
                (
                    c.type_.clone().unwrap_or_default(),
                    c.status.clone().unwrap_or_default(),
                    c.reason.clone(),
                )
            }),
    );
    finish(out, events, now)
}

fn conditions(out: &mut String, conds: impl Iterator<Item = (String, String, Option<String>)>) {
    let mut conds = conds.peekable();
    if conds.peek().is_none() {
        return;
    }
    out.push_str("Conditions:\n  Type\tStatus\tReason\n  ----\t------\t------\n");
    for (t, s, r) in conds {
        let _ = writeln!(out, "  {t} \t{s}\t{}", r.unwrap_or_default());
    }
}

/// `describe daemonset`; `pods`: those it controls.
pub fn daemonset(ds: &DaemonSet, pods: &[Pod], events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    header(&mut out, &ds.metadata, false);
    let _ = writeln!(
        out,
        "Selector:\t{}",
        selector_string(Some(&ds.spec.selector))
    );
    let ns = ds
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into());
    let _ = writeln!(out, "Node-Selector:\t{ns}");
    labels(&mut out, "Labels", ds.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", ds.metadata.annotations.as_ref());
    let st = ds.status.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "Desired Number of Nodes Scheduled: {}",
        st.desired_number_scheduled
    );
    let _ = writeln!(
        out,
        "Current Number of Nodes Scheduled: {}",
        st.current_number_scheduled
    );
    let _ = writeln!(
        out,
        "Number of Nodes Scheduled with Up-to-date Pods: {}",
        st.updated_number_scheduled.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "Number of Nodes Scheduled with Available Pods: {}",
        st.number_available.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "Number of Nodes Misscheduled: {}",
        st.number_misscheduled
    );
    pods_status(&mut out, "Pods Status", pods);
    pod_template(&mut out, Some(&ds.spec.template));
    finish(out, events, now)
}

/// `describe job`.
pub fn job(j: &Job, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let spec = j.spec.clone().unwrap_or_default();
    let st = j.status.clone().unwrap_or_default();
    header(&mut out, &j.metadata, true);
    let _ = writeln!(
        out,
        "Selector:\t{}",
        selector_string(spec.selector.as_ref())
    );
    labels(&mut out, "Labels", j.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", j.metadata.annotations.as_ref());
    controlled_by(&mut out, &j.metadata);
    if let Some(p) = spec.parallelism {
        let _ = writeln!(out, "Parallelism:\t{p}");
    }
    match spec.completions {
        Some(c) => {
            let _ = writeln!(out, "Completions:\t{c}");
        }
        None => out.push_str("Completions:\t<unset>\n"),
    }
    if let Some(m) = &spec.completion_mode {
        let _ = writeln!(out, "Completion Mode:\t{m}");
    }
    if let Some(s) = spec.suspend {
        let _ = writeln!(out, "Suspend:\t{s}");
    }
    if let Some(b) = spec.backoff_limit {
        let _ = writeln!(out, "Backoff Limit:\t{b}");
    }
    if let Some(t) = spec.ttl_seconds_after_finished {
        let _ = writeln!(out, "TTL Seconds After Finished:\t{t}");
    }
    if st.start_time.is_some() {
        let _ = writeln!(out, "Start Time:\t{}", time(st.start_time.as_ref()));
    }
    if st.completion_time.is_some() {
        let _ = writeln!(out, "Completed At:\t{}", time(st.completion_time.as_ref()));
    }
    if let (Some(a), Some(b)) = (&st.start_time, &st.completion_time) {
        let _ = writeln!(out, "Duration:\t{}", crate::table::since(Some(a), b.0));
    }
    if let Some(d) = spec.active_deadline_seconds {
        let _ = writeln!(out, "Active Deadline Seconds:\t{d}s");
    }
    match st.ready {
        None => {
            let _ = writeln!(
                out,
                "Pods Statuses:\t{} Active / {} Succeeded / {} Failed",
                st.active.unwrap_or(0),
                st.succeeded.unwrap_or(0),
                st.failed.unwrap_or(0)
            );
        }
        Some(r) => {
            let _ = writeln!(
                out,
                "Pods Statuses:\t{} Active ({r} Ready) / {} Succeeded / {} Failed",
                st.active.unwrap_or(0),
                st.succeeded.unwrap_or(0),
                st.failed.unwrap_or(0)
            );
        }
    }
    if spec.completion_mode.as_deref() == Some("Indexed") {
        let done = st.completed_indexes.as_deref().filter(|s| !s.is_empty());
        let _ = writeln!(out, "Completed Indexes:\t{}", done.unwrap_or("<none>"));
    }
    pod_template(&mut out, Some(&spec.template));
    finish(out, events, now)
}

fn unset<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("<unset>".to_string(), |v| v.to_string())
}

/// `describe cronjob`.
pub fn cronjob(c: &CronJob, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let s = &c.spec;
    header(&mut out, &c.metadata, true);
    labels(&mut out, "Labels", c.metadata.labels.as_ref());
    annotations(&mut out, "Annotations", c.metadata.annotations.as_ref());
    let _ = writeln!(out, "Schedule:\t{}", s.schedule);
    let _ = writeln!(
        out,
        "Concurrency Policy:\t{}",
        s.concurrency_policy.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "Suspend:\t{}",
        unset(s.suspend.map(|b| if b { "True" } else { "False" }))
    );
    let _ = writeln!(
        out,
        "Successful Job History Limit:\t{}",
        unset(s.successful_jobs_history_limit)
    );
    let _ = writeln!(
        out,
        "Failed Job History Limit:\t{}",
        unset(s.failed_jobs_history_limit)
    );
    let _ = writeln!(
        out,
        "Starting Deadline Seconds:\t{}",
        unset(s.starting_deadline_seconds.map(|d| format!("{d}s")))
    );
    let js = s.job_template.spec.clone().unwrap_or_default();
    let sel = js.selector.as_ref().map(|l| selector_string(Some(l)));
    let _ = writeln!(out, "Selector:\t{}", unset(sel));
    let _ = writeln!(out, "Parallelism:\t{}", unset(js.parallelism));
    let _ = writeln!(out, "Completions:\t{}", unset(js.completions));
    if let Some(d) = js.active_deadline_seconds {
        let _ = writeln!(out, "Active Deadline Seconds:\t{d}s");
    }
    pod_template(&mut out, Some(&js.template));
    let st = c.status.clone().unwrap_or_default();
    match &st.last_schedule_time {
        Some(t) => {
            let _ = writeln!(out, "Last Schedule Time:\t{}", time(Some(t)));
        }
        None => out.push_str("Last Schedule Time:\t<unset>\n"),
    }
    let active: Vec<String> = st
        .active
        .iter()
        .flatten()
        .filter_map(|r| r.name.clone())
        .collect();
    let _ = writeln!(
        out,
        "Active Jobs:\t{}",
        if active.is_empty() {
            "<none>".to_string()
        } else {
            active.join(", ")
        }
    );
    finish(out, events, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn tabwriter_blocks_are_go_s() {
        let text = "Name:\tweb\nAnnotations:\t<none>\nPod Template:\n  Labels:\ta=b\n\tc=d\nx\n";
        assert_eq!(
            tabbed(text),
            "Name:         web\nAnnotations:  <none>\nPod Template:\n  Labels:  a=b\n           c=d\nx\n"
        );
        // A line with fewer cells ends the deeper columns' block only.
        assert_eq!(
            tabbed("a\tb\tc\nlong\td\ne\tff\tg\n"),
            "a     b  c\nlong  d\ne     ff  g\n"
        );
    }

    /// kubectl 1.32's `describe replicaset solo` against nodelet, as printed.
    #[test]
    fn replicaset_as_kubectl_prints_it() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "solo", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "solo"}},
                     "template": {"metadata": {"labels": {"app": "solo"}},
                                  "spec": {"nodeSelector": {"disktype": "ssd"},
                                           "containers": [{"name": "c", "image": "nodelet.test/busybox:1.0"}]}}}
        }))
        .unwrap();
        assert_eq!(
            replicaset(&rs, &[], &[], now()),
            "Name:         solo
Namespace:    default
Selector:     app=solo
Labels:       <none>
Annotations:  <none>
Replicas:     0 current / 1 desired
Pods Status:  0 Running / 0 Waiting / 0 Succeeded / 0 Failed
Pod Template:
  Labels:  app=solo
  Containers:
   c:
    Image:         nodelet.test/busybox:1.0
    Port:          <none>
    Host Port:     <none>
    Environment:   <none>
    Mounts:        <none>
  Volumes:         <none>
  Node-Selectors:  disktype=ssd
  Tolerations:     <none>
Events:            <none>
"
        );
    }

    /// kubectl 1.32's `describe deployment web` against nodelet (before defaulting), as
    /// printed, with an old ReplicaSet.
    #[test]
    fn deployment_as_kubectl_prints_it() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default",
                         "creationTimestamp": "2026-12-07T11:40:12Z",
                         "labels": {"app": "web", "tier": "front"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"},
                                               "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-07T11:40:12Z"}},
                                  "spec": {"containers": [{"name": "web", "image": "nodelet.test/busybox:1.0",
                                                           "command": ["/bin/busybox", "sleep", "3600"]}]}}}
        }))
        .unwrap();
        let old: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-old"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}
        }))
        .unwrap();
        assert_eq!(
            deployment(&d, &[old], &[], now()),
            "Name:               web
Namespace:          default
CreationTimestamp:  Mon, 07 Dec 2026 11:40:12 +0000
Labels:             app=web
                    tier=front
Annotations:        <none>
Selector:           app=web
Replicas:           3 desired | 0 updated | 0 total | 0 available | 0 unavailable
StrategyType:       \nMinReadySeconds:    0
Pod Template:
  Labels:       app=web
  Annotations:  kubectl.kubernetes.io/restartedAt: 2026-12-07T11:40:12Z
  Containers:
   web:
    Image:      nodelet.test/busybox:1.0
    Port:       <none>
    Host Port:  <none>
    Command:
      /bin/busybox
      sleep
      3600
    Environment:   <none>
    Mounts:        <none>
  Volumes:         <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
OldReplicaSets:    web-old (0/0 replicas created)
NewReplicaSet:     <none>
Events:            <none>
"
        );
    }

    /// kubectl 1.32's `describe configmap` and `describe secret`, as printed.
    #[test]
    fn configmap_and_secret_as_kubectl_prints_them() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "z"}
        }))
        .unwrap();
        assert_eq!(
            configmap(&cm, &[], now()),
            "Name:         cfg\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nData\n====\na:\n----\nz\n\n\nBinaryData\n====\n\nEvents:  <none>\n"
        );
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "pw", "namespace": "default"}, "type": "Opaque",
            "data": {"user": "YWRtaW4="}
        }))
        .unwrap();
        assert_eq!(
            secret(&s),
            "Name:         pw\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nType:  Opaque\n\nData\n====\nuser:  5 bytes\n"
        );
    }
}
