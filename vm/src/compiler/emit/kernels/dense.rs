//! Dense products: MatMul and Gemm, and the row-segmented product emitter
//! that Conv and LinearClassifier reuse.

use super::common::{copy, unsupported};
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::{FuncBuilder, Local};
use crate::compiler::emit::nd::{View, contiguous_strides};
use crate::compiler::graph::{Kind, Node, ValueId};
use crate::error::Result;
use wasm_encoder::Instruction as I;

pub(super) use crate::plan::{BiasAxis, MatMulSpec, Rows};

const DOT_UNROLL: usize = 32;

/// Dense product `C[i][j] = sum_k A[i][k] * BT[j][k] (+ bias)`, rescaled to Q(F).
///
/// Both operands are walked contiguously along `k`, unrolled by up to 32 with
/// static offsets: 6 instructions per multiply-accumulate plus loop overhead.
pub(crate) fn emit_matmul(fb: &mut FuncBuilder, s: &MatMulSpec, rows: Rows) {
    let op = crate::plan::KernelOp::MatMul {
        spec: s.clone(),
        rows,
    };
    fb.kernel(op, |fb| matmul_code(fb, s, rows));
}

fn matmul_code(fb: &mut FuncBuilder, s: &MatMulSpec, rows: Rows) {
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
/// that no call runs much more than [`crate::compiler::emit::SEGMENT_STEPS`] steps. `rows` is the
/// flattened `(batch, row)` count.
fn segmented_matmul(ctx: &mut Ctx, s: &MatMulSpec, rows: usize) {
    let mut fb = FuncBuilder::with_params(2);
    emit_matmul(&mut fb, s, Rows::Params);
    let per_row = s.n * (s.k * 6 + 24) + 24;
    let step = (crate::compiler::emit::SEGMENT_STEPS as usize / per_row).clamp(1, rows.max(1));
    let mut calls = vec![];
    let mut first = 0;
    while first < rows {
        let count = step.min(rows - first);
        // rows first..first+count: the bounding range of their outputs
        let lo = s.c as i64 + first as i64 * s.c_strides.0;
        let last = lo + (count as i64 - 1) * s.c_strides.0 + (s.n as i64 - 1) * s.c_strides.1;
        calls.push(crate::compiler::emit::Call {
            args: vec![first as u32, count as u32],
            writes: vec![[lo as u32, (last + 4 - lo) as u32]],
        });
        first += count;
    }
    ctx.pieces.push(crate::compiler::emit::Piece { fb, calls });
}

/// A constant matrix `[rows][cols]` (row-major, possibly via a transposed view)
/// placed as contiguous quantized words.
pub(super) fn const_matrix(
    ctx: &mut Ctx,
    v: ValueId,
    transpose: bool,
    scale: f64,
    key: &str,
) -> u32 {
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

pub(super) fn matmul(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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

pub(super) fn gemm(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
