//! MaxPool and AveragePool as the WASM computes them: per batch, the input
//! copied into the padded buffer (element by element, as a copy kernel
//! does), then each output in row-major order, its window's elements read
//! in the window's order. The windows of a CNN are small; every access is
//! bounds-checked like the WASM's.

use super::Mem;
use super::saturate;
use super::scalar::for_each_element;
use crate::error::{Error, Result};
use crate::plan::{PoolOp, PoolSpec, View};

/// Row-major element strides of `shape`.
fn contiguous(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

/// Runs one pooling layer.
pub(super) fn pool(mem: &mut Mem, s: &PoolSpec) -> Result<()> {
    let d = s.spatial.len();
    let ranks = [
        &s.out,
        &s.kernel,
        &s.strides,
        &s.dilations,
        &s.pads_begin,
        &s.pads_end,
    ];
    if ranks.iter().any(|v| v.len() != d) || s.kernel.contains(&0) {
        return Err(Error::Runtime("a pool plan's shapes disagree".into()));
    }
    let (c, sp, os) = (s.channels as i64, &s.spatial, &s.out);
    let pdims: Vec<usize> = (0..d)
        .map(|i| sp[i] + s.pads_begin[i] + s.pads_end[i])
        .collect();
    let pstr = contiguous(&pdims);
    let plane: i64 = pdims.iter().product::<usize>() as i64;
    let in_plane: i64 = sp.iter().product::<usize>() as i64;
    let out_plane: i64 = os.iter().product::<usize>() as i64;
    let (indices, recip) = match s.op {
        PoolOp::Max { indices } => (indices, None),
        PoolOp::Average { recip } => (None, Some(recip)),
    };
    let istr: Vec<i64> = if indices.is_some_and(|i| i.1) {
        let mut st = vec![1i64; d];
        for i in 1..d {
            st[i] = st[i - 1] * sp[i - 1] as i64;
        }
        st
    } else {
        contiguous(sp)
    };
    // the window's elements: bytes in the padded plane, and flat input index
    let mut window: Vec<(i64, i64)> = vec![(0, 0)];
    for ax in 0..d {
        let mut next = Vec::with_capacity(window.len() * s.kernel[ax]);
        for &(o, io) in &window {
            for k in 0..s.kernel[ax] {
                let step = (k * s.dilations[ax]) as i64;
                next.push((
                    o + step * pstr[ax] * 4,
                    io + (step - s.pads_begin[ax] as i64) * istr[ax],
                ));
            }
        }
        window = next;
    }
    let mut loop_shape = vec![s.channels];
    loop_shape.extend(os);
    let mut recip_strides = vec![0i64];
    recip_strides.extend(contiguous(os).iter().map(|x| x * 4));
    let mut flat_strides = vec![in_plane];
    flat_strides.extend((0..d).map(|i| s.strides[i] as i64 * istr[i]));
    let mut src_strides = vec![plane * 4];
    src_strides.extend((0..d).map(|i| s.strides[i] as i64 * pstr[i] * 4));
    for bi in 0..s.batch as i64 {
        let src_in = s.x as i64 + bi * c * in_plane * 4;
        let xp = match s.padded {
            None => src_in,
            Some(addr) => {
                let interior: i64 = (0..d).map(|i| s.pads_begin[i] as i64 * pstr[i] * 4).sum();
                let mut shape = vec![s.channels];
                shape.extend(sp);
                let from = View {
                    base: src_in as u32,
                    strides: contiguous(&shape).iter().map(|x| x * 4).collect(),
                };
                let mut strides = vec![plane * 4];
                strides.extend(pstr.iter().map(|x| x * 4));
                let to = View {
                    base: (addr as i64 + interior) as u32,
                    strides,
                };
                for_each_element(&shape, &[&to, &from], |at| {
                    let v = mem.load(at[1])?;
                    mem.store(at[0], v)
                })?;
                addr as i64
            }
        };
        let views = [
            View {
                base: (s.y as i64 + bi * c * out_plane * 4) as u32,
                strides: contiguous(&loop_shape).iter().map(|x| x * 4).collect(),
            },
            View {
                base: xp as u32,
                strides: src_strides.clone(),
            },
            View {
                base: recip.unwrap_or(0),
                strides: recip_strides.clone(),
            },
            // the flat input index of the window's origin, as an i32 "address"
            View {
                base: (bi * c * in_plane) as u32,
                strides: flat_strides.clone(),
            },
            View {
                base: indices.map_or(0, |(a, _)| (a as i64 + bi * c * out_plane * 4) as u32),
                strides: contiguous(&loop_shape).iter().map(|x| x * 4).collect(),
            },
        ];
        let refs: Vec<&View> = views.iter().collect();
        for_each_element(&loop_shape, &refs, |at| {
            let src = at[1];
            match recip {
                None => {
                    // the first element starts the maximum; a later one wins when greater
                    let origin = at[3] as i32;
                    let mut m = mem.load(src + window[0].0)?;
                    let mut mi = origin.wrapping_add(window[0].1 as i32);
                    for &(o, io) in &window[1..] {
                        let v = mem.load(src + o)?;
                        if v > m {
                            m = v;
                            mi = origin.wrapping_add(io as i32);
                        }
                    }
                    mem.store(at[0], m)?;
                    if indices.is_some() {
                        mem.store(at[4], mi)?;
                    }
                    Ok(())
                }
                Some(_) => {
                    let sum = window.iter().try_fold(0i64, |acc, &(o, _)| {
                        Ok::<_, Error>(acc.wrapping_add(mem.load(src + o)? as i64))
                    })?;
                    let r = mem.load(at[2])? as i64;
                    let y = sum.wrapping_mul(r).wrapping_add(1 << 29) >> 30;
                    mem.store(at[0], saturate(y))
                }
            }
        })?;
    }
    Ok(())
}
