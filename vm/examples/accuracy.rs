//! Accuracy of the compiled fixed-point models against their float originals.
//!
//! ```text
//! cargo run --release -p opml-vm --example accuracy -- docs/ACCURACY.md
//! ```
//!
//! For each digits classifier in `fixtures/` every test image is run through the
//! compiled model; its top-1 class (argmax of the float output) is compared with
//! the float model's (`test_pred.npy`, onnxruntime) and with the labels. For the
//! transformer block the 32 test inputs are compared elementwise with
//! `test_out.npy`. The report is written as markdown to the path given (stdout
//! when none).

use opml_vm::artifact::DType;
use opml_vm::compiler::calibrate::samples_of;
use opml_vm::compiler::reference::FloatModel;
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::npy::{self, Tensor};
use opml_vm::runtime::Runtime;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const CLASSIFIERS: &[&str] = &["mlp_digits", "cnn_digits", "mlp784", "logreg_digits"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn load(dir: &Path, file: &str) -> Result<Tensor> {
    Ok(npy::read(&dir.join(file))?)
}

fn labels(t: &Tensor) -> Vec<usize> {
    t.values().into_iter().map(|v| v as usize).collect()
}

/// Index of the first largest value.
fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The values of the first float output (the probabilities / logits).
fn float_output(out: &opml_vm::runtime::RunOutput) -> &[f64] {
    &out.outputs
        .iter()
        .find(|o| o.dtype == DType::Float32)
        .expect("the model has a float output")
        .values
}

struct ClassifierRow {
    name: String,
    frac_bits: u32,
    images: usize,
    agree: usize,
    compiled_correct: usize,
    float_correct: usize,
    disagreements: Vec<(usize, usize, usize)>,
    /// Largest |compiled - float| over the float output (tract reference).
    max_output_error: Option<f64>,
    ms_per_image: f64,
}

fn classifier(name: &str) -> Result<ClassifierRow> {
    let dir = fixtures().join(name);
    let artifact = compile_file(&dir.join("model.onnx"), &CompileOptions::default())?;
    let frac_bits = artifact.manifest.format().frac_bits;
    let shape = artifact.manifest.inputs.tensors[0].shape.clone();
    let float_slot = artifact
        .manifest
        .outputs
        .tensors
        .iter()
        .position(|t| t.dtype == DType::Float32)
        .expect("the model has a float output");
    // float reference for the output error column (skipped if tract cannot load the model)
    let onnx = std::fs::read(dir.join("model.onnx"))?;
    let float = FloatModel::new(&onnx, &[(shape.clone(), DType::Float32)]).ok();
    let rt = Runtime::new(artifact, false)?;
    let xs = samples_of(&load(&dir, "test_x.npy")?, &shape);
    let y = labels(&load(&dir, "test_y.npy")?);
    let pred = labels(&load(&dir, "test_pred.npy")?);
    assert_eq!(xs.len(), y.len());
    assert_eq!(xs.len(), pred.len());
    let mut row = ClassifierRow {
        name: name.into(),
        frac_bits,
        images: xs.len(),
        agree: 0,
        compiled_correct: 0,
        float_correct: 0,
        disagreements: vec![],
        max_output_error: None,
        ms_per_image: 0.0,
    };
    let start = Instant::now();
    for (i, x) in xs.iter().enumerate() {
        let out = rt.run(std::slice::from_ref(x))?;
        let top = argmax(float_output(&out));
        row.agree += usize::from(top == pred[i]);
        row.compiled_correct += usize::from(top == y[i]);
        row.float_correct += usize::from(pred[i] == y[i]);
        if top != pred[i] {
            row.disagreements.push((i, pred[i], top));
        }
    }
    row.ms_per_image = start.elapsed().as_secs_f64() * 1e3 / xs.len() as f64;
    if let Some(float) = float {
        let mut err = 0f64;
        for x in &xs {
            let out = rt.run(std::slice::from_ref(x))?;
            let want = &float.run(std::slice::from_ref(x))?[float_slot];
            for (a, b) in float_output(&out).iter().zip(want) {
                err = err.max((a - b).abs());
            }
        }
        row.max_output_error = Some(err);
    }
    Ok(row)
}

struct TransformerRow {
    label: String,
    frac_bits: u32,
    inputs: usize,
    max_abs: f64,
    mean_abs: f64,
    scale: f64,
}

fn transformer(calibrated: bool) -> Result<TransformerRow> {
    let dir = fixtures().join("transformer_block");
    let opts = CompileOptions {
        calibration: if calibrated {
            Some(load(&dir, "calib.npy")?)
        } else {
            None
        },
        ..Default::default()
    };
    let artifact = compile_file(&dir.join("model.onnx"), &opts)?;
    let frac_bits = artifact.manifest.format().frac_bits;
    let shape = artifact.manifest.inputs.tensors[0].shape.clone();
    let rt = Runtime::new(artifact, false)?;
    let xs = samples_of(&load(&dir, "test_x.npy")?, &shape);
    let want = load(&dir, "test_out.npy")?.values();
    let per = want.len() / xs.len();
    let (mut max_abs, mut sum_abs, mut scale) = (0f64, 0f64, 0f64);
    for (x, w) in xs.iter().zip(want.chunks_exact(per)) {
        let out = rt.run(std::slice::from_ref(x))?;
        for (a, b) in float_output(&out).iter().zip(w) {
            max_abs = max_abs.max((a - b).abs());
            sum_abs += (a - b).abs();
            scale = scale.max(b.abs());
        }
    }
    Ok(TransformerRow {
        label: if calibrated {
            "`--calibrate calib.npy`".into()
        } else {
            "default".into()
        },
        frac_bits,
        inputs: xs.len(),
        max_abs,
        mean_abs: sum_abs / want.len() as f64,
        scale,
    })
}

fn shell(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn pct(n: usize, d: usize) -> f64 {
    100.0 * n as f64 / d as f64
}

fn main() -> Result<()> {
    let out_path = std::env::args().nth(1);
    let started = Instant::now();
    let mut classifiers = vec![];
    for name in CLASSIFIERS {
        eprintln!("{name} ...");
        classifiers.push(classifier(name)?);
    }
    eprintln!("transformer_block ...");
    let transformers = [transformer(false)?, transformer(true)?];

    let date = shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into());
    let mut commit =
        shell("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    if shell("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty())
    {
        commit.push_str(" (with uncommitted changes)");
    }

    let mut md = String::new();
    writeln!(md, "# Accuracy of compiled models\n")?;
    writeln!(
        md,
        "Generated {date} at commit `{commit}` by\n\n```\ncargo run --release -p opml-vm --example accuracy -- docs/ACCURACY.md\n```\n"
    )?;
    writeln!(
        md,
        "Each fixture model (`fixtures/`, see `fixtures/README.md`) is compiled with the default \
         options and run in the wasmtime runtime, one input at a time. Numbers format: \
         `docs/FIXED_POINT.md`.\n"
    )?;
    writeln!(md, "## Digits classifiers\n")?;
    writeln!(
        md,
        "All {} images of the test split. *Agreement*: the compiled model's top-1 class (argmax of \
         its float output) equals the float model's (`test_pred.npy`, onnxruntime). Target: \
         agreement >= 99.5%. *Max abs output error*: largest difference of the \
         float output (probabilities or logits) from tract's float inference, over all images.\n",
        classifiers.first().map_or(0, |r| r.images)
    )?;
    writeln!(
        md,
        "| model | F | agreement | compiled accuracy | float accuracy | disagreements (image: float -> compiled) | max abs output error | ms / image |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|")?;
    for r in &classifiers {
        let dis = if r.disagreements.is_empty() {
            "none".to_string()
        } else {
            r.disagreements
                .iter()
                .map(|(i, a, b)| format!("#{i}: {a} -> {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            md,
            "| `{}` | {} | {}/{} = {:.2}% | {}/{} = {:.2}% | {}/{} = {:.2}% | {} | {} | {:.3} |",
            r.name,
            r.frac_bits,
            r.agree,
            r.images,
            pct(r.agree, r.images),
            r.compiled_correct,
            r.images,
            pct(r.compiled_correct, r.images),
            r.float_correct,
            r.images,
            pct(r.float_correct, r.images),
            dis,
            r.max_output_error
                .map_or("n/a".to_string(), |e| format!("{e:.2e}")),
            r.ms_per_image
        )?;
    }
    writeln!(md, "\n## Transformer block\n")?;
    writeln!(
        md,
        "The {} inputs of `transformer_block/test_x.npy` against the onnxruntime outputs \
         `test_out.npy`, elementwise over all outputs. *Relative* is the max abs error divided by \
         the output scale, the largest |float output|. Target: relative <= 1e-2.\n",
        transformers[0].inputs
    )?;
    writeln!(
        md,
        "| compile options | F | max abs error | output scale | relative | mean abs error |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|")?;
    for t in &transformers {
        writeln!(
            md,
            "| {} | {} | {:.3e} | {:.3} | {:.3e} | {:.3e} |",
            t.label,
            t.frac_bits,
            t.max_abs,
            t.scale,
            t.max_abs / t.scale,
            t.mean_abs
        )?;
    }
    writeln!(
        md,
        "\nTotal time (compile + run, release build): {:.1} s.",
        started.elapsed().as_secs_f64()
    )?;

    match out_path {
        Some(p) => {
            std::fs::write(&p, &md)?;
            eprintln!("wrote {p}");
        }
        None => print!("{md}"),
    }
    let mut ok = true;
    for r in &classifiers {
        if pct(r.agree, r.images) < 99.5 {
            eprintln!(
                "{}: agreement {:.2}% is below 99.5%",
                r.name,
                pct(r.agree, r.images)
            );
            ok = false;
        }
    }
    let t = &transformers[0];
    if t.max_abs / t.scale > 1e-2 {
        eprintln!(
            "transformer_block: relative error {:.3e} is above 1e-2",
            t.max_abs / t.scale
        );
        ok = false;
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
