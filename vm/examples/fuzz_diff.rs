//! Differential fuzzing of the stepper against wasmtime on any number of
//! random integer-subset programs.
//!
//! `cargo run --release -p opml-vm --features testkit --example fuzz_diff -- N [SEED]`; exits 1 on
//! any mismatch.

#[allow(dead_code)]
#[path = "../tests/fuzz_diff.rs"]
mod fuzz_diff;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("N: number of programs"))
        .unwrap_or(10_000);
    let seed: u64 = args
        .next()
        .map(|a| a.parse().expect("SEED: a u64"))
        .unwrap_or(0x5eed);
    let start = std::time::Instant::now();
    let r = fuzz_diff::run_programs(seed, n);
    fuzz_diff::print_report(&r);
    println!("{:.1} s", start.elapsed().as_secs_f64());
    for m in r.mismatches.iter().skip(20) {
        println!("MISMATCH {m}");
    }
    if !r.mismatches.is_empty() {
        std::process::exit(1);
    }
}
