//! Integration tests on this host's cgroup v1 hierarchies (hybrid/legacy mode), as root.
//! Every test makes its own uniquely named child of the caller's cgroup and removes it.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use noderun_cgroups::{Cgroup, Mode, mode};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

/// None (with the reason printed) when these tests cannot run here.
fn v1_host() -> Option<()> {
    if !is_root() {
        eprintln!("SKIP: cgroup v1 integration tests need root");
        return None;
    }
    match mode() {
        Ok(Mode::Hybrid | Mode::Legacy) => Some(()),
        other => {
            eprintln!("SKIP: not a cgroup v1 host ({other:?}); v2 is covered by vm_cgroup2");
            None
        }
    }
}

fn read(d: &Path, f: &str) -> String {
    std::fs::read_to_string(d.join(f))
        .unwrap()
        .trim()
        .to_string()
}

fn dir<'a>(g: &'a Guard, c: &str) -> &'a Path {
    g.0.dir_for(c).unwrap()
}

#[test]
fn create_nested_and_delete_leaves_nothing() {
    let Some(()) = v1_host() else { return };
    let name = unique("nested");
    let dirs;
    {
        let g = Guard::create(&format!("{name}/pod/ctr"));
        dirs =
            g.0.dirs()
                .iter()
                .map(|d| d.path.clone())
                .collect::<Vec<_>>();
        assert!(dirs.len() >= 5, "expected every v1 controller: {dirs:?}");
        // 3 levels per hierarchy were created, parents first.
        assert_eq!(g.0.created().len(), dirs.len() * 3);
        for d in &dirs {
            assert!(d.is_dir(), "{}", d.display());
            assert!(d.ends_with(format!("{name}/pod/ctr")));
        }
        // memory lands below our own memory cgroup, never at the hierarchy root
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mem_own = own
            .lines()
            .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
            .unwrap();
        let mem = dir(&g, "memory");
        assert!(
            mem.starts_with(
                Path::new("/sys/fs/cgroup/memory").join(mem_own.trim_start_matches('/'))
            ),
            "{}",
            mem.display()
        );
        // cpuset was initialised from the parent so tasks can join
        let cs = dir(&g, "cpuset");
        assert!(!read(cs, "cpuset.cpus").is_empty());
        assert!(!read(cs, "cpuset.mems").is_empty());
        // a cgroup the container made below ours is removed too
        std::fs::create_dir(mem.join("inner")).unwrap();
        // state handoff: a serialized Cgroup deletes what the first one created
        let json = serde_json::to_string(&g.0).unwrap();
        let back: Cgroup = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g.0);
        back.delete().unwrap();
        for d in &dirs {
            assert!(!d.exists(), "{} still exists", d.display());
        }
        // deleting again is fine
        g.0.delete().unwrap();
    }
    for d in &dirs {
        let top = d.parent().unwrap().parent().unwrap();
        assert!(!top.exists(), "{} left behind", top.display());
    }
}

/// The repository's cgroup sandbox script (scripts/cgns.sh).
fn cgns() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cgns.sh")
}

/// Removes the sandbox of `cgns.sh start` (processes, cgroups, namespace pins, dir) on drop.
struct Sandbox(tempfile::TempDir);

impl Drop for Sandbox {
    fn drop(&mut self) {
        let st = std::process::Command::new(cgns())
            .arg("stop")
            .arg(self.0.path())
            .status();
        if !st.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("cleanup: cgns.sh stop failed: {st:?}");
        }
    }
}

const OUTSIDE_CHILD: &str = "NODERUN_CGTEST_OUTSIDE_CHILD";

/// podman's layout: the caller (conmon) lives in `<parent>/conmon`, the container's absolute
/// path is `<parent>/libpod-<id>`, outside the caller's own cgroup. Like runc, `create` makes
/// it from the hierarchy root (its parents too) and `delete` removes only the container's own
/// directory. Run in a private cgroup namespace rooted at a child of this test's cgroup, so
/// "the hierarchy root" is that child.
#[test]
fn absolute_path_outside_own_cgroup_is_made_from_the_root_and_only_its_leaf_removed() {
    if std::env::var_os(OUTSIDE_CHILD).is_some() {
        return outside_child();
    }
    let Some(()) = v1_host() else { return };
    let sb = Sandbox(tempfile::tempdir().unwrap());
    let st = std::process::Command::new(cgns())
        .arg("start")
        .arg(sb.0.path())
        .arg(unique("outside"))
        .status()
        .unwrap();
    assert!(st.success(), "cgns.sh start: {st}");
    let out = std::process::Command::new(cgns())
        .arg("exec")
        .arg(sb.0.path())
        .args(["-c", "parent/conmon"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "absolute_path_outside_own_cgroup_is_made_from_the_root_and_only_its_leaf_removed",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(OUTSIDE_CHILD, "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    assert!(text.contains("OUTSIDE-CHILD-DONE"), "{text}");
}

/// The child side: runs in /parent/conmon of the sandbox's cgroup namespace.
fn outside_child() {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(own.contains(":memory:/parent/conmon\n"), "{own}");
    let mut cg = Cgroup::resolve(Some(Path::new("/parent/shared/libpod-x")), "x").unwrap();
    cg.create().unwrap();
    let g = Guard(cg);
    let mem = dir(&g, "memory").to_path_buf();
    assert_eq!(
        mem,
        Path::new("/sys/fs/cgroup/memory/parent/shared/libpod-x")
    );
    assert!(mem.is_dir());
    // Only the container's own directory is the runtime's to remove, once per hierarchy.
    assert_eq!(g.0.created().len(), g.0.dirs().len());
    assert!(
        g.0.created()
            .iter()
            .all(|d| d.ends_with("parent/shared/libpod-x"))
    );
    // The made parent (cpuset: initialised, or the leaf could not take tasks) and the leaf
    // work: a task can join and limits apply.
    let cpus = read(dir(&g, "cpuset"), "cpuset.cpus");
    assert!(!cpus.is_empty());
    g.0.apply(
        &LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64i64 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        read(&mem, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    let pid = fork_in(&[], sleep_forever);
    g.0.add_task(pid).unwrap();
    assert!(g.0.pids().unwrap().contains(&pid));
    drop(g);
    let _ = wait(pid);
    assert!(!mem.exists(), "the container's cgroup was not removed");
    assert!(
        Path::new("/sys/fs/cgroup/memory/parent/shared").is_dir(),
        "a parent the container may share was removed"
    );
    // An existing cgroup outside the subtree is joined, never removed.
    let mut join = Cgroup::resolve(Some(Path::new("/parent/shared")), "x").unwrap();
    join.create().unwrap();
    assert!(join.created().is_empty());
    join.delete().unwrap();
    assert!(Path::new("/sys/fs/cgroup/memory/parent/shared").is_dir());
    println!("OUTSIDE-CHILD-DONE");
}

#[test]
fn apply_limits_and_read_them_back() {
    let Some(()) = v1_host() else { return };
    let g = Guard::create(&unique("limits"));
    let res: LinuxResources = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .reservation(32i64 << 20)
                .swap(96i64 << 20)
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(42).build().unwrap())
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(136)
                .access("rw")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    g.0.apply(&res).unwrap();
    let m = dir(&g, "memory");
    assert_eq!(read(m, "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(
        read(m, "memory.soft_limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        read(m, "memory.memsw.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert_eq!(read(m, "memory.swappiness"), "10");
    let c = dir(&g, "cpu");
    assert_eq!(read(c, "cpu.shares"), "512");
    assert_eq!(read(c, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(c, "cpu.cfs_period_us"), "100000");
    let cs = dir(&g, "cpuset");
    assert_eq!(read(cs, "cpuset.cpus"), "0");
    assert_eq!(read(cs, "cpuset.mems"), "0");
    assert_eq!(read(dir(&g, "pids"), "pids.max"), "42");
    assert_eq!(
        read(dir(&g, "devices"), "devices.list"),
        "c 1:3 rwm\nc 136:* rw"
    );

    // Lowering memory below memsw and raising both again exercises the write order.
    let grow = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(200i64 << 20)
                .swap(300i64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    g.0.apply(&grow).unwrap();
    assert_eq!(read(m, "memory.limit_in_bytes"), (200u64 << 20).to_string());
    assert_eq!(
        read(m, "memory.memsw.limit_in_bytes"),
        (300u64 << 20).to_string()
    );

    // Unlimited values.
    let unl = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(-1i64)
                .swap(-1i64)
                .build()
                .unwrap(),
        )
        .cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
        .build()
        .unwrap();
    g.0.apply(&unl).unwrap();
    assert_eq!(read(c, "cpu.cfs_quota_us"), "-1");
    assert_eq!(read(dir(&g, "pids"), "pids.max"), "max");
    // 0 means unset, as in runc: `update` of other fields leaves pids.max alone
    let pids = |n| {
        LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(n).build().unwrap())
            .build()
            .unwrap()
    };
    g.0.apply(&pids(42)).unwrap();
    g.0.apply(&pids(0)).unwrap();
    assert_eq!(read(dir(&g, "pids"), "pids.max"), "42");
    assert!(g.0.stats().unwrap().memory_limit.is_none());
}

#[test]
fn apply_errors_name_the_oci_field_and_file() {
    let Some(()) = v1_host() else { return };
    let g = Guard::create(&unique("errors"));
    let unified = LinuxResourcesBuilder::default()
        .unified(
            [("memory.max".to_string(), "1".to_string())]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()
        .unwrap();
    let e = g.0.apply(&unified).unwrap_err().to_string();
    assert!(e.contains("linux.resources.unified"), "{e}");
    let rt = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_runtime(1000i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = g.0.apply(&rt).unwrap_err().to_string();
    assert!(e.contains("linux.resources.cpu.realtimeRuntime"), "{e}");
    let bad_cpus = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("999").build().unwrap())
        .build()
        .unwrap();
    let e = g.0.apply(&bad_cpus).unwrap_err().to_string();
    assert!(
        e.contains("linux.resources.cpu.cpus") && e.contains("cpuset.cpus") && e.contains("999"),
        "{e}"
    );
    let limit_too_small = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(1i64 << 20)
                .swap(1i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = g.0.apply(&limit_too_small).unwrap_err().to_string();
    assert!(e.contains("linux.resources.memory."), "{e}");
}

#[test]
fn tasks_pids_freeze_thaw_stats() {
    let Some(()) = v1_host() else { return };
    let g = Guard::create(&unique("tasks"));
    let procs = procs_files(&g.0);
    let child = fork_in(&procs, sleep_forever);
    // also a child added from the outside with add_task
    let other = fork_in(&[], sleep_forever);
    g.0.add_task(other).unwrap();
    // wait until the first child has moved itself
    let t0 = Instant::now();
    while !g.0.pids().unwrap().contains(&child) {
        assert!(t0.elapsed().as_secs() < 5, "child never joined");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let mut want = vec![child, other];
    want.sort();
    assert_eq!(g.0.pids().unwrap(), want);
    for d in g.0.dirs() {
        let procs = read(&d.path, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l == other.to_string()),
            "{}",
            d.path.display()
        );
    }

    assert!(!g.0.is_frozen().unwrap());
    g.0.freeze().unwrap();
    assert!(g.0.is_frozen().unwrap());
    assert_eq!(read(dir(&g, "freezer"), "freezer.state"), "FROZEN");
    g.0.thaw().unwrap();
    assert!(!g.0.is_frozen().unwrap());

    let s = g.0.stats().unwrap();
    assert_eq!(s.pids_current, Some(2));
    assert!(s.memory_usage.is_some_and(|u| u > 0), "{s:?}");
    assert!(s.memory_working_set.is_some());
    assert!(s.cpu_usage_ns.is_some());
    for pid in [child, other] {
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(wait(pid), Err(libc::SIGKILL));
    }
    assert!(g.0.pids().unwrap().is_empty());
}

#[test]
fn oom_kill_is_counted() {
    let Some(()) = v1_host() else { return };
    let g = Guard::create(&unique("oom"));
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(16i64 << 20)
                .swap(16i64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    g.0.apply(&res).unwrap();
    assert_eq!(g.0.oom_kills().unwrap(), 0);
    let child = fork_in(&procs_files(&g.0), || touch_memory(128));
    assert_eq!(
        wait(child),
        Err(libc::SIGKILL),
        "the OOM killer should kill the child"
    );
    assert!(g.0.oom_kills().unwrap() >= 1);
}

#[test]
fn device_rules_are_enforced() {
    let Some(()) = v1_host() else { return };
    let g = Guard::create(&unique("devices"));
    let rule = |allow: bool, minor: i64| {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(minor)
            .access("rwm")
            .build()
            .unwrap()
    };
    let res = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            rule(true, 3),
        ])
        .build()
        .unwrap();
    g.0.apply(&res).unwrap();
    let procs = procs_files(&g.0);
    assert_eq!(wait(fork_in(&procs, || try_open(c"/dev/null"))), Ok(0));
    assert_eq!(wait(fork_in(&procs, || try_open(c"/dev/zero"))), Ok(1));
    // a later deny rule wins over the earlier allow
    let res = LinuxResourcesBuilder::default()
        .devices(vec![rule(true, 3), rule(false, 3)])
        .build()
        .unwrap();
    g.0.apply(&res).unwrap();
    assert_eq!(wait(fork_in(&procs, || try_open(c"/dev/null"))), Ok(1));
}

#[test]
fn pids_limit_is_enforced() {
    let Some(()) = v1_host() else { return };
    let g = Guard::create(&unique("pidsmax"));
    let procs = procs_files(&g.0);
    g.0.apply(
        &LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(1).build().unwrap())
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(wait(fork_in(&procs, try_fork)), Ok(1));
    g.0.apply(
        &LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(2).build().unwrap())
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(wait(fork_in(&procs, try_fork)), Ok(0));
}

#[test]
fn mount_plan_lists_every_hierarchy() {
    let Some(()) = v1_host() else { return };
    let cg = Cgroup::resolve(None, &unique("plan")).unwrap();
    let plan = cg.mount_plan().unwrap();
    assert!(matches!(
        plan[0],
        noderun_cgroups::CgroupMount::Tmpfs { .. }
    ));
    let subdirs: Vec<_> = plan
        .iter()
        .filter_map(|m| match m {
            noderun_cgroups::CgroupMount::Hierarchy {
                subdir, host_dir, ..
            } => {
                assert!(host_dir.ends_with(unique("plan")));
                Some(subdir.as_str())
            }
            _ => None,
        })
        .collect();
    for c in ["memory", "cpu", "pids", "devices", "freezer"] {
        assert!(
            subdirs.iter().any(|s| s.split(',').any(|x| x == c)),
            "{c} missing: {subdirs:?}"
        );
    }
    assert!(!subdirs.iter().any(|s| s.contains("name=")));
}

#[test]
fn create_apply_delete_is_fast() {
    let Some(()) = v1_host() else { return };
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(256u64)
                .quota(20_000i64)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
        .build()
        .unwrap();
    let mut best = std::time::Duration::MAX;
    for i in 0..20 {
        let t = Instant::now();
        let mut cg = Cgroup::resolve(None, &unique(&format!("fast{i}"))).unwrap();
        cg.create().unwrap();
        let g = Guard(cg);
        g.0.apply(&res).unwrap();
        g.0.delete().unwrap();
        best = best.min(t.elapsed());
    }
    eprintln!("resolve+create+apply+delete: best of 20 = {best:?}");
    assert!(best.as_millis() < 20, "{best:?}");
}
