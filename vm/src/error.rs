//! Errors of the compiler, the artifact loader and the runtime.
//!
//! Every message says what was wrong and what to do about it.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `opml-vm`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model.
    #[error(
        "`{path}` is not a valid ONNX model ({detail}); export it again with `torch.onnx.export` or `skl2onnx`, or check that the file is not truncated"
    )]
    MalformedModel {
        /// The file.
        path: String,
        /// What the protobuf decoder said.
        detail: String,
    },
    /// The model uses an operator the compiler does not implement.
    #[error(
        "model uses op `{op}` (node `{node}`), which the compiler does not support; supported ops: {supported}"
    )]
    UnsupportedOp {
        /// ONNX op type (with domain when not the default one).
        op: String,
        /// Node name.
        node: String,
        /// Comma-separated list of supported ops.
        supported: String,
    },
    /// The model is valid ONNX but uses an operator in a way the compiler does not handle.
    #[error("node `{node}` (op `{op}`): {detail}")]
    UnsupportedUse {
        /// ONNX op type.
        op: String,
        /// Node name.
        node: String,
        /// What is not supported and what to do.
        detail: String,
    },
    /// A dimension of a graph input stays symbolic after binding.
    #[error(
        "input `{input}` has dimension {axis} `{dim}` that is not fixed; give it a size with `--input-shape {input}={example}`"
    )]
    UnresolvedDim {
        /// Input name.
        input: String,
        /// Axis index.
        axis: usize,
        /// The symbolic name (or `?`).
        dim: String,
        /// A suggested shape for the flag.
        example: String,
    },
    /// A `--input-shape` flag names an unknown input or has a bad rank.
    #[error("{0}")]
    BadInputShape(String),
    /// Shapes in the graph are inconsistent.
    #[error("node `{node}` (op `{op}`): {detail}")]
    Shape {
        /// ONNX op type.
        op: String,
        /// Node name.
        node: String,
        /// What does not fit.
        detail: String,
    },
    /// A runtime input does not match the model.
    #[error("{0}")]
    BadInput(String),
    /// An artifact is missing a file, is malformed, or has been modified.
    #[error("artifact `{dir}`: {detail}")]
    Artifact {
        /// The artifact directory.
        dir: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The module is outside the opML WASM profile.
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// wasmtime failed to compile or run the module.
    #[error("runtime: {0}")]
    Runtime(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
