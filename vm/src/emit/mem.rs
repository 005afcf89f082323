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
