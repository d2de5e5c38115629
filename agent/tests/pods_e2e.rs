//! The pod manager end to end through the real `nodelet` binary, as root, inside a private
//! mount namespace and a fresh network namespace that plays the node (nothing touches the
//! host's network), with a cgroup of the test's own as the agent's cgroup and temp dirs for
//! every nodelet path:
//!
//! - a manifest dropped into the static pod path → pod Running with a pod IP from nodenet,
//!   its `sleep` container running (busybox image imported into the store);
//! - a container that exits 1 is restarted: restartCount grows, CrashLoopBackOff is shown,
//!   lastState is terminated with reason Error and exit code 1;
//! - nodelet killed with SIGKILL and started again adopts the pod: same container, same
//!   process, restartCount still 0; the crashing one keeps being managed;
//! - the manifest removed → everything torn down: pod dir, shim, netns pin, CNI cache entry,
//!   IP lease, veth, overlay mounts, cgroups.
//!
//! `harness = false`: the namespaces are entered before any thread exists. The shim, pause and
//! nodenet binaries are taken from this target directory (`cargo build --workspace`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
mod node;
use node::{
    Cleanup, Node, NodeEnv, TestCgroup, container, mounts_under, procs_with, sh, target_bin,
};

const IMAGE: &str = "nodelet.test/busybox:1.0";

/// A `docker save` archive of an image holding only /bin/busybox, imported into the store.
fn import_busybox(root_dir: &Path, t: &Path) {
    let file = t.join("busybox.tar");
    std::fs::write(&file, common::busybox_archive(IMAGE)).unwrap();
    node::import_archive(root_dir, &file);
}

/// This test's `sleep 3600` (in a cgroup below the test's own: other tests on the machine
/// run the same command).
fn sleep_pid(t: &Path) -> Option<i32> {
    let _ = t;
    let ours = format!("nodelet-e2e-{}", std::process::id());
    procs_with("sleep 3600")
        .into_iter()
        .filter(|(p, _)| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup")).is_ok_and(|c| c.contains(&ours))
        })
        .find(|(_, c)| c.starts_with("/bin/busybox sleep 3600"))
        .map(|(p, _)| p)
}

fn e2e() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-pods-", "e2e0", "10.244.9.0/24");
    let lease_data = node.dir("nodenet-data");
    import_busybox(&node.dir("root"), &t);
    // Shim and pause next to nodelet? They are in target/debug, like nodelet itself.
    assert!(target_bin("nodelet-shim").exists() && target_bin("nodelet-pause").exists());

    // An invalid manifest next to the good ones: reported, never a pod, nothing disturbed.
    std::fs::write(
        node.dir("manifests/bad.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: []}\n",
    )
    .unwrap();
    let notify = std::os::unix::net::UnixDatagram::bind(t.join("notify.sock")).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    cleanup.agent = Some(node.start("1"));
    let mut buf = [0u8; 256];
    let n = notify
        .recv(&mut buf)
        .expect("sd_notify message from nodelet");
    assert_eq!(
        &buf[..n],
        b"READY=1\n",
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let manifest = node.dir("manifests/web.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
  - name: crash
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo crashing; exit 1"]
"#
        ),
    )
    .unwrap();

    let hooks_dir = t.join("hooks");
    let hooks = hooks_dir.display().to_string();
    // Init containers in order, handing a file to the app through an emptyDir; and a pod
    // with restartPolicy Never whose init container fails.
    std::fs::write(
        node.dir("manifests/init.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: init
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: first
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo one > /work/order"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  - name: side
    image: {IMAGE}
    imagePullPolicy: Never
    restartPolicy: Always
    command: ["/bin/busybox", "sleep", "3602"]
  - name: second
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo two >> /work/order"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "/bin/busybox cat /work/order; exec /bin/busybox sleep 3601"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  volumes:
  - name: work
    emptyDir: {{}}
---
apiVersion: v1
kind: Pod
metadata:
  name: pvc
spec:
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "true"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: data}}
---
apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3605"]
    lifecycle:
      postStart:
        exec: {{command: ["/bin/busybox", "sh", "-c", "echo started > /host/poststart"]}}
      preStop:
        exec: {{command: ["/bin/busybox", "sh", "-c", "echo stopping > /host/prestop"]}}
    volumeMounts: [{{name: host, mountPath: /host}}]
  volumes:
  - name: host
    hostPath: {{path: {hooks}, type: DirectoryOrCreate}}
---
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: ready
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/"]
    readinessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
  - name: dies
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3603"]
    livenessProbe:
      exec: {{command: ["/bin/busybox", "cat", "/nonexistent"]}}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "tail", "/dev/zero"]
    resources:
      limits: {{memory: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: never
spec:
  restartPolicy: Never
  initContainers:
  - name: fails
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "exit 3"]
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "true"]
"#
        ),
    )
    .unwrap();

    // Running with an IP.
    let t0 = Instant::now();
    let pod = node.wait_pod("web Running with an IP", 20, |p| {
        p["metadata"]["name"] == "web-node1"
            && p["status"]["phase"] == "Running"
            && p["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.244.9."))
            && container(p, "app")["state"]["running"].is_object()
    });
    eprintln!("pod Running in {:?}", t0.elapsed());
    assert_eq!(pod["metadata"]["name"], "web-node1");
    let app_id = container(&pod, "app")["containerID"].clone();
    let app_started = container(&pod, "app")["state"]["running"]["startedAt"].clone();
    let pid = sleep_pid(&t).expect("the sleep process");
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    assert!(
        Command::new("busybox")
            .args(["ping", "-c", "1", "-W", "2", &ip])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success(),
        "the node reaches the pod at {ip}"
    );

    let ip_pod = node.wait_pod("init pod Running", 20, |p| {
        p["metadata"]["name"] == "init-node1"
            && p["status"]["phase"] == "Running"
            && container(p, "app")["state"]["running"].is_object()
    });
    let inits = ip_pod["status"]["initContainerStatuses"]
        .as_array()
        .unwrap();
    for i in inits {
        if i["name"] == "side" {
            assert!(i["state"]["running"].is_object(), "sidecar runs: {i:#}");
        } else {
            assert_eq!(i["state"]["terminated"]["reason"], "Completed", "{i:#}");
        }
    }
    let init_logs = node.dir("logs").join(format!(
        "default_init-node1_{}",
        ip_pod["metadata"]["uid"].as_str().unwrap()
    ));
    let t_log = Instant::now();
    loop {
        let l = std::fs::read_to_string(init_logs.join("app/0.log")).unwrap_or_default();
        if l.contains("stdout F one") && l.contains("stdout F two") {
            assert!(l.find("F one") < l.find("F two"), "{l}");
            break;
        }
        assert!(t_log.elapsed() < Duration::from_secs(5), "app log: {l:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let never = node.wait_pod("never pod Failed", 20, |p| {
        p["metadata"]["name"] == "never-node1" && p["status"]["phase"] == "Failed"
    });
    let fails = &never["status"]["initContainerStatuses"][0];
    assert_eq!(fails["state"]["terminated"]["exitCode"], 3, "{never:#}");
    assert_eq!(fails["restartCount"], 0, "{never:#}");
    assert!(
        container(&never, "app")["state"]["waiting"].is_object(),
        "{never:#}"
    );
    let hog = node.wait_pod("memory hog OOMKilled", 20, |p| {
        p["metadata"]["name"] == "hog-node1" && p["status"]["phase"] == "Failed"
    });
    let h = container(&hog, "hog");
    assert_eq!(h["state"]["terminated"]["reason"], "OOMKilled", "{h:#}");
    assert_eq!(h["state"]["terminated"]["exitCode"], 137, "{h:#}");
    let probed = node.wait_pod("liveness restart and readiness", 20, |p| {
        p["metadata"]["name"] == "probed-node1"
            && container(p, "ready")["ready"] == true
            && container(p, "dies")["restartCount"].as_i64() >= Some(1)
    });
    let d = container(&probed, "dies");
    assert_eq!(
        d["lastState"]["terminated"]["exitCode"], 137,
        "SIGKILL after the grace period: {d:#}"
    );
    let cm = node.wait_pod("persistentVolumeClaim pod Failed", 20, |p| {
        p["metadata"]["name"] == "pvc-node1" && p["status"]["phase"] == "Failed"
    });
    assert_eq!(
        cm["status"]["reason"], "UnsupportedVolume",
        "{:#}",
        cm["status"]
    );
    assert!(
        cm["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("persistentVolumeClaim"),
        "{:#}",
        cm["status"]
    );
    node.wait_pod("hooks pod Running", 20, |p| {
        p["metadata"]["name"] == "hooks-node1"
            && container(p, "app")["state"]["running"].is_object()
    });
    let t_hook = Instant::now();
    while !hooks_dir.join("poststart").exists() {
        assert!(
            t_hook.elapsed() < Duration::from_secs(5),
            "postStart hook did not run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_file(node.dir("manifests/init.yaml")).unwrap();

    // The crashing container: restarted, CrashLoopBackOff, lastState Error/1.
    let p = node.wait_pod("crash in CrashLoopBackOff", 20, |p| {
        p["metadata"]["name"] == "web-node1" && {
            let c = container(p, "crash");
            c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                && c["restartCount"].as_i64() >= Some(1)
        }
    });
    let c = container(&p, "crash");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1, "{c:#}");
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error", "{c:#}");
    let log_dir = node.dir("logs").join(format!(
        "default_web-node1_{}",
        p["metadata"]["uid"].as_str().unwrap()
    ));
    let log0 = std::fs::read_to_string(log_dir.join("crash/0.log")).unwrap_or_default();
    assert!(log0.contains("stdout F crashing"), "crash/0.log: {log0:?}");
    node.wait_pod("crash restarted twice", 20, |p| {
        container(p, "crash")["restartCount"].as_i64() >= Some(2)
    });
    // The same pod through nodelet's API socket and nodectl.
    let nodectl = |args: &[&str]| {
        let o = Command::new(target_bin("nodectl"))
            .arg("--socket")
            .arg(node.dir("run/nodelet.sock"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, table, err) = nodectl(&["ps"]);
    assert!(ok, "nodectl ps: {err}");
    let mut lines = table.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .eq(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]),
        "{table}"
    );
    let row: Vec<&str> = lines
        .find(|l| l.starts_with("web-node1 "))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row.len(), 5, "{table}");
    assert!(row[1].ends_with('/') || row[1].contains('/'), "{table}");
    assert!(row[3].parse::<i32>().unwrap() >= 2, "restarts: {table}");
    let (ok, wide, err) = nodectl(&["get", "pods", "-o", "wide"]);
    assert!(ok, "{err}");
    assert!(
        wide.lines().next().unwrap().contains("IP") && wide.contains("node1"),
        "{wide}"
    );
    let (ok, out, err) = nodectl(&["logs", "web-node1", "-c", "crash", "--previous"]);
    assert!(ok, "{err}");
    assert!(out.contains("crashing"), "{out}");
    let (ok, text, err) = nodectl(&["describe", "pod", "web-node1"]);
    assert!(ok, "{err}");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.split_whitespace().collect::<Vec<_>>() == ["Name:", "web-node1"]),
        "{text}"
    );
    for want in [
        "Containers:",
        "  crash:",
        "Restart Count:",
        "Conditions:",
        "Events:",
        "BackOff",
    ] {
        assert!(text.contains(want), "{want:?} in describe:\n{text}");
    }
    let (ok, _, err) = nodectl(&["logs", "no-such-pod"]);
    assert!(!ok);
    assert!(
        err.contains("Error from server (NotFound): pods \"no-such-pod\" not found"),
        "{err}"
    );
    let o = Command::new(target_bin("nodectl"))
        .arg("ps")
        .env("NODELET_SOCKET", "/nonexistent/nodelet.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("/nonexistent/nodelet.sock"),
        "{err}"
    );
    // The removed init/never pods are gone (their sleep too) before the agent is killed.
    let t_rm = Instant::now();
    while node.pods().len() > 1
        || procs_with("sleep 360")
            .iter()
            .any(|(_, c)| c.starts_with("/bin/busybox sleep 360") && !c.contains("3600"))
    {
        assert!(
            t_rm.elapsed() < Duration::from_secs(15),
            "init pod not removed: {:#?}",
            node.pods()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // kill -9 the agent; start it again: the pod is adopted, its app not restarted.
    let mut a = cleanup.agent.take().unwrap();
    a.kill().unwrap();
    a.wait().unwrap();
    assert_eq!(
        std::fs::read_to_string(hooks_dir.join("prestop")).unwrap_or_default(),
        "stopping\n",
        "preStop hook ran before the container was stopped"
    );
    let web = node
        .pods()
        .into_iter()
        .find(|p| p["metadata"]["name"] == "web-node1");
    let before = container(web.as_ref().unwrap(), "crash")["restartCount"]
        .as_i64()
        .unwrap();
    cleanup.agent = Some(node.start("2"));
    let p = node.wait_pod("crash restarted by the new agent", 20, |p| {
        container(p, "crash")["restartCount"].as_i64() > Some(before)
    });
    let app = container(&p, "app");
    assert_eq!(app["containerID"], app_id, "{app:#}");
    assert_eq!(app["restartCount"], 0, "{app:#}");
    assert_eq!(app["state"]["running"]["startedAt"], app_started, "{app:#}");
    assert_eq!(sleep_pid(&t), Some(pid), "the same sleep process");
    assert!(
        node.logs().contains("adopting running pod"),
        "{}",
        node.logs()
    );

    // Edit the manifest: the pod is replaced (old UID torn down, then the new one started).
    let old_uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("exit 1", "exit 2")).unwrap();
    let p = node.wait_pod("the edited pod Running", 20, |p| {
        p["metadata"]["name"] == "web-node1"
            && p["metadata"]["uid"] != old_uid.as_str()
            && container(p, "app")["state"]["running"].is_object()
    });
    assert!(
        !node.dir("root/pods").join(&old_uid).exists(),
        "old pod dir left"
    );
    assert_ne!(container(&p, "app")["containerID"], app_id);
    assert_ne!(sleep_pid(&t), Some(pid), "the old pod's process is gone");

    // The pause dies: the sandbox is re-created and the containers restarted in it.
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let st: Value = serde_json::from_slice(
        &std::fs::read(node.dir("root/pods").join(&uid).join("state.json")).unwrap(),
    )
    .unwrap();
    let pause = st["pause_pid"].as_i64().unwrap() as i32;
    let app_before = container(&p, "app")["containerID"].clone();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pause), nix::sys::signal::SIGKILL).unwrap();
    let p = node.wait_pod("the pod back after its sandbox died", 20, |p| {
        p["metadata"]["uid"] == uid.as_str()
            && container(p, "app")["restartCount"].as_i64() >= Some(1)
            && container(p, "app")["state"]["running"].is_object()
            && p["status"]["podIP"].as_str().is_some()
    });
    assert_ne!(container(&p, "app")["containerID"], app_before);
    let st: Value = serde_json::from_slice(
        &std::fs::read(node.dir("root/pods").join(&uid).join("state.json")).unwrap(),
    )
    .unwrap();
    assert_ne!(st["pause_pid"].as_i64().unwrap() as i32, pause);

    // kill -9 the agent, remove the manifest while it is down: the next agent finds the pod
    // running but no longer wanted, and tears everything down.
    let mut a = cleanup.agent.take().unwrap();
    a.kill().unwrap();
    a.wait().unwrap();
    std::fs::remove_file(&manifest).unwrap();
    cleanup.agent = Some(node.start("3"));
    let t1 = Instant::now();
    while std::fs::read_dir(node.dir("root/pods"))
        .map(|d| d.count())
        .unwrap_or(0)
        > 0
    {
        assert!(
            t1.elapsed() < Duration::from_secs(15),
            "pod dir not removed; log:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("pod torn down in {:?}", t1.elapsed());
    assert_eq!(sleep_pid(&t), None, "sleep process left");
    let shims = procs_with("nodelet-shim");
    assert!(
        shims
            .iter()
            .all(|(_, c)| !c.contains(&t.display().to_string())),
        "shims left: {shims:?}"
    );
    assert!(
        mounts_under(&t).is_empty(),
        "mounts left: {:#?}",
        mounts_under(&t)
    );
    let pins: Vec<_> = std::fs::read_dir(node.dir("run/netns"))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(pins.is_empty(), "netns pins left: {pins:?}");
    assert!(
        !node
            .dir("run/pods")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "run/pods left"
    );
    let cache = node::cni_cache_left(&node.dir("root/cni-cache"));
    assert!(cache.is_empty(), "CNI cache left: {cache:?}");
    let leases: Vec<_> = std::fs::read_dir(lease_data.join("podnet"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect();
    assert!(leases.is_empty(), "leases left: {leases:?}");
    let containers: Vec<_> = std::fs::read_dir(node.dir("root/images/containers"))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(containers.is_empty(), "rootfs dirs left: {containers:?}");
    let logs_left: Vec<_> = std::fs::read_dir(node.dir("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(logs_left.is_empty(), "pod logs left: {logs_left:?}");
    let _ = log_dir;
    let t2 = Instant::now();
    while !cg.children().is_empty() {
        assert!(
            t2.elapsed() < Duration::from_secs(5),
            "cgroups left: {:?}",
            cg.children()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let t3 = Instant::now();
    while !sh(&["ip", "-o", "link", "show", "type", "veth"])
        .trim()
        .is_empty()
    {
        assert!(t3.elapsed() < Duration::from_secs(5), "veth left");
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGTERM: the agent exits cleanly.
    let mut a = cleanup.agent.take().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let st = a.wait().unwrap();
    assert!(st.success(), "nodelet exit: {st:?}; log:\n{}", node.logs());
    drop(cleanup);
    drop(cg);
}

/// The same node with Debian's reference plugins (bridge + host-local + loopback): a pod
/// gets an IP from host-local; removing it releases the lease and leaves nothing behind.
fn reference_plugins() {
    let tmp = tempfile::Builder::new()
        .prefix("nodelet-pods-ref-")
        .tempdir()
        .unwrap();
    let t = tmp.path().to_path_buf();
    let mut cleanup = Cleanup {
        t: t.clone(),
        agent: None,
    };
    let cg = TestCgroup::enter();
    let node = Node {
        t: t.clone(),
        nodelet: PathBuf::from(env!("CARGO_BIN_EXE_nodelet")),
    };
    for d in ["manifests", "root", "logs", "run", "net.d"] {
        std::fs::create_dir_all(node.dir(d)).unwrap();
    }
    std::os::unix::fs::symlink("/usr/lib/cni", node.dir("cni-bin")).unwrap();
    let data = node.dir("host-local");
    std::fs::write(
        node.dir("net.d/10-ref.conflist"),
        serde_json::json!({
            "cniVersion": "1.0.0", "name": "refnet",
            "plugins": [
                {"type": "bridge", "bridge": "ref0", "isGateway": true, "ipMasq": false,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.7.0/24"}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": data}},
                {"type": "loopback"},
            ],
        })
        .to_string(),
    )
    .unwrap();
    import_busybox(&node.dir("root"), &t);
    cleanup.agent = Some(node.start_with("1", &["--max-pods", "1"]));
    let manifest = node.dir("manifests/ref.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: ref
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3604"]
"#
        ),
    )
    .unwrap();
    let pod = node.wait_pod("ref pod Running with an IP", 20, |p| {
        p["status"]["phase"] == "Running"
            && p["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.88.7."))
    });
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    // maxPods 1: a second pod is rejected (OutOfpods) and never started.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let second = node.dir("manifests/ref2.yaml");
    std::fs::write(&second, text.replace("name: ref\n", "name: ref-two\n")).unwrap();
    let t0 = Instant::now();
    while !node.logs().contains("rejected (OutOfpods)") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no rejection; log:\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(node.pods().len(), 1, "only one pod runs");
    std::fs::remove_file(&second).unwrap();
    let leases = || -> Vec<String> {
        std::fs::read_dir(data.join("refnet"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect()
    };
    assert_eq!(leases(), vec![ip.clone()]);
    std::fs::remove_file(&manifest).unwrap();
    node.wait_pod_gone(15);
    assert!(leases().is_empty(), "leases left: {:?}", leases());
    assert!(
        mounts_under(&t).is_empty(),
        "mounts left: {:#?}",
        mounts_under(&t)
    );
    let cache = node::cni_cache_left(&node.dir("root/cni-cache"));
    assert!(cache.is_empty(), "CNI cache left: {cache:?}");
    let t2 = Instant::now();
    while !cg.children().is_empty() {
        assert!(
            t2.elapsed() < Duration::from_secs(5),
            "cgroups left: {:?}",
            cg.children()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

/// Settled pods are woken by events, not by the sync period: with a 10 s sync period and a
/// 60 s idle resync, a container's exit is seen at once (the shim pushes it) and a readiness
/// probe with periodSeconds 1 still runs every second. Also: a failed liveness probe with its
/// own terminationGracePeriodSeconds kills a container that ignores SIGTERM after that
/// grace, not the pod's.
fn events_wake_settled_pods() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-pods-ev-", "e2e1", "10.244.10.0/24");
    import_busybox(&node.dir("root"), &t);
    cleanup.agent = Some(node.start_with(
        "1",
        &["--sync-period-ms", "10000", "--idle-resync-ms", "60000"],
    ));
    std::fs::write(
        node.dir("manifests/ev.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: ev
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 10
  containers:
  - name: stubborn
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "trap '' TERM; exec /bin/busybox sleep 3607"]
    livenessProbe:
      exec: {{command: ["/bin/busybox", "false"]}}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 1
      terminationGracePeriodSeconds: 1
  - name: short
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "sleep 4; exit 3"]
  - name: ready
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "sleep 2; touch /work/ready; exec sleep 3606"]
    readinessProbe:
      exec: {{command: ["/bin/busybox", "test", "-f", "/work/ready"]}}
      periodSeconds: 1
    volumeMounts: [{{name: work, mountPath: /work}}]
  volumes:
  - name: work
    emptyDir: {{}}
"#
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let is_ev = |p: &Value| p["metadata"]["name"] == "ev-node1";
    node.wait_pod("container ready", 9, |p| {
        is_ev(p) && container(p, "ready")["ready"] == true
    });
    let ready_after = t0.elapsed();
    let pod = node.wait_pod("container short terminated", 15, |p| {
        is_ev(p) && container(p, "short")["state"]["terminated"]["exitCode"] == 3
    });
    let seen = jiff::Timestamp::now();
    let finished: jiff::Timestamp = container(&pod, "short")["state"]["terminated"]["finishedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let lag = seen.duration_since(finished);
    eprintln!("ready after {ready_after:?}; exit seen {lag:?} after it happened");
    // The sync period alone would take up to 10 s for either.
    assert!(
        lag < jiff::SignedDuration::from_millis(2500),
        "exit seen {lag:?} after it happened; log:\n{}",
        node.logs()
    );
    let pod = node.wait_pod("container stubborn killed", 15, |p| {
        is_ev(p) && container(p, "stubborn")["state"]["terminated"]["exitCode"] == 137
    });
    let term = &container(&pod, "stubborn")["state"]["terminated"];
    let ran = |k: &str| -> jiff::Timestamp { term[k].as_str().unwrap().parse().unwrap() };
    let lived = ran("finishedAt").duration_since(ran("startedAt"));
    // First probe after 1 s, SIGTERM ignored, SIGKILL after the probe's 1 s grace (a 2 s
    // floor): well before the pod's 10 s.
    assert!(
        lived < jiff::SignedDuration::from_secs(8),
        "killed after {lived:?}: {term}"
    );
    std::fs::remove_file(node.dir("manifests/ev.yaml")).unwrap();
    node.wait_pod_gone(30);
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

/// The classic failing liveness probes: busybox httpd whose health CGI answers 500 →
/// `Unhealthy` events, "failed liveness probe, will be restarted", and the container, which
/// ignores SIGTERM, SIGKILLed after its grace period: lastState exit code 137, restarted. And
/// the liveness-exec exercise (`touch /tmp/healthy; sleep; rm /tmp/healthy`, shortened):
/// restarted, and `nodectl logs --previous` shows the earlier instance's output.
fn liveness_http_500_restarts() {
    let NodeEnv {
        node,
        mut cleanup,
        cg,
        t,
        tmp: _tmp,
    } = NodeEnv::nodenet("nodelet-pods-live-", "e2e2", "10.244.11.0/24");
    import_busybox(&node.dir("root"), &t);
    cleanup.agent = Some(node.start("1"));
    let script = r#"mkdir -p /www/cgi-bin
printf '#!/bin/busybox sh\necho Status: 500 Internal Server Error\necho Content-Type: text/plain\necho\necho sick\n' > /www/cgi-bin/health
chmod +x /www/cgi-bin/health
trap '' TERM
exec /bin/busybox httpd -f -p 8080 -h /www"#;
    std::fs::write(
        node.dir("manifests/sick.yaml"),
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: sick
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", {script:?}]
    livenessProbe:
      httpGet: {{path: /cgi-bin/health, port: 8080}}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata:
  name: liveness-exec
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: liveness
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo instance of $(/bin/busybox date +%s%N); touch /tmp/healthy; sleep 3; rm -f /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {{command: ["/bin/busybox", "cat", "/tmp/healthy"]}}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
    volumeMounts: [{{name: tmp, mountPath: /tmp}}]
  volumes:
  - name: tmp
    emptyDir: {{}}
"#
        ),
    )
    .unwrap();
    let pod = node.wait_pod("liveness-exec restarted", 40, |p| {
        p["metadata"]["name"] == "liveness-exec-node1"
            && container(p, "liveness")["restartCount"].as_i64() >= Some(1)
            && !container(p, "liveness")["state"]["running"].is_null()
    });
    let last = &container(&pod, "liveness")["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 137, "{last}");
    let nodectl = |args: &[&str]| -> String {
        let o = Command::new(target_bin("nodectl"))
            .arg("--socket")
            .arg(node.dir("run/nodelet.sock"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "nodectl {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let previous = nodectl(&["logs", "liveness-exec-node1", "--previous"]);
    let t1 = Instant::now();
    let current = loop {
        let c = nodectl(&["logs", "liveness-exec-node1"]);
        if c.contains("instance of") || t1.elapsed() > Duration::from_secs(10) {
            break c;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(previous.starts_with("instance of "), "{previous:?}");
    assert!(current.starts_with("instance of "), "{current:?}");
    assert_ne!(previous, current, "--previous is the earlier instance");
    assert!(
        node.logs()
            .contains("Container liveness failed liveness probe, will be restarted")
    );
    let pod = node.wait_pod("web restarted after a failed liveness probe", 40, |p| {
        p["metadata"]["name"] == "sick-node1"
            && container(p, "web")["restartCount"].as_i64() >= Some(1)
            && !container(p, "web")["lastState"]["terminated"].is_null()
    });
    let last = &container(&pod, "web")["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 137, "{last}");
    assert_eq!(last["reason"], "Error", "{last}");
    let logs = node.logs();
    assert!(
        logs.contains("Liveness probe failed: HTTP probe failed with statuscode: 500"),
        "{logs}"
    );
    assert!(
        logs.contains("Container web failed liveness probe, will be restarted"),
        "{logs}"
    );
    std::fs::remove_file(node.dir("manifests/sick.yaml")).unwrap();
    node.wait_pod_gone(30);
    node::stop_agent(&mut cleanup);
    drop(cleanup);
    drop(cg);
}

fn main() {
    node::run_cases(
        "pods_e2e",
        &[
            ("pod_manager_end_to_end", e2e),
            ("pod_manager_with_reference_plugins", reference_plugins),
            ("events_wake_settled_pods", events_wake_settled_pods),
            ("liveness_http_500_restarts", liveness_http_500_restarts),
        ],
    );
}
