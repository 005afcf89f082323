//! The Solidity one-step verifier, run in revm, against the Rust reference
//! (`opml_vm::machine::verify_step`): every step of the smallest fixture,
//! 10,000 sampled steps of every other one, the golden vectors (every opcode
//! and trap), and tampered variants of these proofs. Both must give the same
//! post-state or the same error with the same arguments; the opcodes
//! exercised are printed.

mod common;

use common::{Tally, fixture_vm};
use opml_onchain::verifier::EvmVerifier;
use opml_vm::machine::difftest::Rng;
use opml_vm::machine::hash::{hash, tag};
use opml_vm::machine::state::HEADER_BYTES;
use opml_vm::machine::{Committer, Machine, Op, Status, StepProof, prove};
use std::collections::BTreeSet;

const SMALLEST: &str = "logreg_digits";
const LARGER: &[&str] = &[
    "mlp_digits",
    "cnn_digits",
    "mlp784",
    "minilm_tiny",
    "transformer_block",
];

fn verifier() -> EvmVerifier {
    EvmVerifier::new().expect("deploy the committed OneStepVerifier")
}

/// The opcode at pc while running.
fn op_at(m: &Machine) -> Option<&'static str> {
    m.is_running().then(|| m.code[m.pc as usize].op.name())
}

/// Proves the step from `m`'s state, steps `m` and compares both verifiers on
/// the proof; the Rust verdict must also be the hash of the next state.
fn prove_and_compare(
    evm: &mut EvmVerifier,
    tally: &mut Tally,
    c: &mut Committer,
    m: &mut Machine,
    pre: [u8; 32],
    fixture: &str,
) -> [u8; 32] {
    let op = op_at(m);
    let step = m.step;
    let proof = prove(c, m).encode();
    m.step();
    let post = c.state_hash(m);
    let rust = tally.compare(evm, &pre, &proof, op, || {
        format!("{fixture} step {step} ({})", op.unwrap_or("fixed point"))
    });
    assert_eq!(
        rust,
        Ok(post),
        "{fixture}: Rust rejects its own proof of step {step}"
    );
    post
}

#[test]
fn every_step_of_the_smallest_fixture_agrees() {
    let (vm, region, _) = fixture_vm(SMALLEST);
    let mut m = vm.initial(&region);
    let mut c = vm.committer();
    let mut evm = verifier();
    let mut tally = Tally::default();
    let mut pre = c.state_hash(&mut m);
    loop {
        let running = m.is_running();
        let post = prove_and_compare(&mut evm, &mut tally, &mut c, &mut m, pre, SMALLEST);
        if !running {
            assert_eq!(post, pre, "a halted state is a fixed point");
            break;
        }
        pre = post;
    }
    assert_eq!(m.status, Status::Halted);
    let steps = vm.artifact().manifest.steps as usize;
    tally.print(&format!("{SMALLEST}: every step"));
    assert_eq!(tally.compared, steps + 1, "every step and the fixed point");
    assert_eq!(tally.accepted, tally.compared);
    tally.assert_no_mismatch(SMALLEST);
}

/// Ten windows of 1,000 consecutive steps per fixture, at seeded random
/// starts, the last one ending with the fixed point after the halt.
#[test]
fn sampled_steps_of_every_larger_fixture_agree() {
    const WINDOWS: u64 = 10;
    const PER_WINDOW: u64 = 1_000;
    let mut evm = verifier();
    let mut all = Tally::default();
    for (k, &f) in LARGER.iter().enumerate() {
        let (vm, region, _) = fixture_vm(f);
        let n = vm.artifact().manifest.steps;
        let mut rng = Rng::new(0x05e9_0000 + k as u64);
        let mut starts: Vec<u64> = (0..WINDOWS - 1)
            .map(|_| rng.next_u64() % (n - PER_WINDOW))
            .collect();
        starts.push(n - PER_WINDOW + 1);
        let mut tally = Tally::default();
        for start in starts {
            let mut m = vm.state_at(&region, start).unwrap();
            let mut c = vm.committer();
            let mut pre = c.state_hash(&mut m);
            for _ in 0..PER_WINDOW {
                pre = prove_and_compare(&mut evm, &mut tally, &mut c, &mut m, pre, f);
            }
        }
        tally.print(&format!("{f}: {WINDOWS} windows of {PER_WINDOW} steps"));
        assert_eq!(tally.compared as u64, WINDOWS * PER_WINDOW);
        for (op, n) in tally.by_op {
            *all.by_op.entry(op).or_default() += n;
        }
        all.compared += tally.compared;
        all.mismatch_count += tally.mismatch_count;
        all.mismatches.extend(tally.mismatches);
    }
    let ops: BTreeSet<&str> = all.by_op.keys().copied().collect();
    println!(
        "opcodes covered by the larger fixtures: {} {ops:?}",
        ops.len()
    );
    all.assert_no_mismatch("larger fixtures");
    assert!(ops.contains("halt") && ops.contains("call") && ops.contains("return"));
}

/// Every kind of tampering (see [`tamper`]) on one step per opcode of the smallest fixture
/// (and on the halted fixed point). Both verifiers must agree on every variant.
#[test]
fn tampered_proofs_get_the_same_verdict() {
    let (vm, region, _) = fixture_vm(SMALLEST);
    let mut m = vm.initial(&region);
    let mut c = vm.committer();
    let mut evm = verifier();
    let mut tally = Tally::default();
    let mut seen: BTreeSet<Op> = BTreeSet::new();
    let mut steps = 0;
    loop {
        let running = m.is_running();
        if !running || seen.insert(m.code[m.pc as usize].op) {
            let op = op_at(&m);
            let pre = c.state_hash(&mut m);
            let proof = prove(&mut c, &mut m).encode();
            tamper(&mut evm, &mut tally, &pre, &proof, op, m.step);
            steps += 1;
        }
        if !running {
            break;
        }
        m.step();
    }
    tally.print(&format!("{SMALLEST}: tampered proofs of {steps} steps"));
    tally.assert_no_mismatch("tampered proofs");
    // the variants reach every check of the verifier
    let kinds: BTreeSet<&str> = tally.rejections.keys().copied().collect();
    for k in [
        "ProofTruncated",
        "ProofVersion",
        "ProofTrailing",
        "PreStateMismatch",
        "BadInstruction",
        "CodeMismatch",
        "StackMismatch",
        "FrameMismatch",
        "LocalMismatch",
        "MemoryMismatch",
    ] {
        assert!(
            kinds.contains(k),
            "no tampered proof was rejected with {k}: {kinds:?}"
        );
    }
    assert!(
        tally.accepted > 0,
        "some tampered headers are states of their own"
    );
}

/// Compares both verifiers on variants of an honest proof: each byte
/// flipped, each byte of the header flipped with the pre-state recomputed
/// from the tampered header (so the checks after the pre-state one run),
/// every truncation, appended bytes and other versions.
fn tamper(
    evm: &mut EvmVerifier,
    tally: &mut Tally,
    pre: &[u8; 32],
    proof: &[u8],
    op: Option<&'static str>,
    step: u64,
) {
    let label = op.unwrap_or("fixed point");
    let mut variants: Vec<(String, [u8; 32], Vec<u8>)> = vec![];
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        bad[i] ^= 1 << (i % 8);
        variants.push((format!("byte {i} flipped"), *pre, bad.clone()));
        if (1..=HEADER_BYTES).contains(&i) {
            let forged = hash(tag::STATE, &[&bad[1..=HEADER_BYTES]]);
            variants.push((
                format!("header byte {i} flipped, pre-state recomputed"),
                forged,
                bad,
            ));
        }
    }
    for len in 0..proof.len() {
        variants.push((format!("truncated to {len}"), *pre, proof[..len].to_vec()));
    }
    for extra in [&[0u8][..], &[0xff; 32][..]] {
        let mut long = proof.to_vec();
        long.extend_from_slice(extra);
        variants.push((format!("{} bytes appended", extra.len()), *pre, long));
    }
    for v in [0u8, 2, 0xff] {
        let mut bad = proof.to_vec();
        bad[0] = v;
        variants.push((format!("version {v}"), *pre, bad));
    }
    for (what, pre, bad) in &variants {
        let _ = tally.compare(evm, pre, bad, None, || {
            format!("step {step} ({label}), {what}")
        });
    }
    *tally.by_op.entry(op.unwrap_or("fixed point")).or_default() += 1;
}

/// The golden vectors of `vm/tests/opcodes.rs` (small programs that run every
/// opcode, `nop` and every trap included) in both verifiers, and the tampered
/// variants of one vector per opcode and per kind of ending.
#[test]
fn golden_vectors_and_their_tampered_variants_agree() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/test/vectors/golden.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("cannot read {path} ({e}); it is written by `OPML_BLESS=1 cargo test -p opml-vm --test opcodes`")
    });
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let unhex = |v: &serde_json::Value| -> Vec<u8> {
        let s = v.as_str().unwrap().trim_start_matches("0x");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut evm = verifier();
    let mut honest = Tally::default();
    let mut tampered = Tally::default();
    let mut picked: BTreeSet<(Option<Op>, u8)> = BTreeSet::new();
    let vectors = json["vectors"].as_array().unwrap();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let pre: [u8; 32] = unhex(&v["pre"]).try_into().unwrap();
        let post: [u8; 32] = unhex(&v["post"]).try_into().unwrap();
        let proof = unhex(&v["proof"]);
        let decoded = StepProof::decode(&proof).unwrap();
        let op = decoded.witness.as_ref().map(|w| w.instr.op);
        let rust = honest.compare(&mut evm, &pre, &proof, op.map(Op::name), || {
            name.to_string()
        });
        assert_eq!(rust, Ok(post), "{name}: the vector does not verify in Rust");
        // the status after the step: 0 running, 1 halted, 2 trapped
        let mut trapped = decoded.header;
        trapped.status = 2;
        trapped.step += 1;
        let ending = if trapped.hash() == post {
            2
        } else {
            u8::from(post != pre && op == Some(Op::Halt))
        };
        if picked.insert((op, ending)) {
            tamper(
                &mut evm,
                &mut tampered,
                &pre,
                &proof,
                op.map(Op::name),
                decoded.header.step,
            );
        }
    }
    honest.print("golden vectors");
    tampered.print(&format!(
        "tampered variants of {} golden vectors",
        picked.len()
    ));
    honest.assert_no_mismatch("golden vectors");
    tampered.assert_no_mismatch("tampered golden vectors");
    let missing: Vec<&str> = Op::ALL
        .iter()
        .map(|op| op.name())
        .filter(|op| !honest.by_op.contains_key(op))
        .collect();
    assert!(
        missing.is_empty(),
        "opcodes without a golden vector: {missing:?}"
    );
    let kinds: BTreeSet<&str> = tampered.rejections.keys().copied().collect();
    assert_eq!(
        kinds.len(),
        11,
        "every contract error is reached: {kinds:?}"
    );
}
