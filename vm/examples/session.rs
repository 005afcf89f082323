//! Times a trace session on an artifact: open, rounds of 17 sorted states
//! narrowing like a dissection game, and proofs (see docs/BENCHMARKS.md).
//!
//! `cargo run --release -p opml-vm --example session -- ARTIFACT INPUT.npy...`

use opml_vm::artifact::Artifact;
use opml_vm::machine::model::ModelVm;
use opml_vm::machine::verify_step;
use opml_vm::runtime::Runtime;
use opml_vm::trace::{TraceProvider, VmTrace};
use std::sync::Arc;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> opml_vm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let art = Artifact::load(args[0].as_ref())?;
    let inputs: Vec<_> = args[1..]
        .iter()
        .map(|p| opml_vm::npy::read(p.as_ref()))
        .collect::<opml_vm::Result<_>>()?;
    let rt = Runtime::new(art.clone(), false)?;
    let region = rt.input_region(&inputs)?;
    let t = Instant::now();
    rt.run_region(&region)?;
    let run = t.elapsed().as_secs_f64();
    let vm = Arc::new(ModelVm::new(art)?);
    let t = Instant::now();
    let trace = VmTrace::open(vm, &region)?;
    let open = t.elapsed().as_secs_f64();
    let n = trace.claim().steps;
    println!(
        "steps {n}, run {run:.2}s, open {open:.2}s ({:.2}x run)",
        open / run
    );
    // where the first round goes: walking to each point, then hashing there
    // (instruction_at seeks without cloning the machine)
    if std::env::var_os("OPML_SESSION_SPLIT").is_some() {
        let points: Vec<u64> = (0..=16).map(|k| n * k / 16).collect();
        let (mut walk, mut hash) = (0.0, 0.0);
        for &p in &points {
            let t = Instant::now();
            trace.instruction_at(p)?;
            walk += t.elapsed().as_secs_f64();
            let t = Instant::now();
            trace.state_hashes(&[p])?;
            let dt = t.elapsed().as_secs_f64();
            hash += dt;
            print!(" {dt:.2}");
        }
        println!();
        println!("first round split: walking {walk:.3}s, hashing {hash:.3}s");
    }
    let (mut lo, mut hi) = (0u64, n);
    let mut seed = 0x9e3779b97f4a7c15u64;
    while hi - lo > 1 {
        let points: Vec<u64> = (0..=16).map(|k| lo + (hi - lo) * k / 16).collect();
        let t = Instant::now();
        trace.state_hashes(&points)?;
        let dt = t.elapsed().as_secs_f64();
        println!("interval {:>12} steps: 17 states in {dt:.3}s", hi - lo);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let k = seed % 16;
        (lo, hi) = (
            points[k as usize],
            points[k as usize + 1].max(points[k as usize] + 1),
        );
        if hi - lo <= 16 {
            break;
        }
    }
    for s in [lo, n / 3, n - 1] {
        let t = Instant::now();
        let proof = trace.step_proof(s)?;
        let dt = t.elapsed().as_secs_f64();
        let pre = trace.state_hashes(&[s])?[0];
        let post = verify_step(&pre, &proof).expect("the proof verifies");
        assert_eq!(post, trace.state_hashes(&[s + 1])?[0]);
        println!("proof of step {s}: {dt:.3}s, {} bytes", proof.len());
    }
    println!("peak memory {:.0} MB", peak_rss_mb());
    Ok(())
}
