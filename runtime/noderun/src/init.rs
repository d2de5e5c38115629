//! The container side of `create` and `exec`, run in forked single-threaded children:
//! bootstrap (join the cgroup's go-ahead, join/create namespaces, user-namespace id maps, time
//! offsets, fork again for pid/time namespaces) and then the init sequence (rootfs, hooks,
//! pivot, hostname, sysctl, terminal, wait for `start`, credentials, seccomp, execve).
//! Nothing here returns: each child either execs or reports an error and `_exit`s.

use std::os::fd::RawFd;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, fork};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::namespaces::{self, Plan};
use crate::process::{self, CapPlan, ExecPlan};
use crate::sync::{Channel, Msg};
use crate::syscall::Linux;

/// Everything the container init needs; built by the parent before fork.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle_dir: &'a Path,
    /// The exec fifo, opened O_PATH by the parent (the container's root may not be able to
    /// reach the runtime's state directory, e.g. from a user namespace).
    pub fifo: RawFd,
    pub cgroup: &'a noderun_cgroups::Cgroup,
    pub console: Option<RawFd>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    pub seccomp: Option<&'a noderun_seccomp::Program>,
    pub plan: &'a Plan,
    /// Whether the parent will ask for createRuntime/prestart hooks (saves a round trip).
    pub create_hooks: bool,
    pub stdio: Option<[RawFd; 3]>,
}

/// What an exec'd process needs.
pub struct ExecArgs<'a> {
    pub process: &'a Process,
    pub join: &'a [(LinuxNamespaceType, std::path::PathBuf)],
    /// Root to chroot into (a container that shares the runtime's mount namespace).
    pub root: Option<&'a Path>,
    pub console: Option<RawFd>,
    pub preserve_fds: i32,
    pub seccomp: Option<&'a noderun_seccomp::Program>,
    pub stdio: Option<[RawFd; 3]>,
}

/// Give the child a clean signal state: the caller (a shim waiting on a signalfd, `run`
/// forwarding signals) may have blocked signals, and the mask survives execve.
fn reset_signals() {
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
}

/// Make `stdio` the process's descriptors 0, 1 and 2.
fn set_stdio(stdio: Option<[RawFd; 3]>) -> Result<(), String> {
    for (target, fd) in stdio.into_iter().flatten().enumerate() {
        // SAFETY: dup2 on descriptors handed to us by the caller.
        if fd != target as RawFd && unsafe { libc::dup2(fd, target as RawFd) } < 0 {
            return Err(format!(
                "stdio: dup2({fd}, {target}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn die(chan: &Channel, e: String) -> ! {
    // After `start` from another process (`noderun create` has exited), nobody reads the
    // channel: the container's stderr is where the reason can still be seen (as with runc).
    if chan.send(&Msg::Error(e.clone())).is_err() {
        eprintln!("noderun: container init: {e}");
    }
    // SAFETY: leaving the forked child without running the parent's destructors.
    unsafe { libc::_exit(1) }
}

/// Stage 1 of `create`: in the fork of the runtime.
pub fn bootstrap(chan: Channel, a: &InitArgs) -> ! {
    if let Err(e) = bootstrap_steps(&chan, a) {
        die(&chan, e)
    }
    // bootstrap_steps only returns Ok in the process that became init and finished.
    unsafe { libc::_exit(1) }
}

fn bootstrap_steps(chan: &Channel, a: &InitArgs) -> Result<(), String> {
    reset_signals();
    set_stdio(a.stdio)?;
    chan.expect(&Msg::Go)?;
    namespaces::join_all(&Linux, &a.plan.join)?;
    if a.plan.has_user() && !a.plan.new_user {
        // Our ids stay the host's after setns; become the namespace's root so files we
        // create are owned by a mapped id.
        become_root()?;
    }
    if a.plan.new_user {
        namespaces::unshare_flags(&Linux, nix::sched::CloneFlags::CLONE_NEWUSER)?;
        chan.send(&Msg::MapIds)?;
        chan.expect(&Msg::Ack)?;
        become_root()?;
    }
    namespaces::unshare_flags(&Linux, a.plan.new)?;
    if let Some(offsets) = a
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    {
        let mut text = String::new();
        for (clock, off) in offsets {
            text.push_str(&format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        std::fs::write("/proc/self/timens_offsets", text)
            .map_err(|e| format!("linux.timeOffsets: {e}"))?;
    }
    if a.plan.needs_fork() {
        // SAFETY: this process is single-threaded (a fork of a single-threaded runtime).
        match unsafe { fork() }.map_err(|e| format!("fork init: {e}"))? {
            ForkResult::Child => init(chan, a),
            ForkResult::Parent { child } => {
                chan.send(&Msg::Pid(child.as_raw()))?;
                // SAFETY: the bootstrap process is done.
                unsafe { libc::_exit(0) }
            }
        }
    } else {
        chan.send(&Msg::Pid(std::process::id() as i32))?;
        init(chan, a)
    }
}

fn become_root() -> Result<(), String> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .map_err(|e| format!("setresgid(0) in the user namespace: {e}"))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())
        .map_err(|e| format!("setresuid(0) in the user namespace: {e}"))
}

/// Stage 2: the container's init. Returns only on error.
fn init(chan: &Channel, a: &InitArgs) -> Result<(), String> {
    let spec = a.spec;
    let process = spec.process().as_ref().ok_or("process: missing")?;
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    let own_mount_ns = a.plan.has(LinuxNamespaceType::Mount);
    let ctx = crate::rootfs::RootfsContext {
        rootfs: a.rootfs,
        bundle_dir: a.bundle_dir,
        spec,
        in_userns: a.plan.has_user(),
        new_cgroupns: a.plan.new.contains(nix::sched::CloneFlags::CLONE_NEWCGROUP),
        own_mount_ns,
        cgroup: a.cgroup,
        sys: &Linux,
    };
    crate::rootfs::prepare(&ctx)?;
    let mut state_json = String::new();
    if a.create_hooks {
        chan.send(&Msg::RunCreateHooks)?;
        match chan.recv()? {
            Some(Msg::State(s)) => state_json = s,
            Some(Msg::Error(e)) => return Err(e),
            other => {
                return Err(format!(
                    "sync: expected the state after hooks, got {other:?}"
                ));
            }
        }
        crate::hooks::run(spec, "createContainer", state_json.as_bytes())?;
    }
    if own_mount_ns {
        crate::rootfs::enter(&ctx, a.no_pivot)?;
    } else {
        // The runtime's mount namespace is shared: no pivot, the root is root.path (runc).
        crate::rootfs::enter_shared(&ctx)?;
    }
    set_names_and_sysctls(spec, a.plan)?;
    if let Some(fd) = a.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::tty::setup_container_tty(fd, size, true)?;
    }
    if own_mount_ns {
        crate::rootfs::finish(&ctx)?;
    }
    let prepared = prepare_process(process, spec)?;
    // Everything that can fail before execve fails `create` (as in runc and crun): credentials
    // change before init says it is created.
    drop_privileges(&prepared, a.seccomp, process)?;
    chan.send(&Msg::Created)?;
    // Wait for `start`: opening the fifo for writing blocks until it is opened for reading.
    let path = format!("/proc/self/fd/{}", a.fifo);
    let w = open(
        Path::new(&path),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open exec fifo: {e}"))?;
    nix::unistd::write(&w, b"0").map_err(|e| format!("write exec fifo: {e}"))?;
    // `w` stays open (close-on-exec) until execve: `start` waits for that EOF, so poststart
    // hooks run only after startContainer hooks and the exec. What fails from here on fails
    // `start`: the reason goes into the fifo, which `start` reads up to the EOF.
    let r = crate::hooks::run(spec, "startContainer", state_json.as_bytes())
        .and_then(|()| exec_now(prepared, a.seccomp, a.preserve_fds, process));
    if let Err(e) = &r {
        let _ = nix::unistd::write(&w, e.as_bytes());
    }
    drop(w);
    r
}

/// Hostname and domainname (in the container's own UTS namespace), then `linux.sysctl`.
fn set_names_and_sysctls(spec: &Spec, plan: &Plan) -> Result<(), String> {
    if plan.has(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname() {
            nix::unistd::sethostname(h).map_err(|e| format!("hostname {h:?}: {e}"))?;
        }
        if let Some(d) = spec.domainname() {
            set_domainname(d)?;
        }
    }
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v).map_err(|e| format!("linux.sysctl.{k}: write {path}: {e}"))?;
    }
    Ok(())
}

fn set_domainname(d: &str) -> Result<(), String> {
    // SAFETY: pointer/len of a valid string.
    if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
        return Err(format!(
            "domainname {d:?}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// What is resolved while still privileged and before waiting: program path, caps, etc.
struct Prepared {
    exec: ExecPlan,
    caps: Option<CapPlan>,
}

fn prepare_process(process: &Process, spec: &Spec) -> Result<Prepared, String> {
    nix::unistd::chdir(process.cwd())
        .map_err(|e| format!("process.cwd {}: {e}", process.cwd().display()))?;
    if let Some(adj) = process.oom_score_adj() {
        process::set_oom_score_adj(None, adj)?;
    }
    process::set_rlimits(process)?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        process::set_personality(p)?;
    }
    process::set_io_priority(process)?;
    let program = process::find_program(process)?;
    Ok(Prepared {
        exec: ExecPlan::new(process, &program)?,
        caps: CapPlan::new(process)?,
    })
}

/// Drop privileges in the order that keeps each step possible: AppArmor, seccomp when it needs
/// CAP_SYS_ADMIN (no no_new_privs), bounding set, user and groups, the other capability sets,
/// no_new_privs. A filter under no_new_privs waits for [`exec_now`], as close to execve as
/// possible.
fn drop_privileges(
    p: &Prepared,
    seccomp: Option<&noderun_seccomp::Program>,
    process: &Process,
) -> Result<(), String> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        process::set_apparmor(profile)?;
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    if let (Some(s), false) = (seccomp, nnp) {
        // Without no_new_privs the filter needs CAP_SYS_ADMIN: install before dropping it.
        s.install().map_err(|e| format!("linux.seccomp: {e}"))?;
    }
    if let Some(c) = &p.caps {
        c.apply_bounding()?;
    }
    process::set_user(process)?;
    if let Some(c) = &p.caps {
        c.apply_rest()?;
    }
    if nnp {
        process::set_no_new_privs()?;
    }
    Ok(())
}

/// The last steps: the seccomp filter under no_new_privs, closing what must not pass, execve.
/// Returns only on error.
fn exec_now(
    p: Prepared,
    seccomp: Option<&noderun_seccomp::Program>,
    preserve_fds: i32,
    process: &Process,
) -> Result<(), String> {
    if let (Some(s), true) = (seccomp, process.no_new_privileges().unwrap_or(false)) {
        s.install().map_err(|e| format!("linux.seccomp: {e}"))?;
    }
    close_extra_fds(3 + preserve_fds);
    Err(p.exec.exec())
}

/// Mark every descriptor from `first` on close-on-exec, so only stdio and --preserve-fds pass.
fn close_extra_fds(first: i32) {
    let Ok(rd) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: fcntl on a descriptor number; invalid ones just fail.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Stage 1 of `exec`: join the container's namespaces, fork into its pid namespace.
pub fn exec_bootstrap(chan: Channel, a: &ExecArgs, spec: &Spec) -> ! {
    let r = (|| -> Result<(), String> {
        reset_signals();
        set_stdio(a.stdio)?;
        chan.expect(&Msg::Go)?;
        namespaces::join_all(&Linux, a.join)?;
        // SAFETY: single-threaded child.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => exec_process(&chan, a, spec),
            ForkResult::Parent { child } => {
                chan.send(&Msg::Pid(child.as_raw()))?;
                unsafe { libc::_exit(0) }
            }
        }
    })();
    if let Err(e) = r {
        die(&chan, e)
    }
    unsafe { libc::_exit(1) }
}

fn exec_process(_chan: &Channel, a: &ExecArgs, spec: &Spec) -> Result<(), String> {
    let process = a.process;
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    if let Some(root) = a.root {
        nix::unistd::chroot(root).map_err(|e| format!("chroot {}: {e}", root.display()))?;
        nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    }
    if let Some(fd) = a.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::tty::setup_container_tty(fd, size, false)?;
    }
    let prepared = prepare_process(process, spec)?;
    drop_privileges(&prepared, a.seccomp, process)?;
    exec_now(prepared, a.seccomp, a.preserve_fds, process)
}
