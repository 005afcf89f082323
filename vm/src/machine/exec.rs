//! The stepper: WebAssembly semantics for every lowered instruction, one
//! instruction per step. Traps are states, not panics: whatever the code (any
//! instruction array, not only lowered modules) and whatever the state, a step
//! either executes or traps, and never panics (`docs/STATE.md`, "Steps").

use super::isa::{Instr, Op};
use super::lower::Program;
use std::sync::Arc;

/// Deepest call stack; one more call traps (deterministically, unlike a native stack).
pub const MAX_FRAMES: usize = 1024;

/// Most values the value stack holds: an instruction that adds a value
/// (`local.get`, `global.get`, a constant) to a stack of this many traps. The
/// lowering rejects functions that could reach it (a function's operand
/// stack times [`MAX_FRAMES`] stays below it), so it only stops crafted code.
pub const MAX_STACK: usize = 65_536;

/// Most locals of one frame: a `call` with a larger local count traps. The
/// lowering rejects functions with more (WebAssembly's own limit is 50,000).
/// With [`MAX_FRAMES`] it bounds the stepper's locals to 32 MiB.
pub const MAX_LOCALS: u64 = 4_096;

/// Values each opcode pops, by opcode byte (0 for bytes that are no opcode).
const POPS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < Op::ALL.len() {
        t[Op::ALL[i] as usize] = Op::ALL[i].shape().pops;
        i += 1;
    }
    t
};

/// Why execution trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trap {
    /// `unreachable` executed.
    Unreachable,
    /// Integer division or remainder by zero.
    DivisionByZero,
    /// `i32.div_s`/`i64.div_s` of the minimum value by -1.
    IntegerOverflow,
    /// A load or store past the end of memory.
    OutOfBounds,
    /// More than [`MAX_FRAMES`] nested calls.
    CallStackExhausted,
    /// The pc is past the end of the code (a jump or return to nowhere).
    PcOutOfCode,
    /// An instruction pops more values than the stack holds.
    StackUnderflow,
    /// An instruction adds a value to a stack of [`MAX_STACK`] values.
    StackOverflow,
    /// `return` or a local op with no frame.
    NoFrame,
    /// A local index at or past the frame's local count.
    LocalOutOfRange,
    /// A global index past the globals tree (see [`Machine::globals`]).
    GlobalOutOfRange,
    /// A `call` with more than [`MAX_LOCALS`] locals.
    TooManyLocals,
}

/// Machine status; halted and trapped states are fixed points of `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Executing.
    Running,
    /// Returned from the outermost frame.
    Halted,
    /// Stopped by a trap.
    Trapped(Trap),
}

impl Status {
    /// The status byte committed in the state hash: 0 running, 1 halted, 2 trapped.
    pub fn code(self) -> u8 {
        match self {
            Status::Running => 0,
            Status::Halted => 1,
            Status::Trapped(_) => 2,
        }
    }
}

/// One call frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Where `return` continues.
    pub ret: u32,
    /// Index of the frame's first local in [`Machine::locals`].
    pub base: u32,
    /// Number of locals.
    pub count: u32,
}

/// The whole machine state.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The lowered code (shared, immutable).
    pub code: Arc<[Instr]>,
    /// Status.
    pub status: Status,
    /// Program counter.
    pub pc: u32,
    /// Steps executed.
    pub step: u64,
    /// Value stack (i32 values zero-extended).
    pub stack: Vec<u64>,
    /// Frames, innermost last.
    pub frames: Vec<Frame>,
    /// Locals of all frames, back to back.
    pub locals: Vec<u64>,
    /// Globals. Like the globals tree they behave as if padded with zeros to
    /// a power of two (at least one): an index in the padding reads 0 and a
    /// write there extends the vector; an index past it traps.
    pub globals: Vec<u64>,
    /// Linear memory.
    pub memory: Vec<u8>,
    /// Memory leaves (32 bytes) written since the last [`Machine::take_dirty`].
    dirty: Vec<u64>,
    /// Base of the innermost frame's locals, cached for the hot loop; set from
    /// `frames` on entry to `step`/`run` and kept by `call`/`return`.
    fp: u32,
    /// Local count of the innermost frame (0 without a frame), cached like `fp`.
    fcount: u32,
}

impl Machine {
    /// A machine about to call function `func` of `program` with `args` on the stack;
    /// returning from it halts.
    pub fn call(program: &Program, func: u32, args: &[u64]) -> Machine {
        let code: Arc<[Instr]> = program.code.clone().into();
        let memory = program.memory.clone();
        let mut m = Machine::with_code(code, memory, program.globals.clone());
        let f = &program.functions[func as usize];
        m.stack.extend_from_slice(args);
        m.frames.push(Frame {
            ret: 0,
            base: 0,
            count: f.locals,
        });
        m.locals.resize(f.locals as usize, 0);
        m.pc = f.entry;
        m
    }

    /// A machine with the given code, memory and globals and no frame.
    pub fn with_code(code: Arc<[Instr]>, memory: Vec<u8>, globals: Vec<u64>) -> Machine {
        let leaves = memory.len().div_ceil(32);
        Machine {
            code,
            status: Status::Running,
            pc: 0,
            step: 0,
            stack: Vec::with_capacity(1024),
            frames: vec![],
            locals: vec![],
            globals,
            memory,
            dirty: vec![!0u64; leaves.div_ceil(64)],
            fp: 0,
            fcount: 0,
        }
    }

    /// Pushes a frame that returns to `ret` with the given locals (for crafted
    /// states; `call` pushes frames of zeroed locals).
    pub fn push_frame(&mut self, ret: u32, locals: &[u64]) {
        let base = self.locals.len() as u32;
        self.frames.push(Frame {
            ret,
            base,
            count: locals.len() as u32,
        });
        self.locals.extend_from_slice(locals);
    }

    /// Writes `bytes` at `at` and marks the leaves they touch dirty (a trace
    /// session restoring what a layer call wrote).
    pub fn write_memory(&mut self, at: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.memory[at..at + bytes.len()].copy_from_slice(bytes);
        self.mark_dirty(at, bytes.len());
    }

    /// Marks the leaves of `len` bytes at `at` dirty.
    pub fn mark_dirty(&mut self, at: usize, len: usize) {
        if len == 0 {
            return;
        }
        for leaf in at / 32..=(at + len - 1) / 32 {
            self.dirty[leaf / 64] |= 1 << (leaf % 64);
        }
    }

    /// Marks every memory leaf dirty (after memory was replaced wholesale).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.iter_mut().for_each(|w| *w = !0);
    }

    /// Returns and clears the dirty-leaf bitset.
    pub fn take_dirty(&mut self) -> Vec<u64> {
        let n = self.dirty.len();
        std::mem::replace(&mut self.dirty, vec![0; n])
    }

    /// Calls `f(leaf)` for each dirty 32-byte leaf and clears the set, in
    /// place (no new bitset: measuring thousands of calls of a model of a
    /// gigabyte reallocated and cleared megabytes per call).
    pub fn drain_dirty(&mut self, mut f: impl FnMut(usize)) {
        for (w, word) in self.dirty.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                f(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
    }

    /// True while the machine can make progress.
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }

    /// Executes one step (nothing when halted or trapped).
    pub fn step(&mut self) {
        if self.status != Status::Running {
            return;
        }
        self.sync_fp();
        let r = match self.code.get(self.pc as usize) {
            Some(&ins) => self.exec(ins),
            None => Err(Trap::PcOutOfCode),
        };
        if let Err(t) = r {
            self.status = Status::Trapped(t);
        }
        self.step = self.step.wrapping_add(1);
    }

    /// Runs until halted, trapped, or `max_steps` more steps; returns steps taken.
    pub fn run(&mut self, max_steps: u64) -> u64 {
        let start = self.step;
        self.sync_fp();
        let code = self.code.clone();
        let limit = start.saturating_add(max_steps);
        while self.status == Status::Running && self.step < limit {
            self.advance(&code);
        }
        self.step - start
    }

    /// One step of the run loops (the caller checked the status).
    #[inline(always)]
    fn advance(&mut self, code: &[Instr]) {
        let r = match code.get(self.pc as usize) {
            Some(&ins) => self.exec(ins),
            None => Err(Trap::PcOutOfCode),
        };
        if let Err(t) = r {
            self.status = Status::Trapped(t);
        }
        self.step += 1;
    }

    /// Runs one call sequence of the current frame: steps until a call made
    /// at the current depth has returned (or the machine stops). Returns the
    /// steps taken.
    pub fn run_call(&mut self) -> u64 {
        let start = self.step;
        let depth = self.frames.len();
        self.sync_fp();
        let code = self.code.clone();
        let mut entered = false;
        while self.status == Status::Running {
            self.advance(&code);
            if self.frames.len() > depth {
                entered = true;
            } else if entered {
                break;
            }
        }
        self.step - start
    }

    /// Pops a value; `exec` checked the stack depth first, so the stack is never empty here.
    #[inline(always)]
    fn pop(&mut self) -> u64 {
        self.stack.pop().unwrap_or(0)
    }

    /// Traps when the stack is full (before an instruction that adds a value).
    #[inline(always)]
    fn room(&self) -> Result<(), Trap> {
        if self.stack.len() >= MAX_STACK {
            return Err(Trap::StackOverflow);
        }
        Ok(())
    }

    #[inline(always)]
    fn push(&mut self, v: u64) {
        self.stack.push(v);
    }

    #[inline(always)]
    fn pop32(&mut self) -> u32 {
        self.pop() as u32
    }

    #[inline(always)]
    fn push32(&mut self, v: u32) {
        self.push(v as u64);
    }

    #[inline(always)]
    fn push_bool(&mut self, b: bool) {
        self.push(b as u64);
    }

    /// Where local `i` of the innermost frame lives in [`Machine::locals`];
    /// traps without a frame or past its local count.
    #[inline(always)]
    fn local_index(&self, i: u32) -> Result<usize, Trap> {
        if i >= self.fcount {
            return Err(if self.frames.is_empty() {
                Trap::NoFrame
            } else {
                Trap::LocalOutOfRange
            });
        }
        Ok(self.fp as usize + i as usize)
    }

    fn sync_fp(&mut self) {
        (self.fp, self.fcount) = self.frames.last().map_or((0, 0), |f| (f.base, f.count));
    }

    /// The globals' length padded like the globals tree: a power of two, at least 1.
    fn globals_padded(&self) -> usize {
        self.globals.len().max(1).next_power_of_two()
    }

    #[inline(always)]
    fn addr(&mut self, offset: u64, width: u64) -> Result<usize, Trap> {
        // the whole value is restored on a trap: a crafted i32 may have high bits
        let raw = self.pop();
        let a = (raw as u32 as u64).saturating_add(offset);
        if a.saturating_add(width) > self.memory.len() as u64 {
            self.push(raw);
            return Err(Trap::OutOfBounds);
        }
        Ok(a as usize)
    }

    #[inline(always)]
    fn load<const N: usize>(&mut self, offset: u64) -> Result<[u8; N], Trap> {
        let a = self.addr(offset, N as u64)?;
        Ok(self.memory[a..a + N].try_into().unwrap())
    }

    #[inline(always)]
    fn store(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Trap> {
        let a = self.addr(offset, bytes.len() as u64)?;
        self.memory[a..a + bytes.len()].copy_from_slice(bytes);
        let (first, last) = (a / 32, (a + bytes.len() - 1) / 32);
        self.dirty[first / 64] |= 1 << (first % 64);
        self.dirty[last / 64] |= 1 << (last % 64);
        Ok(())
    }

    /// Executes `ins` at `self.pc`, advancing the pc. A trapping instruction
    /// leaves the state as it found it (operands restored); the caller then sets
    /// the status, so a trap's post-state is the pre-state with `Trapped` status.
    #[inline(always)]
    fn exec(&mut self, ins: Instr) -> Result<(), Trap> {
        if self.stack.len() < POPS[ins.op as usize] as usize {
            return Err(Trap::StackUnderflow);
        }
        let mut next = self.pc.wrapping_add(1);
        macro_rules! bin32 {
            ($f:expr) => {{
                let b = self.pop32();
                let a = self.pop32();
                let f: fn(u32, u32) -> u32 = $f;
                self.push32(f(a, b));
            }};
        }
        macro_rules! bin64 {
            ($f:expr) => {{
                let b = self.pop();
                let a = self.pop();
                let f: fn(u64, u64) -> u64 = $f;
                self.push(f(a, b));
            }};
        }
        macro_rules! cmp32 {
            ($f:expr) => {{
                let b = self.pop32();
                let a = self.pop32();
                let f: fn(u32, u32) -> bool = $f;
                self.push_bool(f(a, b));
            }};
        }
        macro_rules! cmp64 {
            ($f:expr) => {{
                let b = self.pop();
                let a = self.pop();
                let f: fn(u64, u64) -> bool = $f;
                self.push_bool(f(a, b));
            }};
        }
        macro_rules! un32 {
            ($f:expr) => {{
                let a = self.pop32();
                let f: fn(u32) -> u32 = $f;
                self.push32(f(a));
            }};
        }
        macro_rules! un64 {
            ($f:expr) => {{
                let a = self.pop();
                let f: fn(u64) -> u64 = $f;
                self.push(f(a));
            }};
        }
        // a trap restores the whole values: a crafted i32 may have high bits
        macro_rules! divop {
            ($push:ident, $t:ty, $f:expr) => {{
                let b = self.pop();
                let a = self.pop();
                let f: fn($t, $t) -> Result<$t, Trap> = $f;
                match f(a as $t, b as $t) {
                    Ok(v) => self.$push(v),
                    Err(t) => {
                        self.push(a);
                        self.push(b);
                        return Err(t);
                    }
                }
            }};
        }
        match ins.op {
            Op::Unreachable => return Err(Trap::Unreachable),
            Op::Nop => {}
            Op::Jump => next = ins.a,
            Op::JumpIfZero => {
                if self.pop32() == 0 {
                    next = ins.a;
                }
            }
            Op::JumpIfNonZero => {
                if self.pop32() != 0 {
                    next = ins.a;
                }
            }
            Op::JumpTable => {
                let i = self.pop32().min(ins.a);
                next = next.wrapping_add(i);
            }
            Op::Call => {
                if self.frames.len() >= MAX_FRAMES {
                    return Err(Trap::CallStackExhausted);
                }
                if ins.b > MAX_LOCALS {
                    return Err(Trap::TooManyLocals);
                }
                let base = self.locals.len() as u32;
                self.frames.push(Frame {
                    ret: next,
                    base,
                    count: ins.b as u32,
                });
                self.locals.resize(self.locals.len() + ins.b as usize, 0);
                (self.fp, self.fcount) = (base, ins.b as u32);
                next = ins.a;
            }
            Op::Return => {
                let Some(f) = self.frames.pop() else {
                    return Err(Trap::NoFrame);
                };
                self.locals.truncate(f.base as usize);
                self.sync_fp();
                next = f.ret;
            }
            Op::Halt => {
                self.status = Status::Halted;
                next = self.pc;
            }
            Op::Drop => {
                self.pop();
            }
            Op::DropUnder => {
                let top = self.pop();
                self.pop();
                self.push(top);
            }
            Op::Select => {
                let c = self.pop32();
                let b = self.pop();
                let a = self.pop();
                self.push(if c != 0 { a } else { b });
            }
            Op::LocalGet => {
                self.room()?;
                let i = self.local_index(ins.a)?;
                let v = *self.locals.get(i).ok_or(Trap::LocalOutOfRange)?;
                self.push(v);
            }
            Op::LocalSet => {
                let i = self.local_index(ins.a)?;
                let v = self.stack.last().copied().unwrap_or(0);
                *self.locals.get_mut(i).ok_or(Trap::LocalOutOfRange)? = v;
                self.stack.pop();
            }
            Op::LocalTee => {
                let i = self.local_index(ins.a)?;
                let v = self.stack.last().copied().unwrap_or(0);
                *self.locals.get_mut(i).ok_or(Trap::LocalOutOfRange)? = v;
            }
            Op::GlobalGet => {
                self.room()?;
                let i = ins.a as usize;
                let v = match self.globals.get(i) {
                    Some(&v) => v,
                    None if i < self.globals_padded() => 0,
                    None => return Err(Trap::GlobalOutOfRange),
                };
                self.push(v);
            }
            Op::GlobalSet => {
                let i = ins.a as usize;
                if i >= self.globals.len() {
                    if i >= self.globals_padded() {
                        return Err(Trap::GlobalOutOfRange);
                    }
                    let n = self.globals_padded();
                    self.globals.resize(n, 0);
                }
                self.globals[i] = self.pop();
            }
            Op::I32Load => {
                let b = self.load::<4>(ins.b)?;
                self.push32(u32::from_le_bytes(b));
            }
            Op::I64Load => {
                let b = self.load::<8>(ins.b)?;
                self.push(u64::from_le_bytes(b));
            }
            Op::I32Load8S => {
                let b = self.load::<1>(ins.b)?;
                self.push32(b[0] as i8 as i32 as u32);
            }
            Op::I32Load8U => {
                let b = self.load::<1>(ins.b)?;
                self.push32(b[0] as u32);
            }
            Op::I32Load16S => {
                let b = self.load::<2>(ins.b)?;
                self.push32(i16::from_le_bytes(b) as i32 as u32);
            }
            Op::I32Load16U => {
                let b = self.load::<2>(ins.b)?;
                self.push32(u16::from_le_bytes(b) as u32);
            }
            Op::I64Load8S => {
                let b = self.load::<1>(ins.b)?;
                self.push(b[0] as i8 as i64 as u64);
            }
            Op::I64Load8U => {
                let b = self.load::<1>(ins.b)?;
                self.push(b[0] as u64);
            }
            Op::I64Load16S => {
                let b = self.load::<2>(ins.b)?;
                self.push(i16::from_le_bytes(b) as i64 as u64);
            }
            Op::I64Load16U => {
                let b = self.load::<2>(ins.b)?;
                self.push(u16::from_le_bytes(b) as u64);
            }
            Op::I64Load32S => {
                let b = self.load::<4>(ins.b)?;
                self.push(i32::from_le_bytes(b) as i64 as u64);
            }
            Op::I64Load32U => {
                let b = self.load::<4>(ins.b)?;
                self.push(u32::from_le_bytes(b) as u64);
            }
            Op::I32Store
            | Op::I64Store
            | Op::I32Store8
            | Op::I32Store16
            | Op::I64Store8
            | Op::I64Store16
            | Op::I64Store32 => {
                let v = self.pop();
                let width = match ins.op {
                    Op::I64Store => 8,
                    Op::I32Store | Op::I64Store32 => 4,
                    Op::I32Store16 | Op::I64Store16 => 2,
                    _ => 1,
                };
                let bytes = v.to_le_bytes();
                if let Err(t) = self.store(ins.b, &bytes[..width]) {
                    // `addr` restored the address; restore the value above it
                    self.push(v);
                    return Err(t);
                }
            }
            Op::I32Const | Op::I64Const => {
                self.room()?;
                self.push(ins.b);
            }
            Op::I32Eqz => {
                let a = self.pop32();
                self.push_bool(a == 0);
            }
            Op::I64Eqz => {
                let a = self.pop();
                self.push_bool(a == 0);
            }
            Op::I32Eq => cmp32!(|a, b| a == b),
            Op::I32Ne => cmp32!(|a, b| a != b),
            Op::I32LtS => cmp32!(|a, b| (a as i32) < (b as i32)),
            Op::I32LtU => cmp32!(|a, b| a < b),
            Op::I32GtS => cmp32!(|a, b| (a as i32) > (b as i32)),
            Op::I32GtU => cmp32!(|a, b| a > b),
            Op::I32LeS => cmp32!(|a, b| (a as i32) <= (b as i32)),
            Op::I32LeU => cmp32!(|a, b| a <= b),
            Op::I32GeS => cmp32!(|a, b| (a as i32) >= (b as i32)),
            Op::I32GeU => cmp32!(|a, b| a >= b),
            Op::I64Eq => cmp64!(|a, b| a == b),
            Op::I64Ne => cmp64!(|a, b| a != b),
            Op::I64LtS => cmp64!(|a, b| (a as i64) < (b as i64)),
            Op::I64LtU => cmp64!(|a, b| a < b),
            Op::I64GtS => cmp64!(|a, b| (a as i64) > (b as i64)),
            Op::I64GtU => cmp64!(|a, b| a > b),
            Op::I64LeS => cmp64!(|a, b| (a as i64) <= (b as i64)),
            Op::I64LeU => cmp64!(|a, b| a <= b),
            Op::I64GeS => cmp64!(|a, b| (a as i64) >= (b as i64)),
            Op::I64GeU => cmp64!(|a, b| a >= b),
            Op::I32Clz => un32!(|a| a.leading_zeros()),
            Op::I32Ctz => un32!(|a| a.trailing_zeros()),
            Op::I32Popcnt => un32!(|a| a.count_ones()),
            Op::I32Add => bin32!(|a, b| a.wrapping_add(b)),
            Op::I32Sub => bin32!(|a, b| a.wrapping_sub(b)),
            Op::I32Mul => bin32!(|a, b| a.wrapping_mul(b)),
            Op::I32DivS => divop!(push32, u32, |a, b| {
                let (a, b) = (a as i32, b as i32);
                if b == 0 {
                    Err(Trap::DivisionByZero)
                } else if a == i32::MIN && b == -1 {
                    Err(Trap::IntegerOverflow)
                } else {
                    Ok((a / b) as u32)
                }
            }),
            Op::I32DivU => divop!(push32, u32, |a, b| a
                .checked_div(b)
                .ok_or(Trap::DivisionByZero)),
            Op::I32RemS => divop!(push32, u32, |a, b| {
                if b == 0 {
                    Err(Trap::DivisionByZero)
                } else {
                    Ok((a as i32).wrapping_rem(b as i32) as u32)
                }
            }),
            Op::I32RemU => divop!(push32, u32, |a, b| if b == 0 {
                Err(Trap::DivisionByZero)
            } else {
                Ok(a % b)
            }),
            Op::I32And => bin32!(|a, b| a & b),
            Op::I32Or => bin32!(|a, b| a | b),
            Op::I32Xor => bin32!(|a, b| a ^ b),
            Op::I32Shl => bin32!(|a, b| a.wrapping_shl(b)),
            Op::I32ShrS => bin32!(|a, b| (a as i32).wrapping_shr(b) as u32),
            Op::I32ShrU => bin32!(|a, b| a.wrapping_shr(b)),
            Op::I32Rotl => bin32!(|a, b| a.rotate_left(b % 32)),
            Op::I32Rotr => bin32!(|a, b| a.rotate_right(b % 32)),
            Op::I64Clz => un64!(|a| a.leading_zeros() as u64),
            Op::I64Ctz => un64!(|a| a.trailing_zeros() as u64),
            Op::I64Popcnt => un64!(|a| a.count_ones() as u64),
            Op::I64Add => bin64!(|a, b| a.wrapping_add(b)),
            Op::I64Sub => bin64!(|a, b| a.wrapping_sub(b)),
            Op::I64Mul => bin64!(|a, b| a.wrapping_mul(b)),
            Op::I64DivS => divop!(push, u64, |a, b| {
                let (a, b) = (a as i64, b as i64);
                if b == 0 {
                    Err(Trap::DivisionByZero)
                } else if a == i64::MIN && b == -1 {
                    Err(Trap::IntegerOverflow)
                } else {
                    Ok((a / b) as u64)
                }
            }),
            Op::I64DivU => divop!(push, u64, |a, b| a
                .checked_div(b)
                .ok_or(Trap::DivisionByZero)),
            Op::I64RemS => divop!(push, u64, |a, b| {
                if b == 0 {
                    Err(Trap::DivisionByZero)
                } else {
                    Ok((a as i64).wrapping_rem(b as i64) as u64)
                }
            }),
            Op::I64RemU => divop!(push, u64, |a, b| if b == 0 {
                Err(Trap::DivisionByZero)
            } else {
                Ok(a % b)
            }),
            Op::I64And => bin64!(|a, b| a & b),
            Op::I64Or => bin64!(|a, b| a | b),
            Op::I64Xor => bin64!(|a, b| a ^ b),
            Op::I64Shl => bin64!(|a, b| a.wrapping_shl(b as u32)),
            Op::I64ShrS => bin64!(|a, b| (a as i64).wrapping_shr(b as u32) as u64),
            Op::I64ShrU => bin64!(|a, b| a.wrapping_shr(b as u32)),
            Op::I64Rotl => bin64!(|a, b| a.rotate_left((b % 64) as u32)),
            Op::I64Rotr => bin64!(|a, b| a.rotate_right((b % 64) as u32)),
            Op::I32WrapI64 => un64!(|a| a as u32 as u64),
            Op::I64ExtendI32S => un64!(|a| a as u32 as i32 as i64 as u64),
            Op::I64ExtendI32U => un64!(|a| a as u32 as u64),
            Op::I32Extend8S => un32!(|a| a as u8 as i8 as i32 as u32),
            Op::I32Extend16S => un32!(|a| a as u16 as i16 as i32 as u32),
            Op::I64Extend8S => un64!(|a| a as u8 as i8 as i64 as u64),
            Op::I64Extend16S => un64!(|a| a as u16 as i16 as i64 as u64),
            Op::I64Extend32S => un64!(|a| a as u32 as i32 as i64 as u64),
        }
        self.pc = next;
        Ok(())
    }
}
