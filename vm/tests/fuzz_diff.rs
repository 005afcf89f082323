//! Differential fuzzing: random integer-subset programs from wasm-smith, run in
//! wasmtime and in the stepper, must agree on every call (see
//! `opml_vm::machine::difftest`). The example `fuzz_diff` runs any number.
//!
//! The generator lives in `opml_vm::machine::difftest`, shared with the
//! Solidity verifier's fuzzer.

use opml_vm::machine::difftest::{self, Report, generate};

/// Compares `n` generated programs starting at `seed`.
pub(crate) fn run_programs(seed: u64, n: usize) -> Report {
    difftest::run_programs_with(seed, n, generate)
}

/// Prints a report's counts.
pub(crate) fn print_report(r: &Report) {
    println!(
        "programs {}: compared {}, skipped {}; calls {} ({} trapped), {} stepper steps; mismatches {}",
        r.programs,
        r.compared,
        r.skipped,
        r.calls,
        r.traps,
        r.steps,
        r.mismatches.len()
    );
    for (kind, n) in &r.trap_kinds {
        println!("  trapped {n:5}: {kind}");
    }
    for (why, n) in &r.skip_reasons {
        println!("  skipped {n:5}: {why}");
    }
    for m in r.mismatches.iter().take(20) {
        println!("MISMATCH {m}");
    }
}

#[test]
fn stepper_matches_wasmtime_on_random_programs() {
    let r = run_programs(0x5eed, 2000);
    print_report(&r);
    assert!(r.compared >= r.programs / 2, "too many programs skipped");
    assert!(r.mismatches.is_empty(), "{} mismatches", r.mismatches.len());
}
