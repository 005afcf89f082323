//! Differential fuzzing of the one-step verifier: random in-profile programs
//! (wasm-smith, the integer subset the stepper runs) are stepped in the Rust
//! stepper; at chosen steps of every exported call (the first ones, the last
//! ones with the trap or the halt, the fixed point and a seeded sample in
//! between) the proof is verified in Rust and in the Solidity verifier in
//! revm, honest, with one byte flipped and with one header byte flipped and
//! the pre-state recomputed; the outcomes must be equal.
//! The example `fuzz_osp` runs any number of programs.
//!
//! The program generator is `opml_vm::machine::difftest::generate`, the one
//! the stepper's own differential fuzzer uses.

use opml_onchain::verifier::{EvmVerifier, VerifierError, rust_step};
use opml_vm::machine::difftest::{Rng, STEP_LIMIT, export_calls, generate};
use opml_vm::machine::hash::{hash, tag};
use opml_vm::machine::state::HEADER_BYTES;
use opml_vm::machine::{Committer, Machine, Status, prove};
use std::collections::{BTreeMap, BTreeSet};

/// Steps proven at the start and at the end of every call, and sampled in between.
pub(crate) const HEAD: u64 = 32;
/// See [`HEAD`].
pub(crate) const TAIL: u64 = 8;
/// See [`HEAD`].
pub(crate) const MIDDLE: u64 = 8;

/// The totals of a run.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Programs generated.
    pub(crate) programs: usize,
    /// Programs whose calls were stepped.
    pub(crate) compared: usize,
    /// Programs outside the stepper's subset, by reason.
    pub(crate) skipped: BTreeMap<String, usize>,
    /// Calls stepped, by how they ended (`halted`, `trapped ...`, `still running`).
    pub(crate) calls: BTreeMap<String, usize>,
    /// Honest proofs compared.
    pub(crate) honest: usize,
    /// Tampered proofs compared.
    pub(crate) tampered: usize,
    /// Opcodes of the honest proofs.
    pub(crate) by_op: BTreeMap<&'static str, usize>,
    /// Verdicts on the tampered proofs (`accepted` or the error name).
    pub(crate) tampered_verdicts: BTreeMap<&'static str, usize>,
    /// Largest execution gas of an accepted proof.
    pub(crate) max_gas: u64,
    /// Largest proof in bytes.
    pub(crate) max_proof: usize,
    /// Disagreements.
    pub(crate) mismatch_count: usize,
    /// The first 100 disagreements, described.
    pub(crate) mismatches: Vec<String>,
}

impl Report {
    /// Prints the totals.
    pub(crate) fn print(&self) {
        println!(
            "programs {}: stepped {}, skipped {}; calls {:?}; proofs compared: {} honest, {} tampered; mismatches {}",
            self.programs,
            self.compared,
            self.skipped.values().sum::<usize>(),
            self.calls,
            self.honest,
            self.tampered,
            self.mismatch_count
        );
        println!(
            "  largest proof {} bytes, max execution gas of an accepted step {}",
            self.max_proof, self.max_gas
        );
        println!("  tampered verdicts: {:?}", self.tampered_verdicts);
        println!("  opcodes exercised ({}):", self.by_op.len());
        for (op, n) in &self.by_op {
            println!("    {op:18} {n}");
        }
        for (why, n) in &self.skipped {
            println!("  skipped {n:5}: {why}");
        }
        for m in self.mismatches.iter().take(20) {
            println!("MISMATCH {m}");
        }
    }

    fn mismatch(&mut self, what: impl FnOnce() -> String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < 100 {
            self.mismatches.push(what());
        }
    }

    fn compare(
        &mut self,
        evm: &mut EvmVerifier,
        pre: &[u8; 32],
        proof: &[u8],
        what: impl FnOnce() -> String,
    ) -> Result<[u8; 32], VerifierError> {
        let rust = rust_step(pre, proof);
        let out = evm.run(pre, proof);
        if out.result != rust {
            self.mismatch(|| {
                format!(
                    "{}: rust {rust:?}, evm {:?} (proof 0x{})",
                    what(),
                    out.result,
                    proof.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            });
        } else if rust.is_ok() {
            self.max_gas = self.max_gas.max(out.gas.execution);
        }
        rust
    }
}

/// The steps of a call of `n` steps to prove: the first [`HEAD`], the last
/// [`TAIL`] (with the trap or the halt), [`MIDDLE`] random ones and the fixed
/// point at `n`.
fn chosen_steps(n: u64, rng: &mut Rng) -> BTreeSet<u64> {
    let mut s: BTreeSet<u64> = (0..n.min(HEAD)).chain(n.saturating_sub(TAIL)..=n).collect();
    if n > 0 {
        s.extend((0..MIDDLE).map(|_| rng.next_u64() % n));
    }
    s
}

/// Steps every exported call of every program and compares the chosen steps.
pub(crate) fn run(seed: u64, n: usize) -> Report {
    let mut evm = EvmVerifier::new().expect("deploy the committed OneStepVerifier");
    let mut r = Report::default();
    for i in 0..n {
        let s = seed.wrapping_add(i as u64);
        let mut rng = Rng::new(s);
        r.programs += 1;
        let Some(wasm) = generate(&mut rng) else {
            *r.skipped.entry("generator".into()).or_default() += 1;
            continue;
        };
        let (program, calls) = match export_calls(&wasm, &mut rng) {
            Ok(x) => x,
            Err(e) => {
                let key = e.split([':', '(']).take(2).collect::<Vec<_>>().join(":");
                *r.skipped.entry(key).or_default() += 1;
                continue;
            }
        };
        r.compared += 1;
        for call in calls {
            let fresh = Machine::call(&program, call.func, &call.args);
            let mut end = fresh.clone();
            let steps = end.run(STEP_LIMIT);
            let ending = match end.status {
                Status::Running => "still running".to_string(),
                Status::Halted => "halted".to_string(),
                Status::Trapped(t) => format!("trapped {t:?}"),
            };
            *r.calls.entry(ending).or_default() += 1;
            let base = fresh.step;
            let mut m = fresh;
            let mut c = Committer::new(&program.code);
            for k in chosen_steps(steps, &mut rng) {
                m.run(k - (m.step - base)); // catch up to step k
                let op = m.is_running().then(|| m.code[m.pc as usize].op.name());
                let pre = c.state_hash(&mut m);
                let proof = prove(&mut c, &mut m).encode();
                m.step();
                let post = c.state_hash(&mut m);
                let what = || {
                    format!(
                        "seed {s} export `{}` args {:?} step {k} ({})",
                        call.name,
                        call.args,
                        op.unwrap_or("fixed point")
                    )
                };
                r.honest += 1;
                r.max_proof = r.max_proof.max(proof.len());
                if let Some(op) = op {
                    *r.by_op.entry(op).or_default() += 1;
                }
                let verdict = r.compare(&mut evm, &pre, &proof, what);
                if verdict != Ok(post) {
                    r.mismatch(|| format!("{}: Rust rejects its own proof: {verdict:?}", what()));
                }
                // one byte flipped at a random place
                let mut bad = proof.clone();
                let at = (rng.next_u64() % bad.len() as u64) as usize;
                bad[at] ^= 1 << (rng.next_u64() % 8);
                r.tampered += 1;
                let v = r.compare(&mut evm, &pre, &bad, || {
                    format!("{} byte {at} flipped", what())
                });
                *r.tampered_verdicts
                    .entry(v.as_ref().err().map_or("accepted", |e| e.name()))
                    .or_default() += 1;
                // one header byte flipped, with the pre-state recomputed: a
                // state of its own (a crafted one: odd sizes, depths, counters)
                let mut forged = proof.clone();
                let at = 1 + (rng.next_u64() % HEADER_BYTES as u64) as usize;
                forged[at] ^= 1 << (rng.next_u64() % 8);
                let forged_pre = hash(tag::STATE, &[&forged[1..=HEADER_BYTES]]);
                r.tampered += 1;
                let v = r.compare(&mut evm, &forged_pre, &forged, || {
                    format!("{} header byte {at} flipped, pre-state recomputed", what())
                });
                *r.tampered_verdicts
                    .entry(v.as_ref().err().map_or("accepted", |e| e.name()))
                    .or_default() += 1;
            }
        }
    }
    r
}

#[test]
fn verifier_matches_rust_on_random_programs() {
    let r = run(0x05e9, 500);
    r.print();
    assert!(r.compared >= r.programs / 2, "too many programs skipped");
    assert!(r.honest >= 10_000, "only {} honest proofs", r.honest);
    assert!(
        r.by_op.len() >= 90,
        "only {} opcodes exercised",
        r.by_op.len()
    );
    assert!(
        r.calls.keys().any(|k| k.starts_with("trapped")) && r.calls.contains_key("halted"),
        "calls should both trap and halt: {:?}",
        r.calls
    );
    assert_eq!(
        r.mismatch_count,
        0,
        "mismatches; first: {:#?}",
        &r.mismatches[..r.mismatches.len().min(5)]
    );
}
