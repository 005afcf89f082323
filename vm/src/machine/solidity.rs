//! The Solidity side of the machine's constants, generated from this crate so
//! the on-chain verifier cannot drift from the stepper: opcode numbers, domain
//! tags, the header layout and, per opcode, what a proof reveals.
//!
//! `onchain/contracts/vm/generated/VmConstants.sol` is this module's output;
//! `vm/tests/opcodes.rs` fails when the committed file is stale and rewrites
//! it under `OPML_BLESS=1` (which `just contracts` sets).

use super::exec::{MAX_FRAMES, MAX_LOCALS, MAX_STACK};
use super::hash::TAGS;
use super::isa::{INSTR_BYTES, Op, Var};
use super::proof::{MAX_TREE_DEPTH, PROOF_VERSION, width};
use super::state::{HEADER_BYTES, HEADER_LAYOUT};
use std::fmt::Write;

/// Where the generated file lives, relative to the workspace root.
pub const CONSTANTS_PATH: &str = "onchain/contracts/vm/generated/VmConstants.sol";

/// Whether a bitmap has the opcode's bit set.
type OpPredicate = fn(Op) -> bool;

/// `I32Load8S` -> `I32_LOAD8_S`.
fn screaming(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_ascii_uppercase()
            && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A 256-bit bitmap indexed by opcode, as a Solidity hex literal.
fn bitmap(bit: impl Fn(Op) -> bool) -> String {
    let mut words = [0u64; 4];
    for &op in Op::ALL {
        if bit(op) {
            let i = op as u8 as usize;
            words[i / 64] |= 1 << (i % 64);
        }
    }
    format!(
        "0x{:016x}{:016x}{:016x}{:016x}",
        words[3], words[2], words[1], words[0]
    )
}

/// The generated Solidity file.
pub fn constants_sol() -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "// SPDX-License-Identifier: Apache-2.0");
    let _ = writeln!(
        w,
        "// GENERATED from the Rust stepper (opml-vm, machine::solidity) by `just contracts`."
    );
    let _ = writeln!(
        w,
        "// Do not edit: vm/tests/opcodes.rs fails when this file is stale."
    );
    let _ = writeln!(w, "pragma solidity 0.8.30;\n");

    let _ = writeln!(w, "// Proof encoding (docs/STATE.md).");
    let _ = writeln!(w, "uint8 constant PROOF_VERSION = {PROOF_VERSION};");
    let _ = writeln!(w, "uint256 constant HEADER_BYTES = {HEADER_BYTES};");
    let _ = writeln!(w, "uint256 constant INSTR_BYTES = {INSTR_BYTES};");
    let _ = writeln!(w, "uint256 constant MAX_TREE_DEPTH = {MAX_TREE_DEPTH};\n");

    let _ = writeln!(w, "// Machine limits: a step past them traps.");
    let _ = writeln!(w, "uint256 constant MAX_FRAMES = {MAX_FRAMES};");
    let _ = writeln!(w, "uint256 constant MAX_STACK = {MAX_STACK};");
    let _ = writeln!(w, "uint256 constant MAX_LOCALS = {MAX_LOCALS};\n");

    let _ = writeln!(w, "// State header: byte offset and length of each field.");
    for (name, at, len) in HEADER_LAYOUT {
        let _ = writeln!(w, "uint256 constant HEADER_{name}_AT = {at};");
        let _ = writeln!(w, "uint256 constant HEADER_{name}_LEN = {len};");
    }
    let _ = writeln!(w, "uint8 constant STATUS_RUNNING = 0;");
    let _ = writeln!(w, "uint8 constant STATUS_HALTED = 1;");
    let _ = writeln!(w, "uint8 constant STATUS_TRAPPED = 2;\n");

    let _ = writeln!(w, "// Domain tags: every hash is keccak256(tag || data).");
    for (name, tag) in TAGS {
        let _ = writeln!(w, "uint8 constant TAG_{name} = {tag:#04x};");
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "// Opcodes of the lowered instruction set.");
    for &op in Op::ALL {
        let name = screaming(&format!("{op:?}"));
        let _ = writeln!(
            w,
            "uint8 constant OP_{name} = {:#04x}; // {}",
            op as u8,
            op.name()
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "// What a proof reveals per opcode: bit `op` of each bitmap. Stack values\n\
         // popped = POPS_1 + 2 * POPS_2, pushed = PUSHES; GROWS: pushes more than it\n\
         // pops (overflows a full stack); memory access width = 1 << (WIDTH_2 + 2 * WIDTH_4)."
    );
    let maps: [(&str, OpPredicate); 11] = [
        ("OPS_VALID", |_| true),
        ("OPS_POPS_1", |op| op.shape().pops & 1 == 1),
        ("OPS_POPS_2", |op| op.shape().pops & 2 == 2),
        ("OPS_PUSHES", |op| op.shape().pushes == 1),
        ("OPS_GROWS", |op| op.shape().grows()),
        ("OPS_FRAME", |op| op.shape().frame),
        ("OPS_LOCAL", |op| op.shape().var == Some(Var::Local)),
        ("OPS_GLOBAL", |op| op.shape().var == Some(Var::Global)),
        ("OPS_MEMORY", |op| op.shape().memory),
        ("OPS_WIDTH_2", |op| {
            op.shape().memory && width(op).trailing_zeros() & 1 == 1
        }),
        ("OPS_WIDTH_4", |op| {
            op.shape().memory && width(op).trailing_zeros() & 2 == 2
        }),
    ];
    for (name, f) in maps {
        let _ = writeln!(w, "uint256 constant {name} = {};", bitmap(f));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Header;

    #[test]
    fn names_become_screaming_snake_case() {
        assert_eq!(screaming("I32Load8S"), "I32_LOAD8_S");
        assert_eq!(screaming("JumpIfNonZero"), "JUMP_IF_NON_ZERO");
        assert_eq!(screaming("I64ExtendI32U"), "I64_EXTEND_I32_U");
    }

    #[test]
    fn header_layout_matches_the_encoding() {
        let h = Header {
            status: 0xa1,
            pc: 0xa2a2_a2a2,
            step: 0xa3a3_a3a3_a3a3_a3a3,
            code_root: [0xa4; 32],
            memory_size: 0xa5a5_a5a5_a5a5_a5a5,
            memory_root: [0xa6; 32],
            globals_root: [0xa7; 32],
            stack: [0xa8; 32],
            frames: [0xa9; 32],
            frame_depth: 0xaaaa_aaaa,
            stack_depth: 0xabab_abab,
        };
        let bytes = h.encode();
        let mut covered = 0;
        for (k, (name, at, len)) in HEADER_LAYOUT.iter().enumerate() {
            let want = 0xa1 + k as u8;
            assert!(
                bytes[*at..at + len].iter().all(|&b| b == want),
                "field {name}"
            );
            covered += len;
        }
        assert_eq!(covered, HEADER_BYTES);
    }
}
