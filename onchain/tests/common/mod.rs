//! Shared by the differential tests: the machine tests' fixture helper, and a
//! tally of Rust-versus-EVM comparisons.

#![allow(dead_code)] // each test binary uses a part

#[path = "../../../vm/tests/common/mod.rs"]
mod fixtures;

#[allow(unused_imports)] // the crafted-state fuzzer needs no fixture
pub(crate) use fixtures::fixture_vm;

use opml_onchain::verifier::{EvmVerifier, VerifierError, rust_step};
use std::collections::BTreeMap;

/// Counts of compared proofs and every disagreement.
#[derive(Default)]
pub(crate) struct Tally {
    /// Proofs run through both verifiers.
    pub(crate) compared: usize,
    /// Accepted by both.
    pub(crate) accepted: usize,
    /// Opcode of each compared running step, by name.
    pub(crate) by_op: BTreeMap<&'static str, usize>,
    /// Rejections by contract error name (equal in both when they agree).
    pub(crate) rejections: BTreeMap<&'static str, usize>,
    /// Largest execution gas of an accepted step.
    pub(crate) max_gas: u64,
    /// Disagreements.
    pub(crate) mismatch_count: usize,
    /// The first [`KEEP`] disagreements, described.
    pub(crate) mismatches: Vec<String>,
}

/// Disagreements kept for the report.
const KEEP: usize = 100;

impl Tally {
    /// Runs `proof` from `pre` through both verifiers and records the outcome;
    /// returns the Rust outcome. `op` is the opcode at pc (`None` for a
    /// halted or trapped pre-state); `what` labels a disagreement.
    pub(crate) fn compare(
        &mut self,
        evm: &mut EvmVerifier,
        pre: &[u8; 32],
        proof: &[u8],
        op: Option<&'static str>,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; 32], VerifierError> {
        let rust = rust_step(pre, proof);
        let out = evm.run(pre, proof);
        self.compared += 1;
        if let Some(op) = op {
            *self.by_op.entry(op).or_default() += 1;
        }
        match &rust {
            Ok(_) => self.accepted += 1,
            Err(e) => *self.rejections.entry(e.name()).or_default() += 1,
        }
        if out.result != rust {
            self.mismatch_count += 1;
            if self.mismatches.len() < KEEP {
                self.mismatches.push(format!(
                    "{}: rust {}, evm {}",
                    what(),
                    describe(&rust),
                    describe(&out.result)
                ));
            }
        } else if rust.is_ok() {
            self.max_gas = self.max_gas.max(out.gas.execution);
        }
        rust
    }

    /// Prints the counts and the first disagreements.
    pub(crate) fn print(&self, title: &str) {
        println!(
            "{title}: {} proofs compared ({} accepted), {} mismatches, max execution gas of an accepted step {}",
            self.compared, self.accepted, self.mismatch_count, self.max_gas
        );
        if !self.by_op.is_empty() {
            println!("  opcodes exercised ({}):", self.by_op.len());
            for (op, n) in &self.by_op {
                println!("    {op:18} {n}");
            }
        }
        if !self.rejections.is_empty() {
            println!("  rejections: {:?}", self.rejections);
        }
        for m in self.mismatches.iter().take(20) {
            println!("  MISMATCH {m}");
        }
    }

    /// Fails with the first disagreements when there are any.
    pub(crate) fn assert_no_mismatch(&self, title: &str) {
        assert!(
            self.mismatch_count == 0,
            "{title}: {} of {} proofs got different outcomes from Rust and the EVM; first: {:#?}",
            self.mismatch_count,
            self.compared,
            &self.mismatches[..self.mismatches.len().min(5)]
        );
    }
}

/// `post 0x..` or the error with its arguments.
pub(crate) fn describe(r: &Result<[u8; 32], VerifierError>) -> String {
    match r {
        Ok(post) => format!("post 0x{}", hex(post)),
        Err(e) => format!("{e:?}"),
    }
}

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
