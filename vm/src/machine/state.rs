//! State commitments (byte-exact spec: `docs/STATE.md`).
//!
//! The state hash is `keccak256(STATE ‖ header)` where the header is the
//! 189-byte encoding of [`Header`]. Memory, code, locals and globals are Merkle
//! roots; the value stack and the frame stack are hash chains, so a step reveals
//! only the entries it touches.

use super::exec::{Machine, Status};
use super::hash::{
    self, CODE, GLOBALS, H256, LOCALS, MEMORY, Tree, ZERO, depth_for, tag, values_root, word,
};
use super::isa::Instr;

/// Bytes of an encoded [`Header`].
pub const HEADER_BYTES: usize = 1 + 4 + 8 + 32 + 8 + 32 + 32 + 32 + 32 + 4 + 4;

/// The header's fields: (name, byte offset, byte length). Generated into the
/// Solidity constants, and checked against [`Header::encode`] by a test.
pub const HEADER_LAYOUT: &[(&str, usize, usize)] = &[
    ("STATUS", 0, 1),
    ("PC", 1, 4),
    ("STEP", 5, 8),
    ("CODE_ROOT", 13, 32),
    ("MEMORY_SIZE", 45, 8),
    ("MEMORY_ROOT", 53, 32),
    ("GLOBALS_ROOT", 85, 32),
    ("STACK", 117, 32),
    ("FRAMES", 149, 32),
    ("FRAME_DEPTH", 181, 4),
    ("STACK_DEPTH", 185, 4),
];

/// Everything the state hash commits to, with the big parts as roots and chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// 0 running, 1 halted, 2 trapped.
    pub status: u8,
    /// Program counter.
    pub pc: u32,
    /// Steps executed.
    pub step: u64,
    /// Root of the code tree (one instruction per leaf).
    pub code_root: H256,
    /// Memory size in bytes.
    pub memory_size: u64,
    /// Root of the memory tree (32-byte leaves).
    pub memory_root: H256,
    /// Root of the globals tree.
    pub globals_root: H256,
    /// Value stack chain (top entry).
    pub stack: H256,
    /// Frame stack chain (innermost frame).
    pub frames: H256,
    /// Number of frames.
    pub frame_depth: u32,
    /// Number of values on the value stack (the length of the `stack` chain).
    pub stack_depth: u32,
}

impl Header {
    /// The 189-byte encoding: fields in declaration order, integers big-endian.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let mut w = Writer {
            out: &mut out,
            at: 0,
        };
        w.put(&[self.status]);
        w.put(&self.pc.to_be_bytes());
        w.put(&self.step.to_be_bytes());
        w.put(&self.code_root);
        w.put(&self.memory_size.to_be_bytes());
        w.put(&self.memory_root);
        w.put(&self.globals_root);
        w.put(&self.stack);
        w.put(&self.frames);
        w.put(&self.frame_depth.to_be_bytes());
        w.put(&self.stack_depth.to_be_bytes());
        out
    }

    /// Decodes [`Header::encode`].
    pub fn decode(b: &[u8; HEADER_BYTES]) -> Header {
        let h32 = |at: usize| -> H256 { b[at..at + 32].try_into().unwrap() };
        Header {
            status: b[0],
            pc: u32::from_be_bytes(b[1..5].try_into().unwrap()),
            step: u64::from_be_bytes(b[5..13].try_into().unwrap()),
            code_root: h32(13),
            memory_size: u64::from_be_bytes(b[45..53].try_into().unwrap()),
            memory_root: h32(53),
            globals_root: h32(85),
            stack: h32(117),
            frames: h32(149),
            frame_depth: u32::from_be_bytes(b[181..185].try_into().unwrap()),
            stack_depth: u32::from_be_bytes(b[185..189].try_into().unwrap()),
        }
    }

    /// The state hash.
    pub fn hash(&self) -> H256 {
        hash::hash(tag::STATE, &[&self.encode()])
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
}

/// One value-stack entry on top of `below`.
pub fn stack_entry(value: u64, below: &H256) -> H256 {
    hash::hash(tag::STACK, &[&word(value), below])
}

/// The chain over `values` (bottom first).
pub fn stack_chain(values: &[u64]) -> H256 {
    values.iter().fold(ZERO, |h, &v| stack_entry(v, &h))
}

/// One frame on top of `below`.
pub fn frame_entry(ret: u32, count: u32, locals_root: &H256, below: &H256) -> H256 {
    hash::hash(
        tag::FRAME,
        &[&word(ret as u64), &word(count as u64), locals_root, below],
    )
}

/// Root of a locals tree of `count` zero locals (a fresh frame).
pub fn empty_locals_root(count: u32) -> H256 {
    LOCALS.empty(depth_for(count as u64))[depth_for(count as u64) as usize]
}

/// The memory tree depth for a memory of `size` bytes.
pub fn memory_depth(size: u64) -> u32 {
    depth_for(size.div_ceil(32))
}

/// Computes commitments of one machine as it moves forward, rehashing only
/// the memory leaves written since the previous commitment.
#[derive(Debug, Clone)]
pub struct Committer {
    code: Tree,
    memory: Option<Tree>,
}

impl Committer {
    /// A committer for `code`.
    pub fn new(code: &[Instr]) -> Committer {
        let depth = depth_for(code.len() as u64);
        Committer {
            code: Tree::new(CODE, depth, code.iter().map(|i| i.encode())),
            memory: None,
        }
    }

    /// A committer whose memory tree is `tree`, already computed for the
    /// machine's memory (so only leaves dirtied after it are rehashed).
    pub fn with_memory_tree(mut self, tree: Tree) -> Committer {
        self.memory = Some(tree);
        self
    }

    /// The memory tree, taken out (`None` before the first state hash).
    pub fn take_memory_tree(&mut self) -> Option<Tree> {
        self.memory.take()
    }

    /// Root of the code tree (part of the model commitment).
    pub fn code_root(&self) -> H256 {
        self.code.root()
    }

    /// Depth of the code tree.
    pub fn code_depth(&self) -> u32 {
        self.code.depth()
    }

    /// Siblings of code leaf `leaf` (below `2^code_depth`).
    pub fn code_path(&self, leaf: u32) -> Vec<H256> {
        self.code.path(leaf as u64)
    }

    /// Brings the memory tree up to date with `m` and returns it.
    pub fn memory_tree(&mut self, m: &mut Machine) -> &Tree {
        let dirty = m.take_dirty();
        let depth = memory_depth(m.memory.len() as u64);
        let leaf = |i: usize| -> H256 {
            let mut l = [0u8; 32];
            let end = (i * 32 + 32).min(m.memory.len());
            l[..end - i * 32].copy_from_slice(&m.memory[i * 32..end]);
            l
        };
        let stale = self.memory.as_ref().is_none_or(|t| t.depth() != depth);
        if stale {
            self.memory = Some(Tree::from_bytes(MEMORY, depth, &m.memory));
        } else {
            let tree = self.memory.as_mut().unwrap();
            let updates = dirty.iter().enumerate().flat_map(|(w, &bits)| {
                (0..64)
                    .filter(move |b| bits >> b & 1 == 1)
                    .map(move |b| w * 64 + b)
            });
            let n = m.memory.len().div_ceil(32);
            tree.set_many(updates.filter(|&i| i < n).map(|i| (i as u64, leaf(i))));
        }
        self.memory.as_ref().unwrap()
    }

    /// The header of `m`'s current state.
    pub fn header(&mut self, m: &mut Machine) -> Header {
        let memory_root = self.memory_tree(m).root();
        let mut frames = ZERO;
        for f in &m.frames {
            let locals = &m.locals[f.base as usize..(f.base + f.count) as usize];
            frames = frame_entry(f.ret, f.count, &values_root(LOCALS, locals), &frames);
        }
        Header {
            status: m.status.code(),
            pc: m.pc,
            step: m.step,
            code_root: self.code.root(),
            memory_size: m.memory.len() as u64,
            memory_root,
            globals_root: values_root(GLOBALS, &m.globals),
            stack: stack_chain(&m.stack),
            frames,
            frame_depth: m.frames.len() as u32,
            stack_depth: m.stack.len() as u32,
        }
    }

    /// The state hash of `m`.
    pub fn state_hash(&mut self, m: &mut Machine) -> H256 {
        self.header(m).hash()
    }
}

impl Status {
    /// Whether a status byte is halted or trapped.
    pub fn is_final_code(code: u8) -> bool {
        code != 0
    }
}
