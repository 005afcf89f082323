//! Normalization: LayerNormalization and BatchNormalization (inference and
//! training mode).

use super::common::{MAX_ROW, check_row, div_round, rows, unsupported, walk_row};
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{self, View, for_each};
use crate::compiler::emit::nonlinear::{self, Temps};
use crate::compiler::graph::{Kind, Node};
use crate::compiler::infer::norm_axis;
use crate::error::Result;
use crate::plan::{KernelOp, LayerNormSpec, RowSpec};
use wasm_encoder::Instruction as I;

pub(super) fn layer_norm(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
    let eps = ((node.float("epsilon", 1e-5) as f64) * ((1u64 << (2 * f)) as f64))
        .round()
        .max(1.0) as i64;
    check_row(node, &offsets)?;
    let row_spec = RowSpec { shape: xs, axes };
    emit_layer_norm(
        fb,
        &LayerNormSpec {
            rows: row_spec,
            src: src.base,
            dst: dst.base,
            gamma,
            beta,
            mean: mean_out.map(|v| v.base),
            inv_std_dev: inv_out.map(|v| v.base),
            eps,
            frac_bits: f,
        },
    );
    Ok(())
}

/// The kernel of [`KernelOp::LayerNorm`].
pub(crate) fn emit_layer_norm(fb: &mut FuncBuilder, spec: &LayerNormSpec) {
    let plan = KernelOp::LayerNorm { spec: spec.clone() };
    fb.kernel(plan, |fb| {
        let f = spec.frac_bits;
        let (gamma, beta, eps_q2) = (spec.gamma, spec.beta, spec.eps);
        let (oshape, src, offsets) = rows(&spec.rows.shape, spec.src, &spec.rows.axes);
        let (_, dst, _) = rows(&spec.rows.shape, spec.dst, &spec.rows.axes);
        let nrow = offsets.len();
        let mean_out = spec.mean.map(|a| View::contiguous(a, &oshape));
        let inv_out = spec.inv_std_dev.map(|a| View::contiguous(a, &oshape));
        let mut views = vec![dst, src];
        views.extend(mean_out.clone());
        views.extend(inv_out.clone());
        let one = fb.i64();
        let t = Temps::new(fb);
        let (mean, sd, y) = (fb.i32(), fb.i32(), fb.i32());
        let (var, dev) = (fb.i64(), fb.i64());
        nd::for_each_unrolled(fb, &oshape, &views, 1, &mut |fb, p| {
            let (d, dof) = p[0];
            let (s, so) = p[1];
            let src_row = [(nd::Start::At(s, so), false)];
            fb.c64(0).set(var);
            walk_row(fb, &offsets, &src_row, Some(var), &mut |fb, q| {
                fb.ld64(q[0].0, q[0].1).op(I::I64Add);
            });
            div_round(fb, var, nrow as i64);
            fb.saturate(t.c64).set(mean);
            if mean_out.is_some() {
                fb.get(p[2].0).get(mean).store32(p[2].1);
            }
            // var (Q(2F), unsigned) = sum (x - mean)^2 / n; |x - mean| < 2^32, so each
            // square fits in a u64 and dividing each term by n keeps the sum in range
            fb.c64(0).set(var);
            walk_row(fb, &offsets, &src_row, Some(var), &mut |fb, q| {
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
            });
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
            walk_row(fb, &offsets, &streams, None, &mut |fb, q| {
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
            });
        });
    });
}

pub(super) fn batch_norm(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
    emit_scale_shift(fb, &xs, views.to_vec(), f);
    Ok(())
}

/// The kernel of [`KernelOp::ScaleShift`].
pub(crate) fn emit_scale_shift(fb: &mut FuncBuilder, shape: &[usize], views: Vec<View>, f: u32) {
    let plan = KernelOp::ScaleShift {
        shape: shape.to_vec(),
        views: views.clone(),
        frac_bits: f,
    };
    fb.kernel(plan, |fb| {
        let t = fb.i64();
        for_each(fb, shape, &views, &mut |fb, q| {
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
    });
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
