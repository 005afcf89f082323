//! One emitter per ONNX operator. Each writes the body of one layer function.

use super::Ctx;
use super::func::{FuncBuilder, Local};
use super::nd::{self, View, contiguous_strides, for_each};
use super::nonlinear::{self, Func, Temps};
use crate::compiler::graph::{Attr, Kind, Node, ValueId};
use crate::compiler::infer::{norm_axis, reduce_axes, slice_plan, transpose_perm, window};
use crate::error::{Error, Result};
use wasm_encoder::Instruction as I;

fn unsupported(node: &Node, detail: impl Into<String>) -> Error {
    Error::UnsupportedUse {
        op: node.op.clone(),
        node: node.name.clone(),
        detail: detail.into(),
    }
}

/// Largest row a reduction unrolls (softmax, layer norm, reduce, argmax).
const MAX_ROW: usize = 1 << 14;

/// Emits the layer for `node`. Returns false when no code is needed (alias).
pub(crate) fn emit_node(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<bool> {
    let g = ctx.g;
    let x = node.input(0);
    let out = node.outputs[0];
    let kind0 = x.map(|v| g.values[v].dtype.kind()).unwrap_or(Kind::Fixed);
    match node.op.as_str() {
        "Identity" | "Dropout" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => {
            let x = x.unwrap();
            let is_output = g.outputs.contains(&out);
            if !is_output && !ctx.addr.contains_key(&out) && g.values[x].konst.is_none() {
                let a = ctx.addr(x);
                ctx.addr.insert(out, a);
                return Ok(false);
            }
            let shape = g.values[out].shape.clone();
            let (src, dst) = (ctx.addr(x), ctx.addr(out));
            copy(
                fb,
                &shape,
                View::contiguous(src, &shape),
                View::contiguous(dst, &shape),
            );
        }
        "Transpose" => {
            let x = x.unwrap();
            let xs = g.values[x].shape.clone();
            let perm = transpose_perm(node, xs.len());
            let src = View::contiguous(ctx.addr(x), &xs);
            let view = View {
                base: src.base,
                strides: perm.iter().map(|&p| src.strides[p]).collect(),
            };
            let os = g.values[out].shape.clone();
            let dst = View::contiguous(ctx.addr(out), &os);
            copy(fb, &os, view, dst);
        }
        "Expand" => {
            let x = x.unwrap();
            let os = g.values[out].shape.clone();
            let src = View::broadcast(ctx.addr(x), &g.values[x].shape, &os);
            let dst = View::contiguous(ctx.addr(out), &os);
            copy(fb, &os, src, dst);
        }
        "Slice" => {
            let x = x.unwrap();
            let xs = g.values[x].shape.clone();
            let plan = slice_plan(g, node)?;
            let es = contiguous_strides(&xs);
            let base = ctx.addr(x) as i64
                + plan
                    .iter()
                    .zip(&es)
                    .map(|(p, s)| p.0.max(0) * s * 4)
                    .sum::<i64>();
            let view = View {
                base: base as u32,
                strides: plan.iter().zip(&es).map(|(p, s)| p.1 * s * 4).collect(),
            };
            let os = g.values[out].shape.clone();
            let dst = View::contiguous(ctx.addr(out), &os);
            copy(fb, &os, view, dst);
        }
        "Concat" => {
            let os = g.values[out].shape.clone();
            let axis = norm_axis(node.int("axis", 0), os.len(), node)?;
            let ostr = contiguous_strides(&os);
            let obase = ctx.addr(out);
            let mut at = 0usize;
            for v in node.inputs.iter().flatten() {
                let s = g.values[*v].shape.clone();
                let src = View::contiguous(ctx.addr(*v), &s);
                let dst = View {
                    base: obase + (at as i64 * ostr[axis] * 4) as u32,
                    strides: ostr.iter().map(|x| x * 4).collect(),
                };
                copy(fb, &s, src, dst);
                at += s[axis];
            }
        }
        "Gather" | "ArrayFeatureExtractor" => gather(ctx, node, fb)?,
        "Cast" => {
            let to = g.values[out].dtype;
            let from = g.values[x.unwrap()].dtype;
            let f = ctx.fmt.frac_bits;
            let t = fb.i32();
            let code: Box<dyn Fn(&mut FuncBuilder)> = match (from.kind(), to) {
                (_, crate::compiler::graph::DType::Bool) => Box::new(|fb: &mut FuncBuilder| {
                    fb.op(I::I32Eqz).op(I::I32Eqz);
                }),
                (Kind::Fixed, crate::compiler::graph::DType::Int64) => {
                    Box::new(move |fb: &mut FuncBuilder| {
                        // truncate toward zero: (x + (x < 0 ? 2^F - 1 : 0)) >> F
                        fb.tee(t)
                            .get(t)
                            .c32(31)
                            .op(I::I32ShrS)
                            .c32((1 << f) - 1)
                            .op(I::I32And)
                            .op(I::I32Add);
                        fb.c32(f as i32).op(I::I32ShrS);
                    })
                }
                (Kind::Int, crate::compiler::graph::DType::Float32) => {
                    let t64 = fb.i64();
                    Box::new(move |fb: &mut FuncBuilder| {
                        fb.op(I::I64ExtendI32S)
                            .c64(f as i64)
                            .op(I::I64Shl)
                            .saturate(t64);
                    })
                }
                _ => Box::new(|_: &mut FuncBuilder| {}),
            };
            unary(ctx, node, fb, &mut |fb, _t| code(fb))?;
        }
        "Relu" | "LeakyRelu" | "Neg" | "Abs" | "Clip" | "Sigmoid" | "Tanh" | "Erf" | "Gelu"
        | "Exp" | "Sqrt" | "Reciprocal" => unary_math(ctx, node, fb)?,
        "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "Pow" => binary_math(ctx, node, fb, kind0)?,
        "MatMul" => matmul(ctx, node, fb)?,
        "Gemm" => gemm(ctx, node, fb)?,
        "Conv" => conv(ctx, node, fb)?,
        "MaxPool" | "AveragePool" => pool(ctx, node, fb)?,
        "GlobalAveragePool" => {
            let xs = g.values[x.unwrap()].shape.clone();
            let axes: Vec<usize> = (2..xs.len()).collect();
            reduce(ctx, node, fb, &axes, Reduce::Mean)?;
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ArgMax" => {
            let xs = &g.values[x.unwrap()].shape;
            let axes = reduce_axes(g, node, xs.len())?;
            let how = match node.op.as_str() {
                "ReduceMean" => Reduce::Mean,
                "ReduceSum" => Reduce::Sum,
                "ReduceMax" => Reduce::Max,
                _ => Reduce::ArgMax {
                    last: node.int("select_last_index", 0) != 0,
                },
            };
            reduce(ctx, node, fb, &axes, how)?;
        }
        "Softmax" | "LogSoftmax" => softmax(ctx, node, fb)?,
        "LayerNormalization" => layer_norm(ctx, node, fb)?,
        "BatchNormalization" => batch_norm(ctx, node, fb)?,
        "LinearClassifier" => linear_classifier(ctx, node, fb)?,
        "Normalizer" => normalizer(ctx, node, fb)?,
        other => {
            return Err(unsupported(
                node,
                format!("no code generator for `{other}`"),
            ));
        }
    }
    Ok(true)
}

/// Copies `shape` elements from `src` to `dst` views.
pub(crate) fn copy(fb: &mut FuncBuilder, shape: &[usize], src: View, dst: View) {
    for_each(fb, shape, &[dst, src], &mut |fb, p| {
        fb.get(p[0].0).ld32(p[1].0, p[1].1).store32(p[0].1);
    });
}

/// Elementwise over the output, inputs broadcast; `value` pushes the i32 result
/// given the input (pointer, offset) pairs.
fn elementwise(
    ctx: &mut Ctx,
    fb: &mut FuncBuilder,
    out: ValueId,
    ins: &[ValueId],
    value: nd::Body<'_>,
) {
    let os = ctx.g.values[out].shape.clone();
    let mut views = vec![View::contiguous(ctx.addr(out), &os)];
    for &v in ins {
        views.push(View::broadcast(
            ctx.addr(v),
            &ctx.g.values[v].shape.clone(),
            &os,
        ));
    }
    for_each(fb, &os, &views, &mut |fb, p| {
        fb.get(p[0].0);
        value(fb, &p[1..]);
        fb.store32(p[0].1);
    });
}

/// Elementwise with one input, given the loaded i32 on the stack.
fn unary(
    ctx: &mut Ctx,
    node: &Node,
    fb: &mut FuncBuilder,
    f: &mut dyn FnMut(&mut FuncBuilder, &Temps),
) -> Result<()> {
    let t = Temps::new(fb);
    elementwise(
        ctx,
        fb,
        node.outputs[0],
        &[node.input(0).unwrap()],
        &mut |fb, p| {
            fb.ld32(p[0].0, p[0].1);
            f(fb, &t);
        },
    );
    Ok(())
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

fn unary_math(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let fmt = ctx.fmt;
    let f = fmt.frac_bits;
    let x = fb.i32();
    let kind = ctx.g.values[node.input(0).unwrap()].dtype.kind();
    match node.op.as_str() {
        "Relu" => unary(ctx, node, fb, &mut |fb, _| {
            fb.tee(x).c32(0).get(x).c32(0).op(I::I32GtS).op(I::Select);
        }),
        "LeakyRelu" => {
            let alpha = fmt.quantize(node.float("alpha", 0.01) as f64) as i64;
            unary(ctx, node, fb, &mut |fb, t| {
                fb.tee(x)
                    .get(x)
                    .op(I::I64ExtendI32S)
                    .c64(alpha)
                    .op(I::I64Mul)
                    .rescale(f, t.a64);
                fb.get(x).c32(0).op(I::I32GtS).op(I::Select);
            })
        }
        "Neg" => unary(ctx, node, fb, &mut |fb, t| {
            fb.op(I::I64ExtendI32S).set(t.b64);
            fb.c64(0).get(t.b64).op(I::I64Sub).saturate(t.a64);
        }),
        "Abs" => unary(ctx, node, fb, &mut |fb, t| {
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
        }),
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
            let lo = q(bound(1, "min", f64::NEG_INFINITY));
            let hi = q(bound(2, "max", f64::INFINITY));
            // max with lo first, then min with hi: when min > max every value becomes max (ONNX).
            unary(ctx, node, fb, &mut |fb, _| {
                fb.tee(x).c32(lo).get(x).c32(lo).op(I::I32GtS).op(I::Select);
                fb.tee(x).c32(hi).get(x).c32(hi).op(I::I32LtS).op(I::Select);
            })
        }
        "Sigmoid" | "Tanh" | "Erf" => {
            let lut = ctx.lut(match node.op.as_str() {
                "Sigmoid" => Func::Sigmoid,
                "Tanh" => Func::Tanh,
                _ => Func::Erf,
            });
            unary(ctx, node, fb, &mut |fb, t| {
                fb.set(x);
                lut.emit(fb, x, t);
            })
        }
        "Gelu" => {
            let lut = ctx.lut(if node.str("approximate") == Some("tanh") {
                Func::GeluTanhCdf
            } else {
                Func::NormalCdf
            });
            unary(ctx, node, fb, &mut |fb, t| {
                fb.set(x);
                lut.emit(fb, x, t);
                fb.op(I::I64ExtendI32S)
                    .get(x)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Mul)
                    .rescale(f, t.c64);
            })
        }
        "Exp" => {
            let lut = ctx.lut(Func::Exp2Frac);
            unary(ctx, node, fb, &mut |fb, t| {
                fb.set(x);
                nonlinear::emit_exp(fb, fmt, &lut, x, t);
            })
        }
        "Sqrt" => unary(ctx, node, fb, &mut |fb, t| {
            // sqrt(x 2^-F) 2^F = isqrt(x 2^F); negative inputs give 0
            fb.tee(x).c32(0).get(x).c32(0).op(I::I32GtS).op(I::Select);
            fb.op(I::I64ExtendI32S)
                .c64(f as i64)
                .op(I::I64Shl)
                .set(t.a64);
            nonlinear::emit_isqrt(fb, t.a64, t);
            fb.op(I::I32WrapI64);
        }),
        "Reciprocal" => unary(ctx, node, fb, &mut |fb, t| {
            fb.set(x);
            let one = fb.i64();
            fb.c64(1).set(one);
            nonlinear::emit_div(fb, one, x, 2 * f, t);
        }),
        _ => unreachable!(),
    }
}

fn binary_math(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder, kind: Kind) -> Result<()> {
    let f = ctx.fmt.frac_bits;
    let fixed = kind == Kind::Fixed;
    let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
    let t = Temps::new(fb);
    let (a, b) = (fb.i32(), fb.i32());
    if node.op == "Div"
        && fixed
        && let Some(c) = const_scalar(ctx, node.input(1)).filter(|c| *c != 0.0 && c.is_finite())
    {
        // x / c = (x * m) >> s with m = round(2^s / c) < 2^31: a multiply
        // instead of a 64-bit division, exact to half a unit of m
        let s = (30.0 + c.abs().log2().floor()).clamp(0.0, 62.0) as u32;
        let m = ((1u64 << s) as f64 / c).round() as i64;
        let x = node.input(0).unwrap();
        elementwise(ctx, fb, node.outputs[0], &[x], &mut |fb, p| {
            fb.ld64(p[0].0, p[0].1).c64(m).op(I::I64Mul);
            if s > 0 {
                fb.c64(1 << (s - 1))
                    .op(I::I64Add)
                    .c64(s as i64)
                    .op(I::I64ShrS);
            }
            fb.saturate(t.c64);
        });
        return Ok(());
    }
    if node.op == "Pow" {
        if ctx.g.konst(node.input(1).unwrap()).is_none() {
            return Err(unsupported(
                node,
                "Pow needs a constant exponent (make the exponent an initializer)",
            ));
        }
        let Some(e) = const_scalar(ctx, node.input(1)) else {
            return pow_general(ctx, node, fb, fixed);
        };
        let fmt = ctx.fmt;
        let x = node.input(0).unwrap();
        return match e {
            1.0 => {
                elementwise(ctx, fb, node.outputs[0], &[x], &mut |fb, p| {
                    fb.ld32(p[0].0, p[0].1);
                });
                Ok(())
            }
            0.5 => unary_as(ctx, node, fb, "Sqrt"),
            -1.0 => unary_as(ctx, node, fb, "Reciprocal"),
            e if e.fract() == 0.0 && (2.0..=8.0).contains(&e) => {
                let n = e as usize;
                elementwise(ctx, fb, node.outputs[0], &[x], &mut |fb, p| {
                    fb.ld32(p[0].0, p[0].1).set(a);
                    fb.get(a);
                    for _ in 1..n {
                        fb.op(I::I64ExtendI32S)
                            .get(a)
                            .op(I::I64ExtendI32S)
                            .op(I::I64Mul);
                        if fixed {
                            fb.rescale(f, t.c64);
                        } else {
                            fb.saturate(t.c64);
                        }
                    }
                });
                let _ = fmt;
                Ok(())
            }
            _ => pow_general(ctx, node, fb, fixed),
        };
    }
    let op = node.op.clone();
    elementwise(ctx, fb, node.outputs[0], &ins, &mut |fb, p| {
        fb.ld32(p[0].0, p[0].1);
        for q in &p[1..] {
            match op.as_str() {
                "Add" | "Sub" => {
                    fb.op(I::I64ExtendI32S).ld64(q.0, q.1);
                    fb.op(if op == "Add" { I::I64Add } else { I::I64Sub })
                        .saturate(t.c64);
                }
                "Mul" => {
                    fb.op(I::I64ExtendI32S).ld64(q.0, q.1).op(I::I64Mul);
                    if fixed {
                        fb.rescale(f, t.c64);
                    } else {
                        fb.saturate(t.c64);
                    }
                }
                "Div" => {
                    fb.op(I::I64ExtendI32S).set(t.b64);
                    fb.ld32(q.0, q.1).set(b);
                    nonlinear::emit_div(fb, t.b64, b, if fixed { f } else { 0 }, &t);
                }
                "Max" | "Min" => {
                    fb.set(a).ld32(q.0, q.1).set(b);
                    fb.get(a)
                        .get(b)
                        .get(a)
                        .get(b)
                        .op(if op == "Max" { I::I32GtS } else { I::I32LtS })
                        .op(I::Select);
                }
                _ => unreachable!(),
            }
        }
    });
    Ok(())
}

/// Largest integer exponent of the multiply-and-select Pow.
const MAX_INT_EXPONENT: f64 = 16.0;

/// Pow with a constant exponent tensor (broadcast to the output).
///
/// Integer exponents in `0..=16`: repeated multiplication, keeping the
/// product while the step is at most the element's exponent (exact for
/// integer bases, any sign). Other exponents (real bases only):
/// `exp(e * ln x)` for `x > 0`, and 0 for `x <= 0`.
fn pow_general(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder, fixed: bool) -> Result<()> {
    let g = ctx.g;
    let fmt = ctx.fmt;
    let f = fmt.frac_bits;
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
    let t = Temps::new(fb);
    let (a, b, r, v) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
    if integer {
        let max_e = exps.iter().fold(0.0f64, |m, &e| m.max(e)) as i32;
        let one = if fixed { 1i32 << f } else { 1 };
        for_each(fb, &os, &views, &mut |fb, p| {
            fb.get(p[0].0);
            fb.ld32(p[1].0, p[1].1).set(a);
            fb.ld32(p[2].0, p[2].1).set(b);
            fb.c32(one).set(r);
            for i in 1..=max_e {
                fb.get(r)
                    .op(I::I64ExtendI32S)
                    .get(a)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Mul);
                if fixed {
                    fb.rescale(f, t.c64);
                } else {
                    fb.saturate(t.c64);
                }
                fb.get(r).get(b).c32(i).op(I::I32GeS).op(I::Select).set(r);
            }
            fb.get(r).store32(p[0].1);
        });
    } else {
        let ln = ctx.lut(Func::LnOctave);
        let exp2 = ctx.lut(Func::Exp2Frac);
        for_each(fb, &os, &views, &mut |fb, p| {
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
    Ok(())
}

fn unary_as(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder, op: &str) -> Result<()> {
    let mut n = node.clone();
    n.op = op.into();
    n.inputs.truncate(1);
    unary_math(ctx, &n, fb)
}

/// Dense product `C[i][j] = sum_k A[i][k] * BT[j][k] (+ bias)`, rescaled to Q(F).
///
/// Both operands are walked contiguously along `k`, unrolled by up to 32 with
/// static offsets: 6 instructions per multiply-accumulate plus loop overhead.
struct MatMulSpec {
    a: u32,
    bt: u32,
    c: u32,
    m: usize,
    n: usize,
    k: usize,
    /// Output byte strides (row, column).
    c_strides: (i64, i64),
    bias: Option<(u32, BiasAxis)>,
    /// Shift of the accumulator (F for Q(F) x Q(F)).
    shift: u32,
    /// A Q(F) factor applied to the product before the bias is added (Gemm's
    /// alpha when both operands are runtime tensors).
    alpha: Option<i32>,
    /// For a batched product: rows per batch and the byte stride between
    /// batches of BT (A and C are contiguous over the flattened rows).
    batch: Option<(usize, u32)>,
}

#[derive(Clone, Copy, PartialEq)]
enum BiasAxis {
    /// One bias per output row.
    Row,
    /// One bias per output column.
    Col,
    /// A full `[M][N]` row-major bias matrix.
    Full,
}

const DOT_UNROLL: usize = 32;

/// Which output rows one function computes.
enum Rows {
    /// All `m` rows of the spec (code inlined in a bigger layer).
    All,
    /// Rows `[first, first + count)` of the flattened `(batch, row)` space,
    /// from the function's two parameters (a segment).
    Params,
}

fn emit_matmul(fb: &mut FuncBuilder, s: &MatMulSpec, rows: Rows) {
    let (pa, pb, pc) = (fb.i32(), fb.i32(), fb.i32());
    let (pa_row, pc_row, pbias) = (fb.i32(), fb.i32(), fb.i32());
    let (ka, kb) = (fb.i32(), fb.i32());
    let row = fb.i32();
    let acc = fb.i64();
    let tmp = fb.i64();
    let k = s.k;
    // base + first * stride (first is the segment's first row)
    let at_first = |fb: &mut FuncBuilder, base: u32, stride: i64, dst: Local| match rows {
        Rows::All => {
            fb.c32(base as i32).set(dst);
        }
        Rows::Params => {
            fb.get(0)
                .c32(stride as i32)
                .op(I::I32Mul)
                .c32(base as i32)
                .op(I::I32Add)
                .set(dst);
        }
    };
    at_first(fb, s.a, (k * 4) as i64, pa_row);
    at_first(fb, s.c, s.c_strides.0, pc_row);
    match s.bias {
        Some((b, BiasAxis::Row)) => at_first(fb, b, 4, pbias),
        Some((b, BiasAxis::Full)) => at_first(fb, b, (s.n * 4) as i64, pbias),
        _ => {}
    }
    if s.batch.is_some() {
        fb.get(0).set(row);
    }
    let body = |fb: &mut FuncBuilder| {
        fb.get(pa_row).set(pa);
        fb.get(pc_row).set(pc);
        match s.batch {
            // this row's batch: row / m, whose BT starts batch * stride further
            Some((m, stride)) => {
                fb.get(row)
                    .c32(m as i32)
                    .op(I::I32DivU)
                    .c32(stride as i32)
                    .op(I::I32Mul)
                    .c32(s.bt as i32)
                    .op(I::I32Add)
                    .set(pb);
                fb.bump(row, 1);
            }
            None => {
                fb.c32(s.bt as i32).set(pb);
            }
        }
        if let Some((b, BiasAxis::Col)) = s.bias {
            fb.c32(b as i32).set(pbias);
        }
        fb.repeat(s.n, |fb| {
            // initial accumulator: bias << shift, or 0 (bias added after alpha)
            match s.bias {
                Some(_) if s.alpha.is_none() => {
                    fb.ld64(pbias, 0).c64(s.shift as i64).op(I::I64Shl);
                }
                _ => {
                    fb.c64(0);
                }
            }
            if k <= 2 * DOT_UNROLL {
                for i in 0..k {
                    let o = (i * 4) as u32;
                    fb.ld64(pa, o).ld64(pb, o).op(I::I64Mul).op(I::I64Add);
                }
            } else {
                fb.set(acc);
                fb.get(pa).set(ka);
                fb.get(pb).set(kb);
                let chunks = k / DOT_UNROLL;
                fb.repeat(chunks, |fb| {
                    fb.get(acc);
                    for i in 0..DOT_UNROLL {
                        let o = (i * 4) as u32;
                        fb.ld64(ka, o).ld64(kb, o).op(I::I64Mul).op(I::I64Add);
                    }
                    fb.set(acc);
                    fb.bump(ka, (DOT_UNROLL * 4) as i64)
                        .bump(kb, (DOT_UNROLL * 4) as i64);
                });
                fb.get(acc);
                for i in 0..k % DOT_UNROLL {
                    let o = (i * 4) as u32;
                    fb.ld64(ka, o).ld64(kb, o).op(I::I64Mul).op(I::I64Add);
                }
            }
            fb.set(acc);
            if let Some(alpha) = s.alpha {
                // round to Q(F) (i64), times alpha (Q(2F)), plus bias << shift
                fb.get(acc);
                if s.shift > 0 {
                    fb.c64(1 << (s.shift - 1))
                        .op(I::I64Add)
                        .c64(s.shift as i64)
                        .op(I::I64ShrS);
                }
                fb.c64(alpha as i64).op(I::I64Mul);
                if s.bias.is_some() {
                    fb.ld64(pbias, 0)
                        .c64(s.shift as i64)
                        .op(I::I64Shl)
                        .op(I::I64Add);
                }
                fb.set(acc);
            }
            fb.get(pc).get(acc).rescale(s.shift, tmp).store32(0);
            fb.bump(pc, s.c_strides.1).bump(pb, (k * 4) as i64);
            if let Some((_, BiasAxis::Col | BiasAxis::Full)) = s.bias {
                fb.bump(pbias, 4);
            }
        });
        fb.bump(pa_row, (k * 4) as i64).bump(pc_row, s.c_strides.0);
        if let Some((_, BiasAxis::Row)) = s.bias {
            fb.bump(pbias, 4);
        }
    };
    match rows {
        Rows::All => fb.repeat(s.m, body),
        Rows::Params => fb.repeat_local(1, body),
    }
}

/// A product as its own layer function, called once per segment of rows, so
/// that no call runs much more than [`super::SEGMENT_STEPS`] steps. `rows` is the
/// flattened `(batch, row)` count.
fn segmented_matmul(ctx: &mut Ctx, s: &MatMulSpec, rows: usize) {
    let mut fb = FuncBuilder::with_params(2);
    emit_matmul(&mut fb, s, Rows::Params);
    let per_row = s.n * (s.k * 6 + 24) + 24;
    let step = (super::SEGMENT_STEPS as usize / per_row).clamp(1, rows.max(1));
    let mut calls = vec![];
    let mut first = 0;
    while first < rows {
        let count = step.min(rows - first);
        // rows first..first+count: the bounding range of their outputs
        let lo = s.c as i64 + first as i64 * s.c_strides.0;
        let last = lo + (count as i64 - 1) * s.c_strides.0 + (s.n as i64 - 1) * s.c_strides.1;
        calls.push(super::Call {
            args: vec![first as u32, count as u32],
            writes: vec![[lo as u32, (last + 4 - lo) as u32]],
        });
        first += count;
    }
    ctx.pieces.push(super::Piece { fb, calls });
}

/// A constant matrix `[rows][cols]` (row-major, possibly via a transposed view)
/// placed as contiguous quantized words.
fn const_matrix(ctx: &mut Ctx, v: ValueId, transpose: bool, scale: f64, key: &str) -> u32 {
    let k = ctx.g.konst(v).unwrap();
    let m = if transpose {
        k.t().as_standard_layout().into_owned()
    } else {
        k.as_standard_layout().into_owned()
    };
    let words = ctx.quantize(m.iter().map(|x| x * scale), Kind::Fixed);
    ctx.mem
        .words(&format!("{key}.{v}.{transpose}.{scale}"), &words)
}

/// Scratch for a transposed copy of a runtime matrix.
fn transposed_copy(ctx: &mut Ctx, fb: &mut FuncBuilder, src: u32, rows: usize, cols: usize) -> u32 {
    let dst = ctx.mem.alloc((rows * cols * 4) as u64, 4);
    // dst[c][r] = src[r][c]
    let view = View {
        base: src,
        strides: vec![4, cols as i64 * 4],
    };
    copy(
        fb,
        &[cols, rows],
        view,
        View::contiguous(dst, &[cols, rows]),
    );
    dst
}

fn matmul(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let (a, b) = (node.input(0).unwrap(), node.input(1).unwrap());
    let (sa, sb) = (g.values[a].shape.clone(), g.values[b].shape.clone());
    let a2: Vec<usize> = if sa.len() == 1 {
        vec![1, sa[0]]
    } else {
        sa.clone()
    };
    let b2: Vec<usize> = if sb.len() == 1 {
        vec![sb[0], 1]
    } else {
        sb.clone()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let n = b2[b2.len() - 1];
    let out = node.outputs[0];
    let c = ctx.addr(out);
    let aa = ctx.addr(a);
    if b2.len() == 2 {
        // [.., M, K] x [K, N]: fold A's batch dims into M.
        let rows = a2[..a2.len() - 1].iter().product::<usize>();
        let bt = if g.konst(b).is_some() {
            const_matrix(ctx, b, true, 1.0, "matmul")
        } else {
            let ab = ctx.addr(b);
            transposed_copy(ctx, fb, ab, k, n)
        };
        let spec = MatMulSpec {
            a: aa,
            bt,
            c,
            m: rows,
            n,
            k,
            c_strides: ((n * 4) as i64, 4),
            bias: None,
            shift: f,
            alpha: None,
            batch: None,
        };
        segmented_matmul(ctx, &spec, rows);
        return Ok(());
    }
    // Batched: broadcast batch dims; one loop over the flattened (batch, row)
    // space, with A and C contiguous and BT laid out [batch][N][K].
    let batch =
        crate::compiler::infer::broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2]).unwrap();
    let total: usize = batch.iter().product();
    let (a_batch, b_batch) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let av = View::broadcast(0, a_batch, &batch);
    let bv = View::broadcast(0, b_batch, &batch);
    let a_at = if a_batch.iter().product::<usize>() == total {
        aa
    } else {
        // A broadcast over some batch dims: materialize it once
        let dst = ctx.mem.alloc((total * m * k * 4) as u64, 4);
        let mut shape = batch.clone();
        shape.extend([m, k]);
        let mut strides: Vec<i64> = av.strides.iter().map(|s| s * (m * k) as i64).collect();
        strides.extend([(k * 4) as i64, 4]);
        copy(
            fb,
            &shape,
            View { base: aa, strides },
            View::contiguous(dst, &shape),
        );
        dst
    };
    let bt = if g.konst(b).is_some() {
        // transpose every batch's slice of the constant at compile time
        let kk = g.konst(b).unwrap();
        let flat: Vec<f64> = kk.iter().copied().collect();
        let bstr = contiguous_strides(&batch);
        let mut words = vec![0i32; total * k * n];
        for bi in 0..total {
            let mut rem = bi;
            let mut ob = 0i64;
            for (d, &bs) in bstr.iter().enumerate() {
                let idx = rem / bs as usize;
                rem %= bs as usize;
                ob += idx as i64 * bv.strides[d] / 4 * (k * n) as i64;
            }
            for r in 0..k {
                for col in 0..n {
                    words[bi * k * n + col * k + r] =
                        ctx.fmt.quantize(flat[ob as usize + r * n + col]);
                }
            }
        }
        ctx.mem.words(&format!("matmul.bt.{b}"), &words)
    } else {
        // BT[batch][j][r] = B[batch][r][j], broadcast batches included
        let ab = ctx.addr(b);
        let dst = ctx.mem.alloc((total * n * k * 4) as u64, 4);
        let mut shape = batch.clone();
        shape.extend([n, k]);
        let mut strides: Vec<i64> = bv.strides.iter().map(|s| s * (k * n) as i64).collect();
        strides.extend([4, (n * 4) as i64]);
        copy(
            fb,
            &shape,
            View { base: ab, strides },
            View::contiguous(dst, &shape),
        );
        dst
    };
    let spec = MatMulSpec {
        a: a_at,
        bt,
        c,
        m,
        n,
        k,
        c_strides: ((n * 4) as i64, 4),
        bias: None,
        shift: f,
        alpha: None,
        batch: Some((m, (n * k * 4) as u32)),
    };
    segmented_matmul(ctx, &spec, total * m);
    Ok(())
}

fn gemm(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let (a, b) = (node.input(0).unwrap(), node.input(1).unwrap());
    let (ta, tb) = (node.int("transA", 0) != 0, node.int("transB", 0) != 0);
    let alpha = node.float("alpha", 1.0) as f64;
    let beta = node.float("beta", 1.0) as f64;
    let sa = g.values[a].shape.clone();
    let (m, k) = if ta { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
    let n = g.values[node.outputs[0]].shape[1];
    let a_addr = if g.konst(a).is_some() {
        const_matrix(ctx, a, ta, alpha, "gemm.a")
    } else if ta {
        let aa = ctx.addr(a);
        transposed_copy(ctx, fb, aa, k, m)
    } else {
        ctx.addr(a)
    };
    let alpha_runtime = g.konst(a).is_none() && g.konst(b).is_none() && alpha != 1.0;
    let bt = if g.konst(b).is_some() {
        let scale = if g.konst(a).is_some() { 1.0 } else { alpha };
        const_matrix(ctx, b, !tb, scale, "gemm.b")
    } else if tb {
        ctx.addr(b)
    } else {
        let ab = ctx.addr(b);
        transposed_copy(ctx, fb, ab, k, n)
    };
    let c = ctx.addr(node.outputs[0]);
    let bias = match node.input(2) {
        None => None,
        Some(cv) => {
            let cs = g.values[cv].shape.clone();
            let konst = g
                .konst(cv)
                .ok_or_else(|| unsupported(node, "the C input of Gemm must be a constant"))?;
            // Per-column bias when C is uniform over rows ([N], [1, N], scalar),
            // otherwise a full [M, N] matrix (C of shape [M, 1] or [M, N]).
            let per_row = cs.len() == 2 && cs[0] == m && m > 1;
            let (vals, axis): (Vec<f64>, BiasAxis) = if per_row {
                let full = konst.broadcast(ndarray::IxDyn(&[m, n])).ok_or_else(|| {
                    unsupported(
                        node,
                        format!("C of shape {cs:?} does not broadcast to [{m}, {n}]"),
                    )
                })?;
                (full.iter().map(|&x| x * beta).collect(), BiasAxis::Full)
            } else {
                let flat: Vec<f64> = konst.iter().copied().collect();
                (
                    (0..n)
                        .map(|j| if flat.len() == 1 { flat[0] } else { flat[j % flat.len()] } * beta)
                        .collect(),
                    BiasAxis::Col,
                )
            };
            let words = ctx.quantize(vals.into_iter(), Kind::Fixed);
            Some((
                ctx.mem.words(&format!("gemm.bias.{cv}.{beta}"), &words),
                axis,
            ))
        }
    };
    let spec = MatMulSpec {
        a: a_addr,
        bt,
        c,
        m,
        n,
        k,
        c_strides: ((n * 4) as i64, 4),
        bias,
        shift: f,
        alpha: alpha_runtime.then(|| ctx.fmt.quantize(alpha)),
        batch: None,
    };
    segmented_matmul(ctx, &spec, m);
    Ok(())
}

fn pads_of(
    node: &Node,
    xs: &[usize],
    kernel: Vec<usize>,
    ceil: bool,
) -> Result<crate::compiler::infer::Window> {
    window(node, &xs[2..], kernel, ceil)
}

/// Copies `[C][H][W]` at `src` into the interior of a padded buffer whose
/// borders hold `fill` in the initial image. Returns (address, Hp, Wp).
#[allow(clippy::too_many_arguments)]
fn padded(
    ctx: &mut Ctx,
    fb: &mut FuncBuilder,
    src: u32,
    c: usize,
    h: usize,
    w: usize,
    pb: (usize, usize),
    pe: (usize, usize),
    fill: i32,
) -> (u32, usize, usize) {
    if pb == (0, 0) && pe == (0, 0) {
        return (src, h, w);
    }
    let (hp, wp) = (h + pb.0 + pe.0, w + pb.1 + pe.1);
    let addr = ctx.mem.alloc((c * hp * wp * 4) as u64, 4);
    if fill != 0 {
        ctx.mem.init_at(addr, &vec![fill; c * hp * wp]);
    }
    let dst = View {
        base: addr + ((pb.0 * wp + pb.1) * 4) as u32,
        strides: vec![(hp * wp * 4) as i64, (wp * 4) as i64, 4],
    };
    copy(fb, &[c, h, w], View::contiguous(src, &[c, h, w]), dst);
    (addr, hp, wp)
}

fn conv(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let (x, w) = (node.input(0).unwrap(), node.input(1).unwrap());
    let xs = g.values[x].shape.clone();
    let ws = g.values[w].shape.clone();
    let win = pads_of(node, &xs, ws[2..].to_vec(), false)?;
    let group = node.int("group", 1) as usize;
    let (nb, cin, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let cout = ws[0];
    let (oh, ow) = (win.out[0], win.out[1]);
    let cg = cin / group;
    let og = cout / group;
    let kk = cg * ws[2] * ws[3];
    let wq = const_matrix(ctx, w, false, 1.0, "conv.w");
    let bias = match node.input(2) {
        Some(b) => {
            let words = ctx.quantize(
                g.konst(b)
                    .ok_or_else(|| unsupported(node, "Conv bias must be a constant"))?
                    .iter()
                    .copied(),
                Kind::Fixed,
            );
            Some(ctx.mem.words(&format!("conv.b.{b}"), &words))
        }
        None => None,
    };
    let xa = ctx.addr(x);
    let ya = ctx.addr(node.outputs[0]);
    let col = ctx.mem.alloc((oh * ow * kk * 4) as u64, 4);
    for bi in 0..nb {
        let (xp, hp, wp) = padded(
            ctx,
            fb,
            xa + (bi * cin * h * wd * 4) as u32,
            cin,
            h,
            wd,
            (win.pads_begin[0], win.pads_begin[1]),
            (win.pads_end[0], win.pads_end[1]),
            0,
        );
        for gi in 0..group {
            // im2col: col[oy][ox][ic][ky][kx] = xp[g*cg + ic][oy*sh + ky*dh][ox*sw + kx*dw]
            let src = View {
                base: xp + (gi * cg * hp * wp * 4) as u32,
                strides: vec![
                    (win.strides[0] * wp * 4) as i64,
                    (win.strides[1] * 4) as i64,
                    (hp * wp * 4) as i64,
                    (win.dilations[0] * wp * 4) as i64,
                    (win.dilations[1] * 4) as i64,
                ],
            };
            copy(
                fb,
                &[oh, ow, cg, ws[2], ws[3]],
                src,
                View::contiguous(col, &[oh, ow, cg, ws[2], ws[3]]),
            );
            let spec = MatMulSpec {
                a: wq + (gi * og * kk * 4) as u32,
                bt: col,
                c: ya + ((bi * cout + gi * og) * oh * ow * 4) as u32,
                m: og,
                n: oh * ow,
                k: kk,
                c_strides: ((oh * ow * 4) as i64, 4),
                bias: bias.map(|b| (b + (gi * og * 4) as u32, BiasAxis::Row)),
                shift: f,
                alpha: None,
                batch: None,
            };
            emit_matmul(fb, &spec, Rows::All);
        }
    }
    Ok(())
}

/// MaxPool / AveragePool over any number of spatial axes (1-D, 2-D, 3-D, ...).
///
/// The input of each batch item is copied into a padded buffer whose borders
/// hold the identity of the reduction (`i32::MIN` for max, 0 for average);
/// each output element reads its window at static offsets. MaxPool's optional
/// Indices output is the flat index into the input (row-major, or
/// column-major over the spatial axes with `storage_order = 1`).
fn pool(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let kernel: Vec<usize> = node
        .ints("kernel_shape")
        .unwrap()
        .iter()
        .map(|&k| k as usize)
        .collect();
    let win = pads_of(node, &xs, kernel.clone(), node.int("ceil_mode", 0) != 0)?;
    let (nb, c) = (xs[0], xs[1]);
    let sp = xs[2..].to_vec();
    let d = sp.len();
    let os = win.out.clone();
    let is_max = node.op == "MaxPool";
    // ceil_mode can read past the end padding: pad the end further.
    let pe: Vec<usize> = (0..d)
        .map(|i| {
            let need = (os[i] - 1) * win.strides[i] + (kernel[i] - 1) * win.dilations[i] + 1;
            win.pads_end[i].max(need.saturating_sub(sp[i] + win.pads_begin[i]))
        })
        .collect();
    let pdims: Vec<usize> = (0..d).map(|i| sp[i] + win.pads_begin[i] + pe[i]).collect();
    let pstr = contiguous_strides(&pdims);
    let plane: usize = pdims.iter().product();
    let in_plane: usize = sp.iter().product();
    let out_plane: usize = os.iter().product();
    let fill = if is_max { i32::MIN } else { 0 };
    let xa = ctx.addr(x);
    let ya = ctx.addr(node.outputs[0]);
    let indices = node
        .outputs
        .get(1)
        .copied()
        .filter(|&v| is_max && !g.values[v].name.is_empty());
    let storage_order = node.int("storage_order", 0);
    // Flat-index strides of the spatial axes of the input.
    let istr: Vec<i64> = if storage_order == 0 {
        contiguous_strides(&sp)
    } else {
        let mut s = vec![1i64; d];
        for i in 1..d {
            s[i] = s[i - 1] * sp[i - 1] as i64;
        }
        s
    };
    let t = Temps::new(fb);
    let (m, v, mi) = (fb.i32(), fb.i32(), fb.i32());
    let acc = fb.i64();
    let count_pad = node.int("count_include_pad", 0) != 0;
    // Per-output-position reciprocal of the window count (Q30), for AveragePool.
    let recip = if is_max {
        0
    } else {
        let ostr = contiguous_strides(&os);
        let words: Vec<i32> = (0..out_plane)
            .map(|flat| {
                let cnt: usize = (0..d)
                    .map(|ax| {
                        let o = (flat / ostr[ax] as usize) % os[ax];
                        (0..kernel[ax])
                            .filter(|&kk| {
                                let p = (o * win.strides[ax] + kk * win.dilations[ax]) as i64
                                    - win.pads_begin[ax] as i64;
                                if count_pad {
                                    p < (sp[ax] + win.pads_end[ax]) as i64
                                } else {
                                    p >= 0 && p < sp[ax] as i64
                                }
                            })
                            .count()
                    })
                    .product();
                ((1i64 << 30) as f64 / cnt.max(1) as f64).round() as i32
            })
            .collect();
        ctx.mem.words(&format!("pool.recip.{}", node.name), &words)
    };
    // Window element offsets: bytes in the padded buffer, and flat input index.
    let mut offsets: Vec<(u32, i64)> = vec![(0, 0)];
    for ax in 0..d {
        let mut next = Vec::with_capacity(offsets.len() * kernel[ax]);
        for &(o, io) in &offsets {
            for kk in 0..kernel[ax] {
                let step = (kk * win.dilations[ax]) as i64;
                next.push((
                    o + (step * pstr[ax] * 4) as u32,
                    io + (step - win.pads_begin[ax] as i64) * istr[ax],
                ));
            }
        }
        offsets = next;
    }
    let padded_buf = if pdims == sp {
        None
    } else {
        let addr = ctx.mem.alloc((c * plane * 4) as u64, 4);
        if fill != 0 {
            ctx.mem.init_at(addr, &vec![fill; c * plane]);
        }
        Some(addr)
    };
    for bi in 0..nb {
        let src_in = xa + (bi * c * in_plane * 4) as u32;
        let xp = match padded_buf {
            None => src_in,
            Some(addr) => {
                let interior: u32 = (0..d)
                    .map(|i| (win.pads_begin[i] as i64 * pstr[i] * 4) as u32)
                    .sum();
                let mut strides = vec![(plane * 4) as i64];
                strides.extend(pstr.iter().map(|s| s * 4));
                let mut shape = vec![c];
                shape.extend(&sp);
                copy(
                    fb,
                    &shape,
                    View::contiguous(src_in, &shape),
                    View {
                        base: addr + interior,
                        strides,
                    },
                );
                addr
            }
        };
        let mut loop_shape = vec![c];
        loop_shape.extend(&os);
        let mut src_strides = vec![(plane * 4) as i64];
        src_strides.extend((0..d).map(|i| win.strides[i] as i64 * pstr[i] * 4));
        let src = View {
            base: xp,
            strides: src_strides,
        };
        let dst = View::contiguous(ya + (bi * c * out_plane * 4) as u32, &loop_shape);
        let mut rv_strides = vec![0i64];
        rv_strides.extend(contiguous_strides(&os).iter().map(|s| s * 4));
        let rv = View {
            base: recip,
            strides: rv_strides,
        };
        let mut views = vec![dst, src, rv];
        if let Some(iv) = indices {
            // flat index of the window origin (may be negative: i32 arithmetic wraps)
            let mut strides = vec![in_plane as i64];
            strides.extend((0..d).map(|i| win.strides[i] as i64 * istr[i]));
            views.push(View {
                base: (bi * c * in_plane) as u32,
                strides,
            });
            views.push(View::contiguous(
                ctx.addr(iv) + (bi * c * out_plane * 4) as u32,
                &loop_shape,
            ));
        }
        let with_idx = indices.is_some();
        for_each(fb, &loop_shape, &views, &mut |fb, p| {
            let (src, so) = p[1];
            if is_max {
                fb.ld32(src, so + offsets[0].0).set(m);
                if with_idx {
                    fb.get(p[3].0)
                        .c32(p[3].1 as i32)
                        .op(I::I32Add)
                        .c32(offsets[0].1 as i32)
                        .op(I::I32Add)
                        .set(mi);
                }
                for &(o, io) in &offsets[1..] {
                    fb.ld32(src, so + o).tee(v).get(m).op(I::I32GtS).set(t.a32);
                    fb.get(v).get(m).get(t.a32).op(I::Select).set(m);
                    if with_idx {
                        fb.get(p[3].0)
                            .c32(p[3].1 as i32)
                            .op(I::I32Add)
                            .c32(io as i32)
                            .op(I::I32Add)
                            .get(mi)
                            .get(t.a32)
                            .op(I::Select)
                            .set(mi);
                    }
                }
                fb.get(p[0].0).get(m).store32(p[0].1);
                if with_idx {
                    fb.get(p[4].0).get(mi).store32(p[4].1);
                }
            } else {
                fb.c64(0);
                for &(o, _) in &offsets {
                    fb.ld64(src, so + o).op(I::I64Add);
                }
                fb.set(acc);
                fb.get(p[0].0).get(acc).ld64(p[2].0, p[2].1).op(I::I64Mul);
                fb.c64(1 << 29)
                    .op(I::I64Add)
                    .c64(30)
                    .op(I::I64ShrS)
                    .saturate(t.c64)
                    .store32(p[0].1);
            }
        });
    }
    Ok(())
}

/// Pushes `v / n` rounded half away from zero, for the i64 in `v` and `n > 0`.
fn div_round(fb: &mut FuncBuilder, v: Local, n: i64) {
    fb.get(v)
        .c64(n / 2)
        .c64(-(n / 2))
        .get(v)
        .c64(0)
        .op(I::I64GeS)
        .op(I::Select)
        .op(I::I64Add);
    fb.c64(n).op(I::I64DivS);
}

#[derive(Clone, Copy, PartialEq)]
enum Reduce {
    Sum,
    Mean,
    Max,
    ArgMax { last: bool },
}

/// Outer loop over the kept axes, with the reduced elements of each row at
/// static offsets. Returns (outer shape, input outer view, row offsets).
fn rows(shape: &[usize], base: u32, axes: &[usize]) -> (Vec<usize>, View, Vec<u32>) {
    let es = contiguous_strides(shape);
    let outer: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
    let oshape: Vec<usize> = outer.iter().map(|&i| shape[i]).collect();
    let view = View {
        base,
        strides: outer.iter().map(|&i| es[i] * 4).collect(),
    };
    let mut offsets = vec![0u32];
    for &a in axes {
        let mut next = Vec::with_capacity(offsets.len() * shape[a]);
        for o in &offsets {
            for j in 0..shape[a] {
                next.push(o + (j as i64 * es[a] * 4) as u32);
            }
        }
        offsets = next;
    }
    (oshape, view, offsets)
}

/// The byte spacing of a row whose offsets are `0, d, 2d, ...`.
fn even_spacing(offsets: &[u32]) -> Option<i64> {
    let d = offsets.get(1).map_or(4, |&o| o as i64);
    offsets
        .iter()
        .enumerate()
        .all(|(k, &o)| o as i64 == k as i64 * d)
        .then_some(d)
}

/// Emits `body` for each element of a row. A stream marked dense moves 4
/// bytes per element (per-element parameters); the others follow the row's
/// offsets. Evenly spaced rows loop ([`nd::row_walk`]); a row over
/// non-adjacent axes is unrolled at static offsets, up to [`MAX_ROW`].
fn walk_row(
    fb: &mut FuncBuilder,
    node: &Node,
    offsets: &[u32],
    starts: &[(nd::Start, bool)],
    carry: Option<Local>,
    body: nd::Body<'_>,
) -> Result<()> {
    let begin: Vec<nd::Start> = starts.iter().map(|s| s.0).collect();
    if let Some(d) = even_spacing(offsets) {
        let strides: Vec<i64> = starts.iter().map(|s| if s.1 { 4 } else { d }).collect();
        nd::row_walk(fb, offsets.len(), &begin, &strides, carry, body);
        return Ok(());
    }
    if offsets.len() > MAX_ROW {
        return Err(unsupported(
            node,
            format!(
                "a row of {} elements over non-adjacent axes is more than the supported {MAX_ROW}; transpose the reduced axes together first",
                offsets.len()
            ),
        ));
    }
    let ptrs: Vec<Local> = begin
        .iter()
        .map(|s| {
            let q = fb.i32();
            match *s {
                nd::Start::At(l, o) => fb.get(l).c32(o as i32).op(I::I32Add),
                nd::Start::Addr(a) => fb.c32(a as i32),
            };
            fb.set(q);
            q
        })
        .collect();
    if let Some(c) = carry {
        fb.get(c);
    }
    for (j, &o) in offsets.iter().enumerate() {
        let at: Vec<(Local, u32)> = ptrs
            .iter()
            .zip(starts)
            .map(|(&q, s)| (q, if s.1 { (j * 4) as u32 } else { o }))
            .collect();
        body(fb, &at);
    }
    if let Some(c) = carry {
        fb.set(c);
    }
    Ok(())
}

/// The maximum of the row at `start` into local `m` (`v` is scratch).
fn row_max(
    fb: &mut FuncBuilder,
    node: &Node,
    offsets: &[u32],
    start: (Local, u32),
    m: Local,
    v: Local,
) -> Result<()> {
    fb.ld32(start.0, start.1).set(m);
    let row = [(nd::Start::At(start.0, start.1), false)];
    walk_row(fb, node, offsets, &row, None, &mut |fb, q| {
        fb.ld32(q[0].0, q[0].1)
            .tee(v)
            .get(m)
            .get(v)
            .get(m)
            .op(I::I32GtS)
            .op(I::Select)
            .set(m);
    })
}

fn reduce(
    ctx: &mut Ctx,
    node: &Node,
    fb: &mut FuncBuilder,
    axes: &[usize],
    how: Reduce,
) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let (oshape, src, offsets) = rows(&xs, ctx.addr(x), axes);
    let n = offsets.len();
    if matches!(how, Reduce::ArgMax { .. }) && n > MAX_ROW {
        return Err(unsupported(
            node,
            format!("ArgMax over {n} elements is more than the supported {MAX_ROW}"),
        ));
    }
    let dst = View::contiguous(ctx.addr(node.outputs[0]), &oshape);
    let t = Temps::new(fb);
    let (m, v, idx) = (fb.i32(), fb.i32(), fb.i32());
    let mut result = Ok(());
    nd::for_each_unrolled(fb, &oshape, &[dst, src], 1, &mut |fb, p| {
        let (s, so) = p[1];
        let row = [(nd::Start::At(s, so), false)];
        let r = match how {
            Reduce::Sum | Reduce::Mean => {
                fb.c64(0).set(t.a64);
                let r = walk_row(fb, node, &offsets, &row, Some(t.a64), &mut |fb, q| {
                    fb.ld64(q[0].0, q[0].1).op(I::I64Add);
                });
                if how == Reduce::Mean {
                    div_round(fb, t.a64, n as i64);
                } else {
                    fb.get(t.a64);
                }
                fb.saturate(t.c64).set(v);
                r
            }
            Reduce::Max => {
                let r = row_max(fb, node, &offsets, (s, so), m, v);
                fb.get(m).set(v);
                r
            }
            Reduce::ArgMax { last } => {
                fb.ld32(s, so + offsets[0]).set(m).c32(0).set(idx);
                for (j, &o) in offsets.iter().enumerate().skip(1) {
                    // take the new element when it is greater (or equal, for select_last_index)
                    fb.ld32(s, so + o)
                        .tee(v)
                        .get(m)
                        .op(if last { I::I32GeS } else { I::I32GtS })
                        .set(t.a32);
                    fb.c32(j as i32).get(idx).get(t.a32).op(I::Select).set(idx);
                    fb.get(v).get(m).get(t.a32).op(I::Select).set(m);
                }
                fb.get(idx).set(v);
                Ok(())
            }
        };
        if r.is_err() {
            result = r;
        }
        fb.get(p[0].0).get(v).store32(p[0].1);
    });
    result
}

fn softmax(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let fmt = ctx.fmt;
    let f = fmt.frac_bits;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let rank = xs.len();
    let axes: Vec<usize> = if g.opset < 13 {
        let a = norm_axis(node.int("axis", 1), rank, node)?;
        (a..rank).collect()
    } else {
        vec![norm_axis(node.int("axis", -1), rank, node)?]
    };
    let (oshape, src, offsets) = rows(&xs, ctx.addr(x), &axes);
    let (_, dst, _) = rows(&xs, ctx.addr(node.outputs[0]), &axes);
    let exp2 = ctx.lut(Func::Exp2Frac);
    let ln = ctx.lut(Func::LnOctave);
    let log = node.op == "LogSoftmax";
    let t = Temps::new(fb);
    let (m, v, e) = (fb.i32(), fb.i32(), fb.i32());
    let (sum, num) = (fb.i64(), fb.i64());
    let lse = fb.i32();
    let mut result = Ok(());
    nd::for_each_unrolled(fb, &oshape, &[dst, src], 1, &mut |fb, p| {
        let (d, dof) = p[0];
        let (s, so) = p[1];
        let both = [
            (nd::Start::At(d, dof), false),
            (nd::Start::At(s, so), false),
        ];
        let mut r = vec![];
        r.push(row_max(fb, node, &offsets, (s, so), m, v));
        // e_j = exp(x_j - max) stored in the output; sum in i64
        fb.c64(0).set(sum);
        r.push(walk_row(fb, node, &offsets, &both, None, &mut |fb, q| {
            fb.ld64(q[1].0, q[1].1)
                .get(m)
                .op(I::I64ExtendI32S)
                .op(I::I64Sub)
                .saturate(t.c64)
                .set(v);
            nonlinear::emit_exp(fb, fmt, &exp2, v, &t);
            fb.set(e);
            if !log {
                fb.get(q[0].0).get(e).store32(q[0].1);
            }
            fb.get(sum)
                .get(e)
                .op(I::I64ExtendI32S)
                .op(I::I64Add)
                .set(sum);
        }));
        if log {
            // y = x - max - ln(sum)
            fb.get(sum).saturate(t.c64).set(v);
            nonlinear::emit_ln(fb, fmt, &ln, v, &t);
            fb.set(lse);
            r.push(walk_row(fb, node, &offsets, &both, None, &mut |fb, q| {
                fb.get(q[0].0)
                    .ld64(q[1].0, q[1].1)
                    .get(m)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Sub);
                fb.get(lse)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Sub)
                    .saturate(t.c64)
                    .store32(q[0].1);
            }));
        } else {
            // y = e_j / sum as e_j * (2^(F+30) / sum) >> 30: one division per
            // row; sum >= 1.0 (the maximum contributes exp(0)), so inv <= 2^30
            fb.c64(1i64 << (f + 30)).get(sum).op(I::I64DivS).set(num);
            r.push(walk_row(
                fb,
                node,
                &offsets,
                &both[..1],
                None,
                &mut |fb, q| {
                    fb.get(q[0].0).ld64(q[0].0, q[0].1).get(num).op(I::I64Mul);
                    fb.c64(1 << 29).op(I::I64Add).c64(30).op(I::I64ShrS);
                    fb.saturate(t.c64).store32(q[0].1);
                },
            ));
        }
        if let Some(e) = r.into_iter().find(|r| r.is_err()) {
            result = e;
        }
    });
    result
}

fn layer_norm(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let axis = norm_axis(node.int("axis", -1), xs.len(), node)?;
    let axes: Vec<usize> = (axis..xs.len()).collect();
    let (oshape, src, offsets) = rows(&xs, ctx.addr(x), &axes);
    let (_, dst, _) = rows(&xs, ctx.addr(node.outputs[0]), &axes);
    let nrow = offsets.len();
    let norm_shape = xs[axis..].to_vec();
    let param = |ctx: &mut Ctx, i: usize, default: f64| -> Result<u32> {
        let words: Vec<i32> = match node.input(i) {
            Some(v) => {
                let k = ctx
                    .g
                    .konst(v)
                    .ok_or_else(|| unsupported(node, "scale and bias must be constants"))?;
                let b = k.broadcast(ndarray::IxDyn(&norm_shape)).ok_or_else(|| {
                    unsupported(node, "scale/bias do not broadcast to the normalized shape")
                })?;
                ctx.quantize(b.iter().copied(), Kind::Fixed)
            }
            None => vec![ctx.fmt.quantize(default); nrow],
        };
        Ok(ctx.mem.words(&format!("ln.{}.{i}", node.name), &words))
    };
    let gamma = param(ctx, 1, 1.0)?;
    let beta = param(ctx, 2, 0.0)?;
    // Optional Mean and InvStdDev outputs, laid out like the outer loop.
    let stat_view = |ctx: &mut Ctx, i: usize| -> Option<View> {
        let v = *node.outputs.get(i)?;
        if ctx.g.values[v].name.is_empty() {
            return None;
        }
        Some(View::contiguous(ctx.addr(v), &oshape))
    };
    let mean_out = stat_view(ctx, 1);
    let inv_out = stat_view(ctx, 2);
    let mut views = vec![dst, src];
    views.extend(mean_out.clone());
    views.extend(inv_out.clone());
    let one = fb.i64();
    let eps_q2 = ((node.float("epsilon", 1e-5) as f64) * ((1u64 << (2 * f)) as f64))
        .round()
        .max(1.0) as i64;
    let t = Temps::new(fb);
    let (mean, sd, y) = (fb.i32(), fb.i32(), fb.i32());
    let (var, dev) = (fb.i64(), fb.i64());
    let mut result = Ok(());
    nd::for_each_unrolled(fb, &oshape, &views, 1, &mut |fb, p| {
        let (d, dof) = p[0];
        let (s, so) = p[1];
        let src_row = [(nd::Start::At(s, so), false)];
        let mut r = vec![];
        fb.c64(0).set(var);
        r.push(walk_row(
            fb,
            node,
            &offsets,
            &src_row,
            Some(var),
            &mut |fb, q| {
                fb.ld64(q[0].0, q[0].1).op(I::I64Add);
            },
        ));
        div_round(fb, var, nrow as i64);
        fb.saturate(t.c64).set(mean);
        if mean_out.is_some() {
            fb.get(p[2].0).get(mean).store32(p[2].1);
        }
        // var (Q(2F), unsigned) = sum (x - mean)^2 / n; |x - mean| < 2^32, so each
        // square fits in a u64 and dividing each term by n keeps the sum in range
        fb.c64(0).set(var);
        r.push(walk_row(
            fb,
            node,
            &offsets,
            &src_row,
            Some(var),
            &mut |fb, q| {
                fb.ld64(q[0].0, q[0].1)
                    .get(mean)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Sub)
                    .tee(dev)
                    .get(dev)
                    .op(I::I64Mul)
                    .c64(nrow as i64)
                    .op(I::I64DivU)
                    .op(I::I64Add);
            },
        ));
        fb.get(var).c64(eps_q2).op(I::I64Add).set(var);
        nonlinear::emit_isqrt(fb, var, &t);
        // sqrt of a u64 is below 2^32: saturate to the i32 range
        fb.set(dev)
            .get(dev)
            .c64(i32::MAX as i64)
            .get(dev)
            .c64(i32::MAX as i64)
            .op(I::I64LtU)
            .op(I::Select);
        fb.op(I::I32WrapI64).set(sd);
        if inv_out.is_some() {
            // 1 / sd in Q(F): 2^(2F) / sd
            let (ip, io) = p[p.len() - 1];
            fb.c64(1).set(one);
            nonlinear::emit_div(fb, one, sd, 2 * f, &t);
            fb.set(y);
            fb.get(ip).get(y).store32(io);
        }
        // inv = 2^(F+30) / sd once per row (sd >= 1 because eps >= one unit);
        // |x - mean| <= sqrt(n) sd, so (x - mean) * inv stays below 2^(F+37)
        fb.c64(1i64 << (f + 30))
            .get(sd)
            .op(I::I64ExtendI32U)
            .op(I::I64DivS)
            .set(var);
        let streams = [
            (nd::Start::At(s, so), false),
            (nd::Start::At(d, dof), false),
            (nd::Start::Addr(gamma), true),
            (nd::Start::Addr(beta), true),
        ];
        r.push(walk_row(
            fb,
            node,
            &offsets,
            &streams,
            None,
            &mut |fb, q| {
                fb.ld64(q[0].0, q[0].1)
                    .get(mean)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Sub);
                fb.get(var)
                    .op(I::I64Mul)
                    .c64(1 << 29)
                    .op(I::I64Add)
                    .c64(30)
                    .op(I::I64ShrS);
                fb.saturate(t.c64).set(y);
                fb.get(q[1].0).get(y).op(I::I64ExtendI32S);
                fb.ld64(q[2].0, q[2].1).op(I::I64Mul);
                fb.ld64(q[3].0, q[3].1)
                    .c64(f as i64)
                    .op(I::I64Shl)
                    .op(I::I64Add);
                fb.rescale(f, t.c64).store32(q[1].1);
            },
        ));
        if let Some(e) = r.into_iter().find(|r| r.is_err()) {
            result = e;
        }
    });
    result
}

fn batch_norm(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let p: Vec<Vec<f64>> = (1..5)
        .map(|i| {
            node.input(i)
                .and_then(|v| g.konst(v))
                .map(|k| k.iter().copied().collect())
        })
        .collect::<Option<_>>()
        .ok_or_else(|| unsupported(node, "scale, bias, mean and variance must be constants"))?;
    let eps = node.float("epsilon", 1e-5) as f64;
    let c = xs[1];
    if node.int("training_mode", 0) != 0 {
        return batch_norm_training(ctx, node, fb, &p);
    }
    let scale: Vec<f64> = (0..c).map(|i| p[0][i] / (p[3][i] + eps).sqrt()).collect();
    let shift: Vec<f64> = (0..c).map(|i| p[1][i] - p[2][i] * scale[i]).collect();
    let sw = ctx.quantize(scale.into_iter(), Kind::Fixed);
    let bw = ctx.quantize(shift.into_iter(), Kind::Fixed);
    let sa = ctx.mem.words(&format!("bn.s.{}", node.name), &sw);
    let ba = ctx.mem.words(&format!("bn.b.{}", node.name), &bw);
    let mut pshape = vec![1; xs.len()];
    pshape[1] = c;
    let views = [
        View::contiguous(ctx.addr(node.outputs[0]), &xs),
        View::contiguous(ctx.addr(x), &xs),
        View::broadcast(sa, &pshape, &xs),
        View::broadcast(ba, &pshape, &xs),
    ];
    let t = fb.i64();
    for_each(fb, &xs, &views, &mut |fb, q| {
        fb.get(q[0].0)
            .ld64(q[1].0, q[1].1)
            .ld64(q[2].0, q[2].1)
            .op(I::I64Mul);
        fb.ld64(q[3].0, q[3].1)
            .c64(f as i64)
            .op(I::I64Shl)
            .op(I::I64Add)
            .rescale(f, t)
            .store32(q[0].1);
    });
    Ok(())
}

/// BatchNormalization with `training_mode = 1`: normalizes with the batch
/// statistics of each channel (over N and the spatial axes) and writes the
/// updated running mean and variance (`running * momentum + batch * (1 - momentum)`).
fn batch_norm_training(
    ctx: &mut Ctx,
    node: &Node,
    fb: &mut FuncBuilder,
    p: &[Vec<f64>],
) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let c = xs[1];
    let axes: Vec<usize> = (0..xs.len()).filter(|&i| i != 1).collect();
    let (oshape, src, offsets) = rows(&xs, ctx.addr(x), &axes);
    let (_, dst, _) = rows(&xs, ctx.addr(node.outputs[0]), &axes);
    let n = offsets.len();
    if n > MAX_ROW {
        return Err(unsupported(
            node,
            format!("normalizing {n} elements per channel is more than the supported {MAX_ROW}"),
        ));
    }
    let momentum = node.float("momentum", 0.9) as f64;
    let per_channel = |ctx: &mut Ctx, key: &str, vals: Vec<f64>| -> View {
        let words = ctx.quantize(vals.into_iter(), Kind::Fixed);
        View::contiguous(
            ctx.mem.words(&format!("bn.{key}.{}", node.name), &words),
            &[c],
        )
    };
    let mut views = vec![
        dst,
        src,
        per_channel(ctx, "gamma", p[0].clone()),
        per_channel(ctx, "beta", p[1].clone()),
        per_channel(ctx, "rmean", p[2].iter().map(|m| m * momentum).collect()),
        per_channel(ctx, "rvar", p[3].iter().map(|v| v * momentum).collect()),
    ];
    let stats: Vec<Option<usize>> = (1..3)
        .map(|i| {
            node.outputs
                .get(i)
                .copied()
                .filter(|&v| !g.values[v].name.is_empty())
        })
        .collect();
    for v in stats.iter().flatten() {
        views.push(View::contiguous(ctx.addr(*v), &[c]));
    }
    let keep = ctx.fmt.quantize(1.0 - momentum) as i64;
    let eps_q2 = ((node.float("epsilon", 1e-5) as f64) * ((1u64 << (2 * f)) as f64))
        .round()
        .max(1.0) as i64;
    let t = Temps::new(fb);
    let (mean, sd, y) = (fb.i32(), fb.i32(), fb.i32());
    let (var, dev) = (fb.i64(), fb.i64());
    for_each(fb, &oshape, &views, &mut |fb, q| {
        let (d, dof) = q[0];
        let (s, so) = q[1];
        fb.c64(0);
        for &o in &offsets {
            fb.ld64(s, so + o).op(I::I64Add);
        }
        fb.set(var);
        div_round(fb, var, n as i64);
        fb.saturate(t.c64).set(mean);
        // var (Q(2F)) = sum (x - mean)^2 / n
        fb.c64(0);
        for &o in &offsets {
            fb.ld64(s, so + o)
                .get(mean)
                .op(I::I64ExtendI32S)
                .op(I::I64Sub)
                .tee(dev)
                .get(dev)
                .op(I::I64Mul)
                .op(I::I64Add);
        }
        fb.c64(n as i64).op(I::I64DivS).set(var);
        let mut at = 6;
        if stats[0].is_some() {
            // running mean: rmean * momentum + mean * (1 - momentum)
            fb.get(q[at].0)
                .ld64(q[4].0, q[4].1)
                .c64(f as i64)
                .op(I::I64Shl)
                .get(mean)
                .op(I::I64ExtendI32S)
                .c64(keep)
                .op(I::I64Mul)
                .op(I::I64Add)
                .rescale(f, t.c64)
                .store32(q[at].1);
            at += 1;
        }
        if stats[1].is_some() {
            // running var: rvar * momentum + var * (1 - momentum); var is Q(2F)
            fb.get(q[at].0)
                .ld64(q[5].0, q[5].1)
                .c64(f as i64)
                .op(I::I64Shl)
                .get(var)
                .c64(1 << (f - 1))
                .op(I::I64Add)
                .c64(f as i64)
                .op(I::I64ShrS)
                .c64(keep)
                .op(I::I64Mul)
                .op(I::I64Add)
                .rescale(f, t.c64)
                .store32(q[at].1);
        }
        fb.get(var).c64(eps_q2).op(I::I64Add).set(var);
        nonlinear::emit_isqrt(fb, var, &t);
        fb.op(I::I32WrapI64).set(sd);
        for &o in &offsets {
            fb.ld64(s, so + o)
                .get(mean)
                .op(I::I64ExtendI32S)
                .op(I::I64Sub)
                .set(dev);
            nonlinear::emit_div(fb, dev, sd, f, &t);
            fb.set(y);
            fb.get(d).get(y).op(I::I64ExtendI32S);
            fb.ld64(q[2].0, q[2].1).op(I::I64Mul);
            fb.ld64(q[3].0, q[3].1)
                .c64(f as i64)
                .op(I::I64Shl)
                .op(I::I64Add);
            fb.rescale(f, t.c64).store32(dof + o);
        }
    });
    Ok(())
}

fn gather(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let (data, ind) = (node.input(0).unwrap(), node.input(1).unwrap());
    let ds = g.values[data].shape.clone();
    let axis = if node.op == "ArrayFeatureExtractor" {
        ds.len() - 1
    } else {
        norm_axis(node.int("axis", 0), ds.len(), node)?
    };
    let outer: usize = ds[..axis].iter().product();
    let inner: usize = ds[axis + 1..].iter().product();
    let dim = ds[axis];
    let nidx = g.values[ind].len();
    let da = ctx.addr(data);
    let ia = ctx.addr(ind);
    let oa = ctx.addr(node.outputs[0]);
    let (pi, po, src, k) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
    let pd = fb.i32();
    fb.c32(oa as i32).set(po);
    fb.c32(da as i32).set(pd);
    fb.repeat(outer, |fb| {
        fb.c32(ia as i32).set(pi);
        fb.repeat(nidx, |fb| {
            // k = index, negative wraps, then clamped into [0, dim - 1]
            fb.ld32(pi, 0)
                .tee(k)
                .c32(dim as i32)
                .op(I::I32Add)
                .get(k)
                .get(k)
                .c32(0)
                .op(I::I32LtS)
                .op(I::Select)
                .set(k);
            let hi = dim as i32 - 1;
            fb.get(k)
                .c32(hi)
                .get(k)
                .c32(hi)
                .op(I::I32LtS)
                .op(I::Select)
                .set(k);
            fb.get(k)
                .c32(0)
                .get(k)
                .c32(0)
                .op(I::I32GtS)
                .op(I::Select)
                .set(k);
            fb.get(k)
                .c32((inner * 4) as i32)
                .op(I::I32Mul)
                .get(pd)
                .op(I::I32Add)
                .set(src);
            for e in 0..inner {
                let o = (e * 4) as u32;
                fb.get(po).ld32(src, o).store32(o);
            }
            fb.bump(po, (inner * 4) as i64).bump(pi, 4);
        });
        fb.bump(pd, (dim * inner * 4) as i64);
    });
    Ok(())
}

fn linear_classifier(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let feats = *xs.last().unwrap();
    let n = if xs.len() == 2 { xs[0] } else { 1 };
    let classes: Vec<i64> = node.ints("classlabels_ints").unwrap().to_vec();
    let coef: Vec<f64> = match node.attrs.get("coefficients") {
        Some(Attr::Floats(c)) => c.iter().map(|&v| v as f64).collect(),
        _ => unreachable!(),
    };
    let nrows = coef.len() / feats;
    if nrows != classes.len() {
        return Err(unsupported(
            node,
            "binary LinearClassifier (one coefficient row) is not supported yet",
        ));
    }
    let intercepts: Vec<f64> = match node.attrs.get("intercepts") {
        Some(Attr::Floats(c)) => c.iter().map(|&v| v as f64).collect(),
        _ => vec![0.0; nrows],
    };
    let wq = ctx.quantize(coef.into_iter(), Kind::Fixed);
    let bq = ctx.quantize(intercepts.into_iter(), Kind::Fixed);
    let wa = ctx.mem.words(&format!("lc.w.{}", node.name), &wq);
    let ba = ctx.mem.words(&format!("lc.b.{}", node.name), &bq);
    let (label, scores) = (node.outputs[0], node.outputs[1]);
    let sa = ctx.addr(scores);
    let spec = MatMulSpec {
        a: ctx.addr(x),
        bt: wa,
        c: sa,
        m: n,
        n: nrows,
        k: feats,
        c_strides: ((nrows * 4) as i64, 4),
        bias: Some((ba, BiasAxis::Col)),
        shift: f,
        alpha: None,
        batch: None,
    };
    emit_matmul(fb, &spec, Rows::All);
    let post = node.str("post_transform").unwrap_or("NONE").to_string();
    match post.as_str() {
        "NONE" => {}
        "LOGISTIC" => {
            let lut = ctx.lut(Func::Sigmoid);
            let t = Temps::new(fb);
            let v = fb.i32();
            let view = View::contiguous(sa, &[n, nrows]);
            for_each(fb, &[n, nrows], &[view.clone(), view], &mut |fb, p| {
                fb.get(p[0].0).ld32(p[1].0, p[1].1).set(v);
                lut.emit(fb, v, &t);
                fb.store32(p[0].1);
            });
        }
        "SOFTMAX" => {
            let mut sm = node.clone();
            sm.op = "Softmax".into();
            sm.inputs = vec![Some(scores)];
            sm.outputs = vec![scores];
            sm.attrs.clear();
            sm.attrs.insert("axis".into(), Attr::Int(-1));
            softmax(ctx, &sm, fb)?;
        }
        other => {
            return Err(unsupported(
                node,
                format!("post_transform {other} is not supported (NONE, LOGISTIC, SOFTMAX are)"),
            ));
        }
    }
    // label = classes[argmax(scores)]
    let idx_tmp = ctx.mem.alloc((n * 4) as u64, 4);
    let t = Temps::new(fb);
    let (m, v, idx) = (fb.i32(), fb.i32(), fb.i32());
    let (oshape, src, offsets) = rows(&[n, nrows], sa, &[1]);
    let dst = View::contiguous(idx_tmp, &oshape);
    for_each(fb, &oshape, &[dst, src], &mut |fb, p| {
        let (s, so) = p[1];
        fb.get(p[0].0);
        fb.ld32(s, so).set(m).c32(0).set(idx);
        for (j, &o) in offsets.iter().enumerate().skip(1) {
            fb.ld32(s, so + o).tee(v).get(m).op(I::I32GtS).set(t.a32);
            fb.c32(j as i32).get(idx).get(t.a32).op(I::Select).set(idx);
            fb.get(v).get(m).get(t.a32).op(I::Select).set(m);
        }
        fb.get(idx).store32(p[0].1);
    });
    let cw: Vec<i32> = classes.iter().map(|&c| c as i32).collect();
    let ca = ctx.mem.words(&format!("lc.classes.{}", node.name), &cw);
    let la = ctx.addr(label);
    for_each(
        fb,
        &[n],
        &[View::contiguous(la, &[n]), View::contiguous(idx_tmp, &[n])],
        &mut |fb, p| {
            fb.get(p[0].0)
                .ld32(p[1].0, p[1].1)
                .c32(2)
                .op(I::I32Shl)
                .load32(ca)
                .store32(p[0].1);
        },
    );
    Ok(())
}

fn normalizer(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let f = ctx.fmt.frac_bits;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let norm = node.str("norm").unwrap_or("MAX").to_string();
    let last = xs.len() - 1;
    let (oshape, src, offsets) = rows(&xs, ctx.addr(x), &[last]);
    let (_, dst, _) = rows(&xs, ctx.addr(node.outputs[0]), &[last]);
    let t = Temps::new(fb);
    let (den, v) = (fb.i32(), fb.i32());
    let (acc, num) = (fb.i64(), fb.i64());
    for_each(fb, &oshape, &[dst, src], &mut |fb, p| {
        let (d, dof) = p[0];
        let (s, so) = p[1];
        fb.c64(0).set(acc);
        for &o in &offsets {
            fb.ld64(s, so + o).set(num);
            match norm.as_str() {
                "L1" => {
                    fb.get(num)
                        .c64(0)
                        .get(num)
                        .op(I::I64Sub)
                        .get(num)
                        .c64(0)
                        .op(I::I64GtS)
                        .op(I::Select);
                    fb.get(acc).op(I::I64Add).set(acc);
                }
                "L2" => {
                    fb.get(num)
                        .get(num)
                        .op(I::I64Mul)
                        .get(acc)
                        .op(I::I64Add)
                        .set(acc);
                }
                _ => {
                    fb.get(num)
                        .get(acc)
                        .get(num)
                        .get(acc)
                        .op(I::I64GtS)
                        .op(I::Select)
                        .set(acc);
                }
            }
        }
        if norm == "L2" {
            nonlinear::emit_isqrt(fb, acc, &t);
            fb.set(acc);
        }
        fb.get(acc).saturate(t.c64).set(den);
        for &o in &offsets {
            fb.ld64(s, so + o).set(num);
            nonlinear::emit_div(fb, num, den, f, &t);
            fb.set(v);
            fb.get(d).get(v).store32(dof + o);
        }
    });
    let _ = nd::MAX_UNROLL;
    Ok(())
}
