//! Compiles an OCI `LinuxSeccomp` into one classic-BPF filter: a dispatch on
//! `seccomp_data.arch`, then per ABI a binary search over syscall-number intervals whose leaves
//! are either a return (merged runs of syscalls with the same unconditional outcome, gaps take
//! the default action) or a syscall's rule body.
//!
//! Semantics (libseccomp / runc / crun): the native ABI is always in the filter, listed compat
//! ABIs are added, any other audit arch (and x32 numbers when x32 is not listed) gets the
//! bad-arch action, SECCOMP_RET_KILL_THREAD, as libseccomp's default. Rules whose action equals
//! the default action are dropped (runc does this; libseccomp refuses them). Conditions of one
//! rule are ANDed, rules of one syscall are ORed; when several rules of a syscall match, the one
//! the kernel ranks highest wins (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > NOTIFY > TRACE >
//! LOG > ALLOW; ties go to the earlier rule). Like runc, when the default action is not
//! ALLOW/LOG/TRACE, syscall numbers above the highest one the profile names get -ENOSYS so that
//! programs fall back from syscalls newer than the profile (e.g. fchmodat2, futex_wake).
//! Syscall names unknown in an ABI are skipped there. Arguments are compared as 64-bit values (on both 32-bit halves) in 64-bit ABIs and, like
//! libseccomp, on their low 32 bits only in the 32-bit i386 and ARM ABIs.

use std::ops::Range;

use libc::sock_filter;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};

use crate::Error;
use crate::action;
use crate::arch::{self, Abi, HOST_ABIS, NATIVE};
use crate::bpf::{self, JMP_JEQ_K, JMP_JGE_K, MAX_COND_JUMP, MAX_INSNS, OFF_ARCH, OFF_NR};
use crate::condition::{self, ArgWidth, Cond, MAX_CONDS};
use crate::program::Program;
use crate::syscall_table::NONE;

/// Action for syscalls of architectures the filter does not list (libseccomp's default).
pub(crate) const BAD_ARCH_ACTION: u32 = libc::SECCOMP_RET_KILL_THREAD;

/// Returned for syscalls newer than the profile (see `abi_tree`).
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = crate::syscall_table::X32_SYSCALL_BIT;

/// A validated rule of the profile.
struct Rule<'a> {
    names: &'a [String],
    ret: u32,
    conds: Vec<Cond>,
    /// False when the action equals the default action: such rules are dropped (as runc does;
    /// libseccomp refuses them) but still count for the -ENOSYS tail.
    effective: bool,
}

/// What a syscall-number interval leads to.
#[derive(Clone, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// Instructions in the per-ABI body buffer.
    Body(Range<usize>),
}

/// Compile an OCI `linux.seccomp` into a single ready-to-install filter.
pub fn compile(profile: &LinuxSeccomp) -> Result<Program, Error> {
    let default_ret = action::encode(
        profile.default_action(),
        profile.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    let rules = validate_rules(profile, default_ret)?;
    let abis = select_abis(profile);

    let notify = action::is_notify(default_ret)
        || rules
            .iter()
            .any(|r| r.effective && action::is_notify(r.ret));
    if notify && profile.listener_path().is_none() {
        return Err(Error::invalid(
            "linux.seccomp.listenerPath",
            "required when an action is SCMP_ACT_NOTIFY",
        ));
    }
    let flags = filter_flags(profile, notify);

    let (resolved, skipped) = resolve_names(&rules, &abis);
    let trees = Trees {
        resolved: &resolved,
        rules: &rules,
        default_ret,
        enosys_tail: wants_enosys_tail(profile),
    };
    let sections = arch_sections(&abis, &trees);
    let filter = assemble(&sections);
    if filter.len() > MAX_INSNS {
        return Err(Error::TooLarge(filter.len()));
    }
    Ok(Program::new(filter, flags, notify, abis, skipped))
}

/// runc adds its -ENOSYS tail unless the default action lets syscalls through anyway (ALLOW,
/// LOG, TRACE) or already is ENOSYS.
fn wants_enosys_tail(profile: &LinuxSeccomp) -> bool {
    !matches!(
        profile.default_action(),
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    ) && profile.default_errno_ret() != Some(libc::ENOSYS as u32)
}

/// What every ABI's decision tree is built from.
struct Trees<'a> {
    resolved: &'a Resolved,
    rules: &'a [Rule<'a>],
    default_ret: u32,
    enosys_tail: bool,
}

impl Trees<'_> {
    fn build(&self, abi: Abi) -> Vec<sock_filter> {
        abi_tree(
            abi,
            self.resolved,
            self.rules,
            self.default_ret,
            self.enosys_tail,
        )
    }
}

/// One (audit arch, code) section per audit arch: x86_64 and x32 share AUDIT_ARCH_X86_64 and
/// are told apart by the x32 bit of the syscall number.
fn arch_sections(abis: &[Abi], trees: &Trees<'_>) -> Vec<(u32, Vec<sock_filter>)> {
    let mut sections: Vec<(u32, Vec<sock_filter>)> = Vec::with_capacity(2);
    #[cfg(target_arch = "x86_64")]
    {
        let mut s = vec![
            bpf::load(OFF_NR),
            bpf::jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
        ];
        let native = trees.build(Abi::X86_64);
        if abis.contains(&Abi::X32) {
            s.push(bpf::ja(native.len() as u32));
            s.extend_from_slice(&native);
            s.extend_from_slice(&trees.build(Abi::X32));
        } else {
            s.push(bpf::ret(BAD_ARCH_ACTION));
            s.extend_from_slice(&native);
        }
        sections.push((Abi::X86_64.audit_arch(), s));
    }
    #[cfg(target_arch = "aarch64")]
    {
        let mut s = vec![bpf::load(OFF_NR)];
        s.extend_from_slice(&trees.build(Abi::Aarch64));
        sections.push((Abi::Aarch64.audit_arch(), s));
    }
    for &abi in abis {
        if abi == NATIVE || abi == Abi::X32 {
            continue;
        }
        let mut s = vec![bpf::load(OFF_NR)];
        s.extend_from_slice(&trees.build(abi));
        sections.push((abi.audit_arch(), s));
    }
    sections
}

fn validate_rules(profile: &LinuxSeccomp, default_ret: u32) -> Result<Vec<Rule<'_>>, Error> {
    let syscalls = profile.syscalls().as_deref().unwrap_or(&[]);
    let mut rules = Vec::with_capacity(syscalls.len());
    for (i, sc) in syscalls.iter().enumerate() {
        if sc.names().is_empty() {
            return Err(Error::invalid(
                format!("linux.seccomp.syscalls[{i}].names"),
                "must name at least one syscall",
            ));
        }
        let ret = action::encode(
            sc.action(),
            sc.errno_ret(),
            &format!("linux.seccomp.syscalls[{i}].errnoRet"),
        )?;
        let args = sc.args().as_deref().unwrap_or(&[]);
        if args.len() > MAX_CONDS {
            return Err(Error::invalid(
                format!("linux.seccomp.syscalls[{i}].args"),
                format!(
                    "{} conditions, at most {MAX_CONDS} are supported",
                    args.len()
                ),
            ));
        }
        let mut conds = Vec::with_capacity(args.len());
        for (j, a) in args.iter().enumerate() {
            if a.index() > 5 {
                return Err(Error::invalid(
                    format!("linux.seccomp.syscalls[{i}].args[{j}].index"),
                    format!(
                        "{} is out of range: syscalls have arguments 0 to 5",
                        a.index()
                    ),
                ));
            }
            conds.push(Cond {
                index: a.index(),
                op: a.op(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        rules.push(Rule {
            names: sc.names(),
            ret,
            conds,
            effective: ret != default_ret,
        });
    }
    Ok(rules)
}

/// Native ABI first, then the listed ABIs that exist on this host, without duplicates.
fn select_abis(profile: &LinuxSeccomp) -> Vec<Abi> {
    let mut abis = vec![NATIVE];
    for arch in profile.architectures().as_deref().unwrap_or(&[]) {
        if let Some(abi) = Abi::from_oci(*arch)
            && !abis.contains(&abi)
        {
            abis.push(abi);
        }
    }
    abis
}

fn filter_flags(profile: &LinuxSeccomp, notify: bool) -> libc::c_ulong {
    let mut flags = 0;
    for f in profile.flags().as_deref().unwrap_or(&[]) {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only meaningful (and only accepted by the kernel) with a notify listener.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if notify => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    if notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // TSYNC reports failure as a thread id, which collides with the listener fd.
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    flags
}

/// (rule index, the name's numbers in every host ABI) for each rule name some selected ABI
/// knows, and the names none knows (skipped, as libseccomp/runc do).
type Resolved = Vec<(usize, &'static [u32; HOST_ABIS.len()])>;

fn resolve_names(rules: &[Rule<'_>], abis: &[Abi]) -> (Resolved, Vec<String>) {
    let mut resolved = Vec::with_capacity(rules.iter().map(|r| r.names.len()).sum());
    let mut skipped: Vec<String> = Vec::new();
    for (ri, r) in rules.iter().enumerate() {
        for name in r.names {
            match arch::lookup(name) {
                Some(nums) if abis.iter().any(|a| nums[a.column()] != NONE) => {
                    resolved.push((ri, nums));
                }
                _ if !skipped.contains(name) => skipped.push(name.clone()),
                _ => {}
            }
        }
    }
    (resolved, skipped)
}

/// The decision tree of one ABI; expects the syscall number in A, ends in returns only.
/// With `enosys_tail`, numbers above the highest syscall the profile names return -ENOSYS
/// rather than the default action, so that programs fall back from syscalls newer than the
/// profile (runc's behaviour for non-permissive default actions).
fn abi_tree(
    abi: Abi,
    resolved: &Resolved,
    rules: &[Rule<'_>],
    default_ret: u32,
    enosys_tail: bool,
) -> Vec<sock_filter> {
    // (number, precedence, rule index), sorted: rules of a syscall in evaluation order.
    let col = abi.column();
    let width = match abi {
        Abi::X86 | Abi::Arm => ArgWidth::Narrow,
        Abi::X86_64 | Abi::X32 | Abi::Aarch64 => ArgWidth::Wide,
    };
    let mut entries: Vec<(u32, i32, usize)> = Vec::with_capacity(resolved.len());
    let mut highest = None;
    for &(ri, nums) in resolved {
        let nr = nums[col];
        if nr == NONE {
            continue;
        }
        highest = highest.max(Some(nr));
        if rules[ri].effective {
            entries.push((nr, action::precedence(rules[ri].ret), ri));
        }
    }
    entries.sort_unstable();
    entries.dedup();

    let mut bodies: Vec<sock_filter> = Vec::new();
    let mut intervals: Vec<(u32, Outcome)> = Vec::with_capacity(entries.len() / 2 + 2);
    let mut next_free = 0u32;
    for group in entries.chunk_by(|a, b| a.0 == b.0) {
        let nr = group[0].0;
        let outcome = syscall_outcome(group, rules, default_ret, width, &mut bodies);
        if nr > next_free {
            push_interval(&mut intervals, next_free, Outcome::Ret(default_ret));
        }
        push_interval(&mut intervals, nr, outcome);
        next_free = nr + 1;
    }
    match highest {
        Some(highest) if enosys_tail => {
            if next_free <= highest {
                push_interval(&mut intervals, next_free, Outcome::Ret(default_ret));
            }
            push_interval(&mut intervals, highest + 1, Outcome::Ret(ENOSYS));
        }
        _ => push_interval(&mut intervals, next_free, Outcome::Ret(default_ret)),
    }

    let mut out = Vec::with_capacity(tree_len(&intervals));
    emit_tree(&intervals, &bodies, &mut out);
    out
}

/// Appends an interval starting at `start`, merging it into the previous one when both simply
/// return the same value.
fn push_interval(intervals: &mut Vec<(u32, Outcome)>, start: u32, outcome: Outcome) {
    if let Some((_, Outcome::Ret(prev))) = intervals.last()
        && outcome == Outcome::Ret(*prev)
    {
        return;
    }
    intervals.push((start, outcome));
}

/// The outcome of one syscall from its rules (already in evaluation order).
fn syscall_outcome(
    group: &[(u32, i32, usize)],
    rules: &[Rule<'_>],
    default_ret: u32,
    width: ArgWidth,
    bodies: &mut Vec<sock_filter>,
) -> Outcome {
    let first = &rules[group[0].2];
    if first.conds.is_empty() {
        return Outcome::Ret(first.ret);
    }
    let start = bodies.len();
    let mut fallback = default_ret;
    for &(_, _, ri) in group {
        let r = &rules[ri];
        if r.conds.is_empty() {
            // Unconditional: later (lower-ranked) rules can never be reached.
            fallback = r.ret;
            break;
        }
        condition::encode_rule(&r.conds, r.ret, width, bodies);
    }
    bodies.push(bpf::ret(fallback));
    Outcome::Body(start..bodies.len())
}

fn outcome_len(o: &Outcome) -> usize {
    match o {
        Outcome::Ret(_) => 1,
        Outcome::Body(r) => r.len(),
    }
}

fn tree_len(intervals: &[(u32, Outcome)]) -> usize {
    if intervals.len() == 1 {
        return outcome_len(&intervals[0].1);
    }
    let mid = intervals.len() / 2;
    let left = tree_len(&intervals[..mid]);
    let branch = if left <= MAX_COND_JUMP { 1 } else { 2 };
    branch + left + tree_len(&intervals[mid..])
}

/// Binary search on interval starts: `jge start[mid]` leads to the right half, else left half.
fn emit_tree(intervals: &[(u32, Outcome)], bodies: &[sock_filter], out: &mut Vec<sock_filter>) {
    if intervals.len() == 1 {
        match &intervals[0].1 {
            Outcome::Ret(k) => out.push(bpf::ret(*k)),
            Outcome::Body(r) => out.extend_from_slice(&bodies[r.clone()]),
        }
        return;
    }
    let mid = intervals.len() / 2;
    let (left, right) = intervals.split_at(mid);
    let left_len = tree_len(left);
    if left_len <= MAX_COND_JUMP {
        out.push(bpf::jump(JMP_JGE_K, right[0].0, left_len as u8, 0));
    } else {
        out.push(bpf::jump(JMP_JGE_K, right[0].0, 0, 1));
        out.push(bpf::ja(left_len as u32));
    }
    emit_tree(left, bodies, out);
    emit_tree(right, bodies, out);
}

/// `ld arch; (jeq arch_k; ja section_k)*; ret BAD_ARCH; section_0; section_1 …`
fn assemble(sections: &[(u32, Vec<sock_filter>)]) -> Vec<sock_filter> {
    let n = sections.len();
    let total: usize = sections.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(2 + 2 * n + total);
    out.push(bpf::load(OFF_ARCH));
    let body_start = 2 + 2 * n;
    let mut section_start = body_start;
    for (k, (arch, s)) in sections.iter().enumerate() {
        out.push(bpf::jump(JMP_JEQ_K, *arch, 0, 1));
        let ja_at = 2 + 2 * k;
        out.push(bpf::ja((section_start - ja_at - 1) as u32));
        section_start += s.len();
    }
    out.push(bpf::ret(BAD_ARCH_ACTION));
    for (_, s) in sections {
        out.extend_from_slice(s);
    }
    out
}

// The tests use x86_64 syscall numbers and audit arches.
#[cfg(all(test, target_arch = "x86_64"))]
#[path = "compile_tests.rs"]
mod tests;
