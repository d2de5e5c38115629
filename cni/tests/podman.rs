//! Debian's podman (network_backend = "cni") attaching containers through a nodenet
//! conflist, inside a node netns and a private cgroup/mount sandbox (tests/podman/).

use std::collections::HashMap;
use std::process::Command;

#[test]
fn podman_runs_containers_on_a_nodenet_network() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/podman/podman_cni.sh");
    let out = Command::new(script)
        .arg(env!("CARGO_BIN_EXE_nodenet"))
        .output()
        .expect("run podman_cni.sh (needs Debian's podman, runc, catatonit)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "podman_cni.sh failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r: HashMap<String, Vec<String>> = HashMap::new();
    for line in stdout.lines().filter_map(|l| l.strip_prefix("RESULT ")) {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        r.entry(k.to_string()).or_default().push(v.to_string());
    }
    let one = |k: &str| {
        r.get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        r["network"].contains(&"nnpod nodenet".to_string()),
        "{stdout}"
    );
    assert_eq!(one("ip_a"), "10.244.50.2");
    assert_eq!(one("addr_a"), "10.244.50.2/24");
    assert_eq!(one("mtu_a"), "1450");
    assert_eq!(one("leases_running"), "1");
    assert_eq!(one("ping_b_to_a"), "ok");
    // podman's DEL on container removal freed the lease.
    assert_eq!(one("hostport"), "hostport-ok");
    assert_eq!(one("hostport_after_rm"), "0");
    assert_eq!(one("leases_after_rm"), "0");
    assert_eq!(one("done"), "");
}
