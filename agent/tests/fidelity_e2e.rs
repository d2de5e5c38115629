//! Kubelet fidelity on a live node (issue 15), through the real `nodelet` binary as root in
//! private mount and network namespaces (see `node::run_cases`), with documentation-style
//! manifests:
//!
//! - admission: a pod asking more cpu than the node's allocatable is Failed `OutOfcpu` with
//!   the kubelet's message, a nodeSelector the node's labels do not match is Failed
//!   `NodeAffinity`, neither is set up; a pod selecting a `--node-labels` label runs; a pod
//!   asking for AppArmor on a host without it stays Pending (`AppArmor`, containers Blocked).
//! - termination messages: docs' termination.yaml gives `lastState.terminated.message`
//!   "Sleep expired", a custom `terminationMessagePath` is read, `FallbackToLogsOnError` takes
//!   the log's tail when the container failed, `describe` prints the message; (read through
//!   it) supplementary groups as containerd sets them, the primary group included.
//! - OOM kills: a container whose child is OOM-killed and which then exits 1 is `OOMKilled`
//!   (docs' memory-request-limit-2.yaml pattern: a shell running a memory hog).
//! - stop signals: an image with `StopSignal: SIGQUIT` (nginx-style) is stopped with SIGQUIT,
//!   `lifecycle.stopSignal` wins over the image's, others get SIGTERM.
//! - unknown fields: a manifest with fields this API version does not know runs (the kubelet
//!   drops them) and the user is told which: a Warning `UnknownField` event and the log.
//! - hostPort: with a network whose plugin declares the `portMappings` capability, busybox
//!   httpd in a pod with hostPort 8080 answers on the node's address at 8080; without, the pod
//!   gets a Warning event that its host ports are not mapped.
//! - statuses as kubectl prints them: `Init:0/2` and app containers waiting `PodInitializing`
//!   while init containers run, `Init:CrashLoopBackOff` for a failing init container,
//!   `Init:Error` when it fails under restartPolicy Never and before each back-off under
//!   Always, `Error`/`Completed` between an app container's exit and its back-off; no
//!   `Scheduled` event for a static
//!   pod; `nodectl logs POD` on a multi-container pod defaults to the first container with
//!   kubectl's "Defaulted container" notice.
//! - pod-level `spec.resources`: the pod's cgroup gets the pod's limits, QoS from them.
//! - failing syncs: retried 10–15 s apart with one event per real attempt (an unpullable
//!   image is pulled at the back-off's pace, `BackOff` while it waits; a missing ConfigMap is
//!   reported each try and the container starts as soon as it appears).
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{Node, NodeEnv, container};

const IMAGE: &str = "nodelet.test/busybox:1.0";

fn import_busybox(root_dir: &Path, t: &Path) {
    let file = t.join("busybox.tar");
    std::fs::write(&file, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(root_dir, &file);
}

/// The pod `name` as the API shows it (also pods that never got a directory), once `cond`.
fn wait_api_pod(node: &Node, name: &str, secs: u64, cond: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let o = Command::new(node::target_bin("nodectl"))
            .arg("--socket")
            .arg(node.dir("run/nodelet.sock"))
            .args(["get", "pods", name, "-o", "json"])
            .output()
            .unwrap();
        if o.status.success()
            && let Ok(v) = serde_json::from_slice::<Value>(&o.stdout)
            && cond(&v)
        {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {name}: {}{}\nnodelet log:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node in a temp dir named `prefix…` with nodenet on `bridge`/`subnet` and the busybox
/// image imported; not started yet.
fn node_env(prefix: &str, bridge: &str, subnet: &str) -> NodeEnv {
    let env = NodeEnv::nodenet(prefix, bridge, subnet);
    import_busybox(&env.node.dir("root"), &env.t);
    env
}

/// `env` with its nodelet started (`extra` flags added).
fn started(mut env: NodeEnv, extra: &[&str]) -> NodeEnv {
    env.cleanup.agent = Some(env.node.start_with("1", extra));
    env
}

/// Removes `manifests/<name>.yaml` for each of `manifests`, waits for every pod to be torn
/// down, stops the agent (it must exit 0), cleans up.
fn finish(mut env: NodeEnv, manifests: &[&str]) {
    for f in manifests {
        std::fs::remove_file(env.node.dir(&format!("manifests/{f}.yaml"))).unwrap();
    }
    env.node.wait_pod_gone(30);
    node::stop_agent(&mut env.cleanup);
}

fn pod_yaml(name: &str, spec_extra: &str, resources: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
{spec_extra}  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    resources: {resources}
"#
    )
}

/// Admission in the kubelet's order and words.
fn admission() {
    let env = node_env("nodelet-fid-adm-", "fid0", "10.244.40.0/24");
    let env = started(
        env,
        &[
            "--node-labels",
            "disktype=ssd",
            "--system-reserved",
            "cpu=500m",
        ],
    );
    let node = &env.node;
    let cpus = std::thread::available_parallelism().unwrap().get() as i64;
    std::fs::write(
        node.dir("manifests/greedy.yaml"),
        pod_yaml("greedy", "", "{requests: {cpu: '100'}}"),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/elsewhere.yaml"),
        pod_yaml("elsewhere", "  nodeSelector: {disktype: hdd}\n", "{}"),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/here.yaml"),
        pod_yaml(
            "here",
            "  nodeSelector: {disktype: ssd, kubernetes.io/hostname: node1}\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}]\n",
            "{requests: {cpu: 100m}}",
        ),
    )
    .unwrap();
    let failed = |p: &Value| p["status"]["phase"] == "Failed";
    let greedy = wait_api_pod(node, "greedy-node1", 20, failed);
    assert_eq!(greedy["status"]["reason"], "OutOfcpu", "{greedy}");
    assert_eq!(
        greedy["status"]["message"],
        format!(
            "Node didn't have enough resource: cpu, requested: 100000, used: 0, capacity: {}",
            cpus * 1000 - 500
        )
    );
    let elsewhere = wait_api_pod(node, "elsewhere-node1", 20, failed);
    assert_eq!(elsewhere["status"]["reason"], "NodeAffinity", "{elsewhere}");
    assert_eq!(
        elsewhere["status"]["message"],
        "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
    );
    node.wait_pod("pod here Running", 30, |p| {
        p["metadata"]["name"] == "here-node1" && container(p, "app")["state"]["running"].is_object()
    });
    // A finished pod's requests no longer count: `done` takes the rest of the cpu and
    // completes, then `after` fits.
    let rest = cpus * 1000 - 500 - 100;
    let once = |name: &str, cpu: i64| {
        pod_yaml(
            name,
            "  restartPolicy: Never\n",
            &format!("{{requests: {{cpu: {cpu}m}}}}"),
        )
        .replace("\"sleep\", \"3600\"", "\"true\"")
    };
    std::fs::write(node.dir("manifests/done.yaml"), once("done", rest)).unwrap();
    wait_api_pod(node, "done-node1", 30, |p| {
        p["status"]["phase"] == "Succeeded"
    });
    std::fs::write(node.dir("manifests/after.yaml"), once("after", 1000)).unwrap();
    wait_api_pod(node, "after-node1", 30, |p| {
        p["status"]["phase"] == "Succeeded"
    });
    let describe = node.nodectl(&["describe", "pod", "greedy-node1"]);
    assert!(
        describe.contains("OutOfcpu") && describe.contains("Warning"),
        "{describe}"
    );
    // Refused pods are never set up: they have no pod directory.
    let mut dirs: Vec<String> = node
        .pods()
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["after-node1", "done-node1", "here-node1"]);
    // The docs' hello-apparmor: on a host without AppArmor the kubelet keeps it Pending,
    // its containers Blocked (soft admission).
    std::fs::write(
        node.dir("manifests/hello-apparmor.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: hello-apparmor
  annotations:
    container.apparmor.security.beta.kubernetes.io/hello: localhost/k8s-apparmor-example-deny-write
spec:
  containers:
  - name: hello
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo 'Hello AppArmor!' && sleep 1h"]
"#
        ),
    )
    .unwrap();
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    if !apparmor {
        let p = wait_api_pod(node, "hello-apparmor-node1", 20, |p| {
            p["status"]["reason"] == "AppArmor"
        });
        assert_eq!(p["status"]["phase"], "Pending", "{p}");
        assert_eq!(
            p["status"]["message"],
            "Cannot enforce AppArmor: AppArmor is not enabled on the host"
        );
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "Blocked",
            "{p}"
        );
        // kubectl prints the containers' waiting reason.
        assert_eq!(
            status_column(node, "hello-apparmor-node1").as_deref(),
            Some("Blocked")
        );
    }
    finish(
        env,
        &[
            "greedy",
            "elsewhere",
            "here",
            "done",
            "after",
            "hello-apparmor",
        ],
    );
}

/// After an agent restart, the pods it adopts hold their requests before new pods are
/// admitted, whatever the order of the files.
fn admission_after_restart() {
    let env = node_env("nodelet-fid-adm2-", "fid7", "10.244.47.0/24");
    let mut env = started(env, &[]);
    let node = &env.node;
    let cpus = std::thread::available_parallelism().unwrap().get() as i64;
    let big = format!("{{requests: {{cpu: {}m}}}}", cpus * 1000 - 200);
    std::fs::write(
        node.dir("manifests/z-first.yaml"),
        pod_yaml("first", "", &big),
    )
    .unwrap();
    node.wait_pod("first Running", 30, |p| {
        p["metadata"]["name"] == "first-node1"
            && container(p, "app")["state"]["running"].is_object()
    });
    node::stop_agent(&mut env.cleanup);
    // Sorts before the running pod's file.
    std::fs::write(
        node.dir("manifests/a-second.yaml"),
        pod_yaml("second", "", &big),
    )
    .unwrap();
    env.cleanup.agent = Some(env.node.start_with("2", &[]));
    let node = &env.node;
    let second = wait_api_pod(node, "second-node1", 30, |p| {
        p["status"]["phase"] == "Failed"
    });
    assert_eq!(second["status"]["reason"], "OutOfcpu", "{second}");
    let first = wait_api_pod(node, "first-node1", 30, |p| {
        p["status"]["phase"] == "Running"
    });
    assert_eq!(first["status"]["phase"], "Running");
    finish(env, &["z-first", "a-second"]);
}

/// terminationMessagePath and terminationMessagePolicy.
fn termination_messages() {
    let env = node_env("nodelet-fid-term-", "fid1", "10.244.41.0/24");
    let env = started(env, &[]);
    let node = &env.node;
    // The documentation's termination.yaml, with a shorter sleep.
    std::fs::write(
        node.dir("manifests/termination.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: termination-demo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: termination-demo-container
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh"]
    args: ["-c", "sleep 1 && echo Sleep expired > /dev/termination-log"]
"#
        ),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/msgs.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: msgs
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: custom
    image: {IMAGE}
    imagePullPolicy: Never
    terminationMessagePath: /tmp/my-log
    command: ["/bin/busybox", "sh", "-c", "echo done here > /tmp/my-log"]
  - name: fallback
    image: {IMAGE}
    imagePullPolicy: Never
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["/bin/busybox", "sh", "-c", "echo first; echo oops >&2; exit 3"]
  - name: fileonly
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo not a message; exit 3"]
  - name: groups
    image: {IMAGE}
    imagePullPolicy: Never
    securityContext: {{runAsGroup: 3000}}
    command: ["/bin/busybox", "sh", "-c", "/bin/busybox grep Groups: /proc/self/status > /dev/termination-log"]
  securityContext: {{supplementalGroups: [4000]}}
"#
        ),
    )
    .unwrap();
    let is = |p: &Value, n: &str| p["metadata"]["name"] == n;
    let pod = node.wait_pod("termination-demo restarted", 30, |p| {
        is(p, "termination-demo-node1")
            && container(p, "termination-demo-container")["lastState"]["terminated"]["message"]
                .is_string()
    });
    let c = container(&pod, "termination-demo-container");
    assert_eq!(
        c["lastState"]["terminated"]["message"], "Sleep expired\n",
        "{c}"
    );
    let pod = node.wait_pod("msgs finished", 30, |p| {
        is(p, "msgs-node1")
            && ["custom", "fallback", "fileonly", "groups"]
                .iter()
                .all(|n| container(p, n)["state"]["terminated"].is_object())
    });
    let msg = |n: &str| container(&pod, n)["state"]["terminated"]["message"].clone();
    assert_eq!(msg("custom"), "done here\n", "{pod}");
    assert_eq!(msg("fallback"), "first\noops\n", "{pod}");
    assert_eq!(msg("fileonly"), Value::Null, "{pod}");
    // Supplementary groups as containerd sets them: the primary group first.
    let groups: Vec<String> = msg("groups")
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(groups, ["3000", "4000"], "{pod}");
    let describe = node.nodectl(&["describe", "pod", "msgs-node1"]);
    // (columns are kubectl's tabwriter's: compare the words of the state's detail line)
    assert!(
        describe.lines().any(|l| l.starts_with("      Message:")
            && l.split_whitespace().collect::<Vec<_>>() == ["Message:", "done", "here"]),
        "{describe}"
    );
    finish(env, &["termination", "msgs"]);
}

/// A child of the container's init is OOM-killed; init exits 1 afterwards.
fn oom_kill_of_a_child() {
    let env = node_env("nodelet-fid-oom-", "fid2", "10.244.42.0/24");
    let env = started(env, &[]);
    let node = &env.node;
    std::fs::write(
        node.dir("manifests/memory-demo-2.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: memory-demo-2
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: memory-demo-2-ctr
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "/bin/busybox tail /dev/zero; echo hog gone; exit 1"]
    resources:
      requests: {{memory: 8Mi}}
      limits: {{memory: 16Mi}}
  - name: fine
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "exit 1"]
"#
        ),
    )
    .unwrap();
    let pod = node.wait_pod("both containers ended", 30, |p| {
        p["metadata"]["name"] == "memory-demo-2-node1"
            && ["memory-demo-2-ctr", "fine"]
                .iter()
                .all(|n| container(p, n)["state"]["terminated"].is_object())
    });
    let term = |n: &str| container(&pod, n)["state"]["terminated"].clone();
    let hog = term("memory-demo-2-ctr");
    assert_eq!(hog["exitCode"], 1, "{hog}");
    assert_eq!(hog["reason"], "OOMKilled", "{hog}");
    assert_eq!(term("fine")["reason"], "Error");
    finish(env, &["memory-demo-2"]);
}

/// The image's StopSignal and lifecycle.stopSignal when the pod is stopped.
fn stop_signals() {
    let env = node_env("nodelet-fid-stop-", "fid3", "10.244.43.0/24");
    let (node, t) = (&env.node, env.t.clone());
    let nginx = "nodelet.test/nginx-style:1.0";
    let file = t.join("nginx.tar");
    std::fs::write(
        &file,
        common::busybox_archive_with(nginx, &[("StopSignal", Value::from("SIGQUIT"))]),
    )
    .unwrap();
    node::import_archive(&node.dir("root"), &file);
    let out = t.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let env = started(env, &[]);
    let node = &env.node;
    // Each container writes the signal it got to /out/<name>.
    let traps = |name: &str| {
        format!(
            "[\"/bin/busybox\", \"sh\", \"-c\", \"for s in QUIT TERM USR1; do trap \\\"echo $s > /out/{name}; exit 0\\\" $s; done; touch /out/{name}.up; while true; do sleep 1; done\"]"
        )
    };
    std::fs::write(
        node.dir("manifests/stop.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: stop
spec:
  os: {{name: linux}}
  terminationGracePeriodSeconds: 10
  containers:
  - name: nginx
    image: {nginx}
    imagePullPolicy: Never
    command: {}
    volumeMounts: [{{name: out, mountPath: /out}}]
  - name: custom
    image: {nginx}
    imagePullPolicy: Never
    command: {}
    lifecycle: {{stopSignal: SIGUSR1}}
    volumeMounts: [{{name: out, mountPath: /out}}]
  - name: plain
    image: {IMAGE}
    imagePullPolicy: Never
    command: {}
    volumeMounts: [{{name: out, mountPath: /out}}]
  volumes:
  - name: out
    hostPath: {{path: {}}}
"#,
            traps("nginx"),
            traps("custom"),
            traps("plain"),
            out.display()
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    while !["nginx", "custom", "plain"]
        .iter()
        .all(|n| out.join(format!("{n}.up")).exists())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "containers not up: {:#?}\n{}",
            node.pods(),
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(node.dir("manifests/stop.yaml")).unwrap();
    node.wait_pod_gone(30);
    let got = |n: &str| {
        std::fs::read_to_string(out.join(n))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(
        (got("nginx"), got("custom"), got("plain")),
        ("QUIT".into(), "USR1".into(), "TERM".into())
    );
    finish(env, &[]);
}

/// A manifest with unknown fields runs; the fields are named in an event and the log.
fn unknown_fields() {
    let env = node_env("nodelet-fid-unk-", "fid4", "10.244.44.0/24");
    let env = started(env, &[]);
    let node = &env.node;
    std::fs::write(
        node.dir("manifests/future.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: future
spec:
  terminationGracePeriodSeconds: 1
  hostUsersNamespaceMode: Auto
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    fromTheFuture: {{enabled: true}}
"#
        ),
    )
    .unwrap();
    node.wait_pod("pod future Running", 30, |p| {
        p["metadata"]["name"] == "future-node1"
            && container(p, "app")["state"]["running"].is_object()
    });
    let describe = node.nodectl(&["describe", "pod", "future-node1"]);
    assert!(
        describe.contains("UnknownField")
            && describe.contains("spec.containers[0].fromTheFuture")
            && describe.contains("spec.hostUsersNamespaceMode"),
        "{describe}"
    );
    let log = node.logs();
    assert!(
        log.contains("unknown fields \"spec.containers[0].fromTheFuture\", \"spec.hostUsersNamespaceMode\" ignored"),
        "{log}"
    );
    finish(env, &["future"]);
}

/// A plain HTTP/1.0 GET of `path` from `addr`: the whole response.
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().map_err(std::io::Error::other)?;
    let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    c.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut out = String::new();
    c.read_to_string(&mut out)?;
    Ok(out)
}

fn write_conflist(node: &Node, capabilities: bool) {
    let mut plugin = serde_json::json!({"type": "nodenet", "bridge": "fid5",
        "subnet": "10.244.45.0/24", "ipMasq": false, "dataDir": node.dir("nodenet-data")});
    if capabilities {
        plugin["capabilities"] = serde_json::json!({"portMappings": true});
    }
    std::fs::write(
        node.dir("net.d/10-pods.conflist"),
        serde_json::json!({"cniVersion": "1.1.0", "name": "podnet", "plugins": [plugin]})
            .to_string(),
    )
    .unwrap();
}

/// hostPort through the CNI portMappings capability.
fn host_port() {
    let env = node_env("nodelet-fid-hp-", "fid5", "10.244.45.0/24");
    let env = started(env, &[]);
    let node = &env.node;
    let manifest = |name: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "mkdir -p /www && echo hello-hostport > /www/index.html && exec /bin/busybox httpd -f -p 80 -h /www"]
    ports:
    - containerPort: 80
      hostPort: 8080
"#
        )
    };
    // No plugin declares portMappings: told so.
    write_conflist(node, false);
    std::fs::write(node.dir("manifests/plain.yaml"), manifest("plain")).unwrap();
    node.wait_pod("plain Running", 30, |p| {
        p["metadata"]["name"] == "plain-node1"
            && container(p, "httpd")["state"]["running"].is_object()
    });
    let describe = node.nodectl(&["describe", "pod", "plain-node1"]);
    assert!(
        describe.contains("HostPortNotSupported")
            && describe.contains("host ports 8080/TCP are not mapped"),
        "{describe}"
    );
    std::fs::remove_file(node.dir("manifests/plain.yaml")).unwrap();
    node.wait_pod_gone(30);
    // nodenet declares it: the port answers on the node's address.
    write_conflist(node, true);
    std::fs::write(node.dir("manifests/web.yaml"), manifest("web")).unwrap();
    node.wait_pod("web Running", 30, |p| {
        p["metadata"]["name"] == "web-node1"
            && container(p, "httpd")["state"]["running"].is_object()
    });
    // The node's own address on the pod network (the node netns has no other).
    let node_addr = "10.244.45.1:8080";
    let t0 = Instant::now();
    let body = loop {
        match http_get(node_addr, "/index.html") {
            Ok(b) => break b,
            Err(e) => assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{node_addr} does not answer: {e}\n{}",
                node.logs()
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        body.starts_with("HTTP/1.") && body.contains(" 200 "),
        "{body}"
    );
    let body = body
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert_eq!(body.trim(), "hello-hostport");
    let describe = node.nodectl(&["describe", "pod", "web-node1"]);
    assert!(!describe.contains("HostPortNotSupported"), "{describe}");
    finish(env, &["web"]);
}

/// The STATUS column of pod `name` in `nodectl get pods`.
fn status_column(node: &Node, name: &str) -> Option<String> {
    let o = Command::new(node::target_bin("nodectl"))
        .arg("--socket")
        .arg(node.dir("run/nodelet.sock"))
        .args(["get", "pods"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(2).map(String::from))
}

/// Waits until pod `name`'s STATUS column reads `want`.
fn wait_status(node: &Node, name: &str, want: &str, secs: u64) {
    let t = Instant::now();
    let mut seen = vec![];
    loop {
        let s = status_column(node, name);
        if s.as_deref() == Some(want) {
            return;
        }
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{name}: STATUS never {want}; seen {seen:?}\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Init statuses, no Scheduled event, logs defaulting.
fn statuses_and_logs() {
    let env = node_env("nodelet-fid-st-", "fid6", "10.244.46.0/24");
    let env = started(env, &["--sync-period-ms", "1000"]);
    let node = &env.node;
    let init_pod = |name: &str, policy: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: wait
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3"]
  - name: fail
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "exit 1"]
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
"#
        )
    };
    std::fs::write(
        node.dir("manifests/init-loop.yaml"),
        init_pod("init-loop", "Always"),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/init-never.yaml"),
        init_pod("init-never", "Never"),
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/multi.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: multi
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: first
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo from-first; exec /bin/busybox sleep 3600"]
  - name: second
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo from-second; exec /bin/busybox sleep 3600"]
"#
        ),
    )
    .unwrap();
    wait_status(node, "init-loop-node1", "Init:0/2", 20);
    let pod = node.wait_pod("init-loop initializing", 10, |p| {
        p["metadata"]["name"] == "init-loop-node1"
            && container(p, "app")["state"]["waiting"]["reason"].is_string()
    });
    assert_eq!(
        container(&pod, "app")["state"]["waiting"]["reason"],
        "PodInitializing",
        "{pod}"
    );
    wait_status(node, "init-never-node1", "Init:Error", 20);
    // A failing init container under restartPolicy Always: its exit is shown before the
    // back-off, then the back-off.
    wait_status(node, "init-loop-node1", "Init:Error", 30);
    wait_status(node, "init-loop-node1", "Init:CrashLoopBackOff", 30);
    // App containers: the last reason between the exit and the back-off wait.
    for (name, code, reason) in [("crash", 1, "Error"), ("complete", 0, "Completed")] {
        std::fs::write(
            node.dir(&format!("manifests/{name}.yaml")),
            pod_yaml(name, "", "{}").replace(
                "[\"/bin/busybox\", \"sleep\", \"3600\"]",
                &format!("[\"/bin/busybox\", \"sh\", \"-c\", \"sleep 1; exit {code}\"]"),
            ),
        )
        .unwrap();
        let pod = format!("{name}-node1");
        wait_status(node, &pod, reason, 30);
        wait_status(node, &pod, "CrashLoopBackOff", 30);
    }
    wait_status(node, "multi-node1", "Running", 20);
    let o = Command::new(node::target_bin("nodectl"))
        .arg("--socket")
        .arg(node.dir("run/nodelet.sock"))
        .args(["logs", "multi-node1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-first\n");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Defaulted container \"first\" out of: first, second\n"
    );
    let describe = node.nodectl(&["describe", "pod", "multi-node1"]);
    let reasons: Vec<&str> = describe
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        reasons.contains(&"Started") && !reasons.contains(&"Scheduled"),
        "{describe}"
    );
    finish(
        env,
        &["init-loop", "init-never", "multi", "crash", "complete"],
    );
}

/// Pod-level `spec.resources` limit the pod's cgroup.
fn pod_level_resources() {
    let env = started(node_env("nodelet-fid-plr-", "fid8", "10.244.48.0/24"), &[]);
    let node = &env.node;
    std::fs::write(
        node.dir("manifests/pod-resources.yaml"),
        pod_yaml(
            "pod-resources",
            "  resources: {limits: {cpu: 500m, memory: 64Mi}}\n",
            "{}",
        ),
    )
    .unwrap();
    let pod = node.wait_pod("pod-resources Running", 30, |p| {
        p["metadata"]["name"] == "pod-resources-node1"
            && container(p, "app")["state"]["running"].is_object()
    });
    assert_eq!(pod["status"]["qosClass"], "Guaranteed", "{pod}");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let dirs: Vec<_> = env
        .cg
        .children()
        .into_iter()
        .filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(uid))
        })
        .collect();
    let read = |names: &[&str]| -> Vec<String> {
        dirs.iter()
            .flat_map(|d| names.iter().map(move |n| d.join(n)))
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|s| s.trim().to_string())
            .collect()
    };
    assert!(
        read(&["memory.max", "memory.limit_in_bytes"]).contains(&(64u64 << 20).to_string()),
        "{dirs:?}"
    );
    assert!(
        read(&["cpu.max", "cpu.cfs_quota_us"])
            .iter()
            .any(|v| v == "50000" || v.starts_with("50000 ")),
        "{dirs:?}"
    );
    finish(env, &["pod-resources"]);
}

/// The `(reason, type, message, count)` of every event about pod `name`.
fn pod_events(node: &Node, name: &str) -> Vec<(String, String, String, u64)> {
    let v = node.api_get("/api/v1/namespaces/default/events");
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["involvedObject"]["name"] == name)
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (
                s("reason"),
                s("type"),
                s("message"),
                e["count"].as_u64().unwrap_or(1),
            )
        })
        .collect()
}

/// Events of `events` whose reason is `reason` and message contains `text`: their count.
fn count(events: &[(String, String, String, u64)], reason: &str, text: &str) -> u64 {
    events
        .iter()
        .filter(|(r, _, m, _)| r == reason && m.contains(text))
        .map(|e| e.3)
        .sum()
}

/// A failing sync is retried a worker back-off (10–15 s) later, not every tick, with one
/// event per real attempt: an image that cannot be pulled is pulled at the kubelet's pace
/// (10 s, then 20 s back-off), a Normal `BackOff` while it waits, never `Pulling` without a
/// pull; a container waiting for a missing ConfigMap is tried (and reported) every 10–15 s,
/// and starts as soon as the ConfigMap appears.
fn sync_back_off() {
    let env = node_env("nodelet-fid-sbo-", "fid9", "10.244.49.0/24");
    let env = started(env, &[]);
    let node = &env.node;
    // Nothing listens on port 1: each pull fails at once.
    std::fs::write(
        node.dir("manifests/nopull.yaml"),
        r#"apiVersion: v1
kind: Pod
metadata:
  name: nopull
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: 127.0.0.1:1/nowhere/busybox:1.0
    imagePullPolicy: Always
"#,
    )
    .unwrap();
    std::fs::write(
        node.dir("manifests/noconfig.yaml"),
        pod_yaml("noconfig", "", "{}").replace(
            "    resources: {}",
            "    resources: {}\n    env:\n    - name: K\n      valueFrom:\n        configMapKeyRef: {name: later, key: k}",
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    node.wait_pod("nopull waiting", 30, |p| {
        p["metadata"]["name"] == "nopull-node1"
            && container(p, "app")["state"]["waiting"].is_object()
    });
    std::thread::sleep(Duration::from_secs(32).saturating_sub(t0.elapsed()));
    let secs = t0.elapsed().as_secs();
    let ev = pod_events(node, "nopull-node1");
    let pulls = count(&ev, "Pulling", "Pulling image");
    let failed = count(&ev, "Failed", "Failed to pull image");
    let back_off = count(&ev, "BackOff", "Back-off pulling image");
    // Attempts at 0, ~10–15 and (back-off 20 s) ≥ 30 s; one sync every 10–15 s in between.
    assert!(
        (2..=3).contains(&pulls) && failed == pulls && (1..=3).contains(&back_off),
        "after {secs}s: {pulls} pulls, {failed} failures, {back_off} back-offs: {ev:?}"
    );
    assert!(
        ev.iter().all(|e| e.0 != "BackOff" || e.1 == "Normal")
            && count(&ev, "Failed", "Error: ErrImagePull") == pulls,
        "{ev:?}"
    );
    let ev = pod_events(node, "noconfig-node1");
    let tries = count(&ev, "Failed", r#"Error: configmap "later" not found"#);
    assert!((2..=4).contains(&tries), "after {secs}s: {ev:?}");
    // The ConfigMap appears: the container starts without waiting out the back-off.
    std::fs::write(
        node.dir("manifests/later.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\ndata: {k: v}\n",
    )
    .unwrap();
    node.wait_pod("noconfig Running", 6, |p| {
        p["metadata"]["name"] == "noconfig-node1"
            && container(p, "app")["state"]["running"].is_object()
    });
    finish(env, &["nopull", "noconfig", "later"]);
}

fn main() {
    node::run_cases(
        "fidelity_e2e",
        &[
            ("admission", admission),
            ("admission_after_restart", admission_after_restart),
            ("termination_messages", termination_messages),
            ("oom_kill_of_a_child", oom_kill_of_a_child),
            ("stop_signals", stop_signals),
            ("unknown_fields", unknown_fields),
            ("host_port", host_port),
            ("statuses_and_logs", statuses_and_logs),
            ("pod_level_resources", pod_level_resources),
            ("sync_back_off", sync_back_off),
        ],
    );
}
