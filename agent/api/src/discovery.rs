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

/// Every verb of a resource the API writes as manifest files.
const ALL_VERBS: &[&str] = POD_VERBS;

/// A workload or configuration resource (besides pods): its group, names, short names and
/// categories as the API server lists them, and its subresources.
pub struct Resource {
    /// `""` (core), `batch`, `apps`.
    pub group: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
    /// `all` for the workloads (`kubectl get all`).
    pub categories: &'static [&'static str],
    /// `scale` (autoscaling/v1 Scale) and/or `status`.
    pub scale: bool,
}

/// The kinds of `nodelet_objects::workload` the API serves besides pods, namespaces excepted
/// (served by `kube`/`writes` as before).
pub const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        categories: &[],
        scale: false,
    },
    Resource {
        group: "",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: &[],
        categories: &[],
        scale: false,
    },
    Resource {
        group: "batch",
        plural: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short: &[],
        categories: &["all"],
        scale: false,
    },
    Resource {
        group: "batch",
        plural: "cronjobs",
        singular: "cronjob",
        kind: "CronJob",
        namespaced: true,
        short: &["cj"],
        categories: &["all"],
        scale: false,
    },
    Resource {
        group: "apps",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
        categories: &["all"],
        scale: true,
    },
    Resource {
        group: "apps",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short: &["rs"],
        categories: &["all"],
        scale: true,
    },
    Resource {
        group: "apps",
        plural: "daemonsets",
        singular: "daemonset",
        kind: "DaemonSet",
        namespaced: true,
        short: &["ds"],
        categories: &["all"],
        scale: false,
    },
    Resource {
        group: "apps",
        plural: "controllerrevisions",
        singular: "controllerrevision",
        kind: "ControllerRevision",
        namespaced: true,
        short: &[],
        categories: &[],
        scale: false,
    },
];

/// The resource entries (with subresources) of one group.
fn group_resources(group: &str) -> Vec<Value> {
    let mut out = vec![];
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        out.push(resource(
            r.plural,
            r.singular,
            r.kind,
            r.namespaced,
            ALL_VERBS,
            r.short,
            r.categories,
        ));
        if r.scale {
            let mut s = resource(
                &format!("{}/scale", r.plural),
                "",
                "Scale",
                r.namespaced,
                &["get", "patch", "update"],
                &[],
                &[],
            );
            s["group"] = json!("autoscaling");
            s["version"] = json!("v1");
            out.push(s);
        }
        // ControllerRevisions have no status.
        if !r.group.is_empty() && r.kind != "ControllerRevision" {
            out.push(resource(
                &format!("{}/status", r.plural),
                "",
                r.kind,
                r.namespaced,
                &["get"],
                &[],
                &[],
            ));
        }
    }
    out
}

/// `/api/v1`: the resources this node serves.
pub fn core_v1() -> Value {
    let mut resources = vec![
        resource(
            "events",
            "event",
            "Event",
            true,
            &["get", "list", "watch"],
            &["ev"],
            &[],
        ),
        resource(
            "namespaces",
            "namespace",
            "Namespace",
            false,
            &["create", "delete", "get", "list", "watch"],
            &["ns"],
            &[],
        ),
        resource(
            "nodes",
            "node",
            "Node",
            false,
            &["get", "list", "watch"],
            &["no"],
            &[],
        ),
        resource("pods", "pod", "Pod", true, POD_VERBS, &["po"], &["all"]),
        resource(
            "pods/attach",
            "",
            "PodAttachOptions",
            true,
            &["create", "get"],
            &[],
            &[],
        ),
        resource(
            "pods/exec",
            "",
            "PodExecOptions",
            true,
            &["create", "get"],
            &[],
            &[],
        ),
        resource("pods/log", "", "Pod", true, &["get"], &[], &[]),
        resource(
            "pods/portforward",
            "",
            "PodPortForwardOptions",
            true,
            &["create", "get"],
            &[],
            &[],
        ),
        resource("pods/status", "", "Pod", true, &["get"], &[], &[]),
    ];
    resources.extend(group_resources(""));
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": resources,
    })
}

/// The API groups served besides the core one (all at `v1`).
pub const GROUPS: &[&str] = &["apps", "batch"];

fn group_version(group: &str, version: &str) -> Value {
    json!({"groupVersion": format!("{group}/{version}"), "version": version})
}

/// `/apis/{group}` of a group of [`GROUPS`].
pub fn group(name: &str) -> Value {
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [group_version(name, "v1")],
        "preferredVersion": group_version(name, "v1"),
    })
}

/// `/apis/{group}/v1` of a group of [`GROUPS`].
pub fn group_v1(name: &str) -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{name}/v1"),
        "resources": group_resources(name),
    })
}

fn metrics_group_version() -> Value {
    group_version("metrics.k8s.io", "v1beta1")
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
    let mut groups: Vec<Value> = GROUPS.iter().map(|g| group(g)).collect();
    groups.push(metrics_group());
    for g in &mut groups {
        if let Some(o) = g.as_object_mut() {
            o.remove("kind");
            o.remove("apiVersion");
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
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

/// The media type of aggregated discovery (`apidiscovery.k8s.io/v2`), which kubectl ≥ 1.30
/// asks `/api` and `/apis` for first: one answer per endpoint instead of one request per
/// group version.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery v2 (parameters in any order;
/// `v2beta1` alone is not served: the client falls back to the plain documents).
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|media| {
            let mut parts = media.split(';').map(str::trim);
            let json = parts.next() == Some("application/json");
            let params: Vec<&str> = parts.collect();
            json && ["g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"]
                .iter()
                .all(|want| params.contains(want))
        })
    })
}

/// One `APIVersionDiscovery` from an `APIResourceList` document: its resources, each with
/// its subresources (`pods/log` → `log` under `pods`), kinds as `responseKind`.
fn version_discovery(list: &Value, group: &str, version: &str) -> Value {
    let entries = list["resources"].as_array().cloned().unwrap_or_default();
    let kind_of = |e: &Value| {
        json!({
            "group": e.get("group").cloned().unwrap_or_else(|| json!(group)),
            "version": e.get("version").cloned().unwrap_or_else(|| json!(version)),
            "kind": e["kind"],
        })
    };
    let mut resources: Vec<Value> = vec![];
    for e in &entries {
        let name = e["name"].as_str().unwrap_or_default();
        if name.contains('/') {
            continue;
        }
        let mut r = json!({
            "resource": name,
            "responseKind": kind_of(e),
            "scope": if e["namespaced"] == true { "Namespaced" } else { "Cluster" },
            "singularResource": e["singularName"],
            "verbs": e["verbs"],
        });
        for key in ["shortNames", "categories"] {
            if let Some(v) = e.get(key) {
                r[key] = v.clone();
            }
        }
        let subs: Vec<Value> = entries
            .iter()
            .filter_map(|s| {
                let sub = s["name"].as_str()?.strip_prefix(name)?.strip_prefix('/')?;
                Some(json!({"subresource": sub, "responseKind": kind_of(s), "verbs": s["verbs"]}))
            })
            .collect();
        if !subs.is_empty() {
            r["subresources"] = json!(subs);
        }
        resources.push(r);
    }
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

fn discovery_list(items: Vec<Value>) -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// `/api` as aggregated discovery: the core group, `v1`.
pub fn aggregated_core() -> Value {
    discovery_list(vec![json!({
        "metadata": {"creationTimestamp": null},
        "versions": [version_discovery(&core_v1(), "", "v1")],
    })])
}

/// `/apis` as aggregated discovery: every group served, with its resources.
pub fn aggregated_groups() -> Value {
    let mut items: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            json!({
                "metadata": {"name": g, "creationTimestamp": null},
                "versions": [version_discovery(&group_v1(g), g, "v1")],
            })
        })
        .collect();
    items.push(json!({
        "metadata": {"name": "metrics.k8s.io", "creationTimestamp": null},
        "versions": [version_discovery(&metrics_v1beta1(), "metrics.k8s.io", "v1beta1")],
    }));
    discovery_list(items)
}

/// `/openapi/v3`: the group versions described (core, apps, batch).
pub fn openapi_v3_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=nodelet2"}),
    );
    for g in GROUPS {
        paths.insert(
            format!("apis/{g}/v1"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/v1?hash=nodelet2")}),
        );
    }
    json!({ "paths": paths })
}

/// The POST, PUT and PATCH operations of one kind, each with the `fieldValidation` query
/// parameter: what kubectl's field-validation check looks for before it lets the server
/// validate.
fn write_paths(paths: &mut serde_json::Map<String, Value>, group: &str, kind: &str, plural: &str) {
    let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
    let gv = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{gv}")
    };
    let op = |action: &str| {
        json!({
            "operationId": format!("{action}{kind}"),
            "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation")],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": "v1"},
        })
    };
    paths.insert(
        format!("{prefix}/namespaces/{{namespace}}/{plural}"),
        json!({"post": op("post")}),
    );
    paths.insert(
        format!("{prefix}/namespaces/{{namespace}}/{plural}/{{name}}"),
        json!({"patch": op("patch"), "put": op("put")}),
    );
}

fn openapi_doc(paths: serde_json::Map<String, Value>) -> Value {
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (nodelet)", "version": git_version()},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

/// `/openapi/v3/api/v1`: just enough for kubectl's field-validation check (the write
/// operations of pods, ConfigMaps and Secrets carrying the `fieldValidation` query parameter).
/// Without schemas kubectl builds strategic merge patches from its compiled-in types.
pub fn openapi_v3_core() -> Value {
    let mut paths = serde_json::Map::new();
    write_paths(&mut paths, "", "Pod", "pods");
    for r in RESOURCES.iter().filter(|r| r.group.is_empty()) {
        write_paths(&mut paths, "", r.kind, r.plural);
    }
    openapi_doc(paths)
}

/// `/openapi/v3/apis/{group}/v1`, as [`openapi_v3_core`] for that group's kinds.
pub fn openapi_v3_group(group: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        write_paths(&mut paths, group, r.kind, r.plural);
    }
    openapi_doc(paths)
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
    fn groups_list_apps_batch_and_metrics() {
        let g = api_groups();
        let names: Vec<&str> = g["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["apps", "batch", "metrics.k8s.io"]);
        assert_eq!(
            g["groups"][2]["preferredVersion"]["groupVersion"],
            "metrics.k8s.io/v1beta1"
        );
        assert!(
            version()["gitVersion"]
                .as_str()
                .unwrap()
                .starts_with("v1.32.")
        );
    }

    #[test]
    fn aggregated_discovery_is_asked_for_as_kubectl_does() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                       application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,\
                       application/json";
        assert!(wants_aggregated(Some(kubectl)));
        assert!(wants_aggregated(Some(
            "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io"
        )));
        assert!(!wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        )));
        assert!(!wants_aggregated(Some("application/json, */*")));
        assert!(!wants_aggregated(None));
    }

    #[test]
    fn aggregated_core_nests_subresources_under_their_resource() {
        let v = aggregated_core();
        assert_eq!(v["kind"], "APIGroupDiscoveryList");
        let version = &v["items"][0]["versions"][0];
        assert_eq!(version["version"], "v1");
        let rs = version["resources"].as_array().unwrap();
        assert!(
            rs.iter()
                .all(|r| !r["resource"].as_str().unwrap().contains('/'))
        );
        let pods = rs.iter().find(|r| r["resource"] == "pods").unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["singularResource"], "pod");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(
            pods["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        let subs: Vec<&str> = pods["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["subresource"].as_str().unwrap())
            .collect();
        assert_eq!(subs, ["attach", "exec", "log", "portforward", "status"]);
        let nodes = rs.iter().find(|r| r["resource"] == "nodes").unwrap();
        assert_eq!(nodes["scope"], "Cluster");
        // Every resource of the plain document is there.
        let plain = core_v1()["resources"].as_array().unwrap().len();
        let nested: usize = rs
            .iter()
            .map(|r| 1 + r["subresources"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(nested, plain);
    }

    #[test]
    fn aggregated_groups_carry_scale_as_autoscaling() {
        let v = aggregated_groups();
        let names: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["apps", "batch", "metrics.k8s.io"]);
        let apps = &v["items"][0]["versions"][0]["resources"];
        let d = apps
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(d["responseKind"]["group"], "apps");
        let scale = d["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "scale")
            .unwrap();
        assert_eq!(
            scale["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        assert_eq!(v["items"][2]["versions"][0]["version"], "v1beta1");
    }

    fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {list}"))
    }

    #[test]
    fn workloads_have_short_names_categories_and_subresources() {
        let apps = group_v1("apps");
        assert_eq!(apps["groupVersion"], "apps/v1");
        let d = find(&apps, "deployments");
        assert_eq!(d["shortNames"], json!(["deploy"]));
        assert_eq!(d["categories"], json!(["all"]));
        assert_eq!(d["kind"], "Deployment");
        assert_eq!(d["verbs"].as_array().unwrap().len(), 8);
        let scale = find(&apps, "deployments/scale");
        assert_eq!(
            (&scale["group"], &scale["kind"]),
            (&json!("autoscaling"), &json!("Scale"))
        );
        find(&apps, "replicasets/scale");
        assert_eq!(find(&apps, "daemonsets")["shortNames"], json!(["ds"]));
        let batch = group_v1("batch");
        assert_eq!(find(&batch, "cronjobs")["shortNames"], json!(["cj"]));
        assert!(find(&batch, "jobs").get("shortNames").is_none());
        let core = core_v1();
        assert_eq!(find(&core, "configmaps")["shortNames"], json!(["cm"]));
        assert!(find(&core, "secrets").get("categories").is_none());
        // kubectl's field validation finds a PATCH with fieldValidation for each kind.
        let root = openapi_v3_root();
        assert!(root["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
        let doc = openapi_v3_group("apps");
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            openapi_v3_core()["paths"]["/api/v1/namespaces/{namespace}/configmaps"]["post"]
                .is_object()
        );
    }
}
