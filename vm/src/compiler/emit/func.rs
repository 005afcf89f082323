//! A small builder over `wasm_encoder::Function`: locals allocated on demand,
//! static-trip-count loops, and the memory access shapes kernels use.

use wasm_encoder::{BlockType, Function, Instruction as I, MemArg, ValType};

/// A local variable index.
pub(crate) type Local = u32;

/// Builds one function body with no results and no parameters, or the two
/// `i32` parameters of a segment (first index and trip count of the outer loop).
#[derive(Default)]
pub(crate) struct FuncBuilder {
    insns: Vec<I<'static>>,
    locals: Vec<ValType>,
    params: u32,
    /// The kernels that wrote the body, in order ([`FuncBuilder::kernel`]).
    plan: Vec<crate::plan::KernelOp>,
    /// Nesting of [`FuncBuilder::kernel`] calls now.
    depth: u32,
    /// Code was written outside any kernel: the plan does not describe the body.
    unplanned: bool,
}

/// A finished layer function, with the kernels that wrote it when they
/// alone did (what the native executor may run in its place, once the plan
/// re-emits to exactly this body).
pub(crate) struct Built {
    pub(crate) function: Function,
    pub(crate) plan: Option<Vec<crate::plan::KernelOp>>,
}

const fn mem(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        memory_index: 0,
    }
}

impl FuncBuilder {
    /// A builder for a function taking `params` i32 parameters (locals `0..params`).
    pub(crate) fn with_params(params: u32) -> FuncBuilder {
        FuncBuilder {
            params,
            ..FuncBuilder::default()
        }
    }

    /// Number of i32 parameters.
    pub(crate) fn params(&self) -> u32 {
        self.params
    }

    /// A fresh i32 local.
    pub(crate) fn i32(&mut self) -> Local {
        self.local(ValType::I32)
    }

    /// A fresh i64 local.
    pub(crate) fn i64(&mut self) -> Local {
        self.local(ValType::I64)
    }

    fn local(&mut self, t: ValType) -> Local {
        // a local outside a kernel is one its replay would not declare
        if self.depth == 0 {
            self.unplanned = true;
        }
        self.locals.push(t);
        self.params + self.locals.len() as u32 - 1
    }

    /// Appends one instruction.
    pub(crate) fn op(&mut self, i: I<'static>) -> &mut Self {
        if self.depth == 0 {
            self.unplanned = true;
        }
        self.insns.push(i);
        self
    }

    /// Emits the code of one kernel: `op` describes it, and `emit` (which
    /// must depend on nothing else) writes it. The native executor replays
    /// the description through the same emitter to check it against the
    /// committed module, then runs its own version of the kernel.
    pub(crate) fn kernel(&mut self, op: crate::plan::KernelOp, emit: impl FnOnce(&mut Self)) {
        if self.depth == 0 {
            self.plan.push(op);
        }
        self.depth += 1;
        emit(self);
        self.depth -= 1;
    }

    /// Number of instructions emitted so far.
    pub(crate) fn len(&self) -> usize {
        self.insns.len()
    }

    pub(crate) fn get(&mut self, l: Local) -> &mut Self {
        self.op(I::LocalGet(l))
    }
    pub(crate) fn set(&mut self, l: Local) -> &mut Self {
        self.op(I::LocalSet(l))
    }
    pub(crate) fn tee(&mut self, l: Local) -> &mut Self {
        self.op(I::LocalTee(l))
    }
    pub(crate) fn c32(&mut self, v: i32) -> &mut Self {
        self.op(I::I32Const(v))
    }
    pub(crate) fn c64(&mut self, v: i64) -> &mut Self {
        self.op(I::I64Const(v))
    }

    /// `i32.load offset` of the address on the stack.
    pub(crate) fn load32(&mut self, offset: u32) -> &mut Self {
        self.op(I::I32Load(mem(offset as u64, 2)))
    }
    /// `i64.load32_s offset`: a stored value widened to 64 bits in one step.
    pub(crate) fn load64(&mut self, offset: u32) -> &mut Self {
        self.op(I::I64Load32S(mem(offset as u64, 2)))
    }
    /// `i32.store offset` (address then value on the stack).
    pub(crate) fn store32(&mut self, offset: u32) -> &mut Self {
        self.op(I::I32Store(mem(offset as u64, 2)))
    }
    /// Loads `[addr]` where `addr` is a pointer local plus a static offset.
    pub(crate) fn ld32(&mut self, ptr: Local, offset: u32) -> &mut Self {
        self.get(ptr).load32(offset)
    }
    /// Loads `[addr]` widened to i64.
    pub(crate) fn ld64(&mut self, ptr: Local, offset: u32) -> &mut Self {
        self.get(ptr).load64(offset)
    }

    /// `local += delta` for an i32 pointer local (nothing when delta is 0).
    pub(crate) fn bump(&mut self, l: Local, delta: i64) -> &mut Self {
        if delta != 0 {
            self.get(l).c32(delta as i32).op(I::I32Add).set(l);
        }
        self
    }

    /// Repeats `body` `n` times with a down-counting loop (`n` known statically).
    /// The body gets the iteration count only through the pointers it bumps.
    pub(crate) fn repeat(&mut self, n: usize, mut body: impl FnMut(&mut Self)) {
        match n {
            0 => {}
            1 => body(self),
            _ => {
                let counter = self.i32();
                self.c32(n as i32).set(counter);
                self.count_down(counter, body);
            }
        }
    }

    /// Repeats `body` as many times as local `count` says (at least once: the
    /// count of a segment is never zero).
    pub(crate) fn repeat_local(&mut self, count: Local, body: impl FnMut(&mut Self)) {
        let counter = self.i32();
        self.get(count).set(counter);
        self.count_down(counter, body);
    }

    /// A loop running `body` until `counter` (set by the caller, >= 1) reaches 0.
    fn count_down(&mut self, counter: Local, mut body: impl FnMut(&mut Self)) {
        self.op(I::Loop(BlockType::Empty));
        body(self);
        self.get(counter)
            .c32(1)
            .op(I::I32Sub)
            .tee(counter)
            .op(I::BrIf(0))
            .op(I::End);
    }

    /// Leaves `min(max(x, lo), hi)` of the i64 on the stack, using `tmp`.
    pub(crate) fn clamp64(&mut self, tmp: Local, lo: i64, hi: i64) -> &mut Self {
        // select(a, b, cond) keeps a when cond != 0
        self.tee(tmp)
            .c64(hi)
            .get(tmp)
            .c64(hi)
            .op(I::I64LtS)
            .op(I::Select);
        self.tee(tmp)
            .c64(lo)
            .get(tmp)
            .c64(lo)
            .op(I::I64GtS)
            .op(I::Select)
    }

    /// Saturates the i64 on the stack to the i32 range and wraps it to i32.
    pub(crate) fn saturate(&mut self, tmp: Local) -> &mut Self {
        self.clamp64(tmp, i32::MIN as i64, i32::MAX as i64)
            .op(I::I32WrapI64)
    }

    /// Rounds a `Q(2F)` i64 on the stack to `Q(F)` (half up), saturated, as i32.
    pub(crate) fn rescale(&mut self, frac_bits: u32, tmp: Local) -> &mut Self {
        if frac_bits > 0 {
            self.c64(1 << (frac_bits - 1))
                .op(I::I64Add)
                .c64(frac_bits as i64)
                .op(I::I64ShrS);
        }
        self.saturate(tmp)
    }

    /// Finishes the body.
    pub(crate) fn finish(self) -> Function {
        self.build().function
    }

    /// Finishes the body, with its plan when kernels wrote all of it.
    pub(crate) fn build(mut self) -> Built {
        self.insns.push(I::End);
        let mut f = Function::new_with_locals_types(self.locals.iter().copied());
        for i in &self.insns {
            f.instruction(i);
        }
        let planned = !self.unplanned && !self.plan.is_empty();
        Built {
            function: f,
            plan: planned.then_some(self.plan),
        }
    }
}
