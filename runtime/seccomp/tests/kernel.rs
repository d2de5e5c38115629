//! Real-kernel tests: a forked child sets no_new_privs, installs a compiled filter and reports
//! what the kernel did through its exit code (0 = every check passed, N = check N failed) or
//! the signal that killed it. Children only make raw syscalls before `_exit`.
//! x86_64 only (syscall numbers and the i386/x32 ABIs).
#![cfg(target_arch = "x86_64")]

use std::ffi::CString;

use noderun_seccomp::{Program, compile, default_profile};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag as F, LinuxSeccompOperator as Op, LinuxSyscall,
};

#[derive(Debug, PartialEq, Eq)]
enum Status {
    Exited(i32),
    Signaled(i32),
}

/// Forks; the child arms a 10 s alarm, sets no_new_privs, installs `program` (unless `f` wants
/// to do it itself), runs `f` and `_exit`s with its result.
fn run_child(program: Option<&Program>, f: impl FnOnce() -> i32) -> Status {
    // SAFETY: the child only makes async-signal-safe calls (raw syscalls, no allocation)
    // before _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        unsafe {
            libc::alarm(10);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(100);
            }
            if let Some(p) = program
                && p.install().is_err()
            {
                libc::_exit(101);
            }
            libc::_exit(f());
        }
    }
    let mut status = 0;
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        Status::Exited(libc::WEXITSTATUS(status))
    } else {
        Status::Signaled(libc::WTERMSIG(status))
    }
}

fn errno() -> i32 {
    unsafe { *libc::__errno_location() }
}

/// Result of a raw syscall: Ok(return value) or Err(errno).
fn sys(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 { Err(errno()) } else { Ok(r) }
}

fn rule(
    names: &[&str],
    action: A,
    errno_ret: Option<i32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(action);
    s.set_errno_ret(errno_ret.map(|e| e as u32));
    if !args.is_empty() {
        s.set_args(Some(args));
    }
    s
}

fn arg(index: usize, op: Op, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
    let mut b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    if let Some(v2) = value_two {
        b = b.value_two(v2);
    }
    b.build().unwrap()
}

fn profile(
    default: A,
    default_errno: Option<i32>,
    arches: &[Arch],
    rules: Vec<LinuxSyscall>,
) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(default);
    p.set_default_errno_ret(default_errno.map(|e| e as u32));
    if !arches.is_empty() {
        p.set_architectures(Some(arches.to_vec()));
    }
    p.set_syscalls(Some(rules));
    p
}

#[test]
fn kernel_errno_rule_returns_its_errno() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(
            &["mkdir"],
            A::ScmpActErrno,
            Some(libc::EACCES),
            vec![],
        )],
    ))
    .unwrap();
    let path = CString::new("/tmp/noderun-seccomp-test-never-created").unwrap();
    let root = CString::new("/").unwrap();
    let st = run_child(Some(&p), || unsafe {
        if sys(libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o700)) != Err(libc::EACCES) {
            return 1;
        }
        // mkdirat is not filtered: it reaches the kernel, which says "/" exists.
        if sys(libc::syscall(
            libc::SYS_mkdirat,
            libc::AT_FDCWD,
            root.as_ptr(),
            0o700,
        )) != Err(libc::EEXIST)
        {
            return 2;
        }
        0
    });
    assert_eq!(st, Status::Exited(0));
}

#[test]
fn kernel_default_errno_ret() {
    let p = compile(&profile(
        A::ScmpActErrno,
        Some(libc::EXDEV),
        &[],
        vec![rule(&["exit", "exit_group"], A::ScmpActAllow, None, vec![])],
    ))
    .unwrap();
    let st = run_child(Some(&p), || unsafe {
        if sys(libc::syscall(libc::SYS_getppid)) != Err(libc::EXDEV) {
            return 1;
        }
        if sys(libc::syscall(libc::SYS_getuid)) != Err(libc::EXDEV) {
            return 2;
        }
        0
    });
    assert_eq!(st, Status::Exited(0));
}

#[test]
fn kernel_argument_conditions() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![
            // Only AF_UNIX sockets.
            rule(
                &["socket"],
                A::ScmpActErrno,
                Some(libc::EAFNOSUPPORT),
                vec![arg(0, Op::ScmpCmpNe, libc::AF_UNIX as u64, None)],
            ),
            // personality: 8 < persona < 0xffffffff denied (two ANDed conditions) …
            rule(
                &["personality"],
                A::ScmpActErrno,
                Some(libc::EPERM),
                vec![
                    arg(0, Op::ScmpCmpGt, 8, None),
                    arg(0, Op::ScmpCmpLt, 0xffff_ffff, None),
                ],
            ),
            // … and values with upper-half bits too (64-bit comparison on the raw register).
            rule(
                &["personality"],
                A::ScmpActErrno,
                Some(libc::ENOTTY),
                vec![arg(0, Op::ScmpCmpGe, 0x1_0000_0000, None)],
            ),
        ],
    ))
    .unwrap();
    let st = run_child(Some(&p), || unsafe {
        match sys(libc::syscall(
            libc::SYS_socket,
            libc::AF_UNIX,
            libc::SOCK_STREAM,
            0,
        )) {
            Ok(fd) => {
                libc::close(fd as i32);
            }
            Err(_) => return 1,
        }
        if sys(libc::syscall(
            libc::SYS_socket,
            libc::AF_INET,
            libc::SOCK_STREAM,
            0,
        )) != Err(libc::EAFNOSUPPORT)
        {
            return 2;
        }
        if sys(libc::syscall(libc::SYS_personality, 0xffff_ffff_u64)).is_err() {
            return 3;
        }
        if sys(libc::syscall(libc::SYS_personality, 0x20000_u64)) != Err(libc::EPERM) {
            return 4;
        }
        if sys(libc::syscall(libc::SYS_personality, 0_u64)).is_err() {
            return 5;
        }
        if sys(libc::syscall(libc::SYS_personality, 0x1_0000_0000_u64)) != Err(libc::ENOTTY) {
            return 6;
        }
        0
    });
    assert_eq!(st, Status::Exited(0));
}

#[test]
fn kernel_masked_eq() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(
            &["getpriority"],
            A::ScmpActErrno,
            Some(libc::ENOTTY),
            vec![arg(1, Op::ScmpCmpMaskedEq, 0xff00, Some(0x1200))],
        )],
    ))
    .unwrap();
    let st = run_child(Some(&p), || unsafe {
        let prio = |who: u64| {
            sys(libc::syscall(
                libc::SYS_getpriority,
                libc::PRIO_PROCESS,
                who,
            ))
        };
        if prio(0x1234) != Err(libc::ENOTTY) {
            return 1;
        }
        if prio(0x7f_12ff) != Err(libc::ENOTTY) {
            return 2;
        }
        // Masked bits differ: the kernel answers (0 = this process).
        if prio(0).is_err() {
            return 3;
        }
        if prio(0x1334) == Err(libc::ENOTTY) {
            return 4;
        }
        0
    });
    assert_eq!(st, Status::Exited(0));
}

/// Docker's default capability set (what a Kubernetes pod gets without securityContext).
fn docker_caps() -> Vec<String> {
    [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// execv in the child; returns only on failure.
fn exec(argv: &[CString]) -> i32 {
    let mut ptrs: [*const libc::c_char; 8] = [std::ptr::null(); 8];
    for (i, a) in argv.iter().enumerate() {
        ptrs[i] = a.as_ptr();
    }
    unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
    99
}

fn cstrings(args: &[&str]) -> Vec<CString> {
    args.iter().map(|a| CString::new(*a).unwrap()).collect()
}

#[test]
fn kernel_containerd_default_profile_denies_and_execs_busybox() {
    let p = compile(&default_profile(&docker_caps())).unwrap();
    let mnt_src = CString::new("none").unwrap();
    let mnt_dst = CString::new("/tmp").unwrap();
    let tmpfs = CString::new("tmpfs").unwrap();
    let argv = cstrings(&["/bin/busybox", "true"]);
    let st = run_child(Some(&p), || unsafe {
        // We are root with CAP_SYS_ADMIN, yet the profile denies these with EPERM.
        if sys(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS)) != Err(libc::EPERM) {
            return 1;
        }
        if sys(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)) != Err(libc::EPERM) {
            return 2;
        }
        let m = libc::syscall(
            libc::SYS_mount,
            mnt_src.as_ptr(),
            mnt_dst.as_ptr(),
            tmpfs.as_ptr(),
            0,
            0,
        );
        if sys(m) != Err(libc::EPERM) {
            return 3;
        }
        if sys(libc::syscall(libc::SYS_clone3, 0, 0)) != Err(libc::ENOSYS) {
            return 4;
        }
        if sys(libc::syscall(libc::SYS_getppid)).is_err() {
            return 5;
        }
        // Syscalls newer than the profile (fchmodat2 = 452) get ENOSYS, older unlisted EPERM.
        if sys(libc::syscall(
            452,
            libc::AT_FDCWD,
            mnt_dst.as_ptr(),
            0o1777,
            0,
        )) != Err(libc::ENOSYS)
        {
            return 6;
        }
        if sys(libc::syscall(libc::SYS_userfaultfd, 0)) != Err(libc::EPERM) {
            return 7;
        }
        exec(&argv)
    });
    assert_eq!(
        st,
        Status::Exited(0),
        "busybox true under the default profile"
    );
}

#[test]
fn kernel_containerd_default_profile_runs_a_shell() {
    let p = compile(&default_profile(&docker_caps())).unwrap();
    // Forks, pipes, /proc reads and a denied unshare(1) inside the shell; the exec'd process
    // still runs in seccomp mode 2.
    let script = "grep -q '^Seccomp:.2' /proc/self/status \
        && echo hi | cat >/dev/null \
        && ! unshare -u true 2>/dev/null \
        && ls / >/dev/null";
    let argv = cstrings(&["/bin/busybox", "sh", "-c", script]);
    let st = run_child(Some(&p), || exec(&argv));
    assert_eq!(st, Status::Exited(0));
}

fn single_action(action: A) -> Program {
    compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(&["getppid"], action, None, vec![])],
    ))
    .unwrap()
}

#[test]
fn kernel_kill_process_kills_with_sigsys() {
    let p = single_action(A::ScmpActKillProcess);
    let st = run_child(Some(&p), || unsafe {
        libc::syscall(libc::SYS_getppid);
        1
    });
    assert_eq!(st, Status::Signaled(libc::SIGSYS));
}

#[test]
fn kernel_kill_thread_kills_with_sigsys() {
    for action in [A::ScmpActKill, A::ScmpActKillThread] {
        let p = single_action(action);
        let st = run_child(Some(&p), || unsafe {
            libc::syscall(libc::SYS_getppid);
            1
        });
        assert_eq!(st, Status::Signaled(libc::SIGSYS), "{action:?}");
    }
}

#[test]
fn kernel_trap_raises_sigsys() {
    let p = single_action(A::ScmpActTrap);
    let st = run_child(Some(&p), || unsafe {
        libc::syscall(libc::SYS_getppid);
        1
    });
    assert_eq!(st, Status::Signaled(libc::SIGSYS));
}

#[test]
fn kernel_log_action_and_flags_are_accepted() {
    let mut prof = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(&["getppid"], A::ScmpActLog, None, vec![])],
    );
    prof.set_flags(Some(vec![
        F::SeccompFilterFlagLog,
        F::SeccompFilterFlagSpecAllow,
        F::SeccompFilterFlagTsync,
    ]));
    let p = compile(&prof).unwrap();
    let parent = std::process::id() as libc::c_long;
    let st = run_child(Some(&p), || unsafe {
        if sys(libc::syscall(libc::SYS_getppid)) != Ok(parent) {
            return 1;
        }
        0
    });
    assert_eq!(st, Status::Exited(0));
}

/// i386 `getpid` (20) through `int 0x80` from this 64-bit process.
#[cfg(target_arch = "x86_64")]
fn int80_getpid() -> i64 {
    let ret: i64;
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inlateout("rax") 20_i64 => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack)
        );
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn kernel_i386_abi_killed_unless_listed() {
    let unlisted = compile(&profile(A::ScmpActAllow, None, &[], vec![])).unwrap();
    let st = run_child(Some(&unlisted), || {
        int80_getpid();
        1
    });
    assert_eq!(st, Status::Signaled(libc::SIGSYS));

    let listed = compile(&profile(
        A::ScmpActAllow,
        None,
        &[Arch::ScmpArchX86_64, Arch::ScmpArchX86],
        vec![rule(
            &["getpid"],
            A::ScmpActErrno,
            Some(libc::EXDEV),
            vec![],
        )],
    ))
    .unwrap();
    let st = run_child(Some(&listed), || unsafe {
        if int80_getpid() != -(libc::EXDEV as i64) {
            return 1;
        }
        // The x86_64 getpid (39) is filtered by number in its own ABI: also EXDEV.
        if sys(libc::syscall(libc::SYS_getpid)) != Err(libc::EXDEV) {
            return 2;
        }
        // getppid is not filtered.
        if sys(libc::syscall(libc::SYS_getppid)).is_err() {
            return 3;
        }
        0
    });
    assert_eq!(st, Status::Exited(0));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn kernel_x32_numbers_killed_unless_listed() {
    let x32_getpid = 0x4000_0000 + 39;
    let unlisted = compile(&profile(A::ScmpActAllow, None, &[], vec![])).unwrap();
    let st = run_child(Some(&unlisted), || unsafe {
        libc::syscall(x32_getpid);
        1
    });
    assert_eq!(st, Status::Signaled(libc::SIGSYS));

    let listed = compile(&profile(
        A::ScmpActAllow,
        None,
        &[Arch::ScmpArchX32],
        vec![],
    ))
    .unwrap();
    let st = run_child(Some(&listed), || unsafe {
        // Reaches the kernel: a pid, or ENOSYS on kernels without x32 support.
        match sys(libc::syscall(x32_getpid)) {
            Ok(_) | Err(libc::ENOSYS) => 0,
            Err(_) => 1,
        }
    });
    assert_eq!(st, Status::Exited(0));
}

#[test]
fn kernel_notify_listener_receives_and_answers() {
    let mut prof = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(&["mkdir"], A::ScmpActNotify, None, vec![])],
    );
    // Where the runtime would send the fd; this test answers the notification itself.
    prof.set_listener_path(Some("/run/noderun-test-agent.sock".into()));
    let p = compile(&prof).unwrap();
    assert!(p.needs_notify_fd());
    let path = CString::new("/tmp/noderun-seccomp-notify-never-created").unwrap();
    let st = run_child(None, || unsafe {
        use std::os::fd::AsRawFd;
        let fd = match p.install_with_listener() {
            Ok(Some(fd)) => fd,
            _ => return 1,
        };
        let pid = libc::fork();
        if pid == 0 {
            let r = sys(libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o700));
            libc::_exit(if r == Err(libc::EXDEV) { 0 } else { 2 });
        }
        let mut req: libc::seccomp_notif = std::mem::zeroed();
        if libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) != 0 {
            return 3;
        }
        if req.data.nr as libc::c_long != libc::SYS_mkdir || req.pid as i32 != pid {
            return 4;
        }
        let mut resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error: -libc::EXDEV,
            flags: 0,
        };
        if libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) != 0 {
            return 5;
        }
        let mut status = 0;
        if libc::waitpid(pid, &mut status, 0) != pid {
            return 6;
        }
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            7
        }
    });
    assert_eq!(st, Status::Exited(0));
}

#[test]
fn kernel_install_without_no_new_privs_as_root_works() {
    // Root has CAP_SYS_ADMIN, so seccomp(2) is allowed without no_new_privs (the runtime
    // installs before dropping capabilities when noNewPrivileges is false).
    let p = single_action(A::ScmpActErrno);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            libc::alarm(10);
            if p.install().is_err() {
                libc::_exit(1);
            }
            let ok = sys(libc::syscall(libc::SYS_getppid)) == Err(libc::EPERM);
            libc::_exit(if ok { 0 } else { 2 });
        }
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status:#x}"
    );
}

#[test]
fn kernel_install_without_privileges_fails_with_eacces() {
    // Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter.
    let p = single_action(A::ScmpActErrno);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            libc::alarm(10);
            // Drop every capability (capset v3: two 32-bit words per set).
            let mut hdr = [0x2008_0522_u32, 0]; // _LINUX_CAPABILITY_VERSION_3, this process
            let data = [0_u32; 6];
            if libc::syscall(libc::SYS_capset, hdr.as_mut_ptr(), data.as_ptr()) != 0 {
                libc::_exit(1);
            }
            let code = match p.install() {
                Err(noderun_seccomp::Error::Install(e))
                    if e.raw_os_error() == Some(libc::EACCES) =>
                {
                    0
                }
                Err(_) => 2,
                Ok(()) => 3,
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0);
}
