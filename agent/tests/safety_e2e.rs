//! A node that protects itself (issue 16), end to end through the real `nodelet` binary in
//! private mount and network namespaces (as pods_e2e):
//!
//! - a CNI DEL that fails once during teardown is retried: the lease is freed without a
//!   restart, and the pod's state stays until it is;
//! - an agent killed -9 during a CNI ADD leaves the plugin running; the next agent's teardown
//!   waits for it (the attachment's lock file, inherited by the plugin) and frees its lease;
//! - at start, CNI GC frees a lease no attachment of the node knows;
//! - a fork bomb in one pod is held by `podPidsLimit` (the node's pids capped below the
//!   test's cgroup): the neighbour's exec readiness probe keeps passing, new pods start;
//! - ten manifests with a 3.9 MB invalid `metadata.name` make bounded log lines and RSS;
//! - a crash-looping container's back-off is kept across a nodelet restart;
//! - an agent killed mid-teardown: the next one finishes it rather than adopting the pod.
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
mod node;
use node::{Cleanup, Node, NodeEnv, TestCgroup, procs_with};

const IMAGE: &str = "nodelet.test/busybox:1.0";

/// A node with nodenet on `bridge`/`subnet` (and the busybox image if `busybox`): node,
/// cleanup guard, test cgroup, temp dir path and the temp dir (dropped last).
fn env(
    bridge: &str,
    subnet: &str,
    busybox: bool,
) -> (Node, Cleanup, TestCgroup, PathBuf, tempfile::TempDir) {
    let e = NodeEnv::nodenet("nodelet-safety-", bridge, subnet);
    if busybox {
        let file = e.t.join("busybox.tar");
        std::fs::write(&file, common::busybox_archive(IMAGE)).unwrap();
        node::import_archive(&e.node.dir("root"), &file);
    }
    (e.node, e.cleanup, e.cg, e.t, e.tmp)
}

/// SIGTERM to the agent (it must exit 0), then the leftovers' cleanup, then the cgroup.
fn finish(mut cleanup: Cleanup, cg: TestCgroup) {
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
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

/// Makes `cni-bin/<name>` a shell wrapper around nodenet (giving it its own `type`) that runs
/// `before` first and `after` once nodenet has done its work, before passing its output on;
/// and the node's network use it.
fn wrap_plugin(node: &Node, name: &str, before: &str, after: &str) -> PathBuf {
    let w = node.dir("cni-bin").join(name);
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\n{before}\nout=$(sed 's/\"type\":\"{name}\"/\"type\":\"nodenet\"/' | {} \"$@\")\nrc=$?\n{after}\nprintf '%s\\n' \"$out\"\nexit $rc\n",
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
    let (node, mut cleanup, cg, t, _tmp) = env("sf0", "10.244.21.0/24", true);
    let marker = t.join("del-failed");
    wrap_plugin(
        &node,
        "flaky",
        &format!(
            "if [ \"$CNI_COMMAND\" = DEL ] && mkdir {} 2>/dev/null; then\n  cat >/dev/null\n  echo '{{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"injected DEL failure\"}}'\n  exit 1\nfi",
            marker.display()
        ),
        "",
    );
    cleanup.agent = Some(node.start("1"));
    std::fs::write(node.dir("manifests/web.yaml"), sleeper("web")).unwrap();
    node.wait_pod("web running with an IP", 60, running_with_ip);
    assert_eq!(leases(&node).len(), 1);
    std::fs::remove_file(node.dir("manifests/web.yaml")).unwrap();
    node.wait_until("the failed DEL", 30, || marker.exists());
    // The same agent retries: the lease is freed and then the pod's state goes.
    node.wait_until("the lease freed by a retried DEL", 30, || {
        leases(&node).is_empty()
    });
    node.wait_pod_gone(30);
    assert!(
        node.logs().contains("injected DEL failure"),
        "{}",
        node.logs()
    );
    finish(cleanup, cg);
}

fn cni_add_orphaned_by_a_killed_agent_is_deleted() {
    let (node, mut cleanup, cg, t, _tmp) = env("sf1", "10.244.22.0/24", true);
    let started = t.join("add-started");
    // The ADD has leased and wired everything, then is slow to answer (a loaded node).
    let w = wrap_plugin(
        &node,
        "slowadd",
        "",
        &format!(
            "if [ \"$CNI_COMMAND\" = ADD ]; then touch {}; sleep 3; fi",
            started.display()
        ),
    );
    cleanup.agent = Some(node.start("1"));
    std::fs::write(node.dir("manifests/web.yaml"), sleeper("web")).unwrap();
    node.wait_until("the ADD to start", 60, || started.exists());
    // Killed in the middle of the ADD: the plugin lives on and will lease an address.
    let mut a = cleanup.agent.take().unwrap();
    a.kill().unwrap();
    a.wait().unwrap();
    std::fs::remove_file(node.dir("manifests/web.yaml")).unwrap();
    let wrapper = w.display().to_string();
    assert_eq!(leases(&node).len(), 1, "the orphaned ADD has leased");
    assert!(
        !procs_with(&wrapper).is_empty(),
        "the orphaned ADD is still running"
    );
    cleanup.agent = Some(node.start("2"));
    node.wait_pod_gone(60);
    node.wait_until("the orphaned ADD to end", 30, || {
        procs_with(&wrapper).is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        leases(&node),
        Vec::<String>::new(),
        "lease leaked; log:\n{}",
        node.logs()
    );
    let left = node::cni_cache_left(&node.dir("root/cni-cache"));
    assert!(left.is_empty(), "CNI cache/lock files left: {left:?}");
    finish(cleanup, cg);
}

fn cni_gc_at_start_frees_unknown_leases() {
    let (node, mut cleanup, cg, t, _tmp) = env("sf2", "10.244.23.0/24", true);
    // An attachment nobody knows: nodenet ADD run by hand into a namespace of ours.
    let ns = t.join("leakns");
    std::fs::write(&ns, "").unwrap();
    node::sh(&["unshare", &format!("--net={}", ns.display()), "true"]);
    let conf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.dir("net.d/10-pods.conflist")).unwrap())
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(leases(&node).len(), 1);
    // A pod of the node's own keeps its lease.
    std::fs::write(node.dir("manifests/web.yaml"), sleeper("web")).unwrap();
    cleanup.agent = Some(node.start("1"));
    let pod = node.wait_pod("web running with an IP", 60, running_with_ip);
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    node.wait_until("GC to free the unknown lease", 30, || {
        leases(&node) == vec![ip.clone()]
    });
    std::fs::remove_file(node.dir("manifests/web.yaml")).unwrap();
    node.wait_pod_gone(30);
    assert!(leases(&node).is_empty());
    let _ = nix::mount::umount2(&ns, nix::mount::MntFlags::MNT_DETACH);
    finish(cleanup, cg);
}

/// The directory named `name` somewhere below `d`.
fn find_dir(d: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if e.file_name().to_string_lossy() == name {
            return Some(p);
        }
        if let Some(x) = find_dir(&p, name) {
            return Some(x);
        }
    }
    None
}

fn ready(p: &serde_json::Value) -> bool {
    node::container(p, "app")["ready"] == true
}

fn fork_bomb_is_held_by_pod_pids_limit() {
    let (node, mut cleanup, cg, _t, _tmp) = env("sf3", "10.244.24.0/24", true);
    // The node's whole pids budget, capped below the test's own cgroup: whatever happens,
    // nothing of this test can take the shared machine's pids.
    let pids_dir = cg
        .cg
        .dir_for("pids")
        .expect("a pids controller")
        .to_path_buf();
    std::fs::write(pids_dir.join("pids.max"), "400").unwrap();
    cleanup.agent = Some(node.start_with("1", &["--pod-max-pids", "64"]));
    std::fs::write(
        node.dir("manifests/healthy.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: healthy
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    readinessProbe:
      exec: {{command: ["/bin/busybox", "true"]}}
      periodSeconds: 1
      failureThreshold: 1
"#
        ),
    )
    .unwrap();
    let h = node.wait_pod("healthy ready", 60, |p| {
        p["metadata"]["name"] == "healthy-node1" && ready(p)
    });
    let _ = h;
    std::fs::write(
        node.dir("manifests/bomb.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: bomb
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "while true; do /bin/busybox sleep 1000 & done"]
    resources: {{limits: {{cpu: 500m}}}}
"#
        ),
    )
    .unwrap();
    let bomb = node.wait_pod("bomb running", 60, |p| {
        p["metadata"]["name"] == "bomb-node1" && p["status"]["phase"] == "Running"
    });
    let uid = bomb["metadata"]["uid"].as_str().unwrap().to_string();
    let pod_cg = find_dir(&pids_dir, &format!("pod{uid}")).expect("the bomb's pod cgroup");
    let read = |f: &str| {
        std::fs::read_to_string(pod_cg.join(f))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(read("pids.max"), "64");
    // Held by the limit: forks refused (`max` in pids.events of the pod cgroup or, on older
    // kernels, of the container's cgroup below it). busybox sh exits when a fork fails, so
    // the bomb then crash-loops, bombing again at each restart.
    let refused = || {
        let out = std::process::Command::new("find")
            .arg(&pod_cg)
            .args(["-name", "pids.events", "-exec", "cat", "{}", ";"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("max "))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .sum::<u64>()
    };
    node.wait_until("the bomb to hit its pids limit", 90, || refused() > 0);
    // While it keeps forking, the neighbour's exec probe (a noderun exec each second) keeps
    // passing, and a new pod still starts.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(8) {
        let h = node
            .pods()
            .into_iter()
            .find(|p| p["metadata"]["name"] == "healthy-node1")
            .unwrap();
        assert!(
            ready(&h),
            "the neighbour lost readiness: {:#}\n{}",
            h["status"],
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::fs::write(node.dir("manifests/late.yaml"), sleeper("late")).unwrap();
    node.wait_pod("a pod started after the bomb", 60, |p| {
        p["metadata"]["name"] == "late-node1" && p["status"]["phase"] == "Running"
    });
    assert!(read("pids.current").parse::<u32>().unwrap_or(99) <= 64);
    for m in ["healthy", "bomb", "late"] {
        std::fs::remove_file(node.dir(&format!("manifests/{m}.yaml"))).unwrap();
    }
    node.wait_pod_gone(60);
    finish(cleanup, cg);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn huge_invalid_names_make_bounded_logs_and_memory() {
    let (node, mut cleanup, cg, t, _tmp) = env("sf4", "10.244.25.0/24", false);
    cleanup.agent = Some(node.start("1"));
    let pid = cleanup.agent.as_ref().unwrap().id();
    node.wait_until("the API socket", 30, || {
        node.dir("run/nodelet.sock").exists()
    });
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(pid);
    let files = 10;
    let name = format!("Bad_{}", "x".repeat(3_900_000));
    for i in 0..files {
        let tmp = t.join(format!("big{i}.yaml"));
        std::fs::write(
            &tmp,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: a, image: busybox}}]}}\n"
            ),
        )
        .unwrap();
        std::fs::rename(&tmp, node.dir(&format!("manifests/big{i}.yaml"))).unwrap();
    }
    node.wait_until("every file reported invalid", 60, || {
        node.logs().matches("invalid static pod manifest").count() >= files
    });
    // The heap is trimmed every 5 s (memory.rs).
    std::thread::sleep(Duration::from_secs(6));
    let after = rss_kib(pid);
    let logs = node.logs();
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 16 * 1024, "a {longest}-byte log line");
    assert!(
        logs.contains(&format!("… ({} bytes)", name.len() + 2)),
        "the cut is said"
    );
    assert!(
        after < before + 40 * 1024,
        "RSS grew from {before} KiB to {after} KiB for {files} invalid files"
    );
    finish(cleanup, cg);
}

fn crash_loop_back_off_survives_an_agent_restart() {
    let (node, mut cleanup, cg, t, _tmp) = env("sf5", "10.244.26.0/24", true);
    let backoff = [
        "--crash-loop-back-off-initial",
        "8s",
        "--crash-loop-back-off-max",
        "16s",
    ];
    let starts_dir = t.join("starts");
    std::fs::create_dir_all(&starts_dir).unwrap();
    let starts = || {
        std::fs::read_to_string(starts_dir.join("log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    cleanup.agent = Some(node.start_with("1", &backoff));
    std::fs::write(
        node.dir("manifests/crash.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: crash
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo x >> /starts/log; exit 1"]
    volumeMounts: [{{name: s, mountPath: /starts}}]
  volumes:
  - name: s
    hostPath: {{path: {}}}
"#,
            starts_dir.display()
        ),
    )
    .unwrap();
    // Crash 1 → restarted at once; crash 2 → CrashLoopBackOff, 8 s.
    node.wait_pod("crash in CrashLoopBackOff after a restart", 60, |p| {
        let c = node::container(p, "app");
        c["restartCount"] == 1 && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    assert_eq!(starts(), 2);
    let mut a = cleanup.agent.take().unwrap();
    a.kill().unwrap();
    a.wait().unwrap();
    let t0 = Instant::now();
    cleanup.agent = Some(node.start_with("2", &backoff));
    // The new agent adopts the pod and keeps waiting out the back-off.
    while t0.elapsed() < Duration::from_secs(4) {
        assert_eq!(
            starts(),
            2,
            "restarted without back-off after the agent restart; log:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // ... and restarts once it is over.
    node.wait_until("the restart after the back-off", 20, || starts() >= 3);
    std::fs::remove_file(node.dir("manifests/crash.yaml")).unwrap();
    node.wait_pod_gone(30);
    finish(cleanup, cg);
}

/// An agent killed -9 in the middle of a pod's teardown (one container stopped, the other in
/// its grace period) while the manifest comes back unchanged (same UID): the next agent
/// finishes the teardown and starts the pod anew — nothing restarted, as for a new pod — and
/// never adopts the half-stopped one (which would restart the stopped container).
fn a_teardown_cut_short_is_finished_not_adopted() {
    let (node, mut cleanup, cg, _t, _tmp) = env("sf6", "10.244.27.0/24", true);
    cleanup.agent = Some(node.start("1"));
    let manifest = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: twice
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: quick
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do /bin/busybox sleep 1; done"]
  - name: stubborn
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "trap '' TERM; while true; do /bin/busybox sleep 1; done"]
"#
    );
    let file = node.dir("manifests/twice.yaml");
    std::fs::write(&file, &manifest).unwrap();
    let running = |p: &serde_json::Value| {
        p["metadata"]["name"] == "twice-node1"
            && ["quick", "stubborn"]
                .iter()
                .all(|c| node::container(p, c)["state"]["running"].is_object())
    };
    let first = node.wait_pod("twice running", 60, running);
    let uid = first["metadata"]["uid"].as_str().unwrap().to_string();
    let started = |p: &serde_json::Value, c: &str| {
        node::container(p, c)["state"]["running"]["startedAt"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let first_start = started(&first, "quick");
    std::fs::remove_file(&file).unwrap();
    // The teardown began: `quick` has ended, `stubborn` waits out its 30 s grace period.
    node.wait_until("the teardown to begin", 30, || {
        node.logs().contains("Stopping container quick")
    });
    std::thread::sleep(Duration::from_secs(3));
    node::kill_agent(&mut cleanup);
    std::fs::write(&file, &manifest).unwrap();
    cleanup.agent = Some(node.start("2"));
    // (status.json is the last agent's until the pod is synced again: wait for a new start.)
    let again = node.wait_pod("twice running again", 60, |p| {
        running(p) && started(p, "quick") != first_start
    });
    assert_eq!(again["metadata"]["uid"], uid.as_str(), "{again}");
    for c in ["quick", "stubborn"] {
        assert_eq!(
            node::container(&again, c)["restartCount"],
            0,
            "{c} restarted: {again}\nlog:\n{}",
            node.logs()
        );
    }
    assert_ne!(
        started(&again, "stubborn"),
        first_start,
        "the half-stopped pod was adopted: {again}"
    );
    std::fs::remove_file(&file).unwrap();
    node.wait_pod_gone(60);
    finish(cleanup, cg);
}

fn main() {
    node::run_cases(
        "safety_e2e",
        &[
            (
                "cni_del_failing_once_is_retried",
                cni_del_failing_once_is_retried,
            ),
            (
                "cni_add_orphaned_by_a_killed_agent_is_deleted",
                cni_add_orphaned_by_a_killed_agent_is_deleted,
            ),
            (
                "cni_gc_at_start_frees_unknown_leases",
                cni_gc_at_start_frees_unknown_leases,
            ),
            (
                "fork_bomb_is_held_by_pod_pids_limit",
                fork_bomb_is_held_by_pod_pids_limit,
            ),
            (
                "huge_invalid_names_make_bounded_logs_and_memory",
                huge_invalid_names_make_bounded_logs_and_memory,
            ),
            (
                "a_teardown_cut_short_is_finished_not_adopted",
                a_teardown_cut_short_is_finished_not_adopted,
            ),
            (
                "crash_loop_back_off_survives_an_agent_restart",
                crash_loop_back_off_survives_an_agent_restart,
            ),
        ],
    );
}
