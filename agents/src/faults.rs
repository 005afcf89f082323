//! Fault injection for tests: lies an agent tells on purpose, so the fault
//! matrix can check that the honest side wins every game.
//!
//! Configured in the `[faults]` section of an agent's config; an agent refuses
//! the section unless it was started with `--allow-faults` (never in
//! production). A lying trace keeps the honest states before its first wrong
//! step and replaces every later one, which is what any consistent liar must
//! do: the game then narrows down to that step.

use opml_vm::error::{Error, Result};
use opml_vm::machine::hash::H256;
use opml_vm::machine::model::ModelVm;
use opml_vm::trace::{ClaimData, TraceProvider, VmTrace, claim_of};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a lie starts: the first step whose state is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LieAt {
    /// Step 1 (the state after the first instruction).
    First,
    /// The claimed end only.
    Last,
    /// A step drawn from `seed` (deterministic).
    Random,
    /// This step.
    Step(u64),
}

/// What a submitter lies about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct SubmitterFaults {
    /// Claim wrong output bytes (the first output byte flipped).
    #[serde(default)]
    pub wrong_output: bool,
    /// Claim a wrong final state with the right output (a byte outside the output region changed).
    #[serde(default)]
    pub wrong_final_state: bool,
    /// For a generation program: claim the text with this token (counting
    /// from 0) replaced by the next id, the states wrong from where the
    /// program writes it (unless `lie_at` says otherwise).
    #[serde(default)]
    pub wrong_token: Option<u32>,
    /// Claim this many steps fewer than the run takes.
    #[serde(default)]
    pub steps_short: u64,
    /// Claim this many steps more than the run takes.
    #[serde(default)]
    pub steps_long: u64,
    /// With an honest claim, post dissections that are wrong from this step on.
    #[serde(default)]
    pub diverge_from: Option<LieAt>,
    /// Where the states of a false claim start to be wrong (default: the last step).
    #[serde(default)]
    pub lie_at: Option<LieAt>,
    /// Send garbage instead of one-step proofs.
    #[serde(default)]
    pub garbage_proofs: bool,
    /// Stop moving in every game from this move number on.
    #[serde(default)]
    pub silent_from_move: Option<u16>,
    /// Lie on this per cent of the requests only (drawn from `seed` and the
    /// request id); absent: on every request.
    #[serde(default)]
    pub lie_percent: Option<u8>,
    /// Seed of `random`.
    #[serde(default)]
    pub seed: u64,
}

impl SubmitterFaults {
    /// The faults for request `id`: `None` when `lie_percent` spares it; else
    /// these, seeded by the request too (so a random lie starts at another step each time).
    pub fn for_request(&self, id: u64) -> Option<SubmitterFaults> {
        let seed = self.seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        match self.lie_percent {
            Some(p) if pick(seed, 0, 99) >= p as u64 => None,
            _ => Some(SubmitterFaults {
                seed,
                ..self.clone()
            }),
        }
    }
}

/// What a challenger lies about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ChallengerFaults {
    /// Challenge claims that re-execute correctly.
    #[serde(default)]
    pub dispute_correct: bool,
    /// Play a trace that is wrong from this step on.
    #[serde(default)]
    pub diverge_from: Option<LieAt>,
    /// Stop moving in every game from this move number on.
    #[serde(default)]
    pub silent_from_move: Option<u16>,
    /// Seed of `random`.
    #[serde(default)]
    pub seed: u64,
}

/// A trace that agrees with the honest one before `first_wrong` and lies from there.
pub struct LyingTrace {
    honest: Arc<VmTrace>,
    claim: ClaimData,
    first_wrong: u64,
    garbage_proofs: bool,
    seed: u64,
}

/// A deterministic number in `[lo, hi]` from a seed (splitmix64).
pub fn pick(seed: u64, lo: u64, hi: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if hi <= lo { lo } else { lo + z % (hi - lo + 1) }
}

fn resolve(at: LieAt, end: u64, seed: u64) -> u64 {
    match at {
        LieAt::First => 1,
        LieAt::Last => end,
        LieAt::Random => pick(seed, 1, end),
        LieAt::Step(s) => s.clamp(1, end),
    }
}

impl LyingTrace {
    /// The submitter's lie on `honest`; `None` when the faults change nothing about the trace.
    pub fn submitter(honest: Arc<VmTrace>, f: &SubmitterFaults) -> Result<Option<LyingTrace>> {
        let vm: &ModelVm = honest.vm();
        let n = honest.claim().steps;
        let false_claim = f.wrong_output
            || f.wrong_final_state
            || f.wrong_token.is_some()
            || f.steps_short > 0
            || f.steps_long > 0;
        let mut token_lie_from = None;
        let (claim, first_wrong) = if false_claim {
            let mut m = honest.machine_at(n)?;
            let outputs = &vm.artifact().manifest.outputs;
            if f.wrong_output {
                m.memory[outputs.offset as usize] ^= 0x01;
            }
            if let Some(t) = f.wrong_token {
                let manifest = &vm.artifact().manifest;
                let program = manifest.generation.as_ref().ok_or_else(|| {
                    Error::BadInput("wrong_token needs a generation program".into())
                })?;
                let span = program.tokens.get(t as usize).ok_or_else(|| {
                    Error::BadInput(format!(
                        "wrong_token = {t} but the program writes {} tokens",
                        program.tokens.len()
                    ))
                })?;
                let slot = outputs
                    .tensors
                    .iter()
                    .find(|s| s.name == format!("token{t}"))
                    .ok_or_else(|| Error::BadInput(format!("no output `token{t}`")))?;
                let at = slot.offset as usize;
                let word = i32::from_le_bytes(m.memory[at..at + 4].try_into().expect("4 bytes"));
                let other = (word + 1).rem_euclid(program.vocab.max(1) as i32);
                m.memory[at..at + 4].copy_from_slice(&other.to_le_bytes());
                // the token is stored by the last step of its computation
                token_lie_from = Some(span.start_step + span.steps);
            }
            if f.wrong_final_state {
                // The first byte past the output region (or before it), never an output byte.
                let end = outputs.offset as usize + outputs.size as usize;
                let at = if end < m.memory.len() {
                    end
                } else {
                    outputs.offset as usize - 1
                };
                m.memory[at] ^= 0x01;
            }
            if f.steps_short > 0 {
                if f.steps_short >= n {
                    return Err(Error::Runtime(format!(
                        "steps_short = {} but the run has only {n} steps",
                        f.steps_short
                    )));
                }
                m.step = n - f.steps_short;
            }
            m.step += f.steps_long;
            m.mark_all_dirty();
            let claim = claim_of(vm, &mut m)?;
            // A step-count lie differs from the honest trace only at its end
            // (past the real end the honest machine stays halted).
            let end = claim.steps;
            let lo = if f.steps_long > 0 { n + 1 } else { 1 };
            let first = match (f.lie_at, token_lie_from) {
                (None, Some(from)) => from.clamp(lo, end),
                (at, _) => match at.unwrap_or(LieAt::Last) {
                    LieAt::Last => end,
                    at => resolve(at, end, f.seed).max(lo),
                },
            };
            (claim, first)
        } else if let Some(at) = f.diverge_from {
            (
                honest.claim().clone(),
                resolve(at, n.saturating_sub(1).max(1), f.seed),
            )
        } else if f.garbage_proofs {
            (honest.claim().clone(), u64::MAX)
        } else {
            return Ok(None);
        };
        Ok(Some(LyingTrace {
            honest,
            claim,
            first_wrong,
            garbage_proofs: f.garbage_proofs,
            seed: f.seed,
        }))
    }

    /// The challenger's lie: the honest claim's trace, wrong from `diverge_from`.
    pub fn challenger(honest: Arc<VmTrace>, f: &ChallengerFaults) -> Option<LyingTrace> {
        let at = f.diverge_from?;
        let n = honest.claim().steps;
        Some(LyingTrace {
            claim: honest.claim().clone(),
            first_wrong: resolve(at, n, f.seed),
            honest,
            garbage_proofs: false,
            seed: f.seed,
        })
    }

    /// The first wrong step.
    pub fn first_wrong(&self) -> u64 {
        self.first_wrong
    }

    fn wrong_hash(&self, step: u64) -> H256 {
        if step == self.claim.steps {
            return self.claim.final_state;
        }
        // A hash from another family than the machine's keccak: no honest state has it.
        let mut h = blake3::Hasher::new();
        h.update(b"opml.fault.lie");
        h.update(&self.seed.to_be_bytes());
        h.update(&step.to_be_bytes());
        *h.finalize().as_bytes()
    }
}

impl TraceProvider for LyingTrace {
    fn claim(&self) -> &ClaimData {
        &self.claim
    }

    fn initial_state(&self) -> H256 {
        self.honest.initial_state()
    }

    fn state_hashes(&self, steps: &[u64]) -> Result<Vec<H256>> {
        let honest_part: Vec<u64> = steps
            .iter()
            .copied()
            .filter(|&s| s < self.first_wrong)
            .collect();
        let mut out = self.honest.state_hashes(&honest_part)?;
        out.extend(
            steps
                .iter()
                .filter(|&&s| s >= self.first_wrong)
                .map(|&s| self.wrong_hash(s)),
        );
        Ok(out)
    }

    fn step_proof(&self, step: u64) -> Result<Vec<u8>> {
        if self.garbage_proofs {
            return Ok(self.wrong_hash(step).to_vec());
        }
        self.honest.step_proof(step)
    }

    fn instruction_at(&self, step: u64) -> Result<String> {
        self.honest.instruction_at(step)
    }
}

/// A crash injected for tests: with `OPML_CRASH_AT=<point>:<purpose prefix>`
/// the process kills itself with SIGKILL at `point` of a transaction whose
/// purpose starts with the prefix: `signed` (journaled, not broadcast) or
/// `broadcast` (broadcast, its receipt not awaited), as `kill -9` would there.
pub fn crash_point(point: &str, purpose: &str) {
    let Ok(spec) = std::env::var("OPML_CRASH_AT") else {
        return;
    };
    if spec
        .split_once(':')
        .is_some_and(|(p, prefix)| p == point && purpose.starts_with(prefix))
    {
        tracing::error!(point, purpose, "OPML_CRASH_AT: killing this process");
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_deterministic_and_in_range() {
        for seed in 0..200 {
            let v = pick(seed, 5, 9);
            assert!((5..=9).contains(&v));
            assert_eq!(v, pick(seed, 5, 9));
        }
        assert_eq!(pick(3, 7, 7), 7);
    }

    #[test]
    fn faults_refuse_unknown_keys() {
        let e = toml::from_str::<SubmitterFaults>("wrong_outptu = true").unwrap_err();
        assert!(e.to_string().contains("wrong_outptu"), "{e}");
        let f: SubmitterFaults = toml::from_str("steps_short = 3\nlie_at = { step = 10 }").unwrap();
        assert_eq!(f.lie_at, Some(LieAt::Step(10)));
    }
}
