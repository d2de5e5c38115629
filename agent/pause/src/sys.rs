//! The five Linux system calls the pause makes, issued directly with `syscall` (no libc), so
//! the same code runs in the freestanding shipped binary and in the std debug build.

use core::arch::asm;

pub const SIGINT: u32 = 2;
pub const SIGTERM: u32 = 15;
pub const SIGCHLD: u32 = 17;
pub const EINTR: isize = 4;

const SYS_WRITE: usize = 1;
const SYS_RT_SIGPROCMASK: usize = 14;
const SYS_GETPID: usize = 39;
const SYS_WAIT4: usize = 61;
const SYS_RT_SIGTIMEDWAIT: usize = 128;
const SYS_EXIT_GROUP: usize = 231;
const SIG_BLOCK: usize = 0;
const WNOHANG: usize = 1;
/// Wait for every kind of child, whatever its exit signal.
const WALL: usize = 0x4000_0000;
/// The kernel's sigset_t: 64 signals, one bit each.
const SIGSET_SIZE: usize = 8;

/// A kernel signal set.
#[derive(Clone, Copy)]
pub struct SigSet(u64);

impl SigSet {
    pub const fn of(sigs: &[u32]) -> SigSet {
        let mut bits = 0u64;
        let mut i = 0;
        while i < sigs.len() {
            bits |= 1 << (sigs[i] - 1);
            i += 1;
        }
        SigSet(bits)
    }
}

/// `syscall` with up to four arguments; the raw return value (`-errno` on failure).
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to live memory of the right
/// size).
#[inline(always)]
unsafe fn syscall4(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux system call convention; the kernel clobbers rcx and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A raw return value as `Ok(value)` or `Err(errno)`.
fn result(r: isize) -> Result<usize, isize> {
    if (-4095..0).contains(&r) {
        Err(-r)
    } else {
        Ok(r as usize)
    }
}

/// Writes all of `buf` to `fd`, retrying on EINTR and short writes.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), isize> {
    while !buf.is_empty() {
        // SAFETY: buf is a live slice of buf.len() bytes.
        let r = unsafe { syscall4(SYS_WRITE, fd as usize, buf.as_ptr() as usize, buf.len(), 0) };
        match result(r) {
            Ok(0) => return Err(0),
            Ok(n) => buf = &buf[n.min(buf.len())..],
            Err(EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn getpid() -> i32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { syscall4(SYS_GETPID, 0, 0, 0, 0) as i32 }
}

/// Adds `set` to the signal mask (the process is single-threaded).
pub fn block(set: &SigSet) -> Result<(), isize> {
    let p = &set.0 as *const u64 as usize;
    // SAFETY: p points to a live sigset of SIGSET_SIZE bytes; no old set is requested.
    result(unsafe { syscall4(SYS_RT_SIGPROCMASK, SIG_BLOCK, p, 0, SIGSET_SIZE) }).map(|_| ())
}

/// Waits without a time limit for one of the (blocked) signals in `set` and takes it off the
/// pending set: `Ok(signal number)`, `Err(EINTR)` when interrupted (e.g. by a stop/continue).
pub fn wait_signal(set: &SigSet) -> Result<u32, isize> {
    let p = &set.0 as *const u64 as usize;
    // SAFETY: p points to a live sigset; no siginfo and no timeout are passed.
    result(unsafe { syscall4(SYS_RT_SIGTIMEDWAIT, p, 0, 0, SIGSET_SIZE) }).map(|s| s as u32)
}

/// Reaps one exited child without blocking: `Ok(pid)`, `Ok(0)` if children remain but none
/// has exited, `Err(ECHILD)` if there are none.
pub fn reap_one() -> Result<usize, isize> {
    // SAFETY: pid -1 with no status or rusage pointers.
    result(unsafe { syscall4(SYS_WAIT4, -1isize as usize, 0, WNOHANG | WALL, 0) })
}

pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group does not return.
    unsafe {
        asm!(
            "syscall",
            in("rax") SYS_EXIT_GROUP,
            in("rdi") code as isize,
            options(noreturn, nostack),
        );
    }
}
