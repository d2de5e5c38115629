//! The runtime's library API, used by the `noderun` CLI and directly by nodelet's per-pod shim:
//! create, start, signal, wait, exec, delete, state, list, pause/resume, pids. Each operation
//! works on `<root>/<id>` and the kernel; a failed create leaves nothing behind (no state dir,
//! cgroup, mount or process).
//!
//! Invariant: these functions fork, so they must be called from a single-threaded process
//! (the CLI, the shim). `create` and `exec` check this and refuse otherwise.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::config::Bundle;
use crate::error::{Context, Error, Result, config_err};
use crate::init::{ExecArgs, InitArgs};
use crate::namespaces::Plan;
use crate::state::{EXEC_FIFO, OciState, Saved, Status, container_dir, validate_id};
use crate::sync::{self, Msg};

/// Options of `create` (the runc flags).
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Already-connected console socket (used by `run` in the foreground with a terminal).
    pub console_fd: Option<RawFd>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// Descriptors to become the container's stdin, stdout and stderr (default: ours).
    pub stdio: Option<[RawFd; 3]>,
    /// The systemd cgroup driver (runc's `--systemd-cgroup`): `linux.cgroupsPath` is
    /// `slice:prefix:name` and the container's cgroup a transient scope made by systemd.
    pub systemd_cgroup: bool,
}

/// Options of `exec`.
#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    /// Descriptors to become the process's stdin, stdout and stderr (default: ours).
    pub stdio: Option<[RawFd; 3]>,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub console_fd: Option<RawFd>,
    pub preserve_fds: i32,
}

/// A runtime rooted at a state directory (runc's `--root`).
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: PathBuf,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell convention: code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

fn ensure_single_threaded() -> Result<()> {
    let threads = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rfind(')').map(|i| s[i + 2..].to_string())?;
            after.split(' ').nth(17).and_then(|t| t.parse::<u32>().ok())
        })
        .unwrap_or(1);
    if threads > 1 {
        return Err(Error::Other(format!(
            "noderun must be called from a single-threaded process (this one has {threads} threads): it forks"
        )));
    }
    Ok(())
}

/// Device cgroup rules every container gets after its own (runc's allowed devices): the
/// default device nodes, ptys, and the nodes listed in `linux.devices`.
fn effective_resources(linux: &oci_spec::runtime::Linux) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType as T};
    let mut r = linux.resources().clone().unwrap_or_default();
    let mut devices = r.devices().clone().unwrap_or_default();
    let rule = |typ: T, major: Option<i64>, minor: Option<i64>| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some("rwm".to_string()));
        d
    };
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        devices.push(rule(T::C, Some(major), Some(minor)));
    }
    devices.push(rule(T::C, Some(136), None));
    // Only block and character devices are device cgroup rules; FIFOs (and "a") are not.
    for d in linux.devices().iter().flatten() {
        let typ = match d.typ() {
            T::U | T::C => T::C,
            T::B => T::B,
            T::P | T::A => continue,
        };
        devices.push(rule(typ, Some(d.major()), Some(d.minor())));
    }
    r.set_devices(Some(devices));
    r
}

/// Undo a half-made container when create fails.
struct CreateGuard<'a> {
    dir: &'a Path,
    cgroup: Option<noderun_cgroups::Cgroup>,
    pids: Vec<i32>,
    /// The rootfs of a container without a mount namespace: its mounts are in ours.
    host_mounts: Option<crate::rootfs::SharedMounts>,
    armed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for &p in &self.pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(p), Some(WaitPidFlag::__WALL));
        }
        if let Some(cg) = &self.cgroup {
            let _ = kill_cgroup(cg, Signal::SIGKILL, Duration::from_secs(5));
            let _ = cg.delete();
        }
        if let Some(m) = &self.host_mounts {
            let _ = m.unmount();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

/// How the create handshake stopped: the child (or a hook) reported an error, or the child
/// went away without a word.
enum Halt {
    Failed(Error),
    Died,
}

/// Where the container's bootstrap/init was when it went away, as far as the parent knows.
#[derive(Debug, Clone, Copy)]
enum Step {
    Cgroup,
    Namespaces,
    Rootfs,
    CreateHooks,
    Finish,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Step::Cgroup => "joining its cgroup",
            Step::Namespaces => "entering its namespaces",
            Step::Rootfs => "setting up its root filesystem",
            Step::CreateHooks => "waiting for the prestart and createRuntime hooks",
            Step::Finish => "finishing its set-up (createContainer hooks, root, credentials)",
        }
    }
}

/// The error for a container process that died during create without reporting why: how it
/// ended (if it was our child), whether the cgroup saw an OOM kill, and the step.
fn init_death(
    bundle: &Bundle,
    cgroup: &noderun_cgroups::Cgroup,
    pids: &[i32],
    step: Step,
) -> Error {
    let mut how = "exited".to_string();
    for &p in pids {
        match waitpid(
            Pid::from_raw(p),
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Ok(WaitStatus::Signaled(_, s, _)) => how = format!("was killed by {s}"),
            Ok(WaitStatus::Exited(_, c)) => how = format!("exited with status {c}"),
            _ => continue,
        }
        break;
    }
    let limit = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    let oom = cgroup.oom_kills().unwrap_or(0) > 0;
    death_error(&bundle.config_file, limit, oom, &how, step)
}

/// An OOM kill names the memory limit (the usual cause: a limit too small for init);
/// otherwise how the process ended and at which step.
fn death_error(file: &Path, limit: Option<i64>, oom: bool, how: &str, step: Step) -> Error {
    let step = step.describe();
    match (oom, limit) {
        (true, Some(l)) => config_err(
            file,
            "linux.resources.memory.limit",
            format!("{l} bytes is too little: the container's init was OOM-killed while {step}"),
        ),
        (true, None) => Error::Child(format!("the container's init was OOM-killed while {step}")),
        (false, _) => Error::Child(format!("the container's init {how} while {step}")),
    }
}

/// An error the container's init reported: when it names a config.json field (its text is
/// "field: reason"), the error names the file too, like the checks made before the fork.
fn child_error(file: &Path, text: String) -> Error {
    const ROOTS: [&str; 7] = [
        "process",
        "linux",
        "mounts",
        "root",
        "hooks",
        "hostname",
        "domainname",
    ];
    let names_field = |field: &str| {
        ROOTS.iter().any(|r| {
            field
                .strip_prefix(r)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[', ' ']))
        })
    };
    match text.split_once(": ") {
        Some((field, reason)) if names_field(field) => config_err(file, field, reason),
        _ => Error::Child(text),
    }
}

fn compile_seccomp(bundle: &Bundle) -> Result<Option<noderun_seccomp::Program>> {
    match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => noderun_seccomp::compile(s)
            .map(Some)
            .map_err(|e| config_err(&bundle.config_file, "linux.seccomp", e.to_string())),
        None => Ok(None),
    }
}

/// The scope prefix for an empty one in a systemd cgroupsPath (runc's is "runc").
const SYSTEMD_PREFIX: &str = "noderun";

fn make_cgroup(
    linux: &oci_spec::runtime::Linux,
    id: &str,
    systemd: bool,
) -> Result<noderun_cgroups::Cgroup> {
    let path = linux.cgroups_path().as_deref();
    let mut cgroup = if systemd {
        let p = path.map(|p| p.to_string_lossy());
        noderun_cgroups::Cgroup::resolve_systemd(p.as_deref(), id, SYSTEMD_PREFIX)?
    } else {
        noderun_cgroups::Cgroup::resolve(path, id)?
    };
    cgroup.create()?;
    Ok(cgroup)
}

/// `<dir>/exec.fifo`, writable by the container's root, opened O_PATH for init to reopen.
fn make_exec_fifo(dir: &Path, linux: &oci_spec::runtime::Linux) -> Result<OwnedFd> {
    let fifo = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", fifo.display()))?;
    // mkfifo is subject to the umask; the container's root (maybe a mapped uid) must be
    // able to open it for writing.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .ctx(|| format!("chmod {}", fifo.display()))?;
    if let Some(host_root) = linux
        .uid_mappings()
        .iter()
        .flatten()
        .find(|m| m.container_id() == 0)
        .map(|m| m.host_id())
    {
        nix::unistd::chown(&fifo, Some(host_root.into()), None)
            .ctx(|| format!("chown {}", fifo.display()))?;
    }
    nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {}", fifo.display()))
}

/// The console for `process.terminal`: connected from `--console-socket`, or the caller's
/// (foreground `run`). Returns the owned socket (closed once init has it) and the descriptor.
fn open_console(bundle: &Bundle, opts: &CreateOptions) -> Result<(Option<OwnedFd>, Option<RawFd>)> {
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let owned = match &opts.console_socket {
        Some(p) if terminal => Some(connect_console(p)?),
        _ => None,
    };
    let console = owned
        .as_ref()
        .map(|f| f.as_raw_fd())
        .or(opts.console_fd)
        .filter(|_| terminal);
    if terminal && console.is_none() {
        return Err(config_err(
            &bundle.config_file,
            "process.terminal",
            "true needs --console-socket (or a foreground run)",
        ));
    }
    Ok((owned, console))
}

/// Whether init must stop for the parent's prestart/createRuntime hooks (saves a round trip).
fn has_create_hooks(spec: &Spec) -> bool {
    [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
    ]
    .iter()
    .any(|k| !crate::hooks::of_kind(spec, k).is_empty())
}

/// Fork the bootstrap; returns our end of the sync channel and its pid.
fn fork_bootstrap(
    args: &InitArgs,
    cgroup: &noderun_cgroups::Cgroup,
) -> Result<(sync::Channel, i32)> {
    let (parent, child) = sync::pair().ctx(|| "socketpair")?;
    // The bootstrap moves itself into the cgroup (cheaper than add_task from here: see
    // `Cgroup::self_join`) before it does anything else; with the systemd driver systemd
    // moves it when it makes the scope.
    let join = match cgroup.unit() {
        Some(_) => noderun_cgroups::SelfJoin::none(),
        None => cgroup.self_join()?,
    };
    // SAFETY: single-threaded (checked by the caller); the child only runs init code and exits.
    match unsafe { fork() }.ctx(|| "fork")? {
        ForkResult::Child => {
            drop(parent);
            if let Err(e) = join.join() {
                let _ = child.send(&Msg::Error(format!("bootstrap: {e}")));
                // SAFETY: leaving the forked child without the parent's destructors.
                unsafe { libc::_exit(1) }
            }
            drop(join);
            crate::init::bootstrap(child, args)
        }
        ForkResult::Parent { child: pid } => Ok((parent, pid.as_raw())),
    }
}

/// SIGKILL (or `sig`) every process of the cgroup and wait until it is empty.
fn kill_cgroup(cg: &noderun_cgroups::Cgroup, sig: Signal, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_micros(200);
    loop {
        let pids = cg.pids()?;
        if pids.is_empty() {
            return Ok(());
        }
        for p in &pids {
            let _ = kill(Pid::from_raw(*p), sig);
        }
        // Reap those that are our children (the shim / `run` are subreapers), and only those:
        // the caller may be waiting for other children of its own.
        for p in &pids {
            let _ = waitpid(
                Pid::from_raw(*p),
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            );
        }
        if Instant::now() >= deadline {
            return Err(Error::Other(format!(
                "processes {pids:?} did not exit after SIGKILL"
            )));
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

fn connect_console(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("--console-socket {}: connect", path.display()))?;
    Ok(OwnedFd::from(s))
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path).ctx(|| format!("--pid-file {}", path.display()))?;
    let tmp = path.with_extension("noderun-tmp");
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("--pid-file: write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).ctx(|| format!("--pid-file: rename {}", path.display()))
}

fn write_id_maps(pid: i32, spec: &Spec) -> std::result::Result<(), String> {
    let linux = spec.linux().as_ref().ok_or("linux: missing")?;
    for (file, maps, field) in [
        ("uid_map", linux.uid_mappings(), "linux.uidMappings"),
        ("gid_map", linux.gid_mappings(), "linux.gidMappings"),
    ] {
        let text: String = maps
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(|e| format!("{field}: write {path}: {e}"))?;
    }
    Ok(())
}

/// The caller's user name from /etc/passwd (read directly: the shipped binary is static, and
/// glibc's NSS does not work from static binaries), or the uid.
fn current_user() -> String {
    let uid = nix::unistd::getuid().as_raw().to_string();
    crate::config::read_capped(Path::new("/etc/passwd"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
            })
        })
        .unwrap_or(uid)
}

/// A created container as returned to the caller of `create`.
pub struct Created {
    pub pid: i32,
    /// The sync channel to init: closes when init execs (used by `run` to see exec errors).
    channel: sync::Channel,
}

impl Created {
    /// After `start`: wait until init has exec'd the user process, or report why it could not.
    pub fn wait_exec(self) -> Result<()> {
        match self.channel.recv().map_err(Error::Child)? {
            None => Ok(()),
            Some(Msg::Error(e)) => Err(Error::Child(e)),
            Some(m) => Err(Error::Child(format!("sync: unexpected {m:?}"))),
        }
    }
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into() }
    }

    fn load(&self, id: &str) -> Result<Saved> {
        Saved::load(&self.root, id)
    }

    /// Create the container `id` from the bundle: namespaces, cgroup, rootfs and a waiting init.
    /// The steps are below, in order; a guard undoes whatever was made if one fails.
    pub fn create(&self, id: &str, bundle_dir: &Path, opts: &CreateOptions) -> Result<Created> {
        ensure_single_threaded()?;
        validate_id(id)?;
        let bundle = Bundle::load(bundle_dir)?;
        for w in &bundle.warnings {
            eprintln!("noderun: warning: {w}");
        }
        let spec = &bundle.spec;
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| config_err(&bundle.config_file, "linux", "missing"))?;
        let plan = Plan::from_spec(linux);
        let seccomp = compile_seccomp(&bundle)?;
        let dir = self.make_container_dir(id)?;
        let mut guard = CreateGuard {
            dir: &dir,
            cgroup: None,
            pids: vec![],
            host_mounts: None,
            armed: true,
        };
        let cgroup = make_cgroup(linux, id, opts.systemd_cgroup)?;
        guard.cgroup = Some(cgroup.clone());
        let resources = effective_resources(linux);
        // runc's `org.systemd.property.*` annotations: checked here, before anything runs.
        let unit_props = match cgroup.unit() {
            Some(_) => {
                noderun_cgroups::systemd::annotation_properties(spec.annotations().iter().flatten())
                    .map_err(|e| config_err(&bundle.config_file, "annotations", e.to_string()))?
            }
            None => Vec::new(),
        };
        // With the systemd driver the cgroup exists once systemd made the scope around the
        // bootstrap (below); the files are written after that, as runc does.
        if cgroup.unit().is_none() {
            cgroup.apply(&resources)?;
        }
        let fifo_fd = make_exec_fifo(&dir, linux)?;
        let (console_owned, console) = open_console(&bundle, opts)?;
        let mut saved = Saved {
            id: id.to_string(),
            bundle: bundle.dir.clone(),
            pid: 0,
            pid_start: 0,
            created: crate::state::now_rfc3339(),
            owner: current_user(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroup: cgroup.clone(),
            poststart: crate::hooks::of_kind(spec, "poststart").to_vec(),
            poststop: crate::hooks::of_kind(spec, "poststop").to_vec(),
            host_mounts: match plan.has(LinuxNamespaceType::Mount) {
                true => None,
                false => Some(
                    crate::rootfs::SharedMounts::record(&bundle.rootfs).map_err(Error::Other)?,
                ),
            },
        };
        guard.host_mounts = saved.host_mounts.clone();
        saved.save(&self.root)?;
        let args = InitArgs {
            spec,
            rootfs: &bundle.rootfs,
            bundle_dir: &bundle.dir,
            fifo: fifo_fd.as_raw_fd(),
            cgroup: &cgroup,
            console,
            no_pivot: opts.no_pivot,
            preserve_fds: opts.preserve_fds,
            seccomp: seccomp.as_ref(),
            plan: &plan,
            create_hooks: has_create_hooks(spec),
            stdio: opts.stdio,
        };
        let (parent, bootstrap) = fork_bootstrap(&args, &cgroup)?;
        drop(console_owned);
        guard.pids.push(bootstrap);
        if cgroup.unit().is_some() {
            // The bootstrap waits for Go: systemd moves it into the new scope first.
            cgroup.start_unit(
                Some(bootstrap),
                &format!("noderun container {id}"),
                &resources,
                &unit_props,
            )?;
            cgroup.apply(&resources)?;
        }
        let mut step = Step::Cgroup;
        let init_pid = self
            .handshake(
                &parent, bootstrap, &bundle, &mut saved, &mut guard, &mut step,
            )
            .map_err(|h| match h {
                Halt::Failed(e) => e,
                Halt::Died => init_death(&bundle, &cgroup, &guard.pids, step),
            })?;
        saved.save(&self.root)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, init_pid)?;
        }
        guard.armed = false;
        Ok(Created {
            pid: init_pid,
            channel: parent,
        })
    }

    /// `<root>/<id>`, which must not exist yet.
    fn make_container_dir(&self, id: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.root)
            .ctx(|| format!("create root {}", self.root.display()))?;
        let dir = container_dir(&self.root, id);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_string()))
            }
            Err(e) => Err(Error::Io {
                what: format!("create {}", dir.display()),
                source: e,
            }),
        }
    }

    /// Put the bootstrap in the cgroup, then follow the child through its steps until init
    /// says it is created: write id maps when asked, run prestart/createRuntime hooks when
    /// asked, note init's pid. Returns init's pid. `step` tracks where the child is, so that a
    /// child that dies without a word can be described.
    fn handshake(
        &self,
        parent: &sync::Channel,
        bootstrap: i32,
        bundle: &Bundle,
        saved: &mut Saved,
        guard: &mut CreateGuard,
        step: &mut Step,
    ) -> Result<i32, Halt> {
        let spec = &bundle.spec;
        *step = Step::Namespaces;
        parent.send(&Msg::Go).map_err(|_| Halt::Died)?;
        let mut init_pid = 0;
        let mut created = false;
        let mut hooks_pending = false;
        // The bootstrap (Pid) and init (the rest) write to the same socket, so the Pid can
        // arrive after init's first messages: go on until both Pid and Created arrived.
        while !(created && init_pid != 0) {
            match parent.recv().map_err(|_| Halt::Died)? {
                Some(Msg::MapIds) => {
                    write_id_maps(bootstrap, spec).map_err(|e| Halt::Failed(Error::Child(e)))?;
                    parent.send(&Msg::Ack).map_err(|_| Halt::Died)?;
                }
                Some(Msg::Pid(p)) => {
                    init_pid = p;
                    if p != bootstrap {
                        guard.pids.insert(0, p);
                        let _ = waitpid(Pid::from_raw(bootstrap), Some(WaitPidFlag::__WALL));
                        guard.pids.retain(|&x| x != bootstrap);
                    }
                    saved.pid = p;
                    saved.pid_start = crate::state::proc_start(p).map(|s| s.0).unwrap_or(0);
                    *step = Step::Rootfs;
                }
                Some(Msg::RunCreateHooks) => hooks_pending = true,
                Some(Msg::Created) => created = true,
                Some(Msg::Error(e)) => {
                    return Err(Halt::Failed(child_error(&bundle.config_file, e)));
                }
                Some(m) => {
                    return Err(Halt::Failed(Error::Child(format!(
                        "sync: unexpected {m:?}"
                    ))));
                }
                None => return Err(Halt::Died),
            }
            if hooks_pending && init_pid != 0 {
                hooks_pending = false;
                *step = Step::CreateHooks;
                let json = self.creating_state(saved, init_pid);
                crate::hooks::run(spec, "prestart", json.as_bytes())
                    .and_then(|()| crate::hooks::run(spec, "createRuntime", json.as_bytes()))
                    .map_err(|e| {
                        Halt::Failed(Error::Hook {
                            path: bundle.config_file.clone(),
                            reason: e,
                        })
                    })?;
                parent.send(&Msg::State(json)).map_err(|_| Halt::Died)?;
                *step = Step::Finish;
            }
        }
        Ok(init_pid)
    }

    /// The OCI state JSON the create-time hooks get on stdin.
    fn creating_state(&self, saved: &Saved, init_pid: i32) -> String {
        let mut st = saved.oci_state(&self.root);
        st.status = Status::Creating;
        st.pid = Some(init_pid);
        serde_json::to_string(&st).unwrap_or_default()
    }

    /// Let a created container's init exec the user process; then run poststart hooks.
    pub fn start(&self, id: &str) -> Result<()> {
        let saved = self.load(id)?;
        let status = saved.status(&self.root);
        if status != Status::Created {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                what: "only a created container can be started".into(),
            });
        }
        let fifo = container_dir(&self.root, id).join(EXEC_FIFO);
        let f = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("open {}", fifo.display()))?;
        // Phase 1: init's byte says it is released. Phase 2: EOF says it exec'd (its end of
        // the fifo is close-on-exec) or died; text before the EOF is why it could not exec.
        let mut buf = [0u8; 4096];
        let mut released = false;
        let mut why = Vec::new();
        loop {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&f), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            match nix::unistd::read(&f, &mut buf) {
                Ok(0) if released => break,
                Ok(0) => {
                    // No writer yet (init is about to open its end): don't spin on POLLHUP.
                    if !saved.init_alive() {
                        return Err(Error::Other(format!(
                            "container {id:?}: init exited before start"
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                Ok(n) => {
                    let data = if released { &buf[..n] } else { &buf[1..n] };
                    released = true;
                    if why.len() < 4096 {
                        why.extend_from_slice(data);
                    }
                }
                Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {
                    if !released && !saved.init_alive() {
                        return Err(Error::Other(format!(
                            "container {id:?}: init exited before start"
                        )));
                    }
                }
                Err(e) => {
                    return Err(Error::Sys {
                        what: format!("read {}", fifo.display()),
                        source: e,
                    });
                }
            }
        }
        std::fs::remove_file(&fifo).ctx(|| format!("remove {}", fifo.display()))?;
        if !why.is_empty() {
            return Err(Error::Child(
                String::from_utf8_lossy(&why).trim().to_string(),
            ));
        }
        if !saved.poststart.is_empty() {
            let json = serde_json::to_string(&saved.oci_state(&self.root)).unwrap_or_default();
            for w in crate::hooks::run_all(&saved.poststart, "poststart", json.as_bytes()) {
                eprintln!("noderun: warning: {w}");
            }
        }
        Ok(())
    }

    /// Send `sig` to init, or with `all` to every process in the container's cgroup.
    pub fn signal(&self, id: &str, sig: Signal, all: bool) -> Result<()> {
        let saved = self.load(id)?;
        let status = saved.status(&self.root);
        if all {
            for p in saved.cgroup.pids()? {
                let _ = kill(Pid::from_raw(p), sig);
            }
            return Ok(());
        }
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                what: "container not running".into(),
            });
        }
        kill(Pid::from_raw(saved.pid), sig).ctx(|| format!("kill {} {sig}", saved.pid))
    }

    /// Wait for a process that is our child (or was reparented to us as subreaper).
    pub fn wait(pid: i32) -> Result<Exit> {
        loop {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(Exit::Code(c)),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(Exit::Signal(s as i32)),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Sys {
                        what: format!("wait for pid {pid}"),
                        source: e,
                    });
                }
            }
        }
    }

    /// Delete a container: refuses a running one unless `force` (then kills it); removes the
    /// cgroup and state, runs poststop hooks.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let saved = self.load(id)?;
        let status = saved.status(&self.root);
        match status {
            Status::Running | Status::Paused if !force => {
                return Err(Error::WrongState {
                    id: id.into(),
                    status: status.to_string(),
                    what: "cannot delete a running container without --force".into(),
                });
            }
            Status::Paused => {
                let _ = saved.cgroup.thaw();
            }
            _ => {}
        }
        if saved.init_alive() {
            let _ = kill(Pid::from_raw(saved.pid), Signal::SIGKILL);
        }
        kill_cgroup(&saved.cgroup, Signal::SIGKILL, Duration::from_secs(10))?;
        saved.cgroup.delete()?;
        if let Some(m) = &saved.host_mounts {
            m.unmount().map_err(Error::Other)?;
        }
        let dir = container_dir(&self.root, id);
        std::fs::remove_dir_all(&dir).ctx(|| format!("remove {}", dir.display()))?;
        if !saved.poststop.is_empty() {
            let mut st = saved.oci_state(&self.root);
            st.status = Status::Stopped;
            st.pid = None;
            let json = serde_json::to_string(&st).unwrap_or_default();
            for w in crate::hooks::run_all(&saved.poststop, "poststop", json.as_bytes()) {
                eprintln!("noderun: warning: {w}");
            }
        }
        Ok(())
    }

    pub fn state(&self, id: &str) -> Result<OciState> {
        Ok(self.load(id)?.oci_state(&self.root))
    }

    pub fn list(&self) -> Result<Vec<OciState>> {
        let mut out = vec![];
        for id in crate::state::list_ids(&self.root)? {
            if let Ok(s) = self.load(&id) {
                out.push(s.oci_state(&self.root));
            }
        }
        Ok(out)
    }

    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        Ok(self.load(id)?.cgroup.pids()?)
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let s = self.load(id)?;
        let status = s.status(&self.root);
        if status != Status::Running {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                what: "only a running container can be paused".into(),
            });
        }
        Ok(s.cgroup.freeze()?)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let s = self.load(id)?;
        let status = s.status(&self.root);
        if status != Status::Paused {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                what: "only a paused container can be resumed".into(),
            });
        }
        Ok(s.cgroup.thaw()?)
    }

    /// Apply `resources` to the live cgroup of container `id` (`noderun update`): only the
    /// fields that are set are written, as with runc (0 leaves a value unchanged). A stopped
    /// container is refused: its cgroup may be gone.
    pub fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let s = self.load(id)?;
        let status = s.status(&self.root);
        if status == Status::Stopped {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                what: "the resources of a stopped container cannot be updated".into(),
            });
        }
        Ok(s.cgroup.update(resources)?)
    }

    /// Run `process` inside the running container `id`; returns the new process's pid once it
    /// has exec'd (the caller waits for it if it is our child or we are a subreaper).
    pub fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        ensure_single_threaded()?;
        let saved = self.load(id)?;
        let status = saved.status(&self.root);
        if !matches!(status, Status::Running | Status::Created) {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                what: "cannot exec in a container that is not running".into(),
            });
        }
        let bundle = Bundle::load(&saved.bundle)?;
        crate::config::validate_process(Path::new("--process"), "process", process)?;
        let seccomp = match bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
        {
            Some(s) => Some(noderun_seccomp::compile(s)?),
            None => None,
        };
        let join = crate::namespaces::differing_from_ours(saved.pid);
        let console_owned = match &opts.console_socket {
            Some(p) => Some(connect_console(p)?),
            None => None,
        };
        let console = console_owned
            .as_ref()
            .map(|f| f.as_raw_fd())
            .or(opts.console_fd);
        if process.terminal().unwrap_or(false) && console.is_none() {
            return Err(Error::Other(
                "exec: a terminal needs --console-socket (or a foreground exec)".into(),
            ));
        }
        // A container without a mount namespace of its own shares ours: enter its root as its
        // init did (chroot), through init's view of it.
        let root = saved
            .host_mounts
            .as_ref()
            .map(|_| PathBuf::from(format!("/proc/{}/root", saved.pid)));
        let args = ExecArgs {
            process,
            join: &join,
            root: root.as_deref(),
            console,
            preserve_fds: opts.preserve_fds,
            seccomp: seccomp.as_ref(),
            stdio: opts.stdio,
        };
        let (parent, child) = sync::pair().ctx(|| "socketpair")?;
        // As in create: the bootstrap moves itself into the container's cgroup.
        let cg_join = saved.cgroup.self_join()?;
        // SAFETY: single-threaded (checked above).
        let bootstrap = match unsafe { fork() }.ctx(|| "fork")? {
            ForkResult::Child => {
                drop(parent);
                if let Err(e) = cg_join.join() {
                    let _ = child.send(&Msg::Error(format!("exec bootstrap: {e}")));
                    // SAFETY: leaving the forked child without the parent's destructors.
                    unsafe { libc::_exit(1) }
                }
                drop(cg_join);
                crate::init::exec_bootstrap(child, &args, &bundle.spec)
            }
            ForkResult::Parent { child: pid } => pid.as_raw(),
        };
        drop(cg_join);
        drop(child);
        drop(console_owned);
        let fail = |e: Error| {
            let _ = kill(Pid::from_raw(bootstrap), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(bootstrap), Some(WaitPidFlag::__WALL));
            e
        };
        parent.send(&Msg::Go).map_err(|e| fail(Error::Child(e)))?;
        let pid = match parent.recv().map_err(Error::Child)? {
            Some(Msg::Pid(p)) => p,
            Some(Msg::Error(e)) => return Err(fail(Error::Child(e))),
            None => {
                let how = match waitpid(Pid::from_raw(bootstrap), Some(WaitPidFlag::__WALL)) {
                    Ok(WaitStatus::Signaled(_, s, _)) => format!("was killed by {s}"),
                    Ok(WaitStatus::Exited(_, c)) => format!("exited with status {c}"),
                    _ => "exited".into(),
                };
                let oom = match saved.cgroup.oom_kills() {
                    Ok(n) if n > 0 => format!(" (the container's cgroup has {n} OOM kills)"),
                    _ => String::new(),
                };
                return Err(Error::Child(format!(
                    "exec in {id:?}: the process {how} while joining the container's \
                     namespaces{oom}"
                )));
            }
            Some(m) => return Err(fail(Error::Child(format!("exec: unexpected {m:?}")))),
        };
        let _ = waitpid(Pid::from_raw(bootstrap), Some(WaitPidFlag::__WALL));
        match parent.recv().map_err(Error::Child)? {
            None => {}
            Some(Msg::Error(e)) => {
                let _ = waitpid(
                    Pid::from_raw(pid),
                    Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG),
                );
                return Err(Error::Child(e));
            }
            Some(m) => return Err(Error::Child(format!("exec: unexpected {m:?}"))),
        }
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(pid)
    }
}

/// Make the calling process a child subreaper, so a container's init (a grandchild) is
/// reparented to it and can be waited for.
pub fn become_subreaper() -> Result<()> {
    // SAFETY: prctl with integer args.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(Error::Io {
            what: "PR_SET_CHILD_SUBREAPER".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_death_is_described() {
        let f = Path::new("/b/config.json");
        let cases = [
            (
                Some(1),
                true,
                "was killed by SIGKILL",
                Step::Namespaces,
                "/b/config.json: linux.resources.memory.limit: 1 bytes is too little: the \
                 container's init was OOM-killed while entering its namespaces",
            ),
            (
                None,
                true,
                "exited",
                Step::Rootfs,
                "the container's init was OOM-killed while setting up its root filesystem",
            ),
            (
                Some(1 << 30),
                false,
                "was killed by SIGSEGV",
                Step::Rootfs,
                "the container's init was killed by SIGSEGV while setting up its root filesystem",
            ),
        ];
        for (limit, oom, how, step, want) in cases {
            assert_eq!(death_error(f, limit, oom, how, step).to_string(), want);
        }
    }

    #[test]
    fn child_errors_name_the_file_when_they_name_a_field() {
        let f = Path::new("/b/config.json");
        for (text, want) in [
            (
                "process.capabilities.inheritable: capset: EPERM",
                "/b/config.json: process.capabilities.inheritable: capset: EPERM",
            ),
            (
                "mounts[7] (/bad): source /no/such: No such file",
                "/b/config.json: mounts[7] (/bad): source /no/such: No such file",
            ),
            (
                "linux.namespaces (uts): open /x: ENOENT",
                "/b/config.json: linux.namespaces (uts): open /x: ENOENT",
            ),
            ("rootless: not a field", "rootless: not a field"),
            ("fork init: EAGAIN", "fork init: EAGAIN"),
            ("setsid: EPERM", "setsid: EPERM"),
        ] {
            assert_eq!(child_error(f, text.to_string()).to_string(), want);
        }
    }

    #[test]
    fn fifo_devices_are_not_device_rules() {
        let linux: oci_spec::runtime::Linux = serde_json::from_str(
            r#"{"devices": [{"path": "/dev/p", "type": "p"},
                            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}"#,
        )
        .unwrap();
        let rules = effective_resources(&linux).devices().clone().unwrap();
        use oci_spec::runtime::LinuxDeviceType as T;
        assert!(
            rules
                .iter()
                .all(|r| matches!(r.typ(), Some(T::C) | Some(T::B)))
        );
        assert!(
            rules
                .iter()
                .any(|r| r.major() == Some(10) && r.minor() == Some(229))
        );
    }
}
