//! Terminals: the container side (open a pty in the container's devpts, make it the controlling
//! terminal and stdio, hand the master to the console socket with SCM_RIGHTS as runc does) and
//! the runtime side (receive the master; for a foreground `run`/`exec` without a console
//! socket, relay between our own stdio and the master).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// In the container: create the pty, send its master over `console_fd`, make the slave the
/// controlling terminal and stdio. Optionally bind it onto /dev/console.
pub fn setup_container_tty(
    console_fd: RawFd,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<(), String> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("process.terminal: open /dev/ptmx: {e}"))?;
    nix::pty::grantpt(&master).map_err(|e| format!("process.terminal: grantpt: {e}"))?;
    nix::pty::unlockpt(&master).map_err(|e| format!("process.terminal: unlockpt: {e}"))?;
    let name =
        nix::pty::ptsname_r(&master).map_err(|e| format!("process.terminal: ptsname: {e}"))?;
    let slave = open(
        Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| format!("process.terminal: open {name}: {e}"))?;
    if let Some((rows, cols)) = size {
        set_winsize(slave.as_fd(), rows, cols);
    }
    if bind_console {
        let console = Path::new("/dev/console");
        if std::fs::symlink_metadata(console).is_err() {
            let _ = std::fs::File::create(console);
        }
        crate::mounts::do_mount(
            &crate::syscall::Linux,
            Some(Path::new(&name)),
            console,
            None,
            nix::mount::MsFlags::MS_BIND,
            None,
        )?;
    }
    crate::sync::send_fd(console_fd, master.as_raw_fd(), name.as_bytes())
        .map_err(|e| format!("--console-socket: send the pty master: {e}"))?;
    drop(master);
    // SAFETY: plain fd syscalls on descriptors we own.
    unsafe {
        let s = slave.as_raw_fd();
        for fd in 0..3 {
            if libc::dup2(s, fd) < 0 {
                return Err(format!(
                    "process.terminal: dup2: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            return Err(format!(
                "process.terminal: TIOCSCTTY: {}",
                std::io::Error::last_os_error()
            ));
        }
        libc::close(console_fd);
    }
    Ok(())
}

pub fn set_winsize(fd: BorrowedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

fn get_winsize(fd: RawFd) -> Option<libc::winsize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ into a valid struct.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

/// Relay our stdin → master and master → our stdout until the master hangs up (the container
/// side closed) or `done` says the process ended. Puts our terminal in raw mode meanwhile.
pub fn relay(master: OwnedFd) -> Result<(), String> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::termios;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
    }
    if let Some(ws) = get_winsize(0) {
        set_winsize(master.as_fd(), ws.ws_row, ws.ws_col);
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    let result = loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => break Err(format!("terminal relay: poll: {e}")),
            Ok(_) => {}
        }
        let m = fds[0].revents().unwrap_or(PollFlags::empty());
        let i = fds
            .get(1)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if m.contains(PollFlags::POLLIN) {
            match nix::unistd::read(&master, &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => break Ok(()),
                Ok(n) => {
                    let _ = write_all(1, &buf[..n]);
                }
                Err(nix::Error::EINTR) => {}
                Err(e) => break Err(format!("terminal relay: read: {e}")),
            }
        } else if m.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break Ok(());
        }
        if i.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => {
                    let _ = write_all(master.as_raw_fd(), &buf[..n]);
                }
                Err(_) => stdin_open = false,
            }
        }
    };
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, t);
    }
    result
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
