//! `nodelet-pause`: the process that holds a pod's shared namespaces. It does nothing but wait:
//! SIGINT/SIGTERM end it (exit 0), and as pid 1 of a shared pid namespace it reaps every zombie
//! reparented to it. The signals are blocked and taken with `rt_sigtimedwait` (no handlers);
//! every system call is made directly (`sys`).
//!
//! Two entry points share that code (`run`), chosen by the panic strategy, because a `no_std`
//! binary cannot be built with `panic = "unwind"` (the dev and test profiles):
//! * `panic = "abort"` (the release profile, `scripts/build-static.sh`): freestanding — no std,
//!   no libc, our own `_start`; build.rs adds `-nostartfiles -nostdlib -static -no-pie`. A few
//!   KB on disk and in memory.
//! * otherwise: an ordinary std `main` (dynamically linked, as the tests use it) that calls
//!   the same `run`.

#![cfg_attr(panic = "abort", no_std, no_main)]

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("nodelet-pause makes raw x86_64 Linux system calls: port src/sys.rs first");

mod run;
mod sys;

#[cfg(not(panic = "abort"))]
fn main() {
    use std::os::unix::ffi::OsStrExt;
    let arg1 = std::env::args_os().nth(1);
    sys::exit_group(run::run(arg1.as_ref().map(|a| a.as_bytes())));
}

#[cfg(panic = "abort")]
mod freestanding {
    use crate::{run, sys};

    // The kernel starts us with rsp at argc, then argv[0..argc], NULL, envp..., auxv.
    // Clear the frame pointer (end of the stack trace), pass that rsp, align the stack as
    // the C ABI expects at a call.
    core::arch::global_asm!(
        ".globl _start",
        ".type _start,@function",
        "_start:",
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {start}",
        "ud2",
        start = sym start,
    );

    /// # Safety
    /// `sp` is the initial stack pointer the kernel gave `_start`.
    unsafe extern "C" fn start(sp: *const usize) -> ! {
        // SAFETY: the initial stack holds argc and then argc argv pointers to NUL-terminated
        // strings.
        let arg1 = unsafe {
            let argc = *sp;
            let argv = sp.add(1) as *const *const u8;
            (argc > 1).then(|| c_str(*argv.add(1)))
        };
        sys::exit_group(run::run(arg1))
    }

    /// The bytes of a NUL-terminated string. (Not `CStr::from_ptr`: it calls `strlen`, and
    /// with `-nostdlib` there is none; the volatile reads keep LLVM from turning this loop
    /// into a `strlen` call.)
    ///
    /// # Safety
    /// `p` points to a NUL-terminated string that lives for the rest of the process.
    unsafe fn c_str(p: *const u8) -> &'static [u8] {
        let mut n = 0;
        // SAFETY: every byte up to and including the NUL is readable.
        unsafe {
            while p.add(n).read_volatile() != 0 {
                n += 1;
            }
            core::slice::from_raw_parts(p, n)
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        sys::exit_group(101)
    }
}
