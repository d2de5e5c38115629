//! `nodelet-pause`: the process that holds a pod's shared namespaces. It does nothing but wait:
//! SIGINT/SIGTERM end it (exit 0), and as pid 1 of a shared pid namespace it reaps every zombie
//! reparented to it (SIGCHLD). No allocation and no std I/O after start, so it stays at a few
//! hundred KB of RSS.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_child(_: libc::c_int) {
    // SAFETY: waitpid is async-signal-safe.
    unsafe { while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {} }
}

fn handle(sig: libc::c_int, f: extern "C" fn(libc::c_int), flags: libc::c_int) {
    // SAFETY: installing a handler with a zeroed, then filled, sigaction.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = f as usize;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("-v") {
        println!("nodelet-pause {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if std::process::id() != 1 {
        eprintln!("nodelet-pause: warning: not running as pid 1");
    }
    handle(libc::SIGINT, on_stop, 0);
    handle(libc::SIGTERM, on_stop, 0);
    handle(
        libc::SIGCHLD,
        on_child,
        libc::SA_NOCLDSTOP | libc::SA_RESTART,
    );
    while !STOP.load(Ordering::SeqCst) {
        // SAFETY: pause(2) just waits for a signal.
        unsafe { libc::pause() };
    }
}
