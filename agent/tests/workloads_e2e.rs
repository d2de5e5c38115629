//! Workloads without a control plane (issue 17), end to end through the real `nodelet`
//! binary in private mount and network namespaces (as pods_e2e), with manifests dropped into
//! the static pod directory as a user would:
//!
//! - a Job of 5 completions, 2 at a time: never more than 2 running, 5 Succeeded pods named
//!   `<job>-<suffix>` with the job labels, status 5 succeeded and condition Complete; an
//!   agent killed -9 in the middle runs no pod twice;
//! - a Job whose pods fail, backoffLimit 2: 3 failed pods, condition Failed
//!   BackoffLimitExceeded; a Job past activeDeadlineSeconds: its pod killed, DeadlineExceeded;
//!   running Job pods deleted through the API: stopped, counted failed and replaced (or,
//!   under a podFailurePolicy that ignores their exit, replaced once Failed, not counted);
//!   an Indexed Job's successPolicy met by index 0 stops the other indexes (Complete,
//!   SuccessPolicy); backoffLimitPerIndex 0 fails index 1 alone (Failed, FailedIndexes); a finished Job's `ttlSecondsAfterFinished` removes only its document from a file of
//!   several; a Namespace's file removed by hand removes the documents of that namespace from
//!   other files (their pod stops), keeping the rest;
//! - a Deployment of 10 replicas rolled to a new image with maxSurge 3 / maxUnavailable 0:
//!   never fewer than 10 running, never more than 13 pods; the old ReplicaSet at 0; an agent
//!   killed -9 during the rollout leaves no extra replica;
//! - a ReplicaSet pod relabelled out of the selector is replaced and keeps running; pods that
//!   do not fit the node wait Pending (Unschedulable), created once;
//! - a DaemonSet's pod appears and disappears with a node label;
//! - a CronJob `*/1 * * * *` on real time creates `<cronjob>-<minutes>` and its pod runs; an
//!   agent killed -9 across the next scheduled minute starts that run once when it is back,
//!   and runs no schedule twice.
//!
//! Statuses are read from the pods' `status.json` and the controllers' records
//! (`<rootDir>/workload-status`), what the API serves.
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{Cleanup, Node, NodeEnv, TestCgroup};

const IMAGE: &str = "nodelet.test/busybox:1.0";
const IMAGE2: &str = "nodelet.test/busybox:2.0";

fn env(bridge: &str, subnet: &str) -> (Node, Cleanup, TestCgroup, PathBuf, tempfile::TempDir) {
    let e = NodeEnv::nodenet("nodelet-workloads-", bridge, subnet);
    for tag in [IMAGE, IMAGE2] {
        let file = e.t.join("busybox.tar");
        std::fs::write(&file, common::busybox_archive(tag)).unwrap();
        node::import_archive(&e.node.dir("root"), &file);
    }
    (e.node, e.cleanup, e.cg, e.t, e.tmp)
}

fn finish(node: &Node, mut cleanup: Cleanup, cg: TestCgroup) {
    // Removing the manifests removes what the controllers made.
    for e in std::fs::read_dir(node.dir("manifests")).unwrap().flatten() {
        std::fs::remove_file(e.path()).unwrap();
    }
    node.wait_pod_gone(60);
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

fn wait_until(what: &str, secs: u64, node: &Node, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; pods: {:#?}\nrecords: {:#?}\nnodelet log:\n{}",
            node.pods()
                .iter()
                .map(|p| (&p["metadata"]["name"], &p["status"]["phase"]))
                .collect::<Vec<_>>(),
            records(node),
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The controllers' records: kind, name and status of each object.
fn records(node: &Node) -> Vec<Value> {
    std::fs::read_dir(node.dir("root/workload-status"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect()
}

fn status_of(node: &Node, kind: &str, name: &str) -> Value {
    records(node)
        .into_iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .map(|r| r["status"].clone())
        .unwrap_or(Value::Null)
}

fn has_condition(status: &Value, type_: &str, reason: Option<&str>) -> bool {
    status["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == type_ && c["status"] == "True" && reason.is_none_or(|r| c["reason"] == r)
        })
    })
}

/// Every pod as the local API serves it (`GET /api/v1/pods`): labels and owner references as
/// they are now (`status.json` is rewritten only when the status changes).
fn api_pods(node: &Node) -> Vec<Value> {
    node.api_get("/api/v1/pods")["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Pods whose label `key` is `value`, as (name, phase).
fn pods_labelled(node: &Node, key: &str, value: &str) -> Vec<(String, String)> {
    api_pods(node)
        .into_iter()
        .filter(|p| p["metadata"]["labels"][key] == value)
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["status"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn job(name: &str, spec: &str, command: &str, restart: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    spec:
      terminationGracePeriodSeconds: 1
      restartPolicy: {restart}
      containers:
      - name: work
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["/bin/busybox", "sh", "-c", "{command}"]
"#
    )
}

fn job_five_completions_two_at_a_time() {
    let (node, mut cleanup, cg, _t, _tmp) = env("wl1", "10.244.31.0/24");
    cleanup.agent = Some(node.start("1"));
    std::fs::write(
        node.dir("manifests/pi.yaml"),
        job(
            "pi",
            "  completions: 5\n  parallelism: 2",
            "sleep 2",
            "Never",
        ),
    )
    .unwrap();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut killed = false;
    let t = Instant::now();
    loop {
        let pods = pods_labelled(&node, "job-name", "pi");
        let running = pods
            .iter()
            .filter(|(_, ph)| ph == "Running" || ph == "Pending")
            .count();
        assert!(
            running <= 2,
            "more than 2 pods active: {pods:?}\n{}",
            node.logs()
        );
        names.extend(pods.iter().map(|(n, _)| n.clone()));
        let done = pods.iter().filter(|(_, ph)| ph == "Succeeded").count();
        if done == 2 && !killed {
            // kill -9 in the middle: the next agent runs no pod twice.
            node::kill_agent(&mut cleanup);
            cleanup.agent = Some(node.start("2"));
            killed = true;
        }
        if done == 5 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "job did not complete: {pods:?}\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(names.len(), 5, "pods: {names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("pi-") && n.len() == 8),
        "{names:?}"
    );
    wait_until("status 5 succeeded, Complete", 20, &node, || {
        let s = status_of(&node, "Job", "pi");
        s["succeeded"] == 5 && has_condition(&s, "Complete", None)
    });
    let p = node
        .pods()
        .into_iter()
        .find(|p| p["metadata"]["labels"]["job-name"] == "pi")
        .unwrap();
    assert_eq!(
        p["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "pi"
    );
    assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
    // Still 5 pods: nothing more was created after completion.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(pods_labelled(&node, "job-name", "pi").len(), 5);
    // Terminal pods are killed as the kubelet kills them: no shim, pause or CNI attachment
    // (their IPs are back in the pool) is left, while each still shows its IP and logs.
    wait_until("the finished pods' sandboxes released", 30, &node, || {
        node::cni_cache_left(&node.dir("root/cni-cache")).is_empty()
            && std::fs::read_dir(node.dir("run/pods"))
                .map(|d| d.count() == 0)
                .unwrap_or(true)
    });
    for p in api_pods(&node) {
        assert!(p["status"]["podIP"].is_string(), "{p}");
        let c = &p["status"]["conditions"][0];
        assert_eq!(
            (&c["type"], &c["status"]),
            (
                &Value::from("PodReadyToStartContainers"),
                &Value::from("False")
            ),
            "{p}"
        );
    }
    let log_dirs = std::fs::read_dir(node.dir("logs")).unwrap().count();
    assert_eq!(log_dirs, 5, "the finished pods' log directories stay");
    finish(&node, cleanup, cg);
}

fn job_backoff_limit_and_deadline() {
    let (node, mut cleanup, cg, _t, _tmp) = env("wl2", "10.244.32.0/24");
    cleanup.agent = Some(node.start("1"));
    std::fs::write(
        node.dir("manifests/fail.yaml"),
        job("fail", "  backoffLimit: 2", "exit 1", "Never"),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/slow.yaml"),
        job("slow", "  activeDeadlineSeconds: 3", "sleep 3600", "Never"),
    )
    .unwrap();
    // An Indexed Job whose successPolicy is met when index 0 succeeds: the other indexes
    // (sleeping) are stopped, the Job Complete with reason SuccessPolicy.
    std::fs::write(
        node.dir("manifests/early.yaml"),
        job(
            "early",
            "  completionMode: Indexed\n  completions: 3\n  parallelism: 3\n  successPolicy:\n    rules:\n    - succeededIndexes: '0'",
            "[ $JOB_COMPLETION_INDEX = 0 ] || sleep 3600",
            "Never",
        ),
    )
    .unwrap();
    // An Indexed Job with backoffLimitPerIndex 0 whose index 1 fails: that index is failed
    // for good, index 0 succeeds, the Job fails with FailedIndexes.
    std::fs::write(
        node.dir("manifests/perindex.yaml"),
        job(
            "perindex",
            "  completionMode: Indexed\n  completions: 2\n  parallelism: 2\n  backoffLimitPerIndex: 0",
            "[ $JOB_COMPLETION_INDEX = 0 ]",
            "Never",
        ),
    )
    .unwrap();
    // Running Job pods deleted through the API (`kubectl delete pod`): kept terminating by
    // the job-tracking finalizer, their containers stopped; counted as failed and replaced
    // at once (podReplacementPolicy TerminatingOrFailed), or, under a podFailurePolicy
    // (podReplacementPolicy Failed), replaced once terminal (Failed with the exit its
    // SIGTERM trap chose, 42, which the rule Ignore matches: not counted).
    std::fs::write(
        node.dir("manifests/deleted.yaml"),
        job("deleted", "  backoffLimit: 3", "sleep 3600", "Never"),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/ignored.yaml"),
        job(
            "ignored",
            "  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onExitCodes: {operator: In, values: [42]}",
            "trap 'exit 42' TERM; sleep 3600 & wait",
            "Never",
        ),
    )
    .unwrap();
    // A finished Job with ttlSecondsAfterFinished in a file of several documents: only its
    // document goes.
    let kept = "# kept as written\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  a: b\n";
    std::fs::write(
        node.dir("manifests/ttl.yaml"),
        format!(
            "{kept}---\n{}",
            job("quick", "  ttlSecondsAfterFinished: 0", "true", "Never")
        ),
    )
    .unwrap();
    // A Namespace declared by hand, with objects in it declared in another file.
    std::fs::write(
        node.dir("manifests/lab-ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lab\n",
    )
    .unwrap();
    let stays = "# not in lab\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stays\n";
    std::fs::write(
        node.dir("manifests/lab.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: lab\n---\n{stays}---\n\
             apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: lab\n  labels: {{app: lab}}\n\
             spec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: {IMAGE}\n\
             \x20   imagePullPolicy: Never\n    command: [/bin/busybox, sleep, '3600']\n"
        ),
    )
    .unwrap();
    wait_until("slow: DeadlineExceeded", 30, &node, || {
        has_condition(
            &status_of(&node, "Job", "slow"),
            "Failed",
            Some("DeadlineExceeded"),
        )
    });
    wait_until("slow's pod stopped", 30, &node, || {
        pods_labelled(&node, "job-name", "slow")
            .iter()
            .all(|(_, ph)| ph != "Running")
    });
    wait_until("early: Complete by its successPolicy", 60, &node, || {
        has_condition(
            &status_of(&node, "Job", "early"),
            "Complete",
            Some("SuccessPolicy"),
        )
    });
    wait_until("perindex: Failed with FailedIndexes", 60, &node, || {
        has_condition(
            &status_of(&node, "Job", "perindex"),
            "Failed",
            Some("FailedIndexes"),
        )
    });
    let st = status_of(&node, "Job", "perindex");
    assert_eq!(
        (&st["failedIndexes"], &st["completedIndexes"]),
        (&Value::from("1"), &Value::from("0")),
        "{st}"
    );
    assert_eq!(pods_labelled(&node, "job-name", "perindex").len(), 2);
    let early = pods_labelled(&node, "job-name", "early");
    assert!(
        early
            .iter()
            .all(|(_, ph)| ph != "Running" && ph != "Pending"),
        "{early:?}"
    );
    assert_eq!(status_of(&node, "Job", "early")["completedIndexes"], "0");
    wait_until(
        "quick's document removed (ttlSecondsAfterFinished)",
        30,
        &node,
        || std::fs::read_to_string(node.dir("manifests/ttl.yaml")).is_ok_and(|t| t == kept),
    );
    wait_until("quick's pods gone", 30, &node, || {
        pods_labelled(&node, "job-name", "quick").is_empty()
    });
    // The Namespace's file removed by hand: what is in it goes, the rest of the file stays.
    wait_until("the pod in lab", 60, &node, || {
        pods_labelled(&node, "app", "lab")
            .iter()
            .any(|(_, ph)| ph == "Running")
    });
    wait_until("the Namespace recorded", 10, &node, || {
        records(&node)
            .iter()
            .any(|r| r["kind"] == "Namespace" && r["name"] == "lab")
    });
    std::fs::remove_file(node.dir("manifests/lab-ns.yaml")).unwrap();
    wait_until("lab's documents removed", 30, &node, || {
        std::fs::read_to_string(node.dir("manifests/lab.yaml")).is_ok_and(|t| t == stays)
    });
    wait_until("lab's pod gone", 30, &node, || {
        pods_labelled(&node, "app", "lab").is_empty()
    });
    for name in ["deleted", "ignored"] {
        wait_until(&format!("{name}: its pod running"), 60, &node, || {
            pods_labelled(&node, "job-name", name)
                .iter()
                .any(|(_, ph)| ph == "Running")
        });
        let first = pods_labelled(&node, "job-name", name)[0].0.clone();
        let body = node.api_delete(&format!("/api/v1/namespaces/default/pods/{first}"));
        assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
        wait_until(&format!("{name}: a replacement running"), 60, &node, || {
            pods_labelled(&node, "job-name", name)
                .iter()
                .any(|(n, ph)| *n != first && ph == "Running")
        });
        wait_until(&format!("{name}: the deleted pod gone"), 30, &node, || {
            pods_labelled(&node, "job-name", name)
                .iter()
                .all(|(n, _)| *n != first)
        });
        let st = status_of(&node, "Job", name);
        let counted = if name == "deleted" { 1 } else { 0 };
        assert_eq!(st["failed"].as_i64().unwrap_or(0), counted, "{name}: {st}");
        assert_eq!(st["active"], 1, "{name}: {st}");
    }
    // Failures 1, 2, 3 with the controller's back-off (10 s, 20 s) between them.
    wait_until("fail: BackoffLimitExceeded", 90, &node, || {
        has_condition(
            &status_of(&node, "Job", "fail"),
            "Failed",
            Some("BackoffLimitExceeded"),
        )
    });
    let failed = pods_labelled(&node, "job-name", "fail");
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(failed.iter().all(|(_, ph)| ph == "Failed"), "{failed:?}");
    assert_eq!(status_of(&node, "Job", "fail")["failed"], 3);
    finish(&node, cleanup, cg);
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 3, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        imagePullPolicy: Never
        command: ["/bin/busybox", "sleep", "3600"]
"#
    )
}

fn image_of(p: &Value) -> String {
    p["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn deployment_rolls_with_max_surge() {
    let (node, mut cleanup, cg, _t, _tmp) = env("wl3", "10.244.33.0/24");
    cleanup.agent = Some(node.start("1"));
    std::fs::write(node.dir("manifests/web.yaml"), deployment(10, IMAGE)).unwrap();
    let web = |node: &Node| -> Vec<Value> {
        node.pods()
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "web")
            .collect()
    };
    let running = |ps: &[Value], image: &str| {
        ps.iter()
            .filter(|p| p["status"]["phase"] == "Running" && image_of(p) == image)
            .count()
    };
    wait_until("10 pods running", 90, &node, || {
        running(&web(&node), IMAGE) == 10
    });
    std::fs::write(node.dir("manifests/web.yaml"), deployment(10, IMAGE2)).unwrap();
    let t = Instant::now();
    let mut killed = false;
    loop {
        let ps = web(&node);
        // The pods that exist (a deleted pod's file is gone at once; its processes stop
        // during the grace period, shown Terminating by kubectl and counted by no one).
        let existing: Vec<&Value> = ps
            .iter()
            .filter(|p| {
                let name = p["metadata"]["name"].as_str().unwrap_or_default();
                node.dir(&format!("root/workloads/pod_default_{name}.json"))
                    .exists()
            })
            .collect();
        let ready = existing
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        assert!(
            existing.len() <= 13,
            "more than 13 pods: {}",
            existing.len()
        );
        assert!(
            ready >= 10,
            "fewer than 10 running: {ready}\n{}",
            node.logs()
        );
        let new = running(&ps, IMAGE2);
        if new >= 3 && !killed {
            node::kill_agent(&mut cleanup);
            cleanup.agent = Some(node.start("2"));
            killed = true;
        }
        if new == 10 && running(&ps, IMAGE) == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(180),
            "rollout stuck\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until("the deployment's status", 20, &node, || {
        let s = status_of(&node, "Deployment", "web");
        s["updatedReplicas"] == 10 && s["availableReplicas"] == 10
    });
    let rss: Vec<Value> = records(&node)
        .into_iter()
        .filter(|r| r["kind"] == "ReplicaSet")
        .collect();
    assert_eq!(rss.len(), 2, "{rss:#?}");
    // Rolled back: the old ReplicaSet takes the pods again.
    std::fs::write(node.dir("manifests/web.yaml"), deployment(10, IMAGE)).unwrap();
    wait_until("rolled back", 180, &node, || {
        let ps = web(&node);
        running(&ps, IMAGE) == 10 && running(&ps, IMAGE2) == 0
    });
    assert_eq!(
        records(&node)
            .iter()
            .filter(|r| r["kind"] == "ReplicaSet")
            .count(),
        2
    );
    finish(&node, cleanup, cg);
}

fn replicaset_replaces_relabelled_pod() {
    let (node, mut cleanup, cg, _t, _tmp) = env("wl4", "10.244.34.0/24");
    cleanup.agent = Some(node.start("1"));
    std::fs::write(
        node.dir("manifests/rs.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: front
spec:
  replicas: 2
  selector:
    matchExpressions:
    - {{key: tier, operator: In, values: [front, edge]}}
  template:
    metadata:
      labels: {{tier: front}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["/bin/busybox", "sleep", "3600"]
"#
        ),
    )
    .unwrap();
    let running = |node: &Node| {
        pods_labelled(node, "tier", "front")
            .into_iter()
            .filter(|(_, ph)| ph == "Running")
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    wait_until("2 pods", 60, &node, || running(&node).len() == 2);
    let victim = running(&node)[0].clone();
    // Relabel as `kubectl label pod <p> tier=debug --overwrite` does (the pod's file).
    let file = node.dir(&format!("root/workloads/pod_default_{victim}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["metadata"]["labels"]["tier"] = "debug".into();
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    wait_until("a replacement", 60, &node, || {
        let r = running(&node);
        r.len() == 2 && !r.contains(&victim)
    });
    // The relabelled pod runs on, released (no controller).
    let old = api_pods(&node)
        .into_iter()
        .find(|p| p["metadata"]["name"] == victim.as_str())
        .unwrap();
    assert_eq!(old["status"]["phase"], "Running");
    wait_until("released", 20, &node, || {
        api_pods(&node)
            .into_iter()
            .find(|p| p["metadata"]["name"] == victim.as_str())
            .is_some_and(|p| p["metadata"]["ownerReferences"].is_null())
    });
    std::fs::remove_file(&file).unwrap();
    // A ReplicaSet whose pods do not fit the node: they wait Pending (PodScheduled False,
    // Unschedulable) as the scheduler leaves them; none is refused and replaced in a loop.
    std::fs::write(
        node.dir("manifests/far.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: far
spec:
  replicas: 2
  selector:
    matchLabels: {{app: far}}
  template:
    metadata:
      labels: {{app: far}}
    spec:
      nodeSelector: {{disktype: nvme}}
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
"#
        ),
    )
    .unwrap();
    wait_until("2 unschedulable pods", 30, &node, || {
        let far: Vec<Value> = api_pods(&node)
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "far")
            .collect();
        far.len() == 2
            && far.iter().all(|p| {
                p["status"]["phase"] == "Pending"
                    && p["status"]["conditions"][0]["reason"] == "Unschedulable"
            })
    });
    std::thread::sleep(Duration::from_secs(2));
    let far = pods_labelled(&node, "app", "far");
    assert_eq!(far.len(), 2, "{far:?}");
    let created = node.logs().matches("Created pod: far-").count();
    assert_eq!(created, 2, "{}", node.logs());
    finish(&node, cleanup, cg);
}

fn daemonset_follows_node_labels() {
    let (node, mut cleanup, cg, _t, _tmp) = env("wl5", "10.244.35.0/24");
    cleanup.agent = Some(node.start_with("1", &["--node-labels", "disk=ssd"]));
    std::fs::write(
        node.dir("manifests/ds.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {{app: agent}}
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      nodeSelector: {{disk: ssd}}
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["/bin/busybox", "sleep", "3600"]
"#
        ),
    )
    .unwrap();
    wait_until("the daemon pod", 60, &node, || {
        pods_labelled(&node, "app", "agent")
            .iter()
            .any(|(_, ph)| ph == "Running")
    });
    // The label goes (a restart with other labels): the pod goes.
    node::kill_agent(&mut cleanup);
    cleanup.agent = Some(node.start_with("2", &["--node-labels", "disk=hdd"]));
    wait_until("the daemon pod gone", 60, &node, || {
        pods_labelled(&node, "app", "agent").is_empty()
    });
    // And comes back with it.
    node::kill_agent(&mut cleanup);
    cleanup.agent = Some(node.start_with("3", &["--node-labels", "disk=ssd"]));
    wait_until("the daemon pod again", 60, &node, || {
        pods_labelled(&node, "app", "agent")
            .iter()
            .any(|(_, ph)| ph == "Running")
    });
    finish(&node, cleanup, cg);
}

fn cronjob_on_real_time() {
    let (node, mut cleanup, cg, _t, _tmp) = env("wl6", "10.244.36.0/24");
    cleanup.agent = Some(node.start("1"));
    std::fs::write(
        node.dir("manifests/hello.yaml"),
        format!(
            r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          terminationGracePeriodSeconds: 1
          restartPolicy: OnFailure
          containers:
          - name: hello
            image: {IMAGE}
            imagePullPolicy: Never
            command: ["/bin/busybox", "echo", "Hello from the cluster"]
"#
        ),
    )
    .unwrap();
    let mut job = String::new();
    wait_until("the first job", 75, &node, || {
        job = records(&node)
            .into_iter()
            .find(|r| r["kind"] == "Job")
            .and_then(|r| r["name"].as_str().map(String::from))
            .unwrap_or_default();
        !job.is_empty()
    });
    // `<cronjob>-<scheduled time in minutes since the epoch>`, on a minute boundary.
    let minutes: u64 = job.strip_prefix("hello-").unwrap().parse().unwrap();
    let now_min = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60;
    assert!(now_min.abs_diff(minutes) <= 1, "{job} vs {now_min}");
    wait_until("the job's pod completed", 60, &node, || {
        pods_labelled(&node, "job-name", &job)
            .iter()
            .any(|(_, ph)| ph == "Succeeded")
    });
    wait_until("the cronjob saw it", 30, &node, || {
        status_of(&node, "CronJob", "hello")["lastSuccessfulTime"].is_string()
    });
    // kill -9, down across the next scheduled minute, back 3 s after it: that minute's run
    // is started once (no startingDeadlineSeconds: a missed run still runs), the first
    // is not run again.
    node::kill_agent(&mut cleanup);
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let next = (epoch() / 60 + 1) * 60;
    std::thread::sleep(Duration::from_secs(next + 3 - epoch()));
    cleanup.agent = Some(node.start("2"));
    let second = format!("hello-{}", next / 60);
    wait_until("the missed run started", 30, &node, || {
        records(&node)
            .iter()
            .any(|r| r["kind"] == "Job" && r["name"] == second.as_str())
    });
    std::thread::sleep(Duration::from_secs(2));
    let jobs: Vec<String> = records(&node)
        .into_iter()
        .filter(|r| r["kind"] == "Job")
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    let mut unique = jobs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(jobs.len(), unique.len(), "{jobs:?}");
    assert!(jobs.contains(&job) && jobs.contains(&second), "{jobs:?}");
    for j in [&job, &second] {
        wait_until("one pod per run", 30, &node, || {
            let pods = pods_labelled(&node, "job-name", j);
            pods.len() == 1 && pods[0].1 == "Succeeded"
        });
    }
    finish(&node, cleanup, cg);
}

fn main() {
    node::run_cases(
        "workloads_e2e",
        &[
            (
                "job_five_completions_two_at_a_time",
                job_five_completions_two_at_a_time,
            ),
            (
                "job_backoff_limit_and_deadline",
                job_backoff_limit_and_deadline,
            ),
            (
                "deployment_rolls_with_max_surge",
                deployment_rolls_with_max_surge,
            ),
            (
                "replicaset_replaces_relabelled_pod",
                replicaset_replaces_relabelled_pod,
            ),
            (
                "daemonset_follows_node_labels",
                daemonset_follows_node_labels,
            ),
            ("cronjob_on_real_time", cronjob_on_real_time),
        ],
    );
}
