//! Differential testing of the stepper against wasmtime.
//!
//! [`compare_module`] runs every exported function of an integer-subset module
//! in both engines (a fresh instance and a fresh machine per function) and
//! compares trap versus return, the returned values, the trap kind, the final
//! exported memory and the final exported globals. When the stepper traps it
//! also checks the trap semantics: the trapped state equals the state one step
//! earlier except for the status and the step counter.
//!
//! The program generator (wasm-smith) is a dev-dependency, so it lives with the
//! test and the example (`vm/tests/fuzz_diff.rs`), which pass it to
//! [`run_programs_with`].

use super::exec::{Machine, Status, Trap};
use super::lower::{Program, lower};
use arbitrary::Unstructured;
use std::collections::BTreeMap;
use wasm_smith::{Config, InstructionKind, InstructionKinds};
use wasmparser::{ExternalKind, Parser, Payload, ValType};
use wasmtime::{Engine, Instance, Module, Store, Val};

/// Step budget of one stepper call; generated programs are fuel-bounded far below it.
pub const STEP_LIMIT: u64 = 20_000_000;

/// A small deterministic PRNG (SplitMix64) for arguments and generator input.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// An interesting integer argument: small, boundary or random.
    pub fn arg(&mut self, ty: ValType) -> u64 {
        let r = self.next_u64();
        let v = match r % 8 {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => (r >> 8) % 64,
            4 => 1 << ((r >> 8) % 64),
            5 => i64::MIN as u64,
            6 => i32::MIN as u32 as u64,
            _ => self.next_u64(),
        };
        match ty {
            ValType::I32 => v as u32 as u64,
            _ => v,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Returned these values (i32 zero-extended).
    Returned(Vec<u64>),
    /// Trapped; `None` when wasmtime reported a trap the stepper has no kind for.
    Trapped(Option<Trap>),
}

/// The totals of a differential run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Programs generated.
    pub programs: usize,
    /// Programs compared in both engines.
    pub compared: usize,
    /// Programs skipped (outside the stepper's subset, or rejected by wasmtime).
    pub skipped: usize,
    /// Function calls compared.
    pub calls: usize,
    /// Calls that trapped (in both engines).
    pub traps: usize,
    /// Trapping calls by trap kind.
    pub trap_kinds: BTreeMap<String, usize>,
    /// Steps executed by the stepper.
    pub steps: u64,
    /// Skip reasons (first words of the error) and how often.
    pub skip_reasons: BTreeMap<String, usize>,
    /// Every disagreement, described.
    pub mismatches: Vec<String>,
}

/// The result of comparing one module.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Not comparable: the reason.
    Skipped(String),
    /// Compared calls.
    Compared {
        /// Calls compared.
        calls: usize,
        /// Calls that trapped, by kind.
        traps: Vec<Trap>,
        /// Stepper steps.
        steps: u64,
        /// Disagreements.
        mismatches: Vec<String>,
    },
}

/// Maps a wasmtime error to the stepper's trap kind.
pub fn trap_kind(e: &wasmtime::Error) -> Option<Trap> {
    match e.downcast_ref::<wasmtime::Trap>()? {
        wasmtime::Trap::UnreachableCodeReached => Some(Trap::Unreachable),
        wasmtime::Trap::IntegerDivisionByZero => Some(Trap::DivisionByZero),
        wasmtime::Trap::IntegerOverflow => Some(Trap::IntegerOverflow),
        wasmtime::Trap::MemoryOutOfBounds => Some(Trap::OutOfBounds),
        wasmtime::Trap::StackOverflow => Some(Trap::CallStackExhausted),
        _ => None,
    }
}

/// Converts a stepper value to a wasmtime argument.
pub fn to_val(ty: ValType, v: u64) -> Val {
    match ty {
        ValType::I32 => Val::I32(v as u32 as i32),
        _ => Val::I64(v as i64),
    }
}

/// Converts an integer wasmtime value to the stepper's representation.
pub fn from_val(v: &Val) -> Option<u64> {
    match v {
        Val::I32(x) => Some(*x as u32 as u64),
        Val::I64(x) => Some(*x as u64),
        _ => None,
    }
}

/// The outcome of a finished stepper run; `None` while it is still running.
pub fn machine_outcome(m: &Machine) -> Option<Outcome> {
    match m.status {
        Status::Running => None,
        Status::Halted => Some(Outcome::Returned(m.stack.clone())),
        Status::Trapped(t) => Some(Outcome::Trapped(Some(t))),
    }
}

/// Checks the trap semantics of a trapped machine `trapped` that started as
/// `fresh`: replaying all but the last step must give the trapped state with
/// status `Running` and one step fewer.
pub fn check_trap_state(fresh: &Machine, trapped: &Machine) -> Result<(), String> {
    let mut pre = fresh.clone();
    pre.run(trapped.step - fresh.step - 1);
    let same = pre.status == Status::Running
        && pre.step + 1 == trapped.step
        && pre.pc == trapped.pc
        && pre.stack == trapped.stack
        && pre.frames == trapped.frames
        && pre.locals == trapped.locals
        && pre.globals == trapped.globals
        && pre.memory == trapped.memory;
    if same {
        Ok(())
    } else {
        Err(format!(
            "trap at step {} (pc {}, {:?}) changed the state: pre-state pc {} stack {:?}, trapped pc {} stack {:?}",
            trapped.step,
            trapped.pc,
            trapped.code.get(trapped.pc as usize),
            pre.pc,
            pre.stack,
            trapped.pc,
            trapped.stack
        ))
    }
}

struct Exports {
    funcs: Vec<(String, u32)>,
    globals: Vec<(String, u32)>,
    memory: Option<String>,
    func_params: Vec<Vec<ValType>>,
}

fn exports(wasm: &[u8]) -> Result<Exports, String> {
    let mut types: Vec<Vec<ValType>> = vec![];
    let mut out = Exports {
        funcs: vec![],
        globals: vec![],
        memory: None,
        func_params: vec![],
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    types.push(ty.map_err(|e| e.to_string())?.params().to_vec());
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    out.func_params
                        .push(types[t.map_err(|e| e.to_string())? as usize].clone());
                }
            }
            Payload::ExportSection(r) => {
                for x in r {
                    let x = x.map_err(|e| e.to_string())?;
                    match x.kind {
                        ExternalKind::Func => out.funcs.push((x.name.to_string(), x.index)),
                        ExternalKind::Global => out.globals.push((x.name.to_string(), x.index)),
                        ExternalKind::Memory => out.memory = Some(x.name.to_string()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Compares every exported function of `wasm` in wasmtime (`engine`) and in
/// the stepper, with arguments drawn from `rng`.
pub fn compare_module(engine: &Engine, wasm: &[u8], rng: &mut Rng) -> Verdict {
    let program = match lower(wasm) {
        Ok(p) => p,
        Err(e) => return Verdict::Skipped(format!("lower: {}", e.0)),
    };
    let module = match Module::new(engine, wasm) {
        Ok(m) => m,
        Err(e) => return Verdict::Skipped(format!("wasmtime: {e}")),
    };
    let ex = match exports(wasm) {
        Ok(x) => x,
        Err(e) => return Verdict::Skipped(format!("parse: {e}")),
    };
    let (mut calls, mut traps, mut steps, mut mismatches) = (0, vec![], 0, vec![]);
    for (name, index) in &ex.funcs {
        let params = &ex.func_params[*index as usize];
        let args: Vec<u64> = params.iter().map(|&t| rng.arg(t)).collect();
        match compare_call(engine, &module, &program, &ex, name, *index, params, &args) {
            Ok((trapped, s)) => {
                calls += 1;
                traps.extend(trapped);
                steps += s;
            }
            Err(e) if e.starts_with("skip:") => return Verdict::Skipped(e),
            Err(e) => mismatches.push(format!("export `{name}` (func {index}) args {args:?}: {e}")),
        }
    }
    Verdict::Compared {
        calls,
        traps,
        steps,
        mismatches,
    }
}

#[allow(clippy::too_many_arguments)]
fn compare_call(
    engine: &Engine,
    module: &Module,
    program: &Program,
    ex: &Exports,
    name: &str,
    index: u32,
    params: &[ValType],
    args: &[u64],
) -> Result<(Option<Trap>, u64), String> {
    let mut store = Store::new(engine, ());
    let instance =
        Instance::new(&mut store, module, &[]).map_err(|e| format!("skip: instantiate: {e}"))?;
    let func = instance
        .get_func(&mut store, name)
        .ok_or("skip: export vanished")?;
    let n_results = func.ty(&store).results().len();
    let vals: Vec<Val> = params
        .iter()
        .zip(args)
        .map(|(&t, &v)| to_val(t, v))
        .collect();
    let mut results = vec![Val::I32(0); n_results];
    let expected = match func.call(&mut store, &vals, &mut results) {
        Ok(()) => Outcome::Returned(
            results
                .iter()
                .map(|v| from_val(v).ok_or("non-integer result"))
                .collect::<Result<_, _>>()?,
        ),
        Err(e) => Outcome::Trapped(trap_kind(&e)),
    };

    let fresh = Machine::call(program, index, args);
    let mut m = fresh.clone();
    let steps = m.run(STEP_LIMIT);
    let Some(got) = machine_outcome(&m) else {
        return Err(format!(
            "stepper still running after {STEP_LIMIT} steps; wasmtime: {expected:?}"
        ));
    };
    if got != expected {
        return Err(format!(
            "wasmtime {expected:?}, stepper {got:?} (after {steps} steps, pc {})",
            m.pc
        ));
    }
    if let Status::Trapped(_) = m.status {
        check_trap_state(&fresh, &m)?;
    }
    if let Some(mem) = &ex.memory {
        let wm = instance
            .get_memory(&mut store, mem)
            .ok_or("memory export vanished")?;
        let data = wm.data(&store);
        if data != &m.memory[..] {
            let at = data.iter().zip(&m.memory).position(|(a, b)| a != b);
            return Err(format!(
                "memory differs (wasmtime {} bytes, stepper {}; first difference at {at:?})",
                data.len(),
                m.memory.len()
            ));
        }
    }
    for (gname, gi) in &ex.globals {
        let g = instance
            .get_global(&mut store, gname)
            .ok_or("global export vanished")?;
        let w = from_val(&g.get(&mut store)).ok_or("non-integer global")?;
        let s = m.globals[*gi as usize];
        if w != s {
            return Err(format!(
                "global {gi} (`{gname}`): wasmtime {w:#x}, stepper {s:#x}"
            ));
        }
    }
    let trap = match got {
        Outcome::Trapped(t) => t,
        Outcome::Returned(_) => None,
    };
    Ok((trap, steps))
}

/// Generates `n` programs with `generate(rng)` (returning `None` when the
/// generator gives up) and compares each; `seed` makes the run reproducible:
/// program `i` uses the seed `seed + i`.
pub fn run_programs_with(
    seed: u64,
    n: usize,
    mut generate: impl FnMut(&mut Rng) -> Option<Vec<u8>>,
) -> Report {
    let engine = crate::runtime::engine(false).expect("wasmtime engine");
    let mut report = Report::default();
    for i in 0..n {
        let s = seed.wrapping_add(i as u64);
        let mut rng = Rng::new(s);
        report.programs += 1;
        let Some(wasm) = generate(&mut rng) else {
            report.skipped += 1;
            *report.skip_reasons.entry("generator".into()).or_default() += 1;
            continue;
        };
        match compare_module(&engine, &wasm, &mut rng) {
            Verdict::Skipped(why) => {
                report.skipped += 1;
                let key: String = why
                    .split([':', '{', '('])
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(":");
                *report.skip_reasons.entry(key).or_default() += 1;
            }
            Verdict::Compared {
                calls,
                traps,
                steps,
                mismatches,
            } => {
                report.compared += 1;
                report.calls += calls;
                report.traps += traps.len();
                for t in traps {
                    *report.trap_kinds.entry(format!("{t:?}")).or_default() += 1;
                }
                report.steps += steps;
                report
                    .mismatches
                    .extend(mismatches.into_iter().map(|m| format!("seed {s}: {m}")));
            }
        }
    }
    report
}

/// One call of an exported function, ready for [`Machine::call`].
#[derive(Debug, Clone)]
pub struct ExportCall {
    /// Export name.
    pub name: String,
    /// Function index.
    pub func: u32,
    /// Arguments drawn with [`Rng::arg`] (i32 zero-extended).
    pub args: Vec<u64>,
}

/// Lowers `wasm` and draws arguments from `rng` for each exported function, in
/// export order (the same draws [`compare_module`] makes); `Err` names why the
/// module is outside the stepper's subset.
pub fn export_calls(wasm: &[u8], rng: &mut Rng) -> Result<(Program, Vec<ExportCall>), String> {
    let program = lower(wasm).map_err(|e| format!("lower: {}", e.0))?;
    let ex = exports(wasm).map_err(|e| format!("parse: {e}"))?;
    let calls = ex
        .funcs
        .iter()
        .map(|(name, index)| ExportCall {
            name: name.clone(),
            func: *index,
            args: ex.func_params[*index as usize]
                .iter()
                .map(|&t| rng.arg(t))
                .collect(),
        })
        .collect();
    Ok((program, calls))
}

// ---- the program generator, shared by the differential fuzzers of the
// stepper (`vm/tests/fuzz_diff.rs`) and of the Solidity verifier
// (`onchain/tests/fuzz_osp.rs`)

/// Fuel injected by `ensure_termination`: each loop iteration and call costs
/// one, so call depth stays below the stepper's frame limit.
pub const FUEL: u32 = 400;

/// wasm-smith configured to the stepper's integer subset of the profile.
/// `disallow_traps` makes wasm-smith guard divisions, so those programs run
/// deeper instead of trapping early (they have no memory instructions, whose
/// guards would use `memory.size`).
pub fn config(disallow_traps: bool) -> Config {
    Config {
        disallow_traps,
        allow_floats: false,
        simd_enabled: false,
        relaxed_simd_enabled: false,
        reference_types_enabled: false,
        bulk_memory_enabled: false,
        multi_value_enabled: false,
        saturating_float_to_int_enabled: false,
        sign_extension_ops_enabled: true,
        exceptions_enabled: false,
        threads_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        custom_page_sizes_enabled: false,
        compact_imports_enabled: false,
        allow_start_export: false,
        export_everything: true,
        max_imports: 0,
        max_tables: 0,
        max_tags: 0,
        max_element_segments: 0,
        min_memories: 1,
        max_memories: 1,
        max_memory32_bytes: 2 * 65536,
        memory_max_size_required: false,
        max_data_segments: 4,
        min_funcs: 2,
        max_funcs: 6,
        min_types: 2,
        max_types: 6,
        max_globals: 6,
        max_instructions: std::env::var("FUZZ_MAX_INSTRUCTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
        max_nesting_depth: 6,
        max_values: 1,
        // trap guards on loads and stores use `memory.size`: no memory
        // instructions in the trap-free half
        allowed_instructions: InstructionKinds::new(if disallow_traps {
            &[
                InstructionKind::NumericInt,
                InstructionKind::Parametric,
                InstructionKind::Variable,
                InstructionKind::Control,
            ]
        } else {
            &[
                InstructionKind::NumericInt,
                InstructionKind::Parametric,
                InstructionKind::Variable,
                InstructionKind::MemoryInt,
                InstructionKind::Control,
            ]
        }),
        ..Config::default()
    }
}

/// One program from `rng`: wasm-smith output with injected fuel. Programs
/// using `memory.size`/`memory.grow` (outside the profile) are regenerated, up
/// to a few times, so most runs compare something.
pub fn generate(rng: &mut Rng) -> Option<Vec<u8>> {
    let mut wasm = None;
    for _ in 0..16 {
        let len = 512 + (rng.next_u64() % 4096) as usize;
        let bytes = rng.bytes(len);
        let mut u = Unstructured::new(&bytes);
        let mut module = wasm_smith::Module::new(config(rng.next_u64() & 1 == 0), &mut u).ok()?;
        module.ensure_termination(FUEL).ok()?;
        let w = module.to_bytes();
        let done = lower(&w).is_ok();
        wasm = Some(w);
        if done {
            break;
        }
    }
    wasm
}
