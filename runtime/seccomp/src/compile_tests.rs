//! Unit tests of the compiler, run through the user-space evaluator.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag as F, LinuxSeccompOperator as Op, LinuxSyscall,
};

use super::*;
use crate::SyscallData;
use crate::arch::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
use crate::bpf::{JMP_JA, RET_K};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;

fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

fn rule(
    names: &[&str],
    action: A,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(action);
    s.set_errno_ret(errno_ret);
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
    default_errno: Option<u32>,
    arches: &[Arch],
    rules: Vec<LinuxSyscall>,
) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(default);
    p.set_default_errno_ret(default_errno);
    if !arches.is_empty() {
        p.set_architectures(Some(arches.to_vec()));
    }
    p.set_syscalls(Some(rules));
    p
}

/// Kernel-style static check: every jump stays inside the program, the last insn returns.
fn check_valid(p: &Program) {
    let insns = p.instructions();
    assert!(!insns.is_empty() && insns.len() <= MAX_INSNS);
    assert_eq!(insns.last().unwrap().code, RET_K);
    for (i, insn) in insns.iter().enumerate() {
        let targets: Vec<usize> = match insn.code {
            JMP_JA => vec![i + 1 + insn.k as usize],
            c if c & 0x07 == 0x05 => vec![i + 1 + insn.jt as usize, i + 1 + insn.jf as usize],
            _ => vec![],
        };
        for t in targets {
            assert!(t < insns.len(), "insn {i} jumps to {t} of {}", insns.len());
        }
    }
}

fn eval(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    p.evaluate(&SyscallData { arch, nr, args })
        .expect("program evaluates")
}

fn x64(p: &Program, name: &str, args: [u64; 6]) -> u32 {
    let nr = Abi::X86_64.syscall_number(name).unwrap();
    eval(p, AUDIT_ARCH_X86_64, nr, args)
}

#[test]
fn errno_rule_with_default_allow() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(
            &["mkdir"],
            A::ScmpActErrno,
            Some(libc::EACCES as u32),
            vec![],
        )],
    ))
    .unwrap();
    check_valid(&p);
    assert_eq!(x64(&p, "mkdir", [0; 6]), errno(libc::EACCES));
    assert_eq!(x64(&p, "mkdirat", [0; 6]), ALLOW);
    assert_eq!(x64(&p, "read", [0; 6]), ALLOW);
    assert_eq!(eval(&p, AUDIT_ARCH_X86_64, 1000, [0; 6]), ALLOW);
    // Unlisted ABIs: i386 and x32 get the bad-arch action.
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 39, [0; 6]), KILL_THREAD);
    assert_eq!(
        eval(&p, AUDIT_ARCH_X86_64, 0x4000_0000 + 83, [0; 6]),
        KILL_THREAD
    );
    assert_eq!(eval(&p, 0xdead_beef, 0, [0; 6]), KILL_THREAD);
    assert_eq!(p.abis(), &[Abi::X86_64]);
    assert!(!p.needs_notify_fd());
    assert_eq!(p.flags(), 0);
}

#[test]
fn program_structure_dispatches_on_arch_then_number() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[Arch::ScmpArchX86_64, Arch::ScmpArchX86],
        vec![rule(&["mkdir"], A::ScmpActErrno, None, vec![])],
    ))
    .unwrap();
    let i = p.instructions();
    // ld arch; jeq X86_64; ja; jeq I386; ja; ret KILL; ld nr …
    assert_eq!((i[0].code, i[0].k), (bpf::LD_W_ABS, OFF_ARCH));
    assert_eq!(
        (i[1].code, i[1].k, i[1].jt, i[1].jf),
        (JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, 1)
    );
    assert_eq!(i[2].code, JMP_JA);
    assert_eq!((i[3].code, i[3].k), (JMP_JEQ_K, AUDIT_ARCH_I386));
    assert_eq!(i[4].code, JMP_JA);
    assert_eq!((i[5].code, i[5].k), (RET_K, KILL_THREAD));
    assert_eq!((i[6].code, i[6].k), (bpf::LD_W_ABS, OFF_NR));
    // ja from index 2 lands on index 6, the first x86_64 section instruction.
    assert_eq!(i[2].k, 3);
    // Whole program: 6 header + x86_64 section (ld, jge x32, ret kill, 5-insn tree:
    // jge 83 / jge 84 splits) + i386 section.
    check_valid(&p);
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 39, [0; 6]), errno(libc::EPERM));
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 40, [0; 6]), ALLOW);
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 38, [0; 6]), ALLOW);
    assert_eq!(x64(&p, "mkdir", [0; 6]), errno(libc::EPERM));
    assert_eq!(p.abis(), &[Abi::X86_64, Abi::X86]);
}

#[test]
fn x32_listed_gets_its_own_numbers() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[Arch::ScmpArchX32],
        vec![rule(&["mkdir", "execve"], A::ScmpActErrno, None, vec![])],
    ))
    .unwrap();
    check_valid(&p);
    assert_eq!(
        eval(&p, AUDIT_ARCH_X86_64, 0x4000_0000 + 83, [0; 6]),
        errno(1)
    );
    assert_eq!(
        eval(&p, AUDIT_ARCH_X86_64, 0x4000_0000 + 520, [0; 6]),
        errno(1)
    );
    // x32 execve is 520, not 59.
    assert_eq!(eval(&p, AUDIT_ARCH_X86_64, 0x4000_0000 + 59, [0; 6]), ALLOW);
    assert_eq!(x64(&p, "execve", [0; 6]), errno(1));
    assert_eq!(x64(&p, "mkdir", [0; 6]), errno(1));
    assert_eq!(x64(&p, "rmdir", [0; 6]), ALLOW);
    // i386 not listed.
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 39, [0; 6]), KILL_THREAD);
}

#[test]
fn foreign_architectures_are_ignored_and_native_always_present() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[
            Arch::ScmpArchMips,
            Arch::ScmpArchS390x,
            Arch::ScmpArchNative,
        ],
        vec![rule(&["mkdir"], A::ScmpActErrno, None, vec![])],
    ))
    .unwrap();
    assert_eq!(p.abis(), &[NATIVE]);
    assert_eq!(x64(&p, "mkdir", [0; 6]), errno(1));
}

fn reference(op: Op, arg: u64, value: u64, value_two: u64) -> bool {
    match op {
        Op::ScmpCmpNe => arg != value,
        Op::ScmpCmpLt => arg < value,
        Op::ScmpCmpLe => arg <= value,
        Op::ScmpCmpEq => arg == value,
        Op::ScmpCmpGe => arg >= value,
        Op::ScmpCmpGt => arg > value,
        Op::ScmpCmpMaskedEq => arg & value == value_two,
    }
}

#[test]
fn every_operator_matches_64_bit_semantics_across_halves() {
    let samples: [u64; 12] = [
        0,
        1,
        7,
        8,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0x1_ffff_ffff,
        0x2_0000_0000,
        0x8000_0000_0000_0000,
        u64::MAX - 1,
        u64::MAX,
    ];
    let ops = [
        Op::ScmpCmpNe,
        Op::ScmpCmpLt,
        Op::ScmpCmpLe,
        Op::ScmpCmpEq,
        Op::ScmpCmpGe,
        Op::ScmpCmpGt,
        Op::ScmpCmpMaskedEq,
    ];
    for op in ops {
        for &value in &samples {
            let value_two = value & 0x1_0000_0001;
            for index in [0usize, 3, 5] {
                let p = compile(&profile(
                    A::ScmpActAllow,
                    None,
                    &[],
                    vec![rule(
                        &["ioctl"],
                        A::ScmpActErrno,
                        Some(33),
                        vec![arg(index, op, value, Some(value_two))],
                    )],
                ))
                .unwrap();
                check_valid(&p);
                for &a in &samples {
                    let mut args = [0xdead_beef_u64; 6];
                    args[index] = a;
                    let want = if reference(op, a, value, value_two) {
                        errno(33)
                    } else {
                        ALLOW
                    };
                    assert_eq!(
                        x64(&p, "ioctl", args),
                        want,
                        "{op:?} arg{index}={a:#x} value={value:#x} value_two={value_two:#x}"
                    );
                }
            }
        }
    }
}

#[test]
fn i386_compares_low_32_bits_only() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[Arch::ScmpArchX86],
        vec![rule(
            &["personality"],
            A::ScmpActErrno,
            None,
            vec![arg(0, Op::ScmpCmpEq, u64::MAX, None)],
        )],
    ))
    .unwrap();
    check_valid(&p);
    // i386 personality is 136; its argument arrives zero-extended.
    assert_eq!(
        eval(&p, AUDIT_ARCH_I386, 136, [0xffff_ffff, 0, 0, 0, 0, 0]),
        errno(1)
    );
    assert_eq!(
        eval(&p, AUDIT_ARCH_I386, 136, [0xffff_fffe, 0, 0, 0, 0, 0]),
        ALLOW
    );
    // x86_64 compares the whole register.
    assert_eq!(x64(&p, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x64(&p, "personality", [u64::MAX, 0, 0, 0, 0, 0]), errno(1));
}

#[test]
fn conditions_and_within_rule_and_rules_or() {
    let p = compile(&profile(
        A::ScmpActErrno,
        None,
        &[],
        vec![
            // personality allowed for 0 and 8 (two ORed rules) …
            rule(
                &["personality"],
                A::ScmpActAllow,
                None,
                vec![arg(0, Op::ScmpCmpEq, 0, None)],
            ),
            rule(
                &["personality"],
                A::ScmpActAllow,
                None,
                vec![arg(0, Op::ScmpCmpEq, 8, None)],
            ),
            // … and 100 < x <= 200 (two ANDed conditions).
            rule(
                &["personality"],
                A::ScmpActAllow,
                None,
                vec![
                    arg(0, Op::ScmpCmpGt, 100, None),
                    arg(0, Op::ScmpCmpLe, 200, None),
                ],
            ),
            // socket(AF_UNIX, *, 0) only.
            rule(
                &["socket"],
                A::ScmpActAllow,
                None,
                vec![
                    arg(0, Op::ScmpCmpEq, 1, None),
                    arg(2, Op::ScmpCmpEq, 0, None),
                ],
            ),
        ],
    ))
    .unwrap();
    check_valid(&p);
    let pers = |v: u64| x64(&p, "personality", [v, 0, 0, 0, 0, 0]);
    assert_eq!(pers(0), ALLOW);
    assert_eq!(pers(8), ALLOW);
    assert_eq!(pers(1), errno(1));
    assert_eq!(pers(100), errno(1));
    assert_eq!(pers(101), ALLOW);
    assert_eq!(pers(200), ALLOW);
    assert_eq!(pers(201), errno(1));
    assert_eq!(x64(&p, "socket", [1, 1, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x64(&p, "socket", [1, 1, 6, 0, 0, 0]), errno(1));
    assert_eq!(x64(&p, "socket", [2, 1, 0, 0, 0, 0]), errno(1));
    assert_eq!(x64(&p, "read", [0; 6]), errno(1));
}

#[test]
fn highest_precedence_rule_wins_and_errno_values_are_kept() {
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![
            rule(&["socket"], A::ScmpActLog, None, vec![]),
            rule(
                &["socket"],
                A::ScmpActErrno,
                Some(13),
                vec![arg(0, Op::ScmpCmpEq, 2, None)],
            ),
            rule(
                &["socket"],
                A::ScmpActKillProcess,
                None,
                vec![arg(0, Op::ScmpCmpEq, 10, None)],
            ),
            rule(&["mkdir"], A::ScmpActErrno, Some(13), vec![]),
            rule(&["rmdir"], A::ScmpActErrno, Some(2), vec![]),
            rule(&["getppid"], A::ScmpActTrap, None, vec![]),
            rule(&["getpid"], A::ScmpActTrace, Some(9), vec![]),
            rule(&["gettid"], A::ScmpActKill, None, vec![]),
        ],
    ))
    .unwrap();
    check_valid(&p);
    assert_eq!(x64(&p, "socket", [1, 0, 0, 0, 0, 0]), libc::SECCOMP_RET_LOG);
    assert_eq!(x64(&p, "socket", [2, 0, 0, 0, 0, 0]), errno(13));
    assert_eq!(
        x64(&p, "socket", [10, 0, 0, 0, 0, 0]),
        libc::SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(x64(&p, "mkdir", [0; 6]), errno(13));
    assert_eq!(x64(&p, "rmdir", [0; 6]), errno(2));
    assert_eq!(x64(&p, "getppid", [0; 6]), libc::SECCOMP_RET_TRAP);
    assert_eq!(x64(&p, "getpid", [0; 6]), libc::SECCOMP_RET_TRACE | 9);
    assert_eq!(x64(&p, "gettid", [0; 6]), KILL_THREAD);
}

#[test]
fn rules_equal_to_default_are_dropped_and_unknown_names_skipped() {
    let p = compile(&profile(
        A::ScmpActErrno,
        Some(38),
        &[Arch::ScmpArchX86],
        vec![
            rule(
                &["read", "no_such_syscall", "socketcall"],
                A::ScmpActAllow,
                None,
                vec![],
            ),
            rule(&["write"], A::ScmpActErrno, Some(38), vec![]),
            rule(&["close"], A::ScmpActErrno, Some(1), vec![]),
        ],
    ))
    .unwrap();
    check_valid(&p);
    assert_eq!(p.skipped_syscalls(), &["no_such_syscall".to_string()]);
    assert_eq!(x64(&p, "read", [0; 6]), ALLOW);
    assert_eq!(x64(&p, "write", [0; 6]), errno(38));
    assert_eq!(x64(&p, "close", [0; 6]), errno(1));
    assert_eq!(x64(&p, "openat", [0; 6]), errno(38));
    // socketcall exists on i386 only.
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 102, [0; 6]), ALLOW);
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 3, [0; 6]), ALLOW);
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys_unless_default_is_permissive() {
    let enosys = errno(libc::ENOSYS);
    let rules = |default: A| {
        vec![
            rule(&["read", "write", "mkdir"], A::ScmpActAllow, None, vec![]),
            // Dropped (same as the default) but still raises the highest named number.
            rule(&["kexec_load"], default, None, vec![]),
        ]
    };
    for (default, tail) in [
        (A::ScmpActErrno, true),
        (A::ScmpActKillProcess, true),
        (A::ScmpActTrap, true),
        (A::ScmpActAllow, false),
        (A::ScmpActLog, false),
        (A::ScmpActTrace, false),
    ] {
        let p = compile(&profile(
            default,
            None,
            &[Arch::ScmpArchX86],
            rules(default),
        ))
        .unwrap();
        check_valid(&p);
        let d = action::encode(default, None, "").unwrap();
        assert_eq!(x64(&p, "read", [0; 6]), ALLOW);
        assert_eq!(x64(&p, "mkdir", [0; 6]), ALLOW);
        assert_eq!(x64(&p, "open", [0; 6]), d, "{default:?}");
        assert_eq!(x64(&p, "kexec_load", [0; 6]), d, "{default:?}");
        let after = if tail { enosys } else { d };
        assert_eq!(x64(&p, "kexec_file_load", [0; 6]), after, "{default:?}");
        assert_eq!(eval(&p, AUDIT_ARCH_X86_64, 100_000, [0; 6]), after);
        // i386: kexec_load is 283.
        assert_eq!(eval(&p, AUDIT_ARCH_I386, 283, [0; 6]), d);
        assert_eq!(eval(&p, AUDIT_ARCH_I386, 284, [0; 6]), after);
    }
    // defaultErrnoRet ENOSYS: nothing to add.
    let p = compile(&profile(
        A::ScmpActErrno,
        Some(libc::ENOSYS as u32),
        &[],
        rules(A::ScmpActErrno),
    ))
    .unwrap();
    assert_eq!(x64(&p, "kexec_file_load", [0; 6]), enosys);
    assert_eq!(x64(&p, "open", [0; 6]), enosys);
}

#[test]
fn flags_map_to_kernel_bits() {
    let mut p = profile(A::ScmpActAllow, None, &[], vec![]);
    p.set_flags(Some(vec![
        F::SeccompFilterFlagLog,
        F::SeccompFilterFlagSpecAllow,
        F::SeccompFilterFlagWaitKillableRecv,
    ]));
    let c = compile(&p).unwrap();
    assert_eq!(
        c.flags(),
        libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    );
    assert_eq!(x64(&c, "read", [0; 6]), ALLOW);

    let mut p = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(&["mkdir"], A::ScmpActNotify, None, vec![])],
    );
    assert_eq!(
        compile(&p).unwrap_err().to_string(),
        "linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY"
    );
    p.set_listener_path(Some("/run/agent.sock".into()));
    p.set_flags(Some(vec![
        F::SeccompFilterFlagTsync,
        F::SeccompFilterFlagWaitKillableRecv,
    ]));
    let c = compile(&p).unwrap();
    assert!(c.needs_notify_fd());
    assert_eq!(
        c.flags(),
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    );
    assert_eq!(x64(&c, "mkdir", [0; 6]), libc::SECCOMP_RET_USER_NOTIF);
    assert!(matches!(c.install(), Err(Error::NotifyNeedsListener)));
}

#[test]
fn big_bodies_use_long_jumps() {
    // Every x86_64 syscall with a condition: subtrees exceed the 8-bit jump range.
    let names: Vec<&str> = crate::syscall_table::SYSCALLS
        .iter()
        .filter(|(_, nums)| nums[0] != NONE)
        .map(|(n, _)| *n)
        .collect();
    let p = compile(&profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(
            &names,
            A::ScmpActErrno,
            Some(5),
            vec![arg(1, Op::ScmpCmpEq, 42, None)],
        )],
    ))
    .unwrap();
    check_valid(&p);
    assert!(p.instructions().len() > 1000);
    for (name, nums) in crate::syscall_table::SYSCALLS
        .iter()
        .filter(|(_, n)| n[0] != NONE)
    {
        let nr = &nums[0];
        assert_eq!(
            eval(&p, AUDIT_ARCH_X86_64, *nr, [0, 42, 0, 0, 0, 0]),
            errno(5),
            "{name}"
        );
        assert_eq!(
            eval(&p, AUDIT_ARCH_X86_64, *nr, [0, 43, 0, 0, 0, 0]),
            ALLOW,
            "{name}"
        );
    }
}

#[test]
fn too_large_program_is_an_error() {
    let names: Vec<&str> = crate::syscall_table::SYSCALLS
        .iter()
        .filter(|(_, nums)| nums[0] != NONE)
        .map(|(n, _)| *n)
        .collect();
    let conds = vec![
        arg(1, Op::ScmpCmpEq, 42, None),
        arg(2, Op::ScmpCmpEq, 42, None),
    ];
    let err = compile(&profile(
        A::ScmpActAllow,
        None,
        &[Arch::ScmpArchX86, Arch::ScmpArchX32],
        vec![rule(&names, A::ScmpActErrno, None, conds)],
    ))
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge(n) if n > 4096), "{err}");
}

#[test]
fn invalid_rules_name_their_field() {
    let p = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![
            rule(&["read"], A::ScmpActErrno, None, vec![]),
            rule(
                &["mkdir"],
                A::ScmpActErrno,
                None,
                vec![
                    arg(0, Op::ScmpCmpEq, 0, None),
                    arg(6, Op::ScmpCmpEq, 0, None),
                ],
            ),
        ],
    );
    assert_eq!(
        compile(&p).unwrap_err().to_string(),
        "linux.seccomp.syscalls[1].args[1].index: 6 is out of range: syscalls have arguments 0 to 5"
    );

    let p = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(&[], A::ScmpActErrno, None, vec![])],
    );
    assert_eq!(
        compile(&p).unwrap_err().to_string(),
        "linux.seccomp.syscalls[0].names: must name at least one syscall"
    );

    let p = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(&["read"], A::ScmpActErrno, Some(1 << 16), vec![])],
    );
    assert_eq!(
        compile(&p).unwrap_err().to_string(),
        "linux.seccomp.syscalls[0].errnoRet: 65536 does not fit in the 16-bit seccomp return data"
    );

    let p = profile(A::ScmpActErrno, Some(1 << 20), &[], vec![]);
    assert_eq!(
        compile(&p).unwrap_err().to_string(),
        "linux.seccomp.defaultErrnoRet: 1048576 does not fit in the 16-bit seccomp return data"
    );

    let p = profile(
        A::ScmpActAllow,
        None,
        &[],
        vec![rule(
            &["read"],
            A::ScmpActErrno,
            None,
            vec![arg(0, Op::ScmpCmpEq, 0, None); MAX_CONDS + 1],
        )],
    );
    assert_eq!(
        compile(&p).unwrap_err().to_string(),
        "linux.seccomp.syscalls[0].args: 33 conditions, at most 32 are supported"
    );
}

#[test]
fn containerd_default_profile_semantics() {
    let p = compile(&crate::default_profile(&[
        "CAP_CHOWN".into(),
        "CAP_SYS_PTRACE".into(),
    ]))
    .unwrap();
    check_valid(&p);
    // recv/send exist on no x86 ABI (only as socketcall sub-calls).
    assert_eq!(p.skipped_syscalls(), ["recv", "send"]);
    assert_eq!(p.abis(), &[Abi::X86_64, Abi::X86, Abi::X32]);
    let eperm = errno(libc::EPERM);
    for allowed in [
        "read",
        "write",
        "execve",
        "exit_group",
        "openat",
        "arch_prctl",
        "ptrace",
        "process_vm_readv",
    ] {
        assert_eq!(x64(&p, allowed, [0; 6]), ALLOW, "{allowed}");
    }
    for denied in [
        "mount",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "bpf",
        "reboot",
        "init_module",
        "chroot",
    ] {
        assert_eq!(x64(&p, denied, [0; 6]), eperm, "{denied}");
    }
    assert_eq!(x64(&p, "clone3", [0; 6]), errno(libc::ENOSYS));
    let clone = |flags: i32| x64(&p, "clone", [flags as u64, 0, 0, 0, 0, 0]);
    assert_eq!(clone(libc::SIGCHLD), ALLOW);
    assert_eq!(
        clone(libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND),
        ALLOW
    );
    assert_eq!(clone(libc::CLONE_NEWNS | libc::SIGCHLD), eperm);
    assert_eq!(clone(libc::CLONE_NEWUSER), eperm);
    let pers = |v: u64| x64(&p, "personality", [v, 0, 0, 0, 0, 0]);
    assert_eq!(pers(0), ALLOW);
    assert_eq!(pers(0xffff_ffff), ALLOW);
    assert_eq!(pers(0x20008), ALLOW);
    assert_eq!(pers(0x0040000), eperm);
    // i386: mkdir (39) allowed, socketcall (102) allowed, mount (21) denied.
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 39, [0; 6]), ALLOW);
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 102, [0; 6]), ALLOW);
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 21, [0; 6]), eperm);
    // Newer than the profile's newest syscall (futex_waitv, 449): ENOSYS, e.g. fchmodat2.
    assert_eq!(x64(&p, "futex_waitv", [0; 6]), ALLOW);
    assert_eq!(x64(&p, "userfaultfd", [0; 6]), eperm);
    assert_eq!(
        x64(&p, "set_mempolicy_home_node", [0; 6]),
        errno(libc::ENOSYS)
    );
    assert_eq!(x64(&p, "fchmodat2", [0; 6]), errno(libc::ENOSYS));
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 452, [0; 6]), errno(libc::ENOSYS));
    // i386 64-bit-time syscalls: clock_gettime64 (403) allowed.
    assert_eq!(eval(&p, AUDIT_ARCH_I386, 403, [0; 6]), ALLOW);
    // x32: read allowed, mount (165) denied.
    assert_eq!(eval(&p, AUDIT_ARCH_X86_64, 0x4000_0000, [0; 6]), ALLOW);
    assert_eq!(
        eval(&p, AUDIT_ARCH_X86_64, 0x4000_0000 + 165, [0; 6]),
        eperm
    );

    let admin = compile(&crate::default_profile(&["CAP_SYS_ADMIN".into()])).unwrap();
    check_valid(&admin);
    assert_eq!(x64(&admin, "mount", [0; 6]), ALLOW);
    assert_eq!(x64(&admin, "clone3", [0; 6]), ALLOW);
    assert_eq!(
        x64(&admin, "clone", [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(x64(&admin, "ptrace", [0; 6]), ALLOW);
    assert_eq!(x64(&admin, "process_vm_readv", [0; 6]), eperm);
}

#[test]
fn compile_time_of_default_profile() {
    let profile = crate::default_profile(&["CAP_CHOWN".into(), "CAP_NET_BIND_SERVICE".into()]);
    let _warm = compile(&profile).unwrap();
    let runs = 50;
    let start = std::time::Instant::now();
    let mut len = 0;
    for _ in 0..runs {
        len = compile(&profile).unwrap().instructions().len();
    }
    let per = start.elapsed() / runs;
    println!("compile(containerd default profile): {per:?} per run, {len} instructions");
    assert!(per < std::time::Duration::from_millis(20), "{per:?}");
}
