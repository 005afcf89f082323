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

use crate::error::{Error, Result};
use crate::machine::hash::H256;
use crate::machine::model::ModelVm;
use crate::machine::{Committer, Frame, Machine, Op, Status, prove};
use std::sync::{Arc, Mutex};

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

/// What one call of `run` changes: the bytes of its write ranges before and
/// after it.
struct CallDelta {
    /// `(offset, bytes before, bytes after)` per write range.
    ranges: Vec<(usize, Vec<u8>, Vec<u8>)>,
}

/// Starting a cursor over from the initial image costs about as much as
/// re-hashing `memory / RESTART_COST` written bytes (copying the image and its
/// tree against hashing leaves).
const RESTART_COST: usize = 8;

/// Where a session's machine is: inside call `call` (or at its start when
/// `fresh`), with a committer whose tree matches the machine up to its dirty
/// leaves.
struct Cursor {
    m: Machine,
    c: Committer,
    call: usize,
    fresh: bool,
}

/// The honest trace of an artifact on one input: a trace session.
///
/// Opening runs the model once in wasmtime, call by call, keeping the bytes
/// each call of `run` wrote (before and after it), not whole memory copies.
/// A query then moves one machine forward or backward by restoring those
/// bytes to the start of the call holding the step, and walks the rest with
/// the stepper: at most one call, and the compiler splits big layers into
/// segments of about `compiler::emit::SEGMENT_STEPS` steps. The memory tree is shared
/// with the model (the initial image's tree is computed once) and updated
/// incrementally, so a query costs what it moves, not the memory size.
pub struct VmTrace {
    vm: Arc<ModelVm>,
    input: Vec<u8>,
    initial: H256,
    claim: ClaimData,
    /// Start step of each call, then the start of the tail (return and halt).
    starts: Vec<u64>,
    pcs: Vec<u32>,
    deltas: Vec<CallDelta>,
    cursor: Mutex<Cursor>,
}

impl VmTrace {
    /// Opens a session: runs the model once in wasmtime, keeping what each
    /// call wrote, and checks that replaying those writes gives exactly the
    /// memory wasmtime ended with. `input` is the input region's bytes
    /// (shorter input is zero-padded, as on chain).
    pub fn open(vm: Arc<ModelVm>, input: &[u8]) -> Result<VmTrace> {
        let art = vm.artifact();
        let inputs = &art.manifest.inputs;
        if input.len() as u64 > inputs.size {
            return Err(Error::Runtime(format!(
                "the input has {} bytes but the model's input region holds {}; check that the request is for this model",
                input.len(),
                inputs.size
            )));
        }
        if vm.program().code.iter().any(|i| i.op == Op::GlobalSet) {
            return Err(Error::Runtime(
                "this module writes globals, which a trace session does not keep between calls; compile it with `opml compile`".into(),
            ));
        }
        let input = input.to_vec();
        let manifest = &art.manifest;
        let calls: Vec<(u32, Vec<u32>)> = manifest.call_args();
        let writes: Vec<Vec<[u32; 2]>> = manifest.calls().map(|(_, c)| c.writes.clone()).collect();
        let mut starts: Vec<u64> = manifest.calls().map(|(_, c)| c.start_step).collect();
        starts.push(
            manifest
                .calls()
                .last()
                .map_or(0, |(_, c)| c.start_step + c.steps),
        );
        let pcs = vm.call_pcs();
        if pcs.len() != starts.len() {
            return Err(Error::Runtime(format!(
                "`run` makes {} calls but the manifest lists {}; compile the model again",
                pcs.len() - 1,
                starts.len() - 1
            )));
        }
        let clip = |mem_len: usize, w: &[u32; 2]| {
            let lo = (w[0] as usize).min(mem_len);
            (lo, (lo + w[1] as usize).min(mem_len))
        };
        let mut deltas: Vec<CallDelta> = Vec::with_capacity(calls.len());
        // The initial machine and its memory tree (read from the tree cache, or
        // hashed) are ready on the other core by the time wasmtime is done.
        let (final_memory, (mut m, mut c)) = std::thread::scope(|scope| {
            let initial = scope.spawn(|| {
                let mut m = vm.initial(&input);
                let c = vm.initial_committer(&mut m);
                (m, c)
            });
            let run = vm.runtime().and_then(|rt| {
                let before: std::cell::RefCell<Vec<Vec<Vec<u8>>>> = Default::default();
                let capture = |calls: std::ops::Range<usize>, mem: &[u8]| {
                    calls
                        .map(|i| {
                            writes[i]
                                .iter()
                                .map(|w| {
                                    let (lo, hi) = clip(mem.len(), w);
                                    mem[lo..hi].to_vec()
                                })
                                .collect()
                        })
                        .collect::<Vec<Vec<Vec<u8>>>>()
                };
                let mut record = |calls: std::ops::Range<usize>, mem: &[u8]| {
                    for (i, b) in calls.zip(before.take()) {
                        let ranges = writes[i]
                            .iter()
                            .zip(b)
                            .map(|(w, b)| {
                                let (lo, hi) = clip(mem.len(), w);
                                (lo, b, mem[lo..hi].to_vec())
                            })
                            .collect();
                        deltas.push(CallDelta { ranges });
                    }
                    Ok(())
                };
                match rt.native() {
                    Some((plans, executor)) if !plans.calls().is_empty() => rt.run_calls_grouped(
                        &input,
                        &calls,
                        (plans, executor),
                        // a product's segments run as one when each call's
                        // deltas come out as if it ran alone
                        |rest| {
                            let n = executor.group_len(plans, rest);
                            let at = calls.len() - rest.len();
                            if n > 1
                                && apart(&rest[..n], &writes[at..at + n], plans, art.memory.len())
                            {
                                n
                            } else {
                                1
                            }
                        },
                        |calls, mem| {
                            *before.borrow_mut() = capture(calls, mem);
                            Ok(())
                        },
                        &mut record,
                    ),
                    _ => rt.run_calls_with(
                        &input,
                        &calls,
                        |i, mem| {
                            *before.borrow_mut() = capture(i..i + 1, mem);
                            Ok(())
                        },
                        |i, mem| record(i..i + 1, mem),
                    ),
                }
            });
            let initial = initial.join().expect("the initial tree's thread panicked");
            run.map(|memory| (memory, initial))
        })?;
        let initial = c.state_hash(&mut m);
        let mut t = VmTrace {
            vm: vm.clone(),
            input,
            initial,
            claim: ClaimData {
                output: vec![],
                final_state: [0; 32],
                steps: 0,
                output_proof: vec![],
            },
            starts,
            pcs,
            deltas,
            cursor: Mutex::new(Cursor {
                m,
                c,
                call: 0,
                fresh: true,
            }),
        };
        // Replay every call's writes to the end; it must be wasmtime's memory.
        let n_calls = t.deltas.len();
        let mut cur = t.cursor.lock().expect("fresh lock");
        t.move_to_call(&mut cur, n_calls);
        if cur.m.memory != final_memory {
            let at = cur
                .m
                .memory
                .iter()
                .zip(&final_memory)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(Error::Runtime(format!(
                "a layer wrote outside the ranges its manifest lists (first difference at byte {at}); the artifact is inconsistent, compile it again"
            )));
        }
        cur.m.run(u64::MAX);
        if cur.m.status != Status::Halted {
            return Err(Error::Runtime(format!(
                "the run ends {:?} instead of halting",
                cur.m.status
            )));
        }
        let Cursor { m, c, .. } = &mut *cur;
        let claim = claim_with(&vm, c, m)?;
        drop(cur);
        t.claim = claim;
        Ok(t)
    }

    /// The machine this trace runs on.
    pub fn vm(&self) -> &Arc<ModelVm> {
        &self.vm
    }

    /// The input region's bytes.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// About how many bytes the session keeps resident: the bytes each call
    /// wrote (before and after), the step index, and the cursor's machine
    /// memory with its hash tree (the tree's inner nodes about double the
    /// leaves). Agents bound their trace caches by it.
    pub fn resident_bytes(&self) -> u64 {
        let writes: usize = self
            .deltas
            .iter()
            .flat_map(|d| &d.ranges)
            .map(|(_, before, after)| before.len() + after.len() + 8)
            .sum();
        let index = self.starts.len() * 8 + self.pcs.len() * 4;
        let memory = self.vm.artifact().manifest.memory.bytes;
        writes as u64 + index as u64 + self.input.len() as u64 + 3 * memory
    }

    /// The machine at `step` (clamped to the end of the run).
    pub fn machine_at(&self, step: u64) -> Result<Machine> {
        let mut cur = self.cursor.lock().expect("cursor lock");
        self.seek(&mut cur, step);
        Ok(cur.m.clone())
    }

    /// The call holding step `s`: the last call starting at or before it
    /// (the tail for steps at or past its start).
    fn call_of(&self, s: u64) -> usize {
        self.starts.partition_point(|&x| x <= s).saturating_sub(1)
    }

    /// Moves the cursor to the start of call `target` (the tail when
    /// `target` is the number of calls).
    fn move_to_call(&self, cur: &mut Cursor, target: usize) {
        // Far back, starting over from the initial image (its memory tree is
        // cached) re-hashes less than undoing every call in between.
        if target < cur.call {
            let bytes = |calls: &[CallDelta]| -> usize {
                calls
                    .iter()
                    .flat_map(|d| &d.ranges)
                    .map(|r| r.1.len())
                    .sum()
            };
            let undo = bytes(&self.deltas[target..cur.call.min(self.deltas.len())]);
            let redo = bytes(&self.deltas[..target]);
            if redo + cur.m.memory.len() / RESTART_COST < undo {
                let mut m = self.vm.initial(&self.input);
                cur.c = self.vm.initial_committer(&mut m);
                cur.m = m;
                cur.call = 0;
                cur.fresh = true;
            }
        }
        let Cursor { m, call, fresh, .. } = cur;
        if !*fresh && *call < self.deltas.len() {
            // undo a partial walk: its writes are inside its call's ranges
            for (at, b, _) in &self.deltas[*call].ranges {
                m.write_memory(*at, b);
            }
        }
        while *call < target {
            for (at, _, a) in &self.deltas[*call].ranges {
                m.write_memory(*at, a);
            }
            *call += 1;
        }
        while *call > target {
            *call -= 1;
            for (at, b, _) in &self.deltas[*call].ranges {
                m.write_memory(*at, b);
            }
        }
        // registers at a call boundary: `run`'s frame, nothing on the stack
        let run = &self.vm.program().functions[self.vm.program().exports["run"] as usize];
        m.status = Status::Running;
        m.pc = self.pcs[target];
        m.step = self.starts[target];
        m.stack.clear();
        m.frames.clear();
        m.frames.push(Frame {
            ret: 0,
            base: 0,
            count: run.locals,
        });
        m.locals.clear();
        m.locals.resize(run.locals as usize, 0);
        m.globals.clone_from(&self.vm.program().globals);
        *fresh = true;
    }

    /// Puts the cursor's machine at step `s` (clamped to the end).
    fn seek(&self, cur: &mut Cursor, s: u64) {
        let s = s.min(self.claim.steps);
        let target = self.call_of(s);
        let reusable = cur.call == target && cur.m.step <= s;
        if !reusable {
            self.move_to_call(cur, target);
        }
        if s > cur.m.step {
            cur.m.run(s - cur.m.step);
            cur.fresh = false;
        }
    }
}

/// Whether the calls of a group can run as one and still give each call the
/// deltas it gives alone: no call's write ranges (`writes`, the manifest's)
/// meet another's, nor the bytes another's plan can write.
fn apart(
    calls: &[(u32, Vec<u32>)],
    writes: &[Vec<[u32; 2]>],
    plans: &crate::native::Verified,
    len: usize,
) -> bool {
    let spans: Option<Vec<Vec<(usize, usize)>>> = calls
        .iter()
        .map(|(f, args)| crate::native::write_spans(plans.plan(*f)?, args, len))
        .collect();
    let Some(spans) = spans else { return false };
    let ranges: Vec<Vec<(usize, usize)>> = writes
        .iter()
        .map(|w| {
            w.iter()
                .map(|w| (w[0] as usize, w[0] as usize + w[1] as usize))
                .collect()
        })
        .collect();
    let meet = |a: &[(usize, usize)], b: &[(usize, usize)]| {
        a.iter().any(|x| b.iter().any(|y| x.0 < y.1 && y.0 < x.1))
    };
    (0..calls.len()).all(|i| {
        (0..calls.len())
            .filter(|&j| j != i)
            .all(|j| !meet(&ranges[i], &ranges[j]) && !meet(&ranges[i], &spans[j]))
    })
}

/// The halted machine after a full run: the native executor when the model
/// has it, else wasmtime, runs every call; the final state is built from the
/// memory it leaves.
pub fn final_machine(vm: &ModelVm, input: &[u8]) -> Result<Machine> {
    let (memory, _) = vm.runtime()?.final_memory(input)?;
    Ok(vm.final_state(memory))
}

/// The claim whose final state is `m` (which a lying agent may have tampered with).
pub fn claim_of(vm: &ModelVm, m: &mut Machine) -> Result<ClaimData> {
    claim_with(vm, &mut vm.committer(), m)
}

fn claim_with(vm: &ModelVm, c: &mut Committer, m: &mut Machine) -> Result<ClaimData> {
    let final_state = c.state_hash(m);
    let (output, header, siblings) = vm.output_proof(c, m);
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
        let mut cur = self.cursor.lock().expect("cursor lock");
        let mut out = Vec::with_capacity(steps.len());
        for &s in steps {
            if s >= end {
                out.push(self.claim.final_state);
                continue;
            }
            self.seek(&mut cur, s);
            let Cursor { m, c, .. } = &mut *cur;
            out.push(c.state_hash(m));
        }
        Ok(out)
    }

    fn step_proof(&self, step: u64) -> Result<Vec<u8>> {
        let mut cur = self.cursor.lock().expect("cursor lock");
        self.seek(&mut cur, step);
        let Cursor { m, c, .. } = &mut *cur;
        Ok(prove(c, m).encode())
    }

    fn instruction_at(&self, step: u64) -> Result<String> {
        if step >= self.claim.steps {
            return Ok("(halted)".into());
        }
        let mut cur = self.cursor.lock().expect("cursor lock");
        self.seek(&mut cur, step);
        let m = &cur.m;
        Ok(m.code
            .get(m.pc as usize)
            .map(|i| i.op.name().to_string())
            .unwrap_or_else(|| "(pc outside the code)".into()))
    }
}
