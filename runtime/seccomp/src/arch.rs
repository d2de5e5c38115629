//! The syscall ABIs a filter can meet on this host (native plus 32-bit compat), their audit
//! architecture tokens, and syscall name lookup in each ABI's table.

use oci_spec::runtime::Arch;

use crate::syscall_table::{self, NONE};

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("noderun-seccomp has syscall tables for x86_64 and aarch64 hosts only");

/// One syscall ABI: an audit architecture plus, for x32, a syscall-number range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abi {
    /// x86-64 (`AUDIT_ARCH_X86_64`, numbers below the x32 bit).
    X86_64,
    /// i386 compat (`AUDIT_ARCH_I386`).
    X86,
    /// x32 (`AUDIT_ARCH_X86_64` with the x32 bit set in the number).
    X32,
    /// AArch64 (`AUDIT_ARCH_AARCH64`).
    Aarch64,
    /// 32-bit ARM EABI compat (`AUDIT_ARCH_ARM`).
    Arm,
}

pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub(crate) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub(crate) const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// The ABI of this build.
#[cfg(target_arch = "x86_64")]
pub const NATIVE: Abi = Abi::X86_64;
/// The ABI of this build.
#[cfg(target_arch = "aarch64")]
pub const NATIVE: Abi = Abi::Aarch64;

impl Abi {
    /// `seccomp_data.arch` value the kernel reports for this ABI.
    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::X86 => AUDIT_ARCH_I386,
            Abi::Aarch64 => AUDIT_ARCH_AARCH64,
            Abi::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// The OCI / libseccomp name (`SCMP_ARCH_…`).
    pub fn scmp_name(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::X86 => "SCMP_ARCH_X86",
            Abi::X32 => "SCMP_ARCH_X32",
            Abi::Aarch64 => "SCMP_ARCH_AARCH64",
            Abi::Arm => "SCMP_ARCH_ARM",
        }
    }

    /// Maps an OCI architecture to the ABI it denotes on this host, or `None` when a process on
    /// this host can never make syscalls with it (e.g. MIPS on x86_64): such entries are ignored.
    pub(crate) fn from_oci(arch: Arch) -> Option<Abi> {
        match arch {
            Arch::ScmpArchNative => Some(NATIVE),
            #[cfg(target_arch = "x86_64")]
            Arch::ScmpArchX86_64 => Some(Abi::X86_64),
            #[cfg(target_arch = "x86_64")]
            Arch::ScmpArchX86 => Some(Abi::X86),
            #[cfg(target_arch = "x86_64")]
            Arch::ScmpArchX32 => Some(Abi::X32),
            #[cfg(target_arch = "aarch64")]
            Arch::ScmpArchAarch64 => Some(Abi::Aarch64),
            #[cfg(target_arch = "aarch64")]
            Arch::ScmpArchArm => Some(Abi::Arm),
            _ => None,
        }
    }

    /// Column of this ABI in the syscall table (`HOST_ABIS` order).
    pub(crate) fn column(self) -> usize {
        HOST_ABIS.iter().position(|a| *a == self).unwrap_or(0)
    }

    /// Syscall number of `name` in this ABI (x32 numbers include the x32 bit), or `None` if the
    /// ABI has no such syscall.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        let nr = lookup(name)?[self.column()];
        (nr != NONE).then_some(nr)
    }
}

/// ABIs a process on this host can use, in syscall-table column order (native first).
#[cfg(target_arch = "x86_64")]
pub(crate) const HOST_ABIS: [Abi; 3] = [Abi::X86_64, Abi::X86, Abi::X32];
/// ABIs a process on this host can use, in syscall-table column order (native first).
#[cfg(target_arch = "aarch64")]
pub(crate) const HOST_ABIS: [Abi; 2] = [Abi::Aarch64, Abi::Arm];

/// Numbers of `name` in every host ABI (`NONE` where absent), or `None` if no ABI knows it.
pub(crate) fn lookup(name: &str) -> Option<&'static [u32; HOST_ABIS.len()]> {
    let table = syscall_table::SYSCALLS;
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| &table[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in syscall_table::SYSCALLS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} !< {}", w[0].0, w[1].0);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_family_numbers() {
        assert_eq!(Abi::X86_64.syscall_number("mkdir"), Some(83));
        assert_eq!(
            Abi::X86_64.syscall_number("mkdir"),
            Some(libc::SYS_mkdir as u32)
        );
        assert_eq!(Abi::X86.syscall_number("mkdir"), Some(39));
        assert_eq!(Abi::X86.syscall_number("socketcall"), Some(102));
        assert_eq!(Abi::X32.syscall_number("mkdir"), Some(0x4000_0000 + 83));
        assert_eq!(Abi::X32.syscall_number("execve"), Some(0x4000_0000 + 520));
        assert_eq!(Abi::X86_64.syscall_number("socketcall"), None);
        assert_eq!(Abi::X86_64.syscall_number("no_such_call"), None);
        assert_eq!(Abi::X86_64.syscall_number("cachestat"), Some(451));
        assert_eq!(Abi::X86.syscall_number("cachestat"), Some(451));
        assert_eq!(
            Abi::X32.syscall_number("cachestat"),
            Some(0x4000_0000 + 451)
        );
        assert_eq!(Abi::X32.syscall_number("read"), Some(0x4000_0000));
        assert_eq!(Abi::X86.syscall_number("arch_prctl"), None);
    }
}
