//! Every bad input gets a non-zero exit and one line naming the field and the reason, and
//! leaves nothing behind: no state dir, cgroup, mount or process.

mod common;
use common::*;
use serde_json::{Value, json};

/// Create with `cfg`, expect failure whose single stderr line contains every `needle`.
fn rejects(w: &World, suffix: &str, cfg: &Value, needles: &[&str]) {
    w.write_config(cfg);
    let id = w.id(suffix);
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok, "{suffix}: create should fail");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{suffix}: want one line, got:\n{err}");
    for n in needles {
        assert!(err.contains(n), "{suffix}: {n:?} not in {err:?}");
    }
    assert_nothing_left(w, &id);
}

#[test]
fn bad_configs_are_named_and_leave_nothing() {
    if !ready() {
        return;
    }
    let w = World::new("badcfg");
    let good = sh("true");

    let mut c = good.clone();
    c["process"].as_object_mut().unwrap().remove("cwd");
    rejects(
        &w,
        "nocwd",
        &c,
        &["config.json", "process", "missing field `cwd`"],
    );

    let mut c = good.clone();
    c["process"]["user"]["uid"] = json!("root");
    rejects(&w, "uidtype", &c, &["process.user.uid", "invalid type"]);

    let mut c = good.clone();
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "bogus"}));
    rejects(
        &w,
        "ns",
        &c,
        &["linux.namespaces[", "].type", "unknown variant `bogus`"],
    );

    let mut c = good.clone();
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/../../etc/evil", "type": "tmpfs", "source": "tmpfs"}));
    let n = c["mounts"].as_array().unwrap().len() - 1;
    rejects(
        &w,
        "dotdot",
        &c,
        &[&format!("mounts[{n}].destination"), "escapes"],
    );

    // A symlink in the rootfs that climbs out of it.
    std::os::unix::fs::symlink("../../../../../../tmp", w.bundle.join("rootfs/evil")).unwrap();
    let mut c = good.clone();
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}));
    let n = c["mounts"].as_array().unwrap().len() - 1;
    rejects(
        &w,
        "symlink",
        &c,
        &[
            &format!("mounts[{n}]"),
            "escapes the container's root through the symlink /evil",
        ],
    );
    assert!(!std::path::Path::new("/tmp/x").exists() || std::fs::metadata("/tmp/x").is_ok());

    let mut c = good.clone();
    c["root"]["path"] = json!("no-such-rootfs");
    rejects(
        &w,
        "rootfs",
        &c,
        &["root.path", "no-such-rootfs", "No such file"],
    );

    let mut c = good.clone();
    c["linux"]["intelRdt"] = json!({"closID": "x"});
    rejects(&w, "rdt", &c, &["linux.intelRdt", "not supported"]);

    let mut c = good.clone();
    c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/m", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}));
    rejects(
        &w,
        "idmap",
        &c,
        &["options", "id-mapped mounts are not supported"],
    );

    let mut c = good.clone();
    c["ociVersion"] = json!("2.0.0");
    rejects(&w, "version", &c, &["ociVersion", "2.0.0", "not supported"]);

    let mut c = good.clone();
    c["process"]["capabilities"]["bounding"] = json!(["CAP_BOGUS"]);
    rejects(&w, "cap", &c, &["process.capabilities.bounding"]);

    let mut c = good.clone();
    c["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    rejects(
        &w,
        "sysctl",
        &c,
        &["linux.sysctl.vm.swappiness", "not a namespaced sysctl"],
    );

    let mut c = good.clone();
    c["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/m", "type": "bind", "source": "/no/such/dir", "options": ["bind"]}),
    );
    let n = c["mounts"].as_array().unwrap().len() - 1;
    rejects(
        &w,
        "bindsrc",
        &c,
        &[&format!("mounts[{n}]"), "/no/such/dir"],
    );

    let mut c = good.clone();
    c["process"]["args"] = json!(["/bin/no-such-program"]);
    rejects(&w, "noexe", &c, &["process.args[0]", "no-such-program"]);

    let mut c = good.clone();
    c["linux"]["resources"] = json!({"cpu": {"quota": 50000, "period": 1}});
    rejects(&w, "cpuperiod", &c, &["linux.resources.cpu"]);

    let mut c = good.clone();
    c["linux"]["resources"] = json!({"memory": {"limit": "lots"}});
    rejects(
        &w,
        "memtype",
        &c,
        &["linux.resources.memory.limit", "invalid type"],
    );

    // Not JSON at all.
    std::fs::write(w.bundle.join("config.json"), "{ \"ociVersion\": ").unwrap();
    let id = w.id("syntax");
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("config.json") && err.contains("EOF"), "{err}");
    assert_nothing_left(&w, &id);

    // A bad id.
    w.write_config(&good);
    let (ok, err) = w.create("../escape", &[]);
    assert!(!ok);
    assert!(err.contains("not valid"), "{err}");
}

#[test]
fn duplicate_id_keeps_the_first() {
    if !ready() {
        return;
    }
    let w = World::new("dup");
    w.write_config(&sh("sleep 100"));
    let id = w.id("c");
    assert!(w.create(&id, &[]).0);
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!("noderun: container \"{id}\" already exists")
    );
    assert_eq!(
        w.state(&id)["status"],
        "created",
        "the first container is untouched"
    );
    w.ok(&["delete", &id]);
    assert_nothing_left(&w, &id);
}

/// A config.json that never ends (a symlink to /dev/zero) is refused at a size cap, quickly
/// and without growing noderun (the address space is capped at 1 GiB for the test).
#[test]
fn endless_config_is_capped() {
    if !ready() {
        return;
    }
    let w = World::new("zero");
    let cfg = w.bundle.join("config.json");
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &cfg).unwrap();
    let id = w.id("z");
    let mut cmd = w.cmd();
    cmd.arg("create").arg("--bundle").arg(&w.bundle).arg(&id);
    // SAFETY: setrlimit in the forked child before exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        })
    };
    let t = std::time::Instant::now();
    let o = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("config.json") && err.contains("larger than"),
        "{err}"
    );
    assert_nothing_left(&w, &id);
}

/// Spec checks that need the host: huge page sizes the kernel does not have, huge page limits
/// without a usable hugetlb controller; device cgroup rules of a type that is not a rule.
#[test]
fn resources_the_host_cannot_apply_are_named() {
    if !ready() {
        return;
    }
    let w = World::new("huge");
    let good = sh("true");
    let mut c = good.clone();
    c["linux"]["resources"] = json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1048576}]});
    rejects(
        &w,
        "pagesize",
        &c,
        &["linux.resources.hugepageLimits[0].pageSize", "3MB"],
    );
    let hugetlb_usable = own_cgroup("hugetlb").is_some();
    if !hugetlb_usable {
        let mut c = good.clone();
        c["linux"]["resources"] =
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]});
        rejects(
            &w,
            "nohugetlb",
            &c,
            &["linux.resources.hugepageLimits", "hugetlb"],
        );
    }
    // A node of `linux.devices` with a wildcard number would become a rule for every device.
    let mut c = good.clone();
    c["linux"]["devices"] = json!([{"path": "/dev/all", "type": "c", "major": -1, "minor": 3}]);
    rejects(&w, "wildnode", &c, &["linux.devices[0].major", "-1"]);
    let mut c = good.clone();
    c["linux"]["devices"] = json!([{"path": "/dev/all", "type": "a"}]);
    rejects(&w, "anode", &c, &["linux.devices[0].type"]);
    let mut c = good.clone();
    c["linux"]["resources"] =
        json!({"devices": [{"allow": true, "type": "p", "major": 1, "minor": 3, "access": "rwm"}]});
    rejects(&w, "fiforule", &c, &["linux.resources.devices[0].type"]);
}

/// A memory limit the container's init cannot live with is reported naming the field, not as a
/// broken sync socket.
#[test]
fn tiny_memory_limit_names_the_field() {
    if !ready() {
        return;
    }
    let w = World::new("memlimit");
    let mut c = sh("true");
    c["linux"]["resources"] = json!({"memory": {"limit": 1}});
    w.write_config(&c);
    let id = w.id("m");
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok, "create should fail");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("linux.resources.memory.limit") && !err.contains("ECONNRESET"),
        "{err}"
    );
    assert_nothing_left(&w, &id);
}

/// `process.apparmorProfile` on a host whose kernel does not enforce AppArmor: refused at
/// create, naming the field (runc 1.1 gets as far as the container's init and fails there:
/// "unable to apply apparmor profile: apparmor failed to apply profile: write
/// /proc/self/attr/exec: invalid argument"). Where AppArmor is enabled, tests/vm/apparmor.sh
/// compares both runtimes.
#[test]
fn apparmor_profile_needs_apparmor() {
    if !ready() {
        return;
    }
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    if enabled {
        eprintln!("AppArmor is enabled here: tests/vm/apparmor.sh covers it");
        return;
    }
    let w = World::new("apparmor");
    let mut c = sh("true");
    c["process"]["apparmorProfile"] = json!("k8s-apparmor-example-deny-write");
    rejects(
        &w,
        "aa",
        &c,
        &[
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        ],
    );
}
