//! Elementwise operators with broadcasting: Cast, the unary math functions
//! (Relu, Sigmoid, Exp, ...) and the binary ones (Add, Mul, Div, Pow, ...).

use super::common::unsupported;
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{View, for_each};
use crate::compiler::emit::nonlinear::{self, Func, Temps};
use crate::compiler::graph::{DType, Kind, Node, ValueId};
use crate::error::Result;
use crate::fixed::FixedFormat;
use crate::plan::{CastOp, Cmp, KernelOp, MathOp, PowOp};
use wasm_encoder::Instruction as I;

/// Cast between fixed-point reals, integers and booleans.
pub(super) fn cast(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let out = node.outputs[0];
    let frac_bits = ctx.fmt.frac_bits;
    let op = match (g.values[x].dtype.kind(), g.values[out].dtype) {
        (_, DType::Bool) => CastOp::Bool,
        (Kind::Fixed, DType::Int64) => CastOp::Truncate { frac_bits },
        (Kind::Int, DType::Float32) => CastOp::FromInt { frac_bits },
        _ => CastOp::Same,
    };
    let (shape, views) = elementwise_views(ctx, out, &[x]);
    emit_cast(fb, &shape, views, op);
    Ok(())
}

/// The kernel of [`KernelOp::Cast`].
pub(crate) fn emit_cast(fb: &mut FuncBuilder, shape: &[usize], views: Vec<View>, op: CastOp) {
    let plan = KernelOp::Cast {
        shape: shape.to_vec(),
        views: views.clone(),
        op,
    };
    fb.kernel(plan, |fb| {
        let t = fb.i32();
        let t64 = matches!(op, CastOp::FromInt { .. }).then(|| fb.i64());
        // (the scratch of every unary function, unused here)
        Temps::new(fb);
        for_each(fb, shape, &views, &mut |fb, p| {
            fb.get(p[0].0);
            fb.ld32(p[1].0, p[1].1);
            match op {
                CastOp::Bool => {
                    fb.op(I::I32Eqz).op(I::I32Eqz);
                }
                CastOp::Truncate { frac_bits: f } => {
                    // truncate toward zero: (x + (x < 0 ? 2^F - 1 : 0)) >> F
                    fb.tee(t)
                        .get(t)
                        .c32(31)
                        .op(I::I32ShrS)
                        .c32((1 << f) - 1)
                        .op(I::I32And)
                        .op(I::I32Add);
                    fb.c32(f as i32).op(I::I32ShrS);
                }
                CastOp::FromInt { frac_bits: f } => {
                    fb.op(I::I64ExtendI32S)
                        .c64(f as i64)
                        .op(I::I64Shl)
                        .saturate(t64.expect("allocated for FromInt"));
                }
                CastOp::Same => {}
            }
            fb.store32(p[0].1);
        });
    });
}

fn const_scalar(ctx: &Ctx, v: Option<ValueId>) -> Option<f64> {
    v.and_then(|v| ctx.g.konst(v)).and_then(|k| {
        if k.len() == 1 {
            k.iter().next().copied()
        } else {
            None
        }
    })
}

pub(super) fn unary_math(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    use crate::plan::UnaryOp;
    let fmt = ctx.fmt;
    let f = fmt.frac_bits;
    let kind = ctx.g.values[node.input(0).unwrap()].dtype.kind();
    let planned = match node.op.as_str() {
        "Relu" => Some(UnaryOp::Relu),
        "LeakyRelu" => Some(UnaryOp::LeakyRelu {
            alpha: fmt.quantize(node.float("alpha", 0.01) as f64) as i64,
            shift: f,
        }),
        "Neg" => Some(UnaryOp::Neg),
        "Abs" => Some(UnaryOp::Abs),
        "Clip" => {
            let bound = |i: usize, attr: &str, default: f64| {
                const_scalar(ctx, node.input(i))
                    .or(node.attrs.get(attr).map(|_| node.float(attr, 0.0) as f64))
                    .unwrap_or(default)
            };
            let q = |v: f64| {
                if kind == Kind::Fixed {
                    fmt.quantize(v)
                } else {
                    crate::fixed::saturate_f64(v)
                }
            };
            Some(UnaryOp::Clip {
                lo: q(bound(1, "min", f64::NEG_INFINITY)),
                hi: q(bound(2, "max", f64::INFINITY)),
            })
        }
        "Sigmoid" | "Tanh" | "Erf" => Some(UnaryOp::Lut {
            lut: ctx.lut(match node.op.as_str() {
                "Sigmoid" => Func::Sigmoid,
                "Tanh" => Func::Tanh,
                _ => Func::Erf,
            }),
        }),
        "Gelu" => Some(UnaryOp::Gelu {
            lut: ctx.lut(if node.str("approximate") == Some("tanh") {
                Func::GeluTanhCdf
            } else {
                Func::NormalCdf
            }),
            shift: f,
        }),
        "Not" => Some(UnaryOp::Not),
        _ => None,
    };
    if let Some(op) = planned {
        let (shape, views) = elementwise_views(ctx, node.outputs[0], &[node.input(0).unwrap()]);
        emit_unary(fb, &shape, views, op);
        return Ok(());
    }
    let op = match node.op.as_str() {
        "Exp" => MathOp::Exp {
            frac_bits: f,
            exp2: ctx.lut(Func::Exp2Frac),
        },
        "Sqrt" => MathOp::Sqrt { frac_bits: f },
        "Reciprocal" => MathOp::Reciprocal { frac_bits: f },
        "Sin" | "Cos" => MathOp::Sin {
            frac_bits: f,
            turn: ctx.lut(Func::SinTurn),
            cos: node.op == "Cos",
        },
        _ => unreachable!(),
    };
    let (shape, views) = elementwise_views(ctx, node.outputs[0], &[node.input(0).unwrap()]);
    emit_math(fb, &shape, views, op);
    Ok(())
}

/// The kernel of [`KernelOp::Math`].
pub(crate) fn emit_math(fb: &mut FuncBuilder, shape: &[usize], views: Vec<View>, op: MathOp) {
    let plan = KernelOp::Math {
        shape: shape.to_vec(),
        views: views.clone(),
        op,
    };
    fb.kernel(plan, |fb| {
        let x = fb.i32();
        let t = Temps::new(fb);
        for_each(fb, shape, &views, &mut |fb, p| {
            fb.get(p[0].0);
            fb.ld32(p[1].0, p[1].1);
            match op {
                MathOp::Exp { frac_bits, exp2 } => {
                    fb.set(x);
                    nonlinear::emit_exp(fb, FixedFormat::new(frac_bits), &exp2, x, &t);
                }
                MathOp::Sqrt { frac_bits: f } => {
                    // sqrt(x 2^-F) 2^F = isqrt(x 2^F); negative inputs give 0
                    fb.tee(x).c32(0).get(x).c32(0).op(I::I32GtS).op(I::Select);
                    fb.op(I::I64ExtendI32S)
                        .c64(f as i64)
                        .op(I::I64Shl)
                        .set(t.a64);
                    nonlinear::emit_isqrt(fb, t.a64, &t);
                    fb.op(I::I32WrapI64);
                }
                MathOp::Reciprocal { frac_bits: f } => {
                    fb.set(x);
                    let one = fb.i64();
                    fb.c64(1).set(one);
                    nonlinear::emit_div(fb, one, x, 2 * f, &t);
                }
                MathOp::Sin {
                    frac_bits: f,
                    turn,
                    cos,
                } => {
                    // the phase in 2^-32 turn: exact up to the constant's rounding
                    // (|x| < 2^31 units keeps the product inside i64)
                    fb.op(I::I64ExtendI32S)
                        .c64(crate::plan::TURN_PER_RADIAN_Q32)
                        .op(I::I64Mul)
                        .c64(f as i64)
                        .op(I::I64ShrS)
                        .op(I::I32WrapI64);
                    if cos {
                        fb.c32(1 << 30).op(I::I32Add);
                    }
                    fb.c32(2).op(I::I32ShrU).set(x);
                    turn.emit(fb, x, &t);
                }
            }
            fb.store32(p[0].1);
        });
    });
}

/// The kernel of [`crate::plan::KernelOp::Unary`].
pub(crate) fn emit_unary(
    fb: &mut FuncBuilder,
    shape: &[usize],
    views: Vec<View>,
    op: crate::plan::UnaryOp,
) {
    use crate::plan::UnaryOp;
    let plan = crate::plan::KernelOp::Unary {
        shape: shape.to_vec(),
        views: views.clone(),
        op,
    };
    fb.kernel(plan, |fb| {
        let x = fb.i32();
        let t = Temps::new(fb);
        for_each(fb, shape, &views, &mut |fb, p| {
            fb.get(p[0].0);
            fb.ld32(p[1].0, p[1].1);
            match op {
                UnaryOp::Relu => {
                    fb.tee(x).c32(0).get(x).c32(0).op(I::I32GtS).op(I::Select);
                }
                UnaryOp::LeakyRelu { alpha, shift } => {
                    fb.tee(x)
                        .get(x)
                        .op(I::I64ExtendI32S)
                        .c64(alpha)
                        .op(I::I64Mul)
                        .rescale(shift, t.a64);
                    fb.get(x).c32(0).op(I::I32GtS).op(I::Select);
                }
                UnaryOp::Neg => {
                    fb.op(I::I64ExtendI32S).set(t.b64);
                    fb.c64(0).get(t.b64).op(I::I64Sub).saturate(t.a64);
                }
                UnaryOp::Abs => {
                    fb.op(I::I64ExtendI32S)
                        .tee(t.b64)
                        .c64(0)
                        .get(t.b64)
                        .op(I::I64Sub);
                    fb.get(t.b64)
                        .c64(0)
                        .op(I::I64GtS)
                        .op(I::Select)
                        .saturate(t.a64);
                }
                UnaryOp::Clip { lo, hi } => {
                    // max with lo first, then min with hi: when min > max every value becomes max (ONNX).
                    fb.tee(x).c32(lo).get(x).c32(lo).op(I::I32GtS).op(I::Select);
                    fb.tee(x).c32(hi).get(x).c32(hi).op(I::I32LtS).op(I::Select);
                }
                UnaryOp::Lut { lut } => {
                    fb.set(x);
                    lut.emit(fb, x, &t);
                }
                UnaryOp::Gelu { lut, shift } => {
                    fb.set(x);
                    lut.emit(fb, x, &t);
                    fb.op(I::I64ExtendI32S)
                        .get(x)
                        .op(I::I64ExtendI32S)
                        .op(I::I64Mul)
                        .rescale(shift, t.c64);
                }
                UnaryOp::Not => {
                    fb.op(I::I32Eqz);
                }
            }
            fb.store32(p[0].1);
        });
    });
}

pub(super) fn binary_math(
    ctx: &mut Ctx,
    node: &Node,
    fb: &mut FuncBuilder,
    kind: Kind,
) -> Result<()> {
    use crate::plan::BinaryOp;
    let f = ctx.fmt.frac_bits;
    let fixed = kind == Kind::Fixed;
    let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
    if node.op == "Div"
        && fixed
        && let Some(c) = const_scalar(ctx, node.input(1)).filter(|c| *c != 0.0 && c.is_finite())
    {
        // x / c = (x * m) >> s with m = round(2^s / c) < 2^31: a multiply
        // instead of a 64-bit division, exact to half a unit of m
        let s = (30.0 + c.abs().log2().floor()).clamp(0.0, 62.0) as u32;
        let m = ((1u64 << s) as f64 / c).round() as i64;
        let x = node.input(0).unwrap();
        let (shape, views) = elementwise_views(ctx, node.outputs[0], &[x]);
        emit_binary(fb, &shape, views, BinaryOp::DivConst { m, s });
        return Ok(());
    }
    if node.op == "Pow" {
        if ctx.g.konst(node.input(1).unwrap()).is_none() {
            return Err(unsupported(
                node,
                "Pow needs a constant exponent (make the exponent an initializer)",
            ));
        }
        let x = node.input(0).unwrap();
        let (op, shape, views) = match const_scalar(ctx, node.input(1)) {
            Some(e) if e == 1.0 || e == 0.5 || e == -1.0 || is_small_int(e) => {
                let op = match e {
                    1.0 => PowOp::Identity,
                    0.5 => PowOp::Sqrt { frac_bits: f },
                    -1.0 => PowOp::Reciprocal { frac_bits: f },
                    _ => PowOp::Repeat {
                        n: e as u32,
                        shift: fixed.then_some(f),
                    },
                };
                let (shape, views) = elementwise_views(ctx, node.outputs[0], &[x]);
                (op, shape, views)
            }
            _ => pow_general(ctx, node, fixed)?,
        };
        emit_pow(fb, &shape, views, op);
        return Ok(());
    }
    let op = match node.op.as_str() {
        "Add" => BinaryOp::Add,
        "Sub" => BinaryOp::Sub,
        "Mul" => BinaryOp::Mul {
            shift: fixed.then_some(f),
        },
        "Max" => BinaryOp::Max,
        "Min" => BinaryOp::Min,
        "Equal" => BinaryOp::Compare { cmp: Cmp::Eq },
        "Less" => BinaryOp::Compare { cmp: Cmp::Lt },
        "LessOrEqual" => BinaryOp::Compare { cmp: Cmp::Le },
        "Greater" => BinaryOp::Compare { cmp: Cmp::Gt },
        "GreaterOrEqual" => BinaryOp::Compare { cmp: Cmp::Ge },
        "And" => BinaryOp::And,
        "Or" => BinaryOp::Or,
        "Xor" => BinaryOp::Xor,
        "Div" => {
            let (shape, views) = elementwise_views(ctx, node.outputs[0], &ins);
            emit_divide(fb, &shape, views, if fixed { f } else { 0 });
            return Ok(());
        }
        _ => unreachable!(),
    };
    let (shape, views) = elementwise_views(ctx, node.outputs[0], &ins);
    emit_binary(fb, &shape, views, op);
    Ok(())
}

/// The output shape and the views of an elementwise node: the output, then
/// each input broadcast to it.
fn elementwise_views(ctx: &mut Ctx, out: ValueId, ins: &[ValueId]) -> (Vec<usize>, Vec<View>) {
    let os = ctx.g.values[out].shape.clone();
    let mut views = vec![View::contiguous(ctx.addr(out), &os)];
    for &v in ins {
        views.push(View::broadcast(
            ctx.addr(v),
            &ctx.g.values[v].shape.clone(),
            &os,
        ));
    }
    (os, views)
}

/// The kernel of [`crate::plan::KernelOp::Binary`].
pub(crate) fn emit_binary(
    fb: &mut FuncBuilder,
    shape: &[usize],
    views: Vec<View>,
    op: crate::plan::BinaryOp,
) {
    use crate::plan::BinaryOp;
    let plan = crate::plan::KernelOp::Binary {
        shape: shape.to_vec(),
        views: views.clone(),
        op,
    };
    fb.kernel(plan, |fb| {
        let t = Temps::new(fb);
        let (a, b) = (fb.i32(), fb.i32());
        for_each(fb, shape, &views, &mut |fb, p| {
            fb.get(p[0].0);
            if let BinaryOp::DivConst { m, s } = op {
                fb.ld64(p[1].0, p[1].1).c64(m).op(I::I64Mul);
                if s > 0 {
                    fb.c64(1 << (s - 1))
                        .op(I::I64Add)
                        .c64(s as i64)
                        .op(I::I64ShrS);
                }
                fb.saturate(t.c64);
                fb.store32(p[0].1);
                return;
            }
            fb.ld32(p[1].0, p[1].1);
            for q in &p[2..] {
                match op {
                    BinaryOp::Add | BinaryOp::Sub => {
                        fb.op(I::I64ExtendI32S).ld64(q.0, q.1);
                        fb.op(if op == BinaryOp::Add {
                            I::I64Add
                        } else {
                            I::I64Sub
                        })
                        .saturate(t.c64);
                    }
                    BinaryOp::Mul { shift } => {
                        fb.op(I::I64ExtendI32S).ld64(q.0, q.1).op(I::I64Mul);
                        match shift {
                            Some(f) => fb.rescale(f, t.c64),
                            None => fb.saturate(t.c64),
                        };
                    }
                    BinaryOp::Max | BinaryOp::Min => {
                        fb.set(a).ld32(q.0, q.1).set(b);
                        fb.get(a)
                            .get(b)
                            .get(a)
                            .get(b)
                            .op(if op == BinaryOp::Max {
                                I::I32GtS
                            } else {
                                I::I32LtS
                            })
                            .op(I::Select);
                    }
                    BinaryOp::Compare { cmp } => {
                        fb.ld32(q.0, q.1).op(match cmp {
                            Cmp::Eq => I::I32Eq,
                            Cmp::Lt => I::I32LtS,
                            Cmp::Le => I::I32LeS,
                            Cmp::Gt => I::I32GtS,
                            Cmp::Ge => I::I32GeS,
                        });
                    }
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                        // both sides normalized to 0 or 1 first
                        fb.op(I::I32Eqz).op(I::I32Eqz);
                        fb.ld32(q.0, q.1).op(I::I32Eqz).op(I::I32Eqz);
                        fb.op(match op {
                            BinaryOp::And => I::I32And,
                            BinaryOp::Or => I::I32Or,
                            _ => I::I32Xor,
                        });
                    }
                    BinaryOp::DivConst { .. } => unreachable!("handled above"),
                }
            }
            fb.store32(p[0].1);
        });
    });
}

/// The kernel of [`KernelOp::Div`]: quotients folded left over the inputs.
pub(crate) fn emit_divide(fb: &mut FuncBuilder, shape: &[usize], views: Vec<View>, shift: u32) {
    let plan = KernelOp::Div {
        shape: shape.to_vec(),
        views: views.clone(),
        shift,
    };
    fb.kernel(plan, |fb| {
        let t = Temps::new(fb);
        let (_a, b) = (fb.i32(), fb.i32());
        for_each(fb, shape, &views, &mut |fb, p| {
            fb.get(p[0].0);
            fb.ld32(p[1].0, p[1].1);
            for q in &p[2..] {
                fb.op(I::I64ExtendI32S).set(t.b64);
                fb.ld32(q.0, q.1).set(b);
                nonlinear::emit_div(fb, t.b64, b, shift, &t);
            }
            fb.store32(p[0].1);
        });
    });
}

/// Largest integer exponent of the multiply-and-select Pow.
const MAX_INT_EXPONENT: f64 = 16.0;

/// A scalar exponent Pow raises to by repeated products.
fn is_small_int(e: f64) -> bool {
    e.fract() == 0.0 && (2.0..=8.0).contains(&e)
}

/// Pow with a constant exponent tensor (broadcast to the output): the
/// operator, output shape and views of its kernel.
///
/// Integer exponents in `0..=16`: repeated multiplication, keeping the
/// product while the step is at most the element's exponent (exact for
/// integer bases, any sign). Other exponents (real bases only):
/// `exp(e * ln x)` for `x > 0`, and 0 for `x <= 0`.
fn pow_general(ctx: &mut Ctx, node: &Node, fixed: bool) -> Result<(PowOp, Vec<usize>, Vec<View>)> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let (x, ev) = (node.input(0).unwrap(), node.input(1).unwrap());
    let exps = g.konst(ev).unwrap().clone();
    let out = node.outputs[0];
    let os = g.values[out].shape.clone();
    let integer = exps
        .iter()
        .all(|&e| e.fract() == 0.0 && (0.0..=MAX_INT_EXPONENT).contains(&e));
    if !integer && !fixed {
        return Err(unsupported(
            node,
            "an integer base needs integer exponents in 0..=16; cast the base to float",
        ));
    }
    let words: Vec<i32> = if integer {
        exps.iter().map(|&e| e as i32).collect()
    } else {
        ctx.quantize(exps.iter().copied(), Kind::Fixed)
    };
    let ea = ctx
        .mem
        .words(&format!("pow.e.{}.{integer}", node.name), &words);
    let views = vec![
        View::contiguous(ctx.addr(out), &os),
        View::broadcast(ctx.addr(x), &g.values[x].shape.clone(), &os),
        View::broadcast(ea, exps.shape(), &os),
    ];
    let op = if integer {
        PowOp::Integer {
            max: exps.iter().fold(0.0f64, |m, &e| m.max(e)) as i32,
            one: if fixed { 1i32 << f } else { 1 },
            shift: fixed.then_some(f),
        }
    } else {
        PowOp::Real {
            frac_bits: f,
            ln: ctx.lut(Func::LnOctave),
            exp2: ctx.lut(Func::Exp2Frac),
        }
    };
    Ok((op, os, views))
}

/// The kernel of [`KernelOp::Pow`].
pub(crate) fn emit_pow(fb: &mut FuncBuilder, shape: &[usize], views: Vec<View>, op: PowOp) {
    let plan = KernelOp::Pow {
        shape: shape.to_vec(),
        views: views.clone(),
        op,
    };
    fb.kernel(plan, |fb| {
        // (these locals come first in every Pow function, used or not)
        let t = Temps::new(fb);
        let (a, _b) = (fb.i32(), fb.i32());
        // rescaled for a fixed-point base, saturated for an integer one
        let product = |fb: &mut FuncBuilder, shift: Option<u32>, t: &Temps| {
            match shift {
                Some(f) => fb.rescale(f, t.c64),
                None => fb.saturate(t.c64),
            };
        };
        match op {
            PowOp::Identity => for_each(fb, shape, &views, &mut |fb, p| {
                fb.get(p[0].0).ld32(p[1].0, p[1].1).store32(p[0].1);
            }),
            PowOp::Sqrt { frac_bits } => emit_math(fb, shape, views, MathOp::Sqrt { frac_bits }),
            PowOp::Reciprocal { frac_bits } => {
                emit_math(fb, shape, views, MathOp::Reciprocal { frac_bits })
            }
            PowOp::Repeat { n, shift } => for_each(fb, shape, &views, &mut |fb, p| {
                fb.get(p[0].0);
                fb.ld32(p[1].0, p[1].1).set(a);
                fb.get(a);
                for _ in 1..n {
                    fb.op(I::I64ExtendI32S)
                        .get(a)
                        .op(I::I64ExtendI32S)
                        .op(I::I64Mul);
                    product(fb, shift, &t);
                }
                fb.store32(p[0].1);
            }),
            PowOp::Integer { max, one, shift } => {
                let t = Temps::new(fb);
                let (a, b, r, _v) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
                for_each(fb, shape, &views, &mut |fb, p| {
                    fb.get(p[0].0);
                    fb.ld32(p[1].0, p[1].1).set(a);
                    fb.ld32(p[2].0, p[2].1).set(b);
                    fb.c32(one).set(r);
                    for i in 1..=max {
                        fb.get(r)
                            .op(I::I64ExtendI32S)
                            .get(a)
                            .op(I::I64ExtendI32S)
                            .op(I::I64Mul);
                        product(fb, shift, &t);
                        fb.get(r).get(b).c32(i).op(I::I32GeS).op(I::Select).set(r);
                    }
                    fb.get(r).store32(p[0].1);
                });
            }
            PowOp::Real {
                frac_bits,
                ln,
                exp2,
            } => {
                let (fmt, f) = (FixedFormat::new(frac_bits), frac_bits);
                let t = Temps::new(fb);
                let (a, _b, _r, v) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
                for_each(fb, shape, &views, &mut |fb, p| {
                    fb.get(p[0].0);
                    fb.ld32(p[1].0, p[1].1).set(a);
                    nonlinear::emit_ln(fb, fmt, &ln, a, &t);
                    fb.op(I::I64ExtendI32S)
                        .ld64(p[2].0, p[2].1)
                        .op(I::I64Mul)
                        .rescale(f, t.c64)
                        .set(v);
                    nonlinear::emit_exp(fb, fmt, &exp2, v, &t);
                    fb.c32(0).get(a).c32(0).op(I::I32GtS).op(I::Select);
                    fb.store32(p[0].1);
                });
            }
        }
    });
}

/// Where: `out = cond ? x : y`, all three broadcast to the output.
pub(super) fn select(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let ins: Vec<ValueId> = (0..3)
        .map(|i| {
            node.input(i)
                .ok_or_else(|| unsupported(node, "Where needs three inputs"))
        })
        .collect::<Result<_>>()?;
    let (shape, views) = elementwise_views(ctx, node.outputs[0], &ins);
    emit_select(fb, &shape, views);
    Ok(())
}

/// The kernel of [`KernelOp::Select`].
pub(crate) fn emit_select(fb: &mut FuncBuilder, shape: &[usize], views: Vec<View>) {
    let plan = KernelOp::Select {
        shape: shape.to_vec(),
        views: views.clone(),
    };
    fb.kernel(plan, |fb| {
        for_each(fb, shape, &views, &mut |fb, p| {
            fb.get(p[0].0);
            fb.ld32(p[2].0, p[2].1)
                .ld32(p[3].0, p[3].1)
                .ld32(p[1].0, p[1].1);
            fb.op(I::Select).store32(p[0].1);
        });
    });
}

/// Trilu on a runtime tensor: a select between the input and zero through
/// the mask, which is known at compile time (the shape and `k` are).
pub(super) fn trilu(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let k = match node.input(1) {
        None => 0,
        Some(v) => match g.konst(v).and_then(|a| a.iter().next().copied()) {
            Some(k) => k as i64,
            None => return Err(unsupported(node, "Trilu needs a constant k")),
        },
    };
    let upper = node.int("upper", 1) != 0;
    let shape = g.values[x].shape.clone();
    let (rows, cols) = match shape.as_slice() {
        [.., r, c] => (*r, *c),
        _ => return Err(unsupported(node, "Trilu needs an input of rank 2 or more")),
    };
    let mask: Vec<i32> = (0..rows as i64)
        .flat_map(|i| {
            (0..cols as i64).map(move |j| if upper { j - i >= k } else { j - i <= k } as i32)
        })
        .collect();
    let mask_at = ctx.mem.words(&format!("trilu.mask.{}", node.name), &mask);
    let zero = ctx.mem.words("zero", &[0]);
    let out = node.outputs[0];
    let os = g.values[out].shape.clone();
    let views = vec![
        View::contiguous(ctx.addr(out), &os),
        View::broadcast(mask_at, &[rows, cols], &os),
        View::broadcast(ctx.addr(x), &shape, &os),
        View::broadcast(zero, &[], &os),
    ];
    emit_select(fb, &os, views);
    Ok(())
}
