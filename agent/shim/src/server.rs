//! The shim's single-threaded event loop: one `poll` over the listening socket, the agent's
//! connections, every container and exec output pipe, and a signalfd for SIGCHLD. Requests are
//! answered in order; an `Exec` is answered when its process exits (or times out) without
//! blocking anything else. Container operations run the runtime binary (`runtime`); a
//! container's state is what the shim knows of the containers it created (their init is its
//! child), and the runtime is asked only about others.
//!
//! Terminals and stdin: a `tty` container is created with a console socket and the shim keeps
//! the pty master, whose output is logged (all as stdout) like a pipe's; a `stdin` container's
//! stdin is a pipe whose write end the shim holds open. An `Attach` connection gets the
//! container's output as it is read (output waits, unread, while a session's socket is more
//! than `SESSION_OUT_HIGH` behind) and writes its input (`stdin` frames, resizes); input waits
//! in the container's `Io::pending`, and its session is not read, until the container takes it.
//! Plain containers carry no `Io` and cost nothing of this.

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

/// Output an attach session may have unwritten before the container's output waits for it.
const SESSION_OUT_HIGH: usize = 256 * 1024;

/// The console socket a `tty` container's runtime run hands its pty master to (one operation
/// at a time, so one fixed name in the shim's directory).
const CONSOLE_SOCKET: &str = "tty.sock";

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
    /// Output pipes (or the pty master) not at EOF yet: attach sessions end when this is 0
    /// and init was reaped.
    open_outputs: u8,
    /// The terminal or stdin of a `tty` or `stdin` container.
    io: Option<Box<Io>>,
}

/// What the shim holds of a `tty` or `stdin` container's input side.
struct Io {
    /// Where input goes: the pty master (`tty`) or the write end of the stdin pipe; `None`
    /// once closed (stdinOnce, or the container stopped reading).
    fd: Option<OwnedFd>,
    tty: bool,
    /// The container has `stdin`: attach sessions may write to it.
    stdin: bool,
    stdin_once: bool,
    /// Input not yet taken by the container.
    pending: Vec<u8>,
    /// stdinOnce: close `fd` once `pending` is written.
    close_when_written: bool,
}

enum PipeOwner {
    Log(String, Stream),
    /// The pty master of a `tty` container: its output is logged as stdout (always
    /// `Stream::Stdout`, as containerd logs a terminal).
    Console(String, Stream),
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
    /// An `Attach` connection: frames both ways (`nodelet_shim_protocol::attach`).
    session: Option<Box<Session>>,
}

struct Session {
    /// The container attached to.
    id: String,
    /// Input from this session goes to the container (it asked, and the container has stdin).
    stdin: bool,
    /// Frames not yet written (the socket was full).
    out: Vec<u8>,
    /// `END` is queued: the connection closes once `out` is written.
    ending: bool,
}

/// What one polled descriptor is.
enum Token {
    Listener,
    Signal,
    Conn(u64),
    Pipe(usize),
    /// The input side (`Io::fd`) of a container with pending input.
    Input(String),
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
            let (tokens, ready) = {
                let (tokens, mut fds) = self.poll_set();
                match poll(&mut fds, timeout) {
                    Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
                let ready: Vec<(usize, PollFlags)> = fds
                    .iter()
                    .enumerate()
                    .filter_map(|(i, f)| f.revents().filter(|r| !r.is_empty()).map(|r| (i, r)))
                    .collect();
                (tokens, ready)
            };
            let mut closed_pipes = vec![];
            for (i, flags) in ready {
                match &tokens[i] {
                    Token::Listener => self.accept(),
                    Token::Signal => self.on_signal(),
                    Token::Conn(cid) => {
                        if flags.contains(PollFlags::POLLOUT) {
                            self.flush_session(*cid);
                        }
                        if flags
                            .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                        {
                            self.on_conn(*cid);
                        }
                    }
                    Token::Pipe(p) => {
                        if self.on_pipe(*p) {
                            closed_pipes.push(*p);
                        }
                    }
                    Token::Input(id) => {
                        let id = id.clone();
                        self.flush_input(&id);
                    }
                }
            }
            closed_pipes.sort_unstable();
            for i in closed_pipes.into_iter().rev() {
                let p = self.pipes.remove(i);
                self.pipe_closed(p);
            }
            self.check_execs();
            self.end_sessions();
        }
    }

    /// What to poll: the listener, the signalfd, every connection (an attach session for
    /// output it owes; not for input while its container has input pending), every output
    /// pipe (not while a session of its container is `SESSION_OUT_HIGH` behind) and the input
    /// side of containers with input pending.
    fn poll_set(&self) -> (Vec<Token>, Vec<PollFd<'_>>) {
        let n = 2 + self.conns.len() + self.pipes.len();
        let (mut tokens, mut fds) = (Vec::with_capacity(n), Vec::with_capacity(n));
        tokens.push(Token::Listener);
        fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        tokens.push(Token::Signal);
        fds.push(PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN));
        let mut behind: Vec<&str> = vec![];
        for (cid, c) in &self.conns {
            let mut flags = PollFlags::POLLIN;
            if let Some(s) = &c.session {
                if !s.out.is_empty() {
                    flags |= PollFlags::POLLOUT;
                }
                if s.out.len() >= SESSION_OUT_HIGH {
                    behind.push(&s.id);
                }
                if self.pending_input(&s.id) {
                    flags.remove(PollFlags::POLLIN);
                }
            }
            tokens.push(Token::Conn(*cid));
            fds.push(PollFd::new(c.stream.as_fd(), flags));
        }
        for (i, p) in self.pipes.iter().enumerate() {
            let id = match &p.owner {
                PipeOwner::Log(id, _) | PipeOwner::Console(id, _) => Some(id.as_str()),
                PipeOwner::Exec(..) => None,
            };
            if id.is_some_and(|id| behind.contains(&id)) {
                continue;
            }
            tokens.push(Token::Pipe(i));
            fds.push(PollFd::new(p.fd.as_fd(), PollFlags::POLLIN));
        }
        for (id, c) in &self.containers {
            if let Some(io) = &c.io
                && !io.pending.is_empty()
                && let Some(fd) = &io.fd
            {
                tokens.push(Token::Input(id.clone()));
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
            }
        }
        (tokens, fds)
    }

    fn pending_input(&self, id: &str) -> bool {
        self.containers
            .get(id)
            .and_then(|c| c.io.as_ref())
            .is_some_and(|io| !io.pending.is_empty() && io.fd.is_some())
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
                    session: None,
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
                if c.session.is_some() {
                    // After `Attach`, what follows are frames.
                    self.session_input(cid);
                    break;
                }
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
            self.drop_conn(cid);
        }
    }

    /// Removes a connection; an attach session's input ends with it.
    fn drop_conn(&mut self, cid: u64) {
        if let Some(c) = self.conns.remove(&cid)
            && let Some(s) = c.session
            && s.stdin
        {
            self.stdin_ended(&s.id);
        }
    }

    /// The frames an attach session sent: input for the container, resizes, the end of its
    /// input.
    fn session_input(&mut self, cid: u64) {
        use nodelet_shim_protocol::attach::{self as a, take_frame};
        loop {
            let Some(c) = self.conns.get_mut(&cid) else {
                return;
            };
            let Some(s) = c.session.as_mut() else {
                return;
            };
            let (channel, data) = match take_frame(&mut c.buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("nodelet-shim: attach to {}: {e}", s.id);
                    self.drop_conn(cid);
                    return;
                }
            };
            let id = s.id.clone();
            let stdin = s.stdin;
            let io = self.containers.get_mut(&id).and_then(|c| c.io.as_mut());
            match (channel, io) {
                (a::STDIN, Some(io)) if stdin && io.fd.is_some() => {
                    io.pending.extend_from_slice(&data);
                }
                (a::RESIZE, Some(io)) if io.tty => {
                    if let (Some((rows, cols)), Some(fd)) = (a::parse_resize(&data), &io.fd) {
                        set_winsize(fd, rows, cols);
                    }
                }
                (a::CLOSE_STDIN, _) if stdin => {
                    if let Some(s) = c.session.as_mut() {
                        s.stdin = false;
                    }
                    if !self.stdin_ended(&id) {
                        // Not stdinOnce: the session ends with its input (containerd's rule).
                        self.end_session(cid);
                    }
                }
                _ => {}
            }
            self.flush_input(&id);
        }
    }

    /// An attach session's input ended: a `stdinOnce` container without a terminal has its
    /// stdin closed for good (it reads EOF), as containerd and docker do. True if it was.
    fn stdin_ended(&mut self, id: &str) -> bool {
        let Some(io) = self.containers.get_mut(id).and_then(|c| c.io.as_mut()) else {
            return false;
        };
        if !io.stdin_once || io.tty {
            return false;
        }
        if io.pending.is_empty() {
            io.fd = None;
        } else {
            // Closed once the pending input is written (`flush_input`).
            io.close_when_written = true;
        }
        true
    }

    /// Writes what input the container takes now; a container that stopped reading (EPIPE)
    /// loses the rest.
    fn flush_input(&mut self, id: &str) {
        let Some(io) = self.containers.get_mut(id).and_then(|c| c.io.as_mut()) else {
            return;
        };
        while !io.pending.is_empty() {
            let Some(fd) = &io.fd else {
                io.pending.clear();
                return;
            };
            match nix::unistd::write(fd, &io.pending) {
                Ok(n) => {
                    io.pending.drain(..n);
                }
                Err(nix::Error::EINTR) => {}
                Err(nix::Error::EAGAIN) => return,
                Err(_) => {
                    io.pending.clear();
                    if !io.tty {
                        io.fd = None;
                    }
                }
            }
        }
        if io.close_when_written {
            io.fd = None;
        }
    }

    /// Queues `END` on a session: it closes once what it is owed is written.
    fn end_session(&mut self, cid: u64) {
        if let Some(s) = self.conns.get_mut(&cid).and_then(|c| c.session.as_mut())
            && !s.ending
        {
            nodelet_shim_protocol::attach::push_frame(
                &mut s.out,
                nodelet_shim_protocol::attach::END,
                &[],
            );
            s.ending = true;
        }
        self.flush_session(cid);
    }

    /// Ends the sessions of containers that are gone or whose init was reaped and whose
    /// output is drained; closes sessions whose `END` went out.
    fn end_sessions(&mut self) {
        let over: Vec<u64> = self
            .conns
            .iter()
            .filter_map(|(cid, c)| {
                let s = c.session.as_ref()?;
                let done = match self.containers.get(&s.id) {
                    None => true,
                    Some(k) => k.exit.is_some() && k.open_outputs == 0,
                };
                (done && !s.ending).then_some(*cid)
            })
            .collect();
        for cid in over {
            self.end_session(cid);
        }
        let closed: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.session
                    .as_ref()
                    .is_some_and(|s| s.ending && s.out.is_empty())
            })
            .map(|(cid, _)| *cid)
            .collect();
        for cid in closed {
            self.drop_conn(cid);
        }
    }

    /// Writes what a session is owed, as far as its socket takes it; a broken connection is
    /// dropped.
    fn flush_session(&mut self, cid: u64) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let Some(s) = c.session.as_mut() else {
            return;
        };
        let mut broken = false;
        while !s.out.is_empty() {
            match (&c.stream).write(&s.out) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(n) => {
                    s.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            self.drop_conn(cid);
        }
    }

    /// Output of container `id` to its attach sessions.
    fn send_to_sessions(&mut self, id: &str, stream: Stream, data: &[u8]) {
        use nodelet_shim_protocol::attach::{STDERR, STDOUT, push_frame};
        let channel = if stream == Stream::Stderr {
            STDERR
        } else {
            STDOUT
        };
        let cids: Vec<u64> = self
            .conns
            .iter_mut()
            .filter_map(|(cid, c)| {
                let s = c.session.as_mut().filter(|s| s.id == id && !s.ending)?;
                push_frame(&mut s.out, channel, data);
                Some(*cid)
            })
            .collect();
        for cid in cids {
            self.flush_session(cid);
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
                stdin,
                stdin_once,
                tty,
            } => match self.create(
                &id,
                &bundle,
                log_path,
                oom_counter,
                (stdin, stdin_once, tty),
            ) {
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
            Request::Attach { id, stdin } => {
                let Some(k) = self.containers.get(&id) else {
                    return Some(err(format!(
                        "attach: container {id:?} was not created by this shim"
                    )));
                };
                let stdin = stdin && k.io.as_ref().is_some_and(|io| io.stdin);
                if let Some(c) = self.conns.get_mut(&cid) {
                    c.session = Some(Box::new(Session {
                        id,
                        stdin,
                        out: Vec::new(),
                        ending: false,
                    }));
                }
                Response::Ok
            }
        })
    }

    /// Creates container `id`; `(stdin, stdin_once, tty)` as the container asks. With a
    /// terminal, the runtime gets a console socket and sends back the pty master; with stdin
    /// (and no terminal) the container's stdin is a pipe whose write end the shim keeps.
    fn create(
        &mut self,
        id: &str,
        bundle: &std::path::Path,
        log_path: Option<PathBuf>,
        oom_counter: Option<PathBuf>,
        (stdin, stdin_once, tty): (bool, bool, bool),
    ) -> anyhow::Result<i32> {
        let log = match &log_path {
            Some(p) => Some(LogWriter::open(
                p,
                self.cfg.log_max_size,
                self.cfg.log_max_files,
            )?),
            None => None,
        };
        let (pid, outputs, io) = if tty {
            let (pid, master) = self.create_with_console(id, bundle)?;
            set_nonblocking(&master);
            let reader = master.try_clone()?;
            let io = Io {
                fd: Some(master),
                tty: true,
                stdin,
                stdin_once,
                pending: Vec::new(),
                close_when_written: false,
            };
            (
                pid,
                vec![(reader, PipeOwner::Console(id.to_string(), Stream::Stdout))],
                Some(io),
            )
        } else {
            let (out_r, err_r, mut stdio) = output_pipes()?;
            let mut io = None;
            if stdin {
                let (r, w) = pipe_pair()?;
                stdio.stdin = r;
                set_nonblocking(&w);
                io = Some(Io {
                    fd: Some(w),
                    tty: false,
                    stdin,
                    stdin_once,
                    pending: Vec::new(),
                    close_when_written: false,
                });
            }
            // The runtime's process ends with `create`; our write ends went with it.
            let pid = self.cli.create(id, bundle, stdio, None)?;
            let outputs = vec![
                (out_r, PipeOwner::Log(id.to_string(), Stream::Stdout)),
                (err_r, PipeOwner::Log(id.to_string(), Stream::Stderr)),
            ];
            (pid, outputs, io)
        };
        let open_outputs = outputs.len() as u8;
        for (fd, owner) in outputs {
            set_nonblocking(&fd);
            self.pipes.push(Pipe { fd, owner });
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
                open_outputs,
                io: io.map(Box::new),
            },
        );
        Ok(pid)
    }

    /// `create` with `--console-socket`: the runtime's container side opens the pty and sends
    /// its master over the socket before `create` returns, so it is waiting to be accepted.
    fn create_with_console(
        &mut self,
        id: &str,
        bundle: &std::path::Path,
    ) -> anyhow::Result<(i32, OwnedFd)> {
        use anyhow::Context;
        let path = self.cfg.dir.join(CONSOLE_SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("console socket {}", path.display()))?;
        let null = || std::fs::File::open("/dev/null").map(OwnedFd::from);
        let stdio = Stdio3 {
            stdin: null()?,
            stdout: null()?,
            stderr: null()?,
        };
        let created = self.cli.create(id, bundle, stdio, Some(&path));
        let _ = std::fs::remove_file(&path);
        let pid = created?;
        let master = listener
            .set_nonblocking(true)
            .and_then(|()| listener.accept())
            .map_err(anyhow::Error::from)
            .and_then(|(conn, _)| recv_fd(&conn));
        match master {
            Ok(m) => Ok((pid, m)),
            Err(e) => {
                let _ = self.cli.delete(id, true);
                self.reap();
                Err(e.context(format!(
                    "create {id}: no pty master on the console socket {}",
                    path.display()
                )))
            }
        }
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
                PipeOwner::Log(id, stream) | PipeOwner::Console(id, stream) => {
                    if let Some(log) = self.containers.get_mut(id).and_then(|c| c.log.as_mut())
                        && let Err(e) = log.write(*stream, &buf[..n])
                    {
                        eprintln!("nodelet-shim: log of {id}: {e}");
                    }
                    let (id, stream) = (id.clone(), *stream);
                    self.send_to_sessions(&id, stream, &buf[..n]);
                    if self.conns.values().any(|c| {
                        c.session
                            .as_ref()
                            .is_some_and(|s| s.id == id && s.out.len() >= SESSION_OUT_HIGH)
                    }) {
                        // A session is behind: the rest waits for it.
                        return false;
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
            PipeOwner::Log(id, stream) | PipeOwner::Console(id, stream) => {
                if let Some(c) = self.containers.get_mut(&id) {
                    c.open_outputs = c.open_outputs.saturating_sub(1);
                    if let Some(log) = c.log.as_mut() {
                        let _ = log.finish(stream);
                    }
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

/// Receives the pty master the runtime sent with SCM_RIGHTS (its name is the payload). Raw
/// `recvmsg`: nix's control-message decoding would add its text to every pod's shim.
fn recv_fd(conn: &UnixStream) -> anyhow::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = [0u8; 256];
    // Room for one cmsghdr carrying one descriptor, aligned as the kernel wants it.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at buffers valid for the call.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: the CMSG macros walk the control buffer the kernel filled in.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
            return Ok(OwnedFd::from_raw_fd(fd));
        }
    }
    anyhow::bail!("no descriptor in the message")
}

/// Sets a terminal's window size (the container's foreground process group gets SIGWINCH).
fn set_winsize(fd: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize for the duration of the call.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// The OOM kill count of a container's memory cgroup, if it can be read.
fn oom_kills(counter: Option<&std::path::Path>) -> Option<u64> {
    counter.and_then(|f| noderun_cgroups::read_oom_kills(f).ok())
}
