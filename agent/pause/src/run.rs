//! What the pause does, shared by both entry points (see main.rs).

use crate::sys::{self, EINTR, SIGCHLD, SIGINT, SIGTERM, SigSet};

const VERSION_LINE: &str = concat!("nodelet-pause ", env!("CARGO_PKG_VERSION"), "\n");
const NOT_PID1: &[u8] = b"nodelet-pause: warning: not running as pid 1\n";

/// Runs the pause with its first command-line argument; returns the exit code.
pub fn run(arg1: Option<&[u8]>) -> i32 {
    if arg1 == Some(b"-v".as_slice()) {
        return match sys::write_all(1, VERSION_LINE.as_bytes()) {
            Ok(()) => 0,
            Err(_) => 1,
        };
    }
    if sys::getpid() != 1 {
        let _ = sys::write_all(2, NOT_PID1);
    }
    // No handlers: the three signals stay blocked (so they queue, even for a pid namespace's
    // init, whose unhandled signals are otherwise dropped) and are taken by sigtimedwait.
    let set = SigSet::of(&[SIGINT, SIGTERM, SIGCHLD]);
    if let Err(e) = sys::block(&set) {
        fail(b"rt_sigprocmask", e);
        return 2;
    }
    loop {
        // Blocked first, then reaped: a child exiting after this still leaves a SIGCHLD pending.
        reap();
        match sys::wait_signal(&set) {
            Ok(SIGINT | SIGTERM) => return 0,
            Ok(_) | Err(EINTR) => {}
            Err(e) => {
                fail(b"rt_sigtimedwait", e);
                return 2;
            }
        }
    }
}

/// Reaps every exited child (zombies reparented to a pid namespace's init included).
fn reap() {
    loop {
        match sys::reap_one() {
            Ok(0) => return,
            Ok(_) | Err(EINTR) => {}
            Err(_) => return,
        }
    }
}

/// `nodelet-pause: <call>: errno <n>` on stderr.
fn fail(call: &[u8], errno: isize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = errno.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for part in [
        b"nodelet-pause: ".as_slice(),
        call,
        b": errno ",
        &digits[i..],
        b"\n",
    ] {
        let _ = sys::write_all(2, part);
    }
}
