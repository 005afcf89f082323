//! opML VM: compiles ONNX models to deterministic fixed-point WebAssembly and
//! runs them.
//!
//! The pipeline is `ONNX -> graph IR (static shapes, folded constants) ->
//! profile WASM (integer only, one function per layer) -> artifact`. The
//! artifact runs in wasmtime; later stages prove each instruction.
//!
//! ```no_run
//! use opml_vm::{compile::{compile_file, CompileOptions}, runtime::Runtime, npy};
//! # fn main() -> opml_vm::Result<()> {
//! let artifact = compile_file("model.onnx".as_ref(), &CompileOptions::default())?;
//! artifact.save("out/model".as_ref())?;
//! let x = npy::read("input.npy".as_ref())?;
//! let out = Runtime::new(artifact, false)?.run(&[x])?;
//! println!("{:?}", out.outputs[0].values);
//! # Ok(()) }
//! ```

pub mod artifact;
pub mod cache;
pub mod calibrate;
pub mod compile;
pub mod conformance;
pub mod emit;
pub mod error;
pub mod fixed;
pub mod graph;
pub mod infer;
pub mod machine;
pub mod npy;
pub mod onnx;
pub mod profile;
pub mod reference;
pub mod runtime;
pub mod trace;

pub use error::{Error, Result};
