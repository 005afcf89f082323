//! Elementwise kernels built from exact integer steps (division by a
//! runtime tensor, Cast, Exp, Sqrt, Reciprocal, Pow) and Gather.
//!
//! One element after the other in row-major order, each loaded then stored
//! as the WASM loop nests do, so views that overlap give the same bytes.

use super::reduce::check_frac_bits;
use super::scalar::{self, Table, div, div_trap, exp, for_each_element, isqrt, rd, span, wr};
use super::{Mem, rescale, saturate};
use crate::error::{Error, Result};
use crate::plan::{CastOp, GatherSpec, MathOp, PowOp, View};

/// Fails unless the plan has `count` views (the output, then the inputs).
fn check_views(views: &[View], count: std::ops::Range<usize>, what: &str) -> Result<()> {
    if !count.contains(&views.len()) {
        return Err(Error::Runtime(format!(
            "a {what} plan has {} views",
            views.len()
        )));
    }
    Ok(())
}

/// `views[0] = views[1] / views[2] / ...`, each quotient `(num << shift) / den`.
pub(super) fn divide(mem: &mut Mem, shape: &[usize], views: &[View], shift: u32) -> Result<()> {
    check_views(views, 2..usize::MAX, "division")?;
    let refs: Vec<&View> = views.iter().collect();
    for_each_element(shape, &refs, |at| {
        let mut acc = mem.load(at[1])?;
        for &q in &at[2..] {
            let den = mem.load(q)?;
            acc = div(acc as i64, den, shift).ok_or_else(|| div_trap("a division"))?;
        }
        mem.store(at[0], acc)
    })
}

/// `views[0] = cast(views[1])`.
pub(super) fn cast(mem: &mut Mem, shape: &[usize], views: &[View], op: CastOp) -> Result<()> {
    check_views(views, 2..3, "cast")?;
    if let CastOp::Truncate { frac_bits } | CastOp::FromInt { frac_bits } = op {
        check_frac_bits(frac_bits)?;
    }
    for_each_element(shape, &[&views[0], &views[1]], |at| {
        let x = mem.load(at[1])?;
        let v = match op {
            CastOp::Bool => i32::from(x != 0),
            CastOp::Truncate { frac_bits: f } => {
                // toward zero: a negative value first moves up by 2^F - 1
                let bias = (x >> 31) & ((1i32 << f) - 1);
                x.wrapping_add(bias) >> f
            }
            CastOp::FromInt { frac_bits: f } => saturate((x as i64) << f),
            CastOp::Same => x,
        };
        mem.store(at[0], v)
    })
}

/// `views[0] = op(views[1])`.
pub(super) fn math(mem: &mut Mem, shape: &[usize], views: &[View], op: MathOp) -> Result<()> {
    check_views(views, 2..3, "math")?;
    let f = match op {
        MathOp::Exp { frac_bits, .. }
        | MathOp::Sqrt { frac_bits }
        | MathOp::Reciprocal { frac_bits }
        | MathOp::Sin { frac_bits, .. } => frac_bits,
    };
    check_frac_bits(f)?;
    let table = match op {
        MathOp::Exp { exp2: lut, .. } | MathOp::Sin { turn: lut, .. } => {
            Some(Table::new(lut, mem.0.len())?)
        }
        MathOp::Sqrt { .. } | MathOp::Reciprocal { .. } => None,
    };
    for_each_element(shape, &[&views[0], &views[1]], |at| {
        let x = mem.load(at[1])?;
        let v = match (op, &table) {
            (MathOp::Exp { .. }, Some(table)) => exp(|x| table.at(mem.0, x), f, x),
            (MathOp::Sin { cos, .. }, Some(table)) => {
                let phase = ((x as i64 * crate::plan::TURN_PER_RADIAN_Q32) >> f) as i32;
                let phase = if cos {
                    phase.wrapping_add(1 << 30)
                } else {
                    phase
                };
                table.at(mem.0, ((phase as u32) >> 2) as i32)
            }
            // sqrt(x 2^-F) 2^F = isqrt(x 2^F); negative inputs give 0
            (MathOp::Sqrt { .. }, _) => isqrt(((x.max(0) as i64) << f) as u64) as i32,
            _ => div(1, x, 2 * f).ok_or_else(|| div_trap("a reciprocal"))?,
        };
        mem.store(at[0], v)
    })
}

/// `views[0] = views[1] ^ e`, the exponents constant (`views[2]` for
/// [`PowOp::Integer`] and [`PowOp::Real`]).
pub(super) fn pow(mem: &mut Mem, shape: &[usize], views: &[View], op: PowOp) -> Result<()> {
    let product = |acc: i32, a: i32, shift: Option<u32>| {
        let p = acc as i64 * a as i64;
        match shift {
            Some(f) => rescale(p, f),
            None => saturate(p),
        }
    };
    let unary = |mem: &mut Mem, f: &dyn Fn(i32) -> i32| {
        check_views(views, 2..3, "pow")?;
        for_each_element(shape, &[&views[0], &views[1]], |at| {
            let x = mem.load(at[1])?;
            mem.store(at[0], f(x))
        })
    };
    match op {
        PowOp::Identity => unary(mem, &|x| x),
        PowOp::Sqrt { frac_bits } => math(mem, shape, views, MathOp::Sqrt { frac_bits }),
        PowOp::Reciprocal { frac_bits } => {
            math(mem, shape, views, MathOp::Reciprocal { frac_bits })
        }
        PowOp::Repeat { n, shift } => {
            if let Some(f) = shift {
                check_frac_bits(f)?;
            }
            unary(mem, &|a| (1..n).fold(a, |acc, _| product(acc, a, shift)))
        }
        PowOp::Integer { max, one, shift } => {
            if let Some(f) = shift {
                check_frac_bits(f)?;
            }
            check_views(views, 3..4, "pow")?;
            let refs: Vec<&View> = views.iter().collect();
            for_each_element(shape, &refs, |at| {
                let (a, e) = (mem.load(at[1])?, mem.load(at[2])?);
                // every step computed, kept while it is at most the exponent
                let r = (1..=max).fold(one, |r, i| if e >= i { product(r, a, shift) } else { r });
                mem.store(at[0], r)
            })
        }
        PowOp::Real {
            frac_bits: f,
            ln,
            exp2,
        } => {
            check_frac_bits(f)?;
            check_views(views, 3..4, "pow")?;
            let (ln, exp2) = (Table::new(ln, mem.0.len())?, Table::new(exp2, mem.0.len())?);
            let refs: Vec<&View> = views.iter().collect();
            for_each_element(shape, &refs, |at| {
                let a = mem.load(at[1])?;
                let l = scalar::ln(|x| ln.at(mem.0, x), f, a) as i64;
                let v = rescale(l.wrapping_mul(mem.load(at[2])? as i64), f);
                let y = exp(|x| exp2.at(mem.0, x), f, v);
                mem.store(at[0], if a > 0 { y } else { 0 })
            })
        }
    }
}

/// Gather: per block and index, the index read, wrapped and clamped, then
/// its `inner` words copied, with the WASM's 32-bit address arithmetic.
pub(super) fn gather(mem: &mut [u8], s: &GatherSpec) -> Result<()> {
    let len = mem.len();
    let n = s.inner.wrapping_mul(4);
    let (dim, hi) = (s.dim as i32, (s.dim as i32).wrapping_sub(1));
    let row_step = n as i32;
    let block_step = s.dim.wrapping_mul(n) as i32;
    let mut po = s.out as i32;
    let mut pd = s.data as i32;
    for _ in 0..s.outer {
        let mut pi = s.indices as i32;
        for _ in 0..s.count {
            let mut k = rd(mem, span(len, pi as u32 as i64, 4)?);
            if k < 0 {
                k = k.wrapping_add(dim);
            }
            k = k.min(hi).max(0);
            // (an empty row touches no data)
            if n > 0 {
                let from = k.wrapping_mul(row_step).wrapping_add(pd) as u32 as i64;
                let src = span(len, from, n as u64)?;
                let dst = span(len, po as u32 as i64, n as u64)?;
                if src + n <= dst || dst + n <= src {
                    mem.copy_within(src..src + n, dst);
                } else {
                    // overlapping: word by word, as the WASM goes
                    for e in (0..n).step_by(4) {
                        let v = rd(mem, src + e);
                        wr(mem, dst + e, v);
                    }
                }
            }
            po = po.wrapping_add(row_step);
            pi = pi.wrapping_add(4);
        }
        pd = pd.wrapping_add(block_step);
    }
    Ok(())
}
