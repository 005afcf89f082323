//! The sampler of a generation step, as `kernels::emit_sample` computes it
//! ([`SampleSpec`]).

use super::scalar::{Table, exp};
use super::{Mem, saturate};
use crate::error::Result;
use crate::plan::{SampleSpec, sample_draw};

/// Writes the chosen token and the scratch (pairs, then weights) of `s`.
pub(super) fn sample(mem: &mut Mem, s: &SampleSpec) -> Result<()> {
    super::reduce::check_frac_bits(s.frac_bits)?;
    let table = Table::new(s.exp2, mem.0.len())?;
    let f = s.frac_bits;
    let word = |i: u32| s.logits as i64 + 4 * i as i64;
    let logits: Vec<i32> = (0..s.vocab)
        .map(|i| mem.load(word(i)))
        .collect::<Result<_>>()?;

    // the k_max best (value, index) pairs, best first
    let mut pairs = Vec::with_capacity(s.k_max as usize);
    let (mut prev_v, mut prev_i) = (i32::MAX, -1i32);
    for _ in 0..s.k_max {
        let (mut best_v, mut best_i) = (i32::MIN, s.vocab as i32);
        for (v, &x) in logits.iter().enumerate() {
            let v = v as i32;
            let below = x < prev_v || (x == prev_v && v > prev_i);
            let better = x > best_v || best_i == s.vocab as i32;
            if below && better {
                (best_v, best_i) = (x, v);
            }
        }
        pairs.push((best_v, best_i));
        (prev_v, prev_i) = (best_v, best_i);
    }

    let k = mem.load(s.top_k as i64)?.clamp(1, s.k_max as i32);
    let temperature = mem.load(s.temperature as i64)?;
    let greedy = temperature <= 0;
    let divisor = if greedy { 1 } else { temperature as i64 };
    let v0 = pairs[0].0 as i64;
    let weights: Vec<i32> = pairs
        .iter()
        .enumerate()
        .map(|(j, &(v, _))| {
            let z = saturate(((v as i64 - v0) << f) / divisor);
            let w = exp(|x| table.at(mem.0, x), f, z);
            let kept = (j as i32) < k && (j == 0 || !greedy);
            if kept { w } else { 0 }
        })
        .collect();
    let total: u64 = weights.iter().map(|&w| w as u32 as u64).sum();
    let seed = mem.load(s.seed as i64)?;
    let r = sample_draw(seed, s.step) % total.max(1);

    let mut acc = 0u64;
    let mut choice = pairs[0].1;
    let mut found = false;
    for (&(_, index), &w) in pairs.iter().zip(&weights) {
        acc += w as u32 as u64;
        if !found && r < acc {
            choice = index;
            found = true;
        }
    }

    for (j, (&(v, i), &w)) in pairs.iter().zip(&weights).enumerate() {
        let at = s.scratch as i64 + 8 * j as i64;
        mem.store(at, v)?;
        mem.store(at + 4, i)?;
        mem.store(s.scratch as i64 + 8 * s.k_max as i64 + 4 * j as i64, w)?;
    }
    mem.store(s.out as i64, choice)
}
