//! Row kernels: Softmax, LogSoftmax and the reductions (ReduceSum, ReduceMean,
//! ReduceMax, ArgMax, GlobalAveragePool).
//!
//! One row after the other, and in a row every pass the WASM makes, each
//! element read from and written to memory when the WASM reads or writes
//! it: tensors that overlap give the same bytes. A row's bounds are checked
//! once, before it is touched; an access out of memory is the WASM's trap.
//! A softmax whose output overlaps no input (or is its input, in place)
//! cannot see its own writes: its rows are computed apart, on the
//! executor's threads, then stored.

use super::scalar::{Table, div_trap, exp, for_each_element, ln, rd, span, wr};
use super::{Executor, saturate};
use crate::error::{Error, Result};
use crate::fixed::MAX_FRAC_BITS;
use crate::plan::{Lut, ReduceOp, RowLayout, RowSpec, View};

/// The rows of a plan in a memory of `len` bytes.
pub(super) struct Rows {
    /// Where the rows and their elements are.
    pub(super) layout: RowLayout,
    /// Bytes from a row's first element to the end of its last (0 for empty rows).
    pub(super) extent: u64,
}

impl Rows {
    pub(super) fn new(spec: &RowSpec, len: usize) -> Result<Rows> {
        let layout = spec.layout(len as u64).ok_or_else(|| {
            Error::Runtime(format!(
                "a plan's rows ({:?} over axes {:?}) do not fit in memory",
                spec.shape, spec.axes
            ))
        })?;
        let extent = layout.offsets.iter().max().map_or(0, |&o| o as u64 + 4);
        Ok(Rows { layout, extent })
    }

    /// The view of the rows of a tensor at `base` (its outer loop).
    pub(super) fn view(&self, base: u32) -> View {
        View {
            base,
            strides: self.layout.strides.clone(),
        }
    }

    /// A contiguous tensor with one word per row at `base` (a reduction's output).
    pub(super) fn per_row(&self, base: u32) -> View {
        let outer = &self.layout.outer;
        let mut strides = vec![4i64; outer.len()];
        for i in (0..outer.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * outer[i + 1] as i64;
        }
        View { base, strides }
    }
}

/// Fails on fractional bits no compiler writes (the shifts would overflow).
pub(super) fn check_frac_bits(f: u32) -> Result<()> {
    if f > MAX_FRAC_BITS {
        return Err(Error::Runtime(format!(
            "a plan has {f} fractional bits, more than {MAX_FRAC_BITS}"
        )));
    }
    Ok(())
}

/// `v / n` rounded half away from zero, as `div_round` emits it.
pub(super) fn div_round(v: i64, n: usize, what: &str) -> Result<i64> {
    let h = n as i64 / 2;
    v.wrapping_add(if v >= 0 { h } else { -h })
        .checked_div(n as i64)
        .ok_or_else(|| div_trap(what))
}

/// Bytes `[lo, hi)` spanned by the rows of a tensor at `base` (empty
/// without rows or elements).
pub(super) fn region(r: &Rows, base: u32) -> (i64, i64) {
    let outer = &r.layout.outer;
    if outer.contains(&0) || r.extent == 0 {
        return (base as i64, base as i64);
    }
    let last: i64 = outer
        .iter()
        .zip(&r.layout.strides)
        .map(|(&n, &s)| (n as i64 - 1) * s)
        .sum();
    (base as i64, base as i64 + last + r.extent as i64)
}

/// Whether two byte spans share no byte.
pub(super) fn disjoint(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 == a.1 || b.0 == b.1 || a.1 <= b.0 || b.1 <= a.0
}

/// Whether a span lies in a memory of `len` bytes.
pub(super) fn inside(a: (i64, i64), len: usize) -> bool {
    a.0 >= 0 && a.1 <= len as i64
}

/// Byte indices of each row's first element in each of `bases`' tensors
/// (laid out as the rows), in row order; the caller checked the spans.
pub(super) fn row_starts(r: &Rows, views: &[View]) -> Vec<Vec<usize>> {
    let refs: Vec<&View> = views.iter().collect();
    let mut starts = vec![];
    for_each_element(&r.layout.outer, &refs, |at| {
        starts.push(at.iter().map(|&a| a as usize).collect());
        Ok(())
    })
    .expect("collecting addresses does not fail");
    starts
}

/// Row ranges to spread over the executor's threads (one when small).
pub(super) fn chunks(rows: usize, row_len: usize, ex: &Executor) -> Vec<std::ops::Range<usize>> {
    let parts = if rows * row_len < 1 << 17 {
        1
    } else {
        (ex.threads() * 4).min(rows)
    };
    let per = rows.div_ceil(parts.max(1)).max(1);
    (0..rows)
        .step_by(per)
        .map(|r| r..(r + per).min(rows))
        .collect()
}

/// Softmax (or LogSoftmax with `ln`) of each row: the row's maximum, then
/// `e_j = exp(x_j - max)` summed (and stored, for Softmax), then the output.
#[allow(clippy::too_many_arguments)]
pub(super) fn softmax(
    mem: &mut [u8],
    rows: &RowSpec,
    src: u32,
    dst: u32,
    f: u32,
    exp2: Lut,
    ln_lut: Option<Lut>,
    ex: &Executor,
) -> Result<()> {
    check_frac_bits(f)?;
    let len = mem.len();
    let r = Rows::new(rows, len)?;
    let exp2 = Table::new(exp2, len)?;
    let ln_table = ln_lut.map(|l| Table::new(l, len)).transpose()?;
    // Rows that write only where no row reads (or each its own elements,
    // in place) and not the tables: all rows at once, on every thread.
    let (s_span, d_span) = (region(&r, src), region(&r, dst));
    let independent = !r.layout.offsets.is_empty()
        && inside(s_span, len)
        && inside(d_span, len)
        && (src == dst || disjoint(s_span, d_span))
        && disjoint(d_span, exp2.span())
        && ln_table.is_none_or(|t| disjoint(d_span, t.span()));
    if independent {
        return softmax_rows(mem, &r, src, dst, f, &exp2, ln_table.as_ref(), ex);
    }
    softmax_sequential(mem, &r, src, dst, f, &exp2, ln_table.as_ref())
}

/// [`softmax`] in the WASM's order of every read and write.
fn softmax_sequential(
    mem: &mut [u8],
    r: &Rows,
    src: u32,
    dst: u32,
    f: u32,
    exp2: &Table,
    ln_table: Option<&Table>,
) -> Result<()> {
    let len = mem.len();
    let offs = &r.layout.offsets;
    let (sv, dv) = (r.view(src), r.view(dst));
    // the maximum starts from the row's first word, even in an empty row
    let src_extent = r.extent.max(4);
    for_each_element(&r.layout.outer, &[&dv, &sv], |at| {
        let d = span(len, at[0], r.extent)?;
        let s = span(len, at[1], src_extent)?;
        let mut m = rd(mem, s);
        for &o in offs {
            let v = rd(mem, s + o as usize);
            if v > m {
                m = v;
            }
        }
        let mut sum = 0i64;
        for &o in offs {
            let v = saturate(rd(mem, s + o as usize) as i64 - m as i64);
            let e = exp(|x| exp2.at(mem, x), f, v);
            if ln_table.is_none() {
                wr(mem, d + o as usize, e);
            }
            sum = sum.wrapping_add(e as i64);
        }
        match &ln_table {
            Some(table) => {
                let lse = ln(|x| table.at(mem, x), f, saturate(sum)) as i64;
                for &o in offs {
                    let x = rd(mem, s + o as usize) as i64 - m as i64;
                    wr(mem, d + o as usize, saturate(x.wrapping_sub(lse)));
                }
            }
            None => {
                let inv = softmax_inv(f, sum)?;
                for &o in offs {
                    let at = d + o as usize;
                    wr(mem, at, softmax_out(rd(mem, at), inv));
                }
            }
        }
        Ok(())
    })
}

/// `2^(F+30) / sum`: one division per row (`i64.div_s`, which traps on 0).
fn softmax_inv(f: u32, sum: i64) -> Result<i64> {
    (1i64 << (f + 30))
        .checked_div(sum)
        .ok_or_else(|| div_trap("a softmax"))
}

/// `e * inv >> 30`, rounded half up and saturated.
#[inline]
fn softmax_out(e: i32, inv: i64) -> i32 {
    saturate((e as i64).wrapping_mul(inv).wrapping_add(1 << 29) >> 30)
}

/// [`softmax`] of rows that are independent of each other: each row read
/// into a buffer, computed there (on the executor's threads), then stored.
/// Writes no table and no other row's input, so this is the WASM's result.
#[allow(clippy::too_many_arguments)]
fn softmax_rows(
    mem: &mut [u8],
    r: &Rows,
    src: u32,
    dst: u32,
    f: u32,
    exp2: &Table,
    ln_table: Option<&Table>,
    ex: &Executor,
) -> Result<()> {
    let offs = &r.layout.offsets;
    let n = offs.len();
    let starts = row_starts(r, &[r.view(src), r.view(dst)]);
    let exp2 = exp2.decode(mem);
    let ln_knots = ln_table.map(|t| t.decode(mem));
    let parts = chunks(starts.len(), n, ex);
    let read: &[u8] = mem;
    let outs = ex.map(&parts, |range| -> Result<Vec<i32>> {
        let mut out = Vec::with_capacity(range.len() * n);
        for row in &starts[range.clone()] {
            let begin = out.len();
            out.extend(offs.iter().map(|&o| rd(read, row[0] + o as usize)));
            let xs = &mut out[begin..];
            // the first word starts the maximum: it is in the row
            let m = xs.iter().copied().max().expect("rows are not empty") as i64;
            let e = |x: i32| exp(|k| exp2.at(k), f, saturate(x as i64 - m));
            match &ln_knots {
                None => {
                    let mut sum = 0i64;
                    for x in xs.iter_mut() {
                        *x = e(*x);
                        sum = sum.wrapping_add(*x as i64);
                    }
                    let inv = softmax_inv(f, sum)?;
                    for x in xs.iter_mut() {
                        *x = softmax_out(*x, inv);
                    }
                }
                Some(knots) => {
                    let sum = xs.iter().fold(0i64, |s, &x| s.wrapping_add(e(x) as i64));
                    let lse = ln(|k| knots.at(k), f, saturate(sum)) as i64;
                    for x in xs.iter_mut() {
                        *x = saturate((*x as i64 - m).wrapping_sub(lse));
                    }
                }
            }
        }
        Ok(out)
    });
    let mut results = Vec::with_capacity(outs.len());
    for o in outs {
        results.push(o?);
    }
    for (range, out) in parts.iter().zip(&results) {
        for (k, row) in starts[range.clone()].iter().enumerate() {
            for (j, &o) in offs.iter().enumerate() {
                wr(mem, row[1] + o as usize, out[k * n + j]);
            }
        }
    }
    Ok(())
}

/// One value per row into a contiguous tensor at `dst`.
pub(super) fn reduce(
    mem: &mut [u8],
    rows: &RowSpec,
    src: u32,
    dst: u32,
    op: ReduceOp,
) -> Result<()> {
    let len = mem.len();
    let r = Rows::new(rows, len)?;
    let offs = &r.layout.offsets;
    let n = offs.len();
    let (sv, dv) = (r.view(src), r.per_row(dst));
    let src_extent = match op {
        // these read the row's first word, even in an empty row
        ReduceOp::Max | ReduceOp::ArgMax { .. } => r.extent.max(4),
        ReduceOp::Sum | ReduceOp::Mean => r.extent,
    };
    for_each_element(&r.layout.outer, &[&dv, &sv], |at| {
        let d = span(len, at[0], 4)?;
        let s = span(len, at[1], src_extent)?;
        let sum = || {
            offs.iter().fold(0i64, |acc, &o| {
                acc.wrapping_add(rd(mem, s + o as usize) as i64)
            })
        };
        let v = match op {
            ReduceOp::Sum => saturate(sum()),
            ReduceOp::Mean => saturate(div_round(sum(), n, "a mean")?),
            ReduceOp::Max => {
                let mut m = rd(mem, s);
                for &o in offs {
                    let v = rd(mem, s + o as usize);
                    if v > m {
                        m = v;
                    }
                }
                m
            }
            ReduceOp::ArgMax { last } => {
                let (mut m, mut idx) = (rd(mem, s), 0i32);
                for (at, &o) in offs.iter().enumerate() {
                    let v = rd(mem, s + o as usize);
                    if if last { v >= m } else { v > m } {
                        idx = at as i32;
                        m = v;
                    }
                }
                idx
            }
        };
        wr(mem, d, v);
        Ok(())
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::native::Isa;

    /// Pseudo-random words (xorshift), the same for a seed.
    pub(crate) fn words(seed: u64, n: usize, lo: i32, hi: i32) -> Vec<i32> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                lo + (x % (hi - lo) as u64) as i32
            })
            .collect()
    }

    /// A memory holding `parts` one after the other, and their byte addresses.
    pub(crate) fn memory(parts: &[&[i32]]) -> (Vec<u8>, Vec<u32>) {
        let mut mem = vec![];
        let mut at = vec![];
        for p in parts {
            at.push(mem.len() as u32);
            mem.extend(p.iter().flat_map(|w| w.to_le_bytes()));
        }
        (mem, at)
    }

    /// A table of 2049 knots over one octave at Q16, as the compiler lays them out.
    pub(crate) fn lut(addr: u32, lo_q: i32) -> Lut {
        Lut {
            addr,
            lo_q,
            hi_q: lo_q + (1 << 16),
            shift: 5,
        }
    }

    /// Rows computed apart on two threads (the fast path) give the bytes of
    /// the WASM's order, rows along the last axis or across it, separate or
    /// in place, Softmax and LogSoftmax.
    #[test]
    fn independent_softmax_rows_match_the_sequential_order() {
        let ex = Executor::new(2, Isa::Portable).unwrap();
        let f = 16;
        let shape = vec![3, 240, 200]; // above `chunks`' threshold: several parts
        let n: usize = shape.iter().product();
        let x = words(1, n, -8 << 16, 8 << 16);
        let exp2 = words(2, 2049, 1 << 16, 2 << 16);
        let ln = words(3, 2049, 0, 45426);
        let (mem, at) = memory(&[&x, &vec![0; n], &exp2, &ln]);
        for axes in [vec![2], vec![1], vec![1, 2]] {
            let rows = RowSpec {
                shape: shape.clone(),
                axes,
            };
            for log in [false, true] {
                for dst in [at[1], at[0]] {
                    let (e, l) = (lut(at[2], 0), lut(at[3], 1 << 16));
                    let ln_lut = log.then_some(l);
                    let mut fast = mem.clone();
                    softmax(&mut fast, &rows, at[0], dst, f, e, ln_lut, &ex).unwrap();
                    let mut slow = mem.clone();
                    let r = Rows::new(&rows, slow.len()).unwrap();
                    let (e, l) = (
                        Table::new(e, mem.len()).unwrap(),
                        Table::new(l, mem.len()).unwrap(),
                    );
                    let ln_table = log.then_some(&l);
                    softmax_sequential(&mut slow, &r, at[0], dst, f, &e, ln_table).unwrap();
                    assert!(
                        fast == slow,
                        "{:?} log {log} in place {}",
                        rows.axes,
                        dst == at[0]
                    );
                    assert!(fast != mem, "the kernel wrote");
                }
            }
        }
    }
}
