//! The process as the spec describes it: capabilities (from /proc/self/status), rlimits, user
//! and groups, umask, cwd, env, no_new_privs, oom_score_adj, personality, sysctl, seccomp.

mod common;
use common::*;
use serde_json::json;

fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn capabilities_all_five_sets() {
    if !ready() {
        return;
    }
    let w = World::new("caps");
    let mut c = sh("grep ^Cap /proc/self/status");
    c["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"],
        "effective": ["CAP_CHOWN", "CAP_NET_RAW"],
        "permitted": ["CAP_CHOWN", "CAP_NET_RAW"],
        "inheritable": ["CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"]
    });
    let out = w.run_ok(&c, "c");
    // CHOWN = bit 0, KILL = bit 5, NET_RAW = bit 13
    assert_eq!(status_field(&out, "CapBnd"), "0000000000002021", "{out}");
    assert_eq!(status_field(&out, "CapEff"), "0000000000002001", "{out}");
    assert_eq!(status_field(&out, "CapPrm"), "0000000000002001", "{out}");
    assert_eq!(status_field(&out, "CapInh"), "0000000000002000", "{out}");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000002000", "{out}");
}

#[test]
fn user_rlimits_umask_cwd_env() {
    if !ready() {
        return;
    }
    let w = World::new("proc");
    let mut c = sh(
        "id; ulimit -n; ulimit -Hn; umask; pwd; echo $FOO; grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
    );
    c["process"]["user"] =
        json!({"uid": 65534, "gid": 65534, "additionalGids": [10, 20], "umask": 23});
    c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000}]);
    c["process"]["cwd"] = json!("/tmp");
    c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    c["process"]["noNewPrivileges"] = json!(true);
    c["process"]["oomScoreAdj"] = json!(500);
    let out = w.run_ok(&c, "p");
    let l: Vec<&str> = out.lines().collect();
    assert!(
        l[0].starts_with("uid=65534(nobody) gid=65534(nogroup) groups=10,20"),
        "{out}"
    );
    assert_eq!(
        &l[1..],
        [
            "1000",
            "2000",
            "0027",
            "/tmp",
            "bar baz",
            "NoNewPrivs:\t1",
            "500"
        ],
        "{out}"
    );
}

#[test]
fn personality_and_sysctl() {
    if !ready() {
        return;
    }
    let w = World::new("pers");
    let mut c = sh("uname -m; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni");
    c["linux"]["personality"] = json!({"domain": "LINUX32"});
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    let out = w.run_ok(&c, "s");
    assert_eq!(out, "i686\n1\n1234\n", "{out}");
}

#[test]
fn seccomp_rule_returns_its_errno() {
    if !ready() {
        return;
    }
    let w = World::new("seccomp");
    let mut c = sh("mkdir /tmp/x; echo rc=$?; echo still-running");
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    });
    let (code, out, err) = w.run(&c, "e");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rc=1") && out.contains("still-running"),
        "{out}"
    );
    assert!(err.contains("Permission denied"), "EACCES (13): {err}");
    // The containerd default profile (RuntimeDefault) still runs a shell and denies unshare.
    let mut c = sh("unshare -n true; echo rc=$?");
    c["linux"]["seccomp"] = serde_json::to_value(noderun_seccomp::default_profile(&[])).unwrap();
    let (code, out, err) = w.run(&c, "d");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rc=1"), "unshare denied: {out} {err}");
}

/// An init failure after the create handshake (here capset: an inheritable capability outside
/// the bounding set) fails `create` with the reason, as runc and crun do, and leaves nothing.
#[test]
fn credential_failures_fail_create() {
    if !ready() {
        return;
    }
    let w = World::new("capfail");
    let mut c = sh("true");
    c["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN"],
        "effective": ["CAP_CHOWN"],
        "permitted": ["CAP_CHOWN"],
        "inheritable": ["CAP_SYS_ADMIN"]
    });
    w.write_config(&c);
    let id = w.id("c");
    let (ok, err) = w.create(&id, &[]);
    assert!(!ok, "create must fail");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("process.capabilities.inheritable"), "{err}");
    assert_nothing_left(&w, &id);
    // `run` says the same.
    let (code, _, err) = w.run(&c, "r");
    assert_ne!(code, 0);
    assert!(err.contains("process.capabilities.inheritable"), "{err}");
}

/// What can only fail at execve (a file that is not an executable format) fails `start`.
#[test]
fn exec_failure_fails_start() {
    if !ready() {
        return;
    }
    let w = World::new("execfail");
    let bad = w.bundle.join("rootfs/bin/notelf");
    std::fs::write(&bad, "this is not a program\n").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    w.write_config(&default_config(&["/bin/notelf"]));
    let id = w.id("e");
    let (ok, err) = w.create(&id, &[]);
    assert!(ok, "create: {err}");
    let o = w.nr(&["start", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "start must fail");
    assert!(err.contains("exec") && err.contains("/bin/notelf"), "{err}");
    w.ok(&["delete", "--force", &id]);
    assert_nothing_left(&w, &id);
}
