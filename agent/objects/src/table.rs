//! Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), which is how
//! kubectl gets its `get` columns: the cells and column definitions of the API server's
//! printers for pods (NAME READY STATUS RESTARTS AGE, wide: IP NODE NOMINATED NODE READINESS
//! GATES), nodes, events and namespaces. As the API server does, every cell of every column is
//! sent (wide ones have priority 1 and kubectl hides them without `-o wide`); each row carries
//! the object's metadata (`includeObject=PartialObjectMetadata`, the default), the whole object
//! (`Object`) or nothing (`None`), which is where kubectl finds the namespace for `-A` and the
//! labels for `--show-labels`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::{Value, json};

use crate::events::human_duration;

/// Whether the client asked for a Table (kubectl's `get` does).
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
    })
}

/// `includeObject`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Include {
    None,
    #[default]
    Metadata,
    Object,
}

impl Include {
    pub fn parse(v: Option<&str>) -> Include {
        match v {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

pub(crate) fn col(name: &str, format: &str, priority: i32, description: &str) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": description,
           "priority": priority})
}

/// A kind the API prints as a table.
pub trait Printable: serde::Serialize {
    fn columns() -> Vec<Value>;
    fn cells(&self, now: Timestamp) -> Vec<Value>;
    fn meta(&self) -> &ObjectMeta;
}

fn row<T: Printable>(obj: &T, now: Timestamp, include: Include) -> Value {
    let object = match include {
        Include::None => Value::Null,
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.meta(),
        }),
        Include::Object => serde_json::to_value(obj).unwrap_or(Value::Null),
    };
    let mut r = json!({"cells": obj.cells(now)});
    if !object.is_null() {
        r["object"] = object;
    }
    r
}

/// A `meta.k8s.io/v1` Table of `items`.
pub fn table<T: Printable>(
    items: &[T],
    resource_version: &str,
    now: Timestamp,
    include: Include,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": T::columns(),
        "rows": items.iter().map(|i| row(i, now, include)).collect::<Vec<_>>(),
    })
}

/// What kubectl prints for a server-side Table: the header (column names upper-cased,
/// `NAMESPACE` first with `namespace`, the priority-1 columns only when `wide`) and one row
/// per item, every cell as text (`nodectl get` prints these, kubectl prints the same Table).
pub fn text_rows<T: Printable>(
    items: &[T],
    now: Timestamp,
    wide: bool,
    namespace: bool,
) -> Vec<Vec<String>> {
    let cols = T::columns();
    let shown: Vec<bool> = cols
        .iter()
        .map(|c| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .collect();
    let mut header: Vec<String> = cols
        .iter()
        .zip(&shown)
        .filter(|(_, s)| **s)
        .map(|(c, _)| c["name"].as_str().unwrap_or_default().to_uppercase())
        .collect();
    if namespace {
        header.insert(0, "NAMESPACE".into());
    }
    let mut rows = vec![header];
    for item in items {
        let mut row: Vec<String> = item
            .cells(now)
            .into_iter()
            .zip(&shown)
            .filter(|(_, s)| **s)
            .map(|(v, _)| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
        if namespace {
            row.insert(0, item.meta().namespace.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    rows
}

/// Go's `translateTimestampSince`: `<unknown>` without a time.
pub(crate) fn since(t: Option<&Time>, now: Timestamp) -> String {
    match t {
        None => "<unknown>".into(),
        Some(t) if t.0 > now => "0s".into(),
        Some(t) => human_duration(now.duration_since(t.0).unsigned_abs()),
    }
}

pub(crate) fn or_none(v: Option<&String>) -> String {
    v.filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "<none>".into())
}

/// RESTARTS: the app containers' restarts, with `(5m ago)` from the latest finished instance.
pub fn restarts_cell(pod: &Pod, now: Timestamp) -> String {
    let c = crate::status::printer_counts(pod);
    match c.last_restart {
        Some(t) if c.restarts != 0 => {
            format!("{} ({} ago)", c.restarts, since(Some(&Time(t)), now))
        }
        _ => c.restarts.to_string(),
    }
}

impl Printable for Pod {
    fn columns() -> Vec<Value> {
        vec![
            col("Name", "name", 0, "Name must be unique within a namespace."),
            col(
                "Ready",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            col(
                "Age",
                "",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
            col(
                "IP",
                "",
                1,
                "podIP address allocated to the pod. Routable at least within the cluster.",
            ),
            col(
                "Node",
                "",
                1,
                "NodeName indicates in which node this pod is scheduled.",
            ),
            col(
                "Nominated Node",
                "",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
            ),
            col(
                "Readiness Gates",
                "",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ]
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let st = self.status.as_ref();
        let spec = self.spec.as_ref();
        let mut status = crate::status::status_column(self);
        if self.metadata.deletion_timestamp.is_some() {
            status = "Terminating".into();
        }
        let gates = spec
            .and_then(|s| s.readiness_gates.as_deref())
            .unwrap_or(&[]);
        let gates_cell = if gates.is_empty() {
            "<none>".to_string()
        } else {
            let conds = st.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
            let ok = gates
                .iter()
                .filter(|g| {
                    conds
                        .iter()
                        .any(|c| c.type_ == g.condition_type && c.status == "True")
                })
                .count();
            format!("{ok}/{}", gates.len())
        };
        [
            self.metadata.name.clone().unwrap_or_default(),
            crate::status::ready_column(self),
            status,
            restarts_cell(self, now),
            since(self.metadata.creation_timestamp.as_ref(), now),
            or_none(st.and_then(|s| s.pod_ip.as_ref())),
            or_none(spec.and_then(|s| s.node_name.as_ref())),
            or_none(st.and_then(|s| s.nominated_node_name.as_ref())),
            gates_cell,
        ]
        .into_iter()
        .map(Value::String)
        .collect()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// ROLES: `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels, else `<none>`.
fn roles(n: &Node) -> String {
    let mut roles: Vec<String> = n
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, v)| {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                Some(r.to_string())
            } else if k == "kubernetes.io/role" {
                Some(v.clone())
            } else {
                None
            }
        })
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

impl Printable for Node {
    fn columns() -> Vec<Value> {
        vec![
            col("Name", "name", 0, "Name must be unique within a namespace."),
            col("Status", "", 0, "The status of the node"),
            col("Roles", "", 0, "The roles of the node"),
            col(
                "Age",
                "",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
            col("Version", "", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", "", 1, "List of internal IPs of the node."),
            col("External-IP", "", 1, "List of external IPs of the node."),
            col(
                "OS-Image",
                "",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ]
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let st = self.status.as_ref();
        let ready = st
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or(&[])
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let addr = |t: &str| {
            let v: Vec<String> = st
                .and_then(|s| s.addresses.as_deref())
                .unwrap_or(&[])
                .iter()
                .filter(|a| a.type_ == t)
                .map(|a| a.address.clone())
                .collect();
            if v.is_empty() {
                "<none>".to_string()
            } else {
                v.join(",")
            }
        };
        let info = st.and_then(|s| s.node_info.clone()).unwrap_or_default();
        [
            self.metadata.name.clone().unwrap_or_default(),
            if ready { "Ready" } else { "NotReady" }.to_string(),
            roles(self),
            since(self.metadata.creation_timestamp.as_ref(), now),
            info.kubelet_version,
            addr("InternalIP"),
            addr("ExternalIP"),
            info.os_image,
            info.kernel_version,
            info.container_runtime_version,
        ]
        .into_iter()
        .map(Value::String)
        .collect()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for Event {
    fn columns() -> Vec<Value> {
        vec![
            col(
                "Last Seen",
                "",
                0,
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            col(
                "Type",
                "",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            col(
                "Reason",
                "",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            col("Object", "", 0, "The object that this event is about."),
            col(
                "Subobject",
                "",
                1,
                "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
            ),
            col(
                "Source",
                "",
                1,
                "The component reporting this event. Should be a short machine understandable string.",
            ),
            col(
                "Message",
                "",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col(
                "First Seen",
                "",
                1,
                "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            ),
            col(
                "Count",
                "",
                1,
                "The number of times this event has occurred.",
            ),
            col("Name", "name", 1, "Name must be unique within a namespace."),
        ]
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let first = since(self.first_timestamp.as_ref(), now);
        let last = match &self.last_timestamp {
            Some(t) => since(Some(t), now),
            None => first.clone(),
        };
        let o = &self.involved_object;
        let kind = o.kind.clone().unwrap_or_default().to_lowercase();
        let target = match o.name.as_deref() {
            Some(n) if !n.is_empty() => format!("{kind}/{n}"),
            _ => kind,
        };
        let source = match self.source.as_ref() {
            Some(s) => match (s.component.as_deref(), s.host.as_deref()) {
                (Some(c), Some(h)) if !c.is_empty() && !h.is_empty() => format!("{c}, {h}"),
                (Some(c), _) => c.to_string(),
                _ => String::new(),
            },
            None => String::new(),
        };
        let count = match self.count {
            Some(c) if c > 0 => c,
            _ => 1,
        };
        vec![
            json!(last),
            json!(self.type_.clone().unwrap_or_default()),
            json!(self.reason.clone().unwrap_or_default()),
            json!(target),
            json!(o.field_path.clone().unwrap_or_default()),
            json!(source),
            json!(self.message.clone().unwrap_or_default().trim()),
            json!(first),
            json!(count),
            json!(self.metadata.name.clone().unwrap_or_default()),
        ]
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for Namespace {
    fn columns() -> Vec<Value> {
        vec![
            col("Name", "name", 0, "Name must be unique within a namespace."),
            col("Status", "", 0, "The status of the namespace"),
            col(
                "Age",
                "",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ]
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            json!(self.metadata.name.clone().unwrap_or_default()),
            json!(
                self.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default()
            ),
            json!(since(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-07T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn accept_header() {
        assert!(wants_table(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )));
        assert!(!wants_table(Some("application/json")));
        assert!(!wants_table(None));
    }

    #[test]
    fn pod_row_as_the_api_server_prints_it() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-node1", "namespace": "default",
                         "creationTimestamp": "2026-12-07T09:55:00Z"},
            "spec": {"nodeName": "node1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "image": "", "imageID": "",
                 "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-12-07T09:58:00Z"}}},
                {"name": "b", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                 "state": {"running": {}}}]}
        }))
        .unwrap();
        assert_eq!(
            p.cells(now()),
            [
                "web-node1",
                "1/2",
                "Running",
                "2 (2m ago)",
                "5m",
                "10.244.0.5",
                "node1",
                "<none>",
                "<none>"
            ]
            .map(|s| json!(s))
        );
        let t = table(&[p], "7", now(), Include::Metadata);
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "default");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn event_row() {
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web"},
            "type": "Warning", "reason": "BackOff", "message": "Back-off restarting\n",
            "count": 3, "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2026-12-07T09:50:00Z", "lastTimestamp": "2026-12-07T09:59:30Z"
        }))
        .unwrap();
        let c = e.cells(now());
        assert_eq!(c[0], "30s");
        assert_eq!(c[3], "pod/web");
        assert_eq!(c[5], "kubelet, node1");
        assert_eq!(c[6], "Back-off restarting");
        assert_eq!(c[8], 3);
    }
}
