//! A nodelet node for end-to-end tests (used with `mod node;` by harness=false tests that
//! have already entered private mount and network namespaces): temp dirs for every nodelet
//! path, the test's own cgroup, the real `nodelet` binary, clean-up guards that kill and
//! unmount whatever a failed run leaves.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        p.exists(),
        "{} missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// The test-name filters of a `harness = false` test, as libtest takes them: flags (and a
/// flag's separate value, as in `--test-threads 2`) are not filters.
pub fn name_filters() -> Vec<String> {
    let mut filter: Vec<String> = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a.starts_with('-') {
            if !a.contains('=')
                && ["--test-threads", "--skip", "--format", "--color"].contains(&a.as_str())
            {
                args.next();
            }
        } else {
            filter.push(a);
        }
    }
    filter
}

pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Imports an image archive (docker save or OCI layout tar) into the node's image store.
pub fn import_archive(root_dir: &Path, file: &Path) {
    let store = nodelet_images::Store::open(root_dir.join("images")).unwrap();
    nodelet_images::import::import_archive(&store, file, &nodelet_images::Platform::host())
        .unwrap();
}

/// The test's private cgroup (`nodelet-e2e-<pid>` below its own, in every hierarchy); the
/// test moves into it so nodelet and its pods live below it. Drop moves back and removes it.
pub struct TestCgroup {
    pub cg: noderun_cgroups::Cgroup,
}

impl TestCgroup {
    pub fn enter() -> TestCgroup {
        let rel = format!("nodelet-e2e-{}", std::process::id());
        let mut cg = noderun_cgroups::Cgroup::resolve(Some(Path::new(&rel)), "x").unwrap();
        cg.create().unwrap();
        cg.add_task(std::process::id() as i32).unwrap();
        TestCgroup { cg }
    }

    /// Directories left below it.
    pub fn children(&self) -> Vec<PathBuf> {
        let mut out = vec![];
        for d in self.cg.dirs() {
            for e in std::fs::read_dir(&d.path).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let me = std::process::id().to_string();
        for d in self.cg.dirs() {
            if let Some(parent) = d.path.parent() {
                let _ = std::fs::write(parent.join("cgroup.procs"), &me);
            }
        }
        // Anything left (a failed run): kill, then remove deepest first.
        if let Ok(pids) = self.cg.pids() {
            for p in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for d in self.cg.dirs() {
            let _ = Command::new("find")
                .arg(&d.path)
                .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Processes whose command line mentions `needle`.
pub fn procs_with(needle: &str) -> Vec<(i32, String)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let s = String::from_utf8_lossy(&c).replace('\0', " ");
            if s.contains(needle) {
                out.push((pid, s));
            }
        }
    }
    out
}

pub fn mounts_under(p: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&p.display().to_string()))
        .map(str::to_string)
        .collect()
}

/// Kills the agent and every process left with the temp dir in its command line; unmounts.
pub struct Cleanup {
    pub t: PathBuf,
    pub agent: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        for (pid, _) in procs_with(&self.t.display().to_string()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut ms = mounts_under(&self.t);
        ms.reverse();
        for l in ms {
            if let Some(mp) = l.split_whitespace().nth(4) {
                let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

pub struct Node {
    pub t: PathBuf,
    pub nodelet: PathBuf,
}

impl Node {
    pub fn dir(&self, n: &str) -> PathBuf {
        self.t.join(n)
    }

    pub fn start(&self, tag: &str) -> Child {
        self.start_with(tag, &[])
    }

    pub fn start_with(&self, tag: &str, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.t.join(format!("nodelet-{tag}.log"))).unwrap();
        Command::new(&self.nodelet)
            .arg("--static-pod-path")
            .arg(self.dir("manifests"))
            .arg("--root-dir")
            .arg(self.dir("root"))
            .arg("--pod-logs-dir")
            .arg(self.dir("logs"))
            .arg("--run-dir")
            .arg(self.dir("run"))
            .arg("--api-socket")
            .arg(self.dir("run/nodelet.sock"))
            .arg("--node-name")
            .arg("node1")
            .arg("--cni-conf-dir")
            .arg(self.dir("net.d"))
            .arg("--cni-bin-dir")
            .arg(self.dir("cni-bin"))
            .args(
                // The tests' short back-off unless `extra` sets its own.
                (!extra.contains(&"--crash-loop-back-off-initial"))
                    .then_some([
                        "--crash-loop-back-off-initial",
                        "1s",
                        "--crash-loop-back-off-max",
                        "2s",
                    ])
                    .into_iter()
                    .flatten(),
            )
            .arg("--file-check-frequency")
            .arg("1s")
            .args(
                // The kubelet's disk thresholds (nodefs.available<10%, imagefs.available<15%)
                // would evict and refuse API-made pods whenever the shared machine's disk runs
                // that full; tests keep only the memory default unless `extra` sets its own.
                (!extra.contains(&"--eviction-hard"))
                    .then_some(["--eviction-hard", "memory.available<100Mi"])
                    .into_iter()
                    .flatten(),
            )
            .args(
                // The tests' short sync period unless `extra` sets its own.
                (!extra.contains(&"--sync-period-ms"))
                    .then_some(["--sync-period-ms", "100"])
                    .into_iter()
                    .flatten(),
            )
            .args(extra)
            .env("RUST_LOG", "info")
            .env("NOTIFY_SOCKET", self.t.join("notify.sock"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// `GET path` from the node's local API (HTTP/1.0 over its socket) as JSON; `Null` when
    /// the agent does not answer.
    pub fn api_get(&self, path: &str) -> Value {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.dir("run/nodelet.sock"))
        else {
            return Value::Null;
        };
        let _ = s.write_all(format!("GET {path} HTTP/1.0\r\nHost: n\r\n\r\n").as_bytes());
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// `DELETE path` on the node's local API; the response's JSON (`Null` if none).
    pub fn api_delete(&self, path: &str) -> Value {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.dir("run/nodelet.sock"))
        else {
            return Value::Null;
        };
        let _ = s.write_all(format!("DELETE {path} HTTP/1.0\r\nHost: n\r\n\r\n").as_bytes());
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// `nodectl <args>` against this node, which must succeed: its stdout.
    pub fn nodectl(&self, args: &[&str]) -> String {
        let o = Command::new(target_bin("nodectl"))
            .arg("--socket")
            .arg(self.dir("run/nodelet.sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "nodectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Polls `cond` every 100 ms for up to `secs`; on a timeout fails naming `what`, with the
    /// pods' names and phases and the agent's log.
    pub fn wait_until(&self, what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
        let t = std::time::Instant::now();
        while !cond() {
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}; pods: {:#?}\nnodelet log:\n{}",
                self.pods()
                    .iter()
                    .map(|p| (&p["metadata"]["name"], &p["status"]["phase"]))
                    .collect::<Vec<_>>(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        for tag in ["1", "2", "3"] {
            s += &std::fs::read_to_string(self.t.join(format!("nodelet-{tag}.log")))
                .unwrap_or_default();
        }
        s
    }

    /// The status.json of every pod.
    pub fn pods(&self) -> Vec<Value> {
        let mut out = vec![];
        for e in std::fs::read_dir(self.dir("root/pods"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(b) = std::fs::read(e.path().join("status.json"))
                && let Ok(v) = serde_json::from_slice::<Value>(&b)
            {
                out.push(v);
            }
        }
        out
    }

    pub fn wait_pod(&self, what: &str, secs: u64, mut cond: impl FnMut(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            if let Some(p) = self.pods().into_iter().find(|p| cond(p)) {
                return p;
            }
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}; pods: {:#?}\nnodelet log:\n{}",
                self.pods().iter().map(|p| &p["status"]).collect::<Vec<_>>(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Node {
    /// Waits up to `secs` for every pod directory under the root dir to be gone (torn down).
    pub fn wait_pod_gone(&self, secs: u64) {
        let t = Instant::now();
        while std::fs::read_dir(self.dir("root/pods"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0
        {
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "pod not removed; log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The CNI cache entries and attachment lock files left below `dir` (`<rootDir>/cni-cache`);
/// the node-wide GC lock `locks/.gc` is not an attachment's and stays.
pub fn cni_cache_left(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(cni_cache_left(&p));
        } else if p.file_name().is_none_or(|n| n != ".gc") {
            out.push(p);
        }
    }
    out
}

pub fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

impl Node {
    /// A node in temp dir `t` running this build's `nodelet`, with nodenet as its CNI plugin
    /// on bridge `bridge` with pod subnet `subnet` (no masquerade).
    pub fn with_nodenet(t: &Path, nodelet: &Path, bridge: &str, subnet: &str) -> Node {
        let node = Node {
            t: t.to_path_buf(),
            nodelet: nodelet.to_path_buf(),
        };
        for d in ["manifests", "root", "logs", "run", "net.d", "cni-bin"] {
            std::fs::create_dir_all(node.dir(d)).unwrap();
        }
        std::os::unix::fs::symlink(target_bin("nodenet"), node.dir("cni-bin/nodenet")).unwrap();
        std::fs::write(
            node.dir("net.d/10-pods.conflist"),
            serde_json::json!({
                "cniVersion": "1.1.0", "name": "podnet",
                "plugins": [{"type": "nodenet", "bridge": bridge, "subnet": subnet,
                             "ipMasq": false, "dataDir": node.dir("nodenet-data")}],
            })
            .to_string(),
        )
        .unwrap();
        assert!(target_bin("nodelet-shim").exists() && target_bin("nodelet-pause").exists());
        node
    }
}

/// What an end-to-end case works in: a temp dir, the cleanup guard for the agent and its
/// leftovers, a cgroup of the test's own, and a node with nodenet in that dir. Destructure it;
/// drop `cleanup` before `cg` (the processes leave the cgroup before it is removed).
pub struct NodeEnv {
    pub node: Node,
    pub cleanup: Cleanup,
    pub cg: TestCgroup,
    pub t: PathBuf,
    pub tmp: tempfile::TempDir,
}

impl NodeEnv {
    /// A temp dir named `<prefix>…` holding a node of this build's `nodelet` with nodenet on
    /// bridge `bridge` and pod subnet `subnet`.
    pub fn nodenet(prefix: &str, bridge: &str, subnet: &str) -> NodeEnv {
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let t = tmp.path().to_path_buf();
        let cleanup = Cleanup {
            t: t.clone(),
            agent: None,
        };
        let cg = TestCgroup::enter();
        let node = Node::with_nodenet(&t, Path::new(env!("CARGO_BIN_EXE_nodelet")), bridge, subnet);
        NodeEnv {
            node,
            cleanup,
            cg,
            t,
            tmp,
        }
    }
}

/// `kill -9` of the agent (its pods keep running: a later agent adopts them).
pub fn kill_agent(cleanup: &mut Cleanup) {
    if let Some(mut a) = cleanup.agent.take() {
        a.kill().unwrap();
        a.wait().unwrap();
    }
}

/// SIGTERM to the agent; it must exit 0 (pods stay: they are the test's to remove).
pub fn stop_agent(cleanup: &mut Cleanup) {
    if let Some(mut a) = cleanup.agent.take() {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(a.id() as i32),
            nix::sys::signal::SIGTERM,
        )
        .unwrap();
        assert!(a.wait().unwrap().success());
    }
}

/// The `main` of a harness=false end-to-end test: as root, enters private mount and network
/// namespaces (before any thread exists) with loopback up, then runs the `cases` whose names
/// match the command line's filters, printing libtest-like lines; exits 1 if any failed.
pub fn run_cases(test: &str, cases: &[(&str, fn())]) {
    if !nix::unistd::geteuid().is_root() {
        println!("{test}: skipped (needs root)");
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        panic!("/bin/busybox missing: apt-get install busybox-static");
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap();
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    sh(&["ip", "link", "set", "lo", "up"]);
    let filter = name_filters();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(case) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
