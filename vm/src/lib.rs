//! opML VM: compiles ONNX models to deterministic fixed-point WebAssembly and
//! runs them.
//!
//! The pipeline is `ONNX -> graph IR (static shapes, folded constants) ->
//! profile WASM (integer only, one function per layer) -> artifact`. The
//! artifact runs in wasmtime; later stages prove each instruction.
//!
//! The modules form layers; each imports only from the layers above it in
//! this list, never from one below:
//!
//! 1. Basics: [`error`], [`npy`] (tensors in `.npy` files), [`fixed`] (the
//!    fixed-point format), [`profile`] (the WASM subset every module obeys).
//!    They import nothing of the crate but each other.
//! 2. Format: [`artifact`] (manifest, element types, memory image, loading
//!    checks), [`plan`] (what each layer function computes, as kernels).
//! 3. Runtime: [`cache`] (compiled modules, memory trees on disk), [`runtime`]
//!    (wasmtime), [`native`] (the kernels of layer plans, run natively).
//! 4. Machine: [`machine`] (lowering, the stepper, hashes, proofs, the model as a machine).
//! 5. Traces: [`trace`] (trace sessions a dispute queries).
//! 6. Compiler: [`compiler`] (ONNX to graph, inference, emission, packing,
//!    calibration); it runs the runtime and the machine to measure what it built.
//! 7. Test support, outside the product and behind the `testkit` feature:
//!    `conformance` (the ONNX node tests), `machine::difftest` (random
//!    programs for differential tests; it uses the machine and the runtime)
//!    and `randmodel` (random models, native executor against wasmtime).
//!
//! ```no_run
//! use opml_vm::{compile_file, CompileOptions, runtime::Runtime, npy};
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
pub mod compiler;
#[cfg(feature = "testkit")]
pub mod conformance;
pub mod error;
pub mod fixed;
pub mod machine;
pub mod native;
pub mod npy;
pub mod plan;
pub mod profile;
#[cfg(feature = "testkit")]
pub mod randmodel;
pub mod runtime;
pub mod trace;

pub use compiler::{CompileOptions, compile_bytes, compile_file};
pub use error::{Error, Result};
