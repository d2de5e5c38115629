//! API discovery as kubectl reads it: `/version`, `/api` (APIVersions), `/api/v1`
//! (APIResourceList), `/apis` (APIGroupList with metrics.k8s.io), `/apis/metrics.k8s.io` and
//! its `v1beta1` resource list, and a minimal `/openapi/v3` (the Pod's PATCH operation with its
//! `fieldValidation` parameter, so kubectl leaves validation to the server instead of failing to
//! download a schema). Only the legacy (unaggregated) discovery documents are served: kubectl
//! asks for aggregated discovery first and falls back when the answer is a plain
//! `APIVersions`/`APIGroupList`.

use serde_json::{Value, json};

/// The Kubernetes version nodelet's API follows (k8s-openapi's `latest` feature).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "32";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": git_version(),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{}", go_arch()),
    })
}

/// `v1.32.0-nodelet.<crate version>`: what `kubectl version` and the node's kubeletVersion show.
pub fn git_version() -> String {
    format!(
        "v{KUBE_MAJOR}.{KUBE_MINOR}.0-nodelet.{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The machine's architecture in Go's words (`amd64`, `arm64`, ...).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `/api`.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

fn resource(
    name: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    verbs: &[&str],
    short: &[&str],
    categories: &[&str],
) -> Value {
    let mut r = json!({
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !short.is_empty() {
        r["shortNames"] = json!(short);
    }
    if !categories.is_empty() {
        r["categories"] = json!(categories);
    }
    r
}

const POD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/api/v1`: the resources this node serves.
pub fn core_v1() -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            resource("events", "event", "Event", true, &["get", "list", "watch"], &["ev"], &[]),
            resource("namespaces", "namespace", "Namespace", false,
                     &["create", "delete", "get", "list", "watch"], &["ns"], &[]),
            resource("nodes", "node", "Node", false, &["get", "list", "watch"], &["no"], &[]),
            resource("pods", "pod", "Pod", true, POD_VERBS, &["po"], &["all"]),
            resource("pods/attach", "", "PodAttachOptions", true, &["create", "get"], &[], &[]),
            resource("pods/exec", "", "PodExecOptions", true, &["create", "get"], &[], &[]),
            resource("pods/log", "", "Pod", true, &["get"], &[], &[]),
            resource("pods/portforward", "", "PodPortForwardOptions", true,
                     &["create", "get"], &[], &[]),
            resource("pods/status", "", "Pod", true, &["get"], &[], &[]),
        ],
    })
}

fn metrics_group_version() -> Value {
    json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"})
}

/// `/apis/metrics.k8s.io`.
pub fn metrics_group() -> Value {
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "metrics.k8s.io",
        "versions": [metrics_group_version()],
        "preferredVersion": metrics_group_version(),
    })
}

/// `/apis`.
pub fn api_groups() -> Value {
    let mut g = metrics_group();
    if let Some(o) = g.as_object_mut() {
        o.remove("kind");
        o.remove("apiVersion");
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [g]})
}

/// `/apis/metrics.k8s.io/v1beta1`.
pub fn metrics_v1beta1() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "metrics.k8s.io/v1beta1",
        "resources": [
            resource("nodes", "", "NodeMetrics", false, &["get", "list"], &[], &[]),
            resource("pods", "", "PodMetrics", true, &["get", "list"], &[], &[]),
        ],
    })
}

/// `/openapi/v3`: the one group version described.
pub fn openapi_v3_root() -> Value {
    json!({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=nodelet1"}}})
}

/// `/openapi/v3/api/v1`: just enough for kubectl's field-validation check (a PATCH operation
/// of the Pod carrying the `fieldValidation` query parameter). Without schemas kubectl builds
/// strategic merge patches from its compiled-in types.
pub fn openapi_v3_core() -> Value {
    let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
    let op = |action: &str| {
        json!({
            "operationId": format!("{action}CoreV1NamespacedPod"),
            "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation")],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": "", "kind": "Pod", "version": "v1"},
        })
    };
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (nodelet)", "version": git_version()},
        "paths": {
            "/api/v1/namespaces/{namespace}/pods": {"post": op("post")},
            "/api/v1/namespaces/{namespace}/pods/{name}": {"patch": op("patch"), "put": op("put")},
        },
        "components": {"schemas": {}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_namespaced_with_short_name_and_subresources() {
        let v = core_v1();
        let rs = v["resources"].as_array().unwrap();
        let pods = rs.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["namespaced"], true);
        assert_eq!(pods["shortNames"], json!(["po"]));
        for sub in ["pods/log", "pods/exec", "pods/status"] {
            assert!(rs.iter().any(|r| r["name"] == sub), "{sub}");
        }
        let nodes = rs.iter().find(|r| r["name"] == "nodes").unwrap();
        assert_eq!(nodes["namespaced"], false);
    }

    #[test]
    fn groups_list_metrics() {
        let g = api_groups();
        assert_eq!(g["groups"][0]["name"], "metrics.k8s.io");
        assert_eq!(
            g["groups"][0]["preferredVersion"]["groupVersion"],
            "metrics.k8s.io/v1beta1"
        );
        assert!(
            version()["gitVersion"]
                .as_str()
                .unwrap()
                .starts_with("v1.32.")
        );
    }
}
