//! Pods reading ConfigMaps and Secrets declared in the manifest directory (issue 17), on a
//! live node through the real `nodelet` binary as root in private mount and network
//! namespaces (see `node::run_cases`), checked from inside the containers with `nodectl exec`:
//!
//! - env and volumes: `env.valueFrom.configMapKeyRef`/`secretKeyRef`, `envFrom` with a
//!   prefix, a configMap volume with items and modes, a subPath of one, a secret volume
//!   (defaultMode), a projected volume (configMap, secret, downwardAPI); then the ConfigMap
//!   is edited in its file: the mounted files change inside the running container (no
//!   restart), the env and the subPath file do not; a label edit reaches the projected
//!   downward API file; after an agent restart the adopted pod's
//!   volumes are kept (one tmpfs) and still follow edits.
//! - waiting: a pod whose ConfigMap is missing stays ContainerCreating with the kubelet's
//!   FailedMount event and starts once the ConfigMap is added; a missing key is
//!   `CreateContainerConfigError` with the kubelet's message until the key is added, and so
//!   is a missing `envFrom` ConfigMap until it is added.
//! - immutable: editing the data of an `immutable: true` ConfigMap is refused (the file's
//!   error names the field) and the pod keeps the old files.
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{Node, NodeEnv, container};

const IMAGE: &str = "nodelet.test/busybox:1.0";

fn node_env(prefix: &str, bridge: &str, subnet: &str) -> NodeEnv {
    let env = NodeEnv::nodenet(prefix, bridge, subnet);
    let file = env.t.join("busybox.tar");
    std::fs::write(&file, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(&env.node.dir("root"), &file);
    env
}

fn started(mut env: NodeEnv) -> NodeEnv {
    env.cleanup.agent = Some(env.node.start_with("1", &[]));
    env
}

/// Removes the manifests, waits for the pods to be torn down (no volume mount left), stops
/// the agent.
fn finish(mut env: NodeEnv, manifests: &[&str]) {
    for f in manifests {
        std::fs::remove_file(env.node.dir(&format!("manifests/{f}.yaml"))).unwrap();
    }
    env.node.wait_pod_gone(30);
    let left = node::mounts_under(&env.node.dir("root"));
    assert!(left.is_empty(), "mounts left: {left:?}");
    node::stop_agent(&mut env.cleanup);
}

/// `nodectl args` against `node`: (success, stdout, stderr).
fn nodectl(node: &Node, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(node::target_bin("nodectl"))
        .arg("--socket")
        .arg(node.dir("run/nodelet.sock"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// stdout of `busybox args...` run in pod `pod` (its first container).
fn exec(node: &Node, pod: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", pod, "--", "/bin/busybox"];
    all.extend_from_slice(args);
    let (ok, out, err) = nodectl(node, &all);
    assert!(ok, "exec {args:?} in {pod}: {err}");
    out.trim_end().to_string()
}

/// Waits until `busybox args...` in `pod` prints `want` (an exec may fail meanwhile: an
/// agent that has just started does not know the pod yet).
fn wait_exec(node: &Node, pod: &str, args: &[&str], want: &str, secs: u64) {
    let t = Instant::now();
    let mut all = vec!["exec", pod, "--", "/bin/busybox"];
    all.extend_from_slice(args);
    loop {
        let (_, out, err) = nodectl(node, &all);
        let got = out.trim_end().to_string() + &err;
        if got == want {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{args:?} in {pod}: {got:?}, want {want:?}\nlog:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of `var` in pod `pod`'s container environment (busybox has no `printenv`).
fn env_var(node: &Node, pod: &str, var: &str) -> String {
    let script = format!("echo \"${{{var}}}\"");
    exec(node, pod, &["sh", "-c", &script])
}

fn is(p: &Value, name: &str) -> bool {
    p["metadata"]["name"] == name
}

fn running(p: &Value, pod: &str) -> bool {
    is(p, pod) && container(p, "app")["state"]["running"].is_object()
}

fn describe(node: &Node, pod: &str) -> String {
    let (ok, out, err) = nodectl(node, &["describe", "pod", pod]);
    assert!(ok, "describe {pod}: {err}");
    out
}

fn wait_describe(node: &Node, pod: &str, want: &str, secs: u64) {
    let t = Instant::now();
    loop {
        // Until the agent answers and the pod is known, describe fails.
        let (_, d, err) = nodectl(node, &["describe", "pod", pod]);
        if d.contains(want) {
            return;
        }
        let d = d + &err;
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "describe {pod} lacks {want:?}:\n{d}\nlog:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn config_yaml(color: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  color: {color}
  size: L
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
type: Opaque
data:
  pass: czNjcmV0
stringData:
  user: admin
"#
    )
}

fn write(node: &Node, file: &str, text: &str) {
    // Written beside and renamed: the source never reads half a file.
    let tmp = node.dir(&format!("{file}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, node.dir(&format!("manifests/{file}.yaml"))).unwrap();
}

/// The pod reading ConfigMap `app-config` and Secret `app-secret` every way; `labels`: more
/// labels (`, k: v`). Modes in octal, as the documentation writes them (YAML 1.1 octal, as
/// Kubernetes reads them).
fn reader_yaml(labels: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: reader
  labels: {{app: reader{labels}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    env:
    - name: COLOR
      valueFrom: {{configMapKeyRef: {{name: app-config, key: color}}}}
    - name: USER_NAME
      valueFrom: {{secretKeyRef: {{name: app-secret, key: user}}}}
    envFrom:
    - configMapRef: {{name: app-config}}
      prefix: CFG_
    - secretRef: {{name: app-secret}}
    volumeMounts:
    - {{name: cfg, mountPath: /etc/cfg}}
    - {{name: cfg, mountPath: /etc/color, subPath: conf/color.txt}}
    - {{name: sec, mountPath: /etc/sec}}
    - {{name: all, mountPath: /etc/all}}
  volumes:
  - name: cfg
    configMap:
      name: app-config
      defaultMode: 0640
      items:
      - {{key: color, path: conf/color.txt, mode: 0400}}
      - {{key: size, path: size}}
  - name: sec
    secret: {{secretName: app-secret, defaultMode: 0400}}
  - name: all
    projected:
      defaultMode: 0440
      sources:
      - configMap: {{name: app-config, items: [{{key: color, path: color}}]}}
      - secret: {{name: app-secret, items: [{{key: user, path: user}}]}}
      - downwardAPI: {{items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]}}
"#
    )
}

/// env, envFrom, configMap/secret/projected volumes, then an update of the ConfigMap.
fn env_and_volumes() {
    let env = started(node_env("nodelet-cfg-vol-", "cfg0", "10.244.60.0/24"));
    let node = &env.node;
    write(node, "config", &config_yaml("blue"));
    write(node, "reader", &reader_yaml(""));
    let pod = node.wait_pod("reader Running", 60, |p| running(p, "reader-node1"));
    let id = container(&pod, "app")["containerID"].clone();
    let r = "reader-node1";
    assert_eq!(env_var(node, r, "COLOR"), "blue");
    assert_eq!(env_var(node, r, "USER_NAME"), "admin");
    assert_eq!(env_var(node, r, "CFG_color"), "blue");
    assert_eq!(env_var(node, r, "CFG_size"), "L");
    assert_eq!(env_var(node, r, "pass"), "s3cret");
    assert_eq!(exec(node, r, &["cat", "/etc/cfg/conf/color.txt"]), "blue");
    assert_eq!(
        exec(
            node,
            r,
            &["stat", "-L", "-c", "%a", "/etc/cfg/conf/color.txt"]
        ),
        "400"
    );
    assert_eq!(
        exec(node, r, &["stat", "-L", "-c", "%a", "/etc/cfg/size"]),
        "640"
    );
    assert_eq!(exec(node, r, &["readlink", "/etc/cfg/size"]), "..data/size");
    assert_eq!(exec(node, r, &["cat", "/etc/color"]), "blue");
    assert_eq!(exec(node, r, &["cat", "/etc/sec/pass"]), "s3cret");
    assert_eq!(
        exec(node, r, &["stat", "-L", "-c", "%a", "/etc/sec/user"]),
        "400"
    );
    assert_eq!(exec(node, r, &["cat", "/etc/all/user"]), "admin");
    assert_eq!(exec(node, r, &["cat", "/etc/all/labels"]), "app=\"reader\"");
    assert_eq!(
        exec(node, r, &["stat", "-L", "-c", "%a", "/etc/all/color"]),
        "440"
    );
    // Read-only, as the kubelet mounts them.
    let (ok, _, _) = nodectl(
        node,
        &["exec", r, "--", "/bin/busybox", "touch", "/etc/cfg/new"],
    );
    assert!(!ok, "configMap volume writable");
    // Secrets stay off the disk: a tmpfs on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.contains("kubernetes.io~secret/sec ") && l.contains(" - tmpfs ")),
        "{mounts}"
    );

    // The ConfigMap edited in its file: mounted files follow without a restart.
    write(node, "config", &config_yaml("red"));
    wait_exec(node, r, &["cat", "/etc/cfg/conf/color.txt"], "red", 20);
    wait_exec(node, r, &["cat", "/etc/all/color"], "red", 5);
    assert_eq!(env_var(node, r, "COLOR"), "blue", "env is not updated");
    assert_eq!(
        exec(node, r, &["cat", "/etc/color"]),
        "blue",
        "subPath not updated"
    );
    let pod = node.wait_pod("reader", 5, |p| is(p, r));
    assert_eq!(container(&pod, "app")["containerID"], id, "no restart");
    assert_eq!(container(&pod, "app")["restartCount"], 0);

    // A label edited in the manifest (the same pod): the downward API file follows.
    write(node, "reader", &reader_yaml(", tier: web"));
    wait_exec(
        node,
        r,
        &["cat", "/etc/all/labels"],
        "app=\"reader\"\ntier=\"web\"",
        30,
    );

    // A restarted agent adopts the pod with its volumes (no second tmpfs) and keeps them
    // current.
    let mut env = env;
    node::stop_agent(&mut env.cleanup);
    env.cleanup.agent = Some(env.node.start_with("2", &[]));
    let node = &env.node;
    write(node, "config", &config_yaml("green"));
    wait_exec(node, r, &["cat", "/etc/cfg/conf/color.txt"], "green", 30);
    let pod = node.wait_pod("reader", 5, |p| is(p, r));
    assert_eq!(
        container(&pod, "app")["containerID"],
        id,
        "adopted, not restarted"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(
        mounts
            .lines()
            .filter(|l| l.contains("kubernetes.io~secret/sec "))
            .count(),
        1,
        "{mounts}"
    );
    finish(env, &["reader", "config"]);
}

/// Pods wait for missing objects and keys, and start once they appear.
fn waiting_for_objects() {
    let env = started(node_env("nodelet-cfg-wait-", "cfg1", "10.244.61.0/24"));
    let node = &env.node;
    let pod = |name: &str, extra: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
{extra}"#
        )
    };
    write(
        node,
        "late",
        &pod(
            "late",
            "    volumeMounts: [{name: cfg, mountPath: /etc/cfg}]\n  volumes:\n  - name: cfg\n    configMap: {name: late-config}\n",
        ),
    );
    write(
        node,
        "keyless",
        &pod(
            "keyless",
            "    env:\n    - name: MODE\n      valueFrom: {configMapKeyRef: {name: keys, key: mode}}\n",
        ),
    );
    write(
        node,
        "envfrom",
        &pod(
            "envfrom",
            "    envFrom:\n    - configMapRef: {name: late-config}\n      prefix: LATE_\n",
        ),
    );
    write(
        node,
        "keys",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keys\ndata:\n  other: x\n",
    );
    // The missing ConfigMap: ContainerCreating, the kubelet's FailedMount event.
    wait_describe(
        node,
        "late-node1",
        "MountVolume.SetUp failed for volume \"cfg\" : configmap \"late-config\" not found",
        30,
    );
    let p = node.wait_pod("late", 5, |p| is(p, "late-node1"));
    assert_eq!(
        container(&p, "app")["state"]["waiting"]["reason"],
        "ContainerCreating",
        "{p}"
    );
    // The missing key: CreateContainerConfigError with the kubelet's message.
    let p = node.wait_pod("keyless waiting", 30, |p| {
        is(p, "keyless-node1")
            && container(p, "app")["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    });
    assert_eq!(
        container(&p, "app")["state"]["waiting"]["message"],
        "couldn't find key mode in ConfigMap default/keys",
        "{p}"
    );
    let d = describe(node, "keyless-node1");
    assert!(
        d.contains("Failed")
            && d.contains("Error: couldn't find key mode in ConfigMap default/keys"),
        "{d}"
    );
    // A missing envFrom object: CreateContainerConfigError too.
    let p = node.wait_pod("envfrom waiting", 30, |p| {
        is(p, "envfrom-node1")
            && container(p, "app")["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    });
    assert_eq!(
        container(&p, "app")["state"]["waiting"]["message"],
        "configmap \"late-config\" not found",
        "{p}"
    );
    // Both appear: the pods start.
    write(
        node,
        "keys",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keys\ndata:\n  other: x\n  mode: fast\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late-config\ndata:\n  hello: world\n",
    );
    node.wait_pod("late Running", 30, |p| running(p, "late-node1"));
    node.wait_pod("keyless Running", 30, |p| running(p, "keyless-node1"));
    node.wait_pod("envfrom Running", 30, |p| running(p, "envfrom-node1"));
    assert_eq!(env_var(node, "envfrom-node1", "LATE_hello"), "world");
    assert_eq!(
        exec(node, "late-node1", &["cat", "/etc/cfg/hello"]),
        "world"
    );
    assert_eq!(env_var(node, "keyless-node1", "MODE"), "fast");
    finish(env, &["late", "keyless", "envfrom", "keys"]);
}

/// An immutable ConfigMap's data cannot be edited.
fn immutable() {
    let env = started(node_env("nodelet-cfg-imm-", "cfg2", "10.244.62.0/24"));
    let node = &env.node;
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  v: {v}\n"
        )
    };
    write(node, "frozen", &cm("one"));
    write(
        node,
        "holder",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: holder
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    volumeMounts: [{{name: f, mountPath: /etc/f}}]
  volumes:
  - name: f
    configMap: {{name: frozen}}
"#
        ),
    );
    node.wait_pod("holder Running", 60, |p| running(p, "holder-node1"));
    assert_eq!(exec(node, "holder-node1", &["cat", "/etc/f/v"]), "one");
    write(node, "frozen", &cm("two"));
    let t = Instant::now();
    let want = "data: Forbidden: field is immutable when `immutable` is set";
    while !node.logs().contains(want) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no error: {}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(node.logs().contains("frozen.yaml"), "{}", node.logs());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(exec(node, "holder-node1", &["cat", "/etc/f/v"]), "one");
    finish(env, &["holder", "frozen"]);
}

fn main() {
    node::run_cases(
        "config_e2e",
        &[
            ("env_and_volumes", env_and_volumes),
            ("waiting_for_objects", waiting_for_objects),
            ("immutable", immutable),
        ],
    );
}
