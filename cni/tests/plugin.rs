//! The plugin binary run with CNI environment variables inside test network namespaces
//! (a "node" netns per test; pods are further netns). Never touches the host's network.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::Value;

fn lease_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .map(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn version_lists_supported_versions() {
    let r = cni(None, "VERSION", r#"{"cniVersion":"1.0.0"}"#, "", None, "").ok();
    let v = r.json();
    assert_eq!(v["cniVersion"], "1.0.0");
    let list: Vec<&str> = v["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(list, ["0.4.0", "1.0.0", "1.1.0"]);
}

#[test]
fn add_check_del_single_pod() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.7.0/24", data.path(), "");
    let r = cni(Some(&node), "ADD", &c, "ctr1", Some(&pod.path()), "eth0").ok();
    let v = r.json();
    assert_eq!(v["cniVersion"], "1.1.0");
    assert_eq!(v["ips"][0]["address"], "10.244.7.2/24");
    assert_eq!(v["ips"][0]["gateway"], "10.244.7.1");
    assert_eq!(v["ips"][0]["interface"], 2);
    assert_eq!(v["interfaces"][2]["name"], "eth0");
    assert_eq!(
        v["interfaces"][2]["sandbox"],
        pod.path().display().to_string()
    );
    assert_eq!(v["interfaces"][2]["mtu"], 1450);
    assert_eq!(v["routes"][0]["dst"], "0.0.0.0/0");
    let host_veth = v["interfaces"][1]["name"].as_str().unwrap().to_string();

    // Inside the pod: address, default route, MTU (no underlay configured: 1500 - 50).
    let addr = pod.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addr.contains("10.244.7.2/24"), "{addr}");
    let routes = pod.ip(&["route"]);
    assert!(
        routes.contains("default via 10.244.7.1 dev eth0"),
        "{routes}"
    );
    assert_eq!(pod.mtu("eth0"), 1450);
    assert_eq!(node.mtu("cni0"), 1450);
    assert_eq!(node.mtu(&host_veth), 1450);
    let br = node.ip(&["-4", "-o", "addr", "show", "dev", "cni0"]);
    assert!(br.contains("10.244.7.1/24"), "{br}");
    assert!(pod.ping("10.244.7.1"), "pod cannot reach its gateway");
    // Masquerade rule in the node netns only.
    let nft = node.run(&["nft", "list", "table", "ip", "nodenet_testnet"]);
    let nft = String::from_utf8_lossy(&nft.stdout);
    assert!(
        nft.contains("ip saddr 10.244.7.0/24 ip daddr != 10.244.0.0/16")
            && nft.contains("masquerade"),
        "{nft}"
    );

    // CHECK passes with the ADD result as prevResult, and fails once the address is gone.
    let with_prev = |conf: &str, prev: &Value| {
        let mut c: Value = serde_json::from_str(conf).unwrap();
        c["prevResult"] = prev.clone();
        c.to_string()
    };
    cni(
        Some(&node),
        "CHECK",
        &with_prev(&c, &v),
        "ctr1",
        Some(&pod.path()),
        "eth0",
    )
    .ok();
    pod.ip(&["addr", "del", "10.244.7.2/24", "dev", "eth0"]);
    cni(
        Some(&node),
        "CHECK",
        &with_prev(&c, &v),
        "ctr1",
        Some(&pod.path()),
        "eth0",
    )
    .err(103, "lacks address 10.244.7.2/24");

    // DEL frees the lease and removes the interface; DEL twice is fine.
    cni(Some(&node), "DEL", &c, "ctr1", Some(&pod.path()), "eth0").ok();
    assert_eq!(lease_files(&data.path().join("testnet")), 0);
    pod.wait_for("eth0 removal", || !pod.has_link("eth0"));
    node.wait_for("host veth removal", || !node.has_link(&host_veth));
    cni(Some(&node), "DEL", &c, "ctr1", Some(&pod.path()), "eth0").ok();
    cni(Some(&node), "CHECK", &c, "ctr1", Some(&pod.path()), "eth0").err(103, "no address lease");
}

#[test]
fn add_is_idempotent_and_leases_survive() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.0.0", "10.244.8.0/24", data.path(), r#","ipMasq":false"#);
    let a = cni(Some(&node), "ADD", &c, "ctrA", Some(&pod.path()), "eth0")
        .ok()
        .json();
    let b = cni(Some(&node), "ADD", &c, "ctrA", Some(&pod.path()), "eth0")
        .ok()
        .json();
    assert_eq!(result_ip(&a), result_ip(&b));
    assert_eq!(a["interfaces"][2]["mac"], b["interfaces"][2]["mac"]);
    // The lease is on disk and a fresh process (a "restart") sees it.
    let leased = std::fs::read_to_string(data.path().join("testnet").join(result_ip(&a))).unwrap();
    assert_eq!(leased, format!("ctrA\neth0\n{}\n", result_ip(&a)));
    cni(Some(&node), "CHECK", &c, "ctrA", Some(&pod.path()), "eth0").ok();
    // ipMasq false: no nftables table.
    let nft = node.run(&["nft", "list", "table", "ip", "nodenet_testnet"]);
    assert!(!nft.status.success());
    // 0.4.0 results carry the IP version field.
    let pod2 = Netns::new("p");
    let c04 = conf("0.4.0", "10.244.8.0/24", data.path(), r#","ipMasq":false"#);
    let r = cni(Some(&node), "ADD", &c04, "ctrB", Some(&pod2.path()), "eth0")
        .ok()
        .json();
    assert_eq!(r["cniVersion"], "0.4.0");
    assert_eq!(r["ips"][0]["version"], "4");
    assert!(r["interfaces"][2].get("mtu").is_none());
}

#[test]
fn bad_configs_return_cni_errors_with_codes() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().display().to_string();
    let cases: &[(&str, u64, &str)] = &[
        (
            r#"{"cniVersion":"1.0.0","name":"x","type":"nodenet"}"#,
            7,
            "`subnet`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"1.0.0","name":"x","type":"nodenet","subnet":"10.244.1.0/40","dataDir":"{d}"}}"#
            ),
            7,
            "`subnet`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"1.0.0","name":"x","type":"nodenet","subnet":"banana","dataDir":"{d}"}}"#
            ),
            7,
            "`subnet`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"1.0.0","name":"x","type":"nodenet","subnet":"10.244.1.0/24","clusterCIDR":"10.0.0.0/33","dataDir":"{d}"}}"#
            ),
            7,
            "`clusterCIDR`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"0.3.1","name":"x","type":"nodenet","subnet":"10.244.1.0/24","dataDir":"{d}"}}"#
            ),
            1,
            "`cniVersion`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"9.0.0","name":"x","type":"nodenet","subnet":"10.244.1.0/24","dataDir":"{d}"}}"#
            ),
            1,
            "unsupported CNI version",
        ),
        (
            &format!(r#"{{"name":"x","type":"nodenet","subnet":"10.244.1.0/24","dataDir":"{d}"}}"#),
            7,
            "`cniVersion`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"1.0.0","name":"x","type":"nodenet","subnet":"10.244.1.0/24","peers":[{{"nodeIP":"nope","subnet":"10.244.2.0/24"}}],"nodeIP":"10.1.1.1","dataDir":"{d}"}}"#
            ),
            7,
            "`peers[0].nodeIP`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"1.0.0","name":"x","type":"bridge","subnet":"10.244.1.0/24","dataDir":"{d}"}}"#
            ),
            7,
            "`type`",
        ),
        (
            &format!(
                r#"{{"cniVersion":"1.0.0","name":"x","type":"nodenet","subnet":"10.244.1.0/24","ipam":{{}},"dataDir":"{d}"}}"#
            ),
            2,
            "`ipam`",
        ),
        ("{broken", 6, "not valid JSON"),
    ];
    let pod = Netns::new("p");
    for (conf, code, needle) in cases {
        let r = cni(None, "ADD", conf, "c1", Some(&pod.path()), "eth0");
        r.err(*code, needle);
        assert!(!pod.has_link("eth0"));
    }
    let good = conf("1.0.0", "10.244.1.0/24", data.path(), "");
    // Missing / bad environment.
    cni(None, "ADD", &good, "", Some(&pod.path()), "eth0").err(4, "CNI_CONTAINERID");
    cni(None, "ADD", &good, "c1", None, "eth0").err(4, "CNI_NETNS");
    cni(None, "ADD", &good, "c1", Some(&pod.path()), "").err(4, "CNI_IFNAME");
    cni(None, "ADD", &good, "c/1", Some(&pod.path()), "eth0").err(4, "CNI_CONTAINERID");
    cni(None, "FROB", &good, "c1", Some(&pod.path()), "eth0").err(4, "CNI_COMMAND");
    cni(
        None,
        "ADD",
        &good,
        "c1",
        Some(std::path::Path::new("/run/netns/does-not-exist-nn")),
        "eth0",
    )
    .err(3, "does not exist");
    // STATUS and GC are 1.1.0 commands.
    cni(None, "STATUS", &good, "", None, "").err(1, "1.1.0");
}

#[test]
fn subnet_exhaustion_is_a_clear_error() {
    let node = Netns::new("n");
    let data = tempfile::tempdir().unwrap();
    // /29: .0 VTEP, .1 gateway, .7 broadcast -> 5 pod addresses.
    let c = conf("1.1.0", "10.244.9.0/29", data.path(), r#","ipMasq":false"#);
    let pods: Vec<Netns> = (0..6).map(|_| Netns::new("p")).collect();
    let mut ips = HashSet::new();
    for (i, p) in pods.iter().take(5).enumerate() {
        let v = cni(
            Some(&node),
            "ADD",
            &c,
            &format!("c{i}"),
            Some(&p.path()),
            "eth0",
        )
        .ok()
        .json();
        ips.insert(result_ip(&v));
    }
    assert_eq!(ips.len(), 5);
    let r = cni(Some(&node), "ADD", &c, "c5", Some(&pods[5].path()), "eth0");
    r.err(100, "10.244.9.0/29 has no free address");
    assert!(!pods[5].has_link("eth0"));
    // STATUS reports the plugin unavailable while the subnet is full.
    cni(Some(&node), "STATUS", &c, "", None, "").err(50, "no free address");
    cni(Some(&node), "DEL", &c, "c0", Some(&pods[0].path()), "eth0").ok();
    cni(Some(&node), "STATUS", &c, "", None, "").ok();
    cni(Some(&node), "ADD", &c, "c5", Some(&pods[5].path()), "eth0").ok();
}

#[test]
fn fifty_concurrent_adds_get_fifty_distinct_ips() {
    let node = Netns::new("n");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.10.0/24", data.path(), "");
    let pods: Vec<Netns> = (0..50).map(|_| Netns::new("p")).collect();
    let ips: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (node, c) = (&node, &c);
                s.spawn(move || {
                    result_ip(
                        &cni(
                            Some(node),
                            "ADD",
                            c,
                            &format!("c{i}"),
                            Some(&p.path()),
                            "eth0",
                        )
                        .ok()
                        .json(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: HashSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), 50, "{ips:?}");
    for (p, ip) in pods.iter().zip(&ips) {
        let a = p.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
        assert!(a.contains(&format!("{ip}/24")), "{a}");
    }
    assert_eq!(lease_files(&data.path().join("testnet")), 50);
}

#[test]
fn del_without_netns_and_twice() {
    let node = Netns::new("n");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.11.0/24", data.path(), r#","ipMasq":false"#);
    let pod = Netns::new("p");
    let path = pod.path();
    cni(Some(&node), "ADD", &c, "gone", Some(&path), "eth0").ok();
    drop(pod); // the runtime already destroyed the netns
    cni(Some(&node), "DEL", &c, "gone", Some(&path), "eth0").ok();
    cni(Some(&node), "DEL", &c, "gone", None, "eth0").ok();
    cni(Some(&node), "DEL", &c, "gone", Some(&path), "eth0").ok();
    assert_eq!(lease_files(&data.path().join("testnet")), 0);
    // DEL of something never added is fine too.
    cni(Some(&node), "DEL", &c, "never", None, "eth0").ok();

    // The netns path is gone but a process still holds the namespace: DEL without a
    // netns removes the host end by name.
    let pod = Netns::new("p");
    let v = cni(Some(&node), "ADD", &c, "held", Some(&pod.path()), "eth0")
        .ok()
        .json();
    let veth = v["interfaces"][1]["name"].as_str().unwrap().to_string();
    let mut holder = std::process::Command::new("/usr/bin/nsenter")
        .arg(format!("--net={}", pod.path().display()))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(pod);
    assert!(node.has_link(&veth), "namespace held: veth still there");
    cni(Some(&node), "DEL", &c, "held", None, "eth0").ok();
    node.wait_for("host veth removal", || !node.has_link(&veth));
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn gc_reclaims_leases_and_veths_not_in_valid_attachments() {
    let node = Netns::new("n");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.12.0/24", data.path(), r#","ipMasq":false"#);
    let pods: Vec<Netns> = (0..3).map(|_| Netns::new("p")).collect();
    let mut veths = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        let v = cni(
            Some(&node),
            "ADD",
            &c,
            &format!("g{i}"),
            Some(&p.path()),
            "eth0",
        )
        .ok()
        .json();
        veths.push(v["interfaces"][1]["name"].as_str().unwrap().to_string());
    }
    let mut gc: Value = serde_json::from_str(&c).unwrap();
    gc["cni.dev/valid-attachments"] = serde_json::json!([{"containerID": "g1", "ifname": "eth0"}]);
    cni(Some(&node), "GC", &gc.to_string(), "", None, "").ok();
    assert_eq!(lease_files(&data.path().join("testnet")), 1);
    assert!(node.has_link(&veths[1]));
    assert!(!node.has_link(&veths[0]) && !node.has_link(&veths[2]));
    cni(
        Some(&node),
        "CHECK",
        &c,
        "g1",
        Some(&pods[1].path()),
        "eth0",
    )
    .ok();
    // GC needs the list.
    cni(Some(&node), "GC", &c, "", None, "").err(7, "valid-attachments");
}

#[test]
fn pod_to_pod_on_one_node_by_ping_and_tcp() {
    let node = Netns::new("n");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.13.0/24", data.path(), "");
    let a = Netns::new("p");
    let b = Netns::new("p");
    let ipa = result_ip(
        &cni(Some(&node), "ADD", &c, "pa", Some(&a.path()), "eth0")
            .ok()
            .json(),
    );
    let ipb = result_ip(
        &cni(Some(&node), "ADD", &c, "pb", Some(&b.path()), "eth0")
            .ok()
            .json(),
    );
    assert!(a.ping(&ipb));
    assert!(b.ping(&ipa));
    let _srv = EchoIpServer::start(&b, 8080);
    // TCP, and the server sees the pod's own address (no masquerade inside the cluster).
    assert_eq!(fetch_client_ip(&a, &ipb, 8080), ipa);
}

#[test]
fn chained_prev_result_is_extended() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let mut c: Value = serde_json::from_str(&conf(
        "1.1.0",
        "10.244.14.0/24",
        data.path(),
        r#","ipMasq":false"#,
    ))
    .unwrap();
    c["prevResult"] = serde_json::json!({
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "lo", "sandbox": pod.path().display().to_string()}],
        "ips": [],
        "dns": {"nameservers": ["10.96.0.10"]}
    });
    let v = cni(
        Some(&node),
        "ADD",
        &c.to_string(),
        "chain",
        Some(&pod.path()),
        "eth0",
    )
    .ok()
    .json();
    assert_eq!(v["interfaces"][0]["name"], "lo");
    assert_eq!(v["interfaces"][3]["name"], "eth0");
    assert_eq!(v["ips"][0]["interface"], 3);
    assert_eq!(v["dns"]["nameservers"][0], "10.96.0.10");
}

/// A node netns with an underlay link holding `ip` (a veth pair; the other end stays in it).
fn node_with_underlay(ip: &str) -> Netns {
    let node = Netns::new("n");
    node.ip(&["link", "add", "ul0", "type", "veth", "peer", "name", "ul1"]);
    node.ip(&["link", "set", "ul0", "mtu", "9000"]);
    node.ip(&["link", "set", "ul1", "mtu", "9000"]);
    node.ip(&["addr", "add", &format!("{ip}/24"), "dev", "ul0"]);
    node.ip(&["link", "set", "ul0", "up"]);
    node.ip(&["link", "set", "ul1", "up"]);
    node
}

#[test]
fn add_reconciles_overlay_when_config_or_links_change() {
    let node = node_with_underlay("192.168.60.1");
    let data = tempfile::tempdir().unwrap();
    let peers2 = r#","nodeIP":"192.168.60.1","peers":[{"nodeIP":"192.168.60.2","subnet":"10.244.2.0/24"},{"nodeIP":"192.168.60.3","subnet":"10.244.3.0/24"}]"#;
    let peers1 =
        r#","nodeIP":"192.168.60.1","peers":[{"nodeIP":"192.168.60.2","subnet":"10.244.2.0/24"}]"#;
    let c2 = conf("1.1.0", "10.244.1.0/24", data.path(), peers2);
    let c1 = conf("1.1.0", "10.244.1.0/24", data.path(), peers1);
    let p1 = Netns::new("p");
    cni(Some(&node), "ADD", &c2, "o1", Some(&p1.path()), "eth0").ok();
    // MTU follows the underlay: 9000 - 50 everywhere.
    assert_eq!(node.mtu("nodenet.1"), 8950);
    assert_eq!(node.mtu("cni0"), 8950);
    assert_eq!(p1.mtu("eth0"), 8950);
    let vx = node.ip(&["-d", "link", "show", "nodenet.1"]);
    assert!(
        vx.contains("vxlan id 1 local 192.168.60.1 dev ul0") && vx.contains("nolearning"),
        "{vx}"
    );
    assert!(
        node.ip(&["route"])
            .contains("10.244.3.0/24 via 10.244.3.0 dev nodenet.1")
    );

    // A config with one peer less: the next ADD removes the stale peer (no sync needed).
    let p2 = Netns::new("p");
    cni(Some(&node), "ADD", &c1, "o2", Some(&p2.path()), "eth0").ok();
    let routes = node.ip(&["route"]);
    assert!(
        !routes.contains("10.244.3.0/24") && routes.contains("10.244.2.0/24"),
        "{routes}"
    );
    let fdb = node.run(&["bridge", "fdb", "show", "dev", "nodenet.1"]);
    let fdb = String::from_utf8_lossy(&fdb.stdout);
    assert!(
        !fdb.contains("192.168.60.3") && fdb.contains("192.168.60.2"),
        "{fdb}"
    );
    cni(Some(&node), "CHECK", &c1, "o2", Some(&p2.path()), "eth0").ok();

    // The VXLAN device deleted behind our back: the next ADD notices and rebuilds it.
    node.ip(&["link", "del", "nodenet.1"]);
    let p3 = Netns::new("p");
    cni(Some(&node), "ADD", &c1, "o3", Some(&p3.path()), "eth0").ok();
    assert!(node.has_link("nodenet.1"));
    cni(Some(&node), "CHECK", &c1, "o3", Some(&p3.path()), "eth0").ok();
    // CHECK notices a missing peer route.
    node.ip(&["route", "del", "10.244.2.0/24"]);
    cni(Some(&node), "CHECK", &c1, "o3", Some(&p3.path()), "eth0").err(103, "VXLAN peers");
    // Misconfigured node IP: clear error naming the field.
    let bad = conf(
        "1.1.0",
        "10.244.1.0/24",
        data.path(),
        r#","nodeIP":"192.168.61.9""#,
    );
    let p4 = Netns::new("p");
    cni(Some(&node), "ADD", &bad, "o4", Some(&p4.path()), "eth0").err(7, "`nodeIP`");
}

#[test]
fn hairpin_mode_is_set_on_the_bridge_port() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let c = conf(
        "1.1.0",
        "10.244.15.0/24",
        data.path(),
        r#","ipMasq":false,"hairpinMode":true"#,
    );
    let v = cni(Some(&node), "ADD", &c, "hp", Some(&pod.path()), "eth0")
        .ok()
        .json();
    let veth = v["interfaces"][1]["name"].as_str().unwrap();
    let d = node.ip(&["-d", "link", "show", veth]);
    assert!(d.contains("hairpin on"), "{d}");
    let plain = conf("1.1.0", "10.244.15.0/24", data.path(), r#","ipMasq":false"#);
    let pod2 = Netns::new("p");
    let v = cni(
        Some(&node),
        "ADD",
        &plain,
        "nohp",
        Some(&pod2.path()),
        "eth0",
    )
    .ok()
    .json();
    let d = node.ip(&[
        "-d",
        "link",
        "show",
        v["interfaces"][1]["name"].as_str().unwrap(),
    ]);
    assert!(d.contains("hairpin off"), "{d}");
}

#[test]
fn ip_masq_without_nft_is_a_clear_error() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.16.0/24", data.path(), "");
    let empty = tempfile::tempdir().unwrap();
    let r = cni_with_path(
        Some(&node),
        "ADD",
        &c,
        "nonft",
        Some(&pod.path()),
        "eth0",
        empty.path().to_str().unwrap(),
    );
    r.err(102, "Debian package nftables");
    // The failed ADD left no lease and no interface behind.
    assert!(!pod.has_link("eth0"));
    let leases = std::fs::read_dir(data.path().join("testnet"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("10."))
        .count();
    assert_eq!(leases, 0);
    cni_with_path(
        Some(&node),
        "STATUS",
        &c,
        "",
        None,
        "",
        empty.path().to_str().unwrap(),
    )
    .err(50, "nftables");
}

#[test]
fn add_right_after_del_in_the_same_netns() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let c = conf("1.1.0", "10.244.17.0/24", data.path(), r#","ipMasq":false"#);
    for round in 0..5 {
        let v = cni(Some(&node), "ADD", &c, "again", Some(&pod.path()), "eth0")
            .ok()
            .json();
        let ip = result_ip(&v);
        let a = pod.ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
        assert!(a.contains(&format!("{ip}/24")), "round {round}: {a}");
        assert!(pod.ping("10.244.17.1"), "round {round}");
        cni(Some(&node), "DEL", &c, "again", Some(&pod.path()), "eth0").ok();
    }
}

#[test]
fn sync_cli_reports_bad_config_files() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.conflist");
    std::fs::write(
        &f,
        r#"{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"nodenet","subnet":"10.244.1.0/24","vxlan":{"port":70000}}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["sync", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conflist") && err.contains("`vxlan.port`"),
        "{err}"
    );
    let out = std::process::Command::new(BIN)
        .arg("sync")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

/// A client netns joined to `node` by a veth: `node_ip` on the node's end, `client_ip` on
/// the client's (both /24).
fn client_of(node: &Netns, node_ip: &str, client_ip: &str) -> Netns {
    let client = Netns::new("c");
    node.ip(&[
        "link",
        "add",
        "cl0",
        "type",
        "veth",
        "peer",
        "name",
        "cl1",
        "netns",
        &client.name,
    ]);
    node.ip(&["addr", "add", &format!("{node_ip}/24"), "dev", "cl0"]);
    node.ip(&["link", "set", "cl0", "up"]);
    client.ip(&["addr", "add", &format!("{client_ip}/24"), "dev", "cl1"]);
    client.ip(&["link", "set", "cl1", "up"]);
    client
}

fn with_ports(conf: &str, ports: Value) -> String {
    let mut c: Value = serde_json::from_str(conf).unwrap();
    c["runtimeConfig"] = serde_json::json!({ "portMappings": ports });
    c.to_string()
}

#[test]
fn host_ports_reach_the_pod_from_outside_loopback_and_itself() {
    let node = Netns::new("n");
    let client = client_of(&node, "192.168.61.1", "192.168.61.2");
    let data = tempfile::tempdir().unwrap();
    let base = conf("1.1.0", "10.244.15.0/24", data.path(), "");
    let c = with_ports(
        &base,
        serde_json::json!([
            {"hostPort": 8080, "containerPort": 80, "protocol": "TCP"},
            {"hostPort": 8443, "containerPort": 80, "protocol": "tcp", "hostIP": "192.168.61.1"}
        ]),
    );
    let pod = Netns::new("p");
    let ip = result_ip(
        &cni(Some(&node), "ADD", &c, "hp1", Some(&pod.path()), "eth0")
            .ok()
            .json(),
    );
    let _srv = EchoIpServer::start(&pod, 80);
    // From outside: the pod sees the client's own address.
    assert_eq!(
        fetch_client_ip(&client, "192.168.61.1", 8080),
        "192.168.61.2"
    );
    assert_eq!(
        fetch_client_ip(&client, "192.168.61.1", 8443),
        "192.168.61.2"
    );
    // From the node itself: loopback is masqueraded to the gateway (127.0.0.1 cannot leave
    // the node); the node's own address needs no masquerade.
    assert_eq!(fetch_client_ip(&node, "127.0.0.1", 8080), "10.244.15.1");
    assert_eq!(fetch_client_ip(&node, "192.168.61.1", 8080), "192.168.61.1");
    // Hairpin: the pod reaches itself through its host port.
    assert_eq!(fetch_client_ip(&pod, "192.168.61.1", 8080), "10.244.15.1");
    // hostIP limits the mapping to that address.
    let miss = node.run(&[
        "timeout",
        "3",
        "busybox",
        "wget",
        "-qO-",
        "http://127.0.0.1:8443/cgi-bin/ip",
    ]);
    assert!(!miss.status.success(), "8443 is bound to 192.168.61.1 only");
    // CHECK sees the mappings.
    cni(Some(&node), "CHECK", &c, "hp1", Some(&pod.path()), "eth0").ok();

    // A second pod claiming the same host port fails, naming the holder, and leaks nothing.
    let pod2 = Netns::new("p");
    let c2 = with_ports(
        &base,
        serde_json::json!([{"hostPort": 8080, "containerPort": 81}]),
    );
    cni(Some(&node), "ADD", &c2, "hp2", Some(&pod2.path()), "eth0")
        .err(102, "hostPort 8080/TCP is already mapped to");
    assert!(!pod2.has_link("eth0"));

    // DEL (without runtimeConfig, as some runtimes do) removes the mappings.
    cni(Some(&node), "DEL", &base, "hp1", Some(&pod.path()), "eth0").ok();
    let nft = node.run(&["nft", "list", "table", "ip", "nodenet_testnet_hostports"]);
    let listing = String::from_utf8_lossy(&nft.stdout);
    assert!(!listing.contains(&ip), "{listing}");
    assert!(!listing.contains("8080"), "{listing}");
    // Now the port is free for the second pod; GC with no valid attachment removes it.
    cni(Some(&node), "ADD", &c2, "hp2", Some(&pod2.path()), "eth0").ok();
    let gc = serde_json::json!({
        "cniVersion": "1.1.0", "name": "testnet", "type": "nodenet",
        "subnet": "10.244.15.0/24", "dataDir": data.path(),
        "cni.dev/valid-attachments": []
    });
    cni(Some(&node), "GC", &gc.to_string(), "", None, "").ok();
    let nft = node.run(&["nft", "list", "table", "ip", "nodenet_testnet_hostports"]);
    assert!(!String::from_utf8_lossy(&nft.stdout).contains("8080"));
}

#[test]
fn bad_port_mappings_name_the_field() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let data = tempfile::tempdir().unwrap();
    let base = conf("1.1.0", "10.244.16.0/24", data.path(), "");
    for (ports, field) in [
        (
            serde_json::json!([{"hostPort": 0, "containerPort": 80}]),
            "runtimeConfig.portMappings[0].hostPort",
        ),
        (
            serde_json::json!([{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]),
            "runtimeConfig.portMappings[0].protocol",
        ),
        (
            serde_json::json!([{"hostPort": 80, "containerPort": 80, "hostIP": "fe80::1"}]),
            "runtimeConfig.portMappings[0].hostIP",
        ),
        (
            serde_json::json!([{"containerPort": 80}]),
            "runtimeConfig.portMappings[0]",
        ),
    ] {
        cni(
            Some(&node),
            "ADD",
            &with_ports(&base, ports),
            "bad",
            Some(&pod.path()),
            "eth0",
        )
        .err(7, field);
    }
    assert_eq!(lease_files(&data.path().join("testnet")), 0);
}
