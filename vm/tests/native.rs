//! The native executor against wasmtime: the memory after every call of
//! `run` equal byte for byte, on every fixture; plans tied to the module.

mod common;

use opml_vm::compiler::plans::verify_plans;

/// Every fixture: each call's memory image from the native kernels equals
/// wasmtime's, and every plan the compiler recorded re-emits to its function.
#[test]
fn native_memory_equals_wasmtime_after_every_call_of_every_fixture() {
    for f in common::FIXTURES {
        let (vm, region, rt) = common::fixture_vm(f);
        let art = vm.artifact();
        let (plans, warnings) = verify_plans(&art.wasm, &art.manifest, art.memory.len()).unwrap();
        let executor = opml_vm::native::Executor::shared().unwrap();
        assert!(warnings.is_empty(), "{f}: {warnings:?}");
        let recorded = art
            .manifest
            .layers
            .iter()
            .filter(|l| l.plan.is_some())
            .count();
        assert_eq!(plans.len(), recorded, "{f}: every recorded plan verifies");
        let calls = art.manifest.call_args();
        let mut expected = vec![];
        rt.run_calls(&region, &calls, |_, m| {
            expected.push(blake3::hash(m));
            Ok(())
        })
        .unwrap();
        let mut native_calls = 0;
        rt.run_calls_native(&region, &calls, &plans, &executor, false, |i, m| {
            if plans.plan(calls[i].0).is_some() {
                native_calls += 1;
            }
            assert!(
                blake3::hash(m) == expected[i],
                "{f}: memory differs after call {i} (function {})",
                calls[i].0
            );
            Ok(())
        })
        .unwrap();
        // a whole run (segments of a product merged, threads): wasmtime's final memory
        let accelerated = opml_vm::runtime::Runtime::new(art.clone(), false)
            .unwrap()
            .with_native(std::sync::Arc::new(plans.clone()), executor.clone());
        // again with another input and back: a reused memory keeps nothing of a run
        let zeros = vec![0u8; region.len()];
        for input in [&region, &zeros, &region] {
            let (memory, engine) = accelerated.final_memory(input).unwrap();
            assert_eq!(engine, opml_vm::runtime::EngineKind::Native);
            let (expected_memory, _) = rt.final_memory(input).unwrap();
            assert!(memory == expected_memory, "{f}: final memory differs");
        }
        println!(
            "{f}: {native_calls} of {} calls native, {} of {} functions planned",
            calls.len(),
            plans.len(),
            art.manifest
                .layers
                .iter()
                .filter(|l| l.function.is_some())
                .count()
        );
    }
}

/// A plan edited in the artifact (here: another product's shift) does not
/// re-emit to the committed function: it is refused, with the layer named.
#[test]
fn a_tampered_plan_is_refused() {
    use opml_vm::plan::KernelOp;
    refused("mlp784", |op| match op {
        KernelOp::MatMul { spec, .. } => {
            spec.shift += 1;
            true
        }
        _ => false,
    });
}

/// Likewise a softmax plan pointing at another `2^x` table, and a layer
/// norm plan with another epsilon.
#[test]
fn tampered_row_plans_are_refused() {
    use opml_vm::plan::KernelOp;
    refused("transformer_block", |op| match op {
        KernelOp::Softmax { exp2, .. } => {
            exp2.addr += 4;
            true
        }
        _ => false,
    });
    refused("transformer_block", |op| match op {
        KernelOp::LayerNorm { spec } => {
            spec.eps += 1;
            true
        }
        _ => false,
    });
}

/// Edits the first kernel of `fixture` that `tamper` changes (it returns
/// true) and checks that plan alone is refused, with its layer named.
fn refused(fixture: &str, mut tamper: impl FnMut(&mut opml_vm::plan::KernelOp) -> bool) {
    let (vm, _, _) = common::fixture_vm(fixture);
    let mut manifest = vm.artifact().manifest.clone();
    let tampered = manifest
        .layers
        .iter_mut()
        .find_map(|l| {
            let plan = l.plan.as_mut()?;
            plan.iter_mut().any(&mut tamper).then(|| l.name.clone())
        })
        .unwrap_or_else(|| panic!("{fixture} has a planned kernel to tamper with"));
    let len = vm.artifact().memory.len();
    let (plans, warnings) = verify_plans(&vm.artifact().wasm, &manifest, len).unwrap();
    assert!(
        warnings.iter().any(|w| w.contains(&tampered)),
        "{warnings:?}"
    );
    let (honest, _) = verify_plans(&vm.artifact().wasm, &vm.artifact().manifest, len).unwrap();
    assert_eq!(plans.len() + 1, honest.len());
}

/// Trace sessions reach call boundaries with the native executor: the same
/// claim, state hashes (at call boundaries and inside calls) and machines at
/// a step as a session on wasmtime, on fixtures with and without calls left
/// to wasmtime.
#[test]
fn trace_sessions_with_the_native_executor_answer_as_with_wasmtime() {
    use opml_vm::trace::{TraceProvider, VmTrace};
    use std::sync::Arc;
    let executor = opml_vm::native::Executor::shared().unwrap();
    for f in ["minilm_tiny", "mlp784", "transformer_block"] {
        let (vm, region, _) = common::fixture_vm(f);
        let art = vm.artifact().clone();
        let (native_vm, warnings) = opml_vm::compiler::plans::accelerate_vm(
            opml_vm::machine::model::ModelVm::new(art.clone()).unwrap(),
            executor.clone(),
        )
        .unwrap();
        assert!(warnings.is_empty(), "{f}: {warnings:?}");
        let wasm = VmTrace::open(Arc::new(vm), &region).unwrap();
        let native = VmTrace::open(Arc::new(native_vm), &region).unwrap();
        assert_eq!(native.claim(), wasm.claim(), "{f}: claims");
        let steps = wasm.claim().steps;
        let mut at: Vec<u64> = art.manifest.calls().map(|(_, c)| c.start_step).collect();
        at.extend((0..16).map(|i| steps * i / 16 + 7));
        at.sort();
        at.dedup();
        assert_eq!(
            native.state_hashes(&at).unwrap(),
            wasm.state_hashes(&at).unwrap(),
            "{f}: state hashes"
        );
        // a claim's final state from the cached initial tree and the changed
        // leaves alone equals hashing all of the final memory
        let (memory, _) = native
            .vm()
            .runtime()
            .unwrap()
            .final_memory(&region)
            .unwrap();
        // twice: the second from a tree put back after the first
        for _ in 0..2 {
            let mut fs = native.vm().final_committed(memory.clone());
            assert_eq!(
                native.vm().final_hash(&mut fs),
                wasm.claim().final_state,
                "{f}: incremental"
            );
            native.vm().recycle(fs);
        }
        let mut full = native.vm().final_state(memory);
        assert_eq!(
            native.vm().committer().state_hash(&mut full),
            wasm.claim().final_state,
            "{f}: full"
        );
        let mid = steps / 2 + 3;
        assert_eq!(
            native.vm().state_at(&region, mid).unwrap().memory,
            wasm.vm().state_at(&region, mid).unwrap().memory,
            "{f}: memory at step {mid}"
        );
    }
}
