//! The sampler of a generation step (`opml.Sample`, added by
//! [`crate::compiler::generate`]): top-k with a temperature and a seeded
//! draw, integers only, with fixed trip counts ([`SampleSpec`]).

use super::common::unsupported;
use crate::compiler::emit::Ctx;
use crate::compiler::emit::func::FuncBuilder;
use crate::compiler::emit::nonlinear::{self, Func, Temps};
use crate::compiler::graph::Node;
use crate::error::Result;
use crate::fixed::FixedFormat;
use crate::plan::{KernelOp, SampleSpec};
use wasm_encoder::Instruction as I;

/// `opml.Sample(logits [1, V], seed [1], top_k [1], temperature [1]) -> token [1, 1]`,
/// attributes `step` and `k_max`.
pub(super) fn sample(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<()> {
    let g = ctx.g;
    let input = |i: usize| {
        node.input(i)
            .ok_or_else(|| unsupported(node, "Sample needs logits, seed, top_k and temperature"))
    };
    let (logits, seed, top_k, temperature) = (input(0)?, input(1)?, input(2)?, input(3)?);
    let vocab = g.values[logits].len() as u32;
    let k_max = (node.int("k_max", 1).max(1) as u32).min(vocab);
    let spec = SampleSpec {
        logits: ctx.addr(logits),
        vocab,
        k_max,
        seed: ctx.addr(seed),
        top_k: ctx.addr(top_k),
        temperature: ctx.addr(temperature),
        step: node.int("step", 0) as u32,
        out: ctx.addr(node.outputs[0]),
        scratch: ctx.mem.alloc(SampleSpec::scratch_bytes(k_max) as u64, 4),
        frac_bits: ctx.fmt.frac_bits,
        exp2: ctx.lut(Func::Exp2Frac),
    };
    emit_sample(fb, &spec);
    Ok(())
}

/// The kernel of [`KernelOp::Sample`].
pub(crate) fn emit_sample(fb: &mut FuncBuilder, s: &SampleSpec) {
    fb.kernel(KernelOp::Sample { spec: s.clone() }, |fb| {
        let t = Temps::new(fb);
        let (prev_v, prev_i, best_v, best_i) = (fb.i32(), fb.i32(), fb.i32(), fb.i32());
        let (v, x, p, q, take) = (fb.i32(), fb.i32(), fb.i32(), fb.i32(), fb.i32());
        let (k, temp, greedy, j, w, z) =
            (fb.i32(), fb.i32(), fb.i32(), fb.i32(), fb.i32(), fb.i32());
        let (total, acc, r) = (fb.i64(), fb.i64(), fb.i64());
        let (choice, found, hit) = (fb.i32(), fb.i32(), fb.i32());
        let (k_max, vocab) = (s.k_max as usize, s.vocab as i32);
        let weights = s.scratch + 8 * s.k_max;

        // the k_max best (value, index) pairs, best first
        fb.c32(i32::MAX).set(prev_v).c32(-1).set(prev_i);
        fb.c32(s.scratch as i32).set(q);
        fb.repeat(k_max, |fb| {
            fb.c32(i32::MIN).set(best_v).c32(vocab).set(best_i);
            fb.c32(0).set(v).c32(s.logits as i32).set(p);
            fb.repeat(s.vocab as usize, |fb| {
                fb.ld32(p, 0).set(x);
                // below the previous pick: smaller, or equal at a later index
                fb.get(x).get(prev_v).op(I::I32LtS);
                fb.get(x).get(prev_v).op(I::I32Eq);
                fb.get(v)
                    .get(prev_i)
                    .op(I::I32GtS)
                    .op(I::I32And)
                    .op(I::I32Or);
                // better than the best so far (the first one always is)
                fb.get(x).get(best_v).op(I::I32GtS);
                fb.get(best_i).c32(vocab).op(I::I32Eq).op(I::I32Or);
                fb.op(I::I32And).set(take);
                fb.get(x).get(best_v).get(take).op(I::Select).set(best_v);
                fb.get(v).get(best_i).get(take).op(I::Select).set(best_i);
                fb.bump(p, 4).bump(v, 1);
            });
            fb.get(q).get(best_v).store32(0);
            fb.get(q).get(best_i).store32(4);
            fb.get(best_v).set(prev_v).get(best_i).set(prev_i);
            fb.bump(q, 8);
        });

        // k = clamp(top_k, 1, k_max); T <= 0 is greedy (divide by 1 instead)
        fb.c32(0).load32(s.top_k).set(k);
        fb.get(k)
            .c32(1)
            .get(k)
            .c32(1)
            .op(I::I32GtS)
            .op(I::Select)
            .set(k);
        let hi = s.k_max as i32;
        fb.get(k)
            .c32(hi)
            .get(k)
            .c32(hi)
            .op(I::I32LtS)
            .op(I::Select)
            .set(k);
        fb.c32(0).load32(s.temperature).set(temp);
        fb.get(temp).c32(0).op(I::I32LeS).set(greedy);
        fb.c32(1).get(temp).get(greedy).op(I::Select).set(temp);

        // weights exp((v_j - v_0) / T) of the kept candidates, and their total
        fb.c64(0).set(total);
        fb.c32(s.scratch as i32).set(q);
        fb.c32(weights as i32).set(p);
        fb.c32(0).set(j);
        fb.repeat(k_max, |fb| {
            fb.ld64(q, 0).c32(0).load64(s.scratch).op(I::I64Sub);
            fb.c64(s.frac_bits as i64).op(I::I64Shl);
            fb.get(temp)
                .op(I::I64ExtendI32S)
                .op(I::I64DivS)
                .saturate(t.c64)
                .set(z);
            nonlinear::emit_exp(fb, FixedFormat::new(s.frac_bits), &s.exp2, z, &t);
            fb.set(w);
            // kept: j < k, and for greedy only the first
            fb.get(w).c32(0);
            fb.get(j).get(k).op(I::I32LtS);
            fb.get(j)
                .op(I::I32Eqz)
                .get(greedy)
                .op(I::I32Eqz)
                .op(I::I32Or);
            fb.op(I::I32And).op(I::Select).set(w);
            fb.get(p).get(w).store32(0);
            fb.get(total)
                .get(w)
                .op(I::I64ExtendI32U)
                .op(I::I64Add)
                .set(total);
            fb.bump(q, 8).bump(p, 4).bump(j, 1);
        });

        // the draw, modulo the total (at least 1.0: the best always weighs exp(0))
        fb.c32(0).load32(s.seed).op(I::I64ExtendI32U);
        fb.c64(((s.step as u64 + 1) << 32) as i64).op(I::I64Xor);
        fb.c64(0x9E37_79B9_7F4A_7C15u64 as i64).op(I::I64Add).set(r);
        for (shift, mul) in [(30, 0xBF58_476D_1CE4_E5B9u64), (27, 0x94D0_49BB_1331_11EB)] {
            fb.get(r).get(r).c64(shift).op(I::I64ShrU).op(I::I64Xor);
            fb.c64(mul as i64).op(I::I64Mul).set(r);
        }
        fb.get(r).get(r).c64(31).op(I::I64ShrU).op(I::I64Xor);
        fb.get(total).op(I::I64RemU).set(r);

        // the first candidate whose running sum passes the draw
        fb.c64(0).set(acc);
        fb.c32(0).set(found);
        fb.c32(0).load32(s.scratch + 4).set(choice);
        fb.c32(s.scratch as i32).set(q);
        fb.c32(weights as i32).set(p);
        fb.repeat(k_max, |fb| {
            fb.get(acc)
                .ld32(p, 0)
                .op(I::I64ExtendI32U)
                .op(I::I64Add)
                .set(acc);
            fb.get(r)
                .get(acc)
                .op(I::I64LtU)
                .get(found)
                .op(I::I32Eqz)
                .op(I::I32And);
            fb.set(hit);
            fb.ld32(q, 4).get(choice).get(hit).op(I::Select).set(choice);
            fb.get(found).get(hit).op(I::I32Or).set(found);
            fb.bump(q, 8).bump(p, 4);
        });
        fb.c32(0).get(choice).store32(s.out);
    });
}
