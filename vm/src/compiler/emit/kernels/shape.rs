//! Shape and data movement: aliases and copies through views (Reshape,
//! Transpose, Expand, Slice, Concat) and Gather.

use super::common::copy;
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{View, contiguous_strides};
use crate::compiler::graph::Node;
use crate::compiler::infer::{norm_axis, slice_plan, split_sizes, transpose_perm};
use crate::error::Result;
use crate::plan::{GatherSpec, KernelOp};
use wasm_encoder::Instruction as I;

/// Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze: an alias of the
/// input when possible (returns false: no code), else a copy.
pub(super) fn reshape(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<bool> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let out = node.outputs[0];
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
    Ok(true)
}

/// Transpose: a copy through a permuted view.
pub(super) fn transpose(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let out = node.outputs[0];
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
    Ok(())
}

/// Expand: a copy from a broadcast view.
pub(super) fn expand(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let out = node.outputs[0];
    let os = g.values[out].shape.clone();
    let src = View::broadcast(ctx.addr(x), &g.values[x].shape, &os);
    let dst = View::contiguous(ctx.addr(out), &os);
    copy(fb, &os, src, dst);
    Ok(())
}

/// Slice: a copy from a strided view.
pub(super) fn slice(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let out = node.outputs[0];
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
    Ok(())
}

/// Concat: each input copied into its place along the axis.
pub(super) fn concat(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let out = node.outputs[0];
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
    Ok(())
}

/// Split: each output copied from its range along the axis.
pub(super) fn split(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let x = node.input(0).unwrap();
    let xs = g.values[x].shape.clone();
    let (axis, sizes) = split_sizes(g, node)?;
    let strides: Vec<i64> = contiguous_strides(&xs).iter().map(|s| s * 4).collect();
    let base = ctx.addr(x);
    let mut at = 0usize;
    for (&out, &size) in node.outputs.iter().zip(&sizes) {
        let os = g.values[out].shape.clone();
        let src = View {
            base: base + (at as i64 * strides[axis]) as u32,
            strides: strides.clone(),
        };
        let dst = View::contiguous(ctx.addr(out), &os);
        copy(fb, &os, src, dst);
        at += size;
    }
    Ok(())
}

pub(super) fn gather(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
    let spec = GatherSpec {
        data: ctx.addr(data),
        indices: ctx.addr(ind),
        out: ctx.addr(node.outputs[0]),
        outer,
        count: nidx,
        dim,
        inner,
    };
    emit_gather(fb, &spec);
    Ok(())
}

/// The kernel of [`KernelOp::Gather`].
pub(crate) fn emit_gather(fb: &mut FuncBuilder, spec: &GatherSpec) {
    let plan = KernelOp::Gather { spec: spec.clone() };
    fb.kernel(plan, |fb| {
        let GatherSpec {
            data: da,
            indices: ia,
            out: oa,
            outer,
            count: nidx,
            dim,
            inner,
        } = *spec;
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
    });
}
