//! Fast seek, derived initial states and output proofs.

mod common;

use opml_vm::machine::model::{ModelVm, verify_output};

/// A deterministic pseudo-random sequence (no dependency needed).
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 11
}

#[test]
fn state_at_equals_stepping_from_zero() {
    for f in ["mlp_digits", "cnn_digits"] {
        let (vm, input, _) = common::fixture_vm(f);
        let n = vm.artifact().manifest.steps;
        let mut seed = 7;
        let mut targets: Vec<u64> = (0..12).map(|_| lcg(&mut seed) % (n + 1)).collect();
        targets.extend(vm.artifact().manifest.layers.iter().map(|l| l.start_step));
        targets.extend([0, 1, n - 2, n - 1, n, n + 5]);
        targets.sort();
        targets.dedup();
        let mut reference = vm.initial(&input);
        let mut rc = vm.committer();
        let mut c = vm.committer();
        for &i in &targets {
            reference.run(i - reference.step.min(i));
            let mut sought = vm.state_at(&input, i).unwrap();
            assert_eq!(
                c.state_hash(&mut sought),
                rc.state_hash(&mut reference),
                "{f}: step {i}"
            );
            c = vm.committer();
        }
    }
}

#[test]
fn initial_state_is_derivable_and_output_is_provable() {
    for f in ["logreg_digits", "mlp_digits"] {
        let (vm, input, rt) = common::fixture_vm(f);
        let m = &vm.artifact().manifest;
        let commitment = m.commitment.clone().unwrap();
        let mut initial = vm.initial(&input);
        let mut c = vm.committer();
        let derived = ModelVm::initial_state_hash(&commitment, &m.inputs, &input).unwrap();
        assert_eq!(
            derived,
            c.state_hash(&mut initial),
            "{f}: derived initial state"
        );

        let out = rt.run_region(&input).unwrap();
        let mut stepped = vm.initial(&input);
        stepped.run(u64::MAX);
        assert_eq!(stepped.step, m.steps, "{f}: steps in the manifest");
        let mut final_state = vm.final_state(rt_memory(&vm, &input));
        let mut c2 = vm.committer();
        let mut c3 = vm.committer();
        let fs = c2.state_hash(&mut final_state);
        assert_eq!(
            fs,
            c3.state_hash(&mut stepped),
            "{f}: final state from wasmtime equals the stepper's"
        );
        let (bytes, header, siblings) = vm.output_proof(&mut c2, &mut final_state);
        assert_eq!(bytes, out.output_region);
        assert!(verify_output(&fs, &header, &m.outputs, &bytes, &siblings));
        let mut wrong = bytes.clone();
        wrong[0] ^= 1;
        assert!(
            !verify_output(&fs, &header, &m.outputs, &wrong, &siblings),
            "{f}: a wrong output is rejected"
        );
    }
}

fn rt_memory(vm: &ModelVm, input: &[u8]) -> Vec<u8> {
    let funcs: Vec<u32> = vm
        .artifact()
        .manifest
        .layers
        .iter()
        .filter_map(|l| l.function)
        .collect();
    opml_vm::runtime::run_layers(vm.artifact(), input, &funcs).unwrap()
}

#[test]
fn state_hashes_are_identical_across_runs() {
    let (vm, input, _) = common::fixture_vm("mlp_digits");
    let n = vm.artifact().manifest.steps;
    let hashes = |vm: &ModelVm| -> Vec<String> {
        [0, n / 3, n / 2, n]
            .iter()
            .map(|&i| {
                let mut m = vm.state_at(&input, i).unwrap();
                opml_vm::machine::model::hex(&vm.committer().state_hash(&mut m))
            })
            .collect()
    };
    let a = hashes(&vm);
    let (vm2, _, _) = common::fixture_vm("mlp_digits");
    assert_eq!(a, hashes(&vm2));
}
