//! Convolution and pooling: Conv (as a dense product over patches) and
//! MaxPool / AveragePool over padded buffers.

use super::common::{copy, unsupported};
use super::dense::{BiasAxis, MatMulSpec, Rows, const_matrix, emit_matmul};
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nd::{View, contiguous_strides, for_each};
use crate::compiler::emit::nonlinear::Temps;
use crate::compiler::graph::{Kind, Node};
use crate::compiler::infer::window;
use crate::error::Result;
use crate::plan::{KernelOp, PoolOp, PoolSpec};
use wasm_encoder::Instruction as I;

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

pub(super) fn conv(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
pub(super) fn pool(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
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
    let plane: usize = pdims.iter().product();
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
    let padded = if pdims == sp {
        None
    } else {
        let addr = ctx.mem.alloc((c * plane * 4) as u64, 4);
        if fill != 0 {
            ctx.mem.init_at(addr, &vec![fill; c * plane]);
        }
        Some(addr)
    };
    let op = if is_max {
        PoolOp::Max {
            indices: indices.map(|v| (ctx.addr(v), storage_order != 0)),
        }
    } else {
        PoolOp::Average { recip }
    };
    let spec = PoolSpec {
        x: xa,
        y: ya,
        batch: nb,
        channels: c,
        spatial: sp,
        out: os,
        kernel,
        strides: win.strides,
        dilations: win.dilations,
        pads_begin: win.pads_begin,
        pads_end: pe,
        padded,
        op,
    };
    emit_pool(fb, &spec);
    Ok(())
}

/// The kernel of [`KernelOp::Pool`].
pub(crate) fn emit_pool(fb: &mut FuncBuilder, spec: &PoolSpec) {
    let plan = KernelOp::Pool { spec: spec.clone() };
    fb.kernel(plan, |fb| {
        let (nb, c, d) = (spec.batch, spec.channels, spec.spatial.len());
        let (sp, os, kernel) = (&spec.spatial, &spec.out, &spec.kernel);
        let (xa, ya) = (spec.x, spec.y);
        let pdims: Vec<usize> = (0..d)
            .map(|i| sp[i] + spec.pads_begin[i] + spec.pads_end[i])
            .collect();
        let pstr = contiguous_strides(&pdims);
        let plane: usize = pdims.iter().product();
        let in_plane: usize = sp.iter().product();
        let out_plane: usize = os.iter().product();
        let (is_max, indices, recip) = match spec.op {
            PoolOp::Max { indices } => (true, indices, 0),
            PoolOp::Average { recip } => (false, None, recip),
        };
        let column_major = indices.is_some_and(|i| i.1);
        // Flat-index strides of the spatial axes of the input.
        let istr: Vec<i64> = if !column_major {
            contiguous_strides(sp)
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
        // Window element offsets: bytes in the padded buffer, and flat input index.
        let mut offsets: Vec<(u32, i64)> = vec![(0, 0)];
        for ax in 0..d {
            let mut next = Vec::with_capacity(offsets.len() * kernel[ax]);
            for &(o, io) in &offsets {
                for kk in 0..kernel[ax] {
                    let step = (kk * spec.dilations[ax]) as i64;
                    next.push((
                        o + (step * pstr[ax] * 4) as u32,
                        io + (step - spec.pads_begin[ax] as i64) * istr[ax],
                    ));
                }
            }
            offsets = next;
        }
        for bi in 0..nb {
            let src_in = xa + (bi * c * in_plane * 4) as u32;
            let xp = match spec.padded {
                None => src_in,
                Some(addr) => {
                    let interior: u32 = (0..d)
                        .map(|i| (spec.pads_begin[i] as i64 * pstr[i] * 4) as u32)
                        .sum();
                    let mut strides = vec![(plane * 4) as i64];
                    strides.extend(pstr.iter().map(|s| s * 4));
                    let mut shape = vec![c];
                    shape.extend(sp);
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
            loop_shape.extend(os);
            let mut src_strides = vec![(plane * 4) as i64];
            src_strides.extend((0..d).map(|i| spec.strides[i] as i64 * pstr[i] * 4));
            let src = View {
                base: xp,
                strides: src_strides,
            };
            let dst = View::contiguous(ya + (bi * c * out_plane * 4) as u32, &loop_shape);
            let mut rv_strides = vec![0i64];
            rv_strides.extend(contiguous_strides(os).iter().map(|s| s * 4));
            let rv = View {
                base: recip,
                strides: rv_strides,
            };
            let mut views = vec![dst, src, rv];
            if let Some((ia, _)) = indices {
                // flat index of the window origin (may be negative: i32 arithmetic wraps)
                let mut strides = vec![in_plane as i64];
                strides.extend((0..d).map(|i| spec.strides[i] as i64 * istr[i]));
                views.push(View {
                    base: (bi * c * in_plane) as u32,
                    strides,
                });
                views.push(View::contiguous(
                    ia + (bi * c * out_plane * 4) as u32,
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
    });
}
