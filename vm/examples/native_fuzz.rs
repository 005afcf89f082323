//! Differential fuzzing of the native executor against wasmtime on random
//! models: `cargo run --release -p opml-vm --features testkit --example
//! native_fuzz -- N [SEED]`; exits 1 on any difference.

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse().expect("N: number of models"))
        .unwrap_or(1000);
    let seed: u64 = args
        .next()
        .map(|a| a.parse().expect("SEED: a u64"))
        .unwrap_or(1);
    let start = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(n);
    let mut failures = vec![];
    let (mut calls, mut native, mut merged) = (0, 0, 0);
    for s in seed..seed + n {
        let r = opml_vm::randmodel::run(s, 1);
        calls += r.calls;
        native += r.native_calls;
        merged += r.merged;
        failures.extend(r.failures);
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{n} models from seed {seed}: {calls} calls, {native} native, {merged} merged, {} failing, {:.1} s",
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    for f in failures.iter().take(20) {
        println!("FAIL {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
