//! ONNX-ML classifiers and transforms: LinearClassifier and Normalizer.

use super::common::{self, check_row, rows, unsupported, walk_row};
use super::dense::{BiasAxis, MatMulSpec, Rows, emit_matmul};
use super::reduce::softmax;
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{self, View, for_each};
use crate::compiler::emit::nonlinear::{self, Func, Temps};
use crate::compiler::graph::{Attr, Kind, Node};
use crate::error::Result;
use crate::plan::{KernelOp, NormalizeOp, RowSpec};
use wasm_encoder::Instruction as I;

pub(super) fn linear_classifier(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
    // label = classes[argmax(scores)]; one row loop per sample (see ArgMax)
    let idx_tmp = ctx.mem.alloc((n * 4) as u64, 4);
    let t = Temps::new(fb);
    let (m, v, idx, at) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
    let (oshape, src, offsets) = rows(&[n, nrows], sa, &[1]);
    let dst = View::contiguous(idx_tmp, &oshape);
    check_row(node, &offsets)?;
    nd::for_each_unrolled(fb, &oshape, &[dst, src], 1, &mut |fb, p| {
        let (s, so) = p[1];
        fb.ld32(s, so).set(m).c32(0).set(idx).c32(0).set(at);
        let row = [(nd::Start::At(s, so), false)];
        walk_row(fb, &offsets, &row, None, &mut |fb, q| {
            fb.ld32(q[0].0, q[0].1)
                .tee(v)
                .get(m)
                .op(I::I32GtS)
                .set(t.a32);
            fb.get(at).get(idx).get(t.a32).op(I::Select).set(idx);
            fb.get(v).get(m).get(t.a32).op(I::Select).set(m);
            fb.bump(at, 1);
        });
        fb.get(p[0].0).get(idx).store32(p[0].1);
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

pub(super) fn normalizer(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let norm = match node.str("norm").unwrap_or("MAX") {
        "L1" => NormalizeOp::L1,
        "L2" => NormalizeOp::L2,
        _ => NormalizeOp::Max,
    };
    let rows = RowSpec {
        axes: vec![xs.len() - 1],
        shape: xs,
    };
    let (src, dst) = (ctx.addr(x), ctx.addr(node.outputs[0]));
    check_row(node, &rows.layout_unchecked().offsets)?;
    emit_normalize(fb, &rows, src, dst, norm, ctx.fmt.frac_bits);
    Ok(())
}

/// The kernel of [`KernelOp::Normalize`].
pub(crate) fn emit_normalize(
    fb: &mut FuncBuilder,
    rows: &RowSpec,
    src: u32,
    dst: u32,
    norm: NormalizeOp,
    f: u32,
) {
    let plan = KernelOp::Normalize {
        rows: rows.clone(),
        src,
        dst,
        norm,
        frac_bits: f,
    };
    fb.kernel(plan, |fb| {
        let (oshape, src, offsets) = common::rows(&rows.shape, src, &rows.axes);
        let (_, dst, _) = common::rows(&rows.shape, dst, &rows.axes);
        let t = Temps::new(fb);
        let (den, v) = (fb.i32(), fb.i32());
        let (acc, num) = (fb.i64(), fb.i64());
        nd::for_each_unrolled(fb, &oshape, &[dst, src], 1, &mut |fb, p| {
            let (d, dof) = p[0];
            let (s, so) = p[1];
            let from = [(nd::Start::At(s, so), false)];
            fb.c64(0).set(acc);
            walk_row(fb, &offsets, &from, None, &mut |fb, q| {
                fb.ld64(q[0].0, q[0].1).set(num);
                match norm {
                    NormalizeOp::L1 => {
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
                    NormalizeOp::L2 => {
                        fb.get(num)
                            .get(num)
                            .op(I::I64Mul)
                            .get(acc)
                            .op(I::I64Add)
                            .set(acc);
                    }
                    NormalizeOp::Max => {
                        fb.get(num)
                            .get(acc)
                            .get(num)
                            .get(acc)
                            .op(I::I64GtS)
                            .op(I::Select)
                            .set(acc);
                    }
                }
            });
            if norm == NormalizeOp::L2 {
                nonlinear::emit_isqrt(fb, acc, &t);
                fb.set(acc);
            }
            fb.get(acc).saturate(t.c64).set(den);
            let both = [
                (nd::Start::At(d, dof), false),
                (nd::Start::At(s, so), false),
            ];
            walk_row(fb, &offsets, &both, None, &mut |fb, q| {
                fb.ld64(q[1].0, q[1].1).set(num);
                nonlinear::emit_div(fb, num, den, f, &t);
                fb.set(v);
                fb.get(q[0].0).get(v).store32(q[0].1);
            });
        });
    });
}
