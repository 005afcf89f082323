//! Proof soundness on every opcode and edge case: small programs that use
//! every lowered opcode (traps included) are stepped to the end, and every
//! step's proof must verify to the next state's hash. Crafted code and states
//! (which no lowered module reaches) cover the traps of the machine's limits:
//! a pc past the code, `return` and local ops without a frame, local and global
//! indexes out of range, stack underflow and overflow, too many locals.
//!
//! The same steps are the golden vectors `{pre, proof, post}` that the
//! Solidity verifier replays (`onchain/test/vectors/golden.json`), and this
//! file also checks the generated Solidity constants. Both fail when stale;
//! `OPML_BLESS=1` (set by `just contracts`) rewrites them.

mod common;

use common::check_generated;
use opml_vm::machine::exec::{MAX_LOCALS, MAX_STACK};
use opml_vm::machine::model::hex;
use opml_vm::machine::solidity::{CONSTANTS_PATH, constants_sol};
use opml_vm::machine::{
    Committer, Instr, Machine, Op, Program, Status, StepProof, Trap, lower, prove, verify_step,
};
use std::collections::BTreeSet;

const VECTORS_PATH: &str = "onchain/test/vectors/golden.json";

/// One golden vector.
struct Vector {
    name: String,
    pre: String,
    proof: String,
    post: String,
}

/// What the runs collect: opcodes seen and the vectors kept.
#[derive(Default)]
struct Collected {
    seen: BTreeSet<Op>,
    vectors: Vec<Vector>,
}

/// Steps `m` to the end (and one step past it), verifying every step's proof.
/// Keeps as vectors the first step of each variable access and constant, the
/// first step at each pc of every other opcode (their operands differ), every
/// trapping or halting step and the step of the final fixed point.
fn run_machine(name: &str, mut m: Machine, code: &[Instr], out: &mut Collected) -> Machine {
    let mut c = Committer::new(code);
    let mut pre = c.state_hash(&mut m);
    let mut keys = BTreeSet::new();
    for _ in 0..200_000 {
        let running = m.is_running();
        let proof = prove(&mut c, &mut m);
        // the revealed instruction (a pc past the code reveals a padding leaf
        // or the leaf at pc mod 2^depth)
        let op = proof.witness.as_ref().map_or(Op::Halt, |w| w.instr.op);
        if running && m.code.get(m.pc as usize).is_some() {
            out.seen.insert(op);
        }
        let proof = proof.encode();
        assert_eq!(
            StepProof::decode(&proof).map(|p| p.encode()),
            Ok(proof.clone()),
            "{name}: step {}: the proof does not decode to itself",
            m.step
        );
        let pc = m.pc;
        m.step();
        let post = c.state_hash(&mut m);
        assert_eq!(
            verify_step(&pre, &proof),
            Ok(post),
            "{name}: step {}",
            m.step
        );
        let key = match op {
            Op::LocalGet | Op::LocalSet | Op::LocalTee | Op::I32Const | Op::I64Const => {
                u32::MAX - op as u32
            }
            _ => pc,
        };
        if keys.insert(key) || !m.is_running() {
            let what = match (running, m.code.get(pc as usize)) {
                (false, _) => "fixed point",
                (true, None) => "pc past the code",
                (true, Some(_)) => op.name(),
            };
            out.vectors.push(Vector {
                name: format!("{name}: step {} {what}", m.step),
                pre: hex(&pre),
                proof: proof.iter().map(|b| format!("{b:02x}")).collect(),
                post: hex(&post),
            });
        }
        if !running {
            return m;
        }
        pre = post;
    }
    panic!("{name} did not finish");
}

/// Runs `func(args)` of a WAT module.
fn run_proving(wat: &str, func: &str, args: &[u64], out: &mut Collected) -> Machine {
    let wasm = wat::parse_str(wat).unwrap();
    let program = lower(&wasm).unwrap();
    let m = Machine::call(&program, program.exports[func], args);
    let name = format!(
        "{func}({})",
        args.iter()
            .map(|a| format!("{a:#x}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    run_machine(&name, m, &program.code, out)
}

/// One crafted run from pc 1: code, globals, frames (return pc and locals,
/// outermost first), initial stack, and the trap it must end with.
struct Crafted {
    name: &'static str,
    code: Vec<Instr>,
    globals: Vec<u64>,
    frames: Vec<(u32, Vec<u64>)>,
    stack: Vec<u64>,
    trap: Trap,
}

/// Code and states a malicious publisher could craft: each run ends in one of
/// the traps of the machine's limits (and passes the globals' padding).
fn run_crafted(out: &mut Collected) {
    use Op::*;
    let i = |op, a: u32, b: u64| Instr { op, a, b };
    // code entered at pc 1 in a frame without locals, no globals; cases change what they need
    let case = |name, code: &[(Op, u32, u64)], stack: Vec<u64>, trap| Crafted {
        name,
        code: code.iter().map(|&(op, a, b)| i(op, a, b)).collect(),
        globals: vec![],
        frames: vec![(0, vec![])],
        stack,
        trap,
    };
    let mut full: Vec<u64> = (0..MAX_STACK as u64 - 1).collect();
    full[0] = u64::MAX;
    let last_local = MAX_LOCALS as u32 - 1;
    let cases = vec![
        case(
            "pc in the code padding",
            &[(Halt, 0, 0), (Jump, 3, 0), (Nop, 0, 0)],
            vec![],
            Trap::PcOutOfCode,
        ),
        case(
            "pc past the code tree",
            &[(Halt, 0, 0), (JumpIfNonZero, 9, 0), (Nop, 0, 0)],
            vec![1],
            Trap::PcOutOfCode,
        ),
        case(
            "pc u32::MAX",
            &[(Halt, 0, 0), (Jump, u32::MAX, 0)],
            vec![],
            Trap::PcOutOfCode,
        ),
        Crafted {
            frames: vec![(1000, vec![5])],
            ..case(
                "return past the code",
                &[(Halt, 0, 0), (Return, 0, 0)],
                vec![],
                Trap::PcOutOfCode,
            )
        },
        Crafted {
            frames: vec![],
            ..case(
                "return at frame depth 0",
                &[(Halt, 0, 0), (Return, 0, 0)],
                vec![3],
                Trap::NoFrame,
            )
        },
        Crafted {
            frames: vec![],
            ..case(
                "local.get at frame depth 0",
                &[(Halt, 0, 0), (LocalGet, 0, 0)],
                vec![],
                Trap::NoFrame,
            )
        },
        Crafted {
            frames: vec![],
            ..case(
                "local.set at frame depth 0",
                &[(Halt, 0, 0), (I32Const, 0, 5), (LocalSet, 0, 0)],
                vec![],
                Trap::NoFrame,
            )
        },
        Crafted {
            frames: vec![(0, vec![7, 8])],
            ..case(
                "local.get past the local count",
                &[(Halt, 0, 0), (LocalGet, 1, 0), (LocalGet, 2, 0)],
                vec![],
                Trap::LocalOutOfRange,
            )
        },
        Crafted {
            frames: vec![(0, vec![7, 8, 9])],
            ..case(
                "local.set past the local count",
                &[(Halt, 0, 0), (LocalSet, u32::MAX, 0)],
                vec![4],
                Trap::LocalOutOfRange,
            )
        },
        Crafted {
            frames: vec![(0, vec![1]), (0, vec![])],
            ..case(
                "local.tee in a frame without locals",
                &[(Halt, 0, 0), (LocalTee, 0, 0)],
                vec![4],
                Trap::LocalOutOfRange,
            )
        },
        Crafted {
            globals: vec![10, 20, 30],
            ..case(
                "globals padding then past the tree",
                &[
                    (Halt, 0, 0),
                    (GlobalGet, 3, 0),
                    (I32Const, 0, 99),
                    (GlobalSet, 3, 0),
                    (GlobalGet, 3, 0),
                    (GlobalGet, 4, 0),
                ],
                vec![],
                Trap::GlobalOutOfRange,
            )
        },
        Crafted {
            globals: vec![10, 20, 30],
            ..case(
                "global.set past the tree",
                &[(Halt, 0, 0), (GlobalSet, 9, 0)],
                vec![1],
                Trap::GlobalOutOfRange,
            )
        },
        case(
            "no globals",
            &[(Halt, 0, 0), (GlobalGet, 0, 0), (GlobalSet, 1, 0)],
            vec![],
            Trap::GlobalOutOfRange,
        ),
        case(
            "stack underflow popping 1",
            &[(Halt, 0, 0), (Drop, 0, 0)],
            vec![],
            Trap::StackUnderflow,
        ),
        case(
            "stack underflow popping 2",
            &[(Halt, 0, 0), (I64Store, 0, 0)],
            vec![8],
            Trap::StackUnderflow,
        ),
        case(
            "stack underflow popping 3",
            &[(Halt, 0, 0), (Select, 0, 0)],
            vec![1, 2],
            Trap::StackUnderflow,
        ),
        case(
            "stack overflow",
            &[(Halt, 0, 0), (I32Const, 0, 1), (I64Const, 0, 2)],
            full,
            Trap::StackOverflow,
        ),
        case(
            "too many locals",
            &[
                (Halt, 0, 0),
                (Call, 3, MAX_LOCALS),
                (Call, 0, MAX_LOCALS + 1),
                (LocalGet, last_local, 0),
                (Drop, 0, 0),
                (Return, 0, 0),
            ],
            vec![],
            Trap::TooManyLocals,
        ),
    ];
    for case in cases {
        let mut m = Machine::with_code(case.code.clone().into(), vec![0; 64], case.globals);
        for (ret, locals) in &case.frames {
            m.push_frame(*ret, locals);
        }
        m.stack = case.stack;
        m.pc = 1;
        let m = run_machine(&format!("trap: {}", case.name), m, &case.code, out);
        assert_eq!(m.status, Status::Trapped(case.trap), "{}", case.name);
    }
}

/// `nop` never survives lowering, so its vector comes from patched code:
/// a function whose constant and drop are replaced by `nop`s.
fn run_nops(out: &mut Collected) {
    let wasm = wat::parse_str(r#"(module (func (export "f") (drop (i32.const 1))))"#).unwrap();
    let mut program: Program = lower(&wasm).unwrap();
    for ins in program.code.iter_mut() {
        if matches!(ins.op, Op::I32Const | Op::Drop) {
            *ins = Instr::op(Op::Nop);
        }
    }
    let m = Machine::call(&program, program.exports["f"], &[]);
    run_machine("nops", m, &program.code.clone(), out);
}

const ALU: &str = r#"
(module
  (memory 1 1)
  (global $g (mut i64) (i64.const -5))
  (func (export "i32ops") (param $a i32) (param $b i32) (result i32)
    (local $acc i32)
    (local.set $acc (i32.add (local.get $a) (local.get $b)))
    (local.set $acc (i32.xor (local.get $acc) (i32.sub (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.mul (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.div_s (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.div_u (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.rem_s (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.rem_u (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.and (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.or (local.get $a) (local.get $b))))
    ;; shift counts at and beyond the width
    (local.set $acc (i32.xor (local.get $acc) (i32.shl (local.get $a) (i32.const 33))))
    (local.set $acc (i32.xor (local.get $acc) (i32.shr_s (local.get $a) (i32.const 32))))
    (local.set $acc (i32.xor (local.get $acc) (i32.shr_u (local.get $a) (i32.const 63))))
    (local.set $acc (i32.xor (local.get $acc) (i32.rotl (local.get $a) (i32.const 37))))
    (local.set $acc (i32.xor (local.get $acc) (i32.rotr (local.get $a) (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.clz (local.get $a))))
    (local.set $acc (i32.xor (local.get $acc) (i32.ctz (local.get $b))))
    (local.set $acc (i32.xor (local.get $acc) (i32.popcnt (local.get $a))))
    (local.set $acc (i32.xor (local.get $acc) (i32.eq (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.ne (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.lt_s (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.lt_u (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.gt_s (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.gt_u (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.le_s (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.le_u (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.ge_s (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.ge_u (local.get $a) (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.eqz (local.get $a))))
    (local.set $acc (i32.add (local.get $acc) (i32.extend8_s (local.get $a))))
    (local.set $acc (i32.add (local.get $acc) (i32.extend16_s (local.get $b))))
    (local.set $acc (i32.add (local.get $acc) (i32.wrap_i64 (i64.const 0x1_2345_6789))))
    (local.get $acc))
  (func (export "i64ops") (param $a i64) (param $b i64) (result i64)
    (local $acc i64)
    (local.set $acc (i64.add (local.get $a) (local.get $b)))
    (local.set $acc (i64.xor (local.get $acc) (i64.sub (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.mul (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.div_s (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.div_u (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.rem_s (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.rem_u (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.and (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.or (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.shl (local.get $a) (i64.const 65))))
    (local.set $acc (i64.xor (local.get $acc) (i64.shr_s (local.get $a) (i64.const 64))))
    (local.set $acc (i64.xor (local.get $acc) (i64.shr_u (local.get $a) (i64.const 127))))
    (local.set $acc (i64.xor (local.get $acc) (i64.rotl (local.get $a) (i64.const 67))))
    (local.set $acc (i64.xor (local.get $acc) (i64.rotr (local.get $a) (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.clz (local.get $a))))
    (local.set $acc (i64.xor (local.get $acc) (i64.ctz (local.get $b))))
    (local.set $acc (i64.xor (local.get $acc) (i64.popcnt (local.get $a))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.eq (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_s (i64.ne (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.lt_s (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.lt_u (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.gt_s (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.gt_u (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.le_s (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.le_u (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.ge_s (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.ge_u (local.get $a) (local.get $b)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i64.eqz (local.get $a)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend8_s (local.get $a))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend16_s (local.get $b))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend32_s (local.get $a))))
    (global.set $g (i64.add (global.get $g) (local.get $acc)))
    (global.get $g))
  (func (export "memory") (param $v i64) (result i64)
    (local $acc i64)
    (i64.store (i32.const 0) (local.get $v))
    (i32.store (i32.const 8) (i32.wrap_i64 (local.get $v)))
    (i32.store8 (i32.const 12) (i32.const 0x1ff))
    (i32.store16 (i32.const 14) (i32.const 0x18765))
    (i64.store8 (i32.const 16) (local.get $v))
    (i64.store16 (i32.const 18) (local.get $v))
    (i64.store32 (i32.const 20) (local.get $v))
    ;; straddling two 32-byte leaves, and the last bytes of memory
    (i64.store offset=28 (i32.const 0) (local.get $v))
    (i32.store (i32.const 65532) (i32.const -1))
    (local.set $acc (i64.load offset=28 (i32.const 0)))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load (i32.const 65532)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load8_s (i32.const 12)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load8_u (i32.const 12)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load16_s (i32.const 14)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load16_u (i32.const 14)))))
    (local.set $acc (i64.add (local.get $acc) (i64.load8_s (i32.const 16))))
    (local.set $acc (i64.add (local.get $acc) (i64.load8_u (i32.const 16))))
    (local.set $acc (i64.add (local.get $acc) (i64.load16_s (i32.const 18))))
    (local.set $acc (i64.add (local.get $acc) (i64.load16_u (i32.const 18))))
    (local.set $acc (i64.add (local.get $acc) (i64.load32_s (i32.const 20))))
    (local.set $acc (i64.add (local.get $acc) (i64.load32_u (i32.const 20))))
    (local.set $acc (i64.add (local.get $acc) (i64.load8_u (i32.const 65535))))
    (local.get $acc))
  (func $fac (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 1))
      (else (i64.mul (local.get $n) (call $fac (i64.sub (local.get $n) (i64.const 1)))))))
  (func (export "control") (param $x i32) (result i64)
    (local $i i32)
    (local $r i64)
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $i) (i32.const 5)))
        (block $b2 (block $b1 (block $b0
          (br_table $b0 $b1 $b2 (local.get $i)))
          (local.set $r (i64.add (local.get $r) (i64.const 1))) (br $b2))
          (local.set $r (i64.add (local.get $r) (i64.const 10))))
        (local.set $i (local.tee $i (i32.add (local.get $i) (i32.const 1))))
        (br $l)))
    ;; a branch that leaves a value and drops others
    (local.set $r (i64.add (local.get $r)
      (block $v (result i64) (i64.const 7) (i64.const 8) (drop) (i64.const 100) (i32.const 1) (br_if $v) (drop) (i64.const 0))))
    (local.set $r (i64.add (local.get $r) (select (i64.const 3) (i64.const 4) (local.get $x))))
    (nop)
    (local.set $r (i64.add (local.get $r) (call $fac (i64.const 10))))
    (if (i32.eqz (local.get $x)) (then (return (i64.const -1))))
    (local.get $r))
  (func $deep (param $n i32) (result i32) (call $deep (i32.add (local.get $n) (i32.const 1))))
  (func (export "exhaust") (result i32) (call $deep (i32.const 0)))
  (func (export "unreachable") (unreachable))
  (func (export "div0") (param $a i32) (result i32) (i32.div_u (local.get $a) (i32.const 0)))
  (func (export "rem0") (param $a i64) (result i64) (i64.rem_s (local.get $a) (i64.const 0)))
  (func (export "overflow32") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "overflow64") (result i64) (i64.div_s (i64.const 0x8000000000000000) (i64.const -1)))
  (func (export "oob_load") (result i32) (i32.load (i32.const 65533)))
  (func (export "oob_store") (i64.store offset=1 (i32.const 65528) (i64.const 1)))
  (func (export "oob_offset") (result i32) (i32.load8_u offset=4294967295 (i32.const 1)))
)
"#;

#[test]
fn every_opcode_and_edge_case_proves() {
    let mut out = Collected::default();
    let m = run_proving(ALU, "i32ops", &[0xfffffff3, 7], &mut out);
    assert_eq!(m.status, Status::Halted);
    run_proving(ALU, "i32ops", &[0x80000000, 0xffffffff - 1], &mut out);
    run_proving(ALU, "i64ops", &[(-1234567i64) as u64, 77], &mut out);
    run_proving(ALU, "memory", &[0x8877_6655_4433_2211], &mut out);
    let m = run_proving(ALU, "control", &[1], &mut out);
    assert_eq!(m.stack, vec![11 + 100 + 3 + 3_628_800]);
    let m = run_proving(ALU, "control", &[0], &mut out);
    assert_eq!(m.stack, vec![-1i64 as u64]);
    for (f, args, trap) in [
        ("exhaust", vec![], Trap::CallStackExhausted),
        ("unreachable", vec![], Trap::Unreachable),
        ("div0", vec![5], Trap::DivisionByZero),
        ("rem0", vec![5], Trap::DivisionByZero),
        ("overflow32", vec![], Trap::IntegerOverflow),
        ("overflow64", vec![], Trap::IntegerOverflow),
        ("oob_load", vec![], Trap::OutOfBounds),
        ("oob_store", vec![], Trap::OutOfBounds),
        ("oob_offset", vec![], Trap::OutOfBounds),
    ] {
        let m = run_proving(ALU, f, &args, &mut out);
        assert_eq!(m.status, Status::Trapped(trap), "{f}");
    }
    run_nops(&mut out);
    run_crafted(&mut out);
    let missing: Vec<&str> = Op::ALL
        .iter()
        .filter(|o| !out.seen.contains(o))
        .map(|o| o.name())
        .collect();
    println!(
        "{} of {} opcodes proven, {} golden vectors",
        out.seen.len(),
        Op::ALL.len(),
        out.vectors.len()
    );
    assert!(missing.is_empty(), "opcodes never proven: {missing:?}");

    let mut json = String::from("{\n  \"vectors\": [\n");
    for (i, v) in out.vectors.iter().enumerate() {
        let sep = if i + 1 < out.vectors.len() { "," } else { "" };
        json += &format!(
            "    {{\"name\": \"{}\", \"post\": \"0x{}\", \"pre\": \"0x{}\", \"proof\": \"0x{}\"}}{sep}\n",
            v.name, v.post, v.pre, v.proof
        );
    }
    json += "  ]\n}\n";
    check_generated(VECTORS_PATH, &json);
}

#[test]
fn generated_solidity_constants_are_up_to_date() {
    check_generated(CONSTANTS_PATH, &constants_sol());
}
