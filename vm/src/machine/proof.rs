//! One-step proofs: [`prove`] reveals exactly what the instruction at `pc`
//! touches; [`verify_step`] trusts nothing in the proof, recomputes the
//! pre-state hash from the revealed parts and derives the post-state hash.
//!
//! Byte layout (version 2, integers big-endian; `docs/STATE.md` has the table):
//!
//! ```text
//! version u8 = 2
//! header  189 bytes                      (state::Header::encode)
//! -- only when header.status == 0 (running) --
//! instr   32 bytes                       (isa::Instr::encode of code leaf pc mod 2^n)
//! n u8, code path n x 32                 (siblings of that leaf, bottom up)
//! -- only when the fetch and the stack bounds do not trap (see `reaches_stack`) --
//! k x u64 stack values, top first        (k fixed by the opcode)
//! stack below 32                         (chain under those values)
//! [frame: ret u32, count u32, locals root 32, frames below 32]   local ops, return; frame depth > 0
//! [cell: value u64, n u8, path n x 32]                           local ops below the count; global ops
//! [memory: m u8 (0, 1 or 2), m x (leaf 32, n u8, path n x 32)]   loads and stores
//! ```
//!
//! What is present follows from the header, the instruction, the code path's
//! length and the frame's local count, all read before it; a trapping step
//! reveals only what shows that it traps. The size is bounded: a header, one
//! code path, at most three stack values, one frame, one locals or globals
//! path and two memory paths.

use super::exec::{Frame, MAX_FRAMES, MAX_LOCALS, MAX_STACK, Machine, Status};
use super::hash::{CODE, GLOBALS, H256, LOCALS, MEMORY, Tree, ZERO, depth_for, values_root, word};
use super::isa::{INSTR_BYTES, Instr, Op, Var};
use super::state::{
    Committer, HEADER_BYTES, Header, empty_locals_root, frame_entry, memory_depth, stack_chain,
    stack_entry,
};

/// Version byte of the proof encoding.
pub const PROOF_VERSION: u8 = 2;

/// Trees of this depth or deeper (2^31 leaves and more) are not supported: a
/// code or globals path this long is rejected, so every pc and global index
/// (a u32) compares with `2^depth` without overflow.
pub const MAX_TREE_DEPTH: usize = 31;

/// Why a proof is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof ends early.
    #[error("proof is truncated: needed {needed} more bytes at offset {at}")]
    Truncated {
        /// Offset of the read.
        at: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// Unknown version.
    #[error("proof version {0} is not supported (this build reads version {PROOF_VERSION})")]
    Version(u8),
    /// Bytes after the end.
    #[error("proof has {0} trailing bytes")]
    Trailing(usize),
    /// The revealed header does not hash to the claimed pre-state.
    #[error("the proof's state does not hash to the pre-state")]
    PreState,
    /// The instruction bytes are not a valid instruction.
    #[error("the proof's instruction is malformed")]
    Instruction,
    /// The instruction is not the one at `pc` in the committed code.
    #[error("the instruction is not the committed code at pc")]
    Code,
    /// The revealed stack entries do not match the stack commitment.
    #[error("the revealed stack values do not match the committed stack")]
    Stack,
    /// The revealed frame does not match the frame stack commitment.
    #[error("the revealed frame does not match the committed frames")]
    Frame,
    /// The revealed local or global does not match its tree.
    #[error("the revealed {0} does not match its committed tree")]
    Cell(&'static str),
    /// The revealed memory leaves do not match the memory root.
    #[error("the revealed memory does not match the committed memory")]
    Memory,
}

/// A frame as revealed in a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameWitness {
    /// Return pc.
    pub ret: u32,
    /// Local count.
    pub count: u32,
    /// Root of its locals tree.
    pub locals_root: H256,
    /// Chain of the frames below.
    pub below: H256,
}

/// A local or global with its Merkle path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellWitness {
    /// Current value.
    pub value: u64,
    /// Siblings, bottom up.
    pub path: Vec<H256>,
}

/// A memory leaf with its Merkle path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafWitness {
    /// The 32 bytes of memory.
    pub data: H256,
    /// Siblings, bottom up.
    pub path: Vec<H256>,
}

/// The popped values and the chain below them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackWitness {
    /// Popped values, top first.
    pub values: Vec<u64>,
    /// Chain below them.
    pub below: H256,
}

/// What a running step reveals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The code leaf at `pc mod 2^n` (n the code path's length), as an
    /// instruction; a padding leaf is `unreachable`.
    pub instr: Instr,
    /// Its code path.
    pub code_path: Vec<H256>,
    /// Absent when the step traps on the fetch or the stack bounds.
    pub stack: Option<StackWitness>,
    /// Innermost frame (local ops, return; absent at frame depth 0).
    pub frame: Option<FrameWitness>,
    /// Local (below the frame's count) or global (the leaf at `index mod 2^n`).
    pub cell: Option<CellWitness>,
    /// Memory leaves of loads and stores (empty when out of bounds).
    pub memory: Option<Vec<LeafWitness>>,
}

impl Witness {
    /// The instruction and its code path, nothing revealed after them yet.
    fn fetched(instr: Instr, code_path: Vec<H256>) -> Witness {
        Witness {
            instr,
            code_path,
            stack: None,
            frame: None,
            cell: None,
            memory: None,
        }
    }
}

/// A proof of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProof {
    /// The pre-state.
    pub header: Header,
    /// Present when the pre-state is running.
    pub witness: Option<Witness>,
}

/// Bytes a load or store touches.
pub fn width(op: Op) -> u64 {
    use Op::*;
    match op {
        I64Load | I64Store => 8,
        I32Load | I64Load32S | I64Load32U | I32Store | I64Store32 => 4,
        I32Load16S | I32Load16U | I64Load16S | I64Load16U | I32Store16 | I64Store16 => 2,
        _ => 1,
    }
}

/// Whether `index` lies past a tree whose paths have `depth` siblings (the
/// fetch or the global access traps). Paths of more than [`MAX_TREE_DEPTH`]
/// siblings are rejected, so they never trap here.
pub fn past_tree(index: u32, depth: usize) -> bool {
    depth <= MAX_TREE_DEPTH && index >> depth != 0
}

/// Whether `op` traps on the stack bounds of a stack of `depth` values: it
/// pops more than there are, or it adds a value to [`MAX_STACK`] of them.
pub fn stack_traps(op: Op, depth: u32) -> bool {
    let s = op.shape();
    (depth as usize) < s.pops as usize || (s.grows() && depth as usize >= MAX_STACK)
}

/// Whether a proof of a running state goes on past the code path: the fetch
/// does not trap (`pc` inside the code tree proven by the path) and neither
/// do the stack bounds.
pub fn reaches_stack(h: &Header, op: Op, code_path_len: usize) -> bool {
    !past_tree(h.pc, code_path_len) && !stack_traps(op, h.stack_depth)
}

/// The lowest `depth` bits of `index`: the leaf a path of `depth` siblings from
/// `index` starts at.
fn leaf_index(index: u32, depth: u32) -> u32 {
    if depth >= 32 {
        index
    } else {
        index & ((1u32 << depth) - 1)
    }
}

/// The locals of frame `f`.
fn locals_of<'m>(m: &'m Machine, f: &Frame) -> &'m [u64] {
    &m.locals[f.base as usize..(f.base + f.count) as usize]
}

/// Builds the proof of the step from `m`'s current state.
pub fn prove(c: &mut Committer, m: &mut Machine) -> StepProof {
    let header = c.header(m);
    if m.status != Status::Running {
        return StepProof {
            header,
            witness: None,
        };
    }
    let leaf = leaf_index(m.pc, c.code_depth());
    let instr = m
        .code
        .get(leaf as usize)
        .copied()
        .unwrap_or(Instr::op(Op::Unreachable)); // a padding leaf: all zero
    let mut w = Witness::fetched(instr, c.code_path(leaf));
    if !reaches_stack(&header, instr.op, w.code_path.len()) {
        return StepProof {
            header,
            witness: Some(w),
        };
    }
    let shape = instr.op.shape();
    let pops = shape.pops as usize;
    let n = m.stack.len();
    let values: Vec<u64> = m.stack[n - pops..].iter().rev().copied().collect();
    let below = stack_chain(&m.stack[..n - pops]);
    let top = m.frames.last().copied().filter(|_| shape.frame);
    if let Some(f) = top {
        let below = m.frames[..m.frames.len() - 1].iter().fold(ZERO, |h, g| {
            frame_entry(g.ret, g.count, &values_root(LOCALS, locals_of(m, g)), &h)
        });
        w.frame = Some(FrameWitness {
            ret: f.ret,
            count: f.count,
            locals_root: values_root(LOCALS, locals_of(m, &f)),
            below,
        });
    }
    let cell = match shape.var {
        Some(Var::Local) => top
            .filter(|f| instr.a < f.count)
            .map(|f| (locals_of(m, &f), LOCALS, instr.a)),
        Some(Var::Global) => {
            let d = depth_for(m.globals.len() as u64);
            Some((&m.globals[..], GLOBALS, leaf_index(instr.a, d)))
        }
        None => None,
    };
    w.cell = cell.map(|(values, kind, at)| {
        let tree = Tree::new(
            kind,
            depth_for(values.len() as u64),
            values.iter().map(|&v| word(v)),
        );
        CellWitness {
            value: values.get(at as usize).copied().unwrap_or(0),
            path: tree.path(at as u64),
        }
    });
    if shape.memory {
        let mut leaves = vec![];
        let wd = width(instr.op);
        let addr = (values[pops - 1] as u32 as u64).checked_add(instr.b);
        let end = addr.and_then(|a| a.checked_add(wd));
        if let (Some(addr), true) = (addr, end.is_some_and(|e| e <= m.memory.len() as u64)) {
            let tree = c.memory_tree(m);
            for leaf in addr / 32..=(addr + wd - 1) / 32 {
                let mut data = [0u8; 32];
                let start = leaf as usize * 32;
                let end = (start + 32).min(m.memory.len());
                data[..end - start].copy_from_slice(&m.memory[start..end]);
                leaves.push(LeafWitness {
                    data,
                    path: tree.path(leaf),
                });
            }
        }
        w.memory = Some(leaves);
    }
    w.stack = Some(StackWitness { values, below });
    StepProof {
        header,
        witness: Some(w),
    }
}

impl StepProof {
    /// The byte encoding (see the module docs): the parts that are present, in order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PROOF_VERSION];
        out.extend_from_slice(&self.header.encode());
        let Some(w) = &self.witness else { return out };
        let path = |out: &mut Vec<u8>, p: &[H256]| {
            out.push(p.len() as u8);
            p.iter().for_each(|h| out.extend_from_slice(h));
        };
        out.extend_from_slice(&w.instr.encode());
        path(&mut out, &w.code_path);
        if let Some(s) = &w.stack {
            s.values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
            out.extend_from_slice(&s.below);
        }
        if let Some(f) = &w.frame {
            out.extend_from_slice(&f.ret.to_be_bytes());
            out.extend_from_slice(&f.count.to_be_bytes());
            out.extend_from_slice(&f.locals_root);
            out.extend_from_slice(&f.below);
        }
        if let Some(c) = &w.cell {
            out.extend_from_slice(&c.value.to_be_bytes());
            path(&mut out, &c.path);
        }
        if let Some(leaves) = &w.memory {
            out.push(leaves.len() as u8);
            for l in leaves {
                out.extend_from_slice(&l.data);
                path(&mut out, &l.path);
            }
        }
        out
    }

    /// Decodes [`StepProof::encode`], rejecting truncation, bad versions and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<StepProof, ProofError> {
        let mut r = Reader { b: bytes, at: 0 };
        let v = r.take(1)?[0];
        if v != PROOF_VERSION {
            return Err(ProofError::Version(v));
        }
        let header = Header::decode(r.take(HEADER_BYTES)?.try_into().unwrap());
        if header.status != 0 {
            r.end()?;
            return Ok(StepProof {
                header,
                witness: None,
            });
        }
        let instr = Instr::decode(r.take(INSTR_BYTES)?.try_into().unwrap())
            .ok_or(ProofError::Instruction)?;
        let mut w = Witness::fetched(instr, r.path()?);
        if reaches_stack(&header, instr.op, w.code_path.len()) {
            let shape = instr.op.shape();
            let values = (0..shape.pops)
                .map(|_| r.u64())
                .collect::<Result<Vec<_>, _>>()?;
            w.stack = Some(StackWitness {
                values,
                below: r.h256()?,
            });
            if shape.frame && header.frame_depth != 0 {
                w.frame = Some(FrameWitness {
                    ret: r.u32()?,
                    count: r.u32()?,
                    locals_root: r.h256()?,
                    below: r.h256()?,
                });
            }
            let cell = match shape.var {
                Some(Var::Local) => w.frame.as_ref().is_some_and(|f| instr.a < f.count),
                Some(Var::Global) => true,
                None => false,
            };
            if cell {
                w.cell = Some(CellWitness {
                    value: r.u64()?,
                    path: r.path()?,
                });
            }
            if shape.memory {
                let n = r.take(1)?[0];
                if n > 2 {
                    return Err(ProofError::Memory);
                }
                let mut leaves = vec![];
                for _ in 0..n {
                    leaves.push(LeafWitness {
                        data: r.h256()?,
                        path: r.path()?,
                    });
                }
                w.memory = Some(leaves);
            }
        }
        r.end()?;
        Ok(StepProof {
            header,
            witness: Some(w),
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProofError> {
        if self.at + n > self.b.len() {
            return Err(ProofError::Truncated {
                at: self.at,
                needed: self.at + n - self.b.len(),
            });
        }
        self.at += n;
        Ok(&self.b[self.at - n..self.at])
    }
    fn u32(&mut self) -> Result<u32, ProofError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, ProofError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn h256(&mut self) -> Result<H256, ProofError> {
        Ok(self.take(32)?.try_into().unwrap())
    }
    fn path(&mut self) -> Result<Vec<H256>, ProofError> {
        let n = self.take(1)?[0];
        (0..n).map(|_| self.h256()).collect()
    }
    fn end(&self) -> Result<(), ProofError> {
        if self.at != self.b.len() {
            return Err(ProofError::Trailing(self.b.len() - self.at));
        }
        Ok(())
    }
}

/// Verifies an encoded proof against `pre` and returns the post-state hash.
pub fn verify_step(pre: &H256, proof: &[u8]) -> Result<H256, ProofError> {
    verify(pre, &StepProof::decode(proof)?)
}

/// Verifies a decoded proof against `pre` and returns the post-state hash.
///
/// The checks run in the order of `docs/STATE.md`: the pre-state, the code
/// (which proves the code tree's depth), the traps of the fetch and of the
/// stack bounds, the stack, then the frame, cell or memory the instruction
/// touches. Each trap is decided as soon as the parts that show it are checked.
pub fn verify(pre: &H256, p: &StepProof) -> Result<H256, ProofError> {
    let h = p.header;
    if &h.hash() != pre {
        return Err(ProofError::PreState);
    }
    let Some(w) = &p.witness else {
        if h.status == 0 {
            return Err(ProofError::PreState); // a running state has a witness
        }
        return Ok(*pre); // halted and trapped states are fixed points
    };
    if h.status != 0 {
        return Err(ProofError::PreState);
    }
    let ins = w.instr;
    if w.code_path.len() > MAX_TREE_DEPTH
        || CODE.root_from(h.pc as u64, &ins.encode(), &w.code_path) != h.code_root
    {
        return Err(ProofError::Code);
    }
    let trap = || {
        let mut t = h;
        t.status = 2;
        t.step = h.step.wrapping_add(1);
        Ok(t.hash())
    };
    if !reaches_stack(&h, ins.op, w.code_path.len()) {
        return trap();
    }
    let shape = ins.op.shape();
    let st = w.stack.as_ref().ok_or(ProofError::Stack)?;
    if st.values.len() != shape.pops as usize
        || st
            .values
            .iter()
            .rev()
            .fold(st.below, |b, &v| stack_entry(v, &b))
            != h.stack
    {
        return Err(ProofError::Stack);
    }
    // Counters wrap: only crafted headers reach the limits, and the Solidity
    // verifier wraps the same way. The pc is below 2^31 (it is inside the
    // code tree), and the stack bounds hold.
    let mut post = h;
    post.step = h.step.wrapping_add(1);
    post.pc = h.pc + 1;
    post.stack = st.below;
    post.stack_depth = h.stack_depth - shape.pops as u32 + shape.pushes as u32;
    let s = &st.values;
    let push = |post: &mut Header, v: u64| post.stack = stack_entry(v, &post.stack);
    let frame = || -> Result<&FrameWitness, ProofError> {
        let f = w.frame.as_ref().ok_or(ProofError::Frame)?;
        if frame_entry(f.ret, f.count, &f.locals_root, &f.below) != h.frames {
            return Err(ProofError::Frame);
        }
        Ok(f)
    };
    use Op::*;
    match ins.op {
        Unreachable => return trap(),
        Nop => {}
        Jump => post.pc = ins.a,
        JumpIfZero => post.pc = if s[0] as u32 == 0 { ins.a } else { h.pc + 1 },
        JumpIfNonZero => post.pc = if s[0] as u32 != 0 { ins.a } else { h.pc + 1 },
        JumpTable => post.pc = (h.pc + 1).wrapping_add((s[0] as u32).min(ins.a)),
        Call => {
            if h.frame_depth as usize >= MAX_FRAMES || ins.b > MAX_LOCALS {
                return trap();
            }
            let count = ins.b as u32;
            post.frames = frame_entry(h.pc + 1, count, &empty_locals_root(count), &h.frames);
            post.frame_depth = h.frame_depth + 1;
            post.pc = ins.a;
        }
        Return => {
            if h.frame_depth == 0 {
                return trap();
            }
            let f = frame()?;
            post.frames = f.below;
            post.frame_depth = h.frame_depth - 1;
            post.pc = f.ret;
        }
        Halt => {
            post.status = 1;
            post.pc = h.pc;
        }
        Drop => {}
        DropUnder => push(&mut post, s[0]),
        Select => push(&mut post, if s[0] as u32 != 0 { s[2] } else { s[1] }),
        LocalGet | LocalSet | LocalTee => {
            if h.frame_depth == 0 {
                return trap();
            }
            let f = frame()?;
            if ins.a >= f.count {
                return trap();
            }
            let c = w.cell.as_ref().ok_or(ProofError::Cell("local"))?;
            let depth = depth_for(f.count as u64) as usize;
            if c.path.len() != depth
                || LOCALS.root_from(ins.a as u64, &word(c.value), &c.path) != f.locals_root
            {
                return Err(ProofError::Cell("local"));
            }
            if ins.op == LocalGet {
                push(&mut post, c.value);
            } else {
                let root = LOCALS.root_from(ins.a as u64, &word(s[0]), &c.path);
                post.frames = frame_entry(f.ret, f.count, &root, &f.below);
                if ins.op == LocalTee {
                    push(&mut post, s[0]);
                }
            }
        }
        GlobalGet | GlobalSet => {
            let c = w.cell.as_ref().ok_or(ProofError::Cell("global"))?;
            if c.path.len() > MAX_TREE_DEPTH
                || GLOBALS.root_from(ins.a as u64, &word(c.value), &c.path) != h.globals_root
            {
                return Err(ProofError::Cell("global"));
            }
            if past_tree(ins.a, c.path.len()) {
                return trap();
            }
            if ins.op == GlobalGet {
                push(&mut post, c.value);
            } else {
                post.globals_root = GLOBALS.root_from(ins.a as u64, &word(s[0]), &c.path);
            }
        }
        I32Const | I64Const => push(&mut post, ins.b),
        op if shape.memory => {
            let is_store = shape.pops == 2;
            // u128: a crafted offset near u64::MAX must trap, not wrap.
            let addr = s[if is_store { 1 } else { 0 }] as u32 as u128 + ins.b as u128;
            let wd = width(op);
            if addr + wd as u128 > h.memory_size as u128 {
                return trap();
            }
            let leaves = w.memory.as_deref().ok_or(ProofError::Memory)?;
            let addr = addr as u64;
            let first = addr / 32;
            let last = (addr + wd - 1) / 32;
            let depth = memory_depth(h.memory_size) as usize;
            if leaves.len() as u64 != last - first + 1 {
                return Err(ProofError::Memory);
            }
            for (k, l) in leaves.iter().enumerate() {
                if l.path.len() != depth
                    || MEMORY.root_from(first + k as u64, &l.data, &l.path) != h.memory_root
                {
                    return Err(ProofError::Memory);
                }
            }
            let mut bytes = [0u8; 64];
            for (k, l) in leaves.iter().enumerate() {
                bytes[32 * k..32 * k + 32].copy_from_slice(&l.data);
            }
            let off = (addr % 32) as usize;
            if is_store {
                bytes[off..off + wd as usize].copy_from_slice(&s[0].to_le_bytes()[..wd as usize]);
                let new: Vec<H256> = (0..leaves.len())
                    .map(|k| bytes[32 * k..32 * k + 32].try_into().unwrap())
                    .collect();
                post.memory_root = if new.len() == 1 {
                    MEMORY.root_from(first, &new[0], &leaves[0].path)
                } else {
                    update_two(first, &new[0], &leaves[0].path, &new[1], &leaves[1].path)
                };
            } else {
                let mut le = [0u8; 8];
                le[..wd as usize].copy_from_slice(&bytes[off..off + wd as usize]);
                let raw = u64::from_le_bytes(le);
                let v = match op {
                    I32Load8S => raw as u8 as i8 as i32 as u32 as u64,
                    I32Load16S => raw as u16 as i16 as i32 as u32 as u64,
                    I64Load8S => raw as u8 as i8 as i64 as u64,
                    I64Load16S => raw as u16 as i16 as i64 as u64,
                    I64Load32S => raw as u32 as i32 as i64 as u64,
                    _ => raw,
                };
                push(&mut post, v);
            }
        }
        op => match alu(op, s) {
            Ok(v) => push(&mut post, v),
            Err(()) => return trap(),
        },
    }
    Ok(post.hash())
}

/// New root after writing two adjacent leaves `i` and `i + 1`: the second path's
/// sibling that covers leaf `i` is replaced by the updated subtree.
fn update_two(i: u64, leaf1: &H256, path1: &[H256], leaf2: &H256, path2: &[H256]) -> H256 {
    let mut nodes = vec![MEMORY.leaf(leaf1)];
    for (k, sib) in path1.iter().enumerate() {
        let h = nodes[k];
        nodes.push(if (i >> k) & 1 == 0 {
            MEMORY.node(&h, sib)
        } else {
            MEMORY.node(sib, &h)
        });
    }
    let j = i + 1;
    let mut h = MEMORY.leaf(leaf2);
    for (k, sib) in path2.iter().enumerate() {
        let sib = if (j >> k) ^ 1 == i >> k {
            &nodes[k]
        } else {
            sib
        };
        h = if (j >> k) & 1 == 0 {
            MEMORY.node(&h, sib)
        } else {
            MEMORY.node(sib, &h)
        };
    }
    h
}

/// Arithmetic, comparison and conversion ops on revealed values (`s[0]` is the top).
/// `Err` is a trap.
fn alu(op: Op, s: &[u64]) -> Result<u64, ()> {
    use Op::*;
    let b32 = || (s[1] as u32, s[0] as u32);
    let b64 = || (s[1], s[0]);
    let bool = |b: bool| b as u64;
    Ok(match op {
        I32Eqz => bool(s[0] as u32 == 0),
        I64Eqz => bool(s[0] == 0),
        I32Eq => bool(b32().0 == b32().1),
        I32Ne => bool(b32().0 != b32().1),
        I32LtS => bool((b32().0 as i32) < b32().1 as i32),
        I32LtU => bool(b32().0 < b32().1),
        I32GtS => bool(b32().0 as i32 > b32().1 as i32),
        I32GtU => bool(b32().0 > b32().1),
        I32LeS => bool(b32().0 as i32 <= b32().1 as i32),
        I32LeU => bool(b32().0 <= b32().1),
        I32GeS => bool(b32().0 as i32 >= b32().1 as i32),
        I32GeU => bool(b32().0 >= b32().1),
        I64Eq => bool(b64().0 == b64().1),
        I64Ne => bool(b64().0 != b64().1),
        I64LtS => bool((b64().0 as i64) < b64().1 as i64),
        I64LtU => bool(b64().0 < b64().1),
        I64GtS => bool(b64().0 as i64 > b64().1 as i64),
        I64GtU => bool(b64().0 > b64().1),
        I64LeS => bool(b64().0 as i64 <= b64().1 as i64),
        I64LeU => bool(b64().0 <= b64().1),
        I64GeS => bool(b64().0 as i64 >= b64().1 as i64),
        I64GeU => bool(b64().0 >= b64().1),
        I32Clz => (s[0] as u32).leading_zeros() as u64,
        I32Ctz => (s[0] as u32).trailing_zeros() as u64,
        I32Popcnt => (s[0] as u32).count_ones() as u64,
        I64Clz => s[0].leading_zeros() as u64,
        I64Ctz => s[0].trailing_zeros() as u64,
        I64Popcnt => s[0].count_ones() as u64,
        I32Add | I32Sub | I32Mul | I32DivS | I32DivU | I32RemS | I32RemU | I32And | I32Or
        | I32Xor | I32Shl | I32ShrS | I32ShrU | I32Rotl | I32Rotr => {
            let (a, b) = b32();
            (match op {
                I32Add => a.wrapping_add(b),
                I32Sub => a.wrapping_sub(b),
                I32Mul => a.wrapping_mul(b),
                I32DivS => {
                    if b == 0 || (a as i32 == i32::MIN && b as i32 == -1) {
                        return Err(());
                    }
                    ((a as i32) / (b as i32)) as u32
                }
                I32DivU => a.checked_div(b).ok_or(())?,
                I32RemS => {
                    if b == 0 {
                        return Err(());
                    }
                    (a as i32).wrapping_rem(b as i32) as u32
                }
                I32RemU => a.checked_rem(b).ok_or(())?,
                I32And => a & b,
                I32Or => a | b,
                I32Xor => a ^ b,
                I32Shl => a.wrapping_shl(b),
                I32ShrS => (a as i32).wrapping_shr(b) as u32,
                I32ShrU => a.wrapping_shr(b),
                I32Rotl => a.rotate_left(b % 32),
                _ => a.rotate_right(b % 32),
            }) as u64
        }
        I64Add | I64Sub | I64Mul | I64DivS | I64DivU | I64RemS | I64RemU | I64And | I64Or
        | I64Xor | I64Shl | I64ShrS | I64ShrU | I64Rotl | I64Rotr => {
            let (a, b) = b64();
            match op {
                I64Add => a.wrapping_add(b),
                I64Sub => a.wrapping_sub(b),
                I64Mul => a.wrapping_mul(b),
                I64DivS => {
                    if b == 0 || (a as i64 == i64::MIN && b as i64 == -1) {
                        return Err(());
                    }
                    ((a as i64) / (b as i64)) as u64
                }
                I64DivU => a.checked_div(b).ok_or(())?,
                I64RemS => {
                    if b == 0 {
                        return Err(());
                    }
                    (a as i64).wrapping_rem(b as i64) as u64
                }
                I64RemU => a.checked_rem(b).ok_or(())?,
                I64And => a & b,
                I64Or => a | b,
                I64Xor => a ^ b,
                I64Shl => a.wrapping_shl(b as u32),
                I64ShrS => (a as i64).wrapping_shr(b as u32) as u64,
                I64ShrU => a.wrapping_shr(b as u32),
                I64Rotl => a.rotate_left((b % 64) as u32),
                _ => a.rotate_right((b % 64) as u32),
            }
        }
        I32WrapI64 => s[0] as u32 as u64,
        I64ExtendI32S => s[0] as u32 as i32 as i64 as u64,
        I64ExtendI32U => s[0] as u32 as u64,
        I32Extend8S => s[0] as u8 as i8 as i32 as u32 as u64,
        I32Extend16S => s[0] as u16 as i16 as i32 as u32 as u64,
        I64Extend8S => s[0] as u8 as i8 as i64 as u64,
        I64Extend16S => s[0] as u16 as i16 as i64 as u64,
        I64Extend32S => s[0] as u32 as i32 as i64 as u64,
        other => unreachable!("{other:?} is not an ALU op"),
    })
}
