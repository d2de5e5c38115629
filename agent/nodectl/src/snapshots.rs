//! Snapshot tests of what `nodectl` prints: `ps`, `ps -A -o wide`, `describe pod`, `get pod -o
//! yaml` and `top pods`, for fixed pods (fixed timestamps) and a fixed "now", compared with the
//! text committed in tests/snapshots/ (a unit test: nodectl is a binary crate). `NODELET_UPDATE_SNAPSHOTS=1` rewrites the files (then
//! review the diff).

use std::path::PathBuf;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use nodelet_objects::events::{EventStore, EventType, Involved};
use nodelet_objects::pod_table::{self, Columns};

fn now() -> Timestamp {
    "2026-11-22T10:30:00Z".parse().unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn check(name: &str, got: &str) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("NODELET_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (NODELET_UPDATE_SNAPSHOTS=1 writes it)",
            file.display()
        )
    });
    assert!(
        want == got,
        "{} differs:\n--- want\n{want}\n--- got\n{got}",
        file.display()
    );
}

/// A running two-container pod: `web` ready, `sidecar` crash-looping after 3 restarts; an
/// init container that completed.
fn web() -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-node1", "namespace": "default", "uid": "0f0e7c1a-web",
            "creationTimestamp": "2026-11-22T10:00:00Z",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"kubernetes.io/config.hash": "0f0e7c1a",
                            "kubernetes.io/config.source": "file"}
        },
        "spec": {
            "nodeName": "node1",
            "initContainers": [{"name": "setup", "image": "busybox:local",
                                "command": ["sh", "-c", "echo ready"]}],
            "containers": [
                {"name": "web", "image": "busybox:local", "command": ["httpd", "-f"],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "resources": {"limits": {"memory": "64Mi", "cpu": "250m"},
                               "requests": {"memory": "64Mi", "cpu": "250m"}}},
                {"name": "sidecar", "image": "busybox:local", "command": ["sh", "-c", "exit 1"]}
            ]
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}], "hostIP": "192.168.56.11",
            "startTime": "2026-11-22T10:00:01Z",
            "qosClass": "Burstable",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2026-11-22T10:00:02Z"},
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-22T10:00:03Z"},
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-22T10:00:05Z",
                 "reason": "ContainersNotReady", "message": "containers with unready status: [sidecar]"},
                {"type": "ContainersReady", "status": "False", "lastTransitionTime": "2026-11-22T10:00:05Z",
                 "reason": "ContainersNotReady", "message": "containers with unready status: [sidecar]"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-22T10:00:00Z"}
            ],
            "initContainerStatuses": [{
                "name": "setup", "image": "busybox:local", "imageID": "sha256:1234", "ready": true,
                "restartCount": 0, "containerID": "nodelet://0f0e7c1a-web-init-setup-0",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                    "startedAt": "2026-11-22T10:00:02Z", "finishedAt": "2026-11-22T10:00:03Z",
                    "containerID": "nodelet://0f0e7c1a-web-init-setup-0"}}
            }],
            "containerStatuses": [
                {"name": "web", "image": "busybox:local", "imageID": "sha256:1234", "ready": true,
                 "started": true, "restartCount": 0, "containerID": "nodelet://0f0e7c1a-web-app-web-0",
                 "state": {"running": {"startedAt": "2026-11-22T10:00:04Z"}}},
                {"name": "sidecar", "image": "busybox:local", "imageID": "sha256:1234", "ready": false,
                 "started": false, "restartCount": 3, "containerID": "nodelet://0f0e7c1a-web-app-sidecar-3",
                 "state": {"waiting": {"reason": "CrashLoopBackOff",
                     "message": "back-off 40s restarting failed container=sidecar pod=web-node1_default(0f0e7c1a-web)"}},
                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                     "startedAt": "2026-11-22T10:28:00Z", "finishedAt": "2026-11-22T10:28:00Z",
                     "containerID": "nodelet://0f0e7c1a-web-app-sidecar-3"}}}
            ]
        }
    }))
    .unwrap()
}

/// A pod still being set up, and a finished job pod in another namespace.
fn others() -> Vec<Pod> {
    let pending: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cache-node1", "namespace": "default", "uid": "u-cache",
                     "creationTimestamp": "2026-11-22T10:29:50Z"},
        "spec": {"nodeName": "node1", "containers": [{"name": "cache", "image": "busybox:local"}]},
        "status": {"phase": "Pending", "startTime": "2026-11-22T10:29:50Z",
            "containerStatuses": [{"name": "cache", "image": "busybox:local", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    }))
    .unwrap();
    let done: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "migrate-node1", "namespace": "jobs", "uid": "u-migrate",
                     "creationTimestamp": "2026-11-20T08:00:00Z"},
        "spec": {"nodeName": "node1", "restartPolicy": "Never",
                 "containers": [{"name": "migrate", "image": "busybox:local"}]},
        "status": {"phase": "Succeeded", "podIP": "10.244.1.3", "startTime": "2026-11-20T08:00:00Z",
            "containerStatuses": [{"name": "migrate", "image": "busybox:local", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                    "startedAt": "2026-11-20T08:00:01Z", "finishedAt": "2026-11-20T08:00:09Z"}}}]}
    }))
    .unwrap();
    vec![pending, done]
}

#[test]
fn ps_table() {
    let mut pods = vec![web()];
    pods.extend(others().into_iter().take(1));
    check(
        "ps.txt",
        &pod_table::table(&pods, Columns::default(), now()),
    );
}

#[test]
fn ps_all_namespaces_wide() {
    let mut pods = vec![web()];
    pods.extend(others());
    check(
        "ps-A-o-wide.txt",
        &pod_table::table(
            &pods,
            Columns {
                namespace: true,
                wide: true,
            },
            now(),
        ),
    );
}

#[test]
fn describe_pod() {
    let store = EventStore::new("node1", 100);
    let pod = Involved::pod("default", "web-node1", "0f0e7c1a-web");
    let side = pod.clone().container("sidecar", false);
    let n = EventType::Normal;
    store.record_at(
        &pod,
        n,
        "Scheduled",
        "Successfully assigned default/web-node1 to node1",
        "kubelet",
        at("2026-11-22T10:00:00Z"),
    );
    store.record_at(
        &pod.clone().container("web", false),
        n,
        "Pulled",
        "Container image \"busybox:local\" already present on machine",
        "kubelet",
        at("2026-11-22T10:00:04Z"),
    );
    store.record_at(
        &pod.clone().container("web", false),
        n,
        "Created",
        "Created container: web",
        "kubelet",
        at("2026-11-22T10:00:04Z"),
    );
    store.record_at(
        &pod.clone().container("web", false),
        n,
        "Started",
        "Started container web",
        "kubelet",
        at("2026-11-22T10:00:04Z"),
    );
    for t in [
        "2026-11-22T10:00:05Z",
        "2026-11-22T10:05:00Z",
        "2026-11-22T10:28:00Z",
    ] {
        store.record_at(
            &side,
            n,
            "Started",
            "Started container sidecar",
            "kubelet",
            at(t),
        );
    }
    for t in ["2026-11-22T10:00:10Z", "2026-11-22T10:29:00Z"] {
        store.record_at(
            &side,
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container sidecar in pod web-node1_default(0f0e7c1a-web)",
            "kubelet",
            at(t),
        );
    }
    let events = store.list(Some("default"), Some("web-node1"));
    check(
        "describe-pod.txt",
        &nodelet_objects::describe::pod(&web(), &events, now()),
    );
}

#[test]
fn get_pod_yaml() {
    let v = serde_json::to_value(web()).unwrap();
    check(
        "get-pod-o-yaml.txt",
        &nodelet_objects::pod_yaml::to_yaml(&v).unwrap(),
    );
}

#[test]
fn top_pods() {
    use nodelet_objects::pod_metrics::{API_VERSION, ContainerMetrics, PodMetrics, usage};
    let m = |name: &str, cs: &[(&str, u64, u64)]| PodMetrics {
        api_version: API_VERSION.into(),
        kind: "PodMetrics".into(),
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        timestamp: "2026-11-22T10:30:00Z".into(),
        window: "1.5s".into(),
        containers: cs
            .iter()
            .map(|(n, c, w)| ContainerMetrics {
                name: n.to_string(),
                usage: usage(*c, *w),
            })
            .collect(),
    };
    let items = vec![
        m(
            "web-node1",
            &[("web", 2_500_000, 5 << 20), ("sidecar", 0, 300 << 10)],
        ),
        m("cache-node1", &[("cache", 250_000_000, 120 << 20)]),
    ];
    let mut text = crate::top::table(&items, false, false).unwrap();
    text.push('\n');
    text += &crate::top::table(&items, true, true).unwrap();
    check("top-pods.txt", &text);
}
