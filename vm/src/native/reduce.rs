//! Row kernels: Softmax, LogSoftmax and the reductions (ReduceSum, ReduceMean,
//! ReduceMax, ArgMax, GlobalAveragePool).
//!
//! One row after the other, and in a row every pass the WASM makes, each
//! element read from and written to memory when the WASM reads or writes
//! it: tensors that overlap give the same bytes. A row's bounds are checked
//! once, before it is touched; an access out of memory is the WASM's trap.

use super::saturate;
use super::scalar::{Table, div_trap, exp, for_each_element, ln, rd, span, wr};
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

/// Softmax (or LogSoftmax with `ln`) of each row: the row's maximum, then
/// `e_j = exp(x_j - max)` summed (and stored, for Softmax), then the output.
pub(super) fn softmax(
    mem: &mut [u8],
    rows: &RowSpec,
    src: u32,
    dst: u32,
    f: u32,
    exp2: Lut,
    ln_lut: Option<Lut>,
) -> Result<()> {
    check_frac_bits(f)?;
    let len = mem.len();
    let r = Rows::new(rows, len)?;
    let exp2 = Table::new(exp2, len)?;
    let ln_table = ln_lut.map(|l| Table::new(l, len)).transpose()?;
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
            let e = exp(mem, &exp2, f, v);
            if ln_table.is_none() {
                wr(mem, d + o as usize, e);
            }
            sum = sum.wrapping_add(e as i64);
        }
        match &ln_table {
            Some(table) => {
                let lse = ln(mem, table, f, saturate(sum)) as i64;
                for &o in offs {
                    let x = rd(mem, s + o as usize) as i64 - m as i64;
                    wr(mem, d + o as usize, saturate(x.wrapping_sub(lse)));
                }
            }
            None => {
                // one division per row, then a multiply per element
                let inv = (1i64 << (f + 30))
                    .checked_div(sum)
                    .ok_or_else(|| div_trap("a softmax"))?;
                for &o in offs {
                    let at = d + o as usize;
                    let y = (rd(mem, at) as i64).wrapping_mul(inv).wrapping_add(1 << 29) >> 30;
                    wr(mem, at, saturate(y));
                }
            }
        }
        Ok(())
    })
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
