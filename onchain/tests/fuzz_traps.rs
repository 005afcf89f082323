//! Differential fuzzing of the machine on crafted code and crafted states, the
//! ones a malicious publisher can reach: random instruction arrays (every
//! opcode, any immediates: jump targets past the code, local and global
//! indexes out of range, absurd local counts) and random states (stacks from
//! empty to full, frames with and without locals, up to the frame limit, any
//! globals, memory, pc, status and step counter). Every state is stepped a few
//! times in the Rust stepper, which must not panic; each step's proof must
//! decode to itself, verify in Rust to the stepper's post-state, and get the
//! same verdict from the Solidity verifier in revm; so must the proof with one
//! byte flipped, and the proof of a forged state (one header byte flipped, the
//! pre-state recomputed). The example `fuzz_traps` runs any number of states
//! (`just fuzz-traps`).

// included by `examples/fuzz_traps.rs` too, so the path is spelled out
#[path = "common/mod.rs"]
mod common;

use common::Tally;
use opml_onchain::verifier::EvmVerifier;
use opml_vm::machine::difftest::Rng;
use opml_vm::machine::exec::{MAX_FRAMES, MAX_LOCALS, MAX_STACK};
use opml_vm::machine::hash::{hash, tag};
use opml_vm::machine::state::HEADER_BYTES;
use opml_vm::machine::{Committer, Instr, Machine, Op, Status, StepProof, prove};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The totals of a run.
#[derive(Default)]
pub(crate) struct Report {
    /// Crafted states.
    pub(crate) states: usize,
    /// Steps taken from them.
    pub(crate) steps: usize,
    /// How the states ended after their steps (`running`, `halted`, the trap).
    pub(crate) endings: BTreeMap<String, usize>,
    /// Honest proofs, by the revealed opcode.
    pub(crate) honest: Tally,
    /// Proofs with one byte flipped, and forged states.
    pub(crate) tampered: Tally,
    /// Failures of the Rust side alone: a panic, a proof that does not
    /// round-trip or that Rust rejects.
    pub(crate) failures: Vec<String>,
}

impl Report {
    /// Prints the totals.
    pub(crate) fn print(&self) {
        println!(
            "{} crafted states, {} steps; endings {:?}",
            self.states, self.steps, self.endings
        );
        self.honest.print("honest proofs");
        self.tampered
            .print("proofs with one byte flipped, and of forged states");
        for f in self.failures.iter().take(20) {
            println!("FAILURE {f}");
        }
    }

    /// Disagreements between the verifiers and failures of the Rust side.
    pub(crate) fn problems(&self) -> usize {
        self.honest.mismatch_count + self.tampered.mismatch_count + self.failures.len()
    }
}

/// One of `xs`.
fn pick<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[(rng.next_u64() % xs.len() as u64) as usize]
}

/// A number below `n` (`n > 0`).
fn below(rng: &mut Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// An index or a jump target for code of `len` instructions: inside it, just
/// past it, past its tree, near the limits, or anything.
fn index(rng: &mut Rng, len: u32) -> u32 {
    let tree = len.next_power_of_two();
    match below(rng, 8) {
        0 | 1 => below(rng, len as u64) as u32,
        2 => below(rng, 8) as u32,
        3 => len + below(rng, 3) as u32,
        4 => tree + below(rng, 3) as u32,
        5 => pick(
            rng,
            &[u32::MAX, u32::MAX - 1, 1 << 31, MAX_LOCALS as u32 - 1],
        ),
        _ => rng.next_u64() as u32,
    }
}

/// A second immediate: a constant, a memory offset or a local count.
fn immediate(rng: &mut Rng) -> u64 {
    match below(rng, 8) {
        0 => 0,
        1 | 2 => below(rng, 6),
        3 => pick(rng, &[MAX_LOCALS, MAX_LOCALS + 1, 1 << 32, u64::MAX]),
        4 => below(rng, 128),
        _ => value(rng),
    }
}

/// A value: small, at a boundary, an i32 or anything.
fn value(rng: &mut Rng) -> u64 {
    match below(rng, 8) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => below(rng, 64),
        4 => rng.next_u64() as u32 as u64,
        5 => pick(
            rng,
            &[i64::MIN as u64, i32::MIN as u32 as u64, u32::MAX as u64],
        ),
        _ => rng.next_u64(),
    }
}

/// A random instruction array of `len` instructions.
fn code(rng: &mut Rng, len: u32) -> Vec<Instr> {
    (0..len)
        .map(|_| Instr {
            op: pick(rng, Op::ALL),
            a: index(rng, len),
            b: immediate(rng),
        })
        .collect()
}

/// A random state over random code. One in 64 has a full value stack (its
/// instruction at pc mostly one that grows the stack) and one in 64 a full
/// frame stack (its instruction mostly a `call`): their commitments take long
/// to hash, so they are rare; `big` says whether the state is one of them.
fn crafted(rng: &mut Rng) -> (Machine, bool) {
    let len = if below(rng, 4) == 0 {
        1 + below(rng, 64) as u32
    } else {
        1 + below(rng, 12) as u32
    };
    let mut code = code(rng, len);
    let pc = match below(rng, 8) {
        0 => index(rng, len),
        _ => below(rng, len as u64) as u32,
    };
    let kind = below(rng, 64);
    let (full_stack, full_frames) = (kind == 0, kind == 1);
    if let Some(ins) = code.get_mut(pc as usize).filter(|_| below(rng, 4) != 0) {
        if full_stack {
            ins.op = pick(
                rng,
                &[Op::LocalGet, Op::GlobalGet, Op::I32Const, Op::I64Const],
            );
        } else if full_frames {
            ins.op = Op::Call;
        }
    }
    let size = pick(rng, &[0, 32, 64, 100]);
    let memory = rng.bytes(size);
    let globals: Vec<u64> = (0..below(rng, 7)).map(|_| value(rng)).collect();
    let mut m = Machine::with_code(code.into(), memory, globals);
    let frames = if full_frames {
        MAX_FRAMES - below(rng, 2) as usize
    } else {
        below(rng, 4) as usize
    };
    for _ in 0..frames {
        let n = if full_frames { 0 } else { below(rng, 6) };
        let locals: Vec<u64> = (0..n).map(|_| value(rng)).collect();
        let ret = index(rng, len);
        m.push_frame(ret, &locals);
    }
    m.stack = if full_stack {
        (0..(MAX_STACK + 1 - below(rng, 3) as usize) as u64).collect()
    } else {
        (0..below(rng, 9)).map(|_| value(rng)).collect()
    };
    m.pc = pc;
    m.status = match below(rng, 32) {
        0 => Status::Halted,
        1 => Status::Trapped(opml_vm::machine::Trap::Unreachable),
        _ => Status::Running,
    };
    m.step = match below(rng, 16) {
        0 => u64::MAX - below(rng, 3),
        _ => below(rng, 1 << 40),
    };
    (m, full_stack || full_frames)
}

/// Steps crafted state `i` (from `rng`) up to `steps` times, comparing every proof.
fn run_state(
    evm: &mut EvmVerifier,
    r: &mut Report,
    rng: &mut Rng,
    label: &str,
) -> Result<(), String> {
    let (mut m, big) = crafted(rng);
    let mut c = Committer::new(&m.code);
    let steps = if big { 2 } else { 1 + below(rng, 16) };
    for k in 0..steps {
        let what = || format!("{label} step {k}");
        let pre = c.state_hash(&mut m);
        let proof = prove(&mut c, &mut m);
        let op = proof.witness.as_ref().map(|w| w.instr.op.name());
        let bytes = proof.encode();
        if StepProof::decode(&bytes).as_ref() != Ok(&proof) {
            return Err(format!("{}: the proof does not decode to itself", what()));
        }
        m.step();
        r.steps += 1;
        let post = c.state_hash(&mut m);
        let verdict = r.honest.compare(evm, &pre, &bytes, op, what);
        if verdict != Ok(post) {
            return Err(format!(
                "{}: Rust verifies its own proof to {verdict:?}, the stepper's post-state is {}",
                what(),
                common::hex(&post)
            ));
        }
        let mut bad = bytes.clone();
        let at = below(rng, bad.len() as u64) as usize;
        bad[at] ^= 1 << below(rng, 8);
        let _ = r.tampered.compare(evm, &pre, &bad, op, || {
            format!("{} byte {at} flipped", what())
        });
        // one header byte flipped with the pre-state recomputed: a header whose
        // counters need not match its commitments (stack depth, frame depth)
        let mut forged = bytes.clone();
        let at = 1 + below(rng, HEADER_BYTES as u64) as usize;
        forged[at] ^= 1 << below(rng, 8);
        let forged_pre = hash(tag::STATE, &[&forged[1..=HEADER_BYTES]]);
        let _ = r.tampered.compare(evm, &forged_pre, &forged, op, || {
            format!("{} header byte {at} flipped, pre-state recomputed", what())
        });
        if !m.is_running() {
            break;
        }
    }
    let ending = match m.status {
        Status::Running => "running".to_string(),
        Status::Halted => "halted".to_string(),
        Status::Trapped(t) => format!("{t:?}"),
    };
    *r.endings.entry(ending).or_default() += 1;
    Ok(())
}

/// Crafts `n` states from `seed` (state `i` uses the seed `seed + i`) and steps each.
pub(crate) fn run(seed: u64, n: usize) -> Report {
    let mut evm = EvmVerifier::new().expect("deploy the committed OneStepVerifier");
    let mut r = Report::default();
    for i in 0..n {
        let s = seed.wrapping_add(i as u64);
        let mut rng = Rng::new(s);
        let label = format!("seed {s}");
        r.states += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run_state(&mut evm, &mut r, &mut rng, &label)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => r.failures.push(e),
            Err(_) => r.failures.push(format!("{label}: panicked")),
        }
    }
    r
}

#[test]
fn crafted_code_and_states_step_prove_and_verify_alike() {
    let r = run(0x7a95, 800);
    r.print();
    assert_eq!(r.problems(), 0, "first failures: {:#?}", &r.failures);
    r.honest.assert_no_mismatch("honest proofs");
    r.tampered.assert_no_mismatch("tampered proofs");
    assert_eq!(r.honest.accepted, r.honest.compared);
    for ending in [
        "halted",
        "PcOutOfCode",
        "StackUnderflow",
        "StackOverflow",
        "NoFrame",
        "LocalOutOfRange",
        "GlobalOutOfRange",
        "TooManyLocals",
        "CallStackExhausted",
        "DivisionByZero",
        "OutOfBounds",
    ] {
        assert!(
            r.endings.contains_key(ending),
            "no crafted state ended {ending}: {:?}",
            r.endings
        );
    }
    assert!(
        r.honest.by_op.len() >= 90,
        "only {} opcodes",
        r.honest.by_op.len()
    );
}
