//! The machine's real `kubectl` (1.32) against a live node through a kubeconfig (tests/node:
//! the real `nodelet` binary, as root, in a private mount namespace and a fresh network
//! namespace, a cgroup of the test's own, temp dirs for every path). kubectl reaches the
//! root-only API socket through `socat` on the test namespace's loopback, as
//! ../shared/peers/README.md describes. Output is compared with what kubectl prints against
//! a cluster: columns, `describe` sections including Events, exit codes and error lines.
//!
//! `harness = false`: the namespaces are entered before any thread exists. The shim, pause and
//! nodenet binaries come from this target directory (`cargo build --workspace`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{Node, NodeEnv};

const IMAGE: &str = "nodelet.test/busybox:1.0";
const PORT: u16 = 16443;
const TLS_PORT: u16 = 16444;

/// kubectl with a kubeconfig for the node and its own discovery cache.
struct Kubectl {
    kubeconfig: std::path::PathBuf,
    cache: std::path::PathBuf,
}

impl Kubectl {
    /// kubectl with the kubeconfig nodelet wrote (TLS, the admin client certificate).
    fn with_kubeconfig(t: &std::path::Path, kubeconfig: std::path::PathBuf) -> Kubectl {
        Kubectl {
            kubeconfig,
            cache: t.join("kube-cache"),
        }
    }

    fn new(t: &std::path::Path, server: &str) -> Kubectl {
        let kubeconfig = t.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: nodelet\n  cluster:\n    \
                 server: {server}\ncontexts:\n- name: nodelet\n  context:\n    cluster: nodelet\n    \
                 user: admin\ncurrent-context: nodelet\nusers:\n- name: admin\n  user: {{}}\n"
            ),
        )
        .unwrap();
        Kubectl {
            kubeconfig,
            cache: t.join("kube-cache"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.cache.parent().unwrap());
        c
    }

    /// (exit code, stdout, stderr).
    fn run_with(&self, args: &[&str], input: Option<&str>) -> (i32, String, String) {
        let mut child = self
            .cmd(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(i) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(i.as_bytes()).unwrap();
        }
        let o = child.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// A long-running kubectl (`get -w`) whose stdout lines are collected as they come.
    fn spawn_lines(&self, args: &[&str]) -> (Child, Arc<Mutex<Vec<String>>>) {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = collect_lines(&mut child);
        (child, lines)
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with(args, None)
    }

    /// stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "kubectl {args:?}: {err}\n{out}");
        out
    }

    /// stderr of a command that must fail with exit code 1.
    fn fails(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 1, "kubectl {args:?} should fail: {out}{err}");
        err
    }
}

/// The words of each line (kubectl's columns are separated by 3+ spaces; cells like
/// `2 (5s ago)` hold single spaces).
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn row_of(out: &str, first: &str) -> Vec<String> {
    rows(out)
        .into_iter()
        .find(|r| r.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{out}"))
}

fn discovery(k: &Kubectl) {
    let v: Value = serde_json::from_str(&k.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1", "{v}");
    assert!(
        v["serverVersion"]["gitVersion"]
            .as_str()
            .unwrap()
            .starts_with("v1.32."),
        "{v}"
    );
    // Aggregated discovery: `/api` and `/apis` answer everything, no group version is asked
    // for on its own.
    let (code, _, log) = k.run(&["api-resources", "-v=6"]);
    assert!(
        code == 0
            && log.contains("/apis?")
            && !log.contains("/api/v1?")
            && !log.contains("/apis/apps/v1?"),
        "{log}"
    );
    let out = k.ok(&["api-resources"]);
    let header = &rows(&out)[0];
    assert_eq!(
        header,
        &["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    assert_eq!(row_of(&out, "pods"), ["pods", "po", "v1", "true", "Pod"]);
    assert_eq!(
        row_of(&out, "nodes"),
        ["nodes", "no", "v1", "false", "Node"]
    );
    assert_eq!(
        row_of(&out, "namespaces"),
        ["namespaces", "ns", "v1", "false", "Namespace"]
    );
    assert_eq!(
        row_of(&out, "events"),
        ["events", "ev", "v1", "true", "Event"]
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("pods ") && l.contains("metrics.k8s.io/v1beta1")),
        "{out}"
    );
    // An unknown resource type: kubectl's own error from discovery.
    let err = k.fails(&["get", "statefulsets"]);
    assert!(
        err.contains("the server doesn't have a resource type \"statefulsets\""),
        "{err}"
    );
}

fn get_pods(k: &Kubectl) {
    let out = k.ok(&["get", "pods"]);
    let r = rows(&out);
    assert_eq!(
        r[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    let shell = row_of(&out, "shell-node1");
    assert_eq!(&shell[1..4], ["2/2", "Running", "0"], "{out}");
    assert!(shell[4].ends_with('s') || shell[4].ends_with('m'), "{out}");
    assert_eq!(&row_of(&out, "done-node1")[1..3], ["0/1", "Completed"]);
    // -o wide: IP NODE NOMINATED NODE READINESS GATES.
    let out = k.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        rows(&out)[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ],
        "{out}"
    );
    let shell = row_of(&out, "shell-node1");
    assert!(shell[5].starts_with("10.244.9."), "{out}");
    assert_eq!(&shell[6..], ["node1", "<none>", "<none>"]);
    // -A: NAMESPACE first (from the rows' object metadata).
    let out = k.ok(&["get", "pods", "-A"]);
    assert_eq!(rows(&out)[0][0], "NAMESPACE");
    assert_eq!(
        &row_of(&out, "default")[..2],
        ["default", "done-node1"],
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("kube-system ") && l.contains("sys-node1")),
        "{out}"
    );
    // Label and field selectors.
    let out = k.ok(&["get", "pods", "-l", "app=shell"]);
    assert_eq!(rows(&out).len(), 2, "{out}");
    let out = k.ok(&["get", "pods", "--field-selector", "status.phase=Succeeded"]);
    assert_eq!(rows(&out).len(), 2, "{out}");
    row_of(&out, "done-node1");
    let out = k.ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        "spec.nodeName=node1,metadata.name=sys-node1",
    ]);
    assert_eq!(rows(&out).len(), 2, "{out}");
    let err = k.fails(&["get", "pods", "--field-selector", "spec.image=x"]);
    assert!(
        err.contains("field label not supported: spec.image"),
        "{err}"
    );
    let err = k.fails(&["get", "pods", "-l", "a in b"]);
    assert!(
        err.contains("unable to parse requirement") || err.contains("BadRequest"),
        "{err}"
    );
    // No pods match: kubectl's line on stderr.
    let (code, out, err) = k.run(&["get", "pods", "-l", "app=none"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.contains("No resources found in default namespace."),
        "{err}"
    );
    // One pod, JSON and YAML: the server-set metadata.
    let p: Value =
        serde_json::from_str(&k.ok(&["get", "pod", "shell-node1", "-o", "json"])).unwrap();
    assert_eq!(p["kind"], "Pod");
    assert!(
        p["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 32),
        "{p}"
    );
    assert!(p["metadata"]["creationTimestamp"].is_string(), "{p}");
    assert!(
        p["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().is_ok())
    );
    assert_eq!(p["status"]["phase"], "Running");
    let y = k.ok(&["get", "pod", "shell-node1", "-o", "yaml"]);
    assert!(
        y.starts_with("apiVersion: v1\nkind: Pod\nmetadata:\n"),
        "{y}"
    );
    let out = k.ok(&["get", "pod", "shell-node1", "-o", "name"]);
    assert_eq!(out, "pod/shell-node1\n");
    let out = k.ok(&[
        "get",
        "pod",
        "shell-node1",
        "-o",
        "jsonpath={.spec.nodeName}",
    ]);
    assert_eq!(out, "node1");
    let out = k.ok(&["get", "pods", "--show-labels"]);
    assert!(
        row_of(&out, "shell-node1")
            .last()
            .unwrap()
            .contains("app=shell"),
        "{out}"
    );
    // Errors: a Status with reason and code.
    let err = k.fails(&["get", "pod", "nope"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): pods \"nope\" not found"
    );
    // kubectl checks the namespace of a missing pod.
    let err = k.fails(&["get", "pod", "nope", "-n", "other"]);
    assert!(err.contains("namespaces \"other\" not found"), "{err}");
}

/// Lines with runs of spaces collapsed (kubectl's describe aligns by its longest label).
fn squeeze(s: &str) -> String {
    s.lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            format!(
                "{}{}",
                &l[..indent],
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe(k: &Kubectl) {
    let out = squeeze(&k.ok(&["describe", "pod", "shell-node1"]));
    for want in [
        "Name: shell-node1",
        "Namespace: default",
        "Node: node1/",
        "Status: Running",
        "Labels: app=shell",
        "Containers:\n  main:\n",
        "State: Running",
        "Conditions:\n  Type Status\n  PodReadyToStartContainers True\n  Initialized True\n  Ready True\n  ContainersReady True\n  PodScheduled True",
        "Events:\n  Type Reason Age From Message\n  ---- ------ ---- ---- -------",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("Normal Started")
                && l.contains("kubelet Started container main")),
        "{out}"
    );
    let out = squeeze(&k.ok(&["describe", "node", "node1"]));
    for want in [
        "Name: node1",
        "Roles: <none>",
        "kubernetes.io/hostname=node1",
        "Conditions:",
        "Ready True",
        "KubeletReady kubelet is posting ready status",
        "Addresses:\n  Hostname: node1",
        "Capacity:\n  cpu:",
        "Allocatable:",
        "System Info:",
        "Kernel Version:",
        "Container Runtime Version: noderun://",
        "Non-terminated Pods: (2 in total)",
        "default shell-node1",
        "kube-system sys-node1",
        "Allocated resources:",
        // The kubelet's node events (describe node selects them by the node's name as UID).
        "Events:",
        "Normal Starting",
        "kubelet Starting kubelet.",
        "Normal NodeAllocatableEnforced",
        "kubelet Node node1 status is now: NodeHasSufficientMemory",
        "kubelet Node node1 status is now: NodeHasNoDiskPressure",
        "kubelet Node node1 status is now: NodeHasSufficientPID",
        "kubelet Node node1 status is now: NodeReady",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
}

/// A pod with every section `kubectl describe pod` prints (init container, args, ports,
/// limits and requests, the three probes, environment from a value and a field, mounts,
/// volumes, node selector, tolerations, annotations): `nodectl describe` prints the same.
fn describe_rich(k: &Kubectl, node: &Node) {
    let file = node.t.join("rich.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: v1
kind: Pod
metadata:
  name: rich
  labels: {app: rich, tier: web}
  annotations: {note: hello}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/os: linux}
  tolerations:
  - {key: dedicated, operator: Equal, value: web, effect: NoSchedule}
  - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
  initContainers:
  - name: setup
    image: IMG
    imagePullPolicy: Never
    command: [/bin/busybox, sh, -c]
    args: ["echo ready > /work/flag"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: web
    image: IMG
    imagePullPolicy: Never
    command: [/bin/busybox, httpd, -f, -p, "8080", -h, /work]
    ports: [{containerPort: 8080, name: http}]
    env:
    - {name: MODE, value: fast}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 64Mi}}
    livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 5}
    readinessProbe: {httpGet: {path: /flag, port: http}, initialDelaySeconds: 1}
    startupProbe: {exec: {command: [/bin/busybox, "true"]}}
    volumeMounts: [{name: work, mountPath: /work, readOnly: true}]
  volumes:
  - name: work
    emptyDir: {}
"#
        .replace("IMG", IMAGE),
    )
    .unwrap();
    k.ok(&["apply", "-f", file.to_str().unwrap()]);
    let t = Instant::now();
    while !k.ok(&["get", "pod", "rich"]).contains("1/1") {
        assert!(t.elapsed() < Duration::from_secs(40), "{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    same_describe(k, node, "pod", "rich");
    k.ok(&["delete", "pod", "rich"]);
    wait_gone(k, node, "rich");
}

fn nodes_events_namespaces(k: &Kubectl) {
    let out = k.ok(&["get", "nodes"]);
    assert_eq!(
        rows(&out)[0],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{out}"
    );
    let n = row_of(&out, "node1");
    assert_eq!(&n[1..3], ["Ready", "<none>"]);
    assert!(n[4].starts_with("v1.32.0-nodelet."), "{out}");
    let out = k.ok(&["get", "nodes", "-o", "wide"]);
    assert_eq!(
        rows(&out)[0],
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ],
        "{out}"
    );
    // Labels from the configuration.
    row_of(&k.ok(&["get", "nodes", "-l", "disktype=ssd"]), "node1");
    let err = k.fails(&["get", "node", "other"]);
    assert!(err.contains("nodes \"other\" not found"), "{err}");
    let out = k.ok(&["get", "events"]);
    assert_eq!(
        rows(&out)[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("Normal")
            && l.contains("pod/shell-node1")
            && l.contains("Started container main")),
        "{out}"
    );
    // Node events are in `default` too, about `node/node1`.
    assert!(
        out.lines()
            .any(|l| l.contains("Normal") && l.contains("node/node1") && l.contains("NodeReady")),
        "{out}"
    );
    let out = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=done-node1",
    ]);
    assert!(
        !out.contains("shell-node1") && out.contains("pod/done-node1"),
        "{out}"
    );
    let out = k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/shell-node1",
        "--timeout=20s",
    ]);
    assert_eq!(out, "pod/shell-node1 condition met\n");
    // `all`: the pods and the workloads (several kinds: `pod/` prefixes).
    let out = k.ok(&["get", "all"]);
    row_of(&out, "pod/shell-node1");
    let out = k.ok(&["get", "namespaces"]);
    assert_eq!(rows(&out)[0], ["NAME", "STATUS", "AGE"]);
    for ns in ["default", "kube-system", "kube-public"] {
        assert_eq!(row_of(&out, ns)[1], "Active", "{out}");
    }
}

fn logs(k: &Kubectl) {
    // kubectl's default container: the first, with its notice.
    let (code, out, err) = k.run(&["logs", "shell-node1", "--tail", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shell says hi"), "{out}");
    assert!(
        err.contains("Defaulted container \"main\" out of: main, side"),
        "{err}"
    );
    let out = k.ok(&["logs", "shell-node1", "-c", "main", "--timestamps"]);
    let first = out.lines().next().unwrap();
    assert!(
        first
            .split(' ')
            .next()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok(),
        "{out}"
    );
    let out = k.ok(&["logs", "done-node1", "--limit-bytes", "4"]);
    assert_eq!(out, "done");
    let err = k.fails(&["logs", "shell-node1", "-c", "nope"]);
    assert!(
        err.contains("container nope is not valid for pod shell-node1"),
        "{err}"
    );
    let err = k.fails(&["logs", "done-node1", "--previous"]);
    assert!(
        err.contains("previous terminated container \"job\" in pod \"done-node1\" not found"),
        "{err}"
    );
    // -f ends when the container does.
    let t = Instant::now();
    let out = k.ok(&["logs", "-f", "done-node1"]);
    assert!(out.starts_with("done and dusted"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

fn top(k: &Kubectl) {
    let out = k.ok(&["top", "pod"]);
    assert_eq!(
        rows(&out)[0],
        ["NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{out}"
    );
    row_of(&out, "shell-node1");
    let out = k.ok(&["top", "node"]);
    let r = rows(&out);
    assert_eq!(r[0][0], "NAME", "{out}");
    assert!(r[0].iter().any(|c| c == "CPU(cores)"), "{out}");
    row_of(&out, "node1");
}

/// Lines a child prints, collected by a thread.
fn collect_lines(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let stdout = child.stdout.take().unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            l2.lock().unwrap().push(l);
        }
    });
    lines
}

fn wait_lines(
    lines: &Arc<Mutex<Vec<String>>>,
    what: &str,
    node: &Node,
    cond: &dyn Fn(&[String]) -> bool,
) -> Vec<String> {
    let t = Instant::now();
    loop {
        let got = lines.lock().unwrap().clone();
        if cond(&got) {
            return got;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "{what}; got:\n{}\nnodelet log:\n{}",
            got.join("\n"),
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn watch(k: &Kubectl, node: &Node) {
    let (mut child, lines) = k.spawn_lines(&["get", "pods", "-w"]);
    let first = wait_lines(&lines, "the initial table", node, &|l| {
        l.iter().any(|x| x.starts_with("shell-node1 "))
    });
    assert!(first[0].starts_with("NAME "), "{first:?}");
    let initial = first.len();
    std::fs::write(
        node.dir("manifests/late.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: late}}\nspec:\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    \
             image: {IMAGE}\n    imagePullPolicy: Never\n    \
             command: [/bin/busybox, sleep, '3600']\n"
        ),
    )
    .unwrap();
    let got = wait_lines(&lines, "late-node1 Running", node, &|l| {
        l[initial..]
            .iter()
            .any(|x| x.starts_with("late-node1 ") && x.contains(" Running "))
    });
    // Only changes: the pods of the initial list are not printed again.
    assert!(
        !got[initial..].iter().any(|x| x.starts_with("shell-node1 ")),
        "{got:#?}"
    );
    std::fs::remove_file(node.dir("manifests/late.yaml")).unwrap();
    // The deletion: kubectl prints the pod's last row once more.
    let n = got.len();
    wait_lines(&lines, "late-node1 deleted", node, &|l| {
        l[n..].iter().any(|x| x.starts_with("late-node1 "))
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until `kubectl get pod NAME` shows `status` in its STATUS column.
fn wait_status(k: &Kubectl, node: &Node, name: &str, status: &str) -> Vec<String> {
    let t = Instant::now();
    loop {
        let (code, out, _) = k.run(&["get", "pod", name]);
        if code == 0
            && rows(&out)
                .get(1)
                .is_some_and(|r| r.get(2).is_some_and(|s| s == status))
        {
            return rows(&out).remove(1);
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "pod {name} not {status}: {out}\nnodelet log:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_gone(k: &Kubectl, node: &Node, name: &str) {
    let t = Instant::now();
    while k.run(&["get", "pod", name]).0 == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "pod {name} not gone: {}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn uid(k: &Kubectl, name: &str) -> String {
    k.ok(&["get", "pod", name, "-o", "jsonpath={.metadata.uid}"])
}

fn manifest_names(node: &Node) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(node.dir("manifests"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn web(label: &str, image_cmd: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    app: web\n    tier: {label}\nspec:\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {IMAGE}\n    \
         imagePullPolicy: Never\n    command: [/bin/busybox, sleep, '{image_cmd}']\n"
    )
}

fn writes(k: &Kubectl, node: &Node) {
    let before = manifest_names(node);
    // kubectl run: the pod keeps its name; the file is <namespace>-<name>.yaml.
    let out = k.ok(&[
        "run",
        "foo",
        "--image",
        IMAGE,
        "--image-pull-policy",
        "Never",
        "--restart",
        "Never",
        "--labels",
        "app=foo",
        "--command",
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 3600 & wait",
    ]);
    assert_eq!(out, "pod/foo created\n");
    let file = node.dir("manifests/default-foo.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("name: foo\n") && text.contains("nodelet.io/append-node-name: 'false'")
            || text.contains("nodelet.io/append-node-name: \"false\""),
        "{text}"
    );
    wait_status(k, node, "foo", "Running");
    let err = k.fails(&["run", "foo", "--image", IMAGE]);
    assert_eq!(
        err.trim(),
        "Error from server (AlreadyExists): pods \"foo\" already exists"
    );
    // label / annotate: the file is rewritten; the running pod takes the new metadata (same
    // UID, no restart).
    let foo_uid = uid(k, "foo");
    assert_eq!(
        k.ok(&["label", "pod", "foo", "env=prod"]),
        "pod/foo labeled\n"
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("env: prod")
    );
    let out = k.ok(&["get", "pod", "foo", "-L", "env"]);
    assert_eq!(rows(&out)[1].last().unwrap(), "prod", "{out}");
    assert_eq!(rows(&out)[1][2], "Running", "{out}");
    assert_eq!(uid(k, "foo"), foo_uid, "relabelled, not replaced");
    assert_eq!(
        k.ok(&["annotate", "pod", "foo", "note=hi"]),
        "pod/foo annotated\n"
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains("note: hi"));
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "foo",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hi"
    );
    assert_eq!(uid(k, "foo"), foo_uid);
    let err = k.fails(&["label", "pod", "foo", "env=dev"]);
    assert!(
        err.contains("'env' already has a value (prod), and --overwrite is false"),
        "{err}"
    );
    // apply: created, configured (label), unchanged, configured (command: pod replaced).
    let dir = node.t.join("k");
    std::fs::create_dir_all(&dir).unwrap();
    let webf = dir.join("web.yaml");
    std::fs::write(&webf, web("front", "3600")).unwrap();
    let w = webf.to_str().unwrap();
    assert_eq!(k.ok(&["apply", "-f", w]), "pod/web created\n");
    wait_status(k, node, "web", "Running");
    let u0 = uid(k, "web");
    std::fs::write(&webf, web("back", "3600")).unwrap();
    assert_eq!(k.ok(&["apply", "-f", w]), "pod/web configured\n");
    let out = k.ok(&["get", "pods", "-l", "tier=back"]);
    row_of(&out, "web");
    assert_eq!(k.ok(&["apply", "-f", w]), "pod/web unchanged\n");
    let u1 = uid(k, "web");
    assert_eq!(u0, u1, "a label change relabels the same pod");
    std::fs::write(&webf, web("back", "3601")).unwrap();
    assert_eq!(k.ok(&["apply", "-f", w]), "pod/web configured\n");
    wait_status(k, node, "web", "Running");
    let u2 = uid(k, "web");
    assert_ne!(u1, u2, "a changed command replaces the pod");
    let applied = k.ok(&[
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.spec.containers[0].command[2]}",
    ]);
    assert_eq!(applied, "3601");
    // patch: strategic (default), merge, json.
    assert_eq!(
        k.ok(&[
            "patch",
            "pod",
            "web",
            "-p",
            r#"{"metadata":{"labels":{"patched":"yes"}}}"#
        ]),
        "pod/web patched\n"
    );
    assert_eq!(
        k.ok(&[
            "patch",
            "pod",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"patched":null}}}"#
        ]),
        "pod/web patched\n"
    );
    assert_eq!(
        k.ok(&[
            "patch",
            "pod",
            "web",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/j","value":"1"}]"#
        ]),
        "pod/web patched\n"
    );
    let labels = k.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels}"]);
    assert_eq!(labels, r#"{"app":"web","j":"1","tier":"back"}"#);
    // A patch that would make the pod invalid: 422 naming the field, the file untouched.
    let webfile = node.dir("manifests/default-web.yaml");
    let kept = std::fs::read_to_string(&webfile).unwrap();
    let err = k.fails(&[
        "patch",
        "pod",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/spec/containers/0/image"}]"#,
    ]);
    assert!(
        err.contains("The Pod \"web\" is invalid: spec.containers[0].image: Required value"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&webfile).unwrap(), kept);
    // replace with an edited copy; edit through $EDITOR.
    let got = k.ok(&["get", "pod", "web", "-o", "yaml"]);
    let edited = got.replace("j: \"1\"", "j: \"2\"");
    assert_ne!(got, edited, "{got}");
    std::fs::write(dir.join("replace.yaml"), &edited).unwrap();
    assert_eq!(
        k.ok(&["replace", "-f", dir.join("replace.yaml").to_str().unwrap()]),
        "pod/web replaced\n"
    );
    let editor = dir.join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/j: \"2\"/j: \"3\"/' \"$1\"\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&editor).unwrap().permissions(),
        0o755,
    );
    Command::new("chmod")
        .arg("755")
        .arg(&editor)
        .status()
        .unwrap();
    let mut c = k.cmd(&["edit", "pod", "web"]);
    c.env("KUBE_EDITOR", &editor);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "pod/web edited\n");
    assert_eq!(
        k.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels.j}"]),
        "3"
    );
    // replace with the user's own file (no server fields, no name annotation); server-side
    // apply of it, and of a new pod.
    std::fs::write(&webf, web("back", "3601")).unwrap();
    assert_eq!(k.ok(&["replace", "-f", w]), "pod/web replaced\n");
    assert_eq!(
        k.ok(&["apply", "--server-side", "-f", w]),
        "pod/web serverside-applied\n"
    );
    let ssa = dir.join("ssa.yaml");
    std::fs::write(&ssa, web("front", "3600").replace("name: web", "name: ssa")).unwrap();
    assert_eq!(
        k.ok(&["apply", "--server-side", "-f", ssa.to_str().unwrap()]),
        "pod/ssa serverside-applied\n"
    );
    assert!(node.dir("manifests/default-ssa.yaml").exists());
    assert_eq!(k.ok(&["delete", "pod", "ssa"]), "pod \"ssa\" deleted\n");
    // Bad input: nothing is written.
    let names = manifest_names(node);
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: app\n",
    )
    .unwrap();
    let err = k.fails(&["create", "-f", bad.to_str().unwrap()]);
    assert!(
        err.contains("The Pod \"bad\" is invalid: spec.containers[0].image: Required value"),
        "{err}"
    );
    let err = k.fails(&["run", "Bad_Name", "--image", IMAGE]);
    assert!(
        err.contains("The Pod \"Bad_Name\" is invalid: \n* metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{err}"
    );
    std::fs::write(&bad, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: app\n    image: x\n    bogus: 1\n").unwrap();
    let err = k.fails(&["create", "-f", bad.to_str().unwrap()]);
    assert!(err.contains("bogus"), "{err}");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: bad\n",
    )
    .unwrap();
    // A kind this node does not serve: kubectl stops before sending it (with validation it
    // fails looking for the kind's schema; without, on the resource mapping).
    let err = k.fails(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(
        err.contains("error validating data: failed to download openapi"),
        "{err}"
    );
    let err = k.fails(&["apply", "--validate=false", "-f", bad.to_str().unwrap()]);
    assert!(
        err.contains("no matches for kind \"StatefulSet\" in version \"apps/v1\""),
        "{err}"
    );
    std::fs::write(&bad, "{nope").unwrap();
    let err = k.fails(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods",
        "-f",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("BadRequest"), "{err}");
    std::fs::write(&bad, "{}").unwrap();
    let err = k.fails(&[
        "create",
        "--raw",
        "/api/v1/nodes",
        "-f",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("MethodNotAllowed"), "{err}");
    assert_eq!(manifest_names(node), names);
    // A hand-dropped file is as editable and deletable.
    std::fs::write(
        node.dir("manifests/hand.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: hand\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [/bin/busybox, sleep, '3600']\n"),
    )
    .unwrap();
    wait_status(k, node, "hand-node1", "Running");
    assert_eq!(
        k.ok(&["label", "pod", "hand-node1", "by=hand"]),
        "pod/hand-node1 labeled\n"
    );
    let text = std::fs::read_to_string(node.dir("manifests/hand.yaml")).unwrap();
    assert!(
        text.contains("name: hand\n") && text.contains("by: hand"),
        "{text}"
    );
    assert_eq!(
        k.ok(&["delete", "pod", "hand-node1"]),
        "pod \"hand-node1\" deleted\n"
    );
    assert!(!node.dir("manifests/hand.yaml").exists());
    // delete: one pod, by label.
    let t = Instant::now();
    assert_eq!(k.ok(&["delete", "pod", "foo"]), "pod \"foo\" deleted\n");
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(!file.exists());
    let err = k.fails(&["get", "pod", "foo"]);
    assert!(err.contains("pods \"foo\" not found"), "{err}");
    assert_eq!(
        k.ok(&["delete", "pods", "-l", "app=web"]),
        "pod \"web\" deleted\n"
    );
    wait_gone(k, node, "web");
    // --grace-period shortens the pod's own (60 s, and sleep as pid 1 ignores SIGTERM).
    std::fs::write(
        node.dir("manifests/slow.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: slow\nspec:\n  terminationGracePeriodSeconds: 60\n  containers:\n  - name: app\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [/bin/busybox, sleep, '3600']\n"),
    )
    .unwrap();
    wait_status(k, node, "slow-node1", "Running");
    // Without waiting: the pod shows Terminating while it stops.
    std::fs::write(
        node.dir("manifests/slow2.yaml"),
        std::fs::read_to_string(node.dir("manifests/slow.yaml"))
            .unwrap()
            .replace("name: slow", "name: slow2")
            .replace(
                "terminationGracePeriodSeconds: 60",
                "terminationGracePeriodSeconds: 3",
            ),
    )
    .unwrap();
    wait_status(k, node, "slow2-node1", "Running");
    k.ok(&["delete", "pod", "slow2-node1", "--wait=false"]);
    wait_status(k, node, "slow2-node1", "Terminating");
    wait_gone(k, node, "slow2-node1");
    let t = Instant::now();
    assert_eq!(
        k.ok(&["delete", "pod", "slow-node1", "--grace-period", "1"]),
        "pod \"slow-node1\" deleted\n"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(!node.dir("manifests/slow.yaml").exists());
    // Namespaces: created (a Namespace manifest, so it outlives an agent restart), or there
    // with their first pod; deleting one deletes its pods.
    assert_eq!(
        k.ok(&["create", "ns", "empty"]),
        "namespace/empty created\n"
    );
    let text = std::fs::read_to_string(node.dir("manifests/namespace-empty.yaml")).unwrap();
    assert!(
        text.contains("kind: Namespace") && text.contains("name: empty"),
        "{text}"
    );
    assert_eq!(row_of(&k.ok(&["get", "ns"]), "empty")[1], "Active");
    let err = k.fails(&["create", "ns", "empty"]);
    assert!(
        err.contains("(AlreadyExists): namespaces \"empty\" already exists"),
        "{err}"
    );
    let err = k.fails(&["create", "ns", "Bad_NS"]);
    assert!(
        err.contains("The Namespace \"Bad_NS\" is invalid: metadata.name: Invalid value"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["delete", "ns", "empty"]),
        "namespace \"empty\" deleted\n"
    );
    assert!(!node.dir("manifests/namespace-empty.yaml").exists());
    k.ok(&[
        "run",
        "nsx",
        "-n",
        "team",
        "--image",
        IMAGE,
        "--image-pull-policy",
        "Never",
        "--command",
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 3600 & wait",
    ]);
    assert_eq!(row_of(&k.ok(&["get", "ns"]), "team")[1], "Active");
    assert!(node.dir("manifests/team-nsx.yaml").exists());
    let t = Instant::now();
    assert_eq!(
        k.ok(&["delete", "ns", "team"]),
        "namespace \"team\" deleted\n"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(!node.dir("manifests/team-nsx.yaml").exists());
    let err = k.fails(&["get", "ns", "team"]);
    assert!(err.contains("namespaces \"team\" not found"), "{err}");
    let err = k.fails(&["delete", "ns", "kube-system"]);
    assert!(err.contains("Forbidden"), "{err}");
    let err = k.fails(&["delete", "pod", "nope"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): pods \"nope\" not found"
    );
    assert_eq!(manifest_names(node), before);
}

fn read_manifest(node: &Node, name: &str) -> String {
    std::fs::read_to_string(node.dir(&format!("manifests/{name}")))
        .unwrap_or_else(|e| panic!("manifests/{name}: {e}; files: {:?}", manifest_names(node)))
}

/// `nodectl <args>` that must fail: its stderr.
fn nodectl_fails(node: &Node, args: &[&str]) -> String {
    let o = Command::new(node::target_bin("nodectl"))
        .arg("--socket")
        .arg(node.dir("run/nodelet.sock"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "nodectl {args:?} should fail: {o:?}"
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `nodectl <args>` and `kubectl <args>` print the same (both succeed).
fn same_output(k: &Kubectl, node: &Node, args: &[&str]) -> String {
    let theirs = k.ok(args);
    let ours = node.nodectl(args);
    assert_eq!(ours, theirs, "{args:?}");
    ours
}

/// `nodectl <args>` and `kubectl <args>` fail with the same message.
fn same_error(k: &Kubectl, node: &Node, args: &[&str]) {
    let theirs = k.fails(args);
    let ours = nodectl_fails(node, args);
    assert_eq!(ours, theirs, "{args:?}");
}

/// `nodectl describe` prints what `kubectl describe` prints.
fn same_describe(k: &Kubectl, node: &Node, kind: &str, name: &str) {
    // Events of the same second are in no defined order in kubectl's table (it sorts by
    // lastTimestamp, seconds): compare that section as a set of lines.
    let canonical = |s: String| -> String {
        match s.split_once("\nEvents:") {
            Some((head, events)) => {
                let mut lines: Vec<&str> = events.lines().collect();
                lines.sort_unstable();
                format!("{head}\nEvents:{}", lines.join("\n"))
            }
            None => s,
        }
    };
    // Pods that come and go (a crash-looping ReplicaSet's) may change between the two
    // looks: a few tries.
    let mut tries = 0;
    loop {
        let theirs = canonical(k.ok(&["describe", kind, name]));
        let ours = canonical(node.nodectl(&["describe", kind, name]));
        tries += 1;
        if ours == theirs || tries == 5 {
            assert_eq!(ours, theirs, "describe {kind} {name}");
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: IMG\n        command: [/bin/busybox, sleep, '3600']\n";

const JOBS: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pi\nspec:\n  completions: 5\n  parallelism: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: pi\n        image: IMG\n        command: [/bin/busybox, 'true']\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: hello\nspec:\n  schedule: '0 0 1 1 *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: hello\n            image: IMG\n            command: [/bin/busybox, echo, hi]\n";

/// Waits until `kubectl <args>`'s row `name` starts with `want`.
fn wait_row(k: &Kubectl, node: &Node, args: &[&str], name: &str, want: &[&str]) {
    let t = Instant::now();
    loop {
        let out = k.ok(args);
        let row = row_of(&out, name);
        if row.len() >= want.len() && row[..want.len()] == *want {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "kubectl {args:?}: want {want:?}\n{out}\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Issue 17's kinds through kubectl: discovery, writes as manifest files (create from
/// literals, apply, scale, rollout restart, delete), reads with kubectl's columns, 422s.
fn workloads(k: &Kubectl, node: &Node) {
    let before = manifest_names(node);
    // api-resources: the kinds with their short names and groups.
    let out = k.ok(&["api-resources"]);
    for (name, short, version, kind) in [
        ("configmaps", "cm", "v1", "ConfigMap"),
        ("cronjobs", "cj", "batch/v1", "CronJob"),
        ("daemonsets", "ds", "apps/v1", "DaemonSet"),
        ("deployments", "deploy", "apps/v1", "Deployment"),
        ("replicasets", "rs", "apps/v1", "ReplicaSet"),
    ] {
        assert_eq!(
            row_of(&out, name),
            [name, short, version, "true", kind],
            "{out}"
        );
    }
    assert_eq!(row_of(&out, "jobs"), ["jobs", "batch/v1", "true", "Job"]);
    assert!(
        k.ok(&["api-resources", "--categories", "all"])
            .contains("deployments")
    );
    // ConfigMaps and Secrets from literals (kubectl sends them as protobuf).
    assert_eq!(
        k.ok(&[
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=b",
            "--from-literal=c=d"
        ]),
        "configmap/cfg created\n"
    );
    let text = read_manifest(node, "default-configmap-cfg.yaml");
    assert!(
        text.contains("kind: ConfigMap") && text.contains("a: b"),
        "{text}"
    );
    let out = k.ok(&["get", "cm"]);
    assert_eq!(rows(&out)[0], ["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(row_of(&out, "cfg")[..2], ["cfg", "2"], "{out}");
    let yaml = k.ok(&["get", "cm", "cfg", "-o", "yaml"]);
    assert!(
        yaml.contains("  a: b\n") && yaml.contains("kind: ConfigMap"),
        "{yaml}"
    );
    let err = k.fails(&["create", "configmap", "cfg", "--from-literal=a=b"]);
    // kubectl's typed create words it so.
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"cfg\" already exists"
    );
    assert_eq!(
        k.ok(&[
            "create",
            "secret",
            "generic",
            "pw",
            "--from-literal=user=admin"
        ]),
        "secret/pw created\n"
    );
    let out = k.ok(&["get", "secrets"]);
    assert_eq!(rows(&out)[0], ["NAME", "TYPE", "DATA", "AGE"], "{out}");
    assert_eq!(row_of(&out, "pw")[..3], ["pw", "Opaque", "1"], "{out}");
    assert_eq!(
        k.ok(&["get", "secret", "pw", "-o", "jsonpath={.data.user}"]),
        "YWRtaW4="
    );
    // Invalid objects: 422 with the field, nothing written.
    let (code, _, err) = k.run_with(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  'a b': x\n"),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("ConfigMap \"bad\" is invalid: data[a b]: Invalid value: \"a b\""),
        "{err}"
    );
    // apply of a Deployment (kubectl's field validation is left to the server): a file.
    let deployment = DEPLOYMENT.replace("IMG", IMAGE);
    let (code, out, err) = k.run_with(&["apply", "-f", "-"], Some(&deployment));
    assert_eq!(
        (code, out.as_str()),
        (0, "deployment.apps/web created\n"),
        "{err}"
    );
    assert!(read_manifest(node, "default-deployment-web.yaml").contains("replicas: 2"));
    let out = k.ok(&["get", "deploy"]);
    assert_eq!(
        rows(&out)[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    // The Deployment controller runs: its ReplicaSet's 2 pods become ready.
    wait_row(
        k,
        node,
        &["get", "deploy"],
        "web",
        &["web", "2/2", "2", "2"],
    );
    let wide = k.ok(&["get", "deployment", "web", "-o", "wide"]);
    assert_eq!(
        row_of(&wide, "web")[5..],
        ["web", IMAGE, "app=web"],
        "{wide}"
    );
    let (code, out, err) = k.run_with(&["apply", "-f", "-"], Some(&deployment));
    assert_eq!(
        (code, out.as_str()),
        (0, "deployment.apps/web unchanged\n"),
        "{err}"
    );
    let unknown = deployment.replace("  replicas: 2\n", "  replicas: 2\n  replica: 3\n");
    let (code, _, err) = k.run_with(&["apply", "-f", "-"], Some(&unknown));
    assert_eq!(code, 1);
    assert!(err.contains("unknown field \"spec.replica\""), "{err}");
    let mismatch = deployment.replace(
        "      labels: {app: web}\n    spec:",
        "      labels: {app: other}\n    spec:",
    );
    let (code, _, err) = k.run_with(&["apply", "-f", "-"], Some(&mismatch));
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "The Deployment \"web\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"
        ),
        "{err}"
    );
    assert_eq!(
        k.ok(&["scale", "deployment/web", "--replicas=3"]),
        "deployment.apps/web scaled\n"
    );
    assert!(read_manifest(node, "default-deployment-web.yaml").contains("replicas: 3"));
    // nodectl's deploy commands say what kubectl says (the same scale again, a missing
    // Deployment, an unknown kind).
    same_output(k, node, &["scale", "deployment", "web", "--replicas=3"]);
    same_error(k, node, &["scale", "deployment/nope", "--replicas=1"]);
    same_error(k, node, &["rollout", "status", "deployment/nope"]);
    assert_eq!(
        k.ok(&["rollout", "restart", "deployment/web"]),
        "deployment.apps/web restarted\n"
    );
    let text = read_manifest(node, "default-deployment-web.yaml");
    assert!(text.contains("kubectl.kubernetes.io/restartedAt"), "{text}");
    assert!(
        text.contains("replicas: 3") && text.contains(IMAGE),
        "{text}"
    );
    assert_eq!(
        k.ok(&["label", "deploy", "web", "tier=front"]),
        "deployment.apps/web labeled\n"
    );
    assert!(
        k.ok(&["describe", "deployment", "web"])
            .contains("Replicas:")
    );
    // The restart made a second ReplicaSet (revision 2) and rolled the pods to it; rollout
    // history / undo read the ReplicaSets the controller made (revisions, owner) and
    // patch the Deployment's template back.
    wait_row(
        k,
        node,
        &["get", "deploy"],
        "web",
        &["web", "3/3", "3", "3"],
    );
    let t = Instant::now();
    while k
        .ok(&["get", "rs", "-l", "app=web", "--no-headers"])
        .lines()
        .count()
        < 2
    {
        assert!(t.elapsed() < Duration::from_secs(30), "{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let history = same_output(k, node, &["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("REVISION") && history.lines().any(|l| l.starts_with("2 ")),
        "{history}"
    );
    same_error(
        k,
        node,
        &["rollout", "undo", "deployment/web", "--to-revision=9"],
    );
    assert_eq!(
        k.ok(&["rollout", "undo", "deployment/web", "--to-revision=1"]),
        "deployment.apps/web rolled back\n"
    );
    let text = read_manifest(node, "default-deployment-web.yaml");
    assert!(
        text.contains("'3600'") || text.contains("\"3600\""),
        "{text}"
    );
    assert!(
        !text.contains("restartedAt") && !text.contains("null"),
        "{text}"
    );
    // Revision 1's ReplicaSet takes the pods back (it becomes revision 3).
    wait_row(
        k,
        node,
        &["get", "deploy"],
        "web",
        &["web", "3/3", "3", "3"],
    );
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    same_output(k, node, &["rollout", "status", "deployment/web"]);
    // nodectl rolls back to the previous revision (2, the restart) as kubectl would: the
    // Deployment's template gets the restart annotation back.
    assert_eq!(
        node.nodectl(&["rollout", "undo", "deployment/web"]),
        "deployment.apps/web rolled back\n"
    );
    let text = read_manifest(node, "default-deployment-web.yaml");
    assert!(text.contains("kubectl.kubernetes.io/restartedAt"), "{text}");
    wait_row(
        k,
        node,
        &["get", "deploy"],
        "web",
        &["web", "3/3", "3", "3"],
    );
    let history = same_output(k, node, &["rollout", "history", "deployment/web"]);
    assert!(
        history.lines().any(|l| l.starts_with("3 "))
            && history.lines().any(|l| l.starts_with("4 ")),
        "{history}"
    );
    // One revision's pod template (its ReplicaSet's, pod-template-hash and all).
    let rev = same_output(
        k,
        node,
        &["rollout", "history", "deployment/web", "--revision=4"],
    );
    assert!(
        rev.starts_with("deployment.apps/web with revision #4\nPod Template:\n"),
        "{rev}"
    );
    same_error(
        k,
        node,
        &["rollout", "history", "deployment/web", "--revision=9"],
    );
    // pause and resume, and kubectl's errors for pausing twice and resuming twice.
    assert_eq!(
        node.nodectl(&["rollout", "pause", "deployment/web"]),
        "deployment.apps/web paused\n"
    );
    assert!(read_manifest(node, "default-deployment-web.yaml").contains("paused: true"));
    same_error(k, node, &["rollout", "pause", "deployment/web"]);
    same_error(k, node, &["rollout", "restart", "deployment/web"]);
    same_error(k, node, &["rollout", "undo", "deployment/web"]);
    assert_eq!(
        node.nodectl(&["rollout", "resume", "deployment/web"]),
        "deployment.apps/web resumed\n"
    );
    assert!(!read_manifest(node, "default-deployment-web.yaml").contains("paused"));
    same_error(k, node, &["rollout", "resume", "deployment/web"]);
    // kubectl's generators (protobuf bodies).
    assert_eq!(
        k.ok(&[
            "create",
            "deployment",
            "gen",
            "--image",
            IMAGE,
            "--replicas=2",
            "--port=80"
        ]),
        "deployment.apps/gen created\n"
    );
    let text = read_manifest(node, "default-deployment-gen.yaml");
    assert!(
        text.contains("replicas: 2") && text.contains("containerPort: 80") && text.contains(IMAGE),
        "{text}"
    );
    assert_eq!(
        k.ok(&[
            "create",
            "job",
            "once",
            "--image",
            IMAGE,
            "--",
            "/bin/busybox",
            "true"
        ]),
        "job.batch/once created\n"
    );
    assert!(read_manifest(node, "default-job-once.yaml").contains("restartPolicy: Never"));
    assert_eq!(
        k.ok(&[
            "create",
            "cronjob",
            "tick",
            "--image",
            IMAGE,
            "--schedule",
            "*/5 * * * *",
            "--",
            "/bin/busybox",
            "true"
        ]),
        "cronjob.batch/tick created\n"
    );
    assert_eq!(
        row_of(&k.ok(&["get", "cj", "tick"]), "tick")[1],
        "*/5 * * * *"
    );
    // The API server's defaults are served (kubectl describe dereferences spec.replicas).
    let norep = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: norep\nspec:\n  selector:\n    \
         matchLabels: {{app: norep}}\n  template:\n    metadata:\n      labels: {{app: norep}}\n    \
         spec:\n      containers:\n      - name: c\n        image: {IMAGE}\n"
    );
    k.run_with(&["apply", "-f", "-"], Some(&norep));
    let out = k.ok(&["describe", "deployment", "norep"]);
    assert!(
        out.contains("Replicas:               1 desired")
            && out.contains("RollingUpdateStrategy:  25% max unavailable, 25% max surge"),
        "{out}"
    );
    assert!(!read_manifest(node, "default-deployment-norep.yaml").contains("strategy"));
    assert_eq!(
        k.ok(&[
            "delete",
            "deployment/gen",
            "deployment/norep",
            "job/once",
            "cronjob/tick"
        ]),
        "deployment.apps \"gen\" deleted\ndeployment.apps \"norep\" deleted\njob.batch \"once\" deleted\ncronjob.batch \"tick\" deleted\n"
    );
    // A ReplicaSet scaled, a DaemonSet with a node selector: their columns.
    let pod_template = format!(
        "  selector: {{matchLabels: {{app: solo}}}}\n  template:\n    metadata:\n      labels: {{app: solo}}\n    \
         spec:\n      nodeSelector: {{disktype: ssd}}\n      containers:\n      - name: c\n        image: {IMAGE}\n"
    );
    let sets = format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: solo\n  labels: {{set: demo}}\nspec:\n  replicas: 1\n{pod_template}\
         ---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  labels: {{set: demo}}\nspec:\n{pod_template}"
    );
    let (code, out, err) = k.run_with(&["apply", "-f", "-"], Some(&sets));
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "replicaset.apps/solo created\ndaemonset.apps/agent created\n"
        ),
        "{err}"
    );
    assert_eq!(
        k.ok(&["scale", "rs", "solo", "--replicas=4"]),
        "replicaset.apps/solo scaled\n"
    );
    let out = k.ok(&["get", "rs", "solo"]);
    assert_eq!(
        rows(&out)[0],
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "{out}"
    );
    // The node has disktype=ssd: the ReplicaSet's 4 pods run (their image's shell exits at
    // once, so none is ready).
    wait_row(
        k,
        node,
        &["get", "rs", "solo"],
        "solo",
        &["solo", "4", "4", "0"],
    );
    let out = k.ok(&["get", "ds"]);
    assert_eq!(
        rows(&out)[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE"
        ],
        "{out}"
    );
    assert_eq!(row_of(&out, "agent")[6], "disktype=ssd", "{out}");
    same_describe(k, node, "rs", "solo");
    same_describe(k, node, "ds", "agent");
    // The DaemonSet's history: ControllerRevisions as kube-controller-manager makes them
    // (apps/v1, kubectl's columns), `rollout history|undo|status` of a DaemonSet.
    let revisions = |want: usize| -> Vec<Vec<String>> {
        let t = Instant::now();
        loop {
            let out = k.ok(&["get", "controllerrevisions"]);
            let r = rows(&out);
            if r.len() == want + 1 {
                assert_eq!(r[0], ["NAME", "CONTROLLER", "REVISION", "AGE"], "{out}");
                let mut r = r[1..].to_vec();
                r.sort_by(|a, b| a[2].cmp(&b[2]));
                return r;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{out}\n{}",
                node.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let first = revisions(1);
    assert!(first[0][0].starts_with("agent-"), "{first:?}");
    assert_eq!(first[0][1..3], ["daemonset.apps/agent", "1"], "{first:?}");
    same_output(k, node, &["rollout", "history", "ds/agent"]);
    assert_eq!(
        k.ok(&["rollout", "restart", "ds/agent"]),
        "daemonset.apps/agent restarted\n"
    );
    let two = revisions(2);
    assert_eq!(two[1][2], "2", "{two:?}");
    let history = same_output(k, node, &["rollout", "history", "daemonset/agent"]);
    assert!(history.lines().any(|l| l.starts_with("2 ")), "{history}");
    assert_eq!(
        k.ok(&["rollout", "undo", "ds/agent"]),
        "daemonset.apps/agent rolled back\n"
    );
    assert!(!read_manifest(node, "default-daemonset-agent.yaml").contains("restartedAt"));
    // Revision 1's template is back: its revision becomes 3 (two revisions still).
    let t = Instant::now();
    loop {
        let r = revisions(2);
        if r.iter().any(|x| x[0] == first[0][0] && x[2] == "3") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{r:?}\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    same_output(k, node, &["rollout", "history", "ds/agent"]);
    same_output(k, node, &["rollout", "history", "ds/agent", "--revision=3"]);
    // The pod is being replaced: the two may look at different moments.
    let t = Instant::now();
    loop {
        let args = ["rollout", "status", "ds/agent", "--watch=false"];
        let (theirs, ours) = (k.ok(&args), node.nodectl(&args));
        if theirs == ours {
            assert!(
                ours.starts_with("Waiting for daemon set \"agent\" rollout to finish: "),
                "{ours}"
            );
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{ours} != {theirs}");
    }
    same_error(k, node, &["rollout", "undo", "ds/agent", "--to-revision=7"]);
    assert_eq!(
        node.nodectl(&["rollout", "undo", "ds/agent", "--to-revision=2"]),
        "daemonset.apps/agent rolled back\n"
    );
    assert!(read_manifest(node, "default-daemonset-agent.yaml").contains("restartedAt"));
    assert_eq!(
        k.ok(&["delete", "rs,ds", "-l", "set=demo"]),
        "replicaset.apps \"solo\" deleted\ndaemonset.apps \"agent\" deleted\n"
    );
    // Server-side apply: the applied object is the manifest (created, then updated).
    let ssa = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: {v}\n")
    };
    for (v, word) in [("one", "serverside-applied"), ("two", "serverside-applied")] {
        let (code, out, err) = k.run_with(&["apply", "--server-side", "-f", "-"], Some(&ssa(v)));
        assert_eq!(
            (code, out.as_str()),
            (0, format!("configmap/ssa {word}\n").as_str()),
            "{err}"
        );
        assert!(read_manifest(node, "default-configmap-ssa.yaml").contains(&format!("k: {v}")));
    }
    k.ok(&["delete", "cm", "ssa"]);
    // annotate and replace of a ConfigMap rewrite its file.
    assert_eq!(
        k.ok(&["annotate", "cm", "cfg", "note=hi"]),
        "configmap/cfg annotated\n"
    );
    let (code, out, err) = k.run_with(
        &["replace", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: z\n"),
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "configmap/cfg replaced\n"),
        "{err}"
    );
    let text = read_manifest(node, "default-configmap-cfg.yaml");
    assert!(text.contains("a: z") && !text.contains("c: d"), "{text}");
    // A Job and a CronJob from one file.
    let jobs = JOBS.replace("IMG", IMAGE);
    let (code, out, err) = k.run_with(&["create", "-f", "-"], Some(&jobs));
    assert_eq!(
        (code, out.as_str()),
        (0, "job.batch/pi created\ncronjob.batch/hello created\n"),
        "{err}"
    );
    let out = k.ok(&["get", "jobs"]);
    assert_eq!(
        rows(&out)[0],
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "{out}"
    );
    // The Job controller runs it to its 5 completions.
    wait_row(k, node, &["get", "jobs"], "pi", &["pi", "Complete", "5/5"]);
    let out = k.ok(&["get", "cj"]);
    assert_eq!(
        rows(&out)[0],
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ],
        "{out}"
    );
    assert_eq!(
        row_of(&out, "hello")[..6],
        ["hello", "0 0 1 1 *", "<none>", "False", "0", "<none>"],
        "{out}"
    );
    // nodectl prints the same tables (the objects crate's printers) and descriptions.
    for (kind, name) in [
        ("deployment", "web"),
        ("job", "pi"),
        ("cronjob", "hello"),
        ("configmap", "cfg"),
        ("secret", "pw"),
    ] {
        same_describe(k, node, kind, name);
    }
    for kind in ["deployments", "jobs", "cronjobs", "configmaps", "secrets"] {
        let ours = node.nodectl(&["get", kind]);
        let theirs = k.ok(&["get", kind]);
        let strip_age = |t: &str| -> Vec<Vec<String>> {
            rows(t)
                .into_iter()
                .map(|mut r| {
                    r.pop();
                    r
                })
                .collect()
        };
        assert_eq!(
            strip_age(&ours),
            strip_age(&theirs),
            "{kind}:\n{ours}\n{theirs}"
        );
    }
    let all = k.ok(&["get", "all"]);
    for want in ["deployment.apps/web", "job.batch/pi", "cronjob.batch/hello"] {
        assert!(all.contains(want), "{want}: {all}");
    }
    let out = k.ok(&["describe", "job", "pi"]);
    assert!(
        out.contains("Completions:")
            && out.lines().any(|l| l.starts_with("Selector:")
                && l.contains(" batch.kubernetes.io/controller-uid=")),
        "{out}"
    );
    for (kind, name, want) in [
        ("cronjob", "hello", "Schedule:"),
        ("configmap", "cfg", "Data\n===="),
        ("secret", "pw", "user:  5 bytes"),
    ] {
        let out = k.ok(&["describe", kind, name]);
        assert!(out.contains(want), "describe {kind}: {out}");
    }
    // kubectl create job --from=cronjob: the Job (protobuf) gets the CronJob's job template.
    assert_eq!(
        k.ok(&["create", "job", "manual", "--from=cronjob/hello"]),
        "job.batch/manual created\n"
    );
    let text = read_manifest(node, "default-job-manual.yaml");
    assert!(
        text.contains("cronjob.kubernetes.io/instantiate: manual")
            && text.contains("kind: CronJob")
            && text.contains("- hi"),
        "{text}"
    );
    // nodectl create job --from=cronjob: the same Job (JSON through the API).
    assert_eq!(
        node.nodectl(&["create", "job", "manual2", "--from=cronjob/hello"]),
        "job.batch/manual2 created\n"
    );
    let ours = read_manifest(node, "default-job-manual2.yaml");
    assert_eq!(
        ours.replace("manual2", "manual"),
        text,
        "nodectl's Job differs from kubectl's"
    );
    same_error(k, node, &["create", "job", "x", "--from=cronjob/nope"]);
    // A watch of ConfigMaps sees one created.
    let (mut child, lines) = k.spawn_lines(&["get", "cm", "-w"]);
    wait_lines(&lines, "the initial configmaps", node, &|l| {
        l.iter().any(|x| x.starts_with("cfg "))
    });
    k.ok(&["create", "configmap", "late", "--from-literal=x=y"]);
    wait_lines(&lines, "configmap late", node, &|l| {
        l.iter().any(|x| x.starts_with("late "))
    });
    let _ = child.kill();
    let _ = child.wait();
    // Deletes: the files go.
    assert_eq!(
        k.ok(&["delete", "deployment", "web"]),
        "deployment.apps \"web\" deleted\n"
    );
    assert_eq!(
        k.ok(&["delete", "cj,job", "--all"]),
        "cronjob.batch \"hello\" deleted\njob.batch \"manual\" deleted\njob.batch \"manual2\" deleted\njob.batch \"pi\" deleted\n"
    );
    assert_eq!(
        k.ok(&["delete", "cm,secret", "--all"]),
        "configmap \"cfg\" deleted\nconfigmap \"late\" deleted\nsecret \"pw\" deleted\n"
    );
    let err = k.fails(&["get", "deploy", "web"]);
    assert!(err.contains("deployments.apps \"web\" not found"), "{err}");
    // Deleting a namespace deletes its objects' documents too.
    k.ok(&["create", "ns", "wl"]);
    k.ok(&["create", "configmap", "c", "-n", "wl", "--from-literal=a=b"]);
    assert!(node.dir("manifests/wl-configmap-c.yaml").exists());
    assert_eq!(k.ok(&["delete", "ns", "wl"]), "namespace \"wl\" deleted\n");
    assert!(!node.dir("manifests/wl-configmap-c.yaml").exists());
    assert!(!node.dir("manifests/namespace-wl.yaml").exists());
    assert_eq!(manifest_names(node), before);
}

fn exec(k: &Kubectl, node: &Node) {
    let (code, out, err) = k.run(&["exec", "shell-node1", "--", "/bin/busybox", "echo", "hi"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    assert!(
        err.contains("Defaulted container \"main\" out of: main, side"),
        "{err}"
    );
    // stdout, stderr and the exit code apart.
    let (code, out, err) = k.run(&[
        "exec",
        "shell-node1",
        "-c",
        "side",
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (3, "out\n"), "{err}");
    assert!(err.starts_with("err\n"), "{err}");
    assert!(err.contains("command terminated with exit code 3"), "{err}");
    // stdin, to its end.
    let (code, out, err) = k.run_with(
        &[
            "exec",
            "-i",
            "shell-node1",
            "-c",
            "main",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "cat; echo end",
        ],
        Some("hello\nworld\n"),
    );
    assert_eq!((code, out.as_str()), (0, "hello\nworld\nend\n"), "{err}");
    // Errors.
    let err = k.fails(&["exec", "nope", "--", "true"]);
    assert!(err.contains("pods \"nope\" not found"), "{err}");
    let err = k.fails(&["exec", "shell-node1", "-c", "nope", "--", "true"]);
    assert!(
        err.contains("container nope not found in pod shell-node1")
            || err.contains("container not found"),
        "{err}"
    );
    let err = k.fails(&["exec", "done-node1", "--", "true"]);
    assert!(
        err.contains("cannot exec into a container in a completed pod; current phase is Succeeded"),
        "{err}"
    );
    // -it through tmux: a terminal, resize, exit code.
    let tmux = Tmux {
        sock: node.t.join("tmux.sock"),
    };
    let exit_file = node.t.join("exec-exit");
    tmux.session(
        "exec",
        100,
        30,
        &format!(
            "kubectl --kubeconfig {} --cache-dir {} exec -it shell-node1 -c main -- /bin/busybox sh; echo EXIT=$? > {}",
            k.kubeconfig.display(),
            k.cache.display(),
            exit_file.display()
        ),
    );
    tmux.keys("exec", "stty size; echo TERM=$TERM");
    let p = tmux.wait("exec", "30 100");
    // Nothing before the prompt: no NUL echoed as `^@` (issue 15).
    assert!(!p.contains("^@"), "a NUL reached the terminal:\n{p}");
    tmux.run(&["resize-window", "-t", "exec", "-x", "120", "-y", "40"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("exec", "stty size");
    tmux.wait("exec", "40 120");
    tmux.keys("exec", "exit 7");
    let t = Instant::now();
    while !exit_file.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{}",
            tmux.pane("exec")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(tmux);
    assert_eq!(
        std::fs::read_to_string(&exit_file).unwrap().trim(),
        "EXIT=7"
    );
}

fn access(k: &Kubectl, t: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&k.kubeconfig)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&k.kubeconfig).unwrap();
    assert!(
        text.contains(&format!("server: https://127.0.0.1:{TLS_PORT}\n")),
        "{text}"
    );
    let out = k.ok(&["get", "nodes"]);
    row_of(&out, "node1");
    // The same server without the client certificate: refused at the handshake.
    let ca = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap();
    let anon = t.join("anon.kubeconfig");
    std::fs::write(
        &anon,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    certificate-authority-data: {ca}\n    \
             server: https://127.0.0.1:{TLS_PORT}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
             current-context: c\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
    let anon = Kubectl::with_kubeconfig(t, anon);
    let (code, out, err) = anon.run(&["get", "pods", "--request-timeout", "5s"]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("shell-node1"));
    assert!(
        err.contains("certificate")
            || err.contains("tls")
            || err.contains("EOF")
            || err.contains("reset"),
        "{err}"
    );
}

/// The Python client (Debian's python3-kubernetes) through the same kubeconfig.
fn python(k: &Kubectl, node: &Node) {
    if Command::new("/usr/bin/python3")
        .args(["-c", "import kubernetes"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        panic!(
            "python3-kubernetes missing: scripts/deps.sh test (apt-get install python3-kubernetes)"
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    let o = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(&k.kubeconfig)
        .arg(IMAGE)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.trim_end().ends_with("ok"),
        "python client: {out}\n{}\nnodelet log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        node.logs()
    );
    assert!(!node.dir("manifests/default-py.yaml").exists());
}

fn attach(k: &Kubectl, node: &Node) {
    std::fs::write(
        node.dir("manifests/ticker.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: ticker}}\nspec:\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    \
             image: {IMAGE}\n    imagePullPolicy: Never\n    \
             command: [/bin/busybox, sh, -c, 'i=0; while true; do echo tick $i; echo tock $i >&2; i=$((i+1)); sleep 0.3; done']\n"
        ),
    )
    .unwrap();
    wait_status(k, node, "ticker-node1", "Running");
    let mut child = k
        .cmd(&["attach", "ticker-node1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    wait_lines(&lines, "ticks from attach", node, &|l| {
        l.iter().filter(|x| x.starts_with("tick ")).count() >= 2
    });
    let _ = child.kill();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    assert!(err.contains("tock "), "stderr on its channel: {err}");
    // logs -f of a running container: new lines as they come.
    let mut child = k
        .cmd(&["logs", "-f", "ticker-node1", "--tail", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    wait_lines(&lines, "followed log lines", node, &|l| {
        l.iter().filter(|x| x.starts_with("tick ")).count() >= 3
    });
    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_file(node.dir("manifests/ticker.yaml")).unwrap();
    wait_gone(k, node, "ticker-node1");
}

/// A tmux server of the test's own, for terminals.
struct Tmux {
    sock: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A session of `cols`×`rows` running `cmd` (then a shell's `sleep`, so it stays to be read).
    fn session(&self, name: &str, cols: u16, rows: u16, cmd: &str) {
        let cmd = format!("{cmd}; sleep 60");
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            &cmd,
        ]);
    }

    fn keys(&self, name: &str, keys: &str) {
        self.run(&["send-keys", "-t", name, keys, "Enter"]);
    }

    fn pane(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", name])
    }

    /// The pane once it shows `want` (20 s at most).
    fn wait(&self, name: &str, want: &str) -> String {
        let t = Instant::now();
        loop {
            let p = self.pane(name);
            if p.contains(want) {
                return p;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{want:?} not on the terminal:\n{}",
                self.run(&["capture-pane", "-p", "-S", "-100", "-t", name])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .status();
    }
}

/// The docs' share-process-namespace.yaml as its earlier versions wrote it (the shell
/// container runs the image's shell, for `kubectl attach -it`), with tagged images so they are
/// not pulled: images of the same names made from busybox-static.
const SHARE_PROCESS_NAMESPACE: &str = "apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: nginx
    image: nginx:1.25
  - name: shell
    image: busybox:1.28
    securityContext:
      capabilities:
        add:
        - SYS_PTRACE
    stdin: true
    tty: true
";

/// Terminals and stdin (issue 15 item 2, issue 14's `attach -i` / `run -it`): the docs' tty
/// pod runs, `attach -it` through tmux drives its shell and resizes its terminal, what the
/// terminal shows is in `kubectl logs`; `run -it --rm` gives a shell and removes the pod;
/// `run -i --rm` of a stdinOnce container closes its stdin after the client's input ended;
/// `nodectl attach -i` likewise.
fn tty(k: &Kubectl, node: &Node) {
    for (tag, config) in [
        (
            "nginx:1.25",
            vec![(
                "Cmd",
                serde_json::json!(["/bin/busybox", "httpd", "-f", "-p", "80"]),
            )],
        ),
        ("busybox:1.28", vec![]),
    ] {
        let f = node.t.join("tty-image.tar");
        std::fs::write(&f, common::busybox_archive_with(tag, &config)).unwrap();
        node::import_archive(&node.dir("root"), &f);
    }
    std::fs::write(
        node.dir("manifests/share-process-namespace.yaml"),
        SHARE_PROCESS_NAMESPACE,
    )
    .unwrap();
    let t = Instant::now();
    while !k.run(&["get", "pod", "nginx-node1"]).1.contains("2/2") {
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "{}\n{}",
            k.run(&["describe", "pod", "nginx-node1"]).1,
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let tmux = Tmux {
        sock: node.t.join("tmux-tty.sock"),
    };
    let kc = format!(
        "kubectl --kubeconfig {} --cache-dir {}",
        k.kubeconfig.display(),
        k.cache.display()
    );
    tmux.session(
        "attach",
        100,
        30,
        &format!("{kc} attach -it nginx-node1 -c shell; echo ATTACH-EXIT=$?"),
    );
    tmux.wait(
        "attach",
        "If you don't see a command prompt, try pressing enter.",
    );
    tmux.keys("attach", "");
    tmux.keys("attach", "echo sum=$((40+2)); ps ax | grep -c 'httpd -f'");
    let p = tmux.wait("attach", "sum=42");
    assert!(!p.contains("^@"), "{p}");
    tmux.keys("attach", "stty size");
    tmux.wait("attach", "30 100");
    tmux.run(&["resize-window", "-t", "attach", "-x", "120", "-y", "40"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("attach", "stty size");
    tmux.wait("attach", "40 120");
    // The terminal's output is the container's log (as stdout).
    let logs = k.ok(&["logs", "nginx-node1", "-c", "shell"]);
    assert!(logs.contains("sum=42") && logs.contains("40 120"), "{logs}");
    // kubectl goes away (a detach): the shell runs on, without stdinOnce its stdin stays.
    let shell = tmux.run(&["display", "-p", "-t", "attach", "#{pane_pid}"]);
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", shell.trim())).unwrap();
    for pid in children.split_whitespace() {
        let _ = Command::new("kill").arg(pid).status();
    }
    tmux.wait("attach", "ATTACH-EXIT=");
    let row = wait_status(k, node, "nginx-node1", "Running");
    assert_eq!(row[3], "0", "no restart after the detach: {row:?}");
    // nodectl attach -it: the same shell, over the API socket; its resize too.
    tmux.session(
        "nodectl",
        100,
        30,
        &format!(
            "{} --socket {} attach -it nginx-node1 -c shell",
            node::target_bin("nodectl").display(),
            node.dir("run/nodelet.sock").display()
        ),
    );
    tmux.wait("nodectl", "If you don't see a command prompt");
    tmux.keys("nodectl", "echo nodectl-$((5*5)); stty size");
    tmux.wait("nodectl", "nodectl-25");
    tmux.wait("nodectl", "30 100");
    tmux.run(&["resize-window", "-t", "nodectl", "-x", "110", "-y", "35"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("nodectl", "stty size");
    let p = tmux.wait("nodectl", "35 110");
    assert!(!p.contains("^@"), "{p}");
    tmux.run(&["kill-session", "-t", "nodectl"]);
    // Attach again: the same shell.
    tmux.session(
        "again",
        80,
        24,
        &format!("{kc} attach -it nginx-node1 -c shell"),
    );
    tmux.wait("again", "If you don't see a command prompt");
    tmux.keys("again", "echo again-$((2*3))");
    tmux.wait("again", "again-6");
    tmux.keys("again", "exit");
    tmux.wait("again", "Session ended");
    std::fs::remove_file(node.dir("manifests/share-process-namespace.yaml")).unwrap();

    // run -it --rm: a shell, and the pod goes after it exits.
    tmux.session(
        "run",
        90,
        25,
        &format!(
            "{kc} run -it --rm --restart=Never runner --image=busybox:1.28 -- /bin/busybox sh; echo RUN-EXIT=$?"
        ),
    );
    wait_status(k, node, "runner", "Running");
    tmux.wait("run", "If you don't see a command prompt");
    tmux.keys("run", "");
    tmux.keys("run", "echo in-run-$((3*3)); stty size");
    tmux.wait("run", "in-run-9");
    tmux.wait("run", "25 90");
    tmux.keys("run", "exit");
    let p = tmux.wait("run", "RUN-EXIT=");
    assert!(p.contains("pod \"runner\" deleted"), "{p}");
    assert!(p.contains("RUN-EXIT=0"), "{p}");
    assert!(!p.contains("^@"), "{p}");
    wait_gone(k, node, "runner");

    // stdinOnce without a terminal: the input's end closes the container's stdin.
    let (code, out, err) = k.run_with(
        &[
            "run",
            "-i",
            "--rm",
            "--restart=Never",
            "once",
            "--image=busybox:1.28",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "cat; echo stdin-closed",
        ],
        Some("hello once\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("hello once\nstdin-closed\n"),
        "out: {out}\nerr: {err}"
    );
    wait_gone(k, node, "once");
}

fn port_forward(k: &Kubectl, node: &Node) {
    std::fs::write(
        node.dir("manifests/www.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: www}}\nspec:\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - name: httpd\n    \
             image: {IMAGE}\n    imagePullPolicy: Never\n    \
             command: [/bin/busybox, sh, -c, 'mkdir -p /www && echo hello from the pod > /www/index.html && exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /www']\n"
        ),
    )
    .unwrap();
    wait_status(k, node, "www-node1", "Running");
    let mut child = k
        .cmd(&["port-forward", "pod/www-node1", "18080:8080"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    wait_lines(&lines, "port-forward listening", node, &|l| {
        l.iter()
            .any(|x| x.starts_with("Forwarding from 127.0.0.1:18080 -> 8080"))
    });
    // The server listens on the pod's loopback only, as port-forward reaches it in a cluster.
    // Two connections one after the other through the same tunnel.
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 18080)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = String::new();
        use std::io::Read;
        s.read_to_string(&mut got).unwrap();
        assert!(
            got.starts_with("HTTP/1.") && got.contains("hello from the pod"),
            "{got}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_file(node.dir("manifests/www.yaml")).unwrap();
    wait_gone(k, node, "www-node1");
}

/// socat from loopback (this test's network namespace) to the node's socket.
fn bridge(node: &Node) -> Child {
    let child = Command::new("socat")
        .arg(format!("TCP-LISTEN:{PORT},bind=127.0.0.1,fork,reuseaddr"))
        .arg(format!(
            "UNIX-CONNECT:{}",
            node.dir("run/nodelet.sock").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (apt-get install socat)");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(5), "socat did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn manifests() -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: shell
  labels: {{app: shell}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo shell says hi; exec /bin/busybox sleep 3600"]
  - name: side
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3601"]
---
apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: Never
  containers:
  - name: job
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "echo", "done and dusted"]
---
apiVersion: v1
kind: Pod
metadata:
  name: sys
  namespace: kube-system
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
"#
    )
}

fn kubectl_live() {
    let v = Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    assert!(
        v.as_ref().is_ok_and(|o| o.status.success()),
        "kubectl (>= 1.31, WebSocket exec) is needed on the PATH: {v:?}"
    );
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("kubectl-e2e-", "kctl0", "10.244.9.0/24");
    let archive = t.join("busybox.tar");
    std::fs::write(&archive, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(&node.dir("root"), &archive);
    std::fs::write(node.dir("manifests/pods.yaml"), manifests()).unwrap();
    let admin = t.join("admin.kubeconfig");
    cleanup.agent = Some(node.start_with(
        "1",
        &[
            "--api-tcp-address",
            &format!("127.0.0.1:{TLS_PORT}"),
            "--admin-kubeconfig",
            admin.to_str().unwrap(),
            "--node-labels",
            "disktype=ssd",
        ],
    ));
    node.wait_pod("shell running", 60, |p| {
        p["metadata"]["name"] == "shell-node1" && p["status"]["phase"] == "Running"
    });
    node.wait_pod("done succeeded", 60, |p| {
        p["metadata"]["name"] == "done-node1" && p["status"]["phase"] == "Succeeded"
    });
    let t0 = Instant::now();
    while !node.dir("run/nodelet.sock").exists() {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", node.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut socat = bridge(&node);
    // The root-only socket, through socat.
    let local = Kubectl::new(&t, &format!("http://127.0.0.1:{PORT}"));
    let t1 = Instant::now();
    while !local.run(&["get", "pods"]).1.contains("shell-node1") {
        assert!(t1.elapsed() < Duration::from_secs(20), "{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    // TCP: TLS with the admin kubeconfig nodelet wrote; nothing without a client certificate.
    let k = Kubectl::with_kubeconfig(&t, admin.clone());
    access(&k, &t);
    // Until the shell pod's view says Running with both containers ready.
    let t1 = Instant::now();
    while !k.run(&["get", "pods"]).1.contains("2/2") {
        assert!(t1.elapsed() < Duration::from_secs(20), "{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let cases: &[(&str, &dyn Fn())] = &[
        ("discovery", &|| discovery(&k)),
        ("get_pods", &|| get_pods(&k)),
        ("describe", &|| describe(&k)),
        ("describe_rich", &|| describe_rich(&k, &node)),
        ("nodes_events_namespaces", &|| nodes_events_namespaces(&k)),
        ("logs", &|| logs(&k)),
        ("top", &|| top(&k)),
        ("watch", &|| watch(&k, &node)),
        ("writes", &|| writes(&k, &node)),
        ("workloads", &|| workloads(&k, &node)),
        ("exec", &|| exec(&k, &node)),
        ("python", &|| python(&k, &node)),
        ("attach", &|| attach(&k, &node)),
        ("tty", &|| tty(&k, &node)),
        ("port_forward", &|| port_forward(&k, &node)),
    ];
    // KUBECTL_E2E_CASES=a,b runs only those cases (while working on one).
    let only = std::env::var("KUBECTL_E2E_CASES").unwrap_or_default();
    let mut failed = vec![];
    for (name, case) in cases {
        if !only.is_empty() && !only.split(',').any(|c| c == *name) {
            continue;
        }
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)).is_err() {
            failed.push(*name);
        }
        println!(
            "  kubectl {name}: {}",
            if failed.last() == Some(name) {
                "FAILED"
            } else {
                "ok"
            }
        );
    }
    let _ = std::fs::remove_file(node.dir("manifests/pods.yaml"));
    let _ = std::fs::remove_file(node.dir("manifests/late.yaml"));
    let t2 = Instant::now();
    while !node.pods().is_empty() && t2.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = socat.kill();
    let _ = socat.wait();
    drop(cleanup);
    drop(cg);
    assert!(failed.is_empty(), "failed: {failed:?}");
}

fn main() {
    node::run_cases(
        "kubectl_e2e",
        &[("kubectl_against_a_live_node", kubectl_live)],
    );
}
