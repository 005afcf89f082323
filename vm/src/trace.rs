//! Trace providers: what a dispute agent asks of the machine.
//!
//! An agent opens one session per (artifact, input) and then asks, many times
//! over a game, for the state hashes at a few sorted steps, and once for the
//! proof of the decisive step. [`TraceProvider`] is that whole interface, so
//! how the answers are made fast (layer fast-forward in wasmtime, incremental
//! memory trees, later caches) stays behind it.
//!
//! The trace of a run of `n` steps has a state at every step `0..=n`; past the
//! end the machine is halted and stepping it changes nothing, so the state at
//! any `i >= n` is the final one. A claim that asserts more steps than the
//! model takes is disputed exactly there.

use crate::artifact::Artifact;
use crate::error::{Error, Result};
use crate::machine::hash::H256;
use crate::machine::model::ModelVm;
use crate::machine::{Machine, prove};
use crate::runtime::run_layers;
use std::sync::Arc;

/// What a submitter posts for one inference, all derived from the final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimData {
    /// The output region's bytes.
    pub output: Vec<u8>,
    /// The final state hash.
    pub final_state: H256,
    /// Steps of the run.
    pub steps: u64,
    /// The final state's header followed by the output region's siblings
    /// (what `InferenceMarket.submit` checks the output against).
    pub output_proof: Vec<u8>,
}

/// One execution trace, as a dispute needs it.
pub trait TraceProvider: Send + Sync {
    /// The claim this trace ends in.
    fn claim(&self) -> &ClaimData;

    /// The state hash at step 0.
    fn initial_state(&self) -> H256;

    /// The state hashes at `steps`, which must be sorted ascending; computed in
    /// one forward pass. Steps past the end give the final state.
    fn state_hashes(&self, steps: &[u64]) -> Result<Vec<H256>>;

    /// The one-step proof of the transition from step `step` to `step + 1`
    /// (`docs/STATE.md`), for the verifier.
    fn step_proof(&self, step: u64) -> Result<Vec<u8>>;

    /// The instruction executed at `step` (its name), for reports.
    fn instruction_at(&self, step: u64) -> Result<String>;
}

/// The honest trace of an artifact on one input, computed by this machine.
pub struct VmTrace {
    vm: Arc<ModelVm>,
    input: Vec<u8>,
    initial: H256,
    claim: ClaimData,
}

impl VmTrace {
    /// Opens a session: runs the model once in wasmtime for the final state.
    /// `input` is the input region's bytes (shorter input is zero-padded, as on chain).
    pub fn open(vm: Arc<ModelVm>, input: &[u8]) -> Result<VmTrace> {
        let inputs = &vm.artifact().manifest.inputs;
        if input.len() as u64 > inputs.size {
            return Err(Error::Runtime(format!(
                "the input has {} bytes but the model's input region holds {}; check that the request is for this model",
                input.len(),
                inputs.size
            )));
        }
        let input = input.to_vec();
        let mut c = vm.committer();
        let initial = c.state_hash(&mut vm.initial(&input));
        let claim = final_claim(&vm, &input)?;
        Ok(VmTrace {
            vm,
            input,
            initial,
            claim,
        })
    }

    /// The machine this trace runs on.
    pub fn vm(&self) -> &Arc<ModelVm> {
        &self.vm
    }

    /// The input region's bytes.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// The machine at `step` (clamped to the end of the run).
    pub fn machine_at(&self, step: u64) -> Result<Machine> {
        self.vm.state_at(&self.input, step.min(self.claim.steps))
    }
}

/// The halted machine after a full run: wasmtime runs every layer, the final
/// state is built from the memory it leaves.
pub fn final_machine(vm: &ModelVm, input: &[u8]) -> Result<Machine> {
    let art: &Artifact = vm.artifact();
    let funcs: Vec<u32> = art
        .manifest
        .layers
        .iter()
        .filter_map(|l| l.function)
        .collect();
    Ok(vm.final_state(run_layers(art, input, &funcs)?))
}

/// The claim of a full run.
fn final_claim(vm: &ModelVm, input: &[u8]) -> Result<ClaimData> {
    claim_of(vm, &mut final_machine(vm, input)?)
}

/// The claim whose final state is `m` (which a lying agent may have tampered with).
pub fn claim_of(vm: &ModelVm, m: &mut Machine) -> Result<ClaimData> {
    let mut c = vm.committer();
    let final_state = c.state_hash(m);
    let (output, header, siblings) = vm.output_proof(&mut c, m);
    let mut output_proof = header.encode().to_vec();
    siblings
        .iter()
        .for_each(|s| output_proof.extend_from_slice(s));
    Ok(ClaimData {
        output,
        final_state,
        steps: m.step,
        output_proof,
    })
}

impl TraceProvider for VmTrace {
    fn claim(&self) -> &ClaimData {
        &self.claim
    }

    fn initial_state(&self) -> H256 {
        self.initial
    }

    fn state_hashes(&self, steps: &[u64]) -> Result<Vec<H256>> {
        if !steps.is_sorted() {
            return Err(Error::Runtime(
                "state hashes are computed in one forward pass: pass the steps sorted".into(),
            ));
        }
        let end = self.claim.steps;
        let mut out = Vec::with_capacity(steps.len());
        let Some(&first) = steps.first() else {
            return Ok(out);
        };
        let mut m = self.machine_at(first)?;
        let mut c = self.vm.committer();
        for &s in steps {
            if s >= end {
                out.push(self.claim.final_state);
                continue;
            }
            m.run(s - m.step);
            out.push(c.state_hash(&mut m));
        }
        Ok(out)
    }

    fn step_proof(&self, step: u64) -> Result<Vec<u8>> {
        let mut m = self.machine_at(step)?;
        if step >= self.claim.steps {
            // The halted state: the final machine as wasmtime left it.
            m = final_machine(&self.vm, &self.input)?;
        }
        let mut c = self.vm.committer();
        Ok(prove(&mut c, &mut m).encode())
    }

    fn instruction_at(&self, step: u64) -> Result<String> {
        if step >= self.claim.steps {
            return Ok("(halted)".into());
        }
        let m = self.machine_at(step)?;
        Ok(m.code
            .get(m.pc as usize)
            .map(|i| i.op.name().to_string())
            .unwrap_or_else(|| "(pc outside the code)".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{CompileOptions, compile_file};
    use crate::machine::verify_step;

    fn trace() -> VmTrace {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let art = compile_file(
            &root.join("fixtures/logreg_digits/model.onnx"),
            &CompileOptions::default(),
        )
        .unwrap();
        let x = crate::npy::read(&root.join("fixtures/logreg_digits/input.npy")).unwrap();
        let region = crate::runtime::Runtime::new(art.clone(), false)
            .unwrap()
            .input_region(&[x])
            .unwrap();
        VmTrace::open(Arc::new(ModelVm::new(art).unwrap()), &region).unwrap()
    }

    #[test]
    fn hashes_in_one_pass_match_hashes_one_by_one_and_proofs_chain_them() {
        let t = trace();
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
}
