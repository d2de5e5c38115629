//! Classic BPF instruction encoding for seccomp filters: opcodes, `struct seccomp_data` offsets,
//! and constructors for the few instruction forms the compiler emits.

use libc::sock_filter;

/// `BPF_LD | BPF_W | BPF_ABS`: load a 32-bit word of `seccomp_data`.
pub(crate) const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`.
pub(crate) const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`.
pub(crate) const JMP_JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub(crate) const JMP_JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub(crate) const JMP_JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub(crate) const JMP_JGE_K: u16 = 0x35;
/// `BPF_RET | BPF_K`.
pub(crate) const RET_K: u16 = 0x06;

/// Kernel limit on the length of one filter (`BPF_MAXINSNS`).
pub(crate) const MAX_INSNS: usize = 4096;
/// Longest conditional jump (jt/jf are 8-bit offsets).
pub(crate) const MAX_COND_JUMP: usize = 255;

/// Offset of `seccomp_data.nr`.
pub(crate) const OFF_NR: u32 = 0;
/// Offset of `seccomp_data.arch`.
pub(crate) const OFF_ARCH: u32 = 4;

/// Offset of the low 32 bits of `seccomp_data.args[index]` (little-endian ABIs only, which are
/// all the ABIs this crate compiles for).
pub(crate) const fn off_arg_lo(index: usize) -> u32 {
    16 + 8 * index as u32
}

/// Offset of the high 32 bits of `seccomp_data.args[index]`.
pub(crate) const fn off_arg_hi(index: usize) -> u32 {
    off_arg_lo(index) + 4
}

pub(crate) const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

pub(crate) const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

pub(crate) const fn load(offset: u32) -> sock_filter {
    stmt(LD_W_ABS, offset)
}

pub(crate) const fn ret(action: u32) -> sock_filter {
    stmt(RET_K, action)
}

/// Unconditional jump forward by `offset` instructions.
pub(crate) const fn ja(offset: u32) -> sock_filter {
    stmt(JMP_JA, offset)
}
