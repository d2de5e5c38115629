//! The shim's single-threaded event loop: one `poll` over the listening socket, the agent's
//! connections, every container and exec output pipe, and a signalfd for SIGCHLD. Requests are
//! answered in order; an `Exec` is answered when its process exits (or times out) without
//! blocking anything else. Container operations run the runtime binary (`runtime`); a
//! container's state is what the shim knows of the containers it created (their init is its
//! child), and the runtime is asked only about others.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::crilog::LogWriter;
use crate::runtime::{RuntimeCli, Stdio3};
use nodelet_shim_protocol::crilog::{self, Stream};
use nodelet_shim_protocol::exits::{self, ExitRecord};
use nodelet_shim_protocol::protocol::{ContainerInfo, ExecResult, Request, Response};

/// Reads (of up to `PIPE_READ_MAX`) from one output pipe per poll round.
const PIPE_READS_PER_ROUND: usize = 16;

/// The largest read from an output pipe. The buffer is on the heap, not the stack: stack
/// probes would touch (and keep resident) every page of a 64 KiB stack array on each read,
/// where the heap buffer costs only the pages that reads actually fill.
const PIPE_READ_MAX: usize = 64 * 1024;

/// Most output an `Exec` returns per stream.
const EXEC_OUTPUT_MAX: usize = 64 * 1024;

/// Exits of processes not (yet) known to the shim kept for a later match: a detached exec's
/// process can end before its pid file has been read.
const EARLY_EXITS_MAX: usize = 64;

pub struct Config {
    /// The pod's shim directory: socket, exit records.
    pub dir: PathBuf,
    /// noderun's state root for this pod's containers.
    pub runtime_root: PathBuf,
    /// The noderun binary, run for each container operation.
    pub runtime: PathBuf,
    pub log_max_size: u64,
    pub log_max_files: usize,
}

struct Container {
    pid: i32,
    started_at: Option<String>,
    log: Option<LogWriter>,
    /// The memory cgroup file with its `oom_kill` count, read at create and when init dies.
    oom_counter: Option<PathBuf>,
    /// The count at create: any kill after it, of init or any other process of the
    /// container, makes the exit an OOM kill (containerd's rule).
    oom_kills_at_create: u64,
    /// How init ended, once reaped (also on disk, for an agent that was away).
    exit: Option<ExitRecord>,
}

enum PipeOwner {
    Log(String, Stream),
    Exec(u64, Stream),
}

struct Pipe {
    fd: OwnedFd,
    owner: PipeOwner,
}

struct PendingExec {
    client: u64,
    pid: i32,
    deadline: Instant,
    out: [Vec<u8>; 2],
    exit: Option<i32>,
    timed_out: bool,
    open_pipes: usize,
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    /// A `Watch` connection: gets an `Exited` line per recorded container exit.
    watcher: bool,
}

pub struct Server {
    cfg: Config,
    /// Creates and changes containers (one runtime run per operation).
    cli: RuntimeCli,
    listener: UnixListener,
    sfd: SignalFd,
    conns: HashMap<u64, Conn>,
    containers: HashMap<String, Container>,
    pipes: Vec<Pipe>,
    execs: HashMap<u64, PendingExec>,
    /// pid → exit code of reaped processes nobody claimed yet (see `EARLY_EXITS_MAX`).
    early_exits: HashMap<i32, i32>,
    /// Output pipes are read into this buffer (`PIPE_READ_MAX`).
    pipe_buf: Vec<u8>,
    next_id: u64,
    shutdown: bool,
}

fn err(e: impl std::fmt::Display) -> Response {
    Response::Error {
        message: e.to_string(),
    }
}

fn pipe_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
}

/// Pipes for a new process's stdout and stderr: our read ends, and its standard streams
/// (stdin /dev/null).
fn output_pipes() -> anyhow::Result<(OwnedFd, OwnedFd, Stdio3)> {
    let (out_r, out_w) = pipe_pair()?;
    let (err_r, err_w) = pipe_pair()?;
    let stdio = Stdio3 {
        stdin: std::fs::File::open("/dev/null")?.into(),
        stdout: out_w,
        stderr: err_w,
    };
    Ok((out_r, err_r, stdio))
}

/// Become a child subreaper: container inits (our grandchildren through the runtime's
/// bootstrap) are re-parented to the shim, which reaps them and records their exits.
fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

fn set_nonblocking(fd: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        fd.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
}

impl Server {
    /// Bind the socket `<dir>/shim.sock` and get ready; the caller then runs `serve`.
    pub fn new(cfg: Config) -> anyhow::Result<Server> {
        use anyhow::Context;
        become_subreaper()?;
        std::fs::create_dir_all(&cfg.dir)
            .with_context(|| format!("create {}", cfg.dir.display()))?;
        let sock = cfg.dir.join("shim.sock");
        let _ = std::fs::remove_file(&sock);
        let listener =
            UnixListener::bind(&sock).with_context(|| format!("bind {}", sock.display()))?;
        std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        mask.thread_block()?;
        let sfd = SignalFd::with_flags(
            &mask,
            nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
        )?;
        let cli = RuntimeCli::new(cfg.runtime.clone(), cfg.runtime_root.clone(), &cfg.dir);
        Ok(Server {
            cfg,
            cli,
            listener,
            sfd,
            conns: HashMap::new(),
            containers: HashMap::new(),
            pipes: Vec::new(),
            execs: HashMap::new(),
            early_exits: HashMap::new(),
            pipe_buf: Vec::new(),
            next_id: 1,
            shutdown: false,
        })
    }

    /// Serve until a `Shutdown` (or SIGTERM) and no container process is left.
    pub fn serve(mut self) -> anyhow::Result<()> {
        loop {
            if self.shutdown && self.live_containers() == 0 && self.execs.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            let timeout = self
                .execs
                .values()
                .filter(|e| e.exit.is_none())
                .map(|e| e.deadline.saturating_duration_since(now))
                .min()
                .map(|d| {
                    PollTimeout::try_from(d.as_millis().min(60_000) as i32 + 1)
                        .unwrap_or(PollTimeout::NONE)
                })
                .unwrap_or(PollTimeout::NONE);
            let conn_ids: Vec<u64> = self.conns.keys().copied().collect();
            let ready: Vec<(usize, PollFlags)> = {
                let mut fds = Vec::with_capacity(2 + conn_ids.len() + self.pipes.len());
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                fds.push(PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN));
                for id in &conn_ids {
                    fds.push(PollFd::new(
                        self.conns[id].stream.as_fd(),
                        PollFlags::POLLIN,
                    ));
                }
                for p in &self.pipes {
                    fds.push(PollFd::new(p.fd.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, timeout) {
                    Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
                fds.iter()
                    .enumerate()
                    .filter_map(|(i, f)| f.revents().filter(|r| !r.is_empty()).map(|r| (i, r)))
                    .collect()
            };
            let mut closed_pipes = vec![];
            for (i, _flags) in ready {
                match i {
                    0 => self.accept(),
                    1 => self.on_signal(),
                    i if i < 2 + conn_ids.len() => self.on_conn(conn_ids[i - 2]),
                    i => {
                        if self.on_pipe(i - 2 - conn_ids.len()) {
                            closed_pipes.push(i - 2 - conn_ids.len());
                        }
                    }
                }
            }
            closed_pipes.sort_unstable();
            for i in closed_pipes.into_iter().rev() {
                let p = self.pipes.remove(i);
                self.pipe_closed(p);
            }
            self.check_execs();
        }
    }

    /// Containers whose init has not been reaped yet.
    fn live_containers(&self) -> usize {
        self.containers
            .iter()
            .filter(|(_, c)| c.pid > 0 && c.exit.is_none())
            .count()
    }

    fn accept(&mut self) {
        while let Ok((s, _)) = self.listener.accept() {
            let _ = s.set_nonblocking(true);
            self.next_id += 1;
            self.conns.insert(
                self.next_id,
                Conn {
                    stream: s,
                    buf: Vec::new(),
                    watcher: false,
                },
            );
        }
    }

    fn on_signal(&mut self) {
        while let Ok(Some(info)) = self.sfd.read_signal() {
            if info.ssi_signo == Signal::SIGTERM as u32 || info.ssi_signo == Signal::SIGINT as u32 {
                self.shutdown = true;
            }
        }
        self.reap();
    }

    fn reap(&mut self) {
        loop {
            let (pid, code, signal) =
                match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                    Ok(WaitStatus::Exited(p, c)) => (p.as_raw(), c, None),
                    Ok(WaitStatus::Signaled(p, s, _)) => {
                        (p.as_raw(), 128 + s as i32, Some(s as i32))
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => return,
                    Ok(_) => continue,
                };
            if let Some(e) = self
                .execs
                .values_mut()
                .find(|e| e.pid == pid && e.exit.is_none())
            {
                e.exit = Some(code);
                continue;
            }
            let Some((id, c)) = self.containers.iter_mut().find(|(_, c)| c.pid == pid) else {
                if self.early_exits.len() >= EARLY_EXITS_MAX {
                    self.early_exits.clear();
                }
                self.early_exits.insert(pid, code);
                continue;
            };
            let oom_killed =
                oom_kills(c.oom_counter.as_deref()).is_some_and(|n| n > c.oom_kills_at_create);
            let rec = ExitRecord {
                pid,
                exit_code: code,
                signal,
                oom_killed,
                started_at: c.started_at.clone().unwrap_or_default(),
                finished_at: crilog::now(),
            };
            if let Err(e) = exits::save(&self.cfg.dir, id, &rec) {
                eprintln!("nodelet-shim: record exit of {id}: {e}");
            }
            c.exit = Some(rec);
            let id = id.clone();
            self.notify_watchers(&id);
        }
    }

    /// Tells every watcher that container `id` ended. The write never blocks: a watcher whose
    /// socket buffer is full is dropped, and it resynchronises with `List` when it reconnects.
    fn notify_watchers(&mut self, id: &str) {
        let mut line =
            serde_json::to_vec(&Response::Exited { id: id.to_string() }).unwrap_or_default();
        line.push(b'\n');
        self.conns.retain(|_, c| {
            if !c.watcher {
                return true;
            }
            matches!((&c.stream).write(&line), Ok(n) if n == line.len())
        });
    }

    fn on_conn(&mut self, cid: u64) {
        let mut buf = [0u8; 8192];
        let mut gone = false;
        if let Some(c) = self.conns.get_mut(&cid) {
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        gone = true;
                        break;
                    }
                    Ok(n) => c.buf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
        }
        loop {
            let line = {
                let Some(c) = self.conns.get_mut(&cid) else {
                    return;
                };
                let Some(nl) = c.buf.iter().position(|&b| b == b'\n') else {
                    break;
                };
                let line: Vec<u8> = c.buf.drain(..=nl).collect();
                line
            };
            let resp = match serde_json::from_slice::<Request>(&line) {
                Ok(req) => self.handle(cid, req),
                Err(e) => Some(err(format!("bad request: {e}"))),
            };
            if let Some(r) = resp {
                self.respond(cid, &r);
            }
        }
        if gone {
            self.conns.remove(&cid);
        }
    }

    fn respond(&mut self, cid: u64, r: &Response) {
        if let Some(c) = self.conns.get_mut(&cid) {
            let mut line = serde_json::to_vec(r).unwrap_or_else(|e| {
                format!("{{\"result\":\"error\",\"message\":\"{e}\"}}").into_bytes()
            });
            line.push(b'\n');
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.write_all(&line);
            let _ = c.stream.set_nonblocking(true);
        }
    }

    /// A container's state: from what this shim knows of the containers it created (their
    /// init is its child: reaped means stopped), else from the runtime.
    fn info(&self, id: &str) -> Result<ContainerInfo, crate::runtime::RuntimeError> {
        let Some(c) = self.containers.get(id) else {
            let st = self.cli.state(id)?;
            return Ok(ContainerInfo {
                id: id.to_string(),
                status: st.status,
                pid: st.pid,
                started_at: None,
                exit: exits::load(&self.cfg.dir, id),
                log_path: None,
            });
        };
        let exit = c.exit.clone();
        let (status, pid) = match (&exit, &c.started_at) {
            (Some(_), _) => ("stopped", None),
            (None, Some(_)) => ("running", Some(c.pid)),
            (None, None) => ("created", Some(c.pid)),
        };
        Ok(ContainerInfo {
            id: id.to_string(),
            status: status.to_string(),
            pid,
            started_at: c.started_at.clone(),
            exit,
            log_path: c.log.as_ref().map(|l| l.path().to_path_buf()),
        })
    }

    /// Every container in the runtime's state root: the ones this shim created, and any
    /// left by an earlier shim of the pod.
    fn list(&self) -> std::io::Result<Vec<ContainerInfo>> {
        let mut ids: Vec<String> = self.containers.keys().cloned().collect();
        match std::fs::read_dir(&self.cfg.runtime_root) {
            Ok(dir) => {
                for e in dir.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if e.path().is_dir() && !self.containers.contains_key(&name) {
                        ids.push(name);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        ids.sort();
        Ok(ids.iter().filter_map(|id| self.info(id).ok()).collect())
    }

    /// Handle one request; `None` means the answer comes later (Exec).
    fn handle(&mut self, cid: u64, req: Request) -> Option<Response> {
        Some(match req {
            Request::Create {
                id,
                bundle,
                log_path,
                oom_counter,
            } => match self.create(&id, &bundle, log_path, oom_counter) {
                Ok(pid) => Response::Created { pid },
                Err(e) => err(e),
            },
            Request::Start { id } => match self.start(&id) {
                Ok(()) => Response::Ok,
                Err(e) => err(e),
            },
            Request::Kill { id, signal, all } => match self.kill(&id, signal, all) {
                Ok(()) => Response::Ok,
                Err(e) => err(e),
            },
            Request::Delete { id, force } => match self.cli.delete(&id, force) {
                Ok(()) => {
                    self.reap();
                    self.containers.remove(&id);
                    exits::remove(&self.cfg.dir, &id);
                    Response::Ok
                }
                Err(e) => err(e),
            },
            Request::State { id } => match self.info(&id) {
                Ok(i) => Response::Container(i),
                Err(e) => err(e),
            },
            Request::List => match self.list() {
                Ok(containers) => Response::Containers { containers },
                Err(e) => err(format!("list {}: {e}", self.cfg.runtime_root.display())),
            },
            Request::Exec {
                id,
                process,
                timeout_ms,
            } => match self.exec(cid, &id, &process, timeout_ms) {
                Ok(()) => return None,
                Err(e) => err(e),
            },
            Request::Shutdown => {
                self.shutdown = true;
                Response::Ok
            }
            Request::Watch => {
                if let Some(c) = self.conns.get_mut(&cid) {
                    c.watcher = true;
                }
                Response::Ok
            }
        })
    }

    fn create(
        &mut self,
        id: &str,
        bundle: &std::path::Path,
        log_path: Option<PathBuf>,
        oom_counter: Option<PathBuf>,
    ) -> anyhow::Result<i32> {
        let (out_r, err_r, stdio) = output_pipes()?;
        let log = match &log_path {
            Some(p) => Some(LogWriter::open(
                p,
                self.cfg.log_max_size,
                self.cfg.log_max_files,
            )?),
            None => None,
        };
        // The runtime's process ends with `create`; our write ends went with it.
        let pid = self.cli.create(id, bundle, stdio)?;
        for (fd, stream) in [(out_r, Stream::Stdout), (err_r, Stream::Stderr)] {
            set_nonblocking(&fd);
            self.pipes.push(Pipe {
                fd,
                owner: PipeOwner::Log(id.to_string(), stream),
            });
        }
        exits::remove(&self.cfg.dir, id);
        let oom_kills_at_create = oom_kills(oom_counter.as_deref()).unwrap_or(0);
        self.containers.insert(
            id.to_string(),
            Container {
                pid,
                started_at: None,
                log,
                oom_counter,
                oom_kills_at_create,
                exit: None,
            },
        );
        Ok(pid)
    }

    fn start(&mut self, id: &str) -> anyhow::Result<()> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| anyhow::anyhow!("container {id:?} was not created by this shim"))?;
        self.cli.start(id)?;
        c.started_at = Some(crilog::now());
        Ok(())
    }

    /// Signals a container's init directly while it is this shim's unreaped child (its pid
    /// cannot have been reused); anything else (`all`, a container of an earlier shim) goes
    /// through the runtime.
    fn kill(&mut self, id: &str, signal: i32, all: bool) -> anyhow::Result<()> {
        let sig = Signal::try_from(signal).map_err(|e| anyhow::anyhow!("signal {signal}: {e}"))?;
        self.reap();
        let own = self
            .containers
            .get(id)
            .filter(|c| c.pid > 0 && c.exit.is_none())
            .map(|c| c.pid);
        match own {
            Some(pid) if !all => kill(Pid::from_raw(pid), sig)
                .map_err(|e| anyhow::anyhow!("kill {id} (pid {pid}) {sig}: {e}")),
            _ => Ok(self.cli.kill(id, signal, all)?),
        }
    }

    fn exec(
        &mut self,
        cid: u64,
        id: &str,
        process: &serde_json::Value,
        timeout_ms: u64,
    ) -> anyhow::Result<()> {
        let (out_r, err_r, stdio) = output_pipes()?;
        let pid = self.cli.exec(id, process, stdio)?;
        self.next_id += 1;
        let xid = self.next_id;
        for (fd, stream) in [(out_r, Stream::Stdout), (err_r, Stream::Stderr)] {
            set_nonblocking(&fd);
            self.pipes.push(Pipe {
                fd,
                owner: PipeOwner::Exec(xid, stream),
            });
        }
        // An exec'd process that already ended was reaped as unknown: claim its exit.
        self.reap();
        self.execs.insert(
            xid,
            PendingExec {
                client: cid,
                pid,
                deadline: Instant::now() + Duration::from_millis(timeout_ms.max(1)),
                out: [Vec::new(), Vec::new()],
                exit: self.early_exits.remove(&pid),
                timed_out: false,
                open_pipes: 2,
            },
        );
        Ok(())
    }

    /// Read from pipe `i`; true when it reached EOF.
    fn on_pipe(&mut self, i: usize) -> bool {
        let mut buf = std::mem::take(&mut self.pipe_buf);
        buf.reserve_exact(PIPE_READ_MAX);
        let closed = self.read_pipe(i, &mut buf);
        self.pipe_buf = buf;
        closed
    }

    /// One read of at most `PIPE_READ_MAX` bytes into `buf`'s (uninitialised) capacity: the
    /// buffer is never zero-filled, so only the pages reads have written are resident.
    fn read_into(fd: &OwnedFd, buf: &mut Vec<u8>) -> nix::Result<usize> {
        buf.clear();
        let room = buf.capacity().min(PIPE_READ_MAX);
        // SAFETY: read(2) writes at most `room` bytes into the vector's spare capacity, and
        // the length is set to what it wrote.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), room) };
        let n = nix::Error::result(n)? as usize;
        // SAFETY: the first n bytes were just written by the kernel.
        unsafe { buf.set_len(n) };
        Ok(n)
    }

    fn read_pipe(&mut self, i: usize, buf: &mut Vec<u8>) -> bool {
        // A container writing without pause must not hold the loop: after this many reads the
        // pipe waits for the next poll round, behind the other pipes and the agent's requests.
        for _ in 0..PIPE_READS_PER_ROUND {
            let n = match Self::read_into(&self.pipes[i].fd, buf) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(nix::Error::EAGAIN) => return false,
                Err(nix::Error::EINTR) => continue,
                Err(_) => return true,
            };
            match &self.pipes[i].owner {
                PipeOwner::Log(id, stream) => {
                    if let Some(log) = self.containers.get_mut(id).and_then(|c| c.log.as_mut())
                        && let Err(e) = log.write(*stream, &buf[..n])
                    {
                        eprintln!("nodelet-shim: log of {id}: {e}");
                    }
                }
                PipeOwner::Exec(x, stream) => {
                    if let Some(e) = self.execs.get_mut(x) {
                        let out = &mut e.out[*stream as usize];
                        let room = EXEC_OUTPUT_MAX.saturating_sub(out.len());
                        out.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
        }
        false
    }

    fn pipe_closed(&mut self, p: Pipe) {
        match p.owner {
            PipeOwner::Log(id, stream) => {
                if let Some(log) = self.containers.get_mut(&id).and_then(|c| c.log.as_mut()) {
                    let _ = log.finish(stream);
                }
            }
            PipeOwner::Exec(x, _) => {
                if let Some(e) = self.execs.get_mut(&x) {
                    e.open_pipes -= 1;
                }
            }
        }
    }

    fn check_execs(&mut self) {
        self.reap();
        let now = Instant::now();
        let mut done = vec![];
        for (x, e) in self.execs.iter_mut() {
            if e.exit.is_none() && now >= e.deadline && !e.timed_out {
                e.timed_out = true;
                let _ = kill(Pid::from_raw(e.pid), Signal::SIGKILL);
            }
            if e.exit.is_some() && (e.open_pipes == 0 || e.timed_out) {
                done.push(*x);
            }
        }
        for x in done {
            let Some(e) = self.execs.remove(&x) else {
                continue;
            };
            self.pipes
                .retain(|p| !matches!(p.owner, PipeOwner::Exec(y, _) if y == x));
            let r = Response::Exec(ExecResult {
                exit_code: e.exit.unwrap_or(-1),
                timed_out: e.timed_out,
                stdout: String::from_utf8_lossy(&e.out[0]).into_owned(),
                stderr: String::from_utf8_lossy(&e.out[1]).into_owned(),
            });
            self.respond(e.client, &r);
        }
    }
}

/// The OOM kill count of a container's memory cgroup, if it can be read.
fn oom_kills(counter: Option<&std::path::Path>) -> Option<u64> {
    counter.and_then(|f| noderun_cgroups::read_oom_kills(f).ok())
}
