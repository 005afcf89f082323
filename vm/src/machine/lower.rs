//! Lowering of profile WebAssembly into the flat instruction array.
//!
//! Blocks, loops and ifs disappear: branches become jumps whose targets are
//! resolved here, and a branch that leaves values behind is preceded by
//! explicit `drop`/`drop_under` steps so every step touches O(1) stack values.
//! Each function starts with a prologue of `local.set` steps that move its
//! parameters from the value stack into its locals. `code[0]` is `halt`: the
//! outermost frame returns there.
//!
//! Functions the stepper's limits could stop are rejected: more than
//! [`MAX_LOCALS`] locals, or an operand stack deeper than
//! [`MAX_FUNCTION_STACK`] values (so that even [`MAX_FRAMES`] nested calls stay
//! within [`MAX_STACK`]). Lowered code never traps on those limits.

use super::exec::{MAX_FRAMES, MAX_LOCALS, MAX_STACK};
use super::isa::{Instr, Op};
use std::collections::HashMap;
use wasmparser::{
    BlockType, DataKind, ExternalKind, FunctionBody, Operator, Parser, Payload, TypeRef, ValType,
};

/// Deepest operand stack of one function the lowering accepts: [`MAX_FRAMES`]
/// frames of it fill the stepper's stack of [`MAX_STACK`] values.
pub const MAX_FUNCTION_STACK: u32 = (MAX_STACK / MAX_FRAMES) as u32;

/// A lowered function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    /// First instruction (the prologue).
    pub entry: u32,
    /// Parameters.
    pub params: u32,
    /// Results (0 or 1).
    pub results: u32,
    /// Locals including parameters.
    pub locals: u32,
}

/// A lowered module: code, functions, and the initial globals and memory.
#[derive(Debug, Clone)]
pub struct Program {
    /// The instructions; `code[0]` is `halt`.
    pub code: Vec<Instr>,
    /// Functions by WASM function index.
    pub functions: Vec<FuncInfo>,
    /// Exported functions by name.
    pub exports: HashMap<String, u32>,
    /// Initial global values (i32 zero-extended).
    pub globals: Vec<u64>,
    /// Initial memory (data segments applied), whole memory.
    pub memory: Vec<u8>,
    /// Per function: outside the subset and lowered as a stub (a single
    /// `unreachable`) by [`lower_lenient`]; all `false` from [`lower`].
    pub unsupported: Vec<bool>,
}

impl Program {
    /// Whether `pc` is the entry (and only instruction) of a stub function.
    pub fn is_stub_pc(&self, pc: u32) -> bool {
        self.functions
            .iter()
            .zip(&self.unsupported)
            .any(|(f, &stub)| stub && f.entry == pc)
    }
}

/// A module the lowering cannot handle.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot lower module: {0}")]
pub struct LowerError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, LowerError> {
    Err(LowerError(msg.into()))
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Block,
    Loop,
    If,
    Function,
}

struct Control {
    kind: Kind,
    height: u32,
    arity: u32,
    start: u32,
    fixups: Vec<usize>,
    else_fixup: Option<usize>,
    unreachable: bool,
}

struct FnLowering<'a> {
    code: &'a mut Vec<Instr>,
    calls: &'a mut Vec<(usize, u32)>,
    types: &'a [(u32, u32)],
    func_types: &'a [(u32, u32)],
    control: Vec<Control>,
    height: u32,
    dead_depth: u32,
}

impl FnLowering<'_> {
    fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    fn emit(&mut self, op: Op, a: u32, b: u64) -> usize {
        self.code.push(Instr { op, a, b });
        self.code.len() - 1
    }

    fn block_arity(&self, bt: BlockType) -> Result<u32, LowerError> {
        match bt {
            BlockType::Empty => Ok(0),
            BlockType::Type(_) => Ok(1),
            BlockType::FuncType(t) => {
                let (p, r) = self.types[t as usize];
                if p != 0 || r > 1 {
                    return err(
                        "blocks with parameters or several results are outside the profile",
                    );
                }
                Ok(r)
            }
        }
    }

    /// Emits the drops that leave `keep` values on top at the label's height,
    /// then a jump (or returns the jump's index for a fixup).
    fn branch(&mut self, depth: u32, op: Op) -> Result<(), LowerError> {
        let idx = self.control.len() - 1 - depth as usize;
        let (kind, start) = (self.control[idx].kind, self.control[idx].start);
        let keep = if kind == Kind::Loop {
            0
        } else {
            self.control[idx].arity
        };
        let drop = self.height - self.control[idx].height - keep;
        for _ in 0..drop {
            self.emit(if keep == 0 { Op::Drop } else { Op::DropUnder }, 0, 0);
        }
        if kind == Kind::Function {
            self.emit(Op::Return, 0, 0);
            return Ok(());
        }
        if kind == Kind::Loop {
            self.emit(op, start, 0);
        } else {
            let j = self.emit(op, 0, 0);
            self.control[idx].fixups.push(j);
        }
        Ok(())
    }

    fn drops_for(&self, depth: u32) -> u32 {
        let target = &self.control[self.control.len() - 1 - depth as usize];
        let keep = if target.kind == Kind::Loop {
            0
        } else {
            target.arity
        };
        self.height - target.height - keep
    }

    fn set_unreachable(&mut self) {
        self.control.last_mut().unwrap().unreachable = true;
    }

    fn lower(&mut self, op: &Operator) -> Result<(), LowerError> {
        use Operator as O;
        let dead = self.control.last().is_some_and(|c| c.unreachable);
        if dead {
            match op {
                O::Block { .. } | O::Loop { .. } | O::If { .. } => {
                    self.dead_depth += 1;
                    return Ok(());
                }
                O::End if self.dead_depth > 0 => {
                    self.dead_depth -= 1;
                    return Ok(());
                }
                O::Else if self.dead_depth > 0 => return Ok(()),
                O::End | O::Else => {}
                _ => return Ok(()),
            }
        }
        let simple = |o: Op, pops: u32, pushes: u32| Some((o, pops, pushes));
        let arith = match op {
            O::Drop => simple(Op::Drop, 1, 0),
            O::Select | O::TypedSelect { .. } => simple(Op::Select, 3, 1),
            O::I32Eqz => simple(Op::I32Eqz, 1, 1),
            O::I64Eqz => simple(Op::I64Eqz, 1, 1),
            O::I32Eq => simple(Op::I32Eq, 2, 1),
            O::I32Ne => simple(Op::I32Ne, 2, 1),
            O::I32LtS => simple(Op::I32LtS, 2, 1),
            O::I32LtU => simple(Op::I32LtU, 2, 1),
            O::I32GtS => simple(Op::I32GtS, 2, 1),
            O::I32GtU => simple(Op::I32GtU, 2, 1),
            O::I32LeS => simple(Op::I32LeS, 2, 1),
            O::I32LeU => simple(Op::I32LeU, 2, 1),
            O::I32GeS => simple(Op::I32GeS, 2, 1),
            O::I32GeU => simple(Op::I32GeU, 2, 1),
            O::I64Eq => simple(Op::I64Eq, 2, 1),
            O::I64Ne => simple(Op::I64Ne, 2, 1),
            O::I64LtS => simple(Op::I64LtS, 2, 1),
            O::I64LtU => simple(Op::I64LtU, 2, 1),
            O::I64GtS => simple(Op::I64GtS, 2, 1),
            O::I64GtU => simple(Op::I64GtU, 2, 1),
            O::I64LeS => simple(Op::I64LeS, 2, 1),
            O::I64LeU => simple(Op::I64LeU, 2, 1),
            O::I64GeS => simple(Op::I64GeS, 2, 1),
            O::I64GeU => simple(Op::I64GeU, 2, 1),
            O::I32Clz => simple(Op::I32Clz, 1, 1),
            O::I32Ctz => simple(Op::I32Ctz, 1, 1),
            O::I32Popcnt => simple(Op::I32Popcnt, 1, 1),
            O::I64Clz => simple(Op::I64Clz, 1, 1),
            O::I64Ctz => simple(Op::I64Ctz, 1, 1),
            O::I64Popcnt => simple(Op::I64Popcnt, 1, 1),
            O::I32Add => simple(Op::I32Add, 2, 1),
            O::I32Sub => simple(Op::I32Sub, 2, 1),
            O::I32Mul => simple(Op::I32Mul, 2, 1),
            O::I32DivS => simple(Op::I32DivS, 2, 1),
            O::I32DivU => simple(Op::I32DivU, 2, 1),
            O::I32RemS => simple(Op::I32RemS, 2, 1),
            O::I32RemU => simple(Op::I32RemU, 2, 1),
            O::I32And => simple(Op::I32And, 2, 1),
            O::I32Or => simple(Op::I32Or, 2, 1),
            O::I32Xor => simple(Op::I32Xor, 2, 1),
            O::I32Shl => simple(Op::I32Shl, 2, 1),
            O::I32ShrS => simple(Op::I32ShrS, 2, 1),
            O::I32ShrU => simple(Op::I32ShrU, 2, 1),
            O::I32Rotl => simple(Op::I32Rotl, 2, 1),
            O::I32Rotr => simple(Op::I32Rotr, 2, 1),
            O::I64Add => simple(Op::I64Add, 2, 1),
            O::I64Sub => simple(Op::I64Sub, 2, 1),
            O::I64Mul => simple(Op::I64Mul, 2, 1),
            O::I64DivS => simple(Op::I64DivS, 2, 1),
            O::I64DivU => simple(Op::I64DivU, 2, 1),
            O::I64RemS => simple(Op::I64RemS, 2, 1),
            O::I64RemU => simple(Op::I64RemU, 2, 1),
            O::I64And => simple(Op::I64And, 2, 1),
            O::I64Or => simple(Op::I64Or, 2, 1),
            O::I64Xor => simple(Op::I64Xor, 2, 1),
            O::I64Shl => simple(Op::I64Shl, 2, 1),
            O::I64ShrS => simple(Op::I64ShrS, 2, 1),
            O::I64ShrU => simple(Op::I64ShrU, 2, 1),
            O::I64Rotl => simple(Op::I64Rotl, 2, 1),
            O::I64Rotr => simple(Op::I64Rotr, 2, 1),
            O::I32WrapI64 => simple(Op::I32WrapI64, 1, 1),
            O::I64ExtendI32S => simple(Op::I64ExtendI32S, 1, 1),
            O::I64ExtendI32U => simple(Op::I64ExtendI32U, 1, 1),
            O::I32Extend8S => simple(Op::I32Extend8S, 1, 1),
            O::I32Extend16S => simple(Op::I32Extend16S, 1, 1),
            O::I64Extend8S => simple(Op::I64Extend8S, 1, 1),
            O::I64Extend16S => simple(Op::I64Extend16S, 1, 1),
            O::I64Extend32S => simple(Op::I64Extend32S, 1, 1),
            _ => None,
        };
        if let Some((o, pops, pushes)) = arith {
            self.emit(o, 0, 0);
            self.height = self.height - pops + pushes;
            return Ok(());
        }
        let mem = |o: Op, m: &wasmparser::MemArg, load: bool| (o, m.offset, load, m.memory);
        let memop = match op {
            O::I32Load { memarg } => Some(mem(Op::I32Load, memarg, true)),
            O::I64Load { memarg } => Some(mem(Op::I64Load, memarg, true)),
            O::I32Load8S { memarg } => Some(mem(Op::I32Load8S, memarg, true)),
            O::I32Load8U { memarg } => Some(mem(Op::I32Load8U, memarg, true)),
            O::I32Load16S { memarg } => Some(mem(Op::I32Load16S, memarg, true)),
            O::I32Load16U { memarg } => Some(mem(Op::I32Load16U, memarg, true)),
            O::I64Load8S { memarg } => Some(mem(Op::I64Load8S, memarg, true)),
            O::I64Load8U { memarg } => Some(mem(Op::I64Load8U, memarg, true)),
            O::I64Load16S { memarg } => Some(mem(Op::I64Load16S, memarg, true)),
            O::I64Load16U { memarg } => Some(mem(Op::I64Load16U, memarg, true)),
            O::I64Load32S { memarg } => Some(mem(Op::I64Load32S, memarg, true)),
            O::I64Load32U { memarg } => Some(mem(Op::I64Load32U, memarg, true)),
            O::I32Store { memarg } => Some(mem(Op::I32Store, memarg, false)),
            O::I64Store { memarg } => Some(mem(Op::I64Store, memarg, false)),
            O::I32Store8 { memarg } => Some(mem(Op::I32Store8, memarg, false)),
            O::I32Store16 { memarg } => Some(mem(Op::I32Store16, memarg, false)),
            O::I64Store8 { memarg } => Some(mem(Op::I64Store8, memarg, false)),
            O::I64Store16 { memarg } => Some(mem(Op::I64Store16, memarg, false)),
            O::I64Store32 { memarg } => Some(mem(Op::I64Store32, memarg, false)),
            _ => None,
        };
        if let Some((o, offset, load, index)) = memop {
            if index != 0 {
                return err(
                    "memory accesses to a memory other than memory 0 are outside the profile",
                );
            }
            self.emit(o, 0, offset);
            if !load {
                self.height -= 2;
            }
            return Ok(());
        }
        match op {
            O::Nop => {}
            O::Unreachable => {
                self.emit(Op::Unreachable, 0, 0);
                self.set_unreachable();
            }
            O::I32Const { value } => {
                self.emit(Op::I32Const, 0, *value as u32 as u64);
                self.height += 1;
            }
            O::I64Const { value } => {
                self.emit(Op::I64Const, 0, *value as u64);
                self.height += 1;
            }
            O::LocalGet { local_index } => {
                self.emit(Op::LocalGet, *local_index, 0);
                self.height += 1;
            }
            O::LocalSet { local_index } => {
                self.emit(Op::LocalSet, *local_index, 0);
                self.height -= 1;
            }
            O::LocalTee { local_index } => {
                self.emit(Op::LocalTee, *local_index, 0);
            }
            O::GlobalGet { global_index } => {
                self.emit(Op::GlobalGet, *global_index, 0);
                self.height += 1;
            }
            O::GlobalSet { global_index } => {
                self.emit(Op::GlobalSet, *global_index, 0);
                self.height -= 1;
            }
            O::Block { blockty } => {
                let arity = self.block_arity(*blockty)?;
                let pc = self.pc();
                self.control.push(Control {
                    kind: Kind::Block,
                    height: self.height,
                    arity,
                    start: pc,
                    fixups: vec![],
                    else_fixup: None,
                    unreachable: false,
                });
            }
            O::Loop { blockty } => {
                let arity = self.block_arity(*blockty)?;
                let pc = self.pc();
                self.control.push(Control {
                    kind: Kind::Loop,
                    height: self.height,
                    arity,
                    start: pc,
                    fixups: vec![],
                    else_fixup: None,
                    unreachable: false,
                });
            }
            O::If { blockty } => {
                let arity = self.block_arity(*blockty)?;
                self.height -= 1;
                let j = self.emit(Op::JumpIfZero, 0, 0);
                let pc = self.pc();
                self.control.push(Control {
                    kind: Kind::If,
                    height: self.height,
                    arity,
                    start: pc,
                    fixups: vec![],
                    else_fixup: Some(j),
                    unreachable: false,
                });
            }
            O::Else => {
                let j = self.emit(Op::Jump, 0, 0);
                let pc = self.pc();
                let c = self.control.last_mut().unwrap();
                c.fixups.push(j);
                if let Some(f) = c.else_fixup.take() {
                    self.code[f].a = pc;
                }
                let c = self.control.last_mut().unwrap();
                c.unreachable = false;
                self.height = c.height;
            }
            O::End => {
                let c = self.control.pop().unwrap();
                if c.kind == Kind::Function {
                    self.emit(Op::Return, 0, 0);
                    return Ok(());
                }
                let pc = self.pc();
                for f in c.fixups {
                    self.code[f].a = pc;
                }
                if let Some(f) = c.else_fixup {
                    self.code[f].a = pc;
                }
                self.height = c.height + c.arity;
            }
            O::Br { relative_depth } => {
                self.branch(*relative_depth, Op::Jump)?;
                self.set_unreachable();
            }
            O::BrIf { relative_depth } => {
                self.height -= 1;
                if self.drops_for(*relative_depth) == 0
                    && self.control[self.control.len() - 1 - *relative_depth as usize].kind
                        != Kind::Function
                {
                    self.branch(*relative_depth, Op::JumpIfNonZero)?;
                } else {
                    let skip = self.emit(Op::JumpIfZero, 0, 0);
                    self.branch(*relative_depth, Op::Jump)?;
                    let pc = self.pc();
                    self.code[skip].a = pc;
                }
            }
            O::BrTable { targets } => {
                self.height -= 1;
                let depths: Vec<u32> = targets
                    .targets()
                    .collect::<Result<_, _>>()
                    .map_err(|e| LowerError(e.to_string()))?;
                let n = depths.len() as u32;
                self.emit(Op::JumpTable, n, 0);
                let table_start = self.code.len();
                let all: Vec<u32> = depths.iter().copied().chain([targets.default()]).collect();
                for _ in &all {
                    self.emit(Op::Jump, 0, 0);
                }
                for (k, &d) in all.iter().enumerate() {
                    let stub = self.pc();
                    self.code[table_start + k].a = stub;
                    self.branch(d, Op::Jump)?;
                }
                self.set_unreachable();
            }
            O::Return => {
                let depth = self.control.len() as u32 - 1;
                self.branch(depth, Op::Return)?;
                self.set_unreachable();
            }
            O::Call { function_index } => {
                let (p, r) = self.func_types[*function_index as usize];
                let j = self.emit(Op::Call, 0, 0);
                self.calls.push((j, *function_index));
                self.height = self.height - p + r;
            }
            other => return err(format!("instruction {other:?} is outside the opML profile")),
        }
        Ok(())
    }
}

fn val_ok(v: ValType) -> Result<(), LowerError> {
    match v {
        ValType::I32 | ValType::I64 => Ok(()),
        other => err(format!("value type {other:?} is outside the opML profile")),
    }
}

/// Lowers a module (validated against the profile, or any module in the
/// integer subset such as the spec tests' and wasm-smith's).
pub fn lower(wasm: &[u8]) -> Result<Program, LowerError> {
    lower_with(wasm, false)
}

/// Lowers a module like [`lower`], except that a function outside the integer
/// subset (float types in its signature or locals, or an instruction or block
/// type the lowering rejects) becomes a stub of a single `unreachable`
/// ([`Program::unsupported`]), and float globals start as 0. Module-level
/// restrictions (imports, memories, data segments, start) still apply.
pub fn lower_lenient(wasm: &[u8]) -> Result<Program, LowerError> {
    lower_with(wasm, true)
}

fn vals_ok<'v>(mut vs: impl Iterator<Item = &'v ValType>) -> bool {
    vs.all(|&v| val_ok(v).is_ok())
}

fn lower_with(wasm: &[u8], lenient: bool) -> Result<Program, LowerError> {
    let mut types: Vec<(u32, u32)> = vec![];
    let mut func_types: Vec<(u32, u32)> = vec![];
    // per type: signature inside the subset (integers, at most one result)
    let mut types_ok: Vec<bool> = vec![];
    let mut func_ok: Vec<bool> = vec![];
    let mut globals: Vec<u64> = vec![];
    let mut memory: Vec<u8> = vec![];
    let mut memories = 0;
    let mut exports = HashMap::new();
    let mut bodies: Vec<FunctionBody> = vec![];
    let mut data: Vec<(u64, Vec<u8>)> = vec![];
    let e = |x: wasmparser::BinaryReaderError| LowerError(x.to_string());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(e)? {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    let f = ty.map_err(e)?;
                    let ok =
                        vals_ok(f.params().iter().chain(f.results())) && f.results().len() <= 1;
                    if !lenient {
                        for &v in f.params().iter().chain(f.results()) {
                            val_ok(v)?;
                        }
                        if f.results().len() > 1 {
                            return err("functions with several results are outside the profile");
                        }
                    }
                    types_ok.push(ok);
                    types.push((f.params().len() as u32, f.results().len() as u32));
                }
            }
            Payload::ImportSection(r) if r.count() > 0 => {
                return err("imports are outside the profile");
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    let t = t.map_err(e)? as usize;
                    func_types.push(types[t]);
                    func_ok.push(types_ok[t]);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m.map_err(e)?;
                    if memories > 0 {
                        return err("several memories are outside the profile");
                    }
                    memories += 1;
                    if m.memory64 || m.shared || m.page_size_log2.is_some() {
                        return err(
                            "64-bit, shared or custom-page-size memories are outside the profile",
                        );
                    }
                    if m.initial > 65536 {
                        return err("a 32-bit memory has at most 65536 pages");
                    }
                    memory = vec![0u8; (m.initial * 65536) as usize];
                }
            }
            Payload::GlobalSection(r) => {
                for g in r {
                    let g = g.map_err(e)?;
                    let float = matches!(g.ty.content_type, ValType::F32 | ValType::F64);
                    if !(lenient && float) {
                        val_ok(g.ty.content_type)?;
                    }
                    let mut ops = g.init_expr.get_operators_reader();
                    let v = match ops.read().map_err(e)? {
                        Operator::I32Const { value } => value as u32 as u64,
                        Operator::I64Const { value } => value as u64,
                        Operator::F32Const { .. } | Operator::F64Const { .. } if lenient => 0,
                        other => {
                            return err(format!(
                                "global initializer {other:?} is outside the profile"
                            ));
                        }
                    };
                    globals.push(v);
                }
            }
            Payload::ExportSection(r) => {
                for x in r {
                    let x = x.map_err(e)?;
                    if x.kind == ExternalKind::Func {
                        exports.insert(x.name.to_string(), x.index);
                    }
                }
            }
            Payload::DataSection(r) => {
                for d in r {
                    let d = d.map_err(e)?;
                    let DataKind::Active { offset_expr, .. } = d.kind else {
                        return err("passive data segments are outside the profile");
                    };
                    let off = match offset_expr.get_operators_reader().read().map_err(e)? {
                        Operator::I32Const { value } => value as u32 as u64,
                        other => {
                            return err(format!("data offset {other:?} is outside the profile"));
                        }
                    };
                    data.push((off, d.data.to_vec()));
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            Payload::StartSection { .. } => return err("start functions are outside the profile"),
            _ => {}
        }
    }
    for (off, bytes) in data {
        let end = off as usize + bytes.len();
        if end > memory.len() {
            return err("a data segment does not fit in memory");
        }
        memory[off as usize..end].copy_from_slice(&bytes);
    }
    let _ = TypeRef::Func(0);

    let mut code = vec![Instr::op(Op::Halt)];
    let mut calls = vec![];
    let mut functions = vec![];
    let mut unsupported = vec![];
    for (i, body) in bodies.iter().enumerate() {
        let (params, results) = func_types[i];
        let mut locals = params;
        let mut ok = func_ok[i];
        for l in body.get_locals_reader().map_err(e)? {
            let (n, t) = l.map_err(e)?;
            if lenient {
                ok &= val_ok(t).is_ok();
            } else {
                val_ok(t)?;
            }
            locals = locals.saturating_add(n);
        }
        if locals as u64 > MAX_LOCALS {
            let why = format!(
                "function {i} has {locals} locals, more than the stepper's limit of {MAX_LOCALS}; \
                 reuse locals or split the function"
            );
            if !lenient {
                return err(why);
            }
            ok = false;
        }
        let entry = code.len() as u32;
        if ok {
            let calls_len = calls.len();
            match lower_body(
                &mut code,
                &mut calls,
                &types,
                &func_types,
                body,
                params,
                results,
            ) {
                Ok(()) => {}
                Err(why) if !lenient => return Err(why),
                Err(_) => {
                    code.truncate(entry as usize);
                    calls.truncate(calls_len);
                    ok = false;
                }
            }
        }
        if !ok {
            code.push(Instr::op(Op::Unreachable));
            locals = params;
        }
        functions.push(FuncInfo {
            entry,
            params,
            results,
            locals,
        });
        unsupported.push(!ok);
    }
    for (at, f) in calls {
        let info = &functions[f as usize];
        code[at].a = info.entry;
        code[at].b = info.locals as u64;
    }
    Ok(Program {
        code,
        functions,
        exports,
        globals,
        memory,
        unsupported,
    })
}

/// Lowers one function body (prologue included) at the end of `code`.
fn lower_body(
    code: &mut Vec<Instr>,
    calls: &mut Vec<(usize, u32)>,
    types: &[(u32, u32)],
    func_types: &[(u32, u32)],
    body: &FunctionBody,
    params: u32,
    results: u32,
) -> Result<(), LowerError> {
    let e = |x: wasmparser::BinaryReaderError| LowerError(x.to_string());
    let entry = code.len() as u32;
    for k in (0..params).rev() {
        code.push(Instr {
            op: Op::LocalSet,
            a: k,
            b: 0,
        });
    }
    let mut fl = FnLowering {
        code,
        calls,
        types,
        func_types,
        control: vec![Control {
            kind: Kind::Function,
            height: 0,
            arity: results,
            start: entry,
            fixups: vec![],
            else_fixup: None,
            unreachable: false,
        }],
        height: 0,
        dead_depth: 0,
    };
    let mut reader = body.get_operators_reader().map_err(e)?;
    let mut deepest = 0;
    while !reader.eof() {
        let op = reader.read().map_err(e)?;
        fl.lower(&op)?;
        deepest = deepest.max(fl.height);
    }
    if deepest > MAX_FUNCTION_STACK {
        return err(format!(
            "a function needs {deepest} operand stack slots, more than the {MAX_FUNCTION_STACK} \
             the stepper allows per function ({MAX_STACK} values over {MAX_FRAMES} frames); \
             split the expression with locals"
        ));
    }
    Ok(())
}
