//! A node that protects itself (issue 16), end to end through the real `nodelet` binary in
//! private mount and network namespaces (as pods_e2e):
//!
//! - a CNI DEL that fails once during teardown is retried: the lease is freed without a
//!   restart, and the pod's state stays until it is;
//! - an agent killed -9 during a CNI ADD leaves the plugin running; the next agent's teardown
//!   waits for it (the attachment's lock file, inherited by the plugin) and frees its lease;
//! - at start, CNI GC frees a lease no attachment of the node knows.
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
mod node;
use node::{Node, NodeEnv, procs_with};

const IMAGE: &str = "nodelet.test/busybox:1.0";

fn import_busybox(root_dir: &Path, t: &Path) {
    let file = t.join("busybox.tar");
    std::fs::write(&file, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(root_dir, &file);
}

/// The leased addresses in nodenet's data dir.
fn leases(node: &Node) -> Vec<String> {
    std::fs::read_dir(node.dir("nodenet-data/podnet"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

fn wait_until(what: &str, secs: u64, node: &Node, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; nodelet log:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Makes `cni-bin/<name>` a shell wrapper around nodenet that runs `before` first (and gives
/// nodenet its own `type`), and the node's network use it.
fn wrap_plugin(node: &Node, name: &str, before: &str) -> PathBuf {
    let w = node.dir("cni-bin").join(name);
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\n{before}\nsed 's/\"type\":\"{name}\"/\"type\":\"nodenet\"/' | {} \"$@\"\n",
            node.dir("cni-bin/nodenet").display()
        ),
    )
    .unwrap();
    node::sh(&["chmod", "755", &w.display().to_string()]);
    let conf = node.dir("net.d/10-pods.conflist");
    let c = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("\"type\":\"nodenet\"", &format!("\"type\":\"{name}\""));
    assert!(c.contains(name), "{c}");
    std::fs::write(&conf, c).unwrap();
    w
}

fn sleeper(name: &str) -> String {
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
"#
    )
}

fn running_with_ip(p: &serde_json::Value) -> bool {
    p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string()
}

fn cni_del_failing_once_is_retried() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-safety-", "sf0", "10.244.21.0/24");
    import_busybox(&node.dir("root"), &t);
    let marker = t.join("del-failed");
    wrap_plugin(
        &node,
        "flaky",
        &format!(
            "if [ \"$CNI_COMMAND\" = DEL ] && mkdir {} 2>/dev/null; then\n  cat >/dev/null\n  echo '{{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"injected DEL failure\"}}'\n  exit 1\nfi",
            marker.display()
        ),
    );
    cleanup.agent = Some(node.start("1"));
    std::fs::write(node.dir("manifests/web.yaml"), sleeper("web")).unwrap();
    node.wait_pod("web running with an IP", 60, running_with_ip);
    assert_eq!(leases(&node).len(), 1);
    std::fs::remove_file(node.dir("manifests/web.yaml")).unwrap();
    wait_until("the failed DEL", 30, &node, || marker.exists());
    // The same agent retries: the lease is freed and then the pod's state goes.
    wait_until("the lease freed by a retried DEL", 30, &node, || {
        leases(&node).is_empty()
    });
    node.wait_pod_gone(30);
    assert!(node.logs().contains("injected DEL failure"), "{}", node.logs());
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

fn cni_add_orphaned_by_a_killed_agent_is_deleted() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-safety-", "sf1", "10.244.22.0/24");
    import_busybox(&node.dir("root"), &t);
    let started = t.join("add-started");
    let w = wrap_plugin(
        &node,
        "slowadd",
        &format!(
            "if [ \"$CNI_COMMAND\" = ADD ]; then touch {}; sleep 3; fi",
            started.display()
        ),
    );
    cleanup.agent = Some(node.start("1"));
    std::fs::write(node.dir("manifests/web.yaml"), sleeper("web")).unwrap();
    wait_until("the ADD to start", 60, &node, || started.exists());
    // Killed in the middle of the ADD: the plugin lives on and will lease an address.
    let mut a = cleanup.agent.take().unwrap();
    a.kill().unwrap();
    a.wait().unwrap();
    std::fs::remove_file(node.dir("manifests/web.yaml")).unwrap();
    let wrapper = w.display().to_string();
    assert!(
        !procs_with(&wrapper).is_empty() || !leases(&node).is_empty(),
        "the orphaned ADD is still running (or has leased)"
    );
    cleanup.agent = Some(node.start("2"));
    node.wait_pod_gone(60);
    wait_until("the orphaned ADD to end", 30, &node, || {
        procs_with(&wrapper).is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        leases(&node),
        Vec::<String>::new(),
        "lease leaked; log:\n{}",
        node.logs()
    );
    let left: Vec<_> = walk_files(&node.dir("root/cni-cache"));
    assert!(left.is_empty(), "CNI cache/lock files left: {left:?}");
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

fn walk_files(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else if !p.file_name().is_some_and(|n| n == ".gc") {
            out.push(p);
        }
    }
    out
}

fn cni_gc_at_start_frees_unknown_leases() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-safety-", "sf2", "10.244.23.0/24");
    import_busybox(&node.dir("root"), &t);
    // An attachment nobody knows: nodenet ADD run by hand into a namespace of ours.
    let ns = t.join("leakns");
    std::fs::write(&ns, "").unwrap();
    node::sh(&[
        "unshare",
        &format!("--net={}", ns.display()),
        "true",
    ]);
    let conf: serde_json::Value = serde_json::from_slice(
        &std::fs::read(node.dir("net.d/10-pods.conflist")).unwrap(),
    )
    .unwrap();
    let mut plugin = conf["plugins"][0].clone();
    plugin["name"] = conf["name"].clone();
    plugin["cniVersion"] = conf["cniVersion"].clone();
    let mut child = std::process::Command::new(node.dir("cni-bin/nodenet"))
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "leaked-by-someone")
        .env("CNI_NETNS", &ns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", node.dir("cni-bin"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plugin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(leases(&node).len(), 1);
    // A pod of the node's own keeps its lease.
    std::fs::write(node.dir("manifests/web.yaml"), sleeper("web")).unwrap();
    cleanup.agent = Some(node.start("1"));
    let pod = node.wait_pod("web running with an IP", 60, running_with_ip);
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    wait_until("GC to free the unknown lease", 30, &node, || {
        leases(&node) == vec![ip.clone()]
    });
    std::fs::remove_file(node.dir("manifests/web.yaml")).unwrap();
    node.wait_pod_gone(30);
    assert!(leases(&node).is_empty());
    node::stop_agent(&mut cleanup);
    let _ = nix::mount::umount2(&ns, nix::mount::MntFlags::MNT_DETACH);
    drop(cleanup);
    drop(cg);
}

fn main() {
    node::run_cases(
        "safety_e2e",
        &[
            ("cni_del_failing_once_is_retried", cni_del_failing_once_is_retried),
            (
                "cni_add_orphaned_by_a_killed_agent_is_deleted",
                cni_add_orphaned_by_a_killed_agent_is_deleted,
            ),
            (
                "cni_gc_at_start_frees_unknown_leases",
                cni_gc_at_start_frees_unknown_leases,
            ),
        ],
    );
}
