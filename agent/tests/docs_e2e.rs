//! What the documentation sweep of issue 15 found (`agent/tests/docs-sweep/DOCS-SWEEP.md`),
//! on a live node through the real `nodelet` binary as root in private mount and network
//! namespaces (see `node::run_cases`), with manifests in the documentation's shapes:
//!
//! - a command that is not in the image (docs' commands.yaml on an image without it): the
//!   runtime's create fails as containerd's StartContainer does, so the instance ends
//!   `StartError` with exit code 128 and is restarted with the CrashLoopBackOff (restartPolicy
//!   OnFailure), or fails the pod (Never); one `Failed` event per attempt.
//! - pod conditions as the kubelet writes them: `PodReadyToStartContainers`, `Initialized`,
//!   `Ready`, `ContainersReady`, `PodScheduled` in that order, with their reasons and messages;
//!   a readiness gate nobody sets keeps `Ready` False (`ReadinessGatesNotReady`); an unready
//!   sidecar keeps `ContainersReady` False; READY counts sidecars as kubectl does (`1/2`).
//! - sidecars' probes run (docs' startup-coordination.yaml): the app container starts only
//!   once the sidecar's startup probe passed; a probed container is not ready before its
//!   readiness probe passed.
//! - `imagePullSecrets` naming a Secret the node does not have: the kubelet's Warning
//!   `FailedToRetrieveImagePullSecret`, and the pull is tried anyway.
//! - a pod with `schedulingGates` (docs' pod-with-scheduling-gates.yaml) is refused as the
//!   kubelet refuses it: a static pod gets a node name, and a pod with a node may not be gated.
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{NodeEnv, container};

const IMAGE: &str = "nodelet.test/busybox:1.0";

/// The pod `name` from the node's API once `cond` holds.
fn wait_api_pod(env: &NodeEnv, name: &str, secs: u64, cond: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let p = env
            .node
            .api_get(&format!("/api/v1/namespaces/default/pods/{name}"));
        if cond(&p) {
            return p;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {name}: {p:#}\nnodelet log:\n{}",
            env.node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (type, status, reason, message) of each of the pod's conditions, in order.
fn conditions(p: &Value) -> Vec<[String; 4]> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            [
                s(&c["type"]),
                s(&c["status"]),
                s(&c["reason"]),
                s(&c["message"]),
            ]
        })
        .collect()
}

fn cond(t: &str, s: &str, r: &str, m: &str) -> [String; 4] {
    [t.into(), s.into(), r.into(), m.into()]
}

fn write(env: &NodeEnv, file: &str, yaml: &str) {
    std::fs::write(env.node.dir(&format!("manifests/{file}.yaml")), yaml).unwrap();
}

fn pod(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n{spec}"
    )
}

fn findings() {
    let mut env = NodeEnv::nodenet("nodelet-docs-", "docs0", "10.244.46.0/24");
    let archive = env.t.join("busybox.tar");
    std::fs::write(&archive, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(&env.node.dir("root"), &archive);
    env.cleanup.agent = Some(env.node.start_with("1", &[]));
    let app = |cmd: &str| {
        format!(
            "  - name: app\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: {cmd}\n"
        )
    };
    write(
        &env,
        "typo",
        &pod(
            "typo",
            &format!(
                "  restartPolicy: OnFailure\n  containers:\n{}",
                app("[printenv, HOSTNAME]")
            ),
        ),
    );
    write(
        &env,
        "typo-never",
        &pod(
            "typo-never",
            &format!(
                "  restartPolicy: Never\n  containers:\n{}",
                app("[no-such-command]")
            ),
        ),
    );
    write(
        &env,
        "gated",
        &pod(
            "gated",
            &format!(
                "  readinessGates:\n  - conditionType: www.example.com/feature-1\n  containers:\n{}",
                app("[/bin/busybox, sleep, \"3600\"]")
            ),
        ),
    );
    write(
        &env,
        "sidecar",
        &pod(
            "sidecar",
            &format!(
                "  initContainers:\n  - name: shipper\n    image: {IMAGE}\n    imagePullPolicy: Never\n    restartPolicy: Always\n    command: [/bin/busybox, sleep, \"3600\"]\n    readinessProbe:\n      exec: {{command: [/bin/busybox, \"false\"]}}\n      periodSeconds: 1\n  containers:\n{}",
                app("[/bin/busybox, sleep, \"3600\"]")
            ),
        ),
    );
    write(
        &env,
        "coordination",
        &pod(
            "coordination",
            &format!(
                "  volumes: [{{name: config, emptyDir: {{}}}}]\n  initContainers:\n  - name: config\n    image: {IMAGE}\n    imagePullPolicy: Never\n    restartPolicy: Always\n    command: [/bin/busybox, sh, -c, \"sleep 4; /bin/busybox touch /config/app.conf; exec /bin/busybox sleep 3600\"]\n    volumeMounts: [{{name: config, mountPath: /config}}]\n    startupProbe:\n      exec: {{command: [/bin/busybox, test, -f, /config/app.conf]}}\n      periodSeconds: 1\n      failureThreshold: 30\n  containers:\n{}",
                app("[/bin/busybox, sleep, \"3600\"]")
            ),
        ),
    );
    write(
        &env,
        "private-reg",
        &pod(
            "private-reg",
            &format!(
                "  imagePullSecrets: [{{name: regcred}}]\n  containers:\n{}",
                app("[/bin/busybox, sleep, \"3600\"]")
            ),
        ),
    );
    write(
        &env,
        "scheduling-gates",
        &pod(
            "test-pod",
            &format!(
                "  schedulingGates:\n  - name: example.com/foo\n  containers:\n{}",
                app("[/bin/busybox, sleep, \"3600\"]")
            ),
        ),
    );

    // A missing executable: StartError, exit code 128, restarted with the back-off.
    let typo = wait_api_pod(&env, "typo-node1", 40, |p| {
        container(p, "app")["restartCount"].as_i64() >= Some(2)
            && container(p, "app")["lastState"]["terminated"].is_object()
    });
    let last = &container(&typo, "app")["lastState"]["terminated"];
    assert_eq!(last["reason"], "StartError", "{typo:#}");
    assert_eq!(last["exitCode"], 128, "{typo:#}");
    assert_eq!(last["startedAt"], "1970-01-01T00:00:00Z", "{typo:#}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("executable file \"printenv\" not found in $PATH")),
        "{typo:#}"
    );
    assert_eq!(typo["status"]["phase"], "Running", "{typo:#}");
    let describe = env.node.nodectl(&["describe", "pod", "typo-node1"]);
    let failed = describe
        .lines()
        .filter(|l| l.contains("Failed") && l.contains("not found in $PATH"))
        .collect::<Vec<_>>();
    // `Created` (containerd's CreateContainer succeeded), then one `Failed` per attempt with
    // the kubelet's `Error: <message>` (aggregated by count).
    assert!(
        describe
            .lines()
            .any(|l| l.contains("Normal") && l.contains("Created container app")),
        "{describe}"
    );
    assert!(
        !failed.is_empty()
            && failed
                .iter()
                .all(|l| l.contains("Error: shim: create") && !l.contains("CreateContainerError")),
        "{describe}"
    );
    let never = wait_api_pod(&env, "typo-never-node1", 30, |p| {
        p["status"]["phase"] == "Failed"
    });
    let term = &container(&never, "app")["state"]["terminated"];
    assert_eq!(term["reason"], "StartError", "{never:#}");
    assert_eq!(container(&never, "app")["restartCount"], 0, "{never:#}");
    let table = env.node.nodectl(&["get", "pods", "typo-never-node1"]);
    assert!(table.contains("StartError"), "{table}");

    // Conditions in the kubelet's order and words.
    let gated = wait_api_pod(&env, "gated-node1", 30, |p| {
        container(p, "app")["state"]["running"].is_object()
    });
    assert_eq!(
        conditions(&gated),
        vec![
            cond("PodReadyToStartContainers", "True", "", ""),
            cond("Initialized", "True", "", ""),
            cond(
                "Ready",
                "False",
                "ReadinessGatesNotReady",
                "corresponding condition of pod readiness gate \"www.example.com/feature-1\" does not exist."
            ),
            cond("ContainersReady", "True", "", ""),
            cond("PodScheduled", "True", "", ""),
        ],
        "{gated:#}"
    );
    let sidecar = wait_api_pod(&env, "sidecar-node1", 30, |p| {
        container(p, "app")["state"]["running"].is_object()
    });
    assert_eq!(
        conditions(&sidecar)[3],
        cond(
            "ContainersReady",
            "False",
            "ContainersNotReady",
            "containers with unready status: [shipper]"
        ),
        "{sidecar:#}"
    );

    // docs' startup-coordination.yaml: the app waits for the sidecar's startup probe.
    let t = Instant::now();
    let coordination = loop {
        let p = env
            .node
            .api_get("/api/v1/namespaces/default/pods/coordination-node1");
        let sidecar = &p["status"]["initContainerStatuses"][0];
        if sidecar["started"] == true {
            break p;
        }
        if sidecar["state"]["running"].is_object() {
            assert!(
                !container(&p, "app")["state"]["running"].is_object(),
                "the app runs before its sidecar started: {p:#}"
            );
        }
        assert!(t.elapsed() < Duration::from_secs(40), "{p:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let sidecar_started =
        coordination["status"]["initContainerStatuses"][0]["state"]["running"]["startedAt"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    let running = wait_api_pod(&env, "coordination-node1", 30, |p| {
        container(p, "app")["state"]["running"].is_object()
    });
    let app_started = container(&running, "app")["state"]["running"]["startedAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // kubectl counts a sidecar among the READY containers (a started, ready one as ready).
    let ready_cell = |name: &str| {
        let table = env.node.nodectl(&["get", "pods", name]);
        table
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(ready_cell("coordination-node1"), "2/2");
    assert_eq!(ready_cell("sidecar-node1"), "1/2");
    let secs = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_second();
    assert!(
        secs(&app_started) - secs(&sidecar_started) >= 3,
        "app at {app_started}, sidecar at {sidecar_started}"
    );

    // docs' private-reg-pod.yaml without its Secret: the kubelet's warning, the pod runs.
    wait_api_pod(&env, "private-reg-node1", 30, |p| {
        container(p, "app")["state"]["running"].is_object()
    });
    let describe = env.node.nodectl(&["describe", "pod", "private-reg-node1"]);
    assert!(
        describe.lines().any(|l| l.contains("Warning")
            && l.contains("FailedToRetrieveImagePullSecret")
            && l.contains("Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed.")),
        "{describe}"
    );

    // The gated pod never runs; the log says why, in the kubelet's words.
    assert_eq!(
        env.node
            .api_get("/api/v1/namespaces/default/pods/test-pod-node1")["kind"],
        "Status"
    );
    let log = env.node.logs();
    assert!(
        log.contains("scheduling-gates.yaml")
            && log.contains(
                "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"
            ),
        "{log}"
    );

    for f in [
        "typo",
        "typo-never",
        "gated",
        "sidecar",
        "coordination",
        "private-reg",
        "scheduling-gates",
    ] {
        std::fs::remove_file(env.node.dir(&format!("manifests/{f}.yaml"))).unwrap();
    }
    env.node.wait_pod_gone(30);
    node::stop_agent(&mut env.cleanup);
    assert!(Path::new(&env.t).exists());
}

fn main() {
    node::run_cases("docs_e2e", &[("findings", findings)]);
}
