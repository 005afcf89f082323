//! Reductions over rows: ReduceMean/Sum/Max, ArgMax, GlobalAveragePool,
//! Softmax and LogSoftmax.

use super::common::{div_round, row_max, rows, walk_row};
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{self, View};
use crate::compiler::emit::nonlinear::{self, Func, Temps};
use crate::compiler::graph::Node;
use crate::compiler::infer::{norm_axis, reduce_axes};
use crate::error::Result;
use wasm_encoder::Instruction as I;

/// GlobalAveragePool: the mean over the spatial axes.
pub(super) fn global_average_pool(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0);
    let xs = g.values[x.unwrap()].shape.clone();
    let axes: Vec<usize> = (2..xs.len()).collect();
    reduce(ctx, node, fb, &axes, Reduce::Mean)?;
    Ok(())
}

/// ReduceMean, ReduceSum, ReduceMax and ArgMax over the node's axes.
pub(super) fn reduce_op(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0);
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
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Reduce {
    Sum,
    Mean,
    Max,
    ArgMax { last: bool },
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
    let dst = View::contiguous(ctx.addr(node.outputs[0]), &oshape);
    let t = Temps::new(fb);
    let (m, v, idx, at) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
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
                // `at` counts the elements walked, so the row can loop; the
                // first element compared with itself changes nothing
                fb.ld32(s, so + offsets[0])
                    .set(m)
                    .c32(0)
                    .set(idx)
                    .c32(0)
                    .set(at);
                let r = walk_row(fb, node, &offsets, &row, None, &mut |fb, q| {
                    // take the element when it is greater (or equal, for select_last_index)
                    fb.ld32(q[0].0, q[0].1)
                        .tee(v)
                        .get(m)
                        .op(if last { I::I32GeS } else { I::I32GtS })
                        .set(t.a32);
                    fb.get(at).get(idx).get(t.a32).op(I::Select).set(idx);
                    fb.get(v).get(m).get(t.a32).op(I::Select).set(m);
                    fb.bump(at, 1);
                });
                fb.get(idx).set(v);
                r
            }
        };
        if r.is_err() {
            result = r;
        }
        fb.get(p[0].0).get(v).store32(p[0].1);
    });
    result
}

pub(super) fn softmax(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
