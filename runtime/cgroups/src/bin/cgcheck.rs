//! cgcheck: exercises the cgroup v2 path of noderun-cgroups on a real kernel with controllers
//! (run inside the qemu VM by tests/vm_cgroup2.rs, as root in the root cgroup). Prints one
//! "PASS: <check>" or "FAIL: <check>: <reason>" line per check; exits 1 if any check failed.

use std::ffi::CStr;
use std::path::Path;
use std::time::Instant;

use noderun_cgroups::{Cgroup, CgroupMount, Mode, attached_device_filters, mode};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder,
};

type Check = Result<(), String>;

fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn read(d: &Path, f: &str) -> Result<String, String> {
    std::fs::read_to_string(d.join(f))
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", d.join(f).display()))
}

fn expect_eq(what: &str, got: &str, want: &str) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn res(f: impl FnOnce(LinuxResourcesBuilder) -> LinuxResourcesBuilder) -> LinuxResources {
    f(LinuxResourcesBuilder::default())
        .build()
        .unwrap_or_default()
}

/// Forks a child that joins `cg` (writes "0" to its cgroup.procs) and runs `body`, which makes
/// raw system calls only. Returns the child's pid.
fn fork_in(cg: &Cgroup, body: fn() -> i32) -> Result<i32, String> {
    let procs = std::ffi::CString::new(
        cg.dirs()[0]
            .path
            .join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .map_err(e2s)?;
    // SAFETY: the child only makes raw system calls before _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(100);
            }
            libc::close(fd);
            libc::_exit(body());
        }
    }
    Ok(pid)
}

/// Ok(exit code) or Err(signal number).
fn wait(pid: i32) -> Result<i32, i32> {
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    if libc::WIFEXITED(st) {
        Ok(libc::WEXITSTATUS(st))
    } else {
        Err(libc::WTERMSIG(st))
    }
}

fn touch_128m() -> i32 {
    let len = 128usize << 20;
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return 2;
        }
        let mut off = 0;
        while off < len {
            std::ptr::write_volatile(p.cast::<u8>().add(off), 1);
            off += 4096;
        }
    }
    0
}

fn try_open(path: &CStr) -> i32 {
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::close(fd);
            0
        } else if *libc::__errno_location() == libc::EPERM {
            1
        } else {
            2
        }
    }
}

fn open_null() -> i32 {
    try_open(c"/dev/null")
}

fn open_zero() -> i32 {
    try_open(c"/dev/zero")
}

fn try_fork() -> i32 {
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        if pid > 0 {
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
            0
        } else if *libc::__errno_location() == libc::EAGAIN {
            1
        } else {
            2
        }
    }
}

fn sleep_forever() -> i32 {
    loop {
        unsafe { libc::pause() };
    }
}

fn char_rule(allow: bool, major: i64, minor: Option<i64>) -> LinuxDeviceCgroup {
    let b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(LinuxDeviceType::C)
        .major(major)
        .access("rwm");
    match minor {
        Some(m) => b.minor(m),
        None => b,
    }
    .build()
    .unwrap_or_default()
}

fn deny_all() -> LinuxDeviceCgroup {
    LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap_or_default()
}

struct Run {
    failed: usize,
}

impl Run {
    fn check(&mut self, name: &str, f: impl FnOnce() -> Check) {
        let t = Instant::now();
        match f() {
            Ok(()) => println!("PASS: {name} ({:?})", t.elapsed()),
            Err(e) => {
                self.failed += 1;
                println!("FAIL: {name}: {e}");
            }
        }
    }
}

fn kill_all(cg: &Cgroup) {
    if let Ok(pids) = cg.pids() {
        for p in pids {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
}

fn main() {
    let mut run = Run { failed: 0 };
    run.check("mode is unified", || match mode() {
        Ok(Mode::Unified) => Ok(()),
        other => Err(format!("{other:?}")),
    });

    let mut cg = match Cgroup::resolve(Some(Path::new("cgcheck/ctr")), "x") {
        Ok(cg) => cg,
        Err(e) => {
            println!("FAIL: resolve: {e}");
            std::process::exit(1);
        }
    };
    let dir = cg.dirs()[0].path.clone();
    run.check("create enables controllers in created ancestors", || {
        cg.create().map_err(e2s)?;
        expect_eq(
            "dir",
            &dir.display().to_string(),
            "/sys/fs/cgroup/cgcheck/ctr",
        )?;
        let parent = dir.parent().ok_or("no parent")?;
        let sc = read(parent, "cgroup.subtree_control")?;
        for c in ["cpu", "memory", "pids", "io", "cpuset"] {
            if !sc.split(' ').any(|x| x == c) {
                return Err(format!("{c} not in subtree_control {sc:?}"));
            }
        }
        if cg.created().len() != 2 {
            return Err(format!("created {:?}", cg.created()));
        }
        Ok(())
    });

    run.check("memory.max set and OOM kill counted", || {
        cg.apply(&res(|b| {
            b.memory(
                LinuxMemoryBuilder::default()
                    .limit(32i64 << 20)
                    .reservation(8i64 << 20)
                    .build()
                    .unwrap_or_default(),
            )
        }))
        .map_err(e2s)?;
        expect_eq(
            "memory.max",
            &read(&dir, "memory.max")?,
            &(32u64 << 20).to_string(),
        )?;
        expect_eq(
            "memory.low",
            &read(&dir, "memory.low")?,
            &(8u64 << 20).to_string(),
        )?;
        let before = cg.oom_kills().map_err(e2s)?;
        let pid = fork_in(&cg, touch_128m)?;
        let st = wait(pid);
        if st != Err(libc::SIGKILL) {
            return Err(format!("child ended with {st:?}, expected SIGKILL"));
        }
        let after = cg.oom_kills().map_err(e2s)?;
        if after < before + 1 {
            return Err(format!("oom_kills {before} -> {after}"));
        }
        Ok(())
    });

    run.check("cpu.max and cpu.weight", || {
        cg.apply(&res(|b| {
            b.cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .cpus("0")
                    .mems("0")
                    .build()
                    .unwrap_or_default(),
            )
        }))
        .map_err(e2s)?;
        expect_eq("cpu.max", &read(&dir, "cpu.max")?, "50000 100000")?;
        expect_eq("cpu.weight", &read(&dir, "cpu.weight")?, "39")?;
        expect_eq("cpuset.cpus", &read(&dir, "cpuset.cpus")?, "0")?;
        cg.apply(&res(|b| {
            b.cpu(
                LinuxCpuBuilder::default()
                    .quota(-1i64)
                    .build()
                    .unwrap_or_default(),
            )
        }))
        .map_err(e2s)?;
        expect_eq("cpu.max unlimited", &read(&dir, "cpu.max")?, "max 100000")
    });

    run.check("pids.max enforced", || {
        let limit = |n: i64| {
            res(|b| {
                b.pids(
                    LinuxPidsBuilder::default()
                        .limit(n)
                        .build()
                        .unwrap_or_default(),
                )
            })
        };
        cg.apply(&limit(1)).map_err(e2s)?;
        expect_eq("pids.max", &read(&dir, "pids.max")?, "1")?;
        let r = wait(fork_in(&cg, try_fork)?);
        if r != Ok(1) {
            return Err(format!(
                "fork beyond the limit: child result {r:?}, want EAGAIN (1)"
            ));
        }
        cg.apply(&limit(2)).map_err(e2s)?;
        let r = wait(fork_in(&cg, try_fork)?);
        if r != Ok(0) {
            return Err(format!("fork within the limit: {r:?}"));
        }
        cg.apply(&limit(-1)).map_err(e2s)?;
        expect_eq("pids.max", &read(&dir, "pids.max")?, "max")
    });

    run.check("freeze and thaw", || {
        let pid = fork_in(&cg, sleep_forever)?;
        let t0 = Instant::now();
        while !cg.pids().map_err(e2s)?.contains(&pid) {
            if t0.elapsed().as_secs() > 5 {
                return Err("child never joined".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let r = (|| {
            cg.freeze().map_err(e2s)?;
            if !cg.is_frozen().map_err(e2s)? {
                return Err("not frozen after freeze".to_string());
            }
            let ev = read(&dir, "cgroup.events")?;
            if !ev.lines().any(|l| l == "frozen 1") {
                return Err(format!("cgroup.events: {ev:?}"));
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(e2s)?;
            let _ = stat;
            cg.thaw().map_err(e2s)?;
            if cg.is_frozen().map_err(e2s)? {
                return Err("still frozen after thaw".into());
            }
            let s = cg.stats().map_err(e2s)?;
            if s.pids_current != Some(1) || s.memory_usage.is_none() || s.cpu_usage_ns.is_none() {
                return Err(format!("stats {s:?}"));
            }
            Ok(())
        })();
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait(pid).ok();
        r
    });

    run.check("device filter (eBPF) denies and allows /dev/null", || {
        cg.apply(&res(|b| {
            b.devices(vec![deny_all(), char_rule(true, 1, Some(3))])
        }))
        .map_err(e2s)?;
        let n = wait(fork_in(&cg, open_null)?);
        let z = wait(fork_in(&cg, open_zero)?);
        if n != Ok(0) || z != Ok(1) {
            return Err(format!("allow /dev/null only: null {n:?} zero {z:?}"));
        }
        // Replace the program: now /dev/null is denied (last rule wins), /dev/zero allowed.
        cg.apply(&res(|b| {
            b.devices(vec![
                deny_all(),
                char_rule(true, 1, None),
                char_rule(false, 1, Some(3)),
            ])
        }))
        .map_err(e2s)?;
        let n = wait(fork_in(&cg, open_null)?);
        let z = wait(fork_in(&cg, open_zero)?);
        if n != Ok(1) || z != Ok(0) {
            return Err(format!("deny /dev/null: null {n:?} zero {z:?}"));
        }
        let progs = attached_device_filters(&dir).map_err(e2s)?;
        if progs != 1 {
            return Err(format!(
                "{progs} device programs attached, want 1 (replaced)"
            ));
        }
        Ok(())
    });

    run.check("io.max and io.weight", || {
        let Ok(dev) = std::fs::read_to_string("/sys/block/ram0/dev") else {
            println!("SKIP: io.max: no /sys/block/ram0 (load brd with VM_MODULES=brd)");
            return Ok(());
        };
        let (maj, min) = dev.trim().split_once(':').ok_or("bad dev")?;
        let (maj, min): (i64, i64) = (maj.parse().map_err(e2s)?, min.parse().map_err(e2s)?);
        let t = LinuxThrottleDeviceBuilder::default()
            .major(maj)
            .minor(min)
            .rate(1_048_576u64)
            .build()
            .map_err(e2s)?;
        cg.apply(&res(|b| {
            b.block_io(
                LinuxBlockIoBuilder::default()
                    .weight(500u16)
                    .throttle_read_bps_device(vec![t])
                    .build()
                    .unwrap_or_default(),
            )
        }))
        .map_err(e2s)?;
        let max = read(&dir, "io.max")?;
        if !max.starts_with(&format!("{maj}:{min} rbps=1048576 ")) {
            return Err(format!("io.max {max:?}"));
        }
        // io.weight (no BFQ in the VM): 500 -> 1 + 490*9999/990 = 4950
        let w = read(&dir, "io.weight").or_else(|_| read(&dir, "io.bfq.weight"))?;
        if !(w.contains("4950") || w.contains("500")) {
            return Err(format!("io weight {w:?}"));
        }
        Ok(())
    });

    run.check("unified keys written verbatim", || {
        let mut m = std::collections::HashMap::new();
        m.insert("memory.high".to_string(), "50000000".to_string());
        cg.apply(&res(|b| b.unified(m))).map_err(e2s)?;
        let v: u64 = read(&dir, "memory.high")?.parse().map_err(e2s)?;
        // the kernel rounds down to pages
        if !(49_999_000..=50_000_000).contains(&v) {
            return Err(format!("memory.high {v}"));
        }
        Ok(())
    });

    run.check("mount plan is one cgroup2 mount", || {
        match cg.mount_plan().map_err(e2s)?.as_slice() {
            [CgroupMount::Cgroup2 { host_dir }] if host_dir == &dir => Ok(()),
            p => Err(format!("{p:?}")),
        }
    });

    run.check(
        "absolute path outside own cgroup: made from the root, only its leaf removed",
        || {
            // Move into a leaf /cgcheck-runner (podman's conmon), make /cgcheck-outside/leaf (the
            // container beside it), check the parent is delegated to and survives delete.
            let runner = Path::new("/sys/fs/cgroup/cgcheck-runner");
            std::fs::create_dir(runner).map_err(e2s)?;
            let r = (|| {
                std::fs::write(runner.join("cgroup.procs"), "0").map_err(e2s)?;
                let parent = Path::new("/sys/fs/cgroup/cgcheck-outside");
                let mut out =
                    Cgroup::resolve(Some(Path::new("/cgcheck-outside/leaf")), "x").map_err(e2s)?;
                let made = out.create();
                let created = out.created().to_vec();
                let applied = out.apply(&res(|b| {
                    b.pids(
                        LinuxPidsBuilder::default()
                            .limit(10)
                            .build()
                            .unwrap_or_default(),
                    )
                }));
                let deleted = out.delete();
                let r = match (made, applied, deleted) {
                    (Ok(()), Ok(()), Ok(())) if created == [parent.join("leaf")] => {
                        if parent.join("leaf").exists() {
                            Err("leaf not removed".to_string())
                        } else if !parent.is_dir() {
                            Err("the parent (maybe shared) was removed".to_string())
                        } else {
                            Ok(())
                        }
                    }
                    other => Err(format!("{other:?}, created {created:?}")),
                };
                let _ = std::fs::remove_dir(parent.join("leaf"));
                let _ = std::fs::remove_dir(parent);
                r?;
                // Below our own cgroup is allowed, but v2 cannot delegate controllers from a
                // cgroup holding processes: apply must explain that instead of ENOENT.
                let mut sub = Cgroup::resolve(None, "sub").map_err(e2s)?;
                sub.create().map_err(e2s)?;
                let applied = sub.apply(&res(|b| {
                    b.memory(
                        LinuxMemoryBuilder::default()
                            .limit(1i64 << 30)
                            .build()
                            .unwrap_or_default(),
                    )
                }));
                sub.delete().map_err(e2s)?;
                match applied {
                    Err(e) if e.to_string().contains("memory controller is not enabled") => Ok(()),
                    other => Err(format!("apply below a populated cgroup: {other:?}")),
                }
            })();
            let back = std::fs::write("/sys/fs/cgroup/cgroup.procs", "0").map_err(e2s);
            let _ = std::fs::remove_dir(runner);
            r.and(back)
        },
    );

    run.check("delete removes everything", || {
        kill_all(&cg);
        cg.delete().map_err(e2s)?;
        if Path::new("/sys/fs/cgroup/cgcheck").exists() {
            return Err("/sys/fs/cgroup/cgcheck still exists".into());
        }
        Ok(())
    });

    run.check("create+apply+delete timing", || {
        let r = res(|b| {
            b.memory(
                LinuxMemoryBuilder::default()
                    .limit(64i64 << 20)
                    .build()
                    .unwrap_or_default(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(256u64)
                    .quota(20_000i64)
                    .period(100_000u64)
                    .build()
                    .unwrap_or_default(),
            )
            .pids(
                LinuxPidsBuilder::default()
                    .limit(100)
                    .build()
                    .unwrap_or_default(),
            )
            .devices(vec![deny_all(), char_rule(true, 1, Some(3))])
        });
        let t = Instant::now();
        let mut c = Cgroup::resolve(None, "cgcheck-timing").map_err(e2s)?;
        c.create().map_err(e2s)?;
        let applied = c.apply(&r).map_err(e2s);
        c.delete().map_err(e2s)?;
        applied?;
        println!(
            "cgcheck: resolve+create+apply(+bpf)+delete took {:?} (TCG-emulated)",
            t.elapsed()
        );
        Ok(())
    });

    if run.failed > 0 {
        kill_all(&cg);
        let _ = cg.delete();
        std::process::exit(1);
    }
}
