//! Differential fuzzing of the Solidity one-step verifier against the Rust
//! reference on random programs (see `onchain/tests/fuzz_osp.rs`):
//! `cargo run --release -p opml-onchain --example fuzz_osp -- N [SEED]`; exits 1
//! on any disagreement.

mod common;
#[allow(dead_code)]
#[path = "../tests/fuzz_osp.rs"]
mod fuzz_osp;

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let (n, seed) = match common::args("fuzz_osp", 1000, "programs") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let start = Instant::now();
    let r = fuzz_osp::run(seed, n as usize);
    r.print();
    common::finish(start, n, "programs", seed, r.mismatch_count)
}
