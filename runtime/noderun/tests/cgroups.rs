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
