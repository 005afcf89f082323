//! A compiled model as a provable machine: its commitment, the initial state
//! derived from the input bytes, the final state and output proofs, per-layer
//! step counts, and fast seek to any step.
//!
//! The input and output regions are aligned power-of-two subtrees of the
//! memory tree, so a contract that knows the model commitment can derive the
//! initial state hash from the input bytes alone, and check posted output
//! bytes against a final state with one Merkle path.

use super::exec::{Frame, Machine, Status};
use super::hash::{self, GLOBALS, H256, MEMORY, Tree, ZERO, values_root};
use super::lower::{Program, lower};
use super::state::{Committer, Header, empty_locals_root, frame_entry, memory_depth};
use crate::artifact::{Artifact, Manifest, ModelCommitment, Region};
use crate::error::{Error, Result};
use crate::native::{Executor, Verified};
use crate::runtime::Runtime;
use std::sync::Arc;

/// Hex of a hash.
pub fn hex(h: &H256) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a 64-digit hex hash (optionally `0x`-prefixed).
pub fn unhex(s: &str) -> Option<H256> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The model id: keccak256 over the commitment (code root, initial memory root,
/// memory size, globals root, entry) and the IO regions. Hex, no prefix.
pub fn model_id(m: &Manifest) -> String {
    let c = m.commitment.as_ref();
    let root = |s: Option<&String>| s.and_then(|s| unhex(s)).unwrap_or([0u8; 32]);
    let mut data = Vec::new();
    data.extend_from_slice(b"opml.model.v1");
    data.extend_from_slice(&root(c.map(|c| &c.code_root)));
    data.extend_from_slice(&root(c.map(|c| &c.memory_root)));
    data.extend_from_slice(&c.map_or(0, |c| c.memory_size).to_be_bytes());
    data.extend_from_slice(&root(c.map(|c| &c.globals_root)));
    data.extend_from_slice(&c.map_or(0, |c| c.entry_pc).to_be_bytes());
    data.extend_from_slice(&c.map_or(0, |c| c.entry_locals).to_be_bytes());
    for r in [&m.inputs, &m.outputs] {
        data.extend_from_slice(&r.offset.to_be_bytes());
        data.extend_from_slice(&r.size.to_be_bytes());
    }
    hex(&hash::hash(0x00, &[&data]))
}

/// Root of a memory region's subtree (32-byte leaves, region size a power of two).
pub fn region_root(bytes: &[u8], region_size: u64) -> H256 {
    let leaves = (region_size / 32).max(1);
    let depth = hash::depth_for(leaves);
    let mut padded = bytes.to_vec();
    padded.resize(region_size as usize, 0);
    Tree::new(
        MEMORY,
        depth,
        padded.chunks(32).map(|c| c.try_into().unwrap()),
    )
    .root()
}

/// Root of the memory tree from a region's subtree root and its siblings.
pub fn root_from_region(region: &Region, subtree: &H256, siblings: &[H256]) -> H256 {
    let level = hash::depth_for((region.size / 32).max(1));
    let mut index = region.offset as u64 / region.size.max(32);
    let mut h = *subtree;
    for sib in siblings {
        h = if index & 1 == 0 {
            MEMORY.node(&h, sib)
        } else {
            MEMORY.node(sib, &h)
        };
        index >>= 1;
    }
    let _ = level;
    h
}

/// Siblings of a region's subtree in `tree`, bottom up.
fn region_siblings(tree: &Tree, region: &Region) -> Vec<H256> {
    let level = hash::depth_for((region.size / 32).max(1)) as usize;
    let leaf = region.offset as u64 / 32;
    tree.path(leaf)[level..].to_vec()
}

/// A compiled model ready to be stepped, proven and sought into.
pub struct ModelVm {
    artifact: Artifact,
    program: Program,
    code: Arc<[super::isa::Instr]>,
    entry: u32,
    committer: Committer,
    /// The memory tree of the initial image with a zero input region,
    /// computed on first use and shared by every trace session.
    initial_tree: std::sync::OnceLock<Tree>,
    /// Copies of the initial tree for final states, put back after use
    /// ([`ModelVm::recycle`]): cloning the tree of a large memory costs more
    /// than hashing what a run changed.
    scratch_trees: std::sync::Mutex<Vec<Tree>>,
    /// The native executor and the plans it may run for this model
    /// ([`ModelVm::with_native`]); `None`: wasmtime runs the layers.
    native: Option<(Arc<Verified>, Arc<Executor>)>,
}

/// A claim's final state ([`ModelVm::final_committed`]): the halted
/// machine and a committer that re-hashes only the leaves the run changed.
/// Its parts are private so that nothing but those leaves can change before
/// [`ModelVm::recycle`] puts its tree back.
pub struct FinalState {
    machine: Machine,
    committer: Committer,
    /// The leaves that differ from the initial image, in order.
    leaves: Vec<u64>,
}

impl ModelVm {
    /// Lowers the artifact's module.
    pub fn new(artifact: Artifact) -> Result<ModelVm> {
        let program = lower(&artifact.wasm).map_err(|e| Error::Runtime(e.to_string()))?;
        let entry = *program
            .exports
            .get("run")
            .ok_or_else(|| Error::Runtime("module exports no `run`".into()))?;
        let code: Arc<[super::isa::Instr]> = program.code.clone().into();
        let committer = Committer::new(&program.code);
        Ok(ModelVm {
            artifact,
            program,
            code,
            entry,
            committer,
            initial_tree: std::sync::OnceLock::new(),
            scratch_trees: Default::default(),
            native: None,
        })
    }

    /// This model with the native executor running the calls of `plans`,
    /// which the compiler verified against its module
    /// (`compiler::plans::accelerate_vm`): runs to call boundaries (trace
    /// sessions, final states) use it.
    pub fn with_native(mut self, plans: Arc<Verified>, executor: Arc<Executor>) -> ModelVm {
        self.native = Some((plans, executor));
        self
    }

    /// The verified plans and the executor, when the native executor is on.
    pub fn native(&self) -> Option<(&Arc<Verified>, &Arc<Executor>)> {
        self.native.as_ref().map(|(p, e)| (p, e))
    }

    /// A runtime for this model's artifact, with the native executor when
    /// it is on.
    pub fn runtime(&self) -> Result<Runtime> {
        let rt = Runtime::new(self.artifact.clone(), false)?;
        Ok(match &self.native {
            Some((plans, executor)) => rt.with_native(plans.clone(), executor.clone()),
            None => rt,
        })
    }

    /// [`ModelVm::new`] for an artifact from outside this process: its
    /// manifest's derived fields are checked against its code first
    /// ([`ModelVm::check_manifest`]).
    pub fn checked(artifact: Artifact) -> Result<ModelVm> {
        let vm = ModelVm::new(artifact)?;
        vm.check_manifest()?;
        Ok(vm)
    }

    /// The artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The lowered program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The code root.
    pub fn code_root(&self) -> H256 {
        self.committer.code_root()
    }

    /// A committer for `m`, the initial machine on some input: the shared
    /// tree of the initial image, with the input region's leaves rehashed.
    pub fn initial_committer(&self, m: &mut Machine) -> Committer {
        let tree = self
            .initial_tree
            .get_or_init(|| self.load_or_build_initial_tree());
        m.take_dirty();
        let inputs = &self.artifact.manifest.inputs;
        let at = inputs.offset as usize;
        m.mark_dirty(at, inputs.size as usize);
        self.committer().with_memory_tree(tree.clone())
    }

    /// The memory tree of the initial image (zero input): from the tree
    /// cache ([`crate::cache::tree_dir`]) when an entry for this image is
    /// there and its root is the committed memory root, else built (on two
    /// threads) and stored. It does not depend on the input, so every
    /// session of every process shares one build.
    fn load_or_build_initial_tree(&self) -> Tree {
        let image = blake3::hash(&self.artifact.memory);
        let committed = self
            .artifact
            .manifest
            .commitment
            .as_ref()
            .and_then(|c| unhex(&c.memory_root));
        let path = crate::cache::tree_dir().map(|d| d.join(format!("{}.tree", image.to_hex())));
        if let Some(p) = &path
            && let Some(body) = crate::cache::load_checked(p, image.as_bytes())
            && let Some(t) = Tree::from_levels(MEMORY, &body)
            && committed.is_none_or(|r| r == t.root())
            && t.depth() == memory_depth(self.artifact.memory.len() as u64)
        {
            return t;
        }
        let mut zero = self.initial(&[]);
        let t = self.committer().memory_tree(&mut zero).clone();
        if let Some(p) = &path {
            let _ = crate::cache::store_checked(p, image.as_bytes(), &t.levels_bytes());
        }
        t
    }

    /// A fresh committer for machines of this model.
    pub fn committer(&self) -> Committer {
        self.committer.clone()
    }

    /// The machine at step 0 for the given input-region bytes.
    pub fn initial(&self, input_region: &[u8]) -> Machine {
        let mut m = Machine::with_code(
            self.code.clone(),
            self.artifact.memory.clone(),
            self.program.globals.clone(),
        );
        let at = self.artifact.manifest.inputs.offset as usize;
        m.memory[at..at + input_region.len()].copy_from_slice(input_region);
        let f = &self.program.functions[self.entry as usize];
        m.frames.push(Frame {
            ret: 0,
            base: 0,
            count: f.locals,
        });
        m.locals.resize(f.locals as usize, 0);
        m.pc = f.entry;
        m
    }

    /// The commitment a registry stores (steps and siblings measured here).
    pub fn commitment(&self, steps: u64) -> ModelCommitment {
        let mut m = self.initial(&[]);
        let mut c = self.committer();
        let tree = c.memory_tree(&mut m).clone();
        let f = &self.program.functions[self.entry as usize];
        ModelCommitment {
            code_root: hex(&self.code_root()),
            memory_root: hex(&tree.root()),
            memory_size: m.memory.len() as u64,
            globals_root: hex(&values_root(GLOBALS, &self.program.globals)),
            entry_pc: f.entry,
            entry_locals: f.locals,
            input_siblings: region_siblings(&tree, &self.artifact.manifest.inputs)
                .iter()
                .map(hex)
                .collect(),
            steps,
        }
    }

    /// Checks every manifest field derived from the code against the code:
    /// the commitment (code, initial memory and globals roots, memory size,
    /// entry, input siblings) and the step counts (each call's start and
    /// length, each layer's, the total), measured as the compiler measures
    /// them. A manifest edited by hand, or taken from another build, fails
    /// here with the first field that differs, before anyone bonds on it.
    pub fn check_manifest(&self) -> Result<()> {
        let m = &self.artifact.manifest;
        let wrong = |field: &str, manifest: String, code: String| {
            Err(Error::Runtime(format!(
                "the manifest's {field} is {manifest} but the artifact's code and image give {code}: the manifest was edited or comes from another build; compile the model again (`opml compile`)"
            )))
        };
        let Some(c) = &m.commitment else {
            return Err(Error::Runtime(
                "the manifest has no commitment; compile the model again (`opml compile`)".into(),
            ));
        };
        let calls = m.call_args();
        let (call_steps, steps) = self.measure_calls(&calls)?;
        let mut at = 0u64;
        let mut measured = call_steps.iter();
        for layer in &m.layers {
            if layer.function.is_none() {
                continue;
            }
            let start = at;
            for call in &layer.calls {
                let n = *measured.next().expect("one count per call");
                if (call.start_step, call.steps) != (at, n) {
                    return wrong(
                        &format!("call of layer `{}` (start step, steps)", layer.name),
                        format!("{:?}", (call.start_step, call.steps)),
                        format!("{:?}", (at, n)),
                    );
                }
                at += n;
            }
            if (layer.start_step, layer.steps) != (start, at - start) {
                return wrong(
                    &format!("layer `{}` (start step, steps)", layer.name),
                    format!("{:?}", (layer.start_step, layer.steps)),
                    format!("{:?}", (start, at - start)),
                );
            }
        }
        if m.steps != steps {
            return wrong("step count", m.steps.to_string(), steps.to_string());
        }
        if c.steps != steps {
            return wrong(
                "commitment's step count",
                c.steps.to_string(),
                steps.to_string(),
            );
        }
        let tree = self
            .initial_tree
            .get_or_init(|| self.load_or_build_initial_tree());
        let f = &self.program.functions[self.entry as usize];
        let siblings: Vec<String> = region_siblings(tree, &m.inputs).iter().map(hex).collect();
        let fields = [
            ("code root", c.code_root.clone(), hex(&self.code_root())),
            (
                "initial memory root",
                c.memory_root.clone(),
                hex(&tree.root()),
            ),
            (
                "memory size",
                c.memory_size.to_string(),
                self.artifact.memory.len().to_string(),
            ),
            (
                "globals root",
                c.globals_root.clone(),
                hex(&values_root(GLOBALS, &self.program.globals)),
            ),
            ("entry pc", c.entry_pc.to_string(), f.entry.to_string()),
            (
                "entry locals",
                c.entry_locals.to_string(),
                f.locals.to_string(),
            ),
            (
                "input siblings",
                c.input_siblings.join(","),
                siblings.join(","),
            ),
        ];
        for (field, manifest, code) in fields {
            if manifest != code {
                return wrong(field, manifest, code);
            }
        }
        Ok(())
    }

    /// Where each call sequence of `run` starts (its first argument, or the
    /// `call`), followed by the pc after the last call.
    pub fn call_pcs(&self) -> Vec<u32> {
        let f = &self.program.functions[self.entry as usize];
        let mut pcs = vec![f.entry];
        let mut pc = f.entry as usize;
        while let Some(ins) = self.code.get(pc) {
            match ins.op {
                super::isa::Op::Call => pcs.push(pc as u32 + 1),
                super::isa::Op::Return | super::isa::Op::Halt => break,
                _ => {}
            }
            pc += 1;
        }
        pcs
    }

    /// Steps of each of `run`'s calls (given as function and arguments), and
    /// the total of a run. Kernels have data-independent control flow and a
    /// segment's first index only moves its pointers, so a call's steps
    /// depend only on its function and trip count: each distinct one is
    /// stepped once, from the initial state.
    ///
    /// The counts are kept in the step cache ([`crate::cache::steps_dir`]),
    /// keyed by the module and the calls: a generation program steps tens of
    /// billions of instructions to be measured, once per machine.
    pub fn measure_calls(&self, calls: &[(u32, Vec<u32>)]) -> Result<(Vec<u64>, u64)> {
        let mut h = blake3::Hasher::new();
        h.update(b"opml.steps.v1");
        h.update(blake3::hash(&self.artifact.wasm).as_bytes());
        for (f, args) in calls {
            h.update(&f.to_le_bytes());
            h.update(&(args.len() as u32).to_le_bytes());
            args.iter().for_each(|a| {
                h.update(&a.to_le_bytes());
            });
        }
        let key = *h.finalize().as_bytes();
        let path = crate::cache::steps_dir().map(|d| d.join(format!("{}.bin", hex(&key))));
        let decode = |body: Vec<u8>| -> Option<(Vec<u64>, u64)> {
            let words: Vec<u64> = body
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            let (&total, steps) = words.split_last()?;
            (steps.len() == calls.len()).then(|| (steps.to_vec(), total))
        };
        if let Some(hit) = path
            .as_deref()
            .and_then(|p| crate::cache::load_checked(p, &key))
            .and_then(decode)
        {
            return Ok(hit);
        }
        let (steps, total) = self.measure_calls_now(calls)?;
        if let Some(p) = path {
            let body: Vec<u8> = steps
                .iter()
                .chain([&total])
                .flat_map(|w| w.to_le_bytes())
                .collect();
            // a cache is optional: a failed write only costs the next run a measurement
            let _ = crate::cache::store_checked(&p, &key, &body);
        }
        Ok((steps, total))
    }

    fn measure_calls_now(&self, calls: &[(u32, Vec<u32>)]) -> Result<(Vec<u64>, u64)> {
        let pcs = self.call_pcs();
        if pcs.len() != calls.len() + 1 {
            return Err(Error::Runtime(format!(
                "`run` makes {} calls but the manifest lists {}",
                pcs.len() - 1,
                calls.len()
            )));
        }
        let mut memo: std::collections::HashMap<(u32, Vec<u32>), u64> = Default::default();
        let mut steps = Vec::with_capacity(calls.len());
        // One machine for every measurement, put back to the initial state
        // after each (registers, and memory where the call wrote): copying
        // the whole image per measured call cost seconds on a large model.
        let mut m = self.initial(&[]);
        let (frames, locals, globals) = (m.frames.clone(), m.locals.clone(), m.globals.clone());
        m.take_dirty();
        let image = &self.artifact.memory;
        let measure = |m: &mut Machine, pc: u32, whole: bool| -> u64 {
            m.pc = pc;
            m.step = 0;
            m.status = Status::Running;
            m.stack.clear();
            m.frames.clone_from(&frames);
            m.locals.clone_from(&locals);
            m.globals.clone_from(&globals);
            let n = if whole { m.run(u64::MAX) } else { m.run_call() };
            let mut leaves = vec![];
            m.drain_dirty(|leaf| leaves.push(leaf));
            for leaf in leaves {
                let lo = leaf * 32;
                let hi = (lo + 32).min(image.len());
                if lo < hi {
                    m.memory[lo..hi].copy_from_slice(&image[lo..hi]);
                }
            }
            n
        };
        for (i, (f, args)) in calls.iter().enumerate() {
            let key = (*f, args.iter().skip(1).copied().collect::<Vec<_>>());
            let n = match memo.get(&key) {
                Some(&n) => n,
                None => {
                    let n = measure(&mut m, pcs[i], false);
                    if !m.is_running() {
                        return Err(Error::Runtime(format!(
                            "layer function {f} stopped the machine while measuring its steps ({:?})",
                            m.status
                        )));
                    }
                    memo.insert(key, n);
                    n
                }
            };
            steps.push(n);
        }
        let end = measure(&mut m, *pcs.last().unwrap(), true);
        Ok((steps.clone(), steps.iter().sum::<u64>() + end))
    }

    /// Per-call (start step, steps) and the total, by running the stepper
    /// through a whole inference (what [`ModelVm::measure_calls`] predicts).
    pub fn measure_steps(&self) -> (Vec<(u64, u64)>, u64) {
        let pcs = self.call_pcs();
        let mut m = self.initial(&[]);
        let mut starts = vec![];
        while m.is_running() {
            if m.frames.len() == 1 && starts.len() + 1 < pcs.len() && m.pc == pcs[starts.len()] {
                starts.push(m.step);
            }
            m.step();
        }
        let total = m.step;
        let tail = {
            let mut t = self.initial(&[]);
            t.pc = *pcs.last().unwrap();
            t.run(u64::MAX)
        };
        let mut out = vec![];
        for (k, &s) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(total - tail);
            out.push((s, end - s));
        }
        (out, total)
    }

    /// The machine at the start of call `c` of `run`, given the memory the
    /// calls before it left.
    pub fn at_call(&self, c: usize, memory: Vec<u8>) -> Machine {
        let pcs = self.call_pcs();
        let mut m = self.initial(&[]);
        m.memory = memory;
        m.mark_all_dirty();
        m.pc = pcs[c.min(pcs.len() - 1)];
        m.step = self
            .artifact
            .manifest
            .calls()
            .nth(c)
            .map_or(self.artifact.manifest.steps, |(_, call)| call.start_step);
        m
    }

    /// The machine at step `i` for an input: the native executor (or
    /// wasmtime) runs whole calls up to the last call boundary at or before
    /// `i`, then the stepper steps the rest.
    pub fn state_at(&self, input_region: &[u8], i: u64) -> Result<Machine> {
        let starts: Vec<u64> = self
            .artifact
            .manifest
            .calls()
            .map(|(_, c)| c.start_step)
            .collect();
        // calls that start at or before `i`; all but the last of them run in wasmtime
        let started = starts.iter().take_while(|&&s| s <= i).count();
        let mut m = self.initial(input_region);
        if started > 1 {
            let done = started - 1;
            let memory = self.runtime()?.memory_after_calls(input_region, done)?;
            m = self.at_call(done, memory);
        }
        m.run(i.saturating_sub(m.step));
        Ok(m)
    }

    /// The halted state after a full run that left `memory`, with a
    /// committer whose memory tree is the initial image's (the tree cache's,
    /// [`ModelVm::initial_committer`]) brought up to date at the leaves the
    /// run changed: a claim's final state without rehashing all of memory.
    /// [`ModelVm::recycle`] takes it back.
    pub fn final_committed(&self, memory: Vec<u8>) -> FinalState {
        let pristine = self
            .initial_tree
            .get_or_init(|| self.load_or_build_initial_tree());
        let tree = self
            .scratch_trees
            .lock()
            .expect("scratch trees")
            .pop()
            .unwrap_or_else(|| pristine.clone());
        let mut m = self.final_state(memory);
        m.take_dirty();
        // the leaves (32 bytes) that differ from the zero-input image, found
        // on two threads: a memcmp of the whole memory is far cheaper than hashing it
        let image = &self.artifact.memory;
        let half = (m.memory.len() / 2).next_multiple_of(32);
        let changed = |from: usize, a: &[u8], b: &[u8]| -> Vec<u64> {
            a.chunks(32)
                .zip(b.chunks(32))
                .enumerate()
                .filter(|(_, (x, y))| x != y)
                .map(|(i, _)| (from / 32 + i) as u64)
                .collect()
        };
        let (lo, hi) = std::thread::scope(|s| {
            let (a, b) = m.memory.split_at(half.min(m.memory.len()));
            let (x, y) = image.split_at(half.min(image.len()));
            let right = s.spawn(|| changed(half, b, y));
            (changed(0, a, x), right.join().expect("the diff thread"))
        });
        let mut leaves = lo;
        leaves.extend(hi);
        for &leaf in &leaves {
            m.mark_dirty(leaf as usize * 32, 32);
        }
        FinalState {
            machine: m,
            committer: self.committer().with_memory_tree(tree),
            leaves,
        }
    }

    /// The state hash of a final state.
    pub fn final_hash(&self, f: &mut FinalState) -> H256 {
        f.committer.state_hash(&mut f.machine)
    }

    /// The output region's bytes, the final header and the region's
    /// siblings, as [`ModelVm::output_proof`].
    pub fn final_output_proof(&self, f: &mut FinalState) -> (Vec<u8>, Header, Vec<H256>) {
        self.output_proof(&mut f.committer, &mut f.machine)
    }

    /// Takes back a final state: its tree, put back to the initial one (the
    /// nodes above the changed leaves copied), serves the next; returns the
    /// final memory.
    pub fn recycle(&self, mut f: FinalState) -> Vec<u8> {
        if let (Some(mut tree), Some(pristine)) =
            (f.committer.take_memory_tree(), self.initial_tree.get())
        {
            tree.restore_from(pristine, &f.leaves);
            let mut trees = self.scratch_trees.lock().expect("scratch trees");
            if trees.len() < 2 {
                trees.push(tree);
            }
        }
        std::mem::take(&mut f.machine.memory)
    }

    /// The halted state after a full run, from the memory wasmtime left.
    pub fn final_state(&self, memory: Vec<u8>) -> Machine {
        let mut m = Machine::with_code(self.code.clone(), memory, self.program.globals.clone());
        m.status = Status::Halted;
        m.pc = 0;
        m.step = self.artifact.manifest.steps;
        m
    }

    /// The initial state hash, derived the way a contract does: commitment plus
    /// the input bytes' subtree.
    pub fn initial_state_hash(
        commitment: &ModelCommitment,
        inputs: &Region,
        input_region: &[u8],
    ) -> Option<H256> {
        let sub = region_root(input_region, inputs.size);
        let siblings: Vec<H256> = commitment
            .input_siblings
            .iter()
            .map(|s| unhex(s))
            .collect::<Option<_>>()?;
        let memory_root = root_from_region(inputs, &sub, &siblings);
        Some(
            Header {
                status: 0,
                pc: commitment.entry_pc,
                step: 0,
                code_root: unhex(&commitment.code_root)?,
                memory_size: commitment.memory_size,
                memory_root,
                globals_root: unhex(&commitment.globals_root)?,
                stack: ZERO,
                frames: frame_entry(
                    0,
                    commitment.entry_locals,
                    &empty_locals_root(commitment.entry_locals),
                    &ZERO,
                ),
                frame_depth: 1,
                stack_depth: 0,
            }
            .hash(),
        )
    }

    /// The output region bytes of `m` with the proof that they are in its
    /// memory: the state header and the region's siblings.
    pub fn output_proof(&self, c: &mut Committer, m: &mut Machine) -> (Vec<u8>, Header, Vec<H256>) {
        let header = c.header(m);
        let region = &self.artifact.manifest.outputs;
        let tree = c.memory_tree(m);
        let siblings = region_siblings(tree, region);
        let at = region.offset as usize;
        (
            m.memory[at..at + region.size as usize].to_vec(),
            header,
            siblings,
        )
    }
}

/// Checks posted output bytes against a state hash: the header must hash to
/// the state and the bytes' subtree must reach its memory root.
pub fn verify_output(
    state: &H256,
    header: &Header,
    region: &Region,
    output: &[u8],
    siblings: &[H256],
) -> bool {
    output.len() as u64 == region.size
        && &header.hash() == state
        && siblings.len() as u32 + hash::depth_for((region.size / 32).max(1))
            == memory_depth(header.memory_size)
        && root_from_region(region, &region_root(output, region.size), siblings)
            == header.memory_root
}
