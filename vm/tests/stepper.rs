//! Differential tests: the stepper against wasmtime on every fixture.

mod common;

use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::machine::{Machine, Status, lower};
use opml_vm::runtime::Runtime;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

#[test]
fn stepper_matches_wasmtime_on_every_fixture() {
    for f in common::FIXTURES {
        let art = compile_file(&fixture(f).join("model.onnx"), &CompileOptions::default()).unwrap();
        let rt = Runtime::new(art.clone(), true).unwrap();
        let region = rt
            .input_region(&common::fixture_inputs(&fixture(f), &art))
            .unwrap();
        let expected = rt.run_region(&region).unwrap();

        let program = lower(&art.wasm).unwrap();
        let mut m = Machine::call(&program, program.exports["run"], &[]);
        // the module has no data segments: the image is `memory.bin`
        m.memory = art.memory.clone();
        let at = art.manifest.inputs.offset as usize;
        m.memory[at..at + region.len()].copy_from_slice(&region);
        let start = std::time::Instant::now();
        let steps = m.run(u64::MAX);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(m.status, Status::Halted, "{f}");
        let o = art.manifest.outputs.offset as usize;
        assert_eq!(
            &m.memory[o..o + expected.output_region.len()],
            &expected.output_region[..],
            "{f}: output region"
        );
        println!(
            "{f}: {steps} steps ({} wasm instructions metered), {:.0} Msteps/s",
            expected.instructions.unwrap(),
            steps as f64 / secs / 1e6
        );
        // stepping a halted machine changes nothing
        let before = (m.pc, m.step, m.stack.clone());
        m.step();
        assert_eq!((m.pc, m.step, m.stack.clone()), before);
    }
}

/// A manifest's derived fields are checked against the code at load (issue
/// 23: a manifest edited by hand, `steps` plus 5, loaded and `opml run`
/// reported the edited count, which a submitter would post and lose on).
#[test]
fn edited_manifests_are_refused() {
    use opml_vm::machine::model::ModelVm;
    let art = compile_file(
        &fixture("logreg_digits").join("model.onnx"),
        &CompileOptions::default(),
    )
    .unwrap();
    ModelVm::checked(art.clone()).expect("a fresh build checks out");
    let refused = |edit: &dyn Fn(&mut opml_vm::artifact::Manifest), field: &str| {
        let mut a = art.clone();
        edit(&mut a.manifest);
        let e = ModelVm::checked(a).err().expect("refused").to_string();
        assert!(e.contains(field) && e.contains("opml compile"), "{e}");
    };
    refused(&|m| m.steps += 5, "step count");
    refused(
        &|m| m.commitment.as_mut().unwrap().steps += 5,
        "commitment's step count",
    );
    refused(
        &|m| {
            let layer = m.layers.iter_mut().find(|l| l.function.is_some()).unwrap();
            layer.steps += 5;
        },
        "(start step, steps)",
    );
    refused(
        &|m| {
            m.commitment.as_mut().unwrap().memory_root = "00".repeat(32);
        },
        "initial memory root",
    );
    refused(
        &|m| m.commitment.as_mut().unwrap().entry_pc += 1,
        "entry pc",
    );
    refused(
        &|m| m.commitment.as_mut().unwrap().input_siblings.reverse(),
        "input siblings",
    );
}
