//! LayerNormalization, BatchNormalization's per-channel scale and shift, and
//! the ONNX-ML Normalizer.
//!
//! LayerNormalization goes row by row as the WASM does it: the mean
//! (rounded), the variance (each square divided by the row's length),
//! `sd = isqrt(var + eps)`,
//! one division per row for `2^(F+30) / sd`, then per element
//! `((x - mean) * inv) >> 30` scaled by gamma and shifted by beta. Memory is
//! read and written in the WASM's order, so overlapping tensors give the
//! same bytes; when the outputs overlap no input (or the output is the
//! input, in place) the rows are independent and are computed apart, on the
//! executor's threads, then stored.

use super::reduce::{
    Rows, check_frac_bits, chunks, disjoint, div_round, inside, region, row_starts,
};
use super::scalar::{DivU64, div, div_trap, for_each_element, isqrt, rd, span, wr};
use super::{Executor, Mem, rescale, saturate};
use crate::error::{Error, Result};
use crate::plan::{LayerNormSpec, NormalizeOp, RowSpec, View};

/// One row's statistics: the mean, `sd` (the rounded root of the variance
/// plus epsilon, at most `i32::MAX`) and `2^(F+30) / sd`.
struct Stats {
    mean: i32,
    sd: i32,
    inv: i64,
}

/// The statistics of the row whose elements `x(j)` gives, as the WASM
/// computes them.
#[inline]
fn stats(n: usize, eps: i64, f: u32, x: impl Fn(usize) -> i64) -> Result<Stats> {
    let sum = (0..n).fold(0i64, |acc, j| acc.wrapping_add(x(j)));
    let mean = saturate(div_round(sum, n, "a layer norm")?);
    // the variance in Q(2F) read as unsigned: each square divided by n
    let by_n = DivU64::new(n as u64);
    let var = (0..n).fold(0i64, |acc, j| {
        let dev = x(j) - mean as i64;
        acc.wrapping_add(by_n.div(dev.wrapping_mul(dev) as u64) as i64)
    });
    let sd = isqrt(var.wrapping_add(eps) as u64).min(i32::MAX as u64) as i32;
    let inv = (1i64 << (f + 30))
        .checked_div(sd as u32 as i64)
        .ok_or_else(|| div_trap("a layer norm"))?;
    Ok(Stats { mean, sd, inv })
}

/// `(x - mean) * inv >> 30` (half up, saturated), scaled by `g` and shifted by `b`.
#[inline]
fn normalize(x: i64, s: &Stats, g: i32, b: i32, f: u32) -> i32 {
    let y = saturate(
        (x - s.mean as i64)
            .wrapping_mul(s.inv)
            .wrapping_add(1 << 29)
            >> 30,
    );
    rescale(
        (y as i64)
            .wrapping_mul(g as i64)
            .wrapping_add((b as i64).wrapping_shl(f)),
        f,
    )
}

/// `1 / sd` in Q(F), as the InvStdDev output holds it.
fn inv_std_dev(s: &Stats, f: u32) -> Result<i32> {
    div(1, s.sd, 2 * f).ok_or_else(|| div_trap("a layer norm"))
}

/// Normalizes every row of `p.src` into `p.dst`.
pub(super) fn layer_norm(mem: &mut [u8], p: &LayerNormSpec, ex: &Executor) -> Result<()> {
    let f = p.frac_bits;
    check_frac_bits(f)?;
    let len = mem.len();
    let r = Rows::new(&p.rows, len)?;
    let offs = &r.layout.offsets;
    let n = offs.len();
    let gamma = span(len, p.gamma as i64, n as u64 * 4)?;
    let beta = span(len, p.beta as i64, n as u64 * 4)?;
    if let Some(done) = layer_norm_rows(mem, p, &r, ex) {
        return done;
    }
    layer_norm_sequential(mem, p, &r, gamma, beta)
}

/// [`layer_norm`] in the WASM's order of every read and write (`gamma` and
/// `beta`: the checked byte indices of the parameters).
fn layer_norm_sequential(
    mem: &mut [u8],
    p: &LayerNormSpec,
    r: &Rows,
    gamma: usize,
    beta: usize,
) -> Result<()> {
    let (f, len) = (p.frac_bits, mem.len());
    let offs = &r.layout.offsets;
    let n = offs.len();
    let mut views: Vec<View> = vec![r.view(p.dst), r.view(p.src)];
    views.extend(p.mean.map(|a| r.per_row(a)));
    views.extend(p.inv_std_dev.map(|a| r.per_row(a)));
    let refs: Vec<&View> = views.iter().collect();
    for_each_element(&r.layout.outer, &refs, |at| {
        let d = span(len, at[0], r.extent)?;
        let s = span(len, at[1], r.extent)?;
        let x = |mem: &[u8], j: usize| rd(mem, s + offs[j] as usize) as i64;
        // the mean is stored before the variance reads the row again
        let sum = (0..n).fold(0i64, |acc, j| acc.wrapping_add(x(mem, j)));
        let mean = saturate(div_round(sum, n, "a layer norm")?);
        if p.mean.is_some() {
            wr(mem, span(len, at[2], 4)?, mean);
        }
        let st = stats(n, p.eps, f, |j| x(mem, j))?;
        if p.inv_std_dev.is_some() {
            wr(mem, span(len, at[at.len() - 1], 4)?, inv_std_dev(&st, f)?);
        }
        for (j, &o) in offs.iter().enumerate() {
            let (g, b) = (rd(mem, gamma + 4 * j), rd(mem, beta + 4 * j));
            let v = normalize(x(mem, j), &st, g, b, f);
            wr(mem, d + o as usize, v);
        }
        Ok(())
    })
}

/// [`layer_norm`] when its rows are independent: the outputs overlap no
/// input (the normalized output may be the input, in place) and each
/// other; each row read into a buffer and computed there (on the executor's
/// threads), then stored. `None` when they are not.
fn layer_norm_rows(
    mem: &mut [u8],
    p: &LayerNormSpec,
    r: &Rows,
    ex: &Executor,
) -> Option<Result<()>> {
    let (f, len) = (p.frac_bits, mem.len());
    let offs = &r.layout.offsets;
    let n = offs.len();
    let rows: usize = r.layout.outer.iter().product();
    let (s_span, d_span) = (region(r, p.src), region(r, p.dst));
    let words = |a: u32, count: usize| (a as i64, a as i64 + 4 * count as i64);
    let params = [words(p.gamma, n), words(p.beta, n)];
    let stats_out: Vec<(i64, i64)> = [p.mean, p.inv_std_dev]
        .into_iter()
        .flatten()
        .map(|a| words(a, rows))
        .collect();
    let reads = [s_span, params[0], params[1]];
    let independent = n > 0
        && inside(s_span, len)
        && inside(d_span, len)
        && stats_out.iter().all(|&w| inside(w, len))
        && (p.src == p.dst || disjoint(s_span, d_span))
        && params.iter().all(|&w| disjoint(w, d_span))
        && stats_out.iter().enumerate().all(|(i, &w)| {
            reads.iter().chain([&d_span]).all(|&o| disjoint(w, o))
                && stats_out[i + 1..].iter().all(|&o| disjoint(w, o))
        });
    if !independent {
        return None;
    }
    let starts = row_starts(r, &[r.view(p.src), r.view(p.dst)]);
    let read: &[u8] = mem;
    let param = |a: u32| -> Vec<i32> { (0..n).map(|j| rd(read, a as usize + 4 * j)).collect() };
    let (gamma, beta) = (param(p.gamma), param(p.beta));
    // per row: the n outputs, then the mean and 1 / sd
    let width = n + 2;
    let parts = chunks(rows, n, ex);
    let outs = ex.map(&parts, |range| -> Result<Vec<i32>> {
        let mut out = Vec::with_capacity(range.len() * width);
        let mut xs = vec![0i64; n];
        for row in &starts[range.clone()] {
            for (x, &o) in xs.iter_mut().zip(offs) {
                *x = rd(read, row[0] + o as usize) as i64;
            }
            let st = stats(n, p.eps, f, |j| xs[j])?;
            out.extend((0..n).map(|j| normalize(xs[j], &st, gamma[j], beta[j], f)));
            out.push(st.mean);
            out.push(if p.inv_std_dev.is_some() {
                inv_std_dev(&st, f)?
            } else {
                0
            });
        }
        Ok(out)
    });
    let mut results = Vec::with_capacity(outs.len());
    for o in outs {
        match o {
            Ok(o) => results.push(o),
            Err(e) => return Some(Err(e)),
        }
    }
    for (range, out) in parts.iter().zip(&results) {
        for (k, row) in starts[range.clone()].iter().enumerate() {
            let at = range.start + k;
            let vals = &out[k * width..(k + 1) * width];
            if let Some(m) = p.mean {
                wr(mem, m as usize + 4 * at, vals[n]);
            }
            if let Some(i) = p.inv_std_dev {
                wr(mem, i as usize + 4 * at, vals[n + 1]);
            }
            for (j, &o) in offs.iter().enumerate() {
                wr(mem, row[1] + o as usize, vals[j]);
            }
        }
    }
    Some(Ok(()))
}

/// `views[0] = rescale(views[1] * views[2] + (views[3] << F), F)`, element
/// by element in row-major order (inference BatchNormalization).
pub(super) fn scale_shift(mem: &mut Mem, shape: &[usize], views: &[View], f: u32) -> Result<()> {
    check_frac_bits(f)?;
    if views.len() != 4 {
        return Err(Error::Runtime(format!(
            "a scale-and-shift plan has {} views",
            views.len()
        )));
    }
    let refs: Vec<&View> = views.iter().collect();
    for_each_element(shape, &refs, |at| {
        let x = mem.load(at[1])? as i64;
        let scale = mem.load(at[2])? as i64;
        let shift = mem.load(at[3])? as i64;
        let v = x.wrapping_mul(scale).wrapping_add(shift.wrapping_shl(f));
        mem.store(at[0], rescale(v, f))
    })
}

/// The ONNX-ML Normalizer: per row its norm (from 0, in the WASM's element
/// order), then each element `(x << F) / norm` as the WASM divides, row by
/// row and element by element so that overlapping tensors give its bytes.
pub(super) fn normalizer(
    mem: &mut [u8],
    rows: &RowSpec,
    src: u32,
    dst: u32,
    norm: NormalizeOp,
    f: u32,
) -> Result<()> {
    check_frac_bits(f)?;
    let len = mem.len();
    let r = Rows::new(rows, len)?;
    let offs = &r.layout.offsets;
    for_each_element(&r.layout.outer, &[&r.view(dst), &r.view(src)], |at| {
        let d = span(len, at[0], r.extent)?;
        let s = span(len, at[1], r.extent)?;
        let x = |mem: &[u8], o: u32| rd(mem, s + o as usize) as i64;
        let acc = offs.iter().fold(0i64, |acc, &o| {
            let v = x(mem, o);
            match norm {
                NormalizeOp::L1 => acc.wrapping_add(if v > 0 { v } else { -v }),
                NormalizeOp::L2 => v.wrapping_mul(v).wrapping_add(acc),
                NormalizeOp::Max => {
                    if v > acc {
                        v
                    } else {
                        acc
                    }
                }
            }
        });
        let acc = match norm {
            NormalizeOp::L2 => isqrt(acc as u64) as i64,
            NormalizeOp::L1 | NormalizeOp::Max => acc,
        };
        let den = saturate(acc);
        for &o in offs {
            let y = div(x(mem, o), den, f).ok_or_else(|| div_trap("a normalizer"))?;
            wr(mem, d + o as usize, y);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::Isa;
    use crate::native::reduce::tests::{memory, words};

    /// Rows computed apart on two threads give the bytes of the WASM's order,
    /// with and without the Mean and InvStdDev outputs, separate or in place.
    #[test]
    fn independent_layer_norm_rows_match_the_sequential_order() {
        let ex = Executor::new(2, Isa::Portable).unwrap();
        let shape = vec![8, 96, 192]; // above `chunks`' threshold: several parts
        let n: usize = shape.iter().product();
        let x = words(4, n, -(4 << 16), 4 << 16);
        // enough parameters for the longest row
        let gamma = words(5, 96 * 192, -(2 << 16), 2 << 16);
        let beta = words(6, 96 * 192, -(1 << 16), 1 << 16);
        let stats = vec![0; 8 * 96];
        let (mem, at) = memory(&[&x, &vec![0; n], &gamma, &beta, &stats, &stats]);
        for axes in [vec![2], vec![1, 2]] {
            for outputs in [false, true] {
                for dst in [at[1], at[0]] {
                    let rows = RowSpec {
                        shape: shape.clone(),
                        axes: axes.clone(),
                    };
                    let spec = LayerNormSpec {
                        rows,
                        src: at[0],
                        dst,
                        gamma: at[2],
                        beta: at[3],
                        mean: outputs.then_some(at[4]),
                        inv_std_dev: outputs.then_some(at[5]),
                        eps: 655,
                        frac_bits: 16,
                    };
                    let mut fast = mem.clone();
                    layer_norm(&mut fast, &spec, &ex).unwrap();
                    let mut slow = mem.clone();
                    let r = Rows::new(&spec.rows, slow.len()).unwrap();
                    layer_norm_sequential(&mut slow, &spec, &r, at[2] as usize, at[3] as usize)
                        .unwrap();
                    assert!(
                        fast == slow,
                        "{axes:?} outputs {outputs} in place {}",
                        dst == at[0]
                    );
                    assert!(fast != mem, "the kernel wrote");
                }
            }
        }
    }
}
