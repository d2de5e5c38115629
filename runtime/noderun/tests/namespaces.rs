//! Each namespace kind, created new and joined by path, checked through /proc/self/ns; user
//! namespace id maps; time namespace offsets; hostname and domainname.

mod common;
use common::*;
use serde_json::json;

const KINDS: [&str; 7] = ["net", "ipc", "uts", "pid", "mnt", "cgroup", "time"];

fn ns_script() -> String {
    KINDS
        .iter()
        .map(|k| format!("echo {k}=$(readlink /proc/self/ns/{k});"))
        .collect()
}

fn parse(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn new_namespaces_differ_from_the_host() {
    if !ready() {
        return;
    }
    let w = World::new("nsnew");
    let mut c = sh(&format!(
        "{} echo user=$(readlink /proc/self/ns/user); hostname; cat /proc/sys/kernel/domainname",
        ns_script()
    ));
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    c["hostname"] = json!("box1");
    c["domainname"] = json!("example.org");
    let out = w.run_ok(&c, "n");
    let ns = parse(&out);
    for k in KINDS {
        assert_ne!(ns[k], host_ns(k), "{k} namespace should be new");
    }
    assert_eq!(
        ns["user"],
        host_ns("user"),
        "no user namespace was asked for"
    );
    assert!(out.contains("\nbox1\nexample.org"), "{out}");
}

#[test]
fn namespaces_joined_by_path() {
    if !ready() {
        return;
    }
    let w = World::new("nsjoin");
    let mut a_cfg = sh("sleep 100");
    a_cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    w.write_config(&a_cfg);
    let a = w.id("a");
    assert!(w.create(&a, &[]).0);
    w.ok(&["start", &a]);
    let pid = w.state(&a)["pid"].as_i64().unwrap();
    let mut c = sh(&format!("{} ps -o comm", ns_script()));
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    let joined = ["net", "ipc", "uts", "pid", "cgroup", "time"];
    for ns in c["linux"]["namespaces"].as_array_mut().unwrap().iter_mut() {
        let kind = match ns["type"].as_str().unwrap() {
            "network" => "net",
            "mount" => continue,
            other => other,
        }
        .to_string();
        if joined.contains(&kind.as_str()) {
            ns["path"] = json!(format!("/proc/{pid}/ns/{kind}"));
        }
    }
    let out = w.run_ok(&c, "b");
    let ns = parse(&out);
    for k in joined {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{k}"))
            .unwrap()
            .display()
            .to_string();
        assert_eq!(ns[k], theirs, "{k} should be joined");
        assert_ne!(ns[k], host_ns(k), "{k} is not the host's");
    }
    assert_ne!(ns["mnt"], host_ns("mnt"));
    assert!(
        out.contains("sleep"),
        "the joined pid namespace shows the other container's sleep: {out}"
    );
    w.ok(&["delete", "--force", &a]);
}

#[test]
fn user_namespace_joined_by_path() {
    if !ready() {
        return;
    }
    let w = World::new("userjoin");
    let mut a_cfg = sh("sleep 100");
    a_cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    a_cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    a_cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    a_cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    w.write_config(&a_cfg);
    let a = w.id("a");
    let (ok, err) = w.create(&a, &[]);
    assert!(ok, "{err}");
    w.ok(&["start", &a]);
    let pid = w.state(&a)["pid"].as_i64().unwrap();
    let mut c = sh("readlink /proc/self/ns/user; cat /proc/self/uid_map");
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    let out = w.run_ok(&c, "b");
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/user"))
        .unwrap()
        .display()
        .to_string();
    assert_eq!(out.lines().next().unwrap(), theirs, "{out}");
    assert!(out.contains("300000"), "{out}");
    w.ok(&["delete", "--force", &a]);
}

#[test]
fn user_namespace_with_id_maps() {
    if !ready() {
        return;
    }
    let w = World::new("userns");
    let mut c = sh(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user; stat -c %u /bin/busybox",
    );
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    // cgroup v1 hierarchies cannot be mounted from a user namespace; drop that mount.
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    let out = w.run_ok(&c, "u");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"],
        "{out}"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"],
        "{out}"
    );
    assert_eq!(lines[2], "0", "root inside");
    assert_ne!(lines[3], host_ns("user"));
    assert_eq!(
        lines[4], "65534",
        "host root's files are unmapped (nobody) inside"
    );
}

#[test]
fn time_namespace_offsets() {
    if !ready() {
        return;
    }
    let w = World::new("timens");
    let mut c = sh("cut -d. -f1 /proc/uptime");
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    let out = w.run_ok(&c, "t");
    let up: u64 = out.trim().parse().unwrap();
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(up >= host + 864000 - 5, "uptime {up} vs host {host}");
}

/// Without a `mount` namespace the container shares the runtime's mount namespace; as with
/// runc its root is still root.path (chroot), and every mount made for it is gone after delete.
#[test]
fn no_mount_namespace_shares_ours() {
    if !ready() {
        return;
    }
    let w = World::new("nomntns");
    std::fs::write(w.bundle.join("rootfs/marker"), "inside\n").unwrap();
    let mut c = sh(
        "readlink /proc/self/ns/mnt; cat /marker; grep -c . /proc/self/mounts >/dev/null && echo proc",
    );
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "mount");
    let l = c["linux"].as_object_mut().unwrap();
    l.remove("maskedPaths");
    l.remove("readonlyPaths");
    let out = w.run_ok(&c, "n");
    assert_eq!(out, format!("{}\ninside\nproc\n", host_ns("mnt")));
    assert_nothing_left(&w, &format!("{}-n", w.prefix));
    // `exec` enters the same root.
    let mut c1 = c.clone();
    c1["process"]["args"] = json!(["sleep", "100"]);
    w.write_config(&c1);
    let id = w.id("e");
    let (ok, err) = w.create(&id, &[]);
    assert!(ok, "{err}");
    w.ok(&["start", &id]);
    assert_eq!(w.ok(&["exec", &id, "cat", "/marker"]), "inside\n");
    w.ok(&["delete", "--force", &id]);
    assert_nothing_left(&w, &id);
    // A mount that was below the rootfs before create is not the container's: it stays.
    let pre = w.bundle.join("rootfs/pre");
    std::fs::create_dir_all(&pre).unwrap();
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    nix::mount::mount(
        Some("tmpfs"),
        &pre,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let guard = Unmount(pre.clone());
    w.run_ok(&c, "p");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        info.contains(&format!(" {} ", pre.display())),
        "the mount made before create was removed"
    );
    drop(guard);
    assert_nothing_left(&w, &format!("{}-p", w.prefix));
    // Masking paths needs a mount namespace of the container's own (runc says the same).
    let mut c2 = c.clone();
    c2["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
    w.write_config(&c2);
    let id = w.id("m");
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok);
    assert!(
        err.contains("linux.maskedPaths") && err.contains("mount namespace"),
        "{err}"
    );
    assert_nothing_left(&w, &id);
}
