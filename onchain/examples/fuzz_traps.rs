//! Differential fuzzing of the machine on crafted code and crafted states (see
//! `onchain/tests/fuzz_traps.rs`): `cargo run --release -p opml-onchain
//! --example fuzz_traps -- N [SEED]`; exits 1 on a panic, a proof Rust does
//! not verify to the stepper's post-state, or a disagreement with Solidity.

mod common;
#[allow(dead_code)]
#[path = "../tests/fuzz_traps.rs"]
mod fuzz_traps;

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let (n, seed) = match common::args("fuzz_traps", 10_000, "crafted states") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let start = Instant::now();
    let r = fuzz_traps::run(seed, n as usize);
    r.print();
    common::finish(start, n, "crafted states", seed, r.problems())
}
