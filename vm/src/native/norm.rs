//! LayerNormalization, row by row as the WASM does it: the mean (rounded), the
//! variance (each square divided by the row's length), `sd = isqrt(var + eps)`,
//! one division per row for `2^(F+30) / sd`, then per element
//! `((x - mean) * inv) >> 30` scaled by gamma and shifted by beta. Memory is
//! read and written in the WASM's order, so overlapping tensors give the
//! same bytes.

use super::reduce::{Rows, check_frac_bits, div_round};
use super::scalar::{div, div_trap, for_each_element, isqrt, rd, span, wr};
use super::{rescale, saturate};
use crate::error::Result;
use crate::plan::{LayerNormSpec, View};

/// Normalizes every row of `p.src` into `p.dst`.
pub(super) fn layer_norm(mem: &mut [u8], p: &LayerNormSpec) -> Result<()> {
    let f = p.frac_bits;
    check_frac_bits(f)?;
    let len = mem.len();
    let r = Rows::new(&p.rows, len)?;
    let offs = &r.layout.offsets;
    let n = offs.len();
    let gamma = span(len, p.gamma as i64, n as u64 * 4)?;
    let beta = span(len, p.beta as i64, n as u64 * 4)?;
    let mut views: Vec<View> = vec![r.view(p.dst), r.view(p.src)];
    views.extend(p.mean.map(|a| r.per_row(a)));
    views.extend(p.inv_std_dev.map(|a| r.per_row(a)));
    let refs: Vec<&View> = views.iter().collect();
    for_each_element(&r.layout.outer, &refs, |at| {
        let d = span(len, at[0], r.extent)?;
        let s = span(len, at[1], r.extent)?;
        let x = |mem: &[u8], o: u32| rd(mem, s + o as usize) as i64;
        let sum = offs
            .iter()
            .fold(0i64, |acc, &o| acc.wrapping_add(x(mem, o)));
        let mean = saturate(div_round(sum, n, "a layer norm")?);
        if p.mean.is_some() {
            wr(mem, span(len, at[2], 4)?, mean);
        }
        // the variance in Q(2F) read as unsigned: each square divided by n
        let mut var = 0i64;
        for &o in offs {
            let dev = x(mem, o) - mean as i64;
            var = var.wrapping_add((dev.wrapping_mul(dev) as u64 / n as u64) as i64);
        }
        let sd = isqrt(var.wrapping_add(p.eps) as u64).min(i32::MAX as u64) as i32;
        if p.inv_std_dev.is_some() {
            let inv = div(1, sd, 2 * f).ok_or_else(|| div_trap("a layer norm"))?;
            wr(mem, span(len, at[at.len() - 1], 4)?, inv);
        }
        let inv = (1i64 << (f + 30))
            .checked_div(sd as u32 as i64)
            .ok_or_else(|| div_trap("a layer norm"))?;
        for (j, &o) in offs.iter().enumerate() {
            let y = saturate(
                (x(mem, o) - mean as i64)
                    .wrapping_mul(inv)
                    .wrapping_add(1 << 29)
                    >> 30,
            );
            let g = rd(mem, gamma + 4 * j) as i64;
            let b = rd(mem, beta + 4 * j) as i64;
            let v = rescale(
                (y as i64).wrapping_mul(g).wrapping_add(b.wrapping_shl(f)),
                f,
            );
            wr(mem, d + o as usize, v);
        }
        Ok(())
    })
}
