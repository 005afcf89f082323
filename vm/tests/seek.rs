//! Fast seek, derived initial states and output proofs.

mod common;

use opml_vm::machine::model::{ModelVm, verify_output};
use opml_vm::machine::verify_step;
use opml_vm::trace::{TraceProvider, VmTrace};
use std::sync::Arc;

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
        targets.extend(vm.artifact().manifest.calls().map(|(_, c)| c.start_step));
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

/// The compiler measures each distinct call once; a full walk must agree.
#[test]
fn measured_call_steps_equal_a_full_walk() {
    for f in common::FIXTURES {
        let (vm, _, _) = common::fixture_vm(f);
        let m = &vm.artifact().manifest;
        let (walked, total) = vm.measure_steps();
        let listed: Vec<(u64, u64)> = m.calls().map(|(_, c)| (c.start_step, c.steps)).collect();
        assert_eq!(walked, listed, "{f}: per-call steps");
        assert_eq!(total, m.steps, "{f}: total steps");
        assert!(listed.len() >= m.layers.iter().filter(|l| l.function.is_some()).count());
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
    let calls = vm.artifact().manifest.calls().count();
    opml_vm::runtime::run_layers(vm.artifact(), input, calls).unwrap()
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

/// A trace session answers like stepping from zero: at call boundaries, inside
/// calls, at and past the end, in one sorted pass and in passes that move
/// backward; its proofs verify and chain the states.
#[test]
fn session_states_equal_stepping_from_zero() {
    for f in [
        "mlp_digits",
        "cnn_digits",
        "minilm_tiny",
        "transformer_block",
    ] {
        let (vm, input, _) = common::fixture_vm(f);
        let n = vm.artifact().manifest.steps;
        let mut seed = 11;
        let mut targets: Vec<u64> = (0..16).map(|_| lcg(&mut seed) % (n + 1)).collect();
        for (_, c) in vm.artifact().manifest.calls() {
            targets.extend([c.start_step, c.start_step + 1, c.start_step + c.steps / 2]);
        }
        targets.extend([0, 1, n - 1, n, n + 3]);
        targets.sort();
        targets.dedup();
        let mut reference = vm.initial(&input);
        let mut rc = vm.committer();
        let expected: Vec<_> = targets
            .iter()
            .map(|&i| {
                reference.run(i - reference.step.min(i));
                rc.state_hash(&mut reference)
            })
            .collect();
        let t = VmTrace::open(Arc::new(vm), &input).unwrap();
        assert_eq!(t.claim().steps, n, "{f}: steps");
        assert_eq!(t.state_hashes(&targets).unwrap(), expected, "{f}: one pass");
        // backward moves: later halves first, then a pass over every other step
        let half = targets.len() / 2;
        assert_eq!(
            t.state_hashes(&targets[half..]).unwrap(),
            expected[half..],
            "{f}: second half"
        );
        assert_eq!(
            t.state_hashes(&targets[..half]).unwrap(),
            expected[..half],
            "{f}: first half after the second"
        );
        for (k, &s) in targets.iter().enumerate().rev().step_by(7) {
            assert_eq!(
                t.state_hashes(&[s]).unwrap()[0],
                expected[k],
                "{f}: step {s} alone"
            );
            let post = verify_step(&expected[k], &t.step_proof(s).unwrap()).unwrap();
            assert_eq!(
                post,
                t.state_hashes(&[s + 1]).unwrap()[0],
                "{f}: proof of {s}"
            );
        }
    }
}

/// A trace session over logreg_digits: hashes of one forward pass equal hashes
/// asked one by one, and each step proof carries one state to the next.
#[test]
fn hashes_in_one_pass_match_hashes_one_by_one_and_proofs_chain_them() {
    let (vm, input, _) = common::fixture_vm("logreg_digits");
    let t = VmTrace::open(Arc::new(vm), &input).unwrap();
    let n = t.claim().steps;
    let at = [0, 1, 2, 777, n / 2, n - 1, n, n + 5];
    let many = t.state_hashes(&at).unwrap();
    for (i, &s) in at.iter().enumerate() {
        assert_eq!(t.state_hashes(&[s]).unwrap()[0], many[i], "step {s}");
    }
    assert_eq!(many[0], t.initial_state());
    assert_eq!(many[6], t.claim().final_state);
    assert_eq!(many[7], t.claim().final_state);
    for s in [0, 777, n - 1, n] {
        let post = verify_step(&t.state_hashes(&[s]).unwrap()[0], &t.step_proof(s).unwrap());
        assert_eq!(
            post.unwrap(),
            t.state_hashes(&[s + 1]).unwrap()[0],
            "step {s}"
        );
    }
    assert!(t.state_hashes(&[5, 3]).is_err());
}
