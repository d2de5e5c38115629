//! cgroup limits read back from inside the container, an OOM kill observed, pause/resume with
//! the freezer, `ps`, and `kill --all`.

mod common;
use common::*;
use serde_json::json;

fn own_dir(controller: &str, id: &str) -> std::path::PathBuf {
    let own = own_cgroup(controller).expect("controller mounted");
    std::path::Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(own.trim_start_matches('/'))
        .join(id)
}

#[test]
fn limits_are_applied_and_visible_inside() {
    if !ready() {
        return;
    }
    let w = World::new("cglimits");
    let mut c = sh(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
         /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares; \
         grep -c . /sys/fs/cgroup/memory/cgroup.procs; cat /proc/self/cgroup | grep memory",
    );
    assert!(
        c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "cgroup"}))
    );
    c["linux"]["resources"] = json!({
        "memory": {"limit": 67108864},
        "pids": {"limit": 50},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000}
    });
    let out = w.run_ok(&c, "l");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        &l[..5],
        ["67108864", "50", "50000", "100000", "512"],
        "{out}"
    );
    assert!(
        l[6].ends_with(":memory:/"),
        "the cgroup namespace makes our cgroup the root: {out}"
    );
}

#[test]
fn oom_kill_is_observed() {
    if !ready() {
        return;
    }
    let w = World::new("oom");
    // `tail` of an endless line buffers it all: memory grows until the OOM killer acts.
    let mut c = sh("tail /dev/zero");
    c["linux"]["resources"] = json!({"memory": {"limit": 33554432, "swap": 33554432}});
    w.write_config(&c);
    let id = w.id("o");
    let o = w
        .cmd()
        .args(["run", "--keep", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(137),
        "killed by SIGKILL: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let oom = std::fs::read_to_string(own_dir("memory", &id).join("memory.oom_control")).unwrap();
    let kills: u64 = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(kills >= 1, "{oom}");
    assert_eq!(w.state(&id)["status"], "stopped");
    w.ok(&["delete", &id]);
    assert_nothing_left(&w, &id);
}

#[test]
fn pause_resume_ps_and_kill_all() {
    if !ready() {
        return;
    }
    let w = World::new("pause");
    w.write_config(&sh("sleep 100 & sleep 101 & wait"));
    let id = w.id("p");
    assert!(w.create(&id, &[]).0);
    w.ok(&["start", &id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let pids: Vec<i64> = loop {
        let p: Vec<i64> = serde_json::from_str(&w.ok(&["ps", "--format", "json", &id])).unwrap();
        if p.len() == 3 || std::time::Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(pids.len(), 3, "sh + two sleeps: {pids:?}");
    let table = w.ok(&["ps", &id]);
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert_eq!(
        table.lines().count(),
        4,
        "header + sh + two sleeps: {table}"
    );
    assert!(table.contains("sleep 101"), "{table}");

    w.ok(&["pause", &id]);
    assert_eq!(w.state(&id)["status"], "paused");
    let freezer = std::fs::read_to_string(own_dir("freezer", &id).join("freezer.state")).unwrap();
    assert_eq!(freezer.trim(), "FROZEN");
    assert!(
        !w.nr(&["pause", &id]).status.success(),
        "pausing twice is an error"
    );
    w.ok(&["resume", &id]);
    assert_eq!(w.state(&id)["status"], "running");

    w.ok(&["kill", "--all", &id, "KILL"]);
    w.wait_status(&id, "stopped");
    w.ok(&["delete", &id]);
    assert_nothing_left(&w, &id);
}

/// `memory.kernelTCP` (and `memory.kernel`) are not applied: the runtime says so on stderr, as
/// runc does, and the container runs.
#[test]
fn kernel_memory_limits_warn() {
    if !ready() {
        return;
    }
    let w = World::new("kmem");
    let mut c = sh("true");
    c["linux"]["resources"] = json!({"memory": {"limit": 67108864, "kernelTCP": 16777216}});
    let (code, _, err) = w.run(&c, "k");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning") && err.contains("linux.resources.memory.kernelTCP"),
        "{err}"
    );
}

fn read_cg(controller: &str, id: &str, file: &str) -> String {
    std::fs::read_to_string(own_dir(controller, id).join(file))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn update_changes_the_live_cgroup_from_flags_and_json() {
    if !ready() {
        return;
    }
    let w = World::new("update");
    let mut c = sh("sleep 100");
    c["linux"]["resources"] = json!({"memory": {"limit": 33554432}, "pids": {"limit": 50}});
    w.write_config(&c);
    let id = w.id("u");
    assert!(w.create(&id, &[]).0);
    w.ok(&["start", &id]);
    w.ok(&[
        "update",
        "--memory",
        "64m",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "256",
        &id,
    ]);
    assert_eq!(read_cg("memory", &id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read_cg("cpu", &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read_cg("cpu", &id, "cpu.shares"), "256");
    assert_eq!(
        read_cg("pids", &id, "pids.max"),
        "50",
        "an unset flag changes nothing"
    );
    w.ok(&["update", "--pids-limit", "-1", "--cpu-quota", "-1", &id]);
    assert_eq!(read_cg("pids", &id, "pids.max"), "max");
    assert_eq!(read_cg("cpu", &id, "cpu.cfs_quota_us"), "-1");
    // -r -: an OCI LinuxResources document, as podman sends it (other flags ignored)
    let mut child = w
        .cmd()
        .args(["update", "--pids-limit", "7", "-r", "-", &id])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory": {"limit": 50331648}, "pids": {"limit": 30}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read_cg("memory", &id, "memory.limit_in_bytes"), "50331648");
    assert_eq!(read_cg("pids", &id, "pids.max"), "30");
    // errors name the flag or the JSON field
    let o = w.nr(&["update", "--memory", "12x", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--memory"), "{err}");
    let bad = w.tmp.path().join("bad.json");
    std::fs::write(&bad, r#"{"pids": {"limit": "many"}}"#).unwrap();
    let o = w.nr(&["update", "-r", bad.to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("pids.limit"), "{err}");
    let o = w.nr(&["update", "--memory", "1m", "no-such-container"]);
    assert!(!o.status.success());
    w.ok(&["kill", &id, "KILL"]);
    w.wait_status(&id, "stopped");
    let o = w.nr(&["update", "--memory", "64m", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("stopped"), "{err}");
    w.ok(&["delete", &id]);
    assert_nothing_left(&w, &id);
}

/// Without systemd as PID 1 (this machine) `--systemd-cgroup` fails naming systemd and leaves
/// nothing behind; a systemd path without the flag names the flag and the field. The driver
/// itself runs in the booted VM (tests/vm/systemd.sh).
#[test]
fn systemd_cgroup_driver_without_systemd_fails_cleanly() {
    if !ready() {
        return;
    }
    let w = World::new("sdcg");
    let id = w.id("s");
    let o = w
        .cmd()
        .args(["--systemd-cgroup", "run", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let systemd_pid1 =
        std::fs::read_link("/proc/1/exe").is_ok_and(|p| p.to_string_lossy().contains("systemd"));
    if !systemd_pid1 {
        assert!(
            !o.status.success()
                && err.contains("systemd: ")
                && err.contains(&format!("noderun-{id}.scope")),
            "{err}"
        );
    }
    assert_nothing_left(&w, &id);
    let mut c = default_config(&["true"]);
    c["linux"]["cgroupsPath"] = json!("system.slice:noderun:x");
    let (code, _, err) = w.run(&c, "t");
    assert_ne!(code, 0);
    assert!(
        err.contains("linux.cgroupsPath") && err.contains("--systemd-cgroup"),
        "{err}"
    );
    assert_nothing_left(&w, &id);
}

/// A system bus without systemd on it (a private dbus-daemon): noderun connects, authenticates
/// and asks; the answer (no org.freedesktop.systemd1) is the error, the container's id and scope
/// named, and nothing is left.
#[test]
fn systemd_cgroup_driver_reports_a_bus_without_systemd() {
    if !ready()
        || std::process::Command::new("dbus-daemon")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("skipped: dbus-daemon missing");
        return;
    }
    let w = World::new("sdbus");
    let sock = w.tmp.path().join("bus");
    let addr = format!("unix:path={}", sock.display());
    let mut daemon = std::process::Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", "--address"])
        .arg(&addr)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let id = w.id("b");
    let mut c = default_config(&["true"]);
    c["linux"]["cgroupsPath"] = json!(format!("system.slice:noderun-test:{id}"));
    w.write_config(&c);
    let o = w
        .cmd()
        .env("DBUS_SYSTEM_BUS_ADDRESS", &addr)
        .args(["--systemd-cgroup", "run", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&format!("noderun-test-{id}.scope"))
            && err.contains("org.freedesktop.systemd1"),
        "{err}"
    );
    assert_nothing_left(&w, &id);
}
