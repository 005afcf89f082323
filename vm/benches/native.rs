//! Where the native executor's time goes: each call of `run` timed natively
//! (one thread and every core) and in wasmtime, summed per layer kind (the
//! ONNX operators the layer fuses), for one model.
//!
//! ```text
//! cargo bench -p opml-vm --bench native -- [--quick] [--minilm DIR] [--runs N]
//! ```
//!
//! Measures all-MiniLM-L6-v2 at sequence length 128 from
//! `$OPML_CACHE/minilm/seq128/onnx` (the inference bench builds it there), or
//! the MiniLM fixture in `--minilm DIR`; `--quick` measures the committed
//! CI-sized `fixtures/minilm_tiny` so CI keeps this bench running. A call
//! without a verified plan runs in wasmtime in the native columns too, and is
//! marked. Unknown arguments (cargo adds `--bench`) are ignored.

use anyhow::{Context, Result, bail};
use opml_vm::compiler::compile_file;
use opml_vm::compiler::plans::accelerate;
use opml_vm::native::{Executor, Isa};
use opml_vm::npy;
use opml_vm::runtime::Runtime;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    dir: PathBuf,
    runs: usize,
}

fn parse_args() -> Result<Args> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dir = None;
    let mut quick = false;
    let mut runs = 5;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--minilm" => {
                dir = Some(PathBuf::from(
                    it.next().context("`--minilm` needs a directory")?,
                ))
            }
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .context("`--runs` needs a count")?
            }
            _ => {}
        }
    }
    let dir = match (dir, quick) {
        (Some(d), _) => d,
        (None, true) => {
            runs = 1;
            root.join("fixtures/minilm_tiny")
        }
        (None, false) => {
            let cache = std::env::var_os("OPML_CACHE")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/opml")))
                .context("neither OPML_CACHE nor HOME is set")?;
            cache.join("minilm/seq128/onnx")
        }
    };
    if !dir.join("model.onnx").is_file() {
        bail!(
            "{} has no model.onnx: run the inference bench once (it builds MiniLM there), or `.venv/bin/python fixtures/minilm.py --seq 128 --out {}`",
            dir.display(),
            dir.display()
        );
    }
    Ok(Args { dir, runs })
}

/// Per layer kind: calls, and time per engine.
#[derive(Default)]
struct Kind {
    calls: usize,
    planned: bool,
    unplanned: bool,
    times: [Duration; 3],
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let args = parse_args()?;
    let art = compile_file(&args.dir.join("model.onnx"), &Default::default())?;
    let inputs: Vec<_> = art
        .manifest
        .inputs
        .tensors
        .iter()
        .map(|t| npy::read(&args.dir.join(format!("input_{}.npy", t.name))))
        .collect::<opml_vm::Result<_>>()?;
    let kind_of: BTreeMap<u32, String> = art
        .manifest
        .layers
        .iter()
        .filter_map(|l| Some((l.function?, l.ops.join("+"))))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wasm = Runtime::new(art.clone(), false)?;
    let region = wasm.input_region(&inputs)?;
    let calls = art.manifest.call_args();
    let mut kinds: BTreeMap<String, Kind> = BTreeMap::new();
    for (engine, threads) in [(0, 1), (1, 1), (2, cores)] {
        let accelerated = if engine == 0 {
            None
        } else {
            let executor = Arc::new(Executor::new(threads, Isa::detect())?);
            Some(accelerate(Runtime::new(art.clone(), false)?, executor)?.0)
        };
        for _ in 0..args.runs {
            // a product's segments run as one call: the time of the group goes to its kind
            let mut last = Instant::now();
            let mut record = |i: usize, planned: bool| {
                let now = Instant::now();
                let k = kinds.entry(kind_of[&calls[i].0].clone()).or_default();
                k.times[engine] += now - last;
                if engine == 1 {
                    k.planned |= planned;
                    k.unplanned |= !planned;
                }
                last = Instant::now();
            };
            match &accelerated {
                None => {
                    wasm.run_calls(&region, &calls, |i, _| {
                        record(i, false);
                        Ok(())
                    })?;
                }
                Some(rt) => {
                    let (plans, executor) = rt.native().context("accelerated")?;
                    rt.run_calls_native(&region, &calls, plans, executor, true, |i, _| {
                        record(i, plans.plan(calls[i].0).is_some());
                        Ok(())
                    })?;
                }
            }
        }
    }
    for (f, _) in &calls {
        kinds.entry(kind_of[f].clone()).or_default().calls += 1;
    }
    let runs = args.runs as f64;
    let total: [f64; 3] = std::array::from_fn(|e| {
        kinds
            .values()
            .map(|k| k.times[e].as_secs_f64())
            .sum::<f64>()
            / runs
    });
    println!(
        "# Native executor profile: {} ({} calls, {}; mean of {} runs)\n",
        args.dir.display(),
        calls.len(),
        Isa::detect().name(),
        args.runs
    );
    println!(
        "| layer kind | calls | native | wasmtime | native 1 thread | share | native {cores} threads |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    let mut rows: Vec<_> = kinds.iter().collect();
    rows.sort_by(|a, b| b.1.times[1].cmp(&a.1.times[1]));
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / runs;
    for (name, k) in rows {
        println!(
            "| {name} | {} | {} | {:.2} ms | {:.2} ms | {:.1}% | {:.2} ms |",
            k.calls,
            match (k.planned, k.unplanned) {
                (true, false) => "yes",
                (true, true) => "partly",
                _ => "**no** (wasmtime)",
            },
            ms(k.times[0]),
            ms(k.times[1]),
            100.0 * k.times[1].as_secs_f64() / runs / total[1],
            ms(k.times[2]),
        );
    }
    println!(
        "| **total** | {} | | {:.2} ms | {:.2} ms | 100% | {:.2} ms |",
        calls.len(),
        total[0] * 1e3,
        total[1] * 1e3,
        total[2] * 1e3
    );
    Ok(())
}
