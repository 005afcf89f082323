//! Conformance against the ONNX backend node tests.
//!
//! The tests live in `fixtures/onnx-node/` (one directory per test: `model.onnx`
//! and `test_data_set_*/{input,output}_*.pb`), listed with their ops in
//! `fixtures/onnx-node/index.json`. Entries marked `excluded` there (unsupported
//! element types, ops outside the supported set) are reported as skips with the
//! index's reason.
//!
//! Each case is compiled with [`compile_bytes`] and default options (Q16, no
//! calibration), run in the [`Runtime`], and every output is compared with the
//! expected tensor.
//!
//! # Parameters bound as constants
//!
//! opML compiles a model with its weights: convolution weights, normalization
//! parameters, Clip bounds, Pow exponents, axes, target shapes and Slice
//! parameters must be known at compile time. The node tests feed these as
//! graph inputs, so a graph input that feeds one of the [`parameter_slots`] of
//! a node is turned into an initializer holding the data set's value before
//! compiling. Every other input (the data) stays a runtime input, with its
//! shape bound to the data set's shape (`--input-shape`).
//!
//! # Tolerance
//!
//! With `F` fractional bits (16 by default) one unit is `u = 2^-F`. A real
//! (float) output element passes when
//!
//! ```text
//! |actual - expected| <= max(ATOL_UNITS * u, RTOL * |expected|)
//! ```
//!
//! with `ATOL_UNITS = 8` (so `atol = 8 * 2^-16 ≈ 1.22e-4`) and `RTOL = 1e-3`.
//! The absolute term covers input quantization (half a unit per input), the
//! rounding of every rescale, and the interpolation error of the lookup
//! tables; the relative term covers values of large magnitude (exp, pow,
//! reductions over many elements), whose error grows with the value.
//! Integer outputs (int64, bool) must match exactly.
//!
//! A case whose expected float outputs or float inputs lie outside the
//! comfortably representable range `|x| <= 32767` (Q16 holds `±32768`) is a
//! skip with reason "values exceed the Q16 range"; so is a case with non-finite
//! expected values. Integer values beyond `i32` are a skip as well.

use crate::artifact::Artifact;
use crate::artifact::{DType, Kind};
use crate::compiler::{CompileOptions, compile_bytes};
use crate::npy::Tensor;
use crate::runtime::Runtime;
use ndarray::ArrayD;
use prost::Message;
use std::path::{Path, PathBuf};

/// Absolute tolerance in units of the last fractional bit.
pub const ATOL_UNITS: f64 = 8.0;
/// Relative tolerance.
pub const RTOL: f64 = 1e-3;
/// Largest magnitude of a real value a case may use.
pub const MAX_ABS: f64 = 32767.0;

/// The outcome of one conformance case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseResult {
    /// Every output within tolerance; the largest absolute error seen.
    Pass {
        /// Largest absolute error over all float outputs (0 for integer-only).
        max_err: f64,
    },
    /// A compile error, runtime error, or an output outside tolerance.
    Fail(String),
    /// Not run (excluded by the index, or values the format cannot hold).
    Skip(String),
}

impl CaseResult {
    /// True for [`CaseResult::Pass`].
    pub fn is_pass(&self) -> bool {
        matches!(self, CaseResult::Pass { .. })
    }

    /// True for [`CaseResult::Fail`].
    pub fn is_fail(&self) -> bool {
        matches!(self, CaseResult::Fail(_))
    }

    /// True for [`CaseResult::Skip`].
    pub fn is_skip(&self) -> bool {
        matches!(self, CaseResult::Skip(_))
    }
}

/// One case of the suite with its result.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    /// Test name (`test_relu`).
    pub name: String,
    /// The op the test is about (the index's `group`).
    pub group: String,
    /// Ops used by the model.
    pub ops: Vec<String>,
    /// The outcome.
    pub result: CaseResult,
}

/// One entry of `index.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct IndexEntry {
    /// Test name.
    pub name: String,
    /// The op the test is about.
    #[serde(default)]
    pub group: String,
    /// Ops used by the model.
    #[serde(default)]
    pub ops: Vec<String>,
    /// Excluded from the run.
    #[serde(default)]
    pub excluded: bool,
    /// Why it is excluded.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Reads `index.json` in `root`.
pub fn read_index(root: &Path) -> crate::Result<Vec<IndexEntry>> {
    let path = root.join("index.json");
    let text = std::fs::read_to_string(&path).map_err(|e| crate::Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        crate::Error::BadInput(format!(
            "`{}` is not a valid test index ({e}); re-export the node tests",
            path.display()
        ))
    })
}

fn read_proto(path: &Path) -> Result<(tract_onnx::pb::TensorProto, ArrayD<f64>, DType), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let t = tract_onnx::pb::TensorProto::decode(&bytes[..])
        .map_err(|e| format!("`{}` is not a TensorProto: {e}", path.display()))?;
    let (arr, dt) = crate::compiler::onnx::tensor_from_proto(&t)
        .map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok((t, arr, dt))
}

/// Files `prefix_<i>.pb` in `dir`, in index order.
fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    for i in 0.. {
        let p = dir.join(format!("{prefix}_{i}.pb"));
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out
}

fn data_sets(dir: &Path) -> Vec<PathBuf> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
                })
                .collect()
        })
        .unwrap_or_default();
    sets.sort();
    sets
}

fn out_of_range(values: &ArrayD<f64>, kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Fixed => {
            if values.iter().any(|x| !x.is_finite()) {
                Some("non-finite values (inf/NaN) have no fixed-point representation")
            } else if values.iter().any(|x| x.abs() > MAX_ABS) {
                Some("values exceed the Q16 range")
            } else {
                None
            }
        }
        Kind::Int => values
            .iter()
            .any(|&x| x < i32::MIN as f64 || x > i32::MAX as f64)
            .then_some("integer values exceed the i32 range"),
    }
}

/// Input slots the compiler needs as compile-time constants: weights,
/// normalization parameters, bounds, exponents, axes, shapes and slice
/// parameters. The node tests feed them as graph inputs; in a deployed model
/// they are initializers, so the harness binds them as such.
pub fn parameter_slots(op: &str) -> &'static [usize] {
    match op {
        "Conv" | "LayerNormalization" | "Clip" => &[1, 2],
        "BatchNormalization" => &[1, 2, 3, 4],
        "Gemm" => &[2],
        "Pow" | "Reshape" | "Expand" | "Squeeze" | "Unsqueeze" | "Tile" => &[1],
        op if op.starts_with("Reduce") => &[1],
        "Slice" => &[1, 2, 3, 4],
        "Pad" => &[1, 2, 3],
        _ => &[],
    }
}

type Data = Vec<(tract_onnx::pb::TensorProto, ArrayD<f64>, DType)>;

/// Compiles and runs the test in `dir` and compares its outputs.
///
/// Graph inputs that feed a [`parameter_slots`] position are bound as
/// initializers with the data set's value; the others are runtime inputs,
/// with their shapes bound to the data set's shapes.
pub fn run_case(dir: &Path) -> CaseResult {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let model_path = dir.join("model.onnx");
    let bytes = match std::fs::read(&model_path) {
        Ok(b) => b,
        Err(e) => return CaseResult::Fail(format!("cannot read `{}`: {e}", model_path.display())),
    };
    let model = match crate::compiler::onnx::decode_model(&bytes, &name) {
        Ok(m) => m,
        Err(e) => return CaseResult::Fail(format!("compile error: {e}")),
    };
    let graph = model.graph.as_ref().expect("checked by decode_model");
    let inits: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let input_names: Vec<String> = graph
        .input
        .iter()
        .filter(|vi| !inits.contains(vi.name.as_str()))
        .map(|vi| vi.name.clone())
        .collect();
    let bound: std::collections::HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| {
            parameter_slots(&n.op_type)
                .iter()
                .filter_map(|&i| n.input.get(i).cloned())
        })
        .filter(|i| input_names.contains(i))
        .collect();
    let sets = data_sets(dir);
    if sets.is_empty() {
        return CaseResult::Fail(format!(
            "`{}` has no test_data_set_* directory",
            dir.display()
        ));
    }
    // Load all data first so range skips are decided before compiling.
    let mut loaded: Vec<(Data, Data)> = vec![];
    for set in &sets {
        let read_all = |prefix: &str| -> Result<Data, String> {
            numbered(set, prefix)
                .iter()
                .map(|p| read_proto(p))
                .collect()
        };
        let (inputs, outputs) = match (read_all("input"), read_all("output")) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => return CaseResult::Fail(e),
        };
        if inputs.len() != input_names.len() {
            return CaseResult::Fail(format!(
                "the model has {} inputs but the data set has {}",
                input_names.len(),
                inputs.len()
            ));
        }
        for (_, arr, dt) in inputs.iter().chain(&outputs) {
            if let Some(reason) = out_of_range(arr, dt.kind()) {
                return CaseResult::Skip(reason.into());
            }
        }
        loaded.push((inputs, outputs));
    }
    let mut max_err = 0.0f64;
    for (set, (inputs, outputs)) in sets.iter().zip(loaded) {
        let set_name = set.file_name().unwrap().to_string_lossy().into_owned();
        let mut model = model.clone();
        let mut opts = CompileOptions::default();
        let mut runtime_inputs = vec![];
        for (input, (proto, arr, _)) in input_names.iter().zip(inputs) {
            if bound.contains(input) {
                let mut t = proto;
                t.name = input.clone();
                model.graph.as_mut().unwrap().initializer.push(t);
            } else {
                opts.input_shapes
                    .inputs
                    .insert(input.clone(), arr.shape().to_vec());
                runtime_inputs.push((input.clone(), arr));
            }
        }
        let bytes = model.encode_to_vec();
        let artifact = match compile_bytes(&bytes, &name, &opts) {
            Ok(a) => a,
            Err(e) => return CaseResult::Fail(format!("compile error: {e}")),
        };
        let unit = artifact.manifest.format().resolution();
        let runtime = match Runtime::new(artifact, false) {
            Ok(r) => r,
            Err(e) => return CaseResult::Fail(format!("runtime error: {e}")),
        };
        let tensors = match to_tensors(runtime.artifact(), runtime_inputs) {
            Ok(t) => t,
            Err(e) => return CaseResult::Fail(format!("{set_name}: {e}")),
        };
        let run = match runtime.run(&tensors) {
            Ok(r) => r,
            Err(e) => return CaseResult::Fail(format!("{set_name}: {e}")),
        };
        if let Err(e) = native_matches(&runtime, &tensors) {
            return CaseResult::Fail(format!("{set_name}: native executor: {e}"));
        }
        if run.outputs.len() != outputs.len() {
            return CaseResult::Fail(format!(
                "{set_name}: the model produced {} outputs but {} are expected",
                run.outputs.len(),
                outputs.len()
            ));
        }
        for (got, (_, want, _)) in run.outputs.iter().zip(&outputs) {
            if got.shape != want.shape() {
                return CaseResult::Fail(format!(
                    "{set_name}: output `{}` has shape {:?}, expected {:?}",
                    got.name,
                    got.shape,
                    want.shape()
                ));
            }
            match compare(got.dtype.kind(), &got.values, want, unit) {
                Ok(e) => max_err = max_err.max(e),
                Err(detail) => {
                    return CaseResult::Fail(format!(
                        "{set_name}: output `{}`: {detail}",
                        got.name
                    ));
                }
            }
        }
    }
    CaseResult::Pass { max_err }
}

/// Every call of `run` with the planned functions run natively leaves the
/// memory wasmtime leaves, and every recorded plan ties to its function.
fn native_matches(runtime: &Runtime, tensors: &[crate::npy::Tensor]) -> Result<(), String> {
    let art = runtime.artifact();
    let (plans, warnings) =
        crate::compiler::plans::verify_plans(&art.wasm, &art.manifest, art.memory.len())
            .map_err(|e| e.to_string())?;
    let executor = crate::native::Executor::shared().map_err(|e| e.to_string())?;
    if let Some(w) = warnings.first() {
        return Err(w.clone());
    }
    let region = runtime.input_region(tensors).map_err(|e| e.to_string())?;
    let calls = art.manifest.call_args();
    let mut expected = vec![];
    runtime
        .run_calls(&region, &calls, |_, m| {
            expected.push(blake3::hash(m));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let mut differs = None;
    runtime
        .run_calls_native(&region, &calls, &plans, &executor, false, |i, m| {
            if differs.is_none() && blake3::hash(m) != expected[i] {
                differs = Some(i);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    match differs {
        Some(i) => Err(format!(
            "the memory after call {i} (function {}) differs from wasmtime's",
            calls[i].0
        )),
        None => Ok(()),
    }
}

/// Tolerance of one expected real value (see the module doc).
pub fn tolerance(expected: f64, unit: f64) -> f64 {
    (ATOL_UNITS * unit).max(RTOL * expected.abs())
}

/// Compares one output; `Ok(max abs error)` or the worst mismatch.
fn compare(kind: Kind, got: &[f64], want: &ArrayD<f64>, unit: f64) -> Result<f64, String> {
    let mut max_err = 0.0f64;
    let mut worst: Option<(usize, f64, f64, f64)> = None; // (index, got, want, err/tol)
    let mut bad = 0usize;
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let err = (g - w).abs();
        let tol = match kind {
            Kind::Fixed => tolerance(w, unit),
            Kind::Int => 0.0,
        };
        max_err = max_err.max(err);
        if err > tol {
            bad += 1;
            let ratio = if tol > 0.0 { err / tol } else { f64::INFINITY };
            if worst.is_none_or(|w| ratio > w.3 || (ratio == w.3 && err > (w.1 - w.2).abs())) {
                worst = Some((i, g, w, ratio));
            }
        }
    }
    match worst {
        None => Ok(max_err),
        Some((i, g, w, _)) => {
            let what = match kind {
                Kind::Fixed => format!(
                    "max abs error {max_err:.3e}; {bad}/{} elements off, worst at [{i}]: got {g}, expected {w} (tolerance {:.2e})",
                    got.len(),
                    tolerance(w, unit)
                ),
                Kind::Int => format!(
                    "{bad}/{} integer elements differ, first worst at [{i}]: got {g}, expected {w}",
                    got.len()
                ),
            };
            Err(what)
        }
    }
}

fn to_tensors(
    artifact: &Artifact,
    inputs: Vec<(String, ArrayD<f64>)>,
) -> Result<Vec<Tensor>, String> {
    let slots = &artifact.manifest.inputs.tensors;
    if slots.len() != inputs.len() {
        return Err(format!(
            "the compiled model takes {} runtime inputs but the data set gives {}",
            slots.len(),
            inputs.len()
        ));
    }
    slots
        .iter()
        .map(|slot| {
            let (_, arr) = inputs
                .iter()
                .find(|(n, _)| *n == slot.name)
                .ok_or_else(|| format!("no data for input `{}`", slot.name))?;
            Ok(match slot.dtype {
                DType::Float32 => Tensor::F32(arr.mapv(|x| x as f32)),
                DType::Int64 | DType::Bool => Tensor::I64(arr.mapv(|x| x as i64)),
            })
        })
        .collect()
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Runs every case of the index in `root` (in parallel), in index order.
/// Excluded entries are skips with the index's reason; a panic in the compiler
/// is a failure of that case.
pub fn run_all(root: &Path) -> crate::Result<Vec<CaseRecord>> {
    let index = read_index(root)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; index.len()]);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .min(16);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(e) = index.get(i) else { break };
                    let result = if e.excluded {
                        CaseResult::Skip(e.reason.clone().unwrap_or_else(|| "excluded".into()))
                    } else {
                        let dir = root.join(&e.name);
                        std::panic::catch_unwind(|| run_case(&dir)).unwrap_or_else(|p| {
                            CaseResult::Fail(format!(
                                "the compiler panicked: {}",
                                panic_message(p.as_ref())
                            ))
                        })
                    };
                    results.lock().unwrap()[i] = Some(result);
                }
            });
        }
    });
    Ok(index
        .into_iter()
        .zip(results.into_inner().unwrap())
        .map(|(e, r)| CaseRecord {
            name: e.name,
            group: e.group,
            ops: e.ops,
            result: r.expect("every case ran"),
        })
        .collect())
}

/// Pass, fail and skip counts.
pub fn counts(results: &[CaseRecord]) -> (usize, usize, usize) {
    let pass = results.iter().filter(|r| r.result.is_pass()).count();
    let fail = results.iter().filter(|r| r.result.is_fail()).count();
    (pass, fail, results.len() - pass - fail)
}

/// Pass rate over the non-skipped cases (1.0 when all are skipped).
pub fn pass_rate(results: &[CaseRecord]) -> f64 {
    let (pass, fail, _) = counts(results);
    if pass + fail == 0 {
        1.0
    } else {
        pass as f64 / (pass + fail) as f64
    }
}

/// The one-line summary.
pub fn summary_line(results: &[CaseRecord]) -> String {
    let (pass, fail, skip) = counts(results);
    format!(
        "ONNX node tests: {pass} passed, {fail} failed, {skip} skipped; pass rate {:.1}% of {} run",
        100.0 * pass_rate(results),
        pass + fail
    )
}

fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace('\n', " ");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

/// The report: summary, per-op counts, then one row per case.
pub fn report_markdown(results: &[CaseRecord]) -> String {
    use std::fmt::Write;
    let mut md = String::new();
    let unit = crate::fixed::FixedFormat::default().resolution();
    let _ = writeln!(md, "# ONNX backend node test conformance\n");
    let _ = writeln!(
        md,
        "Generated by `just conformance` (`cargo run --release -p opml-vm --features testkit --example conformance -- docs/CONFORMANCE.md`) \
from the node tests in `fixtures/onnx-node/`. Each model is compiled with default options \
(Q{}: {} fractional bits, no calibration) and run in the wasmtime runtime; every output of every data set is compared with \
the expected tensor.\n",
        crate::fixed::DEFAULT_FRAC_BITS,
        crate::fixed::DEFAULT_FRAC_BITS
    );
    let _ = writeln!(md, "**{}**\n", summary_line(results));
    let _ = writeln!(md, "## Tolerance\n");
    let _ = writeln!(
        md,
        "A real (float) output element passes when `|actual - expected| <= max({ATOL_UNITS} * 2^-F, {RTOL} * |expected|)`; \
with F = {} the absolute term is {:.3e}. It covers input quantization, the rounding of each rescale and \
the interpolation error of the lookup tables; the relative term covers large values (exp, pow, sums), whose \
error grows with the value. Integer outputs (int64, bool) must match exactly.\n",
        crate::fixed::DEFAULT_FRAC_BITS,
        ATOL_UNITS * unit
    );
    let _ = writeln!(
        md,
        "Parameters bound as constants: a graph input that feeds a weight/parameter slot (Conv W and B, \
BatchNormalization and LayerNormalization parameters, Gemm C, Clip bounds, Pow exponent, axes of \
Reduce*/Squeeze/Unsqueeze, Reshape/Expand shapes, Slice starts/ends/axes/steps) is compiled in as an \
initializer with the test's value, as it would be in a deployed model; data inputs stay runtime inputs.\n"
    );
    let _ = writeln!(
        md,
        "Skipped: entries excluded in `index.json` (element types other than float32/int64, ops outside the \
supported set), and cases whose float inputs or expected outputs exceed `|x| <= {MAX_ABS}` \
(\"values exceed the Q16 range\") or are not finite. The pass rate is over the cases that ran.\n"
    );
    // per op
    let mut groups: std::collections::BTreeMap<&str, (usize, usize, usize)> = Default::default();
    for r in results {
        let g = if r.group.is_empty() {
            r.ops.first().map(|s| s.as_str()).unwrap_or("?")
        } else {
            r.group.as_str()
        };
        let e = groups.entry(g).or_default();
        match r.result {
            CaseResult::Pass { .. } => e.0 += 1,
            CaseResult::Fail(_) => e.1 += 1,
            CaseResult::Skip(_) => e.2 += 1,
        }
    }
    let _ = writeln!(md, "## By op\n");
    let _ = writeln!(md, "| op | pass | fail | skip |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for (g, (p, f, s)) in &groups {
        let _ = writeln!(md, "| {g} | {p} | {f} | {s} |");
    }
    let _ = writeln!(md, "\n## Cases\n");
    let _ = writeln!(md, "| test | ops | result | detail |");
    let _ = writeln!(md, "|---|---|---|---|");
    for r in results {
        let (res, detail) = match &r.result {
            CaseResult::Pass { max_err } => ("pass", format!("max abs error {max_err:.2e}")),
            CaseResult::Fail(d) => ("**fail**", d.clone()),
            CaseResult::Skip(d) => ("skip", d.clone()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {res} | {} |",
            r.name,
            r.ops.join(", "),
            cell(&detail)
        );
    }
    md
}
