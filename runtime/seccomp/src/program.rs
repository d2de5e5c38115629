//! A compiled filter: installing it with seccomp(2) (allocation-free, for a forked child just
//! before execve) and evaluating it in user space for diagnostics and tests.

use std::fmt;
use std::os::fd::{FromRawFd, OwnedFd};

use libc::sock_filter;

use crate::Error;
use crate::arch::Abi;
use crate::bpf::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, LD_W_ABS, RET_K};

/// A ready-to-install seccomp filter (a single BPF program).
pub struct Program {
    filter: Box<[sock_filter]>,
    flags: libc::c_ulong,
    notify: bool,
    abis: Vec<Abi>,
    skipped: Vec<String>,
}

/// The input of a filter, as the kernel's `struct seccomp_data` (minus the instruction pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallData {
    /// `AUDIT_ARCH_*` of the calling ABI.
    pub arch: u32,
    /// Syscall number (x32 numbers include the x32 bit).
    pub nr: u32,
    /// The six arguments.
    pub args: [u64; 6],
}

impl Program {
    pub(crate) fn new(
        filter: Vec<sock_filter>,
        flags: libc::c_ulong,
        notify: bool,
        abis: Vec<Abi>,
        skipped: Vec<String>,
    ) -> Self {
        Program {
            filter: filter.into_boxed_slice(),
            flags,
            notify,
            abis,
            skipped,
        }
    }

    /// Installs the filter on the calling thread (all threads with TSYNC) using
    /// seccomp(SECCOMP_SET_MODE_FILTER, flags) with the profile's flags. Allocation-free and
    /// async-signal-safe. The caller must have set no_new_privs or hold CAP_SYS_ADMIN.
    /// Profiles using SCMP_ACT_NOTIFY must use [`Program::install_with_listener`] instead.
    pub fn install(&self) -> Result<(), Error> {
        if self.notify {
            return Err(Error::NotifyNeedsListener);
        }
        self.seccomp(self.flags).map(|_| ())
    }

    /// Installs the filter; for a profile using SCMP_ACT_NOTIFY also returns the listener fd
    /// (SECCOMP_FILTER_FLAG_NEW_LISTENER) to hand to the agent at `listenerPath`.
    /// Allocation-free and async-signal-safe.
    pub fn install_with_listener(&self) -> Result<Option<OwnedFd>, Error> {
        let rc = self.seccomp(self.flags)?;
        if self.notify {
            // SAFETY: with NEW_LISTENER, seccomp(2) returns a new fd that we now own.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) }))
        } else {
            Ok(None)
        }
    }

    fn seccomp(&self, flags: libc::c_ulong) -> Result<libc::c_long, Error> {
        let prog = libc::sock_fprog {
            len: self.filter.len() as libc::c_ushort,
            filter: self.filter.as_ptr() as *mut sock_filter,
        };
        // SAFETY: `prog` points to `len` valid instructions that outlive the call; the kernel
        // copies the program.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            return Err(Error::Install(std::io::Error::last_os_error()));
        }
        Ok(rc)
    }

    /// True if some action is SCMP_ACT_NOTIFY: install with [`Program::install_with_listener`].
    pub fn needs_notify_fd(&self) -> bool {
        self.notify
    }

    /// The BPF instructions.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.filter
    }

    /// Flags passed to seccomp(2) (SECCOMP_FILTER_FLAG_*).
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// ABIs the filter has rules for (native first); other ABIs get the bad-arch action.
    pub fn abis(&self) -> &[Abi] {
        &self.abis
    }

    /// Syscall names of the profile that no ABI of the filter knows; they were skipped.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// Runs the filter on `data` the way the kernel would and returns the SECCOMP_RET_* value.
    /// Only the instruction forms this crate emits are supported; anything else (or a jump out
    /// of the program) yields `None`.
    pub fn evaluate(&self, data: &SyscallData) -> Option<u32> {
        let mut words = [0u32; 16];
        words[0] = data.nr;
        words[1] = data.arch;
        for (i, a) in data.args.iter().enumerate() {
            words[4 + 2 * i] = *a as u32;
            words[5 + 2 * i] = (*a >> 32) as u32;
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let insn = self.filter.get(pc)?;
            pc += 1;
            let cond = |taken: bool| if taken { insn.jt } else { insn.jf } as usize;
            match insn.code {
                LD_W_ABS => {
                    if insn.k % 4 != 0 {
                        return None;
                    }
                    acc = *words.get(insn.k as usize / 4)?;
                }
                ALU_AND_K => acc &= insn.k,
                JMP_JA => pc += insn.k as usize,
                JMP_JEQ_K => pc += cond(acc == insn.k),
                JMP_JGT_K => pc += cond(acc > insn.k),
                JMP_JGE_K => pc += cond(acc >= insn.k),
                RET_K => return Some(insn.k),
                _ => return None,
            }
        }
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.filter.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .field("abis", &self.abis)
            .field("skipped", &self.skipped)
            .finish()
    }
}
