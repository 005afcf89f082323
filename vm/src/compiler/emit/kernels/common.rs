//! Helpers the operator families share: errors, copies through views, and
//! rows (the outer loop over kept axes, and walking or maximizing one row).

use crate::compiler::emit::func::{FuncBuilder, Local};
use crate::compiler::emit::nd::{self, View, for_each};
use crate::compiler::graph::Node;
use crate::error::{Error, Result};
use wasm_encoder::Instruction as I;

pub(super) fn unsupported(node: &Node, detail: impl Into<String>) -> Error {
    Error::UnsupportedUse {
        op: node.op.clone(),
        node: node.name.clone(),
        detail: detail.into(),
    }
}

/// Largest row a reduction unrolls (softmax, layer norm, reduce, argmax).
pub(super) const MAX_ROW: usize = 1 << 14;

/// Copies `shape` elements from `src` to `dst` views.
pub(crate) fn copy(fb: &mut FuncBuilder, shape: &[usize], src: View, dst: View) {
    let op = crate::plan::KernelOp::Copy {
        shape: shape.to_vec(),
        src: src.clone(),
        dst: dst.clone(),
    };
    fb.kernel(op, |fb| {
        for_each(fb, shape, &[dst, src], &mut |fb, p| {
            fb.get(p[0].0).ld32(p[1].0, p[1].1).store32(p[0].1);
        });
    });
}

/// Pushes `v / n` rounded half away from zero, for the i64 in `v` and `n > 0`.
pub(super) fn div_round(fb: &mut FuncBuilder, v: Local, n: i64) {
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

/// Outer loop over the kept axes, with the reduced elements of each row at
/// static offsets. Returns (outer shape, input outer view, row offsets).
pub(super) fn rows(shape: &[usize], base: u32, axes: &[usize]) -> (Vec<usize>, View, Vec<u32>) {
    let spec = crate::plan::RowSpec {
        shape: shape.to_vec(),
        axes: axes.to_vec(),
    };
    let l = spec.layout_unchecked();
    let view = View {
        base,
        strides: l.strides,
    };
    (l.outer, view, l.offsets)
}

/// Whether the kernels of rows with these offsets can be emitted: evenly
/// spaced rows loop, the others are unrolled up to [`MAX_ROW`].
pub(crate) fn row_fits(offsets: &[u32]) -> bool {
    even_spacing(offsets).is_some() || offsets.len() <= MAX_ROW
}

/// The error of a row [`walk_row`] cannot emit ([`row_fits`]).
pub(super) fn check_row(node: &Node, offsets: &[u32]) -> Result<()> {
    if row_fits(offsets) {
        return Ok(());
    }
    Err(unsupported(
        node,
        format!(
            "a row of {} elements over non-adjacent axes is more than the supported {MAX_ROW}; transpose the reduced axes together first",
            offsets.len()
        ),
    ))
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
/// non-adjacent axes is unrolled at static offsets (the caller checked it
/// with [`check_row`]).
pub(super) fn walk_row(
    fb: &mut FuncBuilder,
    offsets: &[u32],
    starts: &[(nd::Start, bool)],
    carry: Option<Local>,
    body: nd::Body<'_>,
) {
    let begin: Vec<nd::Start> = starts.iter().map(|s| s.0).collect();
    if let Some(d) = even_spacing(offsets) {
        let strides: Vec<i64> = starts.iter().map(|s| if s.1 { 4 } else { d }).collect();
        nd::row_walk(fb, offsets.len(), &begin, &strides, carry, body);
        return;
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
}

/// The maximum of the row at `start` into local `m` (`v` is scratch).
pub(super) fn row_max(
    fb: &mut FuncBuilder,
    offsets: &[u32],
    start: (Local, u32),
    m: Local,
    v: Local,
) {
    fb.ld32(start.0, start.1).set(m);
    let row = [(nd::Start::At(start.0, start.1), false)];
    walk_row(fb, offsets, &row, None, &mut |fb, q| {
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
