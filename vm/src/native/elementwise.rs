//! Elementwise kernels and copies: one element after the other in
//! row-major order, as the WASM loop nests go, so views that overlap give the
//! same bytes.

use super::{Mem, rescale, saturate};
use crate::error::{Error, Result};
use crate::plan::{BinaryOp, Lut, UnaryOp, View};

/// Calls `at` with each view's byte address of every element of `shape`,
/// in row-major order (the WASM loop nests' order).
fn for_each_element(
    shape: &[usize],
    views: &[&View],
    mut at: impl FnMut(&[i64]) -> Result<()>,
) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0usize; shape.len()];
    let mut addr: Vec<i64> = views.iter().map(|v| v.base as i64).collect();
    loop {
        at(&addr)?;
        // next index, last dimension fastest
        let mut d = shape.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            for (a, v) in addr.iter_mut().zip(views) {
                *a += v.strides[d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for (a, v) in addr.iter_mut().zip(views) {
                *a -= v.strides[d] * shape[d] as i64;
            }
            idx[d] = 0;
        }
    }
}

/// Element by element in row-major order, each loaded then stored, as the
/// WASM loop nest does: overlapping views give the same bytes.
pub(super) fn copy(mem: &mut Mem, shape: &[usize], src: &View, dst: &View) -> Result<()> {
    for_each_element(shape, &[dst, src], |at| {
        let x = mem.load(at[1])?;
        mem.store(at[0], x)
    })
}

/// `views[0] = op(views[1], views[2], ...)`, element by element.
pub(super) fn binary(mem: &mut Mem, shape: &[usize], views: &[View], op: BinaryOp) -> Result<()> {
    if views.len() < 2 || (matches!(op, BinaryOp::DivConst { .. }) && views.len() != 2) {
        return Err(Error::Runtime(format!(
            "an elementwise plan has {} views for {op:?}",
            views.len()
        )));
    }
    let refs: Vec<&View> = views.iter().collect();
    for_each_element(shape, &refs, |at| {
        let x = mem.load(at[1])?;
        let v = match op {
            BinaryOp::DivConst { m, s } => {
                let p = (x as i64).wrapping_mul(m);
                let p = if s > 0 {
                    p.wrapping_add(1 << (s - 1)) >> s
                } else {
                    p
                };
                saturate(p)
            }
            _ => {
                let mut acc = x;
                for &q in &at[2..] {
                    let y = mem.load(q)?;
                    acc = match op {
                        BinaryOp::Add => saturate(acc as i64 + y as i64),
                        BinaryOp::Sub => saturate(acc as i64 - y as i64),
                        BinaryOp::Mul { shift } => {
                            let p = acc as i64 * y as i64;
                            match shift {
                                Some(f) => rescale(p, f),
                                None => saturate(p),
                            }
                        }
                        BinaryOp::Max => acc.max(y),
                        BinaryOp::Min => acc.min(y),
                        BinaryOp::DivConst { .. } => unreachable!("one input"),
                    };
                }
                acc
            }
        };
        mem.store(at[0], v)
    })
}

/// A table at `x`, as `Lut::emit` computes it: clamped to the domain, the
/// knot below, and linear interpolation to the next knot.
fn lut_at(mem: &Mem, lut: &Lut, x: i32) -> Result<i32> {
    let clamped = x.min(lut.hi_q - 1).max(lut.lo_q);
    let d = clamped.wrapping_sub(lut.lo_q);
    let knot = lut.addr as i64 + (((d as u32) >> lut.shift) << 2) as i64;
    if lut.shift == 0 {
        return mem.load(knot);
    }
    let (y0, y1) = (mem.load(knot)? as i64, mem.load(knot + 4)? as i64);
    let frac = (d & ((1i32 << lut.shift) - 1)) as u32 as i64;
    let v = (y1.wrapping_sub(y0).wrapping_mul(frac) >> lut.shift).wrapping_add(y0);
    Ok(v as i32)
}

/// `views[0] = op(views[1])`, element by element.
pub(super) fn unary(mem: &mut Mem, shape: &[usize], views: &[View], op: UnaryOp) -> Result<()> {
    if views.len() != 2 {
        return Err(Error::Runtime(format!(
            "an elementwise plan has {} views for {op:?}",
            views.len()
        )));
    }
    for_each_element(shape, &[&views[0], &views[1]], |at| {
        let x = mem.load(at[1])?;
        let v = match op {
            UnaryOp::Relu => x.max(0),
            UnaryOp::LeakyRelu { alpha, shift } => {
                if x > 0 {
                    x
                } else {
                    rescale((x as i64).wrapping_mul(alpha), shift)
                }
            }
            UnaryOp::Neg => saturate(-(x as i64)),
            UnaryOp::Abs => saturate((x as i64).abs()),
            UnaryOp::Clip { lo, hi } => {
                let x = if x > lo { x } else { lo };
                if x < hi { x } else { hi }
            }
            UnaryOp::Lut { lut } => lut_at(mem, &lut, x)?,
            UnaryOp::Gelu { lut, shift } => {
                let cdf = lut_at(mem, &lut, x)?;
                rescale((cdf as i64).wrapping_mul(x as i64), shift)
            }
        };
        mem.store(at[0], v)
    })
}
