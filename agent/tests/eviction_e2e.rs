//! The eviction manager (issue 16 items 2 and 3), end to end through the real `nodelet`
//! binary in private mount and network namespaces (as pods_e2e):
//!
//! - local storage limits: an emptyDir with `sizeLimit: 5Mi` filled with 20 MB, and a
//!   container over its `ephemeral-storage` limit, are evicted (phase Failed, reason
//!   `Evicted`, the kubelet's message, a Warning `Evicted` event, STATUS `Evicted`, their
//!   storage freed); a static pod doing the same is critical and keeps running;
//! - memory pressure (`allocatableMemory.available`, with systemReserved leaving 400 MiB
//!   allocatable): of a BestEffort pod filling a memory-backed emptyDir and a Guaranteed pod,
//!   the BestEffort one is evicted; the Node shows MemoryPressure, and a new BestEffort pod is
//!   refused (`The node had condition: [MemoryPressure]. `) while a Burstable one starts;
//!   systemReserved `pid` lowers the pods' cgroup's `pids.max`;
//! - a soft threshold (`evictionSoft` with a 25 s `evictionSoftGracePeriod`): MemoryPressure
//!   at once, the eviction only after the grace period;
//! - disk pressure on a 120 MiB tmpfs root dir: unused images are deleted first (no pod
//!   evicted), then, with no image left to delete, the pod filling the disk is evicted and the
//!   Node shows DiskPressure; the static pod stays.
//!
//! Pods the eviction manager may evict are made as the API makes them (annotation
//! `nodelet.io/append-node-name: "false"`, hence `kubernetes.io/config.source: api`).
//!
//! `harness = false`: the namespaces are entered before any thread exists.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{Cleanup, Node, NodeEnv, TestCgroup};

const IMAGE: &str = "nodelet.test/busybox:1.0";
const FILLER: &str = "nodelet.test/filler:1.0";

fn env(bridge: &str, subnet: &str) -> (Node, Cleanup, TestCgroup, PathBuf, tempfile::TempDir) {
    let e = NodeEnv::nodenet("nodelet-eviction-", bridge, subnet);
    (e.node, e.cleanup, e.cg, e.t, e.tmp)
}

fn import(node: &Node, tag: &str, archive: Vec<u8>) {
    let file = node.t.join(format!("{}.tar", tag.replace(['/', ':'], "_")));
    std::fs::write(&file, archive).unwrap();
    node::import_archive(&node.dir("root"), &file);
}

/// SIGTERM to the agent (it must exit 0), then the leftovers' cleanup, then the cgroup.
fn finish(mut cleanup: Cleanup, cg: TestCgroup) {
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

/// A pod manifest; `api`: made as the API makes pods (evictable), else a static pod.
fn pod(name: &str, api: bool, script: &str, resources: &str, volumes: &str) -> String {
    let annotations = if api {
        "  annotations:\n    nodelet.io/append-node-name: \"false\"\n"
    } else {
        ""
    };
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
{annotations}spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", {script:?}]
{resources}{volumes}"#
    )
}

fn write_manifest(node: &Node, name: &str, text: &str) {
    let tmp = node.dir("manifests").join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, node.dir("manifests").join(format!("{name}.yaml"))).unwrap();
}

fn named<'a>(name: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |p: &Value| {
        let n = p["metadata"]["name"].as_str().unwrap_or_default();
        n == name || n == format!("{name}-node1")
    }
}

fn phase_of(node: &Node, name: &str) -> Option<Value> {
    node.pods().into_iter().find(|p| named(name)(p))
}

fn running(node: &Node, name: &str) -> bool {
    phase_of(node, name).is_some_and(|p| {
        p["status"]["phase"] == "Running"
            && p["status"]["containerStatuses"][0]["state"]["running"].is_object()
    })
}

fn evicted(node: &Node, name: &str, secs: u64) -> Value {
    node.wait_pod(&format!("{name} evicted"), secs, |p| {
        named(name)(p) && p["status"]["phase"] == "Failed"
    })
}

fn nodectl(node: &Node, args: &[&str]) -> String {
    let out = Command::new(node::target_bin("nodectl"))
        .args(args)
        .env("NODELET_SOCKET", node.dir("run/nodelet.sock"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `path` of the node's API (JSON).
fn api_get(node: &Node, path: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sf", "--unix-socket"])
        .arg(node.dir("run/nodelet.sock"))
        .arg(format!("http://localhost{path}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The Node object as the API serves it.
fn node_object(node: &Node) -> Value {
    api_get(node, "/api/v1/nodes/node1")
}

fn condition(n: &Value, t: &str) -> Value {
    n["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == t)
        .cloned()
        .unwrap_or(Value::Null)
}

fn uid(p: &Value) -> String {
    p["metadata"]["uid"].as_str().unwrap().to_string()
}

fn empty_dir(node: &Node, uid: &str, name: &str) -> PathBuf {
    node.dir("root/pods")
        .join(uid)
        .join("volumes/kubernetes.io~empty-dir")
        .join(name)
}

fn assert_evicted(node: &Node, p: &Value, message: &str) {
    let name = p["metadata"]["name"].as_str().unwrap();
    assert_eq!(p["status"]["reason"], "Evicted", "{p:#}");
    assert_eq!(p["status"]["message"], message, "{p:#}");
    assert!(
        p["status"]["containerStatuses"][0]["state"]["terminated"].is_object(),
        "{p:#}"
    );
    let disruption = p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "DisruptionTarget")
        .unwrap_or_else(|| panic!("no DisruptionTarget condition: {p:#}"));
    assert_eq!(disruption["status"], "True");
    assert_eq!(disruption["reason"], "TerminationByKubelet");
    assert_eq!(disruption["message"], message);
    let table = nodectl(node, &["get", "pods"]);
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in\n{table}"));
    assert_eq!(row.split_whitespace().nth(2), Some("Evicted"), "{table}");
    let d = nodectl(node, &["describe", "pod", name]);
    // (columns as kubectl's tabwriter sets them: compare words)
    fn words(l: &str) -> Vec<&str> {
        l.split_whitespace().collect()
    }
    assert!(d.lines().any(|l| words(l) == ["Status:", "Failed"]), "{d}");
    assert!(d.lines().any(|l| words(l) == ["Reason:", "Evicted"]), "{d}");
    assert!(
        d.lines()
            .any(|l| l.contains("Warning") && l.contains("Evicted") && l.contains(message.trim())),
        "no Evicted event in\n{d}"
    );
}

fn local_storage_limits_evict() {
    let (node, mut cleanup, cg, _t, _tmp) = env("ev0", "10.244.71.0/24");
    import(&node, IMAGE, common::busybox_archive(IMAGE));
    let sized = "  volumes:\n  - name: cache\n    emptyDir:\n      sizeLimit: 5Mi\n";
    let mount = "    volumeMounts:\n    - name: cache\n      mountPath: /cache\n";
    let fill = |mb: u32| {
        format!("dd if=/dev/zero of=/cache/fill bs=1M count={mb} 2>/dev/null; exec sleep 3600")
    };
    write_manifest(
        &node,
        "cache-hog",
        &pod("cache-hog", true, &fill(20), mount, sized),
    );
    write_manifest(&node, "quiet", &pod("quiet", true, &fill(1), mount, sized));
    write_manifest(
        &node,
        "static-hog",
        &pod("static-hog", false, &fill(20), mount, sized),
    );
    // One container over its own limit: the pod's total (its only limit) is over first.
    let limited = "    resources:\n      limits:\n        ephemeral-storage: 1Mi\n";
    let write3 = "dd if=/dev/zero of=/fill bs=1M count=3 2>/dev/null; exec sleep 3600";
    write_manifest(&node, "pod-hog", &pod("pod-hog", true, write3, limited, ""));
    // Two containers: the pod is within its 11Mi, the container over its 1Mi.
    let two = pod("layer-hog", true, write3, limited, "").replace(
        "  containers:\n",
        &format!(
            "  containers:\n  - name: idle\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    resources:\n      limits:\n        ephemeral-storage: 10Mi\n"
        ),
    );
    write_manifest(&node, "layer-hog", &two);
    cleanup.agent = Some(node.start("1"));

    let p = evicted(&node, "cache-hog", 60);
    assert_evicted(
        &node,
        &p,
        "Usage of EmptyDir volume \"cache\" exceeds the limit \"5Mi\". ",
    );
    // Its storage is freed.
    assert!(!empty_dir(&node, &uid(&p), "cache").exists());
    let p = evicted(&node, "pod-hog", 60);
    assert_evicted(
        &node,
        &p,
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. ",
    );
    let p = evicted(&node, "layer-hog", 60);
    assert_evicted(
        &node,
        &p,
        "Container app exceeded its local ephemeral storage limit \"1Mi\". ",
    );
    let containers: Vec<_> = std::fs::read_dir(node.dir("root/images/containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&uid(&p)))
        .collect();
    assert!(containers.is_empty(), "writable layer left: {containers:?}");
    // One more round: the pod within its limit and the static pod stay.
    std::thread::sleep(Duration::from_secs(11));
    assert!(running(&node, "quiet"), "{:#?}", phase_of(&node, "quiet"));
    assert!(
        running(&node, "static-hog"),
        "{:#?}",
        phase_of(&node, "static-hog")
    );
    assert!(
        node.logs().contains("cannot evict a critical pod"),
        "{}",
        node.logs()
    );
    // An evicted pod stays evicted across an agent restart (its state says so).
    node::stop_agent(&mut cleanup);
    cleanup.agent = Some(node.start("2"));
    std::thread::sleep(Duration::from_secs(3));
    let p = phase_of(&node, "cache-hog").unwrap();
    assert_eq!(p["status"]["reason"], "Evicted", "{p:#}");
    for f in std::fs::read_dir(node.dir("manifests")).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    node.wait_pod_gone(60);
    finish(cleanup, cg);
}

fn mem_total() -> i64 {
    let m = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: i64 = m
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kib * 1024
}

/// The BestEffort pod `besteffort`, which fills 200 MiB of its memory-backed emptyDir once
/// told to ([`fill_memory`]).
fn write_memory_filler(node: &Node) {
    let mem = "  volumes:\n  - name: mem\n    emptyDir:\n      medium: Memory\n";
    let mount = "    volumeMounts:\n    - name: mem\n      mountPath: /mem\n";
    write_manifest(
        node,
        "besteffort",
        &pod(
            "besteffort",
            true,
            "until [ -e /mem/go ]; do sleep 0.2; done; dd if=/dev/zero of=/mem/fill bs=1M count=200 2>/dev/null; exec sleep 3600",
            mount,
            mem,
        ),
    );
}

/// Tells the running `besteffort` pod to fill its memory.
fn fill_memory(node: &Node) {
    let be = phase_of(node, "besteffort").unwrap();
    std::fs::write(empty_dir(node, &uid(&be), "mem").join("go"), "").unwrap();
}

fn memory_pressure_evicts_besteffort_first() {
    let (node, mut cleanup, cg, _t, _tmp) = env("ev1", "10.244.72.0/24");
    import(&node, IMAGE, common::busybox_archive(IMAGE));
    let reserved = format!("memory={},pid=1000", mem_total() - (400 << 20));
    let admin = node.t.join("admin.kubeconfig");
    let guaranteed = "    resources:\n      limits:\n        cpu: 100m\n        memory: 64Mi\n";
    write_manifest(
        &node,
        "guaranteed",
        &pod("guaranteed", true, "exec sleep 3600", guaranteed, ""),
    );
    // A memory-backed emptyDir counts in the pod's memory.
    write_memory_filler(&node);
    cleanup.agent = Some(node.start_with(
        "1",
        &[
            "--system-reserved",
            &reserved,
            "--eviction-hard",
            "allocatableMemory.available<250Mi",
            "--api-tcp-address",
            "127.0.0.1:16443",
            "--admin-kubeconfig",
            admin.to_str().unwrap(),
        ],
    ));
    node.wait_until("both running", 60, || {
        running(&node, "guaranteed") && running(&node, "besteffort")
    });
    // Pid reservation: the pods' cgroup (here the agent's, the test's own) holds the node's
    // pids minus the reserved 1000.
    let num = |p: &str| -> i64 { std::fs::read_to_string(p).unwrap().trim().parse().unwrap() };
    let pids = num("/proc/sys/kernel/pid_max").min(num("/proc/sys/kernel/threads-max"));
    let max: Vec<String> = cg
        .cg
        .dirs()
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.path.join("pids.max")).ok())
        .collect();
    assert_eq!(max, [format!("{}\n", pids - 1000)]);
    let n = node_object(&node);
    assert_eq!(condition(&n, "MemoryPressure")["status"], "False", "{n:#}");
    fill_memory(&node);

    let p = evicted(&node, "besteffort", 60);
    let msg = p["status"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(
            "The node was low on resource: memory. Threshold quantity: 250Mi, available: "
        ) && msg.contains("Container app was using ")
            && msg.ends_with(", request is 0, has larger consumption of memory. "),
        "{msg}"
    );
    assert_evicted(&node, &p, &msg);
    let n = node_object(&node);
    let c = condition(&n, "MemoryPressure");
    assert_eq!(c["status"], "True", "{n:#}");
    assert_eq!(c["reason"], "KubeletHasInsufficientMemory");
    assert_eq!(condition(&n, "DiskPressure")["status"], "False");
    // What kubectl shows of it.
    let kubectl = |args: &[&str]| -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&admin)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", &node.t)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let d = kubectl(&["describe", "node", "node1"]);
    assert!(
        d.lines().any(
            |l| l.split_whitespace().take(2).eq(["MemoryPressure", "True"])
                && l.contains("KubeletHasInsufficientMemory")
        ),
        "{d}"
    );
    let y = kubectl(&["get", "node", "node1", "-o", "yaml"]);
    assert!(y.contains("reason: KubeletHasInsufficientMemory"), "{y}");
    let pods = kubectl(&["get", "pods"]);
    assert!(
        pods.lines()
            .any(|l| l.starts_with("besteffort ") && l.contains(" Evicted ")),
        "{pods}"
    );
    // The Guaranteed pod stays, a round later too.
    std::thread::sleep(Duration::from_secs(11));
    assert!(
        running(&node, "guaranteed"),
        "{:#?}",
        phase_of(&node, "guaranteed")
    );
    // Under MemoryPressure, admission refuses a new BestEffort pod, not a Burstable one.
    write_manifest(
        &node,
        "late-be",
        &pod("late-be", true, "exec sleep 3600", "", ""),
    );
    let burstable = "    resources:\n      requests:\n        memory: 16Mi\n";
    write_manifest(
        &node,
        "late-burstable",
        &pod("late-burstable", true, "exec sleep 3600", burstable, ""),
    );
    // Refused pods have no pod directory: the API shows them.
    let mut p = Value::Null;
    node.wait_until("late-be refused", 30, || {
        p = api_get(&node, "/api/v1/namespaces/default/pods/late-be");
        p["status"]["phase"] == "Failed"
    });
    assert_eq!(p["status"]["reason"], "Evicted", "{p:#}");
    assert_eq!(
        p["status"]["message"],
        "The node had condition: [MemoryPressure]. "
    );
    node.wait_until("burstable running", 60, || running(&node, "late-burstable"));
    for f in std::fs::read_dir(node.dir("manifests")).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    node.wait_pod_gone(60);
    finish(cleanup, cg);
}

fn soft_threshold_waits_its_grace_period() {
    let (node, mut cleanup, cg, _t, _tmp) = env("ev3", "10.244.74.0/24");
    import(&node, IMAGE, common::busybox_archive(IMAGE));
    let reserved = format!("memory={}", mem_total() - (400 << 20));
    write_memory_filler(&node);
    cleanup.agent = Some(node.start_with(
        "1",
        &[
            "--system-reserved",
            &reserved,
            "--eviction-soft",
            "allocatableMemory.available<250Mi",
            "--eviction-soft-grace-period",
            "allocatableMemory.available=25s",
            "--eviction-max-pod-grace-period",
            "2",
        ],
    ));
    node.wait_until("running", 60, || running(&node, "besteffort"));
    fill_memory(&node);
    let t0 = Instant::now();
    // The condition comes at once; the eviction only after the grace period.
    node.wait_until("MemoryPressure", 30, || {
        condition(&node_object(&node), "MemoryPressure")["status"] == "True"
    });
    assert!(
        running(&node, "besteffort"),
        "evicted before its grace period"
    );
    let p = evicted(&node, "besteffort", 60);
    assert!(
        t0.elapsed() >= Duration::from_secs(25),
        "evicted after {:?}",
        t0.elapsed()
    );
    let msg = p["status"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("The node was low on resource: memory. Threshold quantity: 250Mi, "),
        "{msg}"
    );
    for f in std::fs::read_dir(node.dir("manifests")).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    node.wait_pod_gone(60);
    finish(cleanup, cg);
}

fn images_left(node: &Node) -> usize {
    std::fs::read_dir(node.dir("root/images/images"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn disk_pressure_collects_images_then_evicts() {
    let (node, mut cleanup, cg, _t, _tmp) = env("ev2", "10.244.73.0/24");
    // The root dir on a small file system of the test's own.
    let root = node.dir("root");
    nix::mount::mount(
        Some("tmpfs"),
        &root,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=120m"),
    )
    .unwrap();
    import(&node, IMAGE, common::busybox_archive(IMAGE));
    import(
        &node,
        FILLER,
        common::busybox_archive_padded(FILLER, 24 << 20),
    );
    assert_eq!(images_left(&node), 2);
    write_manifest(
        &node,
        "static-sleeper",
        &pod("static-sleeper", false, "exec sleep 3600", "", ""),
    );
    let data = "  volumes:\n  - name: data\n    emptyDir: {}\n";
    let mount = "    volumeMounts:\n    - name: data\n      mountPath: /data\n";
    write_manifest(
        &node,
        "disk-hog",
        &pod(
            "disk-hog",
            true,
            "until [ -e /data/go ]; do sleep 0.2; done; dd if=/dev/zero of=/data/a bs=1M count=40 2>/dev/null; \
             until [ -e /data/more ]; do sleep 0.2; done; dd if=/dev/zero of=/data/b bs=1M count=40 2>/dev/null; exec sleep 3600",
            mount,
            data,
        ),
    );
    cleanup.agent = Some(node.start_with(
        "1",
        &[
            "--eviction-hard",
            "nodefs.available<40Mi,imagefs.available<40Mi",
            // Images imported a moment ago may go (the default keeps them 2 minutes).
            "--image-minimum-gc-age",
            "5s",
        ],
    ));
    node.wait_until("both running", 60, || {
        running(&node, "static-sleeper") && running(&node, "disk-hog")
    });
    let hog = phase_of(&node, "disk-hog").unwrap();
    let dir = empty_dir(&node, &uid(&hog), "data");
    // 40 MB: below the threshold until the unused image (48 MiB: blob and layer) goes.
    std::fs::write(dir.join("go"), "").unwrap();
    node.wait_until("the unused image deleted", 40, || images_left(&node) == 1);
    node.wait_until("reclaimed without eviction", 20, || {
        node.logs()
            .contains("able to reduce ephemeral-storage pressure without evicting pods")
    });
    assert!(
        running(&node, "disk-hog"),
        "{:#?}",
        phase_of(&node, "disk-hog")
    );
    // 40 MB more: no image left to delete, so the pod goes.
    std::fs::write(dir.join("more"), "").unwrap();
    let p = evicted(&node, "disk-hog", 60);
    let msg = p["status"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(
            "The node was low on resource: ephemeral-storage. Threshold quantity: 40Mi, available: "
        ),
        "{msg}"
    );
    assert_evicted(&node, &p, &msg);
    let n = node_object(&node);
    let c = condition(&n, "DiskPressure");
    assert_eq!(c["status"], "True", "{n:#}");
    assert_eq!(c["reason"], "KubeletHasDiskPressure");
    assert!(!dir.exists(), "the evicted pod's emptyDir stays");
    // The image in use and the static pod stay.
    assert_eq!(images_left(&node), 1);
    assert!(running(&node, "static-sleeper"));
    for f in std::fs::read_dir(node.dir("manifests")).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    node.wait_pod_gone(60);
    node::stop_agent(&mut cleanup);
    let _ = nix::mount::umount2(Path::new(&root), nix::mount::MntFlags::MNT_DETACH);
    finish(cleanup, cg);
}

fn main() {
    node::run_cases(
        "eviction_e2e",
        &[
            ("local_storage_limits_evict", local_storage_limits_evict),
            (
                "memory_pressure_evicts_besteffort_first",
                memory_pressure_evicts_besteffort_first,
            ),
            (
                "soft_threshold_waits_its_grace_period",
                soft_threshold_waits_its_grace_period,
            ),
            (
                "disk_pressure_collects_images_then_evicts",
                disk_pressure_collects_images_then_evicts,
            ),
        ],
    );
}
