//! The one-machine lab (lab/lab.sh) with one real `nodelet` per node, as root on the real
//! kernel; everything network-related happens inside the namespaces the lab creates:
//!
//! - `lab.sh up -n 2`: two netns "nodes" on an underlay bridge, each with its own nodelet
//!   (own dirs, CNI config with nodenet and the node's pod subnet, cgroup below the test's
//!   own, busybox:local imported into its store);
//! - a busybox httpd pod (`lab.sh apply 1`) → Running and ready on n1 with an IP from
//!   10.244.1.0/24, shown by `lab.sh nodectl 1 ps`;
//! - a client pod on n2 (IP from 10.244.2.0/24) looping `wget` to the httpd pod's IP: its log
//!   (`lab.sh nodectl 2 logs`) has the page and, from a CGI script printing REMOTE_ADDR, its
//!   own pod IP (no NAT between pods); the packets crossed both nodes' VXLAN devices;
//! - `lab.sh delete` tears a pod down (its IP lease freed), `lab.sh down` removes the rest:
//!   no netns, cgroup, process, mount or directory of the lab is left;
//! - an `up` that fails half-way (a nodelet that exits at once) removes what it made.
//!
//! The nodelet-shim, nodelet-pause and nodenet binaries are taken from this target directory
//! (`cargo build --workspace`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bindir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_nodelet"))
        .parent()
        .unwrap()
        .to_path_buf();
    for b in [
        "nodelet-shim",
        "nodelet-pause",
        "noderun",
        "nodenet",
        "nodectl",
    ] {
        assert!(
            dir.join(b).exists(),
            "{} missing: run `cargo build --workspace` first",
            dir.join(b).display()
        );
    }
    dir
}

fn lab_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../lab/lab.sh"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A lab of `lab.sh`; `down` on drop, so a failing test leaves nothing behind either.
struct Lab {
    prefix: String,
    dir: PathBuf,
    bindir: PathBuf,
}

impl Lab {
    /// A lab named `nl<pid><tag>-` (not up yet) taking its binaries from `bindir`.
    fn new(tag: &str, bindir: PathBuf) -> Lab {
        let prefix = format!("nl{}{tag}-", std::process::id() % 100000);
        Lab {
            dir: std::env::temp_dir().join(format!("{prefix}lab")),
            prefix,
            bindir,
        }
    }

    fn try_up(&self, nodes: usize) -> Output {
        let nodenet = bindir().join("nodenet");
        self.run_raw(&[
            "up",
            "-n",
            &nodes.to_string(),
            "-b",
            nodenet.to_str().unwrap(),
            "-B",
            self.bindir.to_str().unwrap(),
        ])
    }

    fn up(nodes: usize) -> Lab {
        let lab = Lab::new("", bindir());
        let out = lab.try_up(nodes);
        assert!(
            out.status.success(),
            "lab.sh up: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        lab
    }

    /// The lab's cgroup directories, one per hierarchy.
    fn cgroups(&self) -> Vec<PathBuf> {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        own.lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                let d = match ctrls {
                    "" if Path::new("/sys/fs/cgroup/unified").is_dir() => {
                        PathBuf::from("/sys/fs/cgroup/unified")
                    }
                    "" => PathBuf::from("/sys/fs/cgroup"),
                    c => Path::new("/sys/fs/cgroup").join(c.trim_start_matches("name=")),
                };
                Some(
                    d.join(path.trim_start_matches('/'))
                        .join(format!("{}lab", self.prefix)),
                )
            })
            .collect()
    }

    fn run_raw(&self, args: &[&str]) -> Output {
        Command::new(lab_script())
            .args(["-p", &self.prefix, "-d"])
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// `lab.sh ARGS`, asserting success; stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.run_raw(args);
        assert!(
            out.status.success(),
            "lab.sh {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn apply(&self, node: &str, name: &str, manifest: &str) {
        let file = self.dir.join(name);
        std::fs::write(&file, manifest).unwrap();
        self.run(&["apply", node, file.to_str().unwrap()]);
    }

    /// The node's pods as `nodectl get pods -o json` shows them.
    fn pods(&self, node: &str) -> Vec<Value> {
        let out = self.run(&["nodectl", node, "get", "pods", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        list["items"].as_array().cloned().unwrap_or_default()
    }

    fn node_log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join(node).join("nodelet.log")).unwrap_or_default()
    }

    fn wait_pod(&self, node: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            if let Some(p) = self.pods(node).into_iter().find(|p| cond(p)) {
                return p;
            }
            assert!(
                t.elapsed() < Duration::from_secs(40),
                "timed out waiting for {what} on {node}; pods: {:#?}\nnodelet log:\n{}",
                self.pods(node)
                    .iter()
                    .map(|p| p["status"].clone())
                    .collect::<Vec<_>>(),
                self.node_log(node)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `ip -n <lab netns> ARGS`.
    fn ip(&self, ns: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &format!("{}{ns}", self.prefix)])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// (rx, tx) packets of the node's VXLAN device.
    fn vxlan_packets(&self, node: &str) -> (u64, u64) {
        let v: Value =
            serde_json::from_str(&self.ip(node, &["-s", "-j", "link", "show", "nodenet.1"]))
                .unwrap();
        let s = &v[0]["stats64"];
        (
            s["rx"]["packets"].as_u64().unwrap(),
            s["tx"]["packets"].as_u64().unwrap(),
        )
    }

    fn netns_left(&self) -> Vec<String> {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(&self.prefix))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run_raw(&["down", "-t", "10"]);
    }
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

fn running(p: &Value) -> bool {
    p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string()
}

fn pod_ip(p: &Value) -> String {
    p["status"]["podIP"].as_str().unwrap().to_string()
}

/// Pids whose command line contains `needle`.
fn procs_with(needle: &str) -> Vec<(i32, String)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let s = text(&c).replace('\0', " ");
            if s.contains(needle) {
                out.push((pid, s));
            }
        }
    }
    out
}

/// Mounts anywhere (any process's mount namespace) whose mount point is below `dir`.
fn mounts_below(dir: &Path) -> Vec<String> {
    let d = format!("{}/", dir.display());
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<i32>().is_err() {
            continue;
        }
        for l in std::fs::read_to_string(e.path().join("mountinfo"))
            .unwrap_or_default()
            .lines()
        {
            if l.split_whitespace()
                .nth(4)
                .is_some_and(|m| m.starts_with(&d))
            {
                out.push(format!("{}: {l}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

const SERVER: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: httpd
    image: busybox:local
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      echo "hello from n1" > /www/index.html
      printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho client=$REMOTE_ADDR\n' > /www/cgi-bin/ip
      chmod +x /www/cgi-bin/ip
      exec httpd -f -v -p 0.0.0.0:8080 -h /www
    ports:
    - containerPort: 8080
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
"#;

fn client(server_ip: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: wget
    image: busybox:local
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      while true; do
        timeout 5 wget -q -O - http://{server_ip}:8080/ | sed 's/^/page: /'
        timeout 5 wget -q -O - http://{server_ip}:8080/cgi-bin/ip | sed 's/^/cgi: /'
        sleep 1
      done
"#
    )
}

#[test]
fn two_nodelets_pods_reach_each_other_over_vxlan() {
    nodelet_testkit::require_root("network namespaces, cgroups, nodelets");
    assert!(
        Path::new("/bin/busybox").exists(),
        "/bin/busybox missing: apt-get install busybox-static"
    );
    let host_before = host_links();
    let lab = Lab::up(2);
    let dir = lab.dir.clone();
    assert_eq!(
        std::fs::read_to_string(dir.join("nodes")).unwrap().trim(),
        "2"
    );
    let cgroups: Vec<PathBuf> = std::fs::read_to_string(dir.join("cgroups"))
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    assert!(!cgroups.is_empty());
    let own_memory = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()));
    if let Some(own) = own_memory {
        let want = format!(
            "/sys/fs/cgroup/memory{}/{}lab",
            own.trim_end_matches('/'),
            lab.prefix
        );
        assert!(
            cgroups.iter().any(|c| c == Path::new(&want)),
            "the lab's memory cgroup is below ours ({want}): {cgroups:?}"
        );
    }
    let nodelets: Vec<i32> = ["n1", "n2"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(dir.join(n).join("nodelet.pid"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    for (n, pid) in ["n1", "n2"].iter().zip(&nodelets) {
        // Each nodelet runs in its node's netns and cgroup.
        let netns = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        let node_ns = std::fs::metadata(format!("/run/netns/{}{n}", lab.prefix)).unwrap();
        assert_eq!(
            netns.display().to_string(),
            format!("net:[{}]", std::os::unix::fs::MetadataExt::ino(&node_ns)),
            "nodelet of {n} in its node's netns"
        );
        // In every hierarchy (on cgroup v2, in the leaf nodelet moves itself into below it).
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let want = format!("/{}lab/{n}", lab.prefix);
        assert!(
            own.lines()
                .all(|l| l.ends_with(&want) || l.contains(&format!("{want}/"))),
            "nodelet {pid} in its node's cgroup {want}: {own}"
        );
    }
    let images = lab.run(&["nodectl", "n2", "images"]);
    assert!(images.contains("busybox"), "{images}");

    // The server on n1: Running, ready, with an IP of n1's pod subnet.
    lab.apply("1", "web.yaml", SERVER);
    let web = lab.wait_pod("n1", "web Running and ready", |p| {
        p["metadata"]["name"] == "web-n1" && running(p) && container(p, "httpd")["ready"] == true
    });
    let web_ip = pod_ip(&web);
    assert!(web_ip.starts_with("10.244.1."), "{web_ip}");
    assert_eq!(
        web["status"]["hostIP"], "192.168.77.1",
        "{:#}",
        web["status"]
    );
    let ps = lab.run(&["nodectl", "1", "ps"]);
    let row: Vec<&str> = ps
        .lines()
        .find(|l| l.starts_with("web-n1 "))
        .unwrap_or_else(|| panic!("{ps}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[1..3], ["1/1", "Running"], "{ps}");
    let all = lab.run(&["ps"]);
    assert!(
        all.contains("== n1") && all.contains("== n2") && all.contains(&web_ip),
        "{all}"
    );

    // The client on n2 fetches from the server's pod IP, across the overlay.
    let before = (lab.vxlan_packets("n1"), lab.vxlan_packets("n2"));
    lab.apply("n2", "client.yaml", &client(&web_ip));
    let cl = lab.wait_pod("n2", "client Running", |p| {
        p["metadata"]["name"] == "client-n2" && running(p)
    });
    let client_ip = pod_ip(&cl);
    assert!(client_ip.starts_with("10.244.2."), "{client_ip}");
    let t = Instant::now();
    let log = loop {
        let log = lab.run(&["nodectl", "2", "logs", "client-n2"]);
        if log.contains("page: hello from n1") && log.contains("cgi: client=") {
            break log;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no answer from {web_ip} in the client's log:\n{log}\nn2 routes:\n{}",
            lab.ip("n2", &["route"])
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    // The server saw the client's own pod IP: no NAT between pods.
    assert!(
        log.lines().any(|l| l == format!("cgi: client={client_ip}")),
        "REMOTE_ADDR is the client pod's IP {client_ip}:\n{log}"
    );
    let after = (lab.vxlan_packets("n1"), lab.vxlan_packets("n2"));
    assert!(
        after.0.0 > before.0.0 && after.0.1 > before.0.1,
        "n1's VXLAN device carried the traffic: {before:?} → {after:?}"
    );
    assert!(
        after.1.0 > before.1.0 && after.1.1 > before.1.1,
        "n2's VXLAN device carried the traffic: {before:?} → {after:?}"
    );
    let server_log = lab.run(&["nodectl", "1", "logs", "web-n1"]);
    assert!(server_log.contains(&client_ip), "{server_log}");

    // Deleting a manifest tears its pod down: pod gone, IP lease freed.
    lab.run(&["delete", "2", "client"]);
    let t = Instant::now();
    while !lab.pods("n2").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "client pod not removed: {:#?}",
            lab.pods("n2")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let leases: Vec<String> = std::fs::read_dir(dir.join("n2/data/nodenet"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect();
    assert!(leases.is_empty(), "leases left on n2: {leases:?}");

    // Down: the web pod is torn down by its nodelet, then everything else goes.
    let mut pids: Vec<i32> = nodelets.clone();
    for c in &cgroups {
        for e in walkdir(c) {
            if let Ok(s) = std::fs::read_to_string(e.join("cgroup.procs")) {
                pids.extend(s.lines().filter_map(|l| l.parse::<i32>().ok()));
            }
        }
    }
    let veths: Vec<String> = lab
        .ip("n1", &["-o", "link", "show", "type", "veth"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect();
    assert!(!veths.is_empty(), "the web pod's veth on n1");
    let out = lab.run_raw(&["down"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "lab.sh down: {err}");
    assert!(
        !err.contains("still running"),
        "each nodelet tore its pods down before it was stopped: {err}"
    );
    assert!(
        lab.netns_left().is_empty(),
        "netns left: {:?}",
        lab.netns_left()
    );
    assert!(!dir.exists(), "{} left", dir.display());
    for c in &cgroups {
        assert!(!c.exists(), "cgroup {} left", c.display());
    }
    let t = Instant::now();
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "processes left: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = procs_with(&dir.display().to_string());
    assert!(left.is_empty(), "processes left: {left:?}");
    let mounts = mounts_below(&dir);
    assert!(mounts.is_empty(), "mounts left: {mounts:#?}");
    // Links the lab made live in its namespaces only: none of them appeared in the host's.
    let host_after = host_links();
    for name in veths
        .iter()
        .map(String::as_str)
        .chain(["cni0", "nodenet.1", "ul0"])
    {
        assert!(
            !host_after.contains(name) || host_before.contains(name),
            "{name} appeared in the host netns: {host_after:?}"
        );
    }
}

/// Names of the links in the host (the test's) network namespace.
fn host_links() -> std::collections::BTreeSet<String> {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// `dir` and every directory below it.
fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in std::fs::read_dir(&out[i]).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out
}

/// `up` that fails half-way (here: a nodelet that exits at once) removes everything it made
/// and says why.
#[test]
fn failed_up_leaves_nothing() {
    nodelet_testkit::require_root("network namespaces, cgroups, nodelets");
    let fake = tempfile::tempdir().unwrap();
    let real = bindir();
    for b in [
        "nodelet-shim",
        "nodelet-pause",
        "noderun",
        "nodectl",
        "nodenet",
    ] {
        std::os::unix::fs::symlink(real.join(b), fake.path().join(b)).unwrap();
    }
    let nodelet = fake.path().join("nodelet");
    std::fs::write(
        &nodelet,
        "#!/bin/sh\necho 'fake nodelet: refusing' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &nodelet,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let lab = Lab::new("f", fake.path().to_path_buf());
    let out = lab.try_up(2);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "up succeeded: {err}");
    assert!(
        err.contains("nodelet of n1 exited") && err.contains("fake nodelet: refusing"),
        "{err}"
    );
    assert!(err.contains("up failed; removing what it made"), "{err}");
    assert!(
        lab.netns_left().is_empty(),
        "netns left: {:?}",
        lab.netns_left()
    );
    assert!(!lab.dir.exists(), "{} left", lab.dir.display());
    for c in lab.cgroups() {
        assert!(!c.exists(), "cgroup {} left", c.display());
    }
}
