//! The compiler driver: ONNX bytes to an [`Artifact`].

use crate::artifact::{Artifact, IoSlot, LayerInfo, Manifest, Region};
use crate::error::{Error, Result};
use crate::fixed::{FixedFormat, MAX_FRAC_BITS, MIN_FRAC_BITS};
use crate::graph::Graph;
use crate::onnx::{self, ShapeBindings};
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
}

/// Loads and prepares the graph: parse, bind shapes, infer, fold.
pub fn load_graph(bytes: &[u8], path: &str, bindings: &ShapeBindings) -> Result<Graph> {
    let model = onnx::decode_model(bytes, path)?;
    let mut g = onnx::graph_from_proto(&model, bindings)?;
    crate::infer::prepare(&mut g)?;
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
        (None, Some(samples)) => crate::calibrate::choose_frac_bits(&g, bytes, name, samples)?,
        (None, None) => crate::fixed::DEFAULT_FRAC_BITS,
    };
    build(&g, bytes, name, FixedFormat::new(frac_bits))
}

/// Emits code for a prepared graph and packs the artifact.
pub fn build(g: &Graph, onnx_bytes: &[u8], name: &str, fmt: FixedFormat) -> Result<Artifact> {
    let emitted = crate::emit::emit(g, fmt)?;
    crate::profile::validate(&emitted.wasm)?;
    let slots = |region: &(u32, u64, Vec<crate::emit::TensorSlot>), ids: &[usize]| -> Region {
        Region {
            offset: region.0,
            size: region.1,
            tensors: region
                .2
                .iter()
                .zip(ids)
                .map(|(s, &v)| {
                    let dtype = g.values[v].dtype;
                    IoSlot {
                        name: s.name.clone(),
                        offset: s.offset,
                        size: s.shape.iter().product::<usize>() as u64 * 4,
                        shape: s.shape.clone(),
                        dtype,
                        scale: match dtype.kind() {
                            crate::graph::Kind::Fixed => fmt.resolution(),
                            crate::graph::Kind::Int => 1.0,
                        },
                    }
                })
                .collect(),
        }
    };
    let inputs = slots(&emitted.input_region, &g.inputs);
    let outputs = slots(&emitted.output_region, &g.outputs);
    let layers: Vec<LayerInfo> = emitted
        .layers
        .iter()
        .map(|l| LayerInfo {
            name: l.name.clone(),
            function: l.function,
            ops: l.ops.clone(),
            nodes: l.nodes.clone(),
            code_instructions: l.code_instructions as u64,
            instructions: 0,
            start_step: 0,
            steps: 0,
            calls: l
                .calls
                .iter()
                .map(|c| crate::artifact::LayerCall {
                    args: c.args.clone(),
                    start_step: 0,
                    steps: 0,
                    writes: c.writes.clone(),
                })
                .collect(),
        })
        .collect();
    let manifest = Manifest::new(
        name,
        blake3::hash(onnx_bytes).to_hex().to_string(),
        g.opset,
        fmt,
        emitted.memory.len() as u64,
        emitted.constant_bytes,
        inputs,
        outputs,
        layers,
    );
    let mut artifact = Artifact::new(manifest, emitted.wasm, emitted.memory);
    crate::runtime::measure_layers(&mut artifact)?;
    // Step counts and the commitment come from the stepper itself.
    let vm = crate::machine::model::ModelVm::new(artifact.clone())?;
    let calls: Vec<(u32, Vec<u32>)> = artifact
        .manifest
        .calls()
        .map(|(f, c)| (f, c.args.clone()))
        .collect();
    let (call_steps, steps) = vm.measure_calls(&calls)?;
    let mut call_steps = call_steps.into_iter();
    let mut at = 0u64;
    for layer in &mut artifact.manifest.layers {
        layer.start_step = at;
        layer.steps = 0;
        for c in &mut layer.calls {
            c.start_step = at;
            c.steps = call_steps.next().expect("one count per call");
            at += c.steps;
            layer.steps += c.steps;
        }
    }
    artifact.manifest.steps = steps;
    artifact.manifest.commitment = Some(vm.commitment(steps));
    artifact.seal();
    Ok(artifact)
}
