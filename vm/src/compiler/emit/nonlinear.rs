//! Integer approximations of nonlinear functions, emitted as WASM.
//!
//! Smooth bounded functions (tanh, sigmoid, erf, the normal CDF of GELU, `2^f`
//! and `ln` on one octave) are tables in memory with linear interpolation
//! between `2^k + 1` knots; error bounds are in `docs/FIXED_POINT.md` and are
//! checked against `f64` by the tests. Unbounded ones are built from those with
//! exact integer steps: `exp(x) = 2^n * 2^f`, `sqrt` by Newton's method with a
//! fixed iteration count, reciprocal and division by `i64.div_s`.
//! Control flow never depends on data: branches are `select`s.

use super::func::{FuncBuilder, Local};
use super::mem::MemPlan;
use crate::fixed::FixedFormat;
use wasm_encoder::Instruction as I;

/// A lookup table with linear interpolation over `[lo, lo + span)`.
pub(crate) use crate::plan::Lut;

/// Which function a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Func {
    Tanh,
    Sigmoid,
    Erf,
    /// Standard normal CDF (GELU = x * Phi(x)).
    NormalCdf,
    /// 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), GELU's tanh form.
    GeluTanhCdf,
    /// 2^x on [0, 1).
    Exp2Frac,
    /// ln(x) on [1, 2).
    LnOctave,
    /// sin(2 pi t) over one turn, indexed by `t` in units of `2^-30` turn
    /// (not the fixed-point format: the phase is an exact turn fraction).
    SinTurn,
}

impl Func {
    /// (lo, log2 of span, f).
    fn domain(self) -> (f64, u32, fn(f64) -> f64) {
        match self {
            Func::Tanh => (-8.0, 4, f64::tanh),
            Func::Sigmoid => (-16.0, 5, |x| 1.0 / (1.0 + (-x).exp())),
            Func::Erf => (-4.0, 3, erf),
            Func::NormalCdf => (-8.0, 4, |x| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))),
            Func::GeluTanhCdf => (-8.0, 4, |x| {
                0.5 * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            }),
            Func::Exp2Frac => (0.0, 0, f64::exp2),
            Func::LnOctave => (1.0, 0, f64::ln),
            Func::SinTurn => (0.0, 0, |t| (std::f64::consts::TAU * t).sin()),
        }
    }

    fn key(self) -> &'static str {
        match self {
            Func::Tanh => "lut.tanh",
            Func::Sigmoid => "lut.sigmoid",
            Func::Erf => "lut.erf",
            Func::NormalCdf => "lut.normal_cdf",
            Func::GeluTanhCdf => "lut.gelu_tanh_cdf",
            Func::Exp2Frac => "lut.exp2",
            Func::LnOctave => "lut.ln",
            Func::SinTurn => "lut.sin_turn",
        }
    }
}

/// log2 of the number of interpolation intervals per table.
pub(crate) const LUT_BITS: u32 = 11;

/// Bits of the phase the turn table reads (a 32-bit turn fraction shifted right by 2).
pub(crate) const SIN_TURN_BITS: u32 = 30;

/// Erf by Abramowitz-Stegun 7.1.26 is not precise enough; use a series/continued
/// fraction accurate to ~1e-15 for table generation.
pub(crate) fn erf(x: f64) -> f64 {
    // erf via the complementary error function's continued fraction for |x| > 2.5,
    // Taylor series otherwise.
    let ax = x.abs();
    let r = if ax < 2.5 {
        let mut sum = ax;
        let mut term = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Lentz continued fraction for erfc
        let mut f = ax;
        for k in (1..60).rev() {
            f = ax + (k as f64 / 2.0) / f;
        }
        1.0 - (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt())
    };
    r.copysign(x)
}

impl Lut {
    /// The table for `func` in format `fmt`, placed once in memory.
    pub(crate) fn new(mem: &mut MemPlan, fmt: FixedFormat, func: Func) -> Lut {
        let (lo, span_log2, f) = func.domain();
        // the turn table's input units are 2^-30 turn, whatever the format
        let span_q_log2 = if func == Func::SinTurn {
            SIN_TURN_BITS
        } else {
            span_log2 + fmt.frac_bits
        };
        let k = LUT_BITS.min(span_q_log2);
        let shift = span_q_log2 - k;
        let n = (1usize << k) + 1;
        let step = (1u64 << span_log2) as f64 / (1u64 << k) as f64;
        let words: Vec<i32> = (0..n)
            .map(|i| fmt.quantize(f(lo + i as f64 * step)))
            .collect();
        let addr = mem.words(&format!("{}.q{}", func.key(), fmt.frac_bits), &words);
        let lo_q = if func == Func::SinTurn {
            0
        } else {
            fmt.quantize(lo)
        };
        let hi_q = lo_q + (1i32 << span_q_log2);
        Lut {
            addr,
            lo_q,
            hi_q,
            shift,
        }
    }

    /// Evaluates the table at the i32 in `x`; leaves the i32 result on the stack.
    /// Inputs outside the domain are clamped to it.
    pub(crate) fn emit(&self, fb: &mut FuncBuilder, x: Local, t: &Temps) {
        let (d, a) = (t.a32, t.b32);
        // d = clamp(x, lo, hi - 1) - lo
        fb.get(x)
            .c32(self.hi_q - 1)
            .get(x)
            .c32(self.hi_q - 1)
            .op(I::I32LtS)
            .op(I::Select);
        fb.tee(d)
            .c32(self.lo_q)
            .get(d)
            .c32(self.lo_q)
            .op(I::I32GtS)
            .op(I::Select);
        fb.c32(self.lo_q).op(I::I32Sub).tee(d);
        // a = (d >> shift) * 4
        fb.c32(self.shift as i32)
            .op(I::I32ShrU)
            .c32(2)
            .op(I::I32Shl)
            .set(a);
        if self.shift == 0 {
            fb.get(a).load32(self.addr);
            return;
        }
        // y0 + ((y1 - y0) * frac) >> shift
        fb.get(a)
            .load64(self.addr + 4)
            .get(a)
            .load64(self.addr)
            .op(I::I64Sub);
        fb.get(d)
            .c32((1i32 << self.shift) - 1)
            .op(I::I32And)
            .op(I::I64ExtendI32U)
            .op(I::I64Mul);
        fb.c64(self.shift as i64).op(I::I64ShrS);
        fb.get(a).load64(self.addr).op(I::I64Add).op(I::I32WrapI64);
    }
}

/// Scratch locals shared by the nonlinear routines of one function.
pub(crate) struct Temps {
    pub(crate) a32: Local,
    pub(crate) b32: Local,
    pub(crate) c32: Local,
    pub(crate) a64: Local,
    pub(crate) b64: Local,
    pub(crate) c64: Local,
}

impl Temps {
    pub(crate) fn new(fb: &mut FuncBuilder) -> Temps {
        Temps {
            a32: fb.i32(),
            b32: fb.i32(),
            c32: fb.i32(),
            a64: fb.i64(),
            b64: fb.i64(),
            c64: fb.i64(),
        }
    }
}

/// Emits `exp(x)` for the Q(F) i32 in `x`; leaves a saturated Q(F) i32.
///
/// `t = x * log2(e)`, `n = floor(t)`, `f = t - n`; result `2^f * 2^n` with `2^f`
/// from the table and the power of two as a shift (truncating for n < 0).
pub(crate) fn emit_exp(fb: &mut FuncBuilder, fmt: FixedFormat, exp2: &Lut, x: Local, t: &Temps) {
    let f = fmt.frac_bits;
    const LOG2E_Q30: i64 = 1_549_082_005; // round(log2(e) * 2^30)
    // t (i64, Q(F)) = (x * LOG2E_Q30) >> 30, floor
    fb.get(x)
        .op(I::I64ExtendI32S)
        .c64(LOG2E_Q30)
        .op(I::I64Mul)
        .c64(30)
        .op(I::I64ShrS)
        .set(t.a64);
    // frac part as i32 local c32
    fb.get(t.a64)
        .c64((1i64 << f) - 1)
        .op(I::I64And)
        .op(I::I32WrapI64)
        .set(t.c32);
    // n = t >> F, clamped to [-63, 40] (b64)
    fb.get(t.a64).c64(f as i64).op(I::I64ShrS);
    // p < 2^(F+1), so shifting left by at most 61 - F cannot overflow an i64;
    // 2^(61-F) is far past the saturation point 2^(31-F)
    fb.clamp64(t.b64, -63, 61 - f as i64).set(t.b64);
    // p = 2^frac (Q(F)), as i64 in a64
    exp2.emit(fb, t.c32, t);
    fb.op(I::I64ExtendI32U).set(t.a64);
    // (p << max(n, 0)) >> max(-n, 0)
    fb.get(t.a64);
    fb.get(t.b64)
        .c64(0)
        .get(t.b64)
        .c64(0)
        .op(I::I64GtS)
        .op(I::Select);
    fb.op(I::I64Shl);
    fb.c64(0)
        .get(t.b64)
        .op(I::I64Sub)
        .c64(0)
        .get(t.b64)
        .c64(0)
        .op(I::I64LtS)
        .op(I::Select);
    fb.op(I::I64ShrU);
    fb.saturate(t.c64);
}

/// Emits `floor(sqrt(v))` for the i64 in `v` read as unsigned; leaves an i64.
/// Newton's method from `2^ceil(bits/2)` (above the root, within a factor 2),
/// six fixed iterations, then a final correction to the floor.
pub(crate) fn emit_isqrt(fb: &mut FuncBuilder, v: Local, t: &Temps) {
    let (y, vv) = (t.b64, t.c64);
    // vv = max(v, 1) so the iteration never divides by zero
    fb.get(v)
        .c64(1)
        .get(v)
        .c64(1)
        .op(I::I64GtU)
        .op(I::Select)
        .set(vv);
    // y = 1 << ((64 - clz(vv) + 1) / 2)
    fb.c64(1)
        .c64(65)
        .get(vv)
        .op(I::I64Clz)
        .op(I::I64Sub)
        .c64(1)
        .op(I::I64ShrU)
        .op(I::I64Shl)
        .set(y);
    for _ in 0..6 {
        fb.get(y)
            .get(vv)
            .get(y)
            .op(I::I64DivU)
            .op(I::I64Add)
            .c64(1)
            .op(I::I64ShrU)
            .set(y);
    }
    // y -= (y * y > vv); and 0 for v == 0
    fb.get(y)
        .get(y)
        .get(y)
        .op(I::I64Mul)
        .get(vv)
        .op(I::I64GtU)
        .op(I::I64ExtendI32U)
        .op(I::I64Sub);
    fb.c64(0).get(v).op(I::I64Eqz).op(I::I32Eqz).op(I::Select);
}

/// Emits `(num << shift) / den` for i64 `num` and i32 `den` locals, with
/// division by zero giving the saturated sign of `num` (0 for 0/0). Leaves i32.
pub(crate) fn emit_div(fb: &mut FuncBuilder, num: Local, den: Local, shift: u32, t: &Temps) {
    // q = (num << shift) / (den == 0 ? 1 : den)
    fb.get(num).c64(shift as i64).op(I::I64Shl);
    fb.get(den)
        .c32(1)
        .get(den)
        .op(I::Select)
        .op(I::I64ExtendI32S);
    fb.op(I::I64DivS).set(t.a64);
    // on zero: MAX if num > 0, MIN if num < 0, 0 if num == 0
    fb.get(t.a64);
    fb.c64(i32::MAX as i64)
        .c64(i32::MIN as i64)
        .get(num)
        .c64(0)
        .op(I::I64GtS)
        .op(I::Select);
    fb.c64(0).get(num).op(I::I64Eqz).op(I::I32Eqz).op(I::Select);
    fb.get(den).op(I::Select);
    fb.saturate(t.c64);
}

/// Emits `ln(x)` for a positive Q(F) i32 `x` (non-positive gives ln of one unit).
/// `x = m * 2^e` with `m` in [1, 2): `ln x = e ln 2 + ln m`.
pub(crate) fn emit_ln(fb: &mut FuncBuilder, fmt: FixedFormat, ln_lut: &Lut, x: Local, t: &Temps) {
    let f = fmt.frac_bits as i32;
    const LN2_Q30: i64 = 744_261_118; // round(ln 2 * 2^30)
    // xx = max(x, 1)
    fb.get(x)
        .c32(1)
        .get(x)
        .c32(1)
        .op(I::I32GtS)
        .op(I::Select)
        .set(t.b32);
    // p = 31 - clz(xx): position of the top bit; e = p - F
    fb.c32(31).get(t.b32).op(I::I32Clz).op(I::I32Sub).set(t.c32);
    // m (Q(F)) = xx normalized to [2^F, 2^(F+1)): (xx << 32) >> (p - F + 32) via i64
    fb.get(t.b32).op(I::I64ExtendI32U).c64(32).op(I::I64Shl);
    fb.get(t.c32)
        .c32(32 - f)
        .op(I::I32Add)
        .op(I::I64ExtendI32U)
        .op(I::I64ShrU)
        .op(I::I32WrapI64)
        .set(t.b32);
    ln_lut.emit(fb, t.b32, t);
    fb.op(I::I64ExtendI32S);
    // + e * ln2 in Q(F): (e * LN2_Q30) >> (30 - F)
    fb.get(t.c32)
        .c32(f)
        .op(I::I32Sub)
        .op(I::I64ExtendI32S)
        .c64(LN2_Q30)
        .op(I::I64Mul);
    fb.c64(30 - f as i64).op(I::I64ShrS).op(I::I64Add);
    fb.saturate(t.c64);
}
