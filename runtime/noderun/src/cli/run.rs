//! `noderun run`: create + start, then (in the foreground) relay the terminal or forward
//! signals to the container's init, wait for it, delete the container and exit with its code.

use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use noderun::{Exit, Runtime};

use super::CreateArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    create: CreateArgs,
    /// Return after starting; do not wait.
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    keep: bool,
}

/// A socketpair standing in for a console socket, when we relay the terminal ourselves.
pub fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::empty(),
    )?)
}

/// Signals a foreground runtime passes on to the container process.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Wait for `pid` (our child or reparented to us), forwarding signals we receive to it.
pub fn wait_forwarding(pid: i32) -> Result<Exit> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    for s in FORWARDED {
        mask.add(*s);
    }
    mask.thread_block().context("block signals")?;
    let sfd = SignalFd::new(&mask).context("signalfd")?;
    loop {
        // Reap everything that exited; orphans of the container are reparented to us too.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => return Ok(Exit::Code(c)),
                Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                    return Ok(Exit::Signal(s as i32));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let sig = info.ssi_signo as i32;
                if sig != Signal::SIGCHLD as i32
                    && let Ok(s) = Signal::try_from(sig)
                {
                    let _ = kill(Pid::from_raw(pid), s);
                }
            }
            Ok(None) => {}
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e).context("read signalfd"),
        }
    }
}

pub fn run(rt: &Runtime, a: &RunArgs, systemd_cgroup: bool) -> Result<i32> {
    let c = &a.create;
    let mut opts = c.options(systemd_cgroup);
    if a.detach {
        rt.create(&c.id, &c.bundle, &opts)?;
        if let Err(e) = rt.start(&c.id) {
            let _ = rt.delete(&c.id, true);
            return Err(e.into());
        }
        return Ok(0);
    }
    noderun::become_subreaper()?;
    let pair = if c.console_socket.is_none() {
        Some(console_pair()?)
    } else {
        None
    };
    if let Some((_, theirs)) = &pair {
        opts.console_fd = Some(theirs.as_raw_fd());
    }
    let created = rt.create(&c.id, &c.bundle, &opts)?;
    let pid = created.pid;
    // If start or the exec fails, init's own report on the sync channel says why.
    let started = match rt.start(&c.id) {
        Ok(()) => created.wait_exec(),
        Err(e) => Err(match created.wait_exec() {
            Err(child) => child,
            Ok(()) => e,
        }),
    };
    if let Err(e) = started {
        let _ = rt.delete(&c.id, true);
        return Err(e.into());
    }
    let exit = match pair {
        Some((ours, theirs)) => {
            drop(theirs);
            let master = noderun::sync::recv_fd(ours.as_raw_fd()).ok().flatten();
            if let Some(m) = master {
                noderun::tty::relay(m).map_err(anyhow::Error::msg)?;
            }
            wait_forwarding(pid)?
        }
        None => wait_forwarding(pid)?,
    };
    if !a.keep {
        rt.delete(&c.id, true)?;
    }
    Ok(exit.code())
}
