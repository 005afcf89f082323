//! Reductions over rows: ReduceMean/Sum/Max, ArgMax, GlobalAveragePool,
//! Softmax and LogSoftmax.

use super::common::{self, check_row, div_round, row_max, walk_row};
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{self, View};
use crate::compiler::emit::nonlinear::{self, Func, Lut, Temps};
use crate::compiler::graph::Node;
use crate::compiler::infer::{norm_axis, reduce_axes};
use crate::error::Result;
use crate::fixed::FixedFormat;
use crate::plan::{KernelOp, ReduceOp, RowSpec};
use wasm_encoder::Instruction as I;

/// GlobalAveragePool: the mean over the spatial axes.
pub(super) fn global_average_pool(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0);
    let xs = g.values[x.unwrap()].shape.clone();
    let axes: Vec<usize> = (2..xs.len()).collect();
    reduce(ctx, node, fb, &axes, ReduceOp::Mean)?;
    Ok(())
}

/// ReduceMean, ReduceSum, ReduceMax and ArgMax over the node's axes.
pub(super) fn reduce_op(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0);
    let xs = &g.values[x.unwrap()].shape;
    let axes = reduce_axes(g, node, xs.len())?;
    let how = match node.op.as_str() {
        "ReduceMean" => ReduceOp::Mean,
        "ReduceSum" => ReduceOp::Sum,
        "ReduceMax" => ReduceOp::Max,
        _ => ReduceOp::ArgMax {
            last: node.int("select_last_index", 0) != 0,
        },
    };
    reduce(ctx, node, fb, &axes, how)?;
    Ok(())
}

fn reduce(
    ctx: &mut Ctx,
    node: &Node,
    fb: &mut FuncBuilder,
    axes: &[usize],
    how: ReduceOp,
) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let rows = RowSpec {
        shape: g.values[x].shape.clone(),
        axes: axes.to_vec(),
    };
    let src = ctx.addr(x);
    check_row(node, &rows.layout_unchecked().offsets)?;
    let dst = ctx.addr(node.outputs[0]);
    emit_reduce(fb, &rows, src, dst, how);
    Ok(())
}

/// The kernel of [`KernelOp::Reduce`].
pub(crate) fn emit_reduce(fb: &mut FuncBuilder, rows: &RowSpec, src: u32, dst: u32, how: ReduceOp) {
    let plan = KernelOp::Reduce {
        rows: rows.clone(),
        src,
        dst,
        op: how,
    };
    fb.kernel(plan, |fb| {
        let (oshape, src, offsets) = common::rows(&rows.shape, src, &rows.axes);
        let n = offsets.len();
        let dst = View::contiguous(dst, &oshape);
        let t = Temps::new(fb);
        let (m, v, idx, at) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
        nd::for_each_unrolled(fb, &oshape, &[dst, src], 1, &mut |fb, p| {
            let (s, so) = p[1];
            let row = [(nd::Start::At(s, so), false)];
            match how {
                ReduceOp::Sum | ReduceOp::Mean => {
                    fb.c64(0).set(t.a64);
                    walk_row(fb, &offsets, &row, Some(t.a64), &mut |fb, q| {
                        fb.ld64(q[0].0, q[0].1).op(I::I64Add);
                    });
                    if how == ReduceOp::Mean {
                        div_round(fb, t.a64, n as i64);
                    } else {
                        fb.get(t.a64);
                    }
                    fb.saturate(t.c64).set(v);
                }
                ReduceOp::Max => {
                    row_max(fb, &offsets, (s, so), m, v);
                    fb.get(m).set(v);
                }
                ReduceOp::ArgMax { last } => {
                    // `at` counts the elements walked, so the row can loop; the
                    // first element compared with itself changes nothing
                    fb.ld32(s, so + offsets[0])
                        .set(m)
                        .c32(0)
                        .set(idx)
                        .c32(0)
                        .set(at);
                    walk_row(fb, &offsets, &row, None, &mut |fb, q| {
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
                }
            }
            fb.get(p[0].0).get(v).store32(p[0].1);
        });
    });
}

pub(super) fn softmax(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let rank = xs.len();
    let axes: Vec<usize> = if g.opset < 13 {
        let a = norm_axis(node.int("axis", 1), rank, node)?;
        (a..rank).collect()
    } else {
        vec![norm_axis(node.int("axis", -1), rank, node)?]
    };
    let rows = RowSpec { shape: xs, axes };
    let src = ctx.addr(x);
    let dst = ctx.addr(node.outputs[0]);
    let exp2 = ctx.lut(Func::Exp2Frac);
    // (placed for Softmax too: the memory image keeps the table)
    let ln = ctx.lut(Func::LnOctave);
    check_row(node, &rows.layout_unchecked().offsets)?;
    let ln = (node.op == "LogSoftmax").then_some(ln);
    emit_softmax(fb, &rows, src, dst, ctx.fmt.frac_bits, exp2, ln);
    Ok(())
}

/// The kernel of [`KernelOp::Softmax`].
pub(crate) fn emit_softmax(
    fb: &mut FuncBuilder,
    rows: &RowSpec,
    src: u32,
    dst: u32,
    f: u32,
    exp2: Lut,
    ln: Option<Lut>,
) {
    let plan = KernelOp::Softmax {
        rows: rows.clone(),
        src,
        dst,
        frac_bits: f,
        exp2,
        ln,
    };
    fb.kernel(plan, |fb| {
        let fmt = FixedFormat::new(f);
        let (oshape, src, offsets) = common::rows(&rows.shape, src, &rows.axes);
        let (_, dst, _) = common::rows(&rows.shape, dst, &rows.axes);
        let t = Temps::new(fb);
        let (m, v, e) = (fb.i32(), fb.i32(), fb.i32());
        let (sum, num) = (fb.i64(), fb.i64());
        let lse = fb.i32();
        nd::for_each_unrolled(fb, &oshape, &[dst, src], 1, &mut |fb, p| {
            let (d, dof) = p[0];
            let (s, so) = p[1];
            let both = [
                (nd::Start::At(d, dof), false),
                (nd::Start::At(s, so), false),
            ];
            row_max(fb, &offsets, (s, so), m, v);
            // e_j = exp(x_j - max) stored in the output; sum in i64
            fb.c64(0).set(sum);
            walk_row(fb, &offsets, &both, None, &mut |fb, q| {
                fb.ld64(q[1].0, q[1].1)
                    .get(m)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Sub)
                    .saturate(t.c64)
                    .set(v);
                nonlinear::emit_exp(fb, fmt, &exp2, v, &t);
                fb.set(e);
                if ln.is_none() {
                    fb.get(q[0].0).get(e).store32(q[0].1);
                }
                fb.get(sum)
                    .get(e)
                    .op(I::I64ExtendI32S)
                    .op(I::I64Add)
                    .set(sum);
            });
            if let Some(ln) = ln {
                // y = x - max - ln(sum)
                fb.get(sum).saturate(t.c64).set(v);
                nonlinear::emit_ln(fb, fmt, &ln, v, &t);
                fb.set(lse);
                walk_row(fb, &offsets, &both, None, &mut |fb, q| {
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
                });
            } else {
                // y = e_j / sum as e_j * (2^(F+30) / sum) >> 30: one division per
                // row; sum >= 1.0 (the maximum contributes exp(0)), so inv <= 2^30
                fb.c64(1i64 << (f + 30)).get(sum).op(I::I64DivS).set(num);
                walk_row(fb, &offsets, &both[..1], None, &mut |fb, q| {
                    fb.get(q[0].0).ld64(q[0].0, q[0].1).get(num).op(I::I64Mul);
                    fb.c64(1 << 29).op(I::I64Add).c64(30).op(I::I64ShrS);
                    fb.saturate(t.c64).store32(q[0].1);
                });
            }
        });
    });
}
