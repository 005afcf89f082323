//! keccak256 commitments with one domain tag per kind of node, and the binary
//! Merkle trees used for code, memory, locals and globals.
//!
//! Every hash is `keccak256(tag ‖ data)` with a one-byte tag, so a leaf can
//! never be mistaken for an inner node or a stack entry for a frame. Solidity
//! repeats these tags (they are generated from [`TAGS`]).

use tiny_keccak::{Hasher, Keccak};

/// A 32-byte hash.
pub type H256 = [u8; 32];

/// The zero hash: the commitment of an empty value stack or frame stack.
pub const ZERO: H256 = [0u8; 32];

/// Domain tags, one per kind of hashed node.
pub mod tag {
    /// A 32-byte memory leaf.
    pub const MEMORY_LEAF: u8 = 0x01;
    /// An inner node of the memory tree.
    pub const MEMORY_NODE: u8 = 0x02;
    /// One encoded instruction (a code leaf).
    pub const CODE_LEAF: u8 = 0x03;
    /// An inner node of the code tree.
    pub const CODE_NODE: u8 = 0x04;
    /// A value-stack entry: `value ‖ hash of the entries below`.
    pub const STACK: u8 = 0x05;
    /// A call frame: `return pc ‖ local count ‖ locals root ‖ hash of the frames below`.
    pub const FRAME: u8 = 0x06;
    /// A local (leaf of a frame's locals tree).
    pub const LOCALS_LEAF: u8 = 0x07;
    /// An inner node of a locals tree.
    pub const LOCALS_NODE: u8 = 0x08;
    /// A global (leaf of the globals tree).
    pub const GLOBALS_LEAF: u8 = 0x09;
    /// An inner node of the globals tree.
    pub const GLOBALS_NODE: u8 = 0x0a;
    /// The machine state.
    pub const STATE: u8 = 0x0b;
}

/// Every tag with its name, for generated Solidity constants and docs.
pub const TAGS: &[(&str, u8)] = &[
    ("MEMORY_LEAF", tag::MEMORY_LEAF),
    ("MEMORY_NODE", tag::MEMORY_NODE),
    ("CODE_LEAF", tag::CODE_LEAF),
    ("CODE_NODE", tag::CODE_NODE),
    ("STACK", tag::STACK),
    ("FRAME", tag::FRAME),
    ("LOCALS_LEAF", tag::LOCALS_LEAF),
    ("LOCALS_NODE", tag::LOCALS_NODE),
    ("GLOBALS_LEAF", tag::GLOBALS_LEAF),
    ("GLOBALS_NODE", tag::GLOBALS_NODE),
    ("STATE", tag::STATE),
];

/// `keccak256(tag ‖ parts...)`.
pub fn hash(tag: u8, parts: &[&[u8]]) -> H256 {
    let mut k = Keccak::v256();
    k.update(&[tag]);
    for p in parts {
        k.update(p);
    }
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// A 64-bit value as a 32-byte big-endian word (a `uint256` in Solidity).
pub fn word(v: u64) -> H256 {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// The leaf and node tags of one kind of tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeKind {
    /// Tag of leaves.
    pub leaf: u8,
    /// Tag of inner nodes.
    pub node: u8,
}

/// Memory trees.
pub const MEMORY: TreeKind = TreeKind {
    leaf: tag::MEMORY_LEAF,
    node: tag::MEMORY_NODE,
};
/// Code trees.
pub const CODE: TreeKind = TreeKind {
    leaf: tag::CODE_LEAF,
    node: tag::CODE_NODE,
};
/// Locals trees.
pub const LOCALS: TreeKind = TreeKind {
    leaf: tag::LOCALS_LEAF,
    node: tag::LOCALS_NODE,
};
/// The globals tree.
pub const GLOBALS: TreeKind = TreeKind {
    leaf: tag::GLOBALS_LEAF,
    node: tag::GLOBALS_NODE,
};

impl TreeKind {
    /// Hash of a leaf holding `data`.
    pub fn leaf(&self, data: &H256) -> H256 {
        hash(self.leaf, &[data])
    }

    /// Hash of an inner node.
    pub fn node(&self, left: &H256, right: &H256) -> H256 {
        hash(self.node, &[left, right])
    }

    /// Roots of all-zero subtrees: `empty(d)[k]` has height `k`.
    pub fn empty(&self, depth: u32) -> Vec<H256> {
        let mut e = vec![self.leaf(&ZERO)];
        for k in 0..depth as usize {
            let n = self.node(&e[k], &e[k]);
            e.push(n);
        }
        e
    }

    /// Root reached from a leaf at `index` through `path` (siblings, bottom up).
    pub fn root_from(&self, index: u64, leaf: &H256, path: &[H256]) -> H256 {
        let mut h = self.leaf(leaf);
        for (k, sib) in path.iter().enumerate() {
            // bits past 63 are zero (a crafted path may be longer than 64)
            h = if index.checked_shr(k as u32).unwrap_or(0) & 1 == 0 {
                self.node(&h, sib)
            } else {
                self.node(sib, &h)
            };
        }
        h
    }
}

/// Depth of a tree with `n` leaves (at least one leaf).
pub fn depth_for(n: u64) -> u32 {
    n.max(1).next_power_of_two().trailing_zeros()
}

/// A fully materialized Merkle tree with incremental leaf updates.
#[derive(Debug, Clone)]
pub struct Tree {
    kind: TreeKind,
    depth: u32,
    /// `levels[0]` are leaf hashes, `levels[depth]` is the root.
    levels: Vec<Vec<H256>>,
}

impl Tree {
    /// Builds a tree over `leaves` padded with zero leaves to `2^depth`.
    pub fn new(kind: TreeKind, depth: u32, leaves: impl Iterator<Item = H256>) -> Tree {
        let size = 1usize << depth;
        let empty_leaf = kind.leaf(&ZERO);
        let mut level: Vec<H256> = leaves.map(|l| kind.leaf(&l)).collect();
        assert!(
            level.len() <= size,
            "{} leaves do not fit depth {depth}",
            level.len()
        );
        level.resize(size, empty_leaf);
        let mut levels = vec![level];
        for k in 0..depth as usize {
            let prev = &levels[k];
            let next: Vec<H256> = prev
                .chunks_exact(2)
                .map(|p| kind.node(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Tree {
            kind,
            depth,
            levels,
        }
    }

    /// Like [`Tree::new`] over a byte image (32-byte leaves, zero padded),
    /// hashing the two halves of each level on two threads when it is large.
    pub fn from_bytes(kind: TreeKind, depth: u32, bytes: &[u8]) -> Tree {
        let size = 1usize << depth;
        let leaf_of = |i: usize| -> H256 {
            let mut l = [0u8; 32];
            let lo = (i * 32).min(bytes.len());
            let hi = (i * 32 + 32).min(bytes.len());
            l[..hi - lo].copy_from_slice(&bytes[lo..hi]);
            kind.leaf(&l)
        };
        let par = |n: usize, f: &(dyn Fn(usize) -> H256 + Sync)| -> Vec<H256> {
            if n < 1 << 14 {
                return (0..n).map(f).collect();
            }
            let half = n / 2;
            let (a, b) = std::thread::scope(|s| {
                let h = s.spawn(|| (half..n).map(f).collect::<Vec<_>>());
                let a: Vec<H256> = (0..half).map(f).collect();
                (a, h.join().expect("hashing thread"))
            });
            let mut out = a;
            out.extend(b);
            out
        };
        let mut levels = vec![par(size, &leaf_of)];
        for k in 0..depth as usize {
            let prev = &levels[k];
            let next = par(prev.len() / 2, &|i| {
                kind.node(&prev[2 * i], &prev[2 * i + 1])
            });
            levels.push(next);
        }
        Tree {
            kind,
            depth,
            levels,
        }
    }

    /// Every level, leaves first, as bytes (for a cache; see [`Tree::from_levels`]).
    pub fn levels_bytes(&self) -> Vec<u8> {
        let n: usize = self.levels.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(4 + n * 32);
        out.extend_from_slice(&self.depth.to_le_bytes());
        for level in &self.levels {
            for h in level {
                out.extend_from_slice(h);
            }
        }
        out
    }

    /// The tree [`Tree::levels_bytes`] wrote, if `bytes` has its exact shape.
    pub fn from_levels(kind: TreeKind, bytes: &[u8]) -> Option<Tree> {
        let depth = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        if depth > 40 || bytes.len() != 4 + ((1usize << (depth + 1)) - 1) * 32 {
            return None;
        }
        let mut at = 4;
        let levels = (0..=depth)
            .map(|k| {
                let n = 1usize << (depth - k);
                let level = bytes[at..at + n * 32]
                    .chunks_exact(32)
                    .map(|c| c.try_into().unwrap())
                    .collect();
                at += n * 32;
                level
            })
            .collect();
        Some(Tree {
            kind,
            depth,
            levels,
        })
    }

    /// The root.
    pub fn root(&self) -> H256 {
        self.levels[self.depth as usize][0]
    }

    /// Depth.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Siblings from leaf `index` up to the root.
    pub fn path(&self, index: u64) -> Vec<H256> {
        (0..self.depth as usize)
            .map(|k| self.levels[k][((index >> k) ^ 1) as usize])
            .collect()
    }

    /// Replaces leaf `index` and rehashes its ancestors.
    pub fn set(&mut self, index: u64, data: &H256) {
        self.levels[0][index as usize] = self.kind.leaf(data);
        self.rehash_from(index);
    }

    /// Replaces several leaves (given by index, ascending), then rehashes
    /// each ancestor once; the two halves of a large update are rehashed on
    /// two threads.
    pub fn set_many(&mut self, updates: impl Iterator<Item = (u64, H256)>) {
        let kind = self.kind;
        let updates: Vec<(u64, H256)> = updates.collect();
        let dirty: Vec<u64> = updates.iter().map(|u| u.0).collect();
        // leaf hashes on two threads when there are many (indices ascend)
        let set = |level: &mut [H256], part: &[(u64, H256)], base: usize| {
            for (i, d) in part {
                level[*i as usize - base] = kind.leaf(d);
            }
        };
        if updates.len() >= PARALLEL_NODES && updates.is_sorted_by_key(|u| u.0) {
            let (lo, hi) = updates.split_at(updates.len() / 2);
            let cut = hi[0].0 as usize;
            let (below, above) = self.levels[0].split_at_mut(cut);
            std::thread::scope(|s| {
                s.spawn(|| set(above, hi, cut));
                set(below, lo, 0);
            });
        } else {
            set(&mut self.levels[0], &updates, 0);
        }
        let depth = self.depth as usize;
        if depth == 0 || dirty.is_empty() {
            return;
        }
        // below the root, the left and right subtrees are disjoint
        let half = 1u64 << (depth - 1);
        let split = dirty.partition_point(|&i| i < half);
        let (left, right) = dirty.split_at(split);
        let mut lower: Vec<(&mut [H256], &mut [H256])> = self.levels[..depth]
            .iter_mut()
            .map(|l| {
                let n = l.len() / 2;
                l.split_at_mut(n)
            })
            .collect();
        let (mut ls, mut rs): (Vec<&mut [H256]>, Vec<&mut [H256]>) =
            lower.iter_mut().map(|(a, b)| (&mut **a, &mut **b)).unzip();
        if dirty.len() > 1 << 12 {
            std::thread::scope(|s| {
                s.spawn(|| rehash_half(kind, &mut rs, right, half));
                rehash_half(kind, &mut ls, left, 0);
            });
        } else {
            rehash_half(kind, &mut ls, left, 0);
            rehash_half(kind, &mut rs, right, half);
        }
        let top = &self.levels[depth - 1];
        let root = kind.node(&top[0], &top[1]);
        self.levels[depth][0] = root;
    }

    /// Puts back the nodes above `leaves` (sorted leaf indices) from
    /// `pristine`, a tree of the same shape: after [`Tree::set_many`] on
    /// those leaves, this tree is `pristine` again, without hashing.
    pub fn restore_from(&mut self, pristine: &Tree, leaves: &[u64]) {
        assert_eq!(
            (self.kind, self.depth),
            (pristine.kind, pristine.depth),
            "trees of one shape"
        );
        let mut at: Vec<u64> = leaves.to_vec();
        for (mine, theirs) in self.levels.iter_mut().zip(&pristine.levels) {
            for &i in &at {
                mine[i as usize] = theirs[i as usize];
            }
            at.iter_mut().for_each(|i| *i >>= 1);
            at.dedup();
        }
    }

    fn rehash_from(&mut self, index: u64) {
        let mut i = index;
        for k in 0..self.depth as usize {
            let p = i >> 1;
            let l = self.levels[k][(2 * p) as usize];
            let r = self.levels[k][(2 * p + 1) as usize];
            self.levels[k + 1][p as usize] = self.kind.node(&l, &r);
            i = p;
        }
    }
}

/// Rehashes the ancestors of `dirty` (leaf indices, ascending) inside one
/// half of a tree: `levels[k]` is that half's slice of level `k`, whose first
/// leaf is `offset`.
/// Hashes below which one thread does a level's work (a thread costs about
/// as much as a few thousand hashes).
const PARALLEL_NODES: usize = 1 << 14;

fn rehash_half(kind: TreeKind, levels: &mut [&mut [H256]], dirty: &[u64], offset: u64) {
    let mut dirty: Vec<u64> = dirty.iter().map(|i| i - offset).collect();
    for k in 0..levels.len().saturating_sub(1) {
        let mut parents: Vec<u64> = dirty.iter().map(|i| i >> 1).collect();
        parents.dedup();
        let (below, above) = levels.split_at_mut(k + 1);
        let (child, parent) = (&below[k], &mut above[0]);
        let hash = |parent: &mut [H256], part: &[u64], base: usize| {
            for &p in part {
                parent[p as usize - base] =
                    kind.node(&child[(2 * p) as usize], &child[(2 * p + 1) as usize]);
            }
        };
        // a level's parents are independent: two threads when there are many
        if parents.len() >= PARALLEL_NODES {
            let (lo, hi) = parents.split_at(parents.len() / 2);
            let cut = hi[0] as usize;
            let (left, right) = parent.split_at_mut(cut);
            std::thread::scope(|s| {
                s.spawn(|| hash(right, hi, cut));
                hash(left, lo, 0);
            });
        } else {
            hash(parent, &parents, 0);
        }
        dirty = parents;
    }
}

/// Root of a small tree of 64-bit values (locals, globals) of `depth_for(len)`.
pub fn values_root(kind: TreeKind, values: &[u64]) -> H256 {
    let depth = depth_for(values.len() as u64);
    Tree::new(kind, depth, values.iter().map(|&v| word(v))).root()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough updates for the two-thread paths (leaves and levels, both
    /// halves of the root) give the tree a rebuild gives.
    #[test]
    fn many_updates_on_two_threads_match_a_rebuild() {
        let depth = 17;
        let mut leaves: Vec<H256> = (0..1u64 << depth).map(|i| word(i ^ 0x5a5a)).collect();
        let mut t = Tree::new(MEMORY, depth, leaves.iter().copied());
        // every third leaf of the lower half and a run in the upper one
        let updates: Vec<(u64, H256)> = (0..1u64 << depth)
            .filter(|i| (*i < 1 << (depth - 1) && i % 3 == 0) || (100_000..120_000).contains(i))
            .map(|i| (i, word(i * 7 + 1)))
            .collect();
        assert!(updates.len() >= 2 * PARALLEL_NODES);
        for (i, d) in &updates {
            leaves[*i as usize] = *d;
        }
        t.set_many(updates.into_iter());
        assert_eq!(
            t.root(),
            Tree::new(MEMORY, depth, leaves.into_iter()).root()
        );
    }

    #[test]
    fn paths_verify_and_updates_match_a_rebuild() {
        let leaves: Vec<H256> = (0..13u64).map(word).collect();
        let mut t = Tree::new(MEMORY, 4, leaves.iter().copied());
        for i in 0..16u64 {
            let leaf = leaves.get(i as usize).copied().unwrap_or(ZERO);
            assert_eq!(MEMORY.root_from(i, &leaf, &t.path(i)), t.root());
        }
        t.set(3, &word(99));
        t.set_many([(0, word(7)), (15, word(8))].into_iter());
        let mut expected = leaves.clone();
        expected[3] = word(99);
        expected[0] = word(7);
        expected.resize(16, ZERO);
        expected[15] = word(8);
        assert_eq!(t.root(), Tree::new(MEMORY, 4, expected.into_iter()).root());
    }

    #[test]
    fn stored_levels_give_the_same_tree_and_bad_ones_are_refused() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let t = Tree::from_bytes(MEMORY, 8, &bytes);
        let stored = t.levels_bytes();
        let back = Tree::from_levels(MEMORY, &stored).unwrap();
        assert_eq!(back.root(), t.root());
        assert_eq!(back.path(77), t.path(77));
        assert!(Tree::from_levels(MEMORY, &stored[..stored.len() - 1]).is_none());
        assert!(Tree::from_levels(MEMORY, &[0xff; 4]).is_none());
    }

    #[test]
    fn empty_roots_and_tags_are_distinct() {
        let e = MEMORY.empty(3);
        assert_eq!(Tree::new(MEMORY, 3, std::iter::empty()).root(), e[3]);
        assert_ne!(MEMORY.leaf(&ZERO), CODE.leaf(&ZERO));
        let tags: std::collections::HashSet<u8> = TAGS.iter().map(|t| t.1).collect();
        assert_eq!(tags.len(), TAGS.len());
        assert_eq!(depth_for(0), 0);
        assert_eq!(depth_for(1), 0);
        assert_eq!(depth_for(5), 3);
    }
}
