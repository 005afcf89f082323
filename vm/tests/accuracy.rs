//! Compiled fixture models agree with their float originals (a quick version of
//! `examples/accuracy.rs`, which covers every test image and writes
//! `docs/ACCURACY.md`).

use opml_vm::artifact::DType;
use opml_vm::compiler::calibrate::samples_of;
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::npy::{self, Tensor};
use opml_vm::runtime::{RunOutput, Runtime};
use std::path::{Path, PathBuf};

fn fixture(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(model)
}

fn read(dir: &Path, file: &str) -> Tensor {
    npy::read(&dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// Compiles `model.onnx` with default options; the runtime and single inputs
/// split from `file` (batch on axis 0), at most `limit` of them.
fn setup(dir: &Path, file: &str, limit: usize) -> (Runtime, Vec<Tensor>) {
    let artifact = compile_file(&dir.join("model.onnx"), &CompileOptions::default()).unwrap();
    let shape = artifact.manifest.inputs.tensors[0].shape.clone();
    let mut xs = samples_of(&read(dir, file), &shape);
    xs.truncate(limit);
    (Runtime::new(artifact, false).unwrap(), xs)
}

fn float_output(out: &RunOutput) -> &[f64] {
    &out.outputs
        .iter()
        .find(|o| o.dtype == DType::Float32)
        .expect("a float output")
        .values
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn top1_agreement(model: &str) {
    const IMAGES: usize = 100;
    let dir = fixture(model);
    let (rt, xs) = setup(&dir, "test_x.npy", IMAGES);
    let pred = read(&dir, "test_pred.npy").values();
    let agree = xs
        .iter()
        .zip(&pred)
        .filter(|(x, p)| {
            let out = rt.run(std::slice::from_ref(*x)).unwrap();
            argmax(float_output(&out)) == **p as usize
        })
        .count();
    eprintln!("{model}: top-1 agreement {agree}/{IMAGES}");
    assert!(
        agree * 100 >= 99 * IMAGES,
        "{model}: compiled top-1 agrees with the float model on {agree}/{IMAGES} images"
    );
}

#[test]
fn mlp_digits_agrees_with_float() {
    top1_agreement("mlp_digits");
}

#[test]
fn cnn_digits_agrees_with_float() {
    top1_agreement("cnn_digits");
}

#[test]
fn transformer_block_relative_error() {
    let dir = fixture("transformer_block");
    let (rt, xs) = setup(&dir, "test_x.npy", 4);
    let want = read(&dir, "test_out.npy").values();
    let per = want.len() / 32;
    let (mut max_err, mut scale) = (0f64, 0f64);
    for (x, w) in xs.iter().zip(want.chunks_exact(per)) {
        let out = rt.run(std::slice::from_ref(x)).unwrap();
        let got = float_output(&out);
        assert_eq!(got.len(), per);
        for (a, b) in got.iter().zip(w) {
            max_err = max_err.max((a - b).abs());
            scale = scale.max(b.abs());
        }
    }
    let rel = max_err / scale;
    eprintln!(
        "transformer_block: max abs error {max_err:.3e}, scale {scale:.3}, relative {rel:.3e}"
    );
    assert!(rel <= 1e-2, "relative error {rel:.3e} > 1e-2");
}
