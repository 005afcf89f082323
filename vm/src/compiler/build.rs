//! Packing: a prepared graph at a chosen fixed-point format becomes a sealed
//! [`Artifact`] (emitted code, manifest, measured steps and the commitment).
//!
//! Both the driver and calibration call [`build`]; it calls neither.

use crate::artifact::{Artifact, IoSlot, LayerInfo, Manifest, Region};
use crate::compiler::graph::Graph;
use crate::error::Result;
use crate::fixed::FixedFormat;

/// Emits code for a prepared graph and packs the artifact.
pub fn build(g: &Graph, onnx_bytes: &[u8], name: &str, fmt: FixedFormat) -> Result<Artifact> {
    let emitted = crate::compiler::emit::emit(g, fmt)?;
    crate::profile::validate(&emitted.wasm)?;
    let slots =
        |region: &(u32, u64, Vec<crate::compiler::emit::TensorSlot>), ids: &[usize]| -> Region {
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
                                crate::compiler::graph::Kind::Fixed => fmt.resolution(),
                                crate::compiler::graph::Kind::Int => 1.0,
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
            plan: l.plan.clone(),
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
