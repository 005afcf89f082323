//! Proof soundness: for every step of the smallest fixture,
//! `verify_step(hash(s_i), prove(s_i)) == hash(s_{i+1})`, and tampering with
//! any byte of a proof is rejected or changes the post-state.

mod common;

use opml_vm::machine::{Committer, Machine, Op, Status, prove, verify_step};
use std::collections::BTreeMap;

fn fixture_machine(name: &str) -> (Machine, Committer) {
    let (vm, region, _) = common::fixture_vm(name);
    (vm.initial(&region), vm.committer())
}

#[test]
fn every_step_of_the_smallest_fixture_verifies() {
    let (mut m, mut c) = fixture_machine("logreg_digits");
    let mut pre = c.state_hash(&mut m);
    let mut per_op: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut max_size = 0;
    let mut steps = 0;
    loop {
        let proof = prove(&mut c, &mut m).encode();
        max_size = max_size.max(proof.len());
        if m.is_running() {
            *per_op.entry(m.code[m.pc as usize].op.name()).or_default() += 1;
        }
        let was_running = m.is_running();
        m.step();
        let post = c.state_hash(&mut m);
        assert_eq!(verify_step(&pre, &proof), Ok(post), "step {steps}");
        if !was_running {
            assert_eq!(post, pre, "a halted state is a fixed point");
            break;
        }
        pre = post;
        steps += 1;
    }
    assert_eq!(m.status, Status::Halted);
    println!("{steps} steps verified, largest proof {max_size} bytes, opcodes: {per_op:?}");
    assert!(max_size <= 2048, "proof of {max_size} bytes");
}

#[test]
fn tampered_proofs_are_rejected_or_change_the_post_state() {
    let (mut m, mut c) = fixture_machine("logreg_digits");
    let mut seen: BTreeMap<Op, usize> = BTreeMap::new();
    let mut checked = 0;
    while m.is_running() {
        let op = m.code[m.pc as usize].op;
        let n = seen.entry(op).or_default();
        *n += 1;
        if *n <= 2 {
            let pre = c.state_hash(&mut m);
            let proof = prove(&mut c, &mut m).encode();
            let mut next = m.clone();
            next.step();
            let honest = verify_step(&pre, &proof).unwrap();
            for i in 0..proof.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = proof.clone();
                    bad[i] ^= bit;
                    if let Ok(h) = verify_step(&pre, &bad) {
                        assert_ne!(
                            h, honest,
                            "{op:?}: flipping byte {i} still gives the honest post-state"
                        );
                    }
                }
            }
            assert!(
                verify_step(&pre, &proof[..proof.len() - 1]).is_err(),
                "truncated"
            );
            let mut long = proof.clone();
            long.push(0);
            assert!(verify_step(&pre, &long).is_err(), "trailing byte");
            let mut bad_version = proof.clone();
            bad_version[0] = 9;
            assert!(verify_step(&pre, &bad_version).is_err(), "version");
            checked += 1;
            // the committer follows one machine: keep it on `m`
        }
        m.step();
    }
    println!(
        "tampering checked on {checked} steps covering {} opcodes",
        seen.len()
    );
    assert!(seen.len() >= 20);
}

/// At least 10,000 sampled steps of every larger fixture: windows of
/// consecutive steps starting at spread-out points (reached with `state_at`).
#[test]
fn sampled_steps_of_every_larger_fixture_verify() {
    let mut all_ops: BTreeMap<&'static str, usize> = BTreeMap::new();
    for f in ["mlp_digits", "cnn_digits", "mlp784", "transformer_block"] {
        let (vm, region, _) = common::fixture_vm(f);
        let n = vm.artifact().manifest.steps;
        let windows = 10u64;
        let per_window = 1_000u64;
        let mut verified = 0;
        for w in 0..windows {
            // spread the windows over the run, ending exactly at the halt for the last one
            let start = if w + 1 == windows {
                n - per_window + 1
            } else {
                (n / windows) * w + (w * 7919) % 997
            };
            let mut m = vm.state_at(&region, start).unwrap();
            let mut c = vm.committer();
            let mut pre = c.state_hash(&mut m);
            for _ in 0..per_window {
                if m.is_running() {
                    *all_ops.entry(m.code[m.pc as usize].op.name()).or_default() += 1;
                }
                let proof = prove(&mut c, &mut m).encode();
                assert!(proof.len() <= 2048, "{f}: proof of {} bytes", proof.len());
                m.step();
                let post = c.state_hash(&mut m);
                assert_eq!(
                    verify_step(&pre, &proof),
                    Ok(post),
                    "{f}: step {}",
                    m.step - 1
                );
                pre = post;
                verified += 1;
            }
        }
        assert_eq!(verified, 10_000);
        println!("{f}: {verified} sampled steps verified");
    }
    println!(
        "opcodes covered by the fixtures: {} {all_ops:?}",
        all_ops.len()
    );
    assert!(
        all_ops.contains_key("halt")
            && all_ops.contains_key("call")
            && all_ops.contains_key("return")
    );
}
