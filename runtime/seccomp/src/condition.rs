//! One rule's argument conditions (ANDed) encoded as BPF: each 64-bit comparison is done on the
//! two 32-bit halves of `seccomp_data.args[i]`; a failed condition jumps past the rule.

use libc::sock_filter;
use oci_spec::runtime::LinuxSeccompOperator as Op;

use crate::bpf::{self, ALU_AND_K, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, jump, load, ret, stmt};

/// A validated argument condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cond {
    /// Argument index, 0..=5.
    pub index: usize,
    pub op: Op,
    /// The compared value; the mask for MASKED_EQ.
    pub value: u64,
    /// The datum for MASKED_EQ (OCI `valueTwo`), unused otherwise.
    pub value_two: u64,
}

/// Most conditions one rule may have: keeps every "condition failed" jump within the 8-bit
/// conditional-jump range (at most 6 instructions per condition).
pub(crate) const MAX_CONDS: usize = 32;

/// Marker for "jump to the end of the rule"; resolved once the rule's length is known.
const FAIL: u8 = u8::MAX;

fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

fn lo(v: u64) -> u32 {
    v as u32
}

/// Width of the syscall arguments of an ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgWidth {
    /// 64-bit registers: compare both halves.
    Wide,
    /// 32-bit ABIs (i386, ARM): the kernel zero-extends the arguments and, like libseccomp,
    /// only the low 32 bits of value/mask/datum are compared.
    Narrow,
}

/// Appends the instructions of one rule: all `conds` must hold for `action` to be returned;
/// otherwise control falls through to the instruction after the rule.
pub(crate) fn encode_rule(
    conds: &[Cond],
    action: u32,
    width: ArgWidth,
    out: &mut Vec<sock_filter>,
) {
    let start = out.len();
    // Which instructions hold FAIL placeholders (jt, jf).
    let mut fails: [(u16, bool, bool); MAX_CONDS * 6] = [(0, false, false); MAX_CONDS * 6];
    let mut nfails = 0;
    let mut push = |out: &mut Vec<sock_filter>, insn: sock_filter| {
        if insn.jt == FAIL || insn.jf == FAIL {
            fails[nfails] = ((out.len() - start) as u16, insn.jt == FAIL, insn.jf == FAIL);
            nfails += 1;
        }
        out.push(insn);
    };
    for c in conds {
        let (h, l) = (bpf::off_arg_hi(c.index), bpf::off_arg_lo(c.index));
        let (vh, vl) = (hi(c.value), lo(c.value));
        if width == ArgWidth::Narrow {
            push(out, load(l));
            match c.op {
                Op::ScmpCmpEq => push(out, jump(JMP_JEQ_K, vl, 0, FAIL)),
                Op::ScmpCmpNe => push(out, jump(JMP_JEQ_K, vl, FAIL, 0)),
                Op::ScmpCmpGt => push(out, jump(JMP_JGT_K, vl, 0, FAIL)),
                Op::ScmpCmpGe => push(out, jump(JMP_JGE_K, vl, 0, FAIL)),
                Op::ScmpCmpLt => push(out, jump(JMP_JGE_K, vl, FAIL, 0)),
                Op::ScmpCmpLe => push(out, jump(JMP_JGT_K, vl, FAIL, 0)),
                Op::ScmpCmpMaskedEq => {
                    push(out, stmt(ALU_AND_K, vl));
                    push(out, jump(JMP_JEQ_K, lo(c.value_two), 0, FAIL));
                }
            }
            continue;
        }
        match c.op {
            Op::ScmpCmpEq => {
                push(out, load(h));
                push(out, jump(JMP_JEQ_K, vh, 0, FAIL));
                push(out, load(l));
                push(out, jump(JMP_JEQ_K, vl, 0, FAIL));
            }
            Op::ScmpCmpNe => {
                push(out, load(h));
                push(out, jump(JMP_JEQ_K, vh, 0, 2));
                push(out, load(l));
                push(out, jump(JMP_JEQ_K, vl, FAIL, 0));
            }
            Op::ScmpCmpGt | Op::ScmpCmpGe => {
                let low_op = if c.op == Op::ScmpCmpGt {
                    JMP_JGT_K
                } else {
                    JMP_JGE_K
                };
                push(out, load(h));
                push(out, jump(JMP_JGT_K, vh, 3, 0));
                push(out, jump(JMP_JEQ_K, vh, 0, FAIL));
                push(out, load(l));
                push(out, jump(low_op, vl, 0, FAIL));
            }
            Op::ScmpCmpLt | Op::ScmpCmpLe => {
                // LT is "not GE", LE is "not GT".
                let low_op = if c.op == Op::ScmpCmpLt {
                    JMP_JGE_K
                } else {
                    JMP_JGT_K
                };
                push(out, load(h));
                push(out, jump(JMP_JGT_K, vh, FAIL, 0));
                push(out, jump(JMP_JEQ_K, vh, 0, 2));
                push(out, load(l));
                push(out, jump(low_op, vl, FAIL, 0));
            }
            Op::ScmpCmpMaskedEq => {
                let (dh, dl) = (hi(c.value_two), lo(c.value_two));
                push(out, load(h));
                push(out, stmt(ALU_AND_K, vh));
                push(out, jump(JMP_JEQ_K, dh, 0, FAIL));
                push(out, load(l));
                push(out, stmt(ALU_AND_K, vl));
                push(out, jump(JMP_JEQ_K, dl, 0, FAIL));
            }
        }
    }
    push(out, ret(action));
    // A failed condition continues right after the rule's `ret`.
    let end = out.len() - start;
    for &(at, jt, jf) in &fails[..nfails] {
        let at = at as usize;
        let dist = (end - at - 1) as u8;
        let insn = &mut out[start + at];
        if jt {
            insn.jt = dist;
        }
        if jf {
            insn.jf = dist;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(index: usize, op: Op, value: u64, value_two: u64) -> Cond {
        Cond {
            index,
            op,
            value,
            value_two,
        }
    }

    #[test]
    fn eq_encodes_both_halves_and_jumps_past_rule() {
        let mut out = Vec::new();
        encode_rule(
            &[c(1, Op::ScmpCmpEq, 0x1_0000_0002, 0)],
            0x7fff_0000,
            ArgWidth::Wide,
            &mut out,
        );
        let got: Vec<(u16, u8, u8, u32)> = out.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            got,
            vec![
                (0x20, 0, 0, 28),          // ld args[1].hi
                (0x15, 0, 3, 1),           // jeq 1 else -> past ret
                (0x20, 0, 0, 24),          // ld args[1].lo
                (0x15, 0, 1, 2),           // jeq 2 else -> past ret
                (0x06, 0, 0, 0x7fff_0000)  // ret ALLOW
            ]
        );
    }

    #[test]
    fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
        let mut out = Vec::new();
        encode_rule(
            &[c(0, Op::ScmpCmpMaskedEq, 0xff, 0x10)],
            1,
            ArgWidth::Wide,
            &mut out,
        );
        let got: Vec<(u16, u32)> = out.iter().map(|i| (i.code, i.k)).collect();
        assert_eq!(
            got,
            vec![
                (0x20, 20),
                (0x54, 0),
                (0x15, 0),
                (0x20, 16),
                (0x54, 0xff),
                (0x15, 0x10),
                (0x06, 1)
            ]
        );
    }

    #[test]
    fn narrow_abis_compare_low_halves_only() {
        let mut out = Vec::new();
        encode_rule(
            &[c(2, Op::ScmpCmpLt, 0xffff_ffff_0000_0010, 0)],
            7,
            ArgWidth::Narrow,
            &mut out,
        );
        let got: Vec<(u16, u8, u8, u32)> = out.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            got,
            vec![(0x20, 0, 0, 32), (0x35, 1, 0, 0x10), (0x06, 0, 0, 7)]
        );
    }

    #[test]
    fn max_conditions_fit_jump_range() {
        let conds = vec![c(5, Op::ScmpCmpMaskedEq, u64::MAX, 0); MAX_CONDS];
        let mut out = vec![bpf::ret(0)];
        encode_rule(&conds, 1, ArgWidth::Wide, &mut out);
        assert_eq!(out.len(), 1 + MAX_CONDS * 6 + 1);
        // The first FAIL jump lands right after the final ret.
        assert_eq!(out[3].jf as usize, out.len() - 4);
    }
}
