//! Memory planning: a bump allocator over the fixed linear memory, with the
//! initial memory image (constants, lookup tables, padding borders) as data.

use std::collections::HashMap;

/// WebAssembly page size.
pub(crate) const PAGE: u64 = 65536;

/// Allocations and initial contents of the linear memory.
#[derive(Default)]
pub(crate) struct MemPlan {
    top: u64,
    /// Non-constant allocations since the last [`MemPlan::take_log`]: what a
    /// layer may write besides its outputs (scratch).
    log: Vec<[u32; 2]>,
    /// Released buffers `(start, bytes)`, sorted and coalesced: dead
    /// tensors' memory, reused by later tensors.
    free: Vec<(u64, u64)>,
    /// Initial contents: (offset, little-endian bytes).
    pub(crate) data: Vec<(u32, Vec<u8>)>,
    cache: HashMap<String, u32>,
}

impl MemPlan {
    /// Reserves `bytes` aligned to `align` (a power of two) and returns the offset.
    pub(crate) fn alloc(&mut self, bytes: u64, align: u64) -> u32 {
        let at = self.reserve(bytes, align);
        self.log.push([at, bytes.max(4) as u32]);
        at
    }

    /// Like [`MemPlan::alloc`] but may reuse a released buffer (first fit),
    /// for tensors, which their kernels always write before reading. Scratch
    /// with initialized borders must use `alloc`.
    pub(crate) fn alloc_reusable(&mut self, bytes: u64, align: u64) -> u32 {
        let bytes = bytes.max(4);
        for i in 0..self.free.len() {
            let (start, size) = self.free[i];
            let at = start.div_ceil(align) * align;
            if at + bytes <= start + size {
                self.free.remove(i);
                if at > start {
                    self.free.insert(i, (start, at - start));
                }
                if at + bytes < start + size {
                    let j = self.free.partition_point(|f| f.0 < at + bytes);
                    self.free.insert(j, (at + bytes, start + size - at - bytes));
                }
                self.log.push([at as u32, bytes as u32]);
                return at as u32;
            }
        }
        self.alloc(bytes, align)
    }

    /// Returns a tensor's buffer for reuse.
    pub(crate) fn release(&mut self, start: u32, bytes: u64) {
        let (start, bytes) = (start as u64, bytes.max(4));
        let i = self.free.partition_point(|f| f.0 < start);
        self.free.insert(i, (start, bytes));
        // coalesce with the neighbours
        if i + 1 < self.free.len() && self.free[i].0 + self.free[i].1 == self.free[i + 1].0 {
            self.free[i].1 += self.free[i + 1].1;
            self.free.remove(i + 1);
        }
        if i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == self.free[i].0 {
            self.free[i - 1].1 += self.free[i].1;
            self.free.remove(i);
        }
    }

    fn reserve(&mut self, bytes: u64, align: u64) -> u32 {
        let start = self.top.div_ceil(align) * align;
        self.top = start + bytes.max(4);
        u32::try_from(start).expect("model needs more than 4 GiB of memory")
    }

    /// The non-constant allocations made since the last call.
    pub(crate) fn take_log(&mut self) -> Vec<[u32; 2]> {
        std::mem::take(&mut self.log)
    }

    /// Reserves a power-of-two region aligned to its size (a Merkle subtree), at
    /// least one 32-byte leaf.
    pub(crate) fn alloc_region(&mut self, bytes: u64) -> (u32, u64) {
        let size = bytes.max(32).next_power_of_two();
        (self.alloc(size, size), size)
    }

    /// Places 32-bit words in the initial image, deduplicated by `key`.
    pub(crate) fn words(&mut self, key: &str, words: &[i32]) -> u32 {
        if let Some(&a) = self.cache.get(key) {
            return a;
        }
        let addr = self.reserve(words.len() as u64 * 4, 4);
        let mut bytes = Vec::with_capacity(words.len() * 4);
        for w in words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        if words.iter().any(|&w| w != 0) {
            self.data.push((addr, bytes));
        }
        self.cache.insert(key.to_string(), addr);
        addr
    }

    /// Places words at an already allocated address (for padding borders).
    pub(crate) fn init_at(&mut self, addr: u32, words: &[i32]) {
        let mut bytes = Vec::with_capacity(words.len() * 4);
        for w in words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        self.data.push((addr, bytes));
    }

    /// Total memory size: a power of two, at least one page.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.top.max(PAGE).next_power_of_two()
    }

    /// The initial memory image (zeros past the data), `memory_bytes()` long.
    pub(crate) fn image(&self) -> Vec<u8> {
        let mut img = vec![0u8; self.memory_bytes() as usize];
        for (addr, bytes) in &self.data {
            img[*addr as usize..*addr as usize + bytes.len()].copy_from_slice(bytes);
        }
        img
    }
}
