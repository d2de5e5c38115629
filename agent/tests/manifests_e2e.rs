//! Every example in manifests/ runs on a real node: the busybox:local image built by
//! scripts/busybox-image.sh (what the demo uses) is imported, all the manifests are dropped
//! into the static pod path of a `nodelet` running in a private network namespace, and each
//! does what its comment promises:
//!
//! - webserver: Ready (readiness probe on a named port) and serves its page on the pod IP;
//! - multi-container: the client fetches the server's page over the pod's shared localhost;
//! - init-containers: init containers ran in order; the app reads what they wrote;
//! - env-vars: values, `$(VAR)` expansion rules and the downward API;
//! - configmap: env from a ConfigMap and a Secret (key refs, envFrom with a prefix), their
//!   files in volumes with the modes asked for;
//! - deployment: 3 ready replicas named `hello-web-<hash>-<suffix>`, serving their page;
//! - job: 5 pods Succeeded, never more than 2 at once;
//! - resources: the container sees its memory limit;
//! - memory-hog: OOMKilled (exit 137) and restarted;
//! - liveness-exec: Running (its restart takes 45 s; the probe tests cover it).
//!
//! Removing the manifests stops everything and leaves nothing behind.
//! `harness = false`: the namespaces are entered before any thread exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

mod node;
use node::{Node, NodeEnv, container, mounts_under, sh};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The current CRI log of `container` of pod `pod` (name), or "".
fn log_of(node: &Node, pod: &str, container: &str) -> String {
    for e in std::fs::read_dir(node.dir("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!("default_{pod}_")) {
            let mut out = String::new();
            for f in std::fs::read_dir(e.path().join(container))
                .into_iter()
                .flatten()
                .flatten()
            {
                if f.path().extension().is_some_and(|x| x == "log") {
                    out += &std::fs::read_to_string(f.path()).unwrap_or_default();
                }
            }
            return out;
        }
    }
    String::new()
}

fn wait_log(node: &Node, pod: &str, c: &str, needle: &str, secs: u64) -> String {
    let t = Instant::now();
    loop {
        let l = log_of(node, pod, c);
        if l.contains(needle) {
            return l;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{pod}/{c}: {needle:?} not in its log:\n{l}\nnodelet log:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET `path` from nodelet's API socket (HTTP/1.0: the body ends with the connection).
fn http_get(sock: &Path, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: nodelet\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    out
}

fn running(name: &str) -> impl FnMut(&Value) -> bool + '_ {
    move |p: &Value| p["metadata"]["name"] == name && p["status"]["phase"] == "Running"
}

fn every_manifest_runs() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-manifests-", "mf0", "10.244.8.0/24");
    // The demo's image, built the demo's way.
    let archive = t.join("busybox.tar");
    sh(&[
        repo().join("scripts/busybox-image.sh").to_str().unwrap(),
        archive.to_str().unwrap(),
        "busybox:local",
    ]);
    node::import_archive(&node.dir("root"), &archive);

    let mut names = vec![];
    for e in std::fs::read_dir(repo().join("manifests"))
        .unwrap()
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, node.dir("manifests").join(e.file_name())).unwrap();
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "configmap.yaml",
            "deployment.yaml",
            "env-vars.yaml",
            "init-containers.yaml",
            "job.yaml",
            "liveness-exec.yaml",
            "memory-hog.yaml",
            "multi-container.yaml",
            "resources.yaml",
            "webserver.yaml"
        ],
        "a new manifest needs its check here"
    );
    cleanup.agent = Some(node.start("1"));

    // webserver: Ready, serves its page on the pod IP.
    let web = node.wait_pod("webserver Ready", 60, |p| {
        p["metadata"]["name"] == "webserver-node1"
            && container(p, "httpd")["ready"] == Value::Bool(true)
    });
    let ip = web["status"]["podIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.244.8."), "{ip}");
    let page = sh(&["/bin/busybox", "wget", "-qO-", &format!("http://{ip}:80/")]);
    assert_eq!(page.trim(), "hello from nodelet");

    // multi-container: two containers, one IP, one localhost.
    let mc = node.wait_pod(
        "multi-container Running",
        60,
        running("multi-container-node1"),
    );
    assert!(container(&mc, "server")["state"]["running"].is_object());
    wait_log(
        &node,
        "multi-container-node1",
        "client",
        "shared-localhost",
        30,
    );

    // init-containers: in order, and the app reads their file from the emptyDir.
    let init = node.wait_pod("init-demo Running", 60, running("init-demo-node1"));
    let ics = init["status"]["initContainerStatuses"].as_array().unwrap();
    let term = |i: usize| &ics[i]["state"]["terminated"];
    assert_eq!(term(0)["reason"], "Completed", "{ics:#?}");
    assert_eq!(term(1)["reason"], "Completed", "{ics:#?}");
    let finished0: jiff::Timestamp = term(0)["finishedAt"].as_str().unwrap().parse().unwrap();
    let started1: jiff::Timestamp = term(1)["startedAt"].as_str().unwrap().parse().unwrap();
    assert!(
        finished0 <= started1,
        "init containers overlapped: {ics:#?}"
    );
    wait_log(
        &node,
        "init-demo-node1",
        "app",
        "written by an init container",
        30,
    );

    // env-vars: values, expansion (only of variables defined earlier), the downward API.
    let ev = node.wait_pod("env-vars Running", 60, running("env-vars-node1"));
    let env_ip = ev["status"]["podIP"].as_str().unwrap().to_string();
    let l = wait_log(&node, "env-vars-node1", "printer", "POD_NAME=", 30);
    for want in [
        "GREETING=hello".to_string(),
        "MESSAGE=hello from $(POD_NAME)".to_string(),
        "POD_NAME=env-vars-node1".to_string(),
        format!("POD_IP={env_ip}"),
        "NODE_NAME=node1".to_string(),
        "MEMORY_LIMIT=67108864".to_string(),
    ] {
        assert!(l.contains(&want), "{want:?} missing from:\n{l}");
    }

    // configmap: env and files from the ConfigMap and the Secret of the same file.
    node.wait_pod("config-reader Running", 60, running("config-reader-node1"));
    let l = wait_log(&node, "config-reader-node1", "reader", "level 1", 30);
    for want in [
        "LEVEL=1",
        "DB_USER=admin",
        "GAME_level=1",
        "GAME_theme=dark",
        "-r--r--r--",
        "-r--------",
    ] {
        assert!(l.contains(want), "{want:?} missing from:\n{l}");
    }

    // resources: the limit is what the container's cgroup says.
    // deployment: 3 ready replicas serving their page.
    let ready_web = |node: &Node| {
        node.pods()
            .into_iter()
            .filter(|p| {
                p["metadata"]["labels"]["app"] == "hello-web"
                    && container(p, "httpd")["ready"] == Value::Bool(true)
            })
            .collect::<Vec<_>>()
    };
    let t = Instant::now();
    while ready_web(&node).len() < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "deployment not ready\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let web3 = ready_web(&node);
    assert!(
        web3.iter().all(|p| p["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("hello-web-") && n.split('-').count() == 4)),
        "{:?}",
        web3.iter()
            .map(|p| &p["metadata"]["name"])
            .collect::<Vec<_>>()
    );
    let ip = web3[0]["status"]["podIP"].as_str().unwrap().to_string();
    let page = sh(&["/bin/busybox", "wget", "-qO-", &format!("http://{ip}/")]);
    assert!(page.contains("hello from a Deployment"), "{page}");
    // job: 5 Succeeded, at most 2 at once.
    let t = Instant::now();
    loop {
        let pods: Vec<Value> = node
            .pods()
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["job-name"] == "countdown")
            .collect();
        let active = pods
            .iter()
            .filter(|p| p["status"]["phase"] == "Running" || p["status"]["phase"] == "Pending")
            .count();
        assert!(active <= 2, "{active} job pods at once");
        if pods
            .iter()
            .filter(|p| p["status"]["phase"] == "Succeeded")
            .count()
            == 5
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "job not done\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    node.wait_pod("resources Running", 60, running("resources-node1"));
    wait_log(&node, "resources-node1", "worker", "67108864", 30);

    // memory-hog: OOMKilled, exit 137, restarted.
    let hog = node.wait_pod("memory-hog OOMKilled and restarted", 90, |p| {
        let c = container(p, "hog");
        p["metadata"]["name"] == "memory-hog-node1"
            && c["restartCount"].as_i64().unwrap_or(0) >= 1
            && c["lastState"]["terminated"]["reason"] == "OOMKilled"
    });
    assert_eq!(
        container(&hog, "hog")["lastState"]["terminated"]["exitCode"],
        137
    );

    // liveness-exec: running (the probe restarts it after 45 s).
    node.wait_pod("liveness-exec Running", 60, running("liveness-exec-node1"));

    // The manager's metrics, as /metrics serves them.
    let m = http_get(&node.dir("run/nodelet.sock"), "/metrics");
    let value = |prefix: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} not in /metrics:\n{m}"))
    };
    // 8 pods of their own + the Deployment's 3 (the Job's have Succeeded).
    assert_eq!(value("nodelet_pods{phase=\"Running\"}"), 11.0, "{m}");
    assert!(
        value("nodelet_pod_start_duration_seconds_count") >= 7.0,
        "{m}"
    );
    assert!(
        value(
            "nodelet_container_restarts_total{namespace=\"default\",pod=\"memory-hog-node1\",container=\"hog\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        value(
            "nodelet_prober_probe_total{probe_type=\"Readiness\",result=\"successful\",namespace=\"default\",pod=\"webserver-node1\",container=\"httpd\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        value(
            "nodelet_runtime_operations_duration_seconds_count{operation_type=\"run_podsandbox\"}"
        ) >= 8.0
    );

    // All gone when the manifests are: every container ignores SIGTERM as PID 1 without a
    // handler, so this takes the 30 s grace period.
    for n in &names {
        std::fs::remove_file(node.dir("manifests").join(n)).unwrap();
    }
    let t0 = Instant::now();
    let pod_dirs = || {
        std::fs::read_dir(node.dir("root/pods"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    while pod_dirs() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "pods not stopped: {:?}\n{}",
            node.pods()
                .iter()
                .map(|p| &p["metadata"]["name"])
                .collect::<Vec<_>>(),
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        cg.children().is_empty(),
        "cgroups left: {:?}",
        cg.children()
    );
    let ms: Vec<String> = mounts_under(&node.dir("root"))
        .into_iter()
        .chain(mounts_under(&node.dir("run")))
        .filter(|l| !l.contains("/images/"))
        .collect();
    assert!(ms.is_empty(), "mounts left: {ms:#?}");
    let veths = sh(&["ip", "-o", "link", "show", "type", "veth"]);
    assert!(veths.trim().is_empty(), "veths left: {veths}");

    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

fn main() {
    node::run_cases(
        "manifests_e2e",
        &[("every_manifest_runs", every_manifest_runs)],
    );
}
