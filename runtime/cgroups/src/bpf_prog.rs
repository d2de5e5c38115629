//! Generation of the cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program that
//! implements an ordered device rule list (last matching rule wins, default deny), like the
//! v1 devices controller after `devices.deny a`.
//!
//! The kernel passes `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where access_type = (access << 16) | type. Rules are checked last to first; the first match
//! returns. An allow rule matches when every requested access bit is in the rule; a deny rule
//! matches when any requested bit is in the rule.

use crate::devices::{ACC_ALL, DeviceRule, DeviceType};

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    /// dst register in the low nibble, src register in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes used (see linux/bpf_common.h, linux/bpf.h).
pub(crate) const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub(crate) const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
pub(crate) const JMP32_JNE_X: u8 = 0x5e; // BPF_JMP32 | BPF_JNE | BPF_X
pub(crate) const JMP32_JEQ_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
pub(crate) const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;

// Registers: r1 ctx (then scratch), r2 type, r3 access, r4 major, r5 minor.
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The device filter program for `rules` (in OCI order).
pub fn device_filter_program(rules: &[DeviceRule]) -> Vec<BpfInsn> {
    let mut p = Vec::with_capacity(6 + rules.len() * 9 + 2);
    p.extend_from_slice(&[
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ]);
    for r in rules.iter().rev() {
        let verdict = [
            insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow)),
            insn(JMP_EXIT, 0, 0, 0, 0),
        ];
        if r.is_catch_all() {
            // Nothing before this rule can be reached.
            p.extend_from_slice(&verdict);
            return p;
        }
        // Conditions, each jumping to the end of this block on mismatch (offset patched).
        let mut block: Vec<BpfInsn> = Vec::with_capacity(9);
        match r.typ {
            DeviceType::All => {}
            DeviceType::Block => block.push(insn(JMP32_JNE_K, 2, 0, 0, BPF_DEVCG_DEV_BLOCK)),
            DeviceType::Char => block.push(insn(JMP32_JNE_K, 2, 0, 0, BPF_DEVCG_DEV_CHAR)),
        }
        if r.access != ACC_ALL {
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(r.access)));
            if r.allow {
                // requested & rule != requested -> some bit not allowed by this rule
                block.push(insn(JMP32_JNE_X, 1, 3, 0, 0));
            } else {
                // requested & rule == 0 -> this deny rule does not concern the request
                block.push(insn(JMP32_JEQ_K, 1, 0, 0, 0));
            }
        }
        if let Some(m) = r.major {
            block.push(insn(JMP32_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JMP32_JNE_K, 5, 0, 0, m as i32));
        }
        block.extend_from_slice(&verdict);
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JMP32_JNE_K | JMP32_JNE_X | JMP32_JEQ_K) {
                // jump past the end of the block: target = len, next pc = i + 1
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend_from_slice(&block);
    }
    p.extend_from_slice(&[insn(ALU64_MOV_K, 0, 0, 0, 0), insn(JMP_EXIT, 0, 0, 0, 0)]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{ACC_MKNOD, ACC_READ, ACC_WRITE};

    /// A minimal interpreter for the opcodes the generator emits.
    fn run(prog: &[BpfInsn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "runaway program");
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from ctx");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP32_JNE_K | JMP32_JNE_X | JMP32_JEQ_K => {
                    let a = r[dst] as u32;
                    let b = if i.code == JMP32_JNE_X {
                        r[src] as u32
                    } else {
                        i.imm as u32
                    };
                    let jump = if i.code == JMP32_JEQ_K {
                        a == b
                    } else {
                        a != b
                    };
                    if jump {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            assert!(pc < prog.len(), "fell off the program");
        }
    }

    fn rule(
        allow: bool,
        typ: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            typ,
            major,
            minor,
            access,
        }
    }

    const C: u32 = 2;
    const B: u32 = 1;
    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;
    const M: u32 = ACC_MKNOD as u32;

    #[test]
    fn default_deny_and_allowlist() {
        let rules = [
            rule(false, DeviceType::All, None, None, ACC_ALL),
            rule(true, DeviceType::Char, Some(1), Some(3), ACC_ALL), // /dev/null
            rule(
                true,
                DeviceType::Char,
                Some(136),
                None,
                ACC_READ | ACC_WRITE,
            ), // pts
        ];
        let p = device_filter_program(&rules);
        assert_eq!(run(&p, C, R | W, 1, 3), 1);
        assert_eq!(run(&p, C, M, 1, 3), 1);
        assert_eq!(run(&p, B, R, 1, 3), 0, "block 1:3 is not /dev/null");
        assert_eq!(run(&p, C, R, 1, 5), 0, "/dev/zero not allowed");
        assert_eq!(run(&p, C, R | W, 136, 7), 1);
        assert_eq!(run(&p, C, M, 136, 7), 0, "mknod not allowed on pts");
        assert_eq!(run(&p, C, R | M, 136, 7), 0);
        // the leading catch-all deny is the default: no block emitted for it
        assert_eq!(p.len(), 6 + 7 + 5 + 2);
    }

    #[test]
    fn last_rule_wins_and_partial_deny() {
        let rules = [
            rule(true, DeviceType::All, None, None, ACC_ALL),
            rule(false, DeviceType::Char, Some(1), Some(3), ACC_WRITE),
        ];
        let p = device_filter_program(&rules);
        assert_eq!(run(&p, C, R, 1, 3), 1);
        assert_eq!(run(&p, C, W, 1, 3), 0);
        assert_eq!(run(&p, C, R | W, 1, 3), 0, "rw includes the denied w");
        assert_eq!(run(&p, B, W, 8, 0), 1);
        // allow after deny re-allows
        let rules = [
            rule(false, DeviceType::All, None, None, ACC_ALL),
            rule(true, DeviceType::Char, Some(1), Some(3), ACC_ALL),
            rule(false, DeviceType::Char, Some(1), Some(3), ACC_ALL),
        ];
        assert_eq!(run(&device_filter_program(&rules), C, R, 1, 3), 0);
        let rules = [
            rule(false, DeviceType::Char, Some(1), Some(3), ACC_ALL),
            rule(true, DeviceType::Char, Some(1), None, ACC_ALL),
        ];
        let p = device_filter_program(&rules);
        assert_eq!(run(&p, C, R, 1, 3), 1);
        assert_eq!(run(&p, C, R, 2, 3), 0);
    }

    #[test]
    fn empty_list_denies_everything_and_big_numbers_compare_unsigned() {
        let p = device_filter_program(&[]);
        assert_eq!(run(&p, C, R, 1, 3), 0);
        let rules = [rule(
            true,
            DeviceType::Block,
            Some(4_000_000_000),
            Some(0),
            ACC_READ,
        )];
        let p = device_filter_program(&rules);
        assert_eq!(run(&p, B, R, 4_000_000_000, 0), 1);
        assert_eq!(run(&p, B, R, 1, 0), 0);
    }
}
