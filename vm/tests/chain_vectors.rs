//! Vectors the forge tests replay, from a real fixture (`logreg_digits`):
//! - `onchain/test/vectors/model.json` for the model-state library
//!   (`ModelState.sol`): the commitment, the initial state derived from the
//!   input, and the output with the proof that the final state holds it;
//! - `onchain/test/vectors/logreg_digits_step*.game.json` for whole dissection
//!   games with the real verifier and market (format:
//!   `onchain/test/vectors/README.md`).
//!
//! Each test fails when its committed file is stale; `OPML_BLESS=1` (set by
//! `just contracts`) rewrites them.

mod common;

use opml_vm::machine::model::{ModelVm, hex, model_id};
use opml_vm::machine::prove;
use serde_json::json;

fn bytes_hex(b: &[u8]) -> String {
    format!(
        "0x{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

#[test]
fn model_state_vectors_are_up_to_date() {
    let fixture = "logreg_digits";
    let (vm, input, rt) = common::fixture_vm(fixture);
    let m = &vm.artifact().manifest;
    let c = m.commitment.clone().unwrap();
    let mut c0 = vm.committer();
    let initial = c0.state_hash(&mut vm.initial(&input));
    assert_eq!(
        ModelVm::initial_state_hash(&c, &m.inputs, &input),
        Some(initial)
    );

    let mut fin = vm.initial(&input);
    fin.run(u64::MAX);
    let mut cf = vm.committer();
    let final_state = cf.state_hash(&mut fin);
    let (output, header, siblings) = vm.output_proof(&mut cf, &mut fin);
    assert_eq!(output, rt.run_region(&input).unwrap().output_region);
    let mut proof = header.encode().to_vec();
    siblings.iter().for_each(|s| proof.extend_from_slice(s));

    let v = json!({
        "fixture": fixture,
        "modelId": format!("0x{}", model_id(m)),
        "codeRoot": format!("0x{}", c.code_root),
        "memoryRoot": format!("0x{}", c.memory_root),
        "memorySize": c.memory_size,
        "globalsRoot": format!("0x{}", c.globals_root),
        "entryPc": c.entry_pc,
        "entryLocals": c.entry_locals,
        "inputOffset": m.inputs.offset,
        "inputSize": m.inputs.size,
        "outputOffset": m.outputs.offset,
        "outputSize": m.outputs.size,
        "inputSiblings": c.input_siblings.iter().map(|s| format!("0x{s}")).collect::<Vec<_>>(),
        "input": bytes_hex(&input),
        "initialState": format!("0x{}", hex(&initial)),
        "steps": m.steps,
        "output": bytes_hex(&output),
        "finalState": format!("0x{}", hex(&final_state)),
        "outputProof": bytes_hex(&proof),
    });
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    common::check_generated("onchain/test/vectors/model.json", &text);
}

/// Boundary `i` of the game's split of `[lo, hi]` into `min(k, hi - lo)`
/// parts (`DisputeGame.boundary`).
fn boundary(lo: u64, hi: u64, k: u64, i: u64) -> u64 {
    let len = hi - lo;
    lo + (i as u128 * len as u128 / len.min(k) as u128) as u64
}

/// Every boundary a game over `[0, steps]` visits when both sides dispute the
/// part holding `decisive`, until that part is one step long.
fn visited_boundaries(steps: u64, k: u64, decisive: u64) -> Vec<u64> {
    let mut out = std::collections::BTreeSet::new();
    let (mut lo, mut hi) = (0, steps);
    loop {
        let m = (hi - lo).min(k);
        let part = (0..m)
            .find(|&i| boundary(lo, hi, k, i) <= decisive && decisive < boundary(lo, hi, k, i + 1))
            .unwrap();
        out.extend((0..=m).map(|i| boundary(lo, hi, k, i)));
        let (a, b) = (boundary(lo, hi, k, part), boundary(lo, hi, k, part + 1));
        if b - a == 1 {
            return out.into_iter().collect();
        }
        (lo, hi) = (a, b);
    }
}

#[test]
fn game_vectors_are_up_to_date() {
    let fixture = "logreg_digits";
    let arity = 8;
    let (vm, input, _) = common::fixture_vm(fixture);
    let m = &vm.artifact().manifest;
    let c = m.commitment.clone().unwrap();
    let steps = m.steps;
    let hash_at = |i: u64| {
        let mut s = vm.state_at(&input, i).unwrap();
        format!("0x{}", hex(&vm.committer().state_hash(&mut s)))
    };
    let mut fin = vm.initial(&input);
    fin.run(u64::MAX);
    let mut cf = vm.committer();
    let (output, header, siblings) = vm.output_proof(&mut cf, &mut fin);
    let mut output_proof = header.encode().to_vec();
    siblings
        .iter()
        .for_each(|s| output_proof.extend_from_slice(s));

    // the first `call`, a `local.get` deep in the run, the final `halt`
    for decisive in [0, 4321, steps - 1] {
        let at = visited_boundaries(steps, arity, decisive);
        let hashes: Vec<String> = at.iter().map(|&i| hash_at(i)).collect();
        let mut pre = vm.state_at(&input, decisive).unwrap();
        let mut cp = vm.committer();
        let op = pre.code[pre.pc as usize].op;
        let proof = prove(&mut cp, &mut pre).encode();
        pre.step();
        let post = format!("0x{}", hex(&cp.state_hash(&mut pre)));
        let v = json!({
            "version": 1,
            "description": format!(
                "{fixture}: {steps} steps, k = {arity}, first wrong state after step {decisive} ({})",
                op.name()
            ),
            "verifier": "opml",
            "arity": arity,
            "steps": steps,
            "start": hashes[0],
            "end": hashes[hashes.len() - 1],
            "decisive_step": decisive,
            "state_steps": at,
            "state_hashes": hashes,
            "proof": bytes_hex(&proof),
            "post": post,
            "market": {
                "commitment": {
                    "code_root": format!("0x{}", c.code_root),
                    "memory_root": format!("0x{}", c.memory_root),
                    "memory_size": c.memory_size,
                    "globals_root": format!("0x{}", c.globals_root),
                    "entry_pc": c.entry_pc,
                    "entry_locals": c.entry_locals,
                    "input_offset": m.inputs.offset,
                    "input_size": m.inputs.size,
                    "output_offset": m.outputs.offset,
                    "output_size": m.outputs.size,
                },
                "input_siblings": c.input_siblings.iter().map(|s| format!("0x{s}")).collect::<Vec<_>>(),
                "input": bytes_hex(&input),
                "output": bytes_hex(&output),
                "output_proof": bytes_hex(&output_proof),
                "max_steps": steps,
            },
        });
        let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
        common::check_generated(
            &format!("onchain/test/vectors/{fixture}_step{decisive}.game.json"),
            &text,
        );
    }
}
