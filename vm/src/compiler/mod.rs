//! The compiler: ONNX bytes to an [`Artifact`] of fixed-point WebAssembly.
//!
//! The stages, each importing only the ones above it in this list:
//!
//! * [`graph`]: the graph IR (values with static shapes, nodes, attributes).
//! * [`onnx`]: ONNX protobuf to the graph IR, input shapes bound.
//! * [`infer`]: shape inference and constant folding.
//! * [`emit`]: one WASM layer function per node, the memory plan and the image.
//! * [`build`]: the emitted module packed into a sealed artifact (runs the
//!   runtime and the stepper to measure it).
//! * [`reference`]: the float model (tract) the fixed-point outputs are compared to.
//! * [`calibrate`]: the fractional bits chosen from sample inputs (builds and runs candidates).
//! * this module: the driver ([`compile_file`], [`compile_bytes`]), which picks
//!   the format (given, calibrated or the default) and calls [`build::build`].

pub mod build;
pub mod calibrate;
pub mod emit;
pub mod generate;
pub mod graph;
pub mod infer;
pub mod onnx;
pub mod plans;
pub mod reference;

use crate::artifact::Artifact;
use crate::error::{Error, Result};
use crate::fixed::{FixedFormat, MAX_FRAC_BITS, MIN_FRAC_BITS};
use graph::Graph;
use onnx::ShapeBindings;
use std::path::Path;

/// Options of `opml compile`.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Fractional bits (`None`: default, or calibrated when samples are given).
    pub frac_bits: Option<u32>,
    /// Shapes for graph inputs (`NAME=1x64`).
    pub input_shapes: ShapeBindings,
    /// Sample inputs for calibration (first input of the model), batch on axis 0.
    pub calibration: Option<crate::npy::Tensor>,
    /// Compile a decoder into a generation program instead of one forward pass.
    pub generate: Option<generate::GenerateOptions>,
}

/// Loads and prepares the graph: parse, bind shapes, infer, fold.
pub fn load_graph(bytes: &[u8], path: &str, bindings: &ShapeBindings) -> Result<Graph> {
    let model = onnx::decode_model(bytes, path)?;
    let mut g = onnx::graph_from_proto(&model, bindings)?;
    infer::prepare(&mut g)?;
    Ok(g)
}

/// Compiles an ONNX file into an in-memory artifact.
pub fn compile_file(path: &Path, opts: &CompileOptions) -> Result<Artifact> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    compile_bytes(&bytes, &name, opts)
}

/// Compiles ONNX bytes; `name` is recorded in the manifest.
pub fn compile_bytes(bytes: &[u8], name: &str, opts: &CompileOptions) -> Result<Artifact> {
    if let Some(gen_opts) = &opts.generate {
        return compile_generation(bytes, name, opts, gen_opts);
    }
    let g = load_graph(bytes, name, &opts.input_shapes)?;
    let frac_bits = match (opts.frac_bits, &opts.calibration) {
        (Some(f), _) => {
            if !(MIN_FRAC_BITS..=MAX_FRAC_BITS).contains(&f) {
                return Err(Error::BadInput(format!(
                    "--frac-bits {f} is outside the supported range {MIN_FRAC_BITS}..={MAX_FRAC_BITS}"
                )));
            }
            f
        }
        (None, Some(samples)) => calibrate::choose_frac_bits(&g, bytes, name, samples)?,
        (None, None) => crate::fixed::DEFAULT_FRAC_BITS,
    };
    build::build(&g, bytes, name, FixedFormat::new(frac_bits))
}

/// Compiles a decoder into a generation program (see [`generate`]) and
/// records where each token's computation lies.
fn compile_generation(
    bytes: &[u8],
    name: &str,
    opts: &CompileOptions,
    gen_opts: &generate::GenerateOptions,
) -> Result<Artifact> {
    if opts.calibration.is_some() || !opts.input_shapes.inputs.is_empty() {
        return Err(Error::BadInput(
            "--generate sets the decoder's shapes itself and takes no --input-shape or --calibrate; choose the format with --frac-bits".into(),
        ));
    }
    let g = generate::generation_graph(bytes, name, gen_opts)?;
    let vocab = g
        .nodes
        .iter()
        .find(|n| n.domain == generate::DOMAIN)
        .and_then(|n| n.input(0))
        .map(|v| g.values[v].len() as u32)
        .unwrap_or(0);
    let frac_bits = opts.frac_bits.unwrap_or(crate::fixed::DEFAULT_FRAC_BITS);
    let mut artifact = build::build(&g, bytes, name, FixedFormat::new(frac_bits))?;
    let m = &mut artifact.manifest;
    let mut tokens: Vec<crate::artifact::TokenSpan> = vec![];
    for (i, layer) in m.layers.iter().enumerate() {
        let Some(t) = layer
            .name
            .strip_prefix("token")
            .and_then(|r| r.split_once('/'))
            .and_then(|(t, _)| t.parse::<usize>().ok())
        else {
            continue;
        };
        if t == tokens.len() {
            tokens.push(crate::artifact::TokenSpan {
                first_layer: i as u32,
                layers: 0,
                start_step: layer.start_step,
                steps: 0,
            });
        }
        let span = tokens.last_mut().expect("pushed");
        span.layers = i as u32 + 1 - span.first_layer;
        span.steps = layer.start_step + layer.steps - span.start_step;
    }
    m.generation = Some(crate::artifact::Generation {
        prompt_tokens: gen_opts.prompt_tokens as u32,
        new_tokens: gen_opts.new_tokens as u32,
        top_k_max: gen_opts.top_k_max as u32,
        end_token: gen_opts.end_token,
        vocab,
        tokens,
    });
    Ok(artifact)
}
