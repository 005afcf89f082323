//! Differential fuzzing of the Solidity one-step verifier against the Rust
//! reference on random programs (see `onchain/tests/fuzz_osp.rs`):
//! `cargo run --release -p opml-onchain --example fuzz_osp -- N [SEED]`; exits 1
//! on any disagreement.

#[allow(dead_code)]
#[path = "../tests/fuzz_osp.rs"]
mod fuzz_osp;

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let parse = |a: Option<String>, default: u64, what: &str| -> Result<u64, String> {
        a.map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("{what} must be a number, got `{s}`"))
        })
    };
    let (n, seed) = match (
        parse(args.next(), 1000, "N (programs)"),
        parse(args.next(), 1, "SEED"),
    ) {
        (Ok(n), Ok(seed)) => (n, seed),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}\nusage: fuzz_osp [N] [SEED]");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let r = fuzz_osp::run(seed, n as usize);
    r.print();
    println!(
        "{n} programs from seed {seed} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if r.mismatch_count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
