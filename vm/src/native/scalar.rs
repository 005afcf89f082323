//! What the row and nonlinear kernels share: the loop over a view's
//! elements, in-bounds word access, and the integer functions of
//! `compiler::emit::nonlinear` (tables, `exp`, `ln`, `isqrt`, division),
//! each step the WASM's: the same wrapping, shifts, selects and saturation.

use super::{saturate, trap};
use crate::error::{Error, Result};
use crate::plan::{Lut, View};

/// Calls `at` with each view's byte address of every element of `shape`,
/// in row-major order (the WASM loop nests' order).
pub(super) fn for_each_element(
    shape: &[usize],
    views: &[&View],
    mut at: impl FnMut(&[i64]) -> Result<()>,
) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    if views.iter().any(|v| v.strides.len() != shape.len()) {
        return Err(Error::Runtime(
            "a plan's view does not match its shape".into(),
        ));
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
                *a = a.wrapping_add(v.strides[d]);
            }
            if idx[d] < shape[d] {
                break;
            }
            for (a, v) in addr.iter_mut().zip(views) {
                *a = a.wrapping_sub(v.strides[d].wrapping_mul(shape[d] as i64));
            }
            idx[d] = 0;
        }
    }
}

/// The byte index of a span of `bytes` bytes at `at`, when all of it is in
/// a memory of `len` bytes (else the WASM's trap).
pub(super) fn span(len: usize, at: i64, bytes: u64) -> Result<usize> {
    let ok = at >= 0
        && (at as u64)
            .checked_add(bytes)
            .is_some_and(|end| end <= len as u64);
    if ok {
        Ok(at as usize)
    } else {
        Err(trap("a row", at))
    }
}

/// The word at byte `at`, which the caller checked is in bounds.
#[inline]
pub(super) fn rd(m: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(m[at..at + 4].try_into().expect("4 bytes"))
}

/// Stores `v` at byte `at`, which the caller checked is in bounds.
#[inline]
pub(super) fn wr(m: &mut [u8], at: usize, v: i32) {
    m[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A table whose knots are all in memory (checked once per kernel, so each
/// lookup reads without a check that could fail).
#[derive(Clone, Copy)]
pub(super) struct Table {
    lut: Lut,
    /// Knots its clamped inputs reach.
    knots: usize,
}

impl Table {
    /// `lut` in a memory of `len` bytes: every knot its clamped inputs reach.
    pub(super) fn new(lut: Lut, len: usize) -> Result<Table> {
        if lut.shift >= 31 || lut.hi_q == i32::MIN {
            return Err(Error::Runtime(format!(
                "a plan's table is malformed: {lut:?}"
            )));
        }
        // the largest clamped input, and the knot after its interval
        let top = (lut.hi_q - 1).max(lut.lo_q).wrapping_sub(lut.lo_q) as u32;
        let knots = (top >> lut.shift) as u64 + u64::from(lut.shift > 0) + 1;
        span(len, lut.addr as i64, knots * 4)?;
        Ok(Table {
            lut,
            knots: knots as usize,
        })
    }

    /// Bytes `[lo, hi)` of memory the table reads.
    pub(super) fn span(&self) -> (i64, i64) {
        let lo = self.lut.addr as i64;
        (lo, lo + 4 * self.knots as i64)
    }

    /// The table at `x`, as `Lut::emit` computes it: clamped to the domain,
    /// the knot below, and linear interpolation to the next knot.
    #[inline]
    pub(super) fn at(&self, m: &[u8], x: i32) -> i32 {
        let (knot, frac) = self.knot(x);
        let at = self.lut.addr as usize + 4 * knot;
        if self.lut.shift == 0 {
            return rd(m, at);
        }
        interpolate(rd(m, at), rd(m, at + 4), frac, self.lut.shift)
    }

    /// The knots as words, read once: lookups without memory (valid while
    /// nothing writes them).
    pub(super) fn decode(&self, m: &[u8]) -> Knots {
        let at = self.lut.addr as usize;
        Knots {
            table: *self,
            words: (0..self.knots).map(|k| rd(m, at + 4 * k)).collect(),
        }
    }

    /// The knot below `x` (clamped) and `x`'s distance from it.
    #[inline]
    fn knot(&self, x: i32) -> (usize, i64) {
        let lut = &self.lut;
        let clamped = x.min(lut.hi_q - 1).max(lut.lo_q);
        let d = clamped.wrapping_sub(lut.lo_q);
        let frac = (d & ((1i32 << lut.shift) - 1)) as u32 as i64;
        (((d as u32) >> lut.shift) as usize, frac)
    }
}

/// `y0 + ((y1 - y0) * frac) >> shift` as the WASM computes it.
#[inline]
fn interpolate(y0: i32, y1: i32, frac: i64, shift: u32) -> i32 {
    let (y0, y1) = (y0 as i64, y1 as i64);
    (y1.wrapping_sub(y0).wrapping_mul(frac) >> shift).wrapping_add(y0) as i32
}

/// A table's knots read out of memory ([`Table::decode`]).
pub(super) struct Knots {
    table: Table,
    words: Vec<i32>,
}

impl Knots {
    /// [`Table::at`] from the decoded knots.
    #[inline]
    pub(super) fn at(&self, x: i32) -> i32 {
        let (knot, frac) = self.table.knot(x);
        let shift = self.table.lut.shift;
        if shift == 0 {
            return self.words[knot];
        }
        interpolate(self.words[knot], self.words[knot + 1], frac, shift)
    }
}

/// `min(max(x, lo), hi)` as `FuncBuilder::clamp64` selects it.
#[inline]
fn clamp64(x: i64, lo: i64, hi: i64) -> i64 {
    let x = if x < hi { x } else { hi };
    if x > lo { x } else { lo }
}

/// `exp(x)` for Q(`f`) `x`, as `nonlinear::emit_exp`: `2^frac` from the
/// table (`exp2`) shifted by the integer part, saturated.
#[inline]
pub(super) fn exp(exp2: impl Fn(i32) -> i32, f: u32, x: i32) -> i32 {
    const LOG2E_Q30: i64 = 1_549_082_005;
    let t = (x as i64).wrapping_mul(LOG2E_Q30) >> 30;
    let frac = (t & ((1i64 << f) - 1)) as i32;
    let n = clamp64(t >> f, -63, 61 - f as i64);
    let p = exp2(frac) as u32 as i64;
    let up = if n > 0 { n } else { 0 };
    let down = if n < 0 { -n } else { 0 };
    let v = ((p.wrapping_shl(up as u32)) as u64).wrapping_shr(down as u32) as i64;
    saturate(v)
}

/// `ln(x)` for Q(`f`) `x` (non-positive: ln of one unit), as
/// `nonlinear::emit_ln`, with the table on `[1, 2)` (`ln`).
#[inline]
pub(super) fn ln(ln: impl Fn(i32) -> i32, f: u32, x: i32) -> i32 {
    const LN2_Q30: i64 = 744_261_118;
    let f = f as i32;
    let xx = if x > 1 { x } else { 1 };
    let p = 31 - xx.leading_zeros() as i32;
    let shift = p.wrapping_add(32 - f) as u32 as u64;
    let mant = (((xx as u32 as u64) << 32) >> (shift & 63)) as i32;
    let y = ln(mant) as i64;
    let e = (p.wrapping_sub(f) as i64).wrapping_mul(LN2_Q30) >> ((30 - f as i64) & 63);
    saturate(y.wrapping_add(e))
}

/// `floor(sqrt(v))` for `v` read as unsigned, as `nonlinear::emit_isqrt`:
/// six Newton steps from `2^ceil(bits/2)` and a final correction.
#[inline]
pub(super) fn isqrt(v: u64) -> u64 {
    let vv = if v > 1 { v } else { 1 };
    let mut y = 1u64.wrapping_shl(((65 - vv.leading_zeros() as u64) >> 1) as u32);
    for _ in 0..6 {
        // y >= 1 throughout: the first is a power of two at most 2^32 and a
        // step from y >= 1 gives at least 1 for vv >= 1
        y = y.wrapping_add(vv / y) >> 1;
    }
    y = y.wrapping_sub(u64::from(y.wrapping_mul(y) > vv));
    if v != 0 { y } else { 0 }
}

/// Unsigned division by an invariant `d >= 1` as a multiply and shifts
/// (Granlund and Montgomery, 1994, figure 4.1): exact for every `u64`, as a
/// compiler divides by a constant, where a `div` per element would cost
/// tens of cycles.
#[derive(Clone, Copy)]
pub(super) struct DivU64 {
    m: u64,
    sh1: u32,
    sh2: u32,
}

impl DivU64 {
    /// The divider by `d` (`d >= 1`).
    pub(super) fn new(d: u64) -> DivU64 {
        assert!(d >= 1, "a divisor is at least 1");
        // l = ceil(log2 d), m = floor(2^64 (2^l - d) / d) + 1
        let l = 64 - (d - 1).leading_zeros();
        let m = ((((1u128 << l) - d as u128) << 64) / d as u128 + 1) as u64;
        DivU64 {
            m,
            sh1: l.min(1),
            sh2: l.saturating_sub(1),
        }
    }

    /// `n / d`.
    #[inline]
    pub(super) fn div(&self, n: u64) -> u64 {
        let t = ((self.m as u128 * n as u128) >> 64) as u64;
        (t + ((n - t) >> self.sh1)) >> self.sh2
    }
}

/// `(num << shift) / den` saturated, a zero `den` giving the saturated sign of
/// `num`, as `nonlinear::emit_div`; `None` where `i64.div_s` traps (overflow).
#[inline]
pub(super) fn div(num: i64, den: i32, shift: u32) -> Option<i32> {
    let q = num
        .wrapping_shl(shift)
        .checked_div(if den == 0 { 1 } else { den as i64 })?;
    let on_zero = if num > 0 {
        i32::MAX as i64
    } else if num < 0 {
        i32::MIN as i64
    } else {
        0
    };
    Some(saturate(if den != 0 { q } else { on_zero }))
}

/// The error of an `i64.div_s` the WASM traps on.
pub(super) fn div_trap(what: &str) -> Error {
    Error::Runtime(format!(
        "the model trapped: {what} divides by zero or overflows"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_the_floor_of_the_root() {
        let cases = [
            0u64,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 31,
            (1 << 32) - 1,
            1 << 32,
        ];
        let big = [(1 << 63) + 7, 1 << 62, (1 << 62) + 12345, 999_999_999_999];
        for v in cases.into_iter().chain(big) {
            let r = isqrt(v);
            assert!(r.checked_mul(r).is_some_and(|sq| sq <= v), "{v}: {r}");
            assert!(
                (r + 1).checked_mul(r + 1).is_none_or(|sq| sq > v),
                "{v}: {r}"
            );
        }
        // past (2^32 - 1)^2 the WASM's final check wraps (y * y = 2^64) and
        // keeps 2^32; a layer norm clamps it to the i32 range anyway
        assert_eq!(isqrt(u64::MAX), 1 << 32);
    }

    #[test]
    fn division_by_an_invariant_is_exact() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let divisors = [
            1,
            2,
            3,
            5,
            7,
            10,
            128,
            384,
            383,
            1 << 32,
            (1 << 63) + 1,
            u64::MAX,
        ];
        let random: Vec<u64> = (0..200).map(|i| next() >> (i % 64)).collect();
        for d in divisors.into_iter().chain(random) {
            let d = d.max(1);
            let div = DivU64::new(d);
            let edges = [0, 1, d - 1, d, d.wrapping_add(1), u64::MAX, u64::MAX - 1];
            for n in edges.into_iter().chain((0..200).map(|_| next())) {
                assert_eq!(div.div(n), n / d, "{n} / {d}");
            }
        }
    }

    #[test]
    fn division_saturates_and_traps_like_the_wasm() {
        assert_eq!(div(3, 2, 0), Some(1));
        assert_eq!(div(-3, 2, 0), Some(-1));
        assert_eq!(div(5, 0, 16), Some(i32::MAX));
        assert_eq!(div(-5, 0, 16), Some(i32::MIN));
        assert_eq!(div(0, 0, 16), Some(0));
        assert_eq!(div(1 << 20, 1, 16), Some(i32::MAX));
        assert_eq!(div(i64::MIN, -1, 0), None);
    }
}
