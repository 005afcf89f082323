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
        rt.run_calls_native(&region, &calls, &plans, &executor, |i, m| {
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
