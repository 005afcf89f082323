//! Elementwise kernels and copies.
//!
//! The WASM goes element after element in row-major order, loading then
//! storing each. When the destination is a dense tensor that no source (nor
//! a table) overlaps, except a source that is exactly the destination (in
//! place), no element reads another's result: the fast path computes whole
//! rows into a buffer and stores them. Otherwise the sequential path keeps
//! the WASM's order, so overlapping views give the same bytes.

use super::scalar::for_each_element;
use super::{Mem, load, rescale, saturate};
use crate::error::{Error, Result};
use crate::plan::{BinaryOp, Lut, UnaryOp, View};

/// `[lo, hi)` bytes a view covers over `shape` (not empty), when in bounds.
pub(super) fn view_span(shape: &[usize], v: &View, len: usize) -> Option<(usize, usize)> {
    if v.strides.len() != shape.len() {
        return None;
    }
    let (mut lo, mut hi) = (v.base as i64, v.base as i64 + 4);
    for (&n, &s) in shape.iter().zip(&v.strides) {
        let reach = s.checked_mul(n as i64 - 1)?;
        if reach < 0 {
            lo += reach;
        } else {
            hi += reach;
        }
    }
    (lo >= 0 && hi <= len as i64).then_some((lo as usize, hi as usize))
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The bytes a table's lookups can read.
fn lut_span(lut: &Lut, len: usize) -> Option<(usize, usize)> {
    let top = (lut.hi_q.checked_sub(1)?)
        .max(lut.lo_q)
        .wrapping_sub(lut.lo_q);
    let knots = ((top as u32) >> lut.shift) as usize + 1 + usize::from(lut.shift > 0);
    let lo = lut.addr as usize;
    let hi = lo + 4 * knots;
    (hi <= len).then_some((lo, hi))
}

/// A row-at-a-time walk of `shape`: dimensions merged where every view is
/// contiguous across them, the last one a row.
struct Rows {
    /// Outer dimensions (rows), outermost first.
    outer: Vec<usize>,
    /// Per view, its byte strides over `outer`.
    outer_strides: Vec<Vec<i64>>,
    /// Elements per row.
    len: usize,
    /// Per view, its byte stride within a row.
    step: Vec<i64>,
    /// Per view, its byte address of element 0.
    base: Vec<i64>,
}

impl Rows {
    fn new(shape: &[usize], views: &[&View]) -> Rows {
        let mut dims: Vec<(usize, Vec<i64>)> = vec![];
        for (d, &n) in shape.iter().enumerate() {
            let strides: Vec<i64> = views.iter().map(|v| v.strides[d]).collect();
            if n == 1 {
                continue;
            }
            match dims.last_mut() {
                // merge into the previous (outer) dimension when contiguous
                Some((m, prev)) if prev.iter().zip(&strides).all(|(&p, &s)| p == s * n as i64) => {
                    *m *= n;
                    *prev = strides;
                }
                _ => dims.push((n, strides)),
            }
        }
        let (len, step) = dims.pop().unwrap_or_else(|| (1, vec![0; views.len()]));
        Rows {
            outer: dims.iter().map(|d| d.0).collect(),
            outer_strides: (0..views.len())
                .map(|v| dims.iter().map(|d| d.1[v]).collect())
                .collect(),
            len,
            step,
            base: views.iter().map(|v| v.base as i64).collect(),
        }
    }

    /// Calls `row` with each view's address of every row's first element.
    fn each(&self, mut row: impl FnMut(&[i64])) {
        let mut idx = vec![0usize; self.outer.len()];
        let mut addr = self.base.clone();
        loop {
            row(&addr);
            let mut d = self.outer.len();
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                for (a, s) in addr.iter_mut().zip(&self.outer_strides) {
                    *a += s[d];
                }
                if idx[d] < self.outer[d] {
                    break;
                }
                for (a, s) in addr.iter_mut().zip(&self.outer_strides) {
                    *a -= s[d] * self.outer[d] as i64;
                }
                idx[d] = 0;
            }
        }
    }
}

fn word(memory: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(memory[at..at + 4].try_into().expect("4 bytes"))
}

/// Loads `out.len()` words from `at`, `stride` bytes apart.
fn load_row(memory: &[u8], at: i64, stride: i64, out: &mut [i32]) {
    let at = at as usize;
    match stride {
        4 => {
            let bytes = &memory[at..at + 4 * out.len()];
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = i32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
        }
        0 => out.fill(word(memory, at)),
        s => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = word(memory, (at as i64 + s * i as i64) as usize);
            }
        }
    }
}

fn store_row(memory: &mut [u8], at: i64, values: &[i32]) {
    let at = at as usize;
    for (b, v) in memory[at..at + 4 * values.len()]
        .chunks_exact_mut(4)
        .zip(values)
    {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// The fast path's walk, when `views[0]` (the destination) is dense, every
/// view and `reads` is in bounds, and no source nor read span overlaps the
/// destination but an identical view.
fn fast_rows(
    memory: &[u8],
    shape: &[usize],
    views: &[&View],
    reads: Option<(usize, usize)>,
) -> Option<Rows> {
    if shape.contains(&0) || views.is_empty() {
        return None;
    }
    let dst = views[0];
    let mut dense = 4i64;
    for (&n, &s) in shape.iter().zip(&dst.strides).rev() {
        if n > 1 && s != dense {
            return None;
        }
        dense *= n as i64;
    }
    let len = memory.len();
    let out = view_span(shape, dst, len)?;
    for v in &views[1..] {
        let span = view_span(shape, v, len)?;
        if overlaps(span, out) && *v != dst {
            return None;
        }
    }
    if reads.is_some_and(|r| overlaps(r, out)) {
        return None;
    }
    let rows = Rows::new(shape, views);
    (rows.step[0] == 4 || rows.len == 1).then_some(rows)
}

/// Element by element in row-major order, each loaded then stored.
pub(super) fn copy(memory: &mut [u8], shape: &[usize], src: &View, dst: &View) -> Result<()> {
    if let Some(rows) = fast_rows(memory, shape, &[dst, src], None) {
        let mut buf = vec![0i32; rows.len];
        rows.each(|at| {
            load_row(memory, at[1], rows.step[1], &mut buf);
            store_row(memory, at[0], &buf);
        });
        return Ok(());
    }
    let mem = &mut Mem(memory);
    for_each_element(shape, &[dst, src], |at| {
        let x = mem.load(at[1])?;
        mem.store(at[0], x)
    })
}

fn div_const(x: i32, m: i64, s: u32) -> i32 {
    let p = (x as i64).wrapping_mul(m);
    let p = if s > 0 {
        p.wrapping_add(1 << (s - 1)) >> s
    } else {
        p
    };
    saturate(p)
}

/// One step of a binary fold (not `DivConst`, which has one input).
fn fold(op: BinaryOp, acc: i32, y: i32) -> i32 {
    match op {
        BinaryOp::Add => saturate(acc as i64 + y as i64),
        BinaryOp::Sub => saturate(acc as i64 - y as i64),
        BinaryOp::Mul { shift } => {
            let p = acc as i64 * y as i64;
            match shift {
                Some(f) => rescale(p, f),
                None => saturate(p),
            }
        }
        BinaryOp::Max => acc.max(y),
        BinaryOp::Min => acc.min(y),
        BinaryOp::Compare { cmp } => cmp.holds(acc, y) as i32,
        BinaryOp::And => (acc != 0 && y != 0) as i32,
        BinaryOp::Or => (acc != 0 || y != 0) as i32,
        BinaryOp::Xor => ((acc != 0) != (y != 0)) as i32,
        BinaryOp::DivConst { .. } => unreachable!("one input"),
    }
}

/// `acc = op(acc, y)` element by element, one loop per operator.
fn fold_row(op: BinaryOp, acc: &mut [i32], y: &[i32]) {
    let pairs = acc.iter_mut().zip(y);
    match op {
        BinaryOp::Add => pairs.for_each(|(a, &b)| *a = a.saturating_add(b)),
        BinaryOp::Sub => pairs.for_each(|(a, &b)| *a = a.saturating_sub(b)),
        BinaryOp::Max => pairs.for_each(|(a, &b)| *a = (*a).max(b)),
        BinaryOp::Min => pairs.for_each(|(a, &b)| *a = (*a).min(b)),
        BinaryOp::Mul { shift: Some(f) } => {
            pairs.for_each(|(a, &b)| *a = rescale(*a as i64 * b as i64, f))
        }
        BinaryOp::Mul { shift: None } => {
            pairs.for_each(|(a, &b)| *a = saturate(*a as i64 * b as i64))
        }
        BinaryOp::DivConst { .. }
        | BinaryOp::Compare { .. }
        | BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Xor => pairs.for_each(|(a, &b)| *a = fold(op, *a, b)),
    }
}

/// `views[0] = op(views[1], views[2], ...)`, element by element.
pub(super) fn binary(
    memory: &mut [u8],
    shape: &[usize],
    views: &[View],
    op: BinaryOp,
) -> Result<()> {
    if views.len() < 2 || (matches!(op, BinaryOp::DivConst { .. }) && views.len() != 2) {
        return Err(Error::Runtime(format!(
            "an elementwise plan has {} views for {op:?}",
            views.len()
        )));
    }
    let refs: Vec<&View> = views.iter().collect();
    if let Some(rows) = fast_rows(memory, shape, &refs, None) {
        let mut acc = vec![0i32; rows.len];
        let mut y = vec![0i32; rows.len];
        rows.each(|at| {
            load_row(memory, at[1], rows.step[1], &mut acc);
            if let BinaryOp::DivConst { m, s } = op {
                acc.iter_mut().for_each(|x| *x = div_const(*x, m, s));
            }
            for (&addr, &step) in at.iter().zip(&rows.step).skip(2) {
                load_row(memory, addr, step, &mut y);
                fold_row(op, &mut acc, &y);
            }
            store_row(memory, at[0], &acc);
        });
        return Ok(());
    }
    let mem = &mut Mem(memory);
    for_each_element(shape, &refs, |at| {
        let x = mem.load(at[1])?;
        let v = match op {
            BinaryOp::DivConst { m, s } => div_const(x, m, s),
            _ => {
                let mut acc = x;
                for &q in &at[2..] {
                    acc = fold(op, acc, mem.load(q)?);
                }
                acc
            }
        };
        mem.store(at[0], v)
    })
}

/// `views[0] = views[1] ? views[2] : views[3]`, element by element (Where).
pub(super) fn select(memory: &mut [u8], shape: &[usize], views: &[View]) -> Result<()> {
    if views.len() != 4 {
        return Err(Error::Runtime(format!(
            "a select plan has {} views",
            views.len()
        )));
    }
    let refs: Vec<&View> = views.iter().collect();
    if let Some(rows) = fast_rows(memory, shape, &refs, None) {
        let (mut cond, mut x, mut y) = (vec![0; rows.len], vec![0; rows.len], vec![0; rows.len]);
        rows.each(|at| {
            load_row(memory, at[1], rows.step[1], &mut cond);
            load_row(memory, at[2], rows.step[2], &mut x);
            load_row(memory, at[3], rows.step[3], &mut y);
            x.iter_mut()
                .zip(&cond)
                .zip(&y)
                .for_each(|((x, &c), &y)| *x = if c != 0 { *x } else { y });
            store_row(memory, at[0], &x);
        });
        return Ok(());
    }
    let mem = &mut Mem(memory);
    for_each_element(shape, &refs, |at| {
        let (c, x, y) = (mem.load(at[1])?, mem.load(at[2])?, mem.load(at[3])?);
        mem.store(at[0], if c != 0 { x } else { y })
    })
}

/// A table at `x`, as `Lut::emit` computes it: clamped to the domain, the
/// knot below, and linear interpolation to the next knot.
fn lut_at(memory: &[u8], lut: &Lut, x: i32) -> Result<i32> {
    let clamped = x.min(lut.hi_q - 1).max(lut.lo_q);
    let d = clamped.wrapping_sub(lut.lo_q);
    let knot = lut.addr as i64 + (((d as u32) >> lut.shift) << 2) as i64;
    if lut.shift == 0 {
        return load(memory, knot);
    }
    let (y0, y1) = (load(memory, knot)? as i64, load(memory, knot + 4)? as i64);
    let frac = (d & ((1i32 << lut.shift) - 1)) as u32 as i64;
    let v = (y1.wrapping_sub(y0).wrapping_mul(frac) >> lut.shift).wrapping_add(y0);
    Ok(v as i32)
}

/// `op` of `x`, tables read from `memory`.
fn unary_value(memory: &[u8], op: UnaryOp, x: i32) -> Result<i32> {
    Ok(match op {
        UnaryOp::Relu => x.max(0),
        UnaryOp::LeakyRelu { alpha, shift } => {
            if x > 0 {
                x
            } else {
                rescale((x as i64).wrapping_mul(alpha), shift)
            }
        }
        UnaryOp::Neg => saturate(-(x as i64)),
        UnaryOp::Abs => saturate((x as i64).abs()),
        UnaryOp::Clip { lo, hi } => {
            let x = if x > lo { x } else { lo };
            if x < hi { x } else { hi }
        }
        UnaryOp::Lut { lut } => lut_at(memory, &lut, x)?,
        UnaryOp::Gelu { lut, shift } => {
            let cdf = lut_at(memory, &lut, x)?;
            rescale((cdf as i64).wrapping_mul(x as i64), shift)
        }
        UnaryOp::Not => (x == 0) as i32,
    })
}

/// `views[0] = op(views[1])`, element by element.
pub(super) fn unary(memory: &mut [u8], shape: &[usize], views: &[View], op: UnaryOp) -> Result<()> {
    if views.len() != 2 {
        return Err(Error::Runtime(format!(
            "an elementwise plan has {} views for {op:?}",
            views.len()
        )));
    }
    let refs = [&views[0], &views[1]];
    let table = match op {
        UnaryOp::Lut { lut } | UnaryOp::Gelu { lut, .. } => match lut_span(&lut, memory.len()) {
            Some(span) => Some(span),
            None => return unary_sequential(&mut Mem(memory), shape, &refs, op),
        },
        _ => None,
    };
    let Some(rows) = fast_rows(memory, shape, &refs, table) else {
        return unary_sequential(&mut Mem(memory), shape, &refs, op);
    };
    let mut buf = vec![0i32; rows.len];
    rows.each(|at| {
        load_row(memory, at[1], rows.step[1], &mut buf);
        map_unary(memory, op, &mut buf);
        store_row(memory, at[0], &buf);
    });
    Ok(())
}

/// `op` of every value of `row`, one loop per operator (each vectorizes or
/// at least keeps the operator's branch out of the loop). Tables must be in
/// bounds (`lut_span`).
fn map_unary(memory: &[u8], op: UnaryOp, row: &mut [i32]) {
    match op {
        UnaryOp::Relu => row.iter_mut().for_each(|x| *x = (*x).max(0)),
        UnaryOp::Neg => row.iter_mut().for_each(|x| *x = saturate(-(*x as i64))),
        UnaryOp::Abs => row
            .iter_mut()
            .for_each(|x| *x = saturate((*x as i64).abs())),
        UnaryOp::Clip { lo, hi } => row.iter_mut().for_each(|x| {
            let v = if *x > lo { *x } else { lo };
            *x = if v < hi { v } else { hi };
        }),
        UnaryOp::LeakyRelu { alpha, shift } => row.iter_mut().for_each(|x| {
            if *x <= 0 {
                *x = rescale((*x as i64).wrapping_mul(alpha), shift);
            }
        }),
        UnaryOp::Lut { lut } => {
            let table = Table::new(memory, &lut);
            row.iter_mut().for_each(|x| *x = table.at(*x));
        }
        UnaryOp::Gelu { lut, shift } => {
            let table = Table::new(memory, &lut);
            row.iter_mut().for_each(|x| {
                *x = rescale((table.at(*x) as i64).wrapping_mul(*x as i64), shift);
            });
        }
        UnaryOp::Not => row.iter_mut().for_each(|x| *x = (*x == 0) as i32),
    }
}

/// A table's knots as i32s, for lookups without bounds errors (its span was
/// checked): the same clamping, knot and interpolation as [`lut_at`].
struct Table {
    knots: Vec<i32>,
    lo_q: i32,
    hi_q: i32,
    shift: u32,
}

impl Table {
    fn new(memory: &[u8], lut: &Lut) -> Table {
        let (lo, hi) = lut_span(lut, memory.len()).expect("a checked table");
        Table {
            knots: memory[lo..hi]
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
            lo_q: lut.lo_q,
            hi_q: lut.hi_q,
            shift: lut.shift,
        }
    }

    fn at(&self, x: i32) -> i32 {
        let clamped = x.min(self.hi_q - 1).max(self.lo_q);
        let d = clamped.wrapping_sub(self.lo_q);
        let i = ((d as u32) >> self.shift) as usize;
        if self.shift == 0 {
            return self.knots[i];
        }
        let (y0, y1) = (self.knots[i] as i64, self.knots[i + 1] as i64);
        let frac = (d & ((1i32 << self.shift) - 1)) as u32 as i64;
        (y1.wrapping_sub(y0).wrapping_mul(frac) >> self.shift).wrapping_add(y0) as i32
    }
}

fn unary_sequential(mem: &mut Mem, shape: &[usize], views: &[&View; 2], op: UnaryOp) -> Result<()> {
    for_each_element(shape, views, |at| {
        let x = mem.load(at[1])?;
        let v = unary_value(mem.0, op, x)?;
        mem.store(at[0], v)
    })
}
