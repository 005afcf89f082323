//! Dense products: `C[r][j] = rescale(bias + sum_k A[r][k] * BT[j][k])`.
//!
//! The WASM computes one output at a time, reading its operands anew, so an
//! output that lands on an operand is seen by the next one. When the plan's
//! addresses rule that out (outputs distinct, disjoint from every operand,
//! all in bounds) the order cannot matter: the fast path computes the sums in
//! register tiles with SIMD on several threads into a buffer, then stores
//! them. Otherwise the sequential path repeats the WASM's order exactly.
//!
//! The i64 sums wrap like `i64.add` and every product of two i32 is exact in
//! i64, so any summation order gives the WASM's bits.

use super::{Executor, Isa, Mem, rescale};
use crate::error::{Error, Result};
use crate::plan::{BiasAxis, MatMulSpec, Rows};

/// Output rows and columns of one register tile.
const TILE: usize = 4;

/// Runs one product call: rows `[first, first + count)` of `s`.
pub(super) fn matmul(
    memory: &mut [u8],
    s: &MatMulSpec,
    rows: Rows,
    args: &[u32],
    ex: &Executor,
) -> Result<()> {
    let (first, count) = row_range(s, rows, args)?;
    if !fits(s, first, count) {
        return Err(Error::Runtime(
            "a product's addresses leave the 32-bit memory".into(),
        ));
    }
    match Layout::new(memory.len(), s, first, count) {
        Some(layout) => parallel(memory, s, &layout, ex),
        None => sequential(&mut Mem(memory), s, first, count),
    }
}

/// Rows `[first, first + count)` of a call, from its arguments.
fn row_range(s: &MatMulSpec, rows: Rows, args: &[u32]) -> Result<(usize, usize)> {
    match rows {
        // `run` of a whole product: a batch needs the row counter of a segment
        Rows::All if s.batch.is_none() => Ok((0, s.m)),
        Rows::All => Err(Error::Runtime(
            "a batched product outside a segment has no native kernel".into(),
        )),
        Rows::Params => match args {
            [first, count] => Ok((*first as usize, *count as usize)),
            _ => Err(Error::Runtime(
                "a product segment is called with two arguments".into(),
            )),
        },
    }
}

/// Whether every address the rows `[first, first + count)` of `s` reach is
/// below 2^33, so the i64 address arithmetic of the kernels cannot overflow
/// (a real product stays within the 4 GiB memory; a larger one is refused and
/// the WASM runs it).
fn fits(s: &MatMulSpec, first: usize, count: usize) -> bool {
    const LIMIT: i128 = 1 << 33;
    let rows = first as i128 + count as i128;
    let (k, n) = (s.k as i128, s.n as i128);
    let (rs, cs) = (s.c_strides.0 as i128, s.c_strides.1 as i128);
    [
        rows * k * 4,
        rows * n * 4,
        n * k * 4,
        rows * rs.abs(),
        n * cs.abs(),
    ]
    .iter()
    .all(|&x| x < LIMIT)
}

/// The bytes `[lo, hi)` the outputs of rows `[first, first + count)` take.
fn output_span(s: &MatMulSpec, first: usize, count: usize) -> Option<(i64, i64)> {
    let (first, count, n) = (
        i64::try_from(first).ok()?,
        i64::try_from(count).ok()?,
        i64::try_from(s.n).ok()?,
    );
    if count == 0 || n == 0 {
        return Some((0, 0));
    }
    let (rs, cs) = s.c_strides;
    let c0 = (s.c as i64).checked_add(first.checked_mul(rs)?)?;
    let (r_reach, c_reach) = (rs.checked_mul(count - 1)?, cs.checked_mul(n - 1)?);
    let lo = c0 + r_reach.min(0) + c_reach.min(0);
    let hi = c0 + r_reach.max(0) + c_reach.max(0) + 4;
    Some((lo, hi))
}

/// What one call can write (every output, in bounds), for `write_spans`.
pub(super) fn write_span(
    s: &MatMulSpec,
    rows: Rows,
    args: &[u32],
    len: usize,
) -> Option<(usize, usize)> {
    let (first, count) = row_range(s, rows, args).ok()?;
    if !fits(s, first, count) {
        return None;
    }
    let (lo, hi) = output_span(s, first, count)?;
    (lo >= 0 && hi <= len as i64).then_some((lo as usize, hi.max(lo) as usize))
}

/// A product whose outputs are distinct, in bounds and disjoint from its
/// operands: byte offsets of every row and column it reads and writes.
struct Layout {
    first: usize,
    count: usize,
    /// Byte offset of `A[r]` for each row.
    a_rows: Vec<usize>,
    /// Byte offset of `BT[0]` for each row (its batch's).
    bt_rows: Vec<usize>,
    /// Byte offset of `C[r][0]` for each row.
    c_rows: Vec<usize>,
}

/// `[lo, hi)` in bytes, or `None` when it leaves `0..len`.
fn span(lo: i64, bytes: i64, len: usize) -> Option<(i64, i64)> {
    (lo >= 0 && bytes >= 0 && lo + bytes <= len as i64).then_some((lo, lo + bytes))
}

fn disjoint(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 == a.1 || b.0 == b.1 || a.1 <= b.0 || b.1 <= a.0
}

impl Layout {
    fn new(len: usize, s: &MatMulSpec, first: usize, count: usize) -> Option<Layout> {
        let (k, n) = (s.k as i64, s.n as i64);
        let (first_i, count_i) = (i64::try_from(first).ok()?, i64::try_from(count).ok()?);
        if count == 0 || s.n == 0 {
            return None;
        }
        let a = span(s.a as i64 + first_i * k * 4, count_i * k * 4, len)?;
        let mut reads = vec![a];
        let mut bt_rows = Vec::with_capacity(count);
        for r in first..first + count {
            let bt = match s.batch {
                Some((m, stride)) => {
                    let batch = (r as u32).wrapping_div(m as u32);
                    batch.wrapping_mul(stride).wrapping_add(s.bt) as i64
                }
                None => s.bt as i64,
            };
            if bt_rows.last() != Some(&(bt as usize)) {
                reads.push(span(bt, n * k * 4, len)?);
            }
            bt_rows.push(bt as usize);
        }
        match s.bias {
            Some((b, BiasAxis::Row)) => reads.push(span(b as i64 + first_i * 4, count_i * 4, len)?),
            Some((b, BiasAxis::Full)) => {
                reads.push(span(b as i64 + first_i * n * 4, count_i * n * 4, len)?)
            }
            Some((b, BiasAxis::Col)) => reads.push(span(b as i64, n * 4, len)?),
            None => {}
        }
        // outputs: distinct words, inner stride then outer stride
        let (rs, cs) = s.c_strides;
        let ((si, ni), (so, no)) = if rs.abs() <= cs.abs() {
            ((rs, count_i), (cs, n))
        } else {
            ((cs, n), (rs, count_i))
        };
        let inner_span = si.abs() * (ni - 1) + 4;
        if (ni > 1 && si.abs() < 4) || (no > 1 && so.abs() < inner_span) {
            return None;
        }
        let c0 = s.c as i64 + first_i * rs;
        let (lo, hi) = output_span(s, first, count)?;
        let out = span(lo, hi - lo, len)?;
        if !reads.iter().all(|&r| disjoint(r, out)) {
            return None;
        }
        Some(Layout {
            first,
            count,
            a_rows: (0..count_i).map(|i| (a.0 + i * k * 4) as usize).collect(),
            bt_rows,
            c_rows: (0..count_i).map(|i| (c0 + i * rs) as usize).collect(),
        })
    }
}

/// The finished output of a dot product `dot` at row `r`, column `j`.
fn finish(s: &MatMulSpec, memory: &[u8], r: usize, j: usize, dot: i64) -> i32 {
    let word = |at: usize| i32::from_le_bytes(memory[at..at + 4].try_into().expect("4 bytes"));
    let bias = s.bias.map(|(b, axis)| {
        let b = b as usize;
        word(match axis {
            BiasAxis::Row => b + r * 4,
            BiasAxis::Col => b + j * 4,
            BiasAxis::Full => b + (r * s.n + j) * 4,
        }) as i64
    });
    combine(s, bias, dot)
}

/// `dot` with the bias and alpha of `s`, rescaled: `FuncBuilder`'s order.
fn combine(s: &MatMulSpec, bias: Option<i64>, dot: i64) -> i32 {
    let mut acc = match (bias, s.alpha) {
        (Some(bias), None) => bias.wrapping_shl(s.shift),
        _ => 0,
    };
    acc = acc.wrapping_add(dot);
    if let Some(alpha) = s.alpha {
        if s.shift > 0 {
            acc = acc.wrapping_add(1 << (s.shift - 1)) >> s.shift;
        }
        acc = acc.wrapping_mul(alpha as i64);
        if let Some(bias) = bias {
            acc = acc.wrapping_add(bias.wrapping_shl(s.shift));
        }
    }
    rescale(acc, s.shift)
}

/// One block of the output: rows `[r0, r0 + rows)` of the call (relative to
/// `first`) and columns `[j0, j0 + cols)`, row-major.
struct Block {
    r0: usize,
    rows: usize,
    j0: usize,
    cols: usize,
}

/// Rows of `A` per block: a block's rows stay in L2 while every column tile
/// of `BT` passes over them.
const BLOCK_ROWS: usize = 32;

/// Products with fewer multiply-accumulates than this stay on the calling
/// thread: handing blocks to the pool costs more than they take.
const PARALLEL_MACS: usize = 1 << 20;

fn parallel(memory: &mut [u8], s: &MatMulSpec, l: &Layout, ex: &Executor) -> Result<()> {
    let macs = l.count.saturating_mul(s.n).saturating_mul(s.k);
    let threads = if macs < PARALLEL_MACS {
        1
    } else {
        ex.threads().max(1)
    };
    // enough blocks for every thread; columns split when rows are few
    let row_blocks = l.count.div_ceil(BLOCK_ROWS);
    let col_split = if row_blocks >= 2 * threads || s.n < 2 * TILE * threads {
        1
    } else {
        (2 * threads).div_ceil(row_blocks)
    };
    let cols_per = s.n.div_ceil(col_split).next_multiple_of(TILE);
    let mut blocks = vec![];
    for r0 in (0..l.count).step_by(BLOCK_ROWS) {
        for j0 in (0..s.n).step_by(cols_per) {
            blocks.push(Block {
                r0,
                rows: BLOCK_ROWS.min(l.count - r0),
                j0,
                cols: cols_per.min(s.n - j0),
            });
        }
    }
    let shared: &[u8] = memory;
    let block = |b: &Block| {
        let mut sums = vec![0i64; b.rows * b.cols];
        dots(shared, s, l, b, ex.isa(), &mut sums);
        let mut out = Vec::with_capacity(sums.len());
        for (i, row) in sums.chunks_exact(b.cols).enumerate() {
            let r = l.first + b.r0 + i;
            out.extend(
                row.iter()
                    .enumerate()
                    .map(|(jj, &dot)| finish(s, shared, r, b.j0 + jj, dot)),
            );
        }
        out
    };
    let results: Vec<Vec<i32>> = if threads == 1 {
        blocks.iter().map(block).collect()
    } else {
        ex.map(&blocks, block)
    };
    let cs = s.c_strides.1;
    for (b, values) in blocks.iter().zip(results) {
        for (i, row) in values.chunks_exact(b.cols).enumerate() {
            let c_row = l.c_rows[b.r0 + i] as i64;
            for (jj, v) in row.iter().enumerate() {
                let at = (c_row + (b.j0 + jj) as i64 * cs) as usize;
                memory[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// The dot products of block `b` into `sums` (row-major), tile by tile.
fn dots(memory: &[u8], s: &MatMulSpec, l: &Layout, b: &Block, isa: Isa, sums: &mut [i64]) {
    let k = s.k;
    // column tiles outer: a tile of BT stays in L1 while the block's rows pass
    for j in (0..b.cols).step_by(TILE) {
        let c = TILE.min(b.cols - j);
        for i in (0..b.rows).step_by(TILE) {
            let r = TILE.min(b.rows - i);
            let a: [usize; TILE] = std::array::from_fn(|t| l.a_rows[b.r0 + i + t.min(r - 1)]);
            let bt: [usize; TILE] =
                std::array::from_fn(|t| l.bt_rows[b.r0 + i] + (b.j0 + j + t.min(c - 1)) * k * 4);
            // rows of one tile share a batch only when their BT does
            let one_batch = (0..r).all(|t| l.bt_rows[b.r0 + i + t] == l.bt_rows[b.r0 + i]);
            if !one_batch {
                for t in 0..r {
                    let bt_row = l.bt_rows[b.r0 + i + t];
                    for u in 0..c {
                        let at = bt_row + (b.j0 + j + u) * k * 4;
                        sums[(i + t) * b.cols + j + u] =
                            dot_portable(&memory[a[t]..a[t] + 4 * k], &memory[at..at + 4 * k]);
                    }
                }
                continue;
            }
            let tile = tile(memory, isa, a, bt, k);
            for t in 0..r {
                for u in 0..c {
                    sums[(i + t) * b.cols + j + u] = tile[t][u];
                }
            }
        }
    }
}

/// The 4 x 4 dot products of rows `a` of A and rows `bt` of BT (each `k`
/// words at those byte offsets, all in bounds).
fn tile(
    memory: &[u8],
    isa: Isa,
    a: [usize; TILE],
    bt: [usize; TILE],
    k: usize,
) -> [[i64; TILE]; TILE] {
    for &at in a.iter().chain(&bt) {
        assert!(at + 4 * k <= memory.len(), "a tile's rows are in bounds");
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is chosen only when the CPU has AVX-512F, and
        // every row read is in bounds (asserted above).
        Isa::Avx512 => unsafe { x86::tile_avx512(memory.as_ptr(), a, bt, k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2.
        Isa::Avx2 => unsafe { x86::tile_avx2(memory.as_ptr(), a, bt, k) },
        _ => std::array::from_fn(|t| {
            std::array::from_fn(|u| {
                dot_portable(&memory[a[t]..a[t] + 4 * k], &memory[bt[u]..bt[u] + 4 * k])
            })
        }),
    }
}

/// The wrapping i64 sum of products of two little-endian i32 rows.
pub(super) fn dot_portable(a: &[u8], b: &[u8]) -> i64 {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .fold(0i64, |acc, (x, y)| {
            let x = i32::from_le_bytes(x.try_into().expect("4 bytes")) as i64;
            let y = i32::from_le_bytes(y.try_into().expect("4 bytes")) as i64;
            acc.wrapping_add(x.wrapping_mul(y))
        })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! No closures in here: a closure does not get its function's target
    //! features, and its intrinsics would not be inlined.
    use super::TILE;
    use std::arch::x86_64::*;

    /// AVX-512: 16 words per load; `vpmuldq` multiplies the low (even) words
    /// of each 64-bit lane to i64, a 32-bit shift brings up the odd ones.
    /// Written out so that the 16 sums stay in registers.
    ///
    /// # Safety
    /// The CPU has AVX-512F and `base + a[t]`, `base + bt[u]` start `k`
    /// readable words.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_avx512(
        base: *const u8,
        a: [usize; TILE],
        bt: [usize; TILE],
        k: usize,
    ) -> [[i64; TILE]; TILE] {
        let zero = _mm512_setzero_si512();
        let mut c00 = zero;
        let mut c01 = zero;
        let mut c02 = zero;
        let mut c03 = zero;
        let mut c10 = zero;
        let mut c11 = zero;
        let mut c12 = zero;
        let mut c13 = zero;
        let mut c20 = zero;
        let mut c21 = zero;
        let mut c22 = zero;
        let mut c23 = zero;
        let mut c30 = zero;
        let mut c31 = zero;
        let mut c32 = zero;
        let mut c33 = zero;
        let mut kk = 0;
        while kk < k {
            let left = k - kk;
            // masked loads read only the words that exist, zero the rest
            let mask: __mmask16 = if left >= 16 {
                0xffff
            } else {
                (1u16 << left) - 1
            };
            // SAFETY: the caller's rows; the mask keeps to `k` words
            unsafe {
                let a0 = _mm512_maskz_loadu_epi32(mask, base.add(a[0] + 4 * kk).cast());
                let o0 = _mm512_srli_epi64::<32>(a0);
                let a1 = _mm512_maskz_loadu_epi32(mask, base.add(a[1] + 4 * kk).cast());
                let o1 = _mm512_srli_epi64::<32>(a1);
                let a2 = _mm512_maskz_loadu_epi32(mask, base.add(a[2] + 4 * kk).cast());
                let o2 = _mm512_srli_epi64::<32>(a2);
                let a3 = _mm512_maskz_loadu_epi32(mask, base.add(a[3] + 4 * kk).cast());
                let o3 = _mm512_srli_epi64::<32>(a3);
                let b = _mm512_maskz_loadu_epi32(mask, base.add(bt[0] + 4 * kk).cast());
                let p = _mm512_srli_epi64::<32>(b);
                c00 = _mm512_add_epi64(
                    c00,
                    _mm512_add_epi64(_mm512_mul_epi32(a0, b), _mm512_mul_epi32(o0, p)),
                );
                c10 = _mm512_add_epi64(
                    c10,
                    _mm512_add_epi64(_mm512_mul_epi32(a1, b), _mm512_mul_epi32(o1, p)),
                );
                c20 = _mm512_add_epi64(
                    c20,
                    _mm512_add_epi64(_mm512_mul_epi32(a2, b), _mm512_mul_epi32(o2, p)),
                );
                c30 = _mm512_add_epi64(
                    c30,
                    _mm512_add_epi64(_mm512_mul_epi32(a3, b), _mm512_mul_epi32(o3, p)),
                );
                let b = _mm512_maskz_loadu_epi32(mask, base.add(bt[1] + 4 * kk).cast());
                let p = _mm512_srli_epi64::<32>(b);
                c01 = _mm512_add_epi64(
                    c01,
                    _mm512_add_epi64(_mm512_mul_epi32(a0, b), _mm512_mul_epi32(o0, p)),
                );
                c11 = _mm512_add_epi64(
                    c11,
                    _mm512_add_epi64(_mm512_mul_epi32(a1, b), _mm512_mul_epi32(o1, p)),
                );
                c21 = _mm512_add_epi64(
                    c21,
                    _mm512_add_epi64(_mm512_mul_epi32(a2, b), _mm512_mul_epi32(o2, p)),
                );
                c31 = _mm512_add_epi64(
                    c31,
                    _mm512_add_epi64(_mm512_mul_epi32(a3, b), _mm512_mul_epi32(o3, p)),
                );
                let b = _mm512_maskz_loadu_epi32(mask, base.add(bt[2] + 4 * kk).cast());
                let p = _mm512_srli_epi64::<32>(b);
                c02 = _mm512_add_epi64(
                    c02,
                    _mm512_add_epi64(_mm512_mul_epi32(a0, b), _mm512_mul_epi32(o0, p)),
                );
                c12 = _mm512_add_epi64(
                    c12,
                    _mm512_add_epi64(_mm512_mul_epi32(a1, b), _mm512_mul_epi32(o1, p)),
                );
                c22 = _mm512_add_epi64(
                    c22,
                    _mm512_add_epi64(_mm512_mul_epi32(a2, b), _mm512_mul_epi32(o2, p)),
                );
                c32 = _mm512_add_epi64(
                    c32,
                    _mm512_add_epi64(_mm512_mul_epi32(a3, b), _mm512_mul_epi32(o3, p)),
                );
                let b = _mm512_maskz_loadu_epi32(mask, base.add(bt[3] + 4 * kk).cast());
                let p = _mm512_srli_epi64::<32>(b);
                c03 = _mm512_add_epi64(
                    c03,
                    _mm512_add_epi64(_mm512_mul_epi32(a0, b), _mm512_mul_epi32(o0, p)),
                );
                c13 = _mm512_add_epi64(
                    c13,
                    _mm512_add_epi64(_mm512_mul_epi32(a1, b), _mm512_mul_epi32(o1, p)),
                );
                c23 = _mm512_add_epi64(
                    c23,
                    _mm512_add_epi64(_mm512_mul_epi32(a2, b), _mm512_mul_epi32(o2, p)),
                );
                c33 = _mm512_add_epi64(
                    c33,
                    _mm512_add_epi64(_mm512_mul_epi32(a3, b), _mm512_mul_epi32(o3, p)),
                );
            }
            kk += 16;
        }
        [
            [
                _mm512_reduce_add_epi64(c00),
                _mm512_reduce_add_epi64(c01),
                _mm512_reduce_add_epi64(c02),
                _mm512_reduce_add_epi64(c03),
            ],
            [
                _mm512_reduce_add_epi64(c10),
                _mm512_reduce_add_epi64(c11),
                _mm512_reduce_add_epi64(c12),
                _mm512_reduce_add_epi64(c13),
            ],
            [
                _mm512_reduce_add_epi64(c20),
                _mm512_reduce_add_epi64(c21),
                _mm512_reduce_add_epi64(c22),
                _mm512_reduce_add_epi64(c23),
            ],
            [
                _mm512_reduce_add_epi64(c30),
                _mm512_reduce_add_epi64(c31),
                _mm512_reduce_add_epi64(c32),
                _mm512_reduce_add_epi64(c33),
            ],
        ]
    }

    /// The horizontal sum of four i64 lanes.
    #[target_feature(enable = "avx2")]
    fn hsum256(v: __m256i) -> i64 {
        let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        _mm_cvtsi128_si64(s).wrapping_add(_mm_extract_epi64::<1>(s))
    }

    /// AVX2: the tile as two halves of 2 x 4 (16 registers hold one half's
    /// sums and operands), 8 words per load; the tail is scalar.
    ///
    /// # Safety
    /// The CPU has AVX2 and the rows are readable, as for [`tile_avx512`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile_avx2(
        base: *const u8,
        a: [usize; TILE],
        bt: [usize; TILE],
        k: usize,
    ) -> [[i64; TILE]; TILE] {
        // SAFETY: as for this function
        let top = unsafe { half_avx2(base, [a[0], a[1]], bt, k) };
        // SAFETY: as above
        let bottom = unsafe { half_avx2(base, [a[2], a[3]], bt, k) };
        [top[0], top[1], bottom[0], bottom[1]]
    }

    /// Two rows of A against four of BT, as [`tile_avx2`].
    ///
    /// # Safety
    /// As [`tile_avx2`].
    #[target_feature(enable = "avx2")]
    unsafe fn half_avx2(
        base: *const u8,
        a: [usize; 2],
        bt: [usize; TILE],
        k: usize,
    ) -> [[i64; TILE]; 2] {
        let zero = _mm256_setzero_si256();
        let mut c00 = zero;
        let mut c01 = zero;
        let mut c02 = zero;
        let mut c03 = zero;
        let mut c10 = zero;
        let mut c11 = zero;
        let mut c12 = zero;
        let mut c13 = zero;
        let body = k / 8 * 8;
        let mut kk = 0;
        while kk < body {
            // SAFETY: `kk + 8 <= k` words of the caller's rows
            unsafe {
                let a0 = _mm256_loadu_si256(base.add(a[0] + 4 * kk).cast());
                let o0 = _mm256_srli_epi64::<32>(a0);
                let a1 = _mm256_loadu_si256(base.add(a[1] + 4 * kk).cast());
                let o1 = _mm256_srli_epi64::<32>(a1);
                let b = _mm256_loadu_si256(base.add(bt[0] + 4 * kk).cast());
                let p = _mm256_srli_epi64::<32>(b);
                c00 = _mm256_add_epi64(
                    c00,
                    _mm256_add_epi64(_mm256_mul_epi32(a0, b), _mm256_mul_epi32(o0, p)),
                );
                c10 = _mm256_add_epi64(
                    c10,
                    _mm256_add_epi64(_mm256_mul_epi32(a1, b), _mm256_mul_epi32(o1, p)),
                );
                let b = _mm256_loadu_si256(base.add(bt[1] + 4 * kk).cast());
                let p = _mm256_srli_epi64::<32>(b);
                c01 = _mm256_add_epi64(
                    c01,
                    _mm256_add_epi64(_mm256_mul_epi32(a0, b), _mm256_mul_epi32(o0, p)),
                );
                c11 = _mm256_add_epi64(
                    c11,
                    _mm256_add_epi64(_mm256_mul_epi32(a1, b), _mm256_mul_epi32(o1, p)),
                );
                let b = _mm256_loadu_si256(base.add(bt[2] + 4 * kk).cast());
                let p = _mm256_srli_epi64::<32>(b);
                c02 = _mm256_add_epi64(
                    c02,
                    _mm256_add_epi64(_mm256_mul_epi32(a0, b), _mm256_mul_epi32(o0, p)),
                );
                c12 = _mm256_add_epi64(
                    c12,
                    _mm256_add_epi64(_mm256_mul_epi32(a1, b), _mm256_mul_epi32(o1, p)),
                );
                let b = _mm256_loadu_si256(base.add(bt[3] + 4 * kk).cast());
                let p = _mm256_srli_epi64::<32>(b);
                c03 = _mm256_add_epi64(
                    c03,
                    _mm256_add_epi64(_mm256_mul_epi32(a0, b), _mm256_mul_epi32(o0, p)),
                );
                c13 = _mm256_add_epi64(
                    c13,
                    _mm256_add_epi64(_mm256_mul_epi32(a1, b), _mm256_mul_epi32(o1, p)),
                );
            }
            kk += 8;
        }
        let sums0 = [hsum256(c00), hsum256(c01), hsum256(c02), hsum256(c03)];
        let sums1 = [hsum256(c10), hsum256(c11), hsum256(c12), hsum256(c13)];
        let mut out = [sums0, sums1];
        for (t, row) in out.iter_mut().enumerate() {
            for (u, sum) in row.iter_mut().enumerate() {
                for i in body..k {
                    // SAFETY: `i < k` words of the caller's rows
                    let (x, y) = unsafe {
                        (
                            base.add(a[t] + 4 * i).cast::<i32>().read_unaligned() as i64,
                            base.add(bt[u] + 4 * i).cast::<i32>().read_unaligned() as i64,
                        )
                    };
                    *sum = sum.wrapping_add(x.wrapping_mul(y));
                }
            }
        }
        out
    }
}

/// The WASM's order exactly: output after output, operands read anew for
/// each, every address checked (an access out of memory is the WASM's trap).
fn sequential(mem: &mut Mem, s: &MatMulSpec, first: usize, count: usize) -> Result<()> {
    let k = s.k as i64;
    let n = s.n as i64;
    for r in first..first + count {
        let r = r as i64;
        let a_row = s.a as i64 + r * k * 4;
        let bt = match s.batch {
            // WASM: row / m (unsigned, 32 bits) * stride + bt
            Some((m, stride)) => {
                let batch = (r as u32).wrapping_div(m as u32);
                batch.wrapping_mul(stride).wrapping_add(s.bt) as i64
            }
            None => s.bt as i64,
        };
        let bias_row = match s.bias {
            Some((b, BiasAxis::Row)) => b as i64 + r * 4,
            Some((b, BiasAxis::Full)) => b as i64 + r * n * 4,
            Some((b, BiasAxis::Col)) => b as i64,
            None => 0,
        };
        let c_row = s.c as i64 + r * s.c_strides.0;
        for j in 0..n {
            let bias = match s.bias {
                Some((_, BiasAxis::Row)) => Some(mem.load(bias_row)? as i64),
                Some(_) => Some(mem.load(bias_row + j * 4)? as i64),
                None => None,
            };
            let a = mem.words(a_row, s.k)?;
            let b = mem.words(bt + j * k * 4, s.k)?;
            let dot = dot_portable(a, b);
            mem.store(c_row + j * s.c_strides.1, combine(s, bias, dot))?;
        }
    }
    Ok(())
}
