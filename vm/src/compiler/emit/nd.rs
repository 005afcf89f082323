//! Strided loop nests: the one mechanism behind elementwise ops, broadcasting
//! and all data movement (transpose, slice, concat, expand, im2col rows).
//!
//! Every address is an affine function of the loop counters with strides known
//! at compile time, so the loops have static trip counts and the innermost
//! dimension is unrolled with static `offset` immediates.

use super::func::{FuncBuilder, Local};

pub(crate) use crate::plan::View;

impl View {
    /// A contiguous row-major view of `shape` at `base`.
    pub(crate) fn contiguous(base: u32, shape: &[usize]) -> View {
        View {
            base,
            strides: contiguous_strides(shape).iter().map(|s| s * 4).collect(),
        }
    }

    /// A view of a tensor of shape `shape` broadcast to `out_shape` (numpy rules).
    pub(crate) fn broadcast(base: u32, shape: &[usize], out_shape: &[usize]) -> View {
        let own = contiguous_strides(shape);
        let lead = out_shape.len() - shape.len();
        let strides = (0..out_shape.len())
            .map(|i| {
                if i < lead || shape[i - lead] == 1 {
                    0
                } else {
                    own[i - lead] * 4
                }
            })
            .collect();
        View { base, strides }
    }
}

/// Row-major element strides.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

/// Merges dimensions that every view walks contiguously and drops size-1 dimensions.
fn coalesce(dims: &[usize], views: &[View]) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut out_dims: Vec<usize> = vec![];
    let mut out_strides: Vec<Vec<i64>> = vec![vec![]; views.len()];
    for (d, &n) in dims.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !out_dims.is_empty()
            && views
                .iter()
                .enumerate()
                .all(|(k, v)| *out_strides[k].last().unwrap() == v.strides[d] * n as i64);
        if mergeable {
            *out_dims.last_mut().unwrap() *= n;
            for (k, v) in views.iter().enumerate() {
                *out_strides[k].last_mut().unwrap() = v.strides[d];
            }
        } else {
            out_dims.push(n);
            for (k, v) in views.iter().enumerate() {
                out_strides[k].push(v.strides[d]);
            }
        }
    }
    if out_dims.is_empty() {
        out_dims.push(1);
        for s in &mut out_strides {
            s.push(0);
        }
    }
    (out_dims, out_strides)
}

/// The per-element code of a loop nest: gets, per view, the pointer local and
/// the static byte offset of the element.
pub(crate) type Body<'a> = &'a mut dyn FnMut(&mut FuncBuilder, &[(Local, u32)]);

/// Largest unroll factor used for innermost loops.
pub(crate) const MAX_UNROLL: usize = 16;

/// Emits a loop nest over `dims`; `body` is called once per element of an
/// unrolled chunk with, per view, the pointer local and static byte offset of
/// that element.
pub(crate) fn for_each(fb: &mut FuncBuilder, dims: &[usize], views: &[View], body: Body<'_>) {
    for_each_unrolled(fb, dims, views, MAX_UNROLL, body)
}

/// [`for_each`] unrolling the innermost loop by at most `unroll` (1 for
/// bodies that are loops themselves, such as a row of a reduction).
pub(crate) fn for_each_unrolled(
    fb: &mut FuncBuilder,
    dims: &[usize],
    views: &[View],
    unroll: usize,
    body: Body<'_>,
) {
    if dims.iter().product::<usize>() == 0 {
        return;
    }
    let (dims, strides) = coalesce(dims, views);
    let ptrs: Vec<Local> = views
        .iter()
        .map(|v| {
            let p = fb.i32();
            fb.c32(v.base as i32).set(p);
            p
        })
        .collect();
    level(fb, &dims, &strides, 0, &ptrs, unroll.max(1), body);
}

fn level(
    fb: &mut FuncBuilder,
    dims: &[usize],
    strides: &[Vec<i64>],
    d: usize,
    parent: &[Local],
    max_unroll: usize,
    body: Body<'_>,
) {
    let last = d + 1 == dims.len();
    // Pointers that move at this level need their own copy, reset from the parent.
    let ptrs: Vec<Local> = parent
        .iter()
        .enumerate()
        .map(|(k, &p)| {
            let moves = strides[k][d] != 0;
            if moves && d > 0 {
                let q = fb.i32();
                fb.get(p).set(q);
                q
            } else {
                p
            }
        })
        .collect();
    let n = dims[d];
    if !last {
        fb.repeat(n, |fb| {
            level(fb, dims, strides, d + 1, &ptrs, max_unroll, body);
            for (k, &p) in ptrs.iter().enumerate() {
                fb.bump(p, strides[k][d]);
            }
        });
        return;
    }
    let any_negative = strides.iter().any(|s| s[d] < 0);
    let unroll = if any_negative { 1 } else { n.min(max_unroll) };
    let chunks = n / unroll;
    let tail = n % unroll;
    let offsets = |u: usize| -> Vec<(Local, u32)> {
        ptrs.iter()
            .enumerate()
            .map(|(k, &p)| (p, (strides[k][d] * u as i64) as u32))
            .collect()
    };
    fb.repeat(chunks, |fb| {
        for u in 0..unroll {
            body(fb, &offsets(u));
        }
        if chunks > 1 || tail > 0 {
            for (k, &p) in ptrs.iter().enumerate() {
                fb.bump(p, strides[k][d] * unroll as i64);
            }
        }
    });
    for u in 0..tail {
        body(fb, &offsets(u));
    }
}

/// Where a stream of a row walk starts: a pointer local plus a static
/// offset, or a fixed address.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    /// `local + offset`.
    At(Local, u32),
    /// A constant address.
    Addr(u32),
}

/// Walks `n` elements of a row: `body` gets, per stream, the pointer local
/// and static byte offset of the element; stream `i` starts at `starts[i]`
/// and moves `strides[i]` bytes per element. Short rows are unrolled at
/// static offsets; longer ones loop, unrolled by [`MAX_UNROLL`], so the code
/// does not grow with the row. With `carry`, each unrolled chunk starts by
/// pushing that local and ends by setting it, so the body can fold elements
/// into the value on the stack (a sum) without a local round trip each.
pub(crate) fn row_walk(
    fb: &mut FuncBuilder,
    n: usize,
    starts: &[Start],
    strides: &[i64],
    carry: Option<Local>,
    body: Body<'_>,
) {
    let ptrs: Vec<Local> = starts
        .iter()
        .map(|s| {
            let q = fb.i32();
            match *s {
                Start::At(l, 0) => fb.get(l),
                Start::At(l, o) => fb
                    .get(l)
                    .c32(o as i32)
                    .op(wasm_encoder::Instruction::I32Add),
                Start::Addr(a) => fb.c32(a as i32),
            };
            fb.set(q);
            q
        })
        .collect();
    let at = |u: usize| -> Vec<(Local, u32)> {
        ptrs.iter()
            .zip(strides)
            .map(|(&q, &st)| (q, (u as i64 * st) as u32))
            .collect()
    };
    let chunk = |fb: &mut FuncBuilder, k: usize, body: Body<'_>| {
        if let Some(c) = carry {
            fb.get(c);
        }
        for u in 0..k {
            body(fb, &at(u));
        }
        if let Some(c) = carry {
            fb.set(c);
        }
    };
    if n <= MAX_UNROLL {
        chunk(fb, n, body);
        return;
    }
    fb.repeat(n / MAX_UNROLL, |fb| {
        chunk(fb, MAX_UNROLL, body);
        for (&q, &st) in ptrs.iter().zip(strides) {
            fb.bump(q, st * MAX_UNROLL as i64);
        }
    });
    if !n.is_multiple_of(MAX_UNROLL) {
        chunk(fb, n % MAX_UNROLL, body);
    }
}
