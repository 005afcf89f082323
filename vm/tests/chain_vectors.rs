//! Vectors for the contracts' model-state library (`onchain/contracts/vm/ModelState.sol`):
//! a real fixture's commitment, the initial state derived from its input, and
//! its output with the proof that the final state holds it. Written to
//! `onchain/test/vectors/model.json`; fails when stale (`OPML_BLESS=1` rewrites).

mod common;

use opml_vm::artifact::model_id;
use opml_vm::machine::model::{ModelVm, hex};
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
