//! Generation (issue 25): tokens per second of a generation program on the
//! native path, against onnxruntime generating greedily with the same ONNX
//! and its cache (`benches/ort_generate.py`, the project's venv), and the
//! time to the state hash at steps across the trace (what a dispute asks).
//!
//! ```sh
//! cargo bench --bench generate -- [--quick] [--write docs/BENCHMARKS.md]
//! ```
//!
//! `--quick` (CI) measures the trained `fixtures/gpt_tiny` (16 prompt slots, 8
//! new tokens); a full run adds the GPT-2 124M-shaped model (real
//! configuration, seeded weights) that `fixtures/gpt.py --arch gpt2-124m`
//! writes to `$OPML_CACHE/gpt2`, with a 32-token prompt and 32 new tokens.

use anyhow::{Context, Result, bail};
use opml_vm::artifact::Artifact;
use opml_vm::compiler::generate::{GenerateOptions, Settings, request_inputs, tokens_in};
use opml_vm::compiler::plans::Engine;
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::machine::model::ModelVm;
use opml_vm::trace::{TraceProvider, VmTrace};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

struct Case {
    name: &'static str,
    onnx: PathBuf,
    prompt: usize,
    new: usize,
}

struct Row {
    name: &'static str,
    prompt: usize,
    new: usize,
    steps: u64,
    compile_s: Option<f64>,
    native_s: f64,
    ort2_s: f64,
    ort1_s: f64,
    state_s: f64,
    same_tokens: usize,
}

fn python() -> Result<PathBuf> {
    let p = opml_testkit::devnet::workspace_root().join(".venv/bin/python");
    if !p.exists() {
        bail!("the project's Python env is missing: run `just setup` (or ./dev setup)");
    }
    Ok(p)
}

/// The program, compiled once into the bench's cache.
fn program(case: &Case) -> Result<(Artifact, Option<f64>)> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("bench-generate")
        .join(format!("{}-{}-{}", case.name, case.prompt, case.new));
    if let Ok(a) = Artifact::load(&dir) {
        return Ok((a, None));
    }
    let start = Instant::now();
    let opts = CompileOptions {
        generate: Some(GenerateOptions {
            prompt_tokens: case.prompt,
            new_tokens: case.new,
            top_k_max: 40,
            end_token: None,
        }),
        ..CompileOptions::default()
    };
    let art = compile_file(&case.onnx, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    art.save(&dir)?;
    Ok((art, Some(secs)))
}

/// Prompt ids drawn from a seed (splitmix64), below `vocab`.
fn prompt_ids(n: usize, vocab: u32) -> Vec<u32> {
    (0..n as u64)
        .map(|i| (opml_vm::plan::sample_draw(25, i as u32) % vocab as u64) as u32)
        .collect()
}

fn ort(onnx: &Path, ids: &[u32], new: usize, threads: usize) -> Result<(f64, Vec<u32>)> {
    let script = opml_testkit::devnet::workspace_root().join("benches/ort_generate.py");
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    let out = Command::new(python()?)
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .arg(&script)
        .arg(onnx)
        .args(["--prompt-ids", &ids.join(",")])
        .args(["--new", &new.to_string(), "--threads", &threads.to_string()])
        .output()
        .context("starting benches/ort_generate.py")?;
    if !out.status.success() {
        bail!(
            "ort_generate.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let tokens = v["tokens"]
        .as_array()
        .context("tokens")?
        .iter()
        .map(|t| t.as_u64().unwrap_or(0) as u32)
        .collect();
    Ok((v["median_s"].as_f64().context("median_s")?, tokens))
}

fn run(case: &Case, runs: usize) -> Result<Row> {
    let (art, compile_s) = program(case)?;
    let program = art
        .manifest
        .generation
        .clone()
        .context("a generation program")?;
    let ids = prompt_ids(case.prompt, program.vocab);
    let (vm, warnings) = Engine::Native.model_vm(ModelVm::new(art.clone())?)?;
    if !warnings.is_empty() {
        bail!("plans refused: {warnings:?}");
    }
    let vm = Arc::new(vm);
    let rt = vm.runtime()?;
    let inputs = request_inputs(&program, &ids, &Settings::greedy(case.new as u32))?;
    let region = rt.input_region(&inputs)?;
    let mut times = vec![];
    let mut tokens = vec![];
    for i in 0..=runs {
        let start = Instant::now();
        let (memory, _) = rt.final_memory(&region)?;
        let t = start.elapsed().as_secs_f64();
        let base = art.manifest.outputs.offset as usize;
        tokens = tokens_in(
            &art.manifest,
            &memory[base..base + art.manifest.outputs.size as usize],
        );
        rt.recycle(memory);
        if i > 0 {
            times.push(t); // the first run warms the pooled memory
        }
    }
    times.sort_by(f64::total_cmp);
    let native_s = times[times.len() / 2];
    let (ort2_s, ort_tokens) = ort(&case.onnx, &ids, case.new, 2)?;
    let (ort1_s, _) = ort(&case.onnx, &ids, case.new, 1)?;
    let same_tokens = tokens
        .iter()
        .zip(&ort_tokens)
        .take_while(|(a, b)| a == b)
        .count();
    // states across the trace, one inside token 20's computation when there is one
    let trace = VmTrace::open(vm.clone(), &region)?;
    let steps = art.manifest.steps;
    let mut at = vec![steps / 3, (2 * steps) / 3 + 17];
    if let Some(t) = program.tokens.get(20) {
        at.push(t.start_step + t.steps / 2);
    }
    let mut state_s = 0f64;
    for s in at {
        let start = Instant::now();
        trace.state_hashes(&[s])?;
        state_s = state_s.max(start.elapsed().as_secs_f64());
    }
    Ok(Row {
        name: case.name,
        prompt: case.prompt,
        new: case.new,
        steps,
        compile_s,
        native_s,
        ort2_s,
        ort1_s,
        state_s,
        same_tokens,
    })
}

fn main() -> Result<()> {
    let Some((quick, write)) = opml_testkit::devnet::bench_args() else {
        return Ok(());
    };
    let root = opml_testkit::devnet::workspace_root();
    let mut cases = vec![Case {
        name: "gpt_tiny",
        onnx: root.join("fixtures/gpt_tiny/model.onnx"),
        prompt: 16,
        new: 8,
    }];
    if !quick {
        let cache = std::env::var_os("OPML_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/opml")))
            .context("no cache directory")?;
        let onnx = cache.join("gpt2/model.onnx");
        if onnx.exists() {
            cases.push(Case {
                name: "gpt2-124m",
                onnx,
                prompt: 32,
                new: 32,
            });
        } else {
            // torch is 5 GB: the 124M model is built by hand, and a run without it says so
            eprintln!(
                "NOTE: {} is missing, so the GPT-2 124M row is not measured: build it with `fixtures/gpt.py --arch gpt2-124m --out {}` (torch from fixtures/requirements-torch.txt; see fixtures/README.md)",
                onnx.display(),
                cache.join("gpt2").display()
            );
            if write.is_some() {
                bail!("not writing docs/BENCHMARKS.md without the 124M row");
            }
        }
    }
    let mut out = String::from(
        "| model | prompt + new tokens | steps | native (both cores) | onnxruntime, 2 threads | onnxruntime, 1 thread | native / ort (2 threads) | slowest of 3 state hashes | tokens equal to ort's | compile |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for case in &cases {
        eprintln!("generate: {}", case.name);
        let r = run(case, if quick { 3 } else { 2 })?;
        let rate = |s: f64| format!("{:.1} tok/s ({:.2} s)", r.new as f64 / s, s);
        out.push_str(&format!(
            "| {} | {} + {} | {} | {} | {} | {} | {:.2}x | {:.2} s | {} of {} | {} |\n",
            r.name,
            r.prompt,
            r.new,
            r.steps,
            rate(r.native_s),
            rate(r.ort2_s),
            rate(r.ort1_s),
            r.native_s / r.ort2_s,
            r.state_s,
            r.same_tokens,
            r.new,
            r.compile_s
                .map(|s| format!("{s:.0} s"))
                .unwrap_or("cached".into()),
        ));
    }
    print!("{out}");
    if let Some(p) = write {
        let body = format!(
            "on this 2-core machine kind with `cargo bench --bench generate` (release). Greedy decoding; native runs the whole generation program (prefill and one step per token, the sampler included) on both cores; onnxruntime runs the same ONNX with its cache from Python, argmax in numpy. The state column is `VmTrace::state_hashes` at one step (a third of the trace, two thirds, and inside token 20), what each dissection of a dispute asks. \"Tokens equal\" counts the leading tokens equal to onnxruntime's float greedy ones.\n\n{out}"
        );
        opml_testkit::devnet::write_bench_section(&p, "generate", &body)?;
    }
    Ok(())
}
