//! The pod sandbox end to end as root on the real kernel: the pause bundle run by a real
//! `nodelet-shim`, its netns pinned, CNI ADD through nodenet and through Debian's reference
//! plugins (bridge + host-local + loopback) with the pod IP checked on eth0 inside the pause's
//! namespace, managed hosts/resolv.conf, an app container that joins the pod's namespaces by
//! the given paths (sees the pod's hostname, IP, hosts, resolv.conf and the pause as pid 1),
//! then the pause killed, CNI DEL from the cached result
//! (once with the namespace still pinned, once with it gone), unpin, and nothing left behind:
//! pins, mounts, leases, veths, cache entries, cgroups. Plus a hostNetwork/hostPID/hostIPC
//! sandbox, which shares the node's namespaces and needs no CNI.
//!
//! `harness = false`: before any thread exists, the test moves into a private mount namespace
//! and a fresh network namespace that plays the node, so nothing touches the host's network
//! and every mount dies with the process even on failure.
//!
//! The shim, pause and nodenet binaries belong to other packages, so `CARGO_BIN_EXE_*` is not
//! available here: they are taken from this target directory (`target/debug/`), which
//! `cargo build --workspace --all-targets` (test.sh) fills; a missing one fails with a hint.

use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nodelet::cni::{Cni, PodNetwork};
use nodelet::sandbox::bundle::{self, SandboxSpec};
use nodelet::sandbox::{NamespaceOptions, dns, netns, paths};
use nodelet_shim_protocol::protocol::{Client, Request, Response};

// The harness's name filters (shared with the other `harness = false` tests).
mod node;

struct Bins {
    shim: PathBuf,
    pause: PathBuf,
    nodenet: PathBuf,
}

fn bins() -> Bins {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let find = |name: &str, pkg: &str| {
        let p = dir.join(name);
        assert!(
            p.exists(),
            "{} missing: run `cargo build -p {pkg}` (or test.sh) first",
            p.display()
        );
        p
    };
    Bins {
        shim: find("nodelet-shim", "nodelet-shim"),
        pause: find("nodelet-pause", "nodelet-pause"),
        nodenet: find("nodenet", "nodenet"),
    }
}

/// The per-pod shim, its containers force-deleted and the process killed on drop.
struct Shim {
    child: std::process::Child,
    sock: PathBuf,
}

impl Shim {
    fn spawn(bin: &Path, dir: &Path, runtime_root: &Path) -> Shim {
        let mut child = Command::new(bin)
            .arg("--dir")
            .arg(dir)
            .arg("--runtime-root")
            .arg(runtime_root)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        Shim {
            child,
            sock: dir.join("shim.sock"),
        }
    }

    fn call(&self, r: Request) -> Response {
        Client::connect(&self.sock).unwrap().call(&r).unwrap()
    }

    /// Create and start the sandbox; its pid.
    fn run(&self, id: &str, bundle: &Path) -> i32 {
        let Response::Created { pid } = self.call(Request::Create {
            id: id.into(),
            bundle: bundle.into(),
            log_path: Some(bundle.join("pause.log")),
            oom_counter: None,
            stdin: false,
            stdin_once: false,
            tty: false,
        }) else {
            panic!("create failed")
        };
        let started = Client::connect(&self.sock)
            .unwrap()
            .call(&Request::Start { id: id.into() });
        assert!(
            started.is_ok(),
            "start: {started:?}; pause log: {:?}; state {:?}",
            std::fs::read_to_string(bundle.join("pause.log")),
            self.call(Request::State { id: id.into() })
        );
        pid
    }

    fn kill_and_delete(&self, id: &str) {
        assert_eq!(
            self.call(Request::Kill {
                id: id.into(),
                signal: libc::SIGKILL,
                all: false,
            }),
            Response::Ok
        );
        let t = Instant::now();
        loop {
            let Response::Container(info) = self.call(Request::State { id: id.into() }) else {
                panic!("state")
            };
            if let Some(exit) = info.exit {
                assert_eq!(exit.signal, Some(libc::SIGKILL));
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "pause did not die");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            self.call(Request::Delete {
                id: id.into(),
                force: false,
            }),
            Response::Ok
        );
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.sock)
            && let Ok(Response::Containers { containers }) = c.call(&Request::List)
        {
            for ci in containers {
                let _ = c.call(&Request::Delete {
                    id: ci.id,
                    force: true,
                });
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pod's cgroup below the test's own (as the pod manager will make it), removed on drop.
struct PodCgroup {
    rel: PathBuf,
    cg: noderun_cgroups::Cgroup,
}

impl PodCgroup {
    fn new(rel: &str) -> PodCgroup {
        let mut cg = noderun_cgroups::Cgroup::resolve(Some(Path::new(rel)), "pod").unwrap();
        cg.create().unwrap();
        PodCgroup {
            rel: rel.into(),
            cg,
        }
    }

    /// Child cgroups left in any hierarchy.
    fn children(&self) -> Vec<PathBuf> {
        self.cg
            .dirs()
            .iter()
            .flat_map(|d| std::fs::read_dir(&d.path).into_iter().flatten())
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        let _ = self.cg.delete();
    }
}

/// Unpins on drop (the test's success path unpins itself and checks).
struct PinGuard(PathBuf);

impl Drop for PinGuard {
    fn drop(&mut self) {
        let _ = netns::unpin(&self.0);
    }
}

fn status_field(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} not in status"))
        .trim()
        .to_string()
}

fn ns_id(path: &str) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn veths() -> String {
    sh(&["ip", "-o", "link", "show", "type", "veth"])
}

fn pin_mounts(under: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&under.display().to_string()))
        .map(str::to_string)
        .collect()
}

/// Lease files (named by IP address) in an IPAM data directory.
fn leases(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<IpAddr>().is_ok())
        .collect()
}

/// An app container made the way the pod manager will: a busybox rootfs, the pod's
/// namespaces joined by the paths [`netns::container_namespaces`] gives, the managed hosts and
/// resolv.conf bound in. Runs `script` through the shim; returns its output (CRI log text).
fn app_container(
    shim: &Shim,
    dir: &Path,
    joined: &netns::PodNamespaces,
    files: &dns::PodDnsFiles,
    script: &str,
) -> String {
    let rootfs = dir.join("rootfs");
    nodelet_testkit::busybox_rootfs(&rootfs, &[]);
    let mut spec = serde_json::to_value(oci_spec::runtime::Spec::default()).unwrap();
    spec["ociVersion"] = serde_json::json!("1.2.0");
    spec["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["root"]["readonly"] = serde_json::json!(false);
    spec["hostname"] = serde_json::Value::Null;
    let mut namespaces = vec![serde_json::json!({"type": "mount"})];
    for (kind, ns) in [
        ("network", &joined.network),
        ("ipc", &joined.ipc),
        ("uts", &joined.uts),
        ("pid", &joined.pid),
    ] {
        match ns {
            netns::Namespace::Host => {}
            netns::Namespace::New => namespaces.push(serde_json::json!({"type": kind})),
            netns::Namespace::Join(p) => {
                namespaces.push(serde_json::json!({"type": kind, "path": p}))
            }
        }
    }
    spec["linux"]["namespaces"] = serde_json::json!(namespaces);
    spec["linux"]["cgroupsPath"] = serde_json::Value::Null;
    let mounts = spec["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
    for (src, dst) in [
        (&files.hosts, "/etc/hosts"),
        (&files.resolv_conf, "/etc/resolv.conf"),
    ] {
        mounts.push(
            serde_json::json!({"destination": dst, "type": "bind", "source": src,
                                      "options": ["rbind", "ro"]}),
        );
    }
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let log = dir.join("app.log");
    let id = "app".to_string();
    let Response::Created { .. } = shim.call(Request::Create {
        id: id.clone(),
        bundle: dir.to_path_buf(),
        log_path: Some(log.clone()),
        oom_counter: None,
        stdin: false,
        stdin_once: false,
        tty: false,
    }) else {
        panic!("create app")
    };
    assert_eq!(shim.call(Request::Start { id: id.clone() }), Response::Ok);
    let t = Instant::now();
    loop {
        let Response::Container(info) = shim.call(Request::State { id: id.clone() }) else {
            panic!("state")
        };
        if let Some(exit) = info.exit {
            assert_eq!(exit.exit_code, 0, "{:?}", std::fs::read_to_string(&log));
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "app did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        shim.call(Request::Delete { id, force: false }),
        Response::Ok
    );
    wait_for("the app's log", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("END"))
    });
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| nodelet_shim_protocol::crilog::parse_line(l).map(|p| p.text.to_string()))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Network {
    tag: &'static str,
    conflist: String,
    bin_dirs: Vec<PathBuf>,
    /// Where the IPAM keeps leases for this network.
    lease_dir: PathBuf,
    subnet_prefix: &'static str,
    /// DEL after unpinning (netns gone) instead of before.
    del_after_unpin: bool,
}

fn pod_with_network(b: &Bins, rt: &tokio::runtime::Runtime, n: Network, t: &Path) {
    let root_dir = t.join("root");
    let run_dir = t.join("run");
    let conf_dir = t.join("net.d");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(conf_dir.join("10-pods.conflist"), &n.conflist).unwrap();
    std::fs::write(conf_dir.join("99-later.conf"), "{ not the chosen one").unwrap();
    let uid = format!("uid-{}-{}", n.tag, std::process::id());
    let id = format!("sb-{}", n.tag);
    let pod_name = format!("web-{}-node1", n.tag);
    let cg = PodCgroup::new(&format!("nodelet-sbtest-{}/pod-{uid}", std::process::id()));
    let spec = SandboxSpec {
        id: id.clone(),
        pod_name: pod_name.clone(),
        pod_namespace: "default".into(),
        pod_uid: uid.clone(),
        hostname: bundle::pod_hostname(&pod_name, None),
        namespaces: NamespaceOptions::default(),
        cgroup_parent: cg.rel.clone(),
        pause_binary: b.pause.clone(),
        root_dir: root_dir.clone(),
        sysctls: [(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "80".to_string(),
        )]
        .into(),
        oom_score_adj: None,
    };
    let bundle_dir = bundle::write(&spec).unwrap();
    let shim = Shim::spawn(
        &b.shim,
        &run_dir.join("pods").join(&uid).join("shim"),
        &run_dir.join("runtime"),
    );
    let t0 = Instant::now();
    let pid = shim.run(&id, &bundle_dir);
    let started = t0.elapsed();

    // The pause: pid 1 of its own pid namespace, no privileges, in the pod cgroup.
    assert_eq!(
        status_field(pid, "NSpid").split_whitespace().last(),
        Some("1")
    );
    assert_eq!(status_field(pid, "CapEff"), "0000000000000000");
    assert_eq!(status_field(pid, "CapBnd"), "0000000000000000");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2");
    assert!(status_field(pid, "Uid").starts_with("65535"));
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let leaf = cg.rel.join(&id).display().to_string();
    assert!(cgroups.contains(&leaf), "{leaf} not in {cgroups}");
    for kind in ["net", "uts", "ipc", "pid", "mnt"] {
        assert_ne!(
            ns_id(&format!("/proc/{pid}/ns/{kind}")),
            ns_id(&format!("/proc/self/ns/{kind}")),
            "{kind} namespace is the pod's own"
        );
    }
    let hostname = sh(&["nsenter", "-u", "-t", &pid.to_string(), "hostname"]);
    assert_eq!(hostname.trim(), pod_name);
    let root_mount = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_line = root_mount
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap();
    assert!(
        root_line
            .split_whitespace()
            .nth(5)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "read-only root: {root_line}"
    );
    let sysctl = sh(&[
        "nsenter",
        "-n",
        "-t",
        &pid.to_string(),
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(sysctl.trim(), "80");

    // Pin (twice: idempotent) and bring lo up.
    let pin = paths::netns_pin_path(&run_dir, &uid);
    let _pin_guard = PinGuard(pin.clone());
    netns::pin(pid, &pin).unwrap();
    netns::pin(pid, &pin).unwrap();
    assert!(netns::is_pinned(&pin));
    assert_eq!(pin_mounts(&run_dir).len(), 1, "one pin mount");
    netns::loopback_up(&pin).unwrap();
    let pinned = format!("--net={}", pin.display());
    let lo = sh(&["nsenter", &pinned, "ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains(",UP"), "{lo}");

    // CNI ADD.
    let cni = Cni::new(&conf_dir, &n.bin_dirs, &paths::cni_cache_dir(&root_dir));
    let podnet = spec.pod_network(&pin);
    let t1 = Instant::now();
    let att = rt.block_on(cni.add(&podnet)).unwrap();
    eprintln!(
        "{}: pause created+started in {started:?}, CNI ADD in {:?}",
        n.tag,
        t1.elapsed()
    );
    let ip = att.pod_ip().expect("a pod IP");
    assert!(ip.to_string().starts_with(n.subnet_prefix), "{ip}");
    let eth0 = sh(&[
        "nsenter", &pinned, "ip", "-o", "addr", "show", "dev", "eth0",
    ]);
    assert!(eth0.contains(&format!("inet {ip}/")), "{eth0}");
    assert!(
        Command::new("busybox")
            .args(["ping", "-c", "1", "-W", "2", &ip.to_string()])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success(),
        "the node reaches the pod"
    );
    assert_eq!(leases(&n.lease_dir), vec![ip.to_string()]);
    let cached = cni.cached(&id, "eth0").unwrap().unwrap();
    assert_eq!(cached.pod_ip(), Some(ip));

    // Managed hosts and resolv.conf.
    let (resolv, _warnings) = dns::resolv_conf(&dns::DnsInput {
        policy: None,
        host_network: false,
        dns_config: None,
        namespace: "default",
        cluster: &dns::ClusterDns::default(),
        host_resolv: "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lab\n",
    })
    .unwrap();
    let files = dns::write_files(
        &root_dir,
        &uid,
        &dns::hosts_content(&att.ips, &spec.hostname, None, &[]),
        &resolv,
    )
    .unwrap();
    let hosts = std::fs::read_to_string(&files.hosts).unwrap();
    assert!(hosts.contains(&format!("\n{ip}\t{pod_name}\n")), "{hosts}");
    assert_eq!(
        std::fs::read_to_string(&files.resolv_conf).unwrap(),
        "search lab\nnameserver 10.0.0.2\n"
    );

    // An app container joins the pod's namespaces (one pid namespace: shareProcessNamespace)
    // and sees the pod's name, IP, hosts and resolv.conf, and the pause as its pid 1.
    let shared = NamespaceOptions {
        share_process_namespace: true,
        ..Default::default()
    };
    let joined = netns::container_namespaces(&shared, pid, &pin);
    let out = app_container(
        &shim,
        &t.join("app"),
        &joined,
        &files,
        "hostname; ip addr show eth0; cat /etc/hosts /etc/resolv.conf; \
         echo pid1=$(cat /proc/1/cmdline); echo END",
    );
    assert!(out.starts_with(&format!("{pod_name}\n")), "{out}");
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    assert!(out.contains(&format!("{ip}\t{pod_name}")), "{out}");
    assert!(out.contains("nameserver 10.0.0.2"), "{out}");
    assert!(out.contains("pid1=/pause"), "{out}");

    // Teardown: kill the pause; DEL with the pin still there or with the namespace gone.
    shim.kill_and_delete(&id);
    if n.del_after_unpin {
        // As garbage collection after a crash would: the pin goes, then DEL from the cache.
        assert_eq!(
            netns::list_pins(&run_dir).unwrap(),
            vec![(uid.clone(), pin.clone())]
        );
        netns::unpin(&pin).unwrap();
        assert!(!pin.exists());
        assert!(netns::list_pins(&run_dir).unwrap().is_empty());
        let cached = cni.list_cached().unwrap();
        assert_eq!(cached.len(), 1);
        let orphan = PodNetwork::from_cached(&cached[0], None);
        assert_eq!(
            (&orphan.container_id, &orphan.pod_name, &orphan.pod_uid),
            (&id, &pod_name, &uid)
        );
        rt.block_on(cni.del(&orphan)).unwrap();
    } else {
        rt.block_on(cni.del(&podnet)).unwrap();
        netns::unpin(&pin).unwrap();
    }
    netns::unpin(&pin).unwrap();
    // A second DEL (nothing cached any more) succeeds too.
    rt.block_on(cni.del(&podnet)).unwrap();
    bundle::remove(&root_dir, &uid).unwrap();
    dns::remove_files(&root_dir, &uid).unwrap();
    drop(shim);

    // Nothing left.
    assert!(!pin.exists(), "pin file");
    assert!(pin_mounts(&run_dir).is_empty(), "pin mounts");
    assert!(
        leases(&n.lease_dir).is_empty(),
        "leases: {:?}",
        leases(&n.lease_dir)
    );
    assert!(cni.cached(&id, "eth0").unwrap().is_none(), "cache entry");
    wait_for("the pod's veth to go", || veths().trim().is_empty());
    assert!(
        cg.children().is_empty(),
        "sandbox cgroup: {:?}",
        cg.children()
    );
    let pod_dir = paths::pod_dir(&root_dir, &uid);
    let left: Vec<_> = std::fs::read_dir(&pod_dir)
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "pod dir: {left:?}");
}

fn nodenet(b: &Bins, rt: &tokio::runtime::Runtime) {
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&b.nodenet, bin.join("nodenet")).unwrap();
    let data = t.path().join("nodenet-data");
    let conflist = serde_json::json!({
        "cniVersion": "1.1.0",
        "name": "podnet",
        "plugins": [{
            "type": "nodenet", "bridge": "sbn0", "subnet": "10.244.7.0/24",
            "ipMasq": false, "dataDir": data,
        }],
    })
    .to_string();
    pod_with_network(
        b,
        rt,
        Network {
            tag: "nodenet",
            conflist,
            bin_dirs: vec![bin],
            lease_dir: data.join("podnet"),
            subnet_prefix: "10.244.7.",
            del_after_unpin: false,
        },
        t.path(),
    );
}

fn reference_plugins(b: &Bins, rt: &tokio::runtime::Runtime) {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("host-local");
    let conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "refnet",
        "plugins": [
            {"type": "bridge", "bridge": "sbr0", "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.9.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": data}},
            {"type": "loopback"},
        ],
    })
    .to_string();
    pod_with_network(
        b,
        rt,
        Network {
            tag: "ref",
            conflist,
            bin_dirs: vec![PathBuf::from("/usr/lib/cni")],
            lease_dir: data.join("refnet"),
            subnet_prefix: "10.88.9.",
            del_after_unpin: true,
        },
        t.path(),
    );
}

fn host_namespaces(b: &Bins, _rt: &tokio::runtime::Runtime) {
    let t = tempfile::tempdir().unwrap();
    let uid = format!("uid-host-{}", std::process::id());
    let id = "sb-host".to_string();
    let cg = PodCgroup::new(&format!("nodelet-sbtest-{}/pod-{uid}", std::process::id()));
    let ns = NamespaceOptions {
        host_network: true,
        host_pid: true,
        host_ipc: true,
        share_process_namespace: false,
    };
    assert!(!ns.needs_network(), "hostNetwork: no CNI, no pin");
    let spec = SandboxSpec {
        id: id.clone(),
        pod_name: "hostpod-node1".into(),
        pod_namespace: "kube-system".into(),
        pod_uid: uid.clone(),
        hostname: "hostpod-node1".into(),
        namespaces: ns,
        cgroup_parent: cg.rel.clone(),
        pause_binary: b.pause.clone(),
        root_dir: t.path().join("root"),
        sysctls: Default::default(),
        oom_score_adj: None,
    };
    let bundle_dir = bundle::write(&spec).unwrap();
    let shim = Shim::spawn(&b.shim, &t.path().join("shim"), &t.path().join("runtime"));
    let pid = shim.run(&id, &bundle_dir);
    for kind in ["net", "uts", "ipc", "pid"] {
        assert_eq!(
            ns_id(&format!("/proc/{pid}/ns/{kind}")),
            ns_id(&format!("/proc/self/ns/{kind}")),
            "{kind} namespace is the node's"
        );
    }
    assert_ne!(
        ns_id(&format!("/proc/{pid}/ns/mnt")),
        ns_id("/proc/self/ns/mnt")
    );
    let joined = netns::container_namespaces(&ns, pid, Path::new("/unused"));
    assert_eq!(joined.network, netns::Namespace::Host);
    shim.kill_and_delete(&id);
    bundle::remove(&spec.root_dir, &uid).unwrap();
    drop(shim);
    assert!(
        cg.children().is_empty(),
        "sandbox cgroup: {:?}",
        cg.children()
    );
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("sandbox: skipped (needs root)");
        println!("0 passed, 0 failed");
        return;
    }
    let b = bins();
    // Still single-threaded: a private mount namespace and a fresh network namespace (the
    // "node"); threads and children created from now on inherit both.
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    type Case = fn(&Bins, &tokio::runtime::Runtime);
    let cases: [(&str, Case); 3] = [
        ("sandbox_with_nodenet", nodenet),
        (
            "sandbox_with_reference_plugins_del_after_netns_gone",
            reference_plugins,
        ),
        ("sandbox_host_namespaces", host_namespaces),
    ];
    let filter = node::name_filters();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&b, &rt)));
        match r {
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
    // The test-wide cgroup parent made by PodCgroup::new (empty by now).
    if let Ok(cg) = noderun_cgroups::Cgroup::resolve(
        Some(Path::new(&format!("nodelet-sbtest-{}", std::process::id()))),
        "x",
    ) {
        for d in cg.dirs() {
            let _ = std::fs::remove_dir(&d.path);
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
