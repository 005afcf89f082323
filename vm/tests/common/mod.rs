//! Shared by the machine tests: a compiled fixture and its quantized input.

use opml_vm::compile::{CompileOptions, compile_file};
use opml_vm::machine::model::ModelVm;
use opml_vm::npy;
use opml_vm::runtime::Runtime;
use std::path::PathBuf;

/// Compiles `fixtures/NAME` with default options; returns the machine view,
/// the input-region bytes of its `input.npy`, and a wasmtime runtime.
pub(crate) fn fixture_vm(name: &str) -> (ModelVm, Vec<u8>, Runtime) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let art = compile_file(&dir.join("model.onnx"), &CompileOptions::default()).unwrap();
    let x = npy::read(&dir.join("input.npy")).unwrap();
    let rt = Runtime::new(art.clone(), false).unwrap();
    let region = rt.input_region(&[x]).unwrap();
    (ModelVm::new(art).unwrap(), region, rt)
}
