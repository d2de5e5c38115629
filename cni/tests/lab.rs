//! The one-machine lab (lab/lab.sh): 3 netns "nodes" on an underlay bridge in a netns of its
//! own, pods on each, traffic across nodes over the VXLAN overlay; and `vagrant validate`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn lab_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../lab/lab.sh"))
}

/// A running lab, torn down on drop.
struct Lab {
    prefix: String,
    dir: PathBuf,
}

impl Lab {
    fn up(nodes: usize, node_cmd: &str) -> Lab {
        let prefix = format!("{}-", unique("l"));
        let dir = std::env::temp_dir().join(format!("{prefix}lab"));
        let lab = Lab { prefix, dir };
        // -x: the network alone (no nodelets; agent/tests/lab_pods.rs runs the lab with them).
        let mut args = vec!["-x".to_string(), "-n".to_string(), nodes.to_string()];
        if !node_cmd.is_empty() {
            args.push("-c".into());
            args.push(node_cmd.into());
        }
        args.push("up".into());
        lab.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        lab
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(lab_script())
            .args(["-p", &self.prefix, "-d"])
            .arg(&self.dir)
            .args(["-b", BIN])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lab.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn ns(&self, name: &str) -> Netns {
        Netns {
            name: format!("{}{name}", self.prefix),
        }
    }

    fn pod(&self, node: usize, name: &str) -> String {
        self.run(&["pod", &node.to_string(), name])
    }

    fn conflist(&self, node: usize) -> PathBuf {
        self.dir.join(format!("n{node}/net.d/10-nodenet.conflist"))
    }

    fn netns_left(&self) -> Vec<String> {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(&self.prefix))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_script())
            .args(["down", "-p", &self.prefix, "-d"])
            .arg(&self.dir)
            .status();
    }
}

/// Handles into lab namespaces must not delete them on drop: the lab owns them.
fn borrowed(ns: Netns) -> std::mem::ManuallyDrop<Netns> {
    std::mem::ManuallyDrop::new(ns)
}

#[test]
fn three_node_lab_pod_to_pod_across_nodes() {
    let lab = Lab::up(
        3,
        "echo \"$NODE_NAME $NODE_IP $CNI_CONF_DIR\" > $NODE_DIR/agent.out; exec sleep 300",
    );
    let (ipa, ipb, ipc) = (lab.pod(1, "a"), lab.pod(2, "b"), lab.pod(3, "c"));
    assert_eq!(
        (ipa.as_str(), ipb.as_str(), ipc.as_str()),
        ("10.244.1.2", "10.244.2.2", "10.244.3.2")
    );
    let (a, b, c) = (
        borrowed(lab.ns("p-a")),
        borrowed(lab.ns("p-b")),
        borrowed(lab.ns("p-c")),
    );
    let ul = borrowed(lab.ns("ul"));

    // The per-node command hook ran inside each node with its environment.
    let agent = std::fs::read_to_string(lab.dir.join("n2/agent.out")).unwrap();
    assert!(agent.starts_with("n2 192.168.77.2 "), "{agent}");

    // Ping across nodes, both directions, and a full-MTU payload (1450 - 28).
    assert!(a.ping(&ipb) && a.ping(&ipc) && c.ping(&ipa) && b.ping(&ipc));
    let big = a.run(&["busybox", "ping", "-c", "1", "-W", "2", "-s", "1422", &ipc]);
    assert!(
        big.status.success(),
        "1422-byte ping across the overlay failed"
    );

    // TCP across nodes with the pod's own source address preserved.
    let _srv_b = EchoIpServer::start(&b, 8080);
    assert_eq!(fetch_client_ip(&a, &ipb, 8080), ipa);
    assert_eq!(fetch_client_ip(&c, &ipb, 8080), ipc);
    // Leaving the cluster CIDR is masqueraded to the node IP.
    let _srv_out = EchoIpServer::start(&ul, 8081);
    assert_eq!(fetch_client_ip(&a, "192.168.77.254", 8081), "192.168.77.1");

    // MTU right on every interface.
    for i in 1..=3 {
        let n = borrowed(lab.ns(&format!("n{i}")));
        assert_eq!(n.mtu("eth0"), 1500, "underlay n{i}");
        assert_eq!(n.mtu("cni0"), 1450, "bridge n{i}");
        assert_eq!(n.mtu("nodenet.1"), 1450, "vxlan n{i}");
        let vx = n.ip(&["-d", "link", "show", "nodenet.1"]);
        assert!(
            vx.contains(&format!("vxlan id 1 local 192.168.77.{i} dev eth0"))
                && vx.contains("dstport 8472"),
            "{vx}"
        );
        assert!(vx.contains(&format!("0e:6e:c0:a8:4d:{i:02x}")), "{vx}");
    }
    for p in [&a, &b, &c] {
        assert_eq!(p.mtu("eth0"), 1450);
    }

    // CHECK (verifies the VXLAN device, tx checksum offload off, peers, masquerade).
    let n1 = borrowed(lab.ns("n1"));
    let conf = plugin_conf(&lab.conflist(1));
    cni(Some(&n1), "CHECK", &conf, "a", Some(&a.path()), "eth0").ok();

    // Remove node 3 from node 1's peers: `nodenet sync` drops its route, neighbour and FDB
    // entry; node 2 still works.
    let cfg = lab.run(&["config", "1", "3", "3"]);
    std::fs::write(lab.conflist(1), cfg).unwrap();
    let out = n1.run(&[BIN, "sync", "--config", lab.conflist(1).to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let routes = n1.ip(&["route"]);
    assert!(
        !routes.contains("10.244.3.0/24")
            && routes.contains("10.244.2.0/24 via 10.244.2.0 dev nodenet.1"),
        "{routes}"
    );
    let neigh = n1.ip(&["neigh", "show", "dev", "nodenet.1"]);
    assert!(
        !neigh.contains("10.244.3.0") && neigh.contains("10.244.2.0"),
        "{neigh}"
    );
    let fdb = n1.run(&["bridge", "fdb", "show", "dev", "nodenet.1"]);
    let fdb = String::from_utf8_lossy(&fdb.stdout);
    assert!(
        !fdb.contains("192.168.77.3") && fdb.contains("192.168.77.2"),
        "{fdb}"
    );
    assert!(!a.ping(&ipc));
    assert!(a.ping(&ipb));
    cni(
        Some(&n1),
        "CHECK",
        &plugin_conf(&lab.conflist(1)),
        "a",
        Some(&a.path()),
        "eth0",
    )
    .ok();
    // Stale config on disk vs kernel: CHECK with the old peer list now fails.
    cni(Some(&n1), "CHECK", &conf, "a", Some(&a.path()), "eth0").err(103, "VXLAN peers");

    // DEL of a pod, then teardown leaves nothing behind.
    lab.run(&["unpod", "2", "b"]);
    let agent_pid: i32 = std::fs::read_to_string(lab.dir.join("n1/agent.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    lab.run(&["down"]);
    assert!(lab.netns_left().is_empty(), "{:?}", lab.netns_left());
    assert!(!lab.dir.exists());
    let alive = || {
        std::fs::read_to_string(format!("/proc/{agent_pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    };
    let t = std::time::Instant::now();
    while alive() && t.elapsed() < std::time::Duration::from_secs(3) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !alive(),
        "node agent {agent_pid} still running after lab down"
    );
}

/// The plugin config for one CNI call, cut from a conflist.
fn plugin_conf(conflist: &std::path::Path) -> String {
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(conflist).unwrap()).unwrap();
    let mut p = c["plugins"][0].clone();
    p["name"] = c["name"].clone();
    p["cniVersion"] = c["cniVersion"].clone();
    p.to_string()
}

#[test]
fn vagrantfile_validates() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // Keep vagrant's state dir (.vagrant/) out of the source tree.
    let state = tempfile::tempdir().unwrap();
    let out = Command::new("vagrant")
        .arg("validate")
        .current_dir(root)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_DOTFILE_PATH", state.path())
        .output()
        .expect("`vagrant` not found: install Debian's vagrant package");
    assert!(
        out.status.success(),
        "vagrant validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And with a different node count.
    let out = Command::new("vagrant")
        .arg("validate")
        .current_dir(root)
        .env("NODES", "5")
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_DOTFILE_PATH", state.path())
        .output()
        .unwrap();
    assert!(out.status.success());
}
