//! `nodectl exec`: the process is created here, in nodectl, through the noderun library (the
//! API only says where the running container is), so the agent never forks into a container.
//! nodectl must be single-threaded by then (the library checks): the API lookup runs on a
//! current-thread runtime that is shut down before.
//!
//! With a terminal, the process gets a pty whose master comes back over a console socketpair;
//! nodectl puts its own terminal in raw mode, relays stdin → master → stdout, copies its window
//! size to the master at start and on every SIGWINCH (TIOCSWINSZ), forwards SIGINT, SIGTERM,
//! SIGHUP and SIGQUIT to the process, and returns its exit code (128 + signal when killed).
//! Without a terminal, the process gets nodectl's stdout/stderr and, with `-i`, its stdin
//! (else /dev/null).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use anyhow::{Context as _, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SigSet, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use nodelet_api::ExecTarget;
use noderun::{ExecOptions, Exit, Runtime};

/// What to run and how.
pub struct Request {
    pub target: ExecTarget,
    pub command: Vec<String>,
    /// Pass stdin (`-i`).
    pub stdin: bool,
    /// Allocate a terminal (`-t`, only with `-i` and a terminal on stdin, as kubectl does).
    pub tty: bool,
}

/// Signals passed on to the process.
const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Our terminal (stdin) in raw mode; its settings are restored on drop (`exec -t`,
/// `attach -t`).
pub struct RawMode {
    saved: termios::Termios,
}

impl RawMode {
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(
            std::io::stdin().as_fd(),
            termios::SetArg::TCSADRAIN,
            &self.saved,
        );
    }
}

/// Copies our terminal's window size (stdin's, else stdout's) to `master`.
fn copy_winsize(master: BorrowedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    for fd in [0, 1] {
        // SAFETY: TIOCGWINSZ into a valid struct.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 {
            noderun::tty::set_winsize(master, ws.ws_row, ws.ws_col);
            return;
        }
    }
}

fn write_all(fd: RawFd, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        // SAFETY: writing from a valid buffer.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
}

/// The container's own process settings (env, user, cwd, capabilities...) with `command`.
fn process(rt: &Runtime, req: &Request) -> Result<oci_spec::runtime::Process> {
    let id = &req.target.container_id;
    let state = rt.state(id)?;
    let bundle = noderun::config::Bundle::load(&state.bundle)?;
    let mut p = bundle.spec.process().clone().unwrap_or_default();
    p.set_args(Some(req.command.clone()));
    p.set_terminal(Some(req.tty));
    Ok(p)
}

/// Runs the request; returns the process's exit code.
pub fn run(req: &Request) -> Result<i32> {
    let rt = Runtime::new(&req.target.runtime_root);
    let id = &req.target.container_id;
    let process = process(&rt, req)?;
    noderun::become_subreaper()?;
    let devnull;
    let mut opts = ExecOptions::default();
    let pair: Option<(OwnedFd, OwnedFd)> = if req.tty {
        let (ours, theirs) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .context("console socketpair")?;
        opts.console_fd = Some(theirs.as_raw_fd());
        Some((ours, theirs))
    } else {
        let stdin = if req.stdin {
            0
        } else {
            devnull = std::fs::File::open("/dev/null").context("open /dev/null")?;
            devnull.as_raw_fd()
        };
        opts.stdio = Some([stdin, 1, 2]);
        None
    };
    let pid = rt
        .exec(id, &process, &opts)
        .with_context(|| format!("exec in container {}", req.target.container))?;
    let master = match pair {
        Some((ours, theirs)) => {
            drop(theirs);
            Some(
                noderun::sync::recv_fd(ours.as_raw_fd())
                    .context("receiving the terminal")?
                    .context("the process sent no terminal")?,
            )
        }
        None => None,
    };
    let exit = relay(pid, master, req.stdin)?;
    Ok(exit.code())
}

fn reap(pid: i32) -> Option<Exit> {
    let mut exit = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => exit = Some(Exit::Code(c)),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                exit = Some(Exit::Signal(s as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return exit,
            Ok(_) => {}
        }
    }
}

/// Reads what is left in the master without blocking, to stdout.
fn drain(master: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut buf = [0u8; 8192];
    while let Ok(n) = nix::unistd::read(master, &mut buf) {
        if n == 0 || write_all(1, &buf[..n]).is_err() {
            break;
        }
    }
}

/// Relays the terminal (if any), resizes, forwards signals and waits for `pid`.
fn relay(pid: i32, master: Option<OwnedFd>, stdin: bool) -> Result<Exit> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(Signal::SIGWINCH);
    for s in FORWARDED {
        mask.add(s);
    }
    mask.thread_block().context("block signals")?;
    let sfd = SignalFd::new(&mask).context("signalfd")?;
    let _raw = match &master {
        Some(m) => {
            copy_winsize(m.as_fd());
            if stdin { RawMode::enter() } else { None }
        }
        None => None,
    };
    let stdin_fd = std::io::stdin();
    let mut stdin_open = stdin && master.is_some();
    let mut master_open = master.is_some();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(exit) = reap(pid) {
            if let Some(m) = &master {
                drain(m);
            }
            return Ok(exit);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let m_idx = match (&master, master_open) {
            (Some(m), true) => {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let i_idx = if stdin_open && master_open {
            fds.push(PollFd::new(stdin_fd.as_fd(), PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
            Ok(_) => {}
        }
        let ev = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .unwrap_or(PollFlags::empty())
        };
        let (s_ev, m_ev, i_ev) = (ev(Some(0)), ev(m_idx), ev(i_idx));
        drop(fds);
        if s_ev.contains(PollFlags::POLLIN)
            && let Ok(Some(info)) = sfd.read_signal()
        {
            let sig = Signal::try_from(info.ssi_signo as i32).ok();
            match sig {
                Some(Signal::SIGWINCH) => {
                    if let Some(m) = &master {
                        copy_winsize(m.as_fd());
                    }
                }
                Some(s) if FORWARDED.contains(&s) => {
                    let _ = kill(Pid::from_raw(pid), s);
                }
                _ => {}
            }
        }
        if let Some(m) = &master {
            if m_ev.contains(PollFlags::POLLIN) {
                match nix::unistd::read(m, &mut buf) {
                    Ok(0) | Err(nix::Error::EIO) => master_open = false,
                    Ok(n) => {
                        let _ = write_all(1, &buf[..n]);
                    }
                    Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => {}
                    Err(e) => return Err(e).context("read the terminal"),
                }
            } else if m_ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                master_open = false;
            }
            if i_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
                match nix::unistd::read(stdin_fd.as_fd(), &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        if write_all(m.as_raw_fd(), &buf[..n]).is_err() {
                            stdin_open = false;
                        }
                    }
                }
            }
        }
    }
}
