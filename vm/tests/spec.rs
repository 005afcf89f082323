//! The WebAssembly spec tests (`../shared/wasm-spec/*.wast`) on the stepper and
//! on wasmtime's profile engine.
//!
//! Modules the engine or even `lower_lenient` rejects are skipped with all
//! their assertions. In the others, functions outside the stepper's integer
//! subset are stubs; every `invoke`, `assert_return`, `assert_trap` and
//! `assert_exhaustion` of an integer export that is no stub runs in both
//! engines and must meet the expectation in both, unless the stepper reaches a
//! stub (then it is skipped). Module state (memory, globals) carries over from
//! one invocation to the next, as the spec requires; an invocation that only
//! wasmtime runs has its effect copied into the stepper's state, or when that
//! is impossible (unexported memory or mutable globals) the module's remaining
//! assertions are skipped.

use opml_vm::machine::difftest::{check_trap_state, from_val};
use opml_vm::machine::lower::lower_lenient;
use opml_vm::machine::{Machine, Program, Status, lower};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wasmparser::{ExternalKind, Parser, Payload, ValType};
use wasmtime::{Engine, Instance, Module, Store, Val};
use wast::core::{WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::token::{F32, F64};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Step budget of one invocation (the spec tests' loops are short).
const STEP_LIMIT: u64 = 50_000_000;
/// Largest memory the runner instantiates (bigger ones are skipped).
const MAX_PAGES: u64 = 256;

fn spec_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/wasm-spec"
    ))
    .to_path_buf()
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// An instantiated in-profile module in both engines.
struct Live {
    store: Store<()>,
    instance: Instance,
    /// The program with the memory and globals of the latest invocation.
    program: Program,
    params: Funcs,
    globals: HashMap<String, u32>,
    /// How to copy wasmtime's state into the stepper's; `None` when part of
    /// it (memory, a mutable global) is not exported.
    sync: Option<StateExports>,
    /// An invocation ran in wasmtime but not in the stepper and the states
    /// could not be re-synchronised: the module's remaining assertions skip.
    tainted: bool,
    /// Per function: may change memory or globals ([`side_effects`]).
    effects: Vec<bool>,
}

/// Exported names of the memory and of every mutable global (by index).
struct StateExports {
    memory: Option<String>,
    globals: Vec<(u32, String)>,
}

/// An invocation's outcome in both engines, or why it was not compared.
enum Outcome {
    Compared(Got, Got),
    Skipped,
}

enum Slot {
    Live(Box<Live>),
    Skipped,
}

/// What an invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Returned(Vec<u64>),
    Trapped,
}

/// Exported functions (index, parameter types, result types) by name.
type Funcs = HashMap<String, (u32, Vec<ValType>, Vec<ValType>)>;

fn signatures(wasm: &[u8]) -> (Funcs, HashMap<String, u32>, Option<StateExports>) {
    let (mut types, mut funcs, mut exports, mut globals) =
        (vec![], vec![], HashMap::new(), HashMap::new());
    let (mut memories, mut mutable, mut memory_export) = (0, vec![], None);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    let ty = ty.unwrap();
                    types.push((ty.params().to_vec(), ty.results().to_vec()));
                }
            }
            // imports: `lower` rejects them
            Payload::MemorySection(r) => memories += r.count(),
            Payload::GlobalSection(r) => {
                mutable.extend(r.into_iter().map(|g| g.unwrap().ty.mutable));
            }
            Payload::FunctionSection(r) => funcs.extend(r.into_iter().map(|t| t.unwrap())),
            Payload::ExportSection(r) => {
                for x in r {
                    let x = x.unwrap();
                    match x.kind {
                        ExternalKind::Func => {
                            let (params, results) = types[funcs[x.index as usize] as usize].clone();
                            exports.insert(x.name.to_string(), (x.index, params, results));
                        }
                        ExternalKind::Memory if x.index == 0 => {
                            memory_export = Some(x.name.to_string());
                        }
                        ExternalKind::Global => {
                            globals.insert(x.name.to_string(), x.index);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut sync = Some(StateExports {
        memory: memory_export,
        globals: vec![],
    });
    if memories > 0 && sync.as_ref().unwrap().memory.is_none() {
        sync = None;
    }
    for (i, &m) in mutable.iter().enumerate() {
        let name = globals
            .iter()
            .find(|&(_, &g)| g == i as u32)
            .map(|(n, _)| n);
        match (m, name, sync.as_mut()) {
            (false, _, _) | (_, _, None) => {}
            (true, Some(n), Some(s)) => s.globals.push((i as u32, n.clone())),
            (true, None, Some(_)) => sync = None,
        }
    }
    (exports, globals, sync)
}

/// Per function: whether it may change memory or globals, itself or through
/// the functions it calls (an indirect call may call any function of an
/// element segment; table instructions and element expressions count as
/// effects).
fn side_effects(wasm: &[u8]) -> Vec<bool> {
    let (mut direct, mut callees) = (vec![], vec![]);
    let (mut in_table, mut opaque_table) = (vec![], false);
    let mut indirect = vec![];
    for payload in Parser::new(0).parse_all(wasm) {
        if let Ok(Payload::ElementSection(r)) = payload {
            for el in r {
                match el.map(|el| el.items) {
                    Ok(wasmparser::ElementItems::Functions(fs)) => {
                        in_table.extend(fs.into_iter().map(|f| f.map(|f| f as usize)));
                    }
                    _ => opaque_table = true,
                }
            }
        } else if let Ok(Payload::CodeSectionEntry(body)) = payload {
            let (mut effect, mut calls) = (false, vec![]);
            let mut reader = body.get_operators_reader().unwrap();
            while !reader.eof() {
                let op = reader.read().unwrap();
                match op {
                    wasmparser::Operator::Call { function_index } => {
                        calls.push(function_index as usize);
                        continue;
                    }
                    wasmparser::Operator::CallIndirect { .. } => {
                        // stands for the table's functions, added below
                        calls.push(usize::MAX);
                        indirect.push(direct.len());
                        continue;
                    }
                    _ => {}
                }
                let n = format!("{op:?}");
                let n = n.split([' ', '{']).next().unwrap();
                effect |= n.contains("Store")
                    || n.contains("GlobalSet")
                    || n.contains("Atomic")
                    || n.contains("Indirect")
                    || n.starts_with("Table")
                    || n.starts_with("Data")
                    || n.starts_with("Elem")
                    || (n.starts_with("Memory") && n != "MemorySize");
            }
            direct.push(effect);
            callees.push(calls);
        }
    }
    let table: Option<Vec<usize>> = in_table.into_iter().collect::<Result<_, _>>().ok();
    for f in indirect {
        match (&table, opaque_table) {
            (Some(t), false) => callees[f].extend(t),
            _ => direct[f] = true,
        }
    }
    // propagate along calls to a fixed point (`usize::MAX`, the marker of an
    // indirect call, has no effect itself: the table's functions are callees)
    let mut effects = direct;
    loop {
        let mut changed = false;
        for f in 0..effects.len() {
            if !effects[f]
                && callees[f]
                    .iter()
                    .any(|&g| g != usize::MAX && effects.get(g).copied().unwrap_or(true))
            {
                effects[f] = true;
                changed = true;
            }
        }
        if !changed {
            return effects;
        }
    }
}

fn too_much_memory(wasm: &[u8]) -> bool {
    Parser::new(0).parse_all(wasm).any(|p| match p {
        Ok(Payload::MemorySection(r)) => r.into_iter().any(|m| {
            m.map(|m| m.initial > MAX_PAGES || m.memory64)
                .unwrap_or(true)
        }),
        _ => false,
    })
}

fn instantiate(engine: &Engine, wasm: &[u8]) -> Result<Live, String> {
    if too_much_memory(wasm) {
        return Err("memory too large for the runner".into());
    }
    let program = lower(wasm)
        .or_else(|_| lower_lenient(wasm))
        .map_err(|e| e.to_string())?;
    let module = Module::new(engine, wasm).map_err(|e| format!("wasmtime: {e}"))?;
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[])
        .map_err(|e| format!("wasmtime instantiate: {e}"))?;
    let (params, globals, sync) = signatures(wasm);
    Ok(Live {
        store,
        instance,
        program,
        params,
        globals,
        sync,
        tainted: false,
        effects: side_effects(wasm),
    })
}

/// An argument for wasmtime; floats too (for invocations only wasmtime runs).
fn arg(a: &WastArg) -> Option<Val> {
    match a {
        WastArg::Core(WastArgCore::I32(v)) => Some(Val::I32(*v)),
        WastArg::Core(WastArgCore::I64(v)) => Some(Val::I64(*v)),
        WastArg::Core(WastArgCore::F32(F32 { bits })) => Some(Val::F32(*bits)),
        WastArg::Core(WastArgCore::F64(F64 { bits })) => Some(Val::F64(*bits)),
        _ => None,
    }
}

fn ret(r: &WastRet) -> Option<u64> {
    match r {
        WastRet::Core(WastRetCore::I32(v)) => Some(*v as u32 as u64),
        WastRet::Core(WastRetCore::I64(v)) => Some(*v as u64),
        _ => None,
    }
}

impl Live {
    /// Invokes `name` in both engines; `Err` when outside the runner's reach.
    ///
    /// An invocation outside the integer profile (a stub export, float
    /// arguments or results, or a run that reaches a stub) runs in wasmtime
    /// only and is `Skipped`; wasmtime's memory and globals are then copied
    /// into the stepper's state, or the module is tainted when they cannot be.
    fn invoke(&mut self, name: &str, args: &[Val]) -> Result<Outcome, String> {
        if self.tainted {
            return Ok(Outcome::Skipped);
        }
        let (index, params, results) = self
            .params
            .get(name)
            .ok_or_else(|| format!("no export `{name}`"))?
            .clone();
        if params.len() != args.len() {
            return Err("argument count".into());
        }
        let int = |t: &ValType| matches!(t, ValType::I32 | ValType::I64);
        let ints: Option<Vec<u64>> = args.iter().map(from_val).collect();
        let in_profile = !self.program.unsupported[index as usize]
            && params.iter().all(int)
            && results.iter().all(int);
        // wasmtime
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or("no func")?;
        let n = func.ty(&self.store).results().len();
        let mut out = vec![Val::I32(0); n];
        let wasmtime = match func.call(&mut self.store, args, &mut out) {
            Ok(()) => out
                .iter()
                .map(from_val)
                .collect::<Option<_>>()
                .map(Got::Returned),
            Err(_) => Some(Got::Trapped),
        };
        let (Some(wasmtime), Some(ints), true) = (wasmtime, ints, in_profile) else {
            self.resync(index);
            return Ok(Outcome::Skipped);
        };
        // stepper, from the state the previous invocation left
        let fresh = Machine::call(&self.program, index, &ints);
        let mut m = fresh.clone();
        m.run(STEP_LIMIT);
        if let Status::Trapped(_) = m.status {
            // a trap leaves the state as before, except status and step
            check_trap_state(&fresh, &m).unwrap_or_else(|e| panic!("`{name}`: {e}"));
            if self.program.is_stub_pc(m.pc) {
                // reached a function outside the profile
                self.resync(index);
                return Ok(Outcome::Skipped);
            }
        }
        let stepper = match m.status {
            Status::Halted => Got::Returned(m.stack.clone()),
            Status::Trapped(_) => Got::Trapped,
            Status::Running => {
                return Err(format!("stepper still running after {STEP_LIMIT} steps"));
            }
        };
        self.program.memory = m.memory;
        self.program.globals = m.globals;
        Ok(Outcome::Compared(wasmtime, stepper))
    }

    /// Copies wasmtime's memory and mutable globals into the stepper's state
    /// (after an invocation of `func` only wasmtime ran), or taints the module;
    /// nothing to do when `func` cannot change them.
    fn resync(&mut self, func: u32) {
        if !self.effects.get(func as usize).copied().unwrap_or(true) {
            return;
        }
        let Some(sync) = &self.sync else {
            self.tainted = true;
            return;
        };
        if let Some(mem) = &sync.memory {
            let Some(mem) = self.instance.get_memory(&mut self.store, mem) else {
                self.tainted = true;
                return;
            };
            self.program.memory = mem.data(&self.store).to_vec();
        }
        for (i, name) in &sync.globals {
            let Some(g) = self.instance.get_global(&mut self.store, name) else {
                self.tainted = true;
                return;
            };
            self.program.globals[*i as usize] = match g.get(&mut self.store) {
                Val::I32(x) => x as u32 as u64,
                Val::I64(x) => x as u64,
                Val::F32(x) => x as u64,
                Val::F64(x) => x,
                _ => {
                    self.tainted = true;
                    return;
                }
            };
        }
    }

    fn global(&mut self, name: &str) -> Option<(u64, u64)> {
        if self.tainted {
            return None;
        }
        let index = *self.globals.get(name)?;
        let g = self.instance.get_global(&mut self.store, name)?;
        let w = from_val(&g.get(&mut self.store))?;
        Some((w, self.program.globals[index as usize]))
    }
}

fn run_file(engine: &Engine, path: &Path, failures: &mut Vec<String>) -> Counts {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let buf = ParseBuffer::new(&text).unwrap();
    let wast: Wast = parser::parse(&buf).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut c = Counts::default();
    let mut current: Option<Slot> = None;
    let mut named: HashMap<String, usize> = HashMap::new();
    let mut slots: Vec<Slot> = vec![];
    let mut fail = |c: &mut Counts, line: usize, msg: String| {
        c.failed += 1;
        failures.push(format!("{file}:{line}: {msg}"));
    };
    for directive in wast.directives {
        let line = {
            let (l, _) = directive.span().linecol_in(&text);
            l + 1
        };
        match directive {
            WastDirective::Module(mut qw) => {
                let id = match &qw {
                    QuoteWat::Wat(wast::Wat::Module(m)) => m.id.map(|i| i.name().to_string()),
                    _ => None,
                };
                let slot = match qw.encode() {
                    Ok(wasm) => match instantiate(engine, &wasm) {
                        Ok(live) => Slot::Live(Box::new(live)),
                        Err(why) => {
                            if std::env::var_os("SPEC_VERBOSE").is_some() {
                                println!(
                                    "  {file}:{line}: module skipped: {}",
                                    why.chars().take(120).collect::<String>()
                                );
                            }
                            Slot::Skipped
                        }
                    },
                    Err(_) => Slot::Skipped,
                };
                if let Some(prev) = current.take() {
                    slots.push(prev);
                }
                if let Some(id) = id {
                    // the module stays addressable by name once it is no longer current
                    named.insert(id, slots.len());
                }
                current = Some(slot);
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                let expected: Option<Vec<u64>> = results.iter().map(ret).collect();
                let Some(live) = target(&mut slots, &mut current, &named, exec_module(&exec))
                else {
                    c.skipped += 1;
                    continue;
                };
                let Some(expected) = expected else {
                    if let WastExecute::Invoke(inv) = &exec {
                        // for its effect on the state only
                        let _ = invoke(live, inv);
                    }
                    c.skipped += 1;
                    continue;
                };
                match &exec {
                    WastExecute::Invoke(inv) => match invoke(live, inv) {
                        Ok(Outcome::Compared(w, s)) => {
                            let want = Got::Returned(expected);
                            if w == want && s == want {
                                c.passed += 1;
                            } else {
                                fail(
                                    &mut c,
                                    line,
                                    format!(
                                        "assert_return `{}`: expected {want:?}, wasmtime {w:?}, stepper {s:?}",
                                        inv.name
                                    ),
                                );
                            }
                        }
                        Ok(Outcome::Skipped) | Err(_) => c.skipped += 1,
                    },
                    WastExecute::Get { global, .. } => match live.global(global) {
                        Some((w, s)) if expected.len() == 1 => {
                            if w == expected[0] && s == expected[0] {
                                c.passed += 1;
                            } else {
                                fail(
                                    &mut c,
                                    line,
                                    format!(
                                        "global `{global}`: expected {:#x}, wasmtime {w:#x}, stepper {s:#x}",
                                        expected[0]
                                    ),
                                );
                            }
                        }
                        _ => c.skipped += 1,
                    },
                    _ => c.skipped += 1,
                }
            }
            WastDirective::AssertTrap {
                exec: WastExecute::Invoke(inv),
                ..
            } => {
                let Some(live) = target(&mut slots, &mut current, &named, inv.module) else {
                    c.skipped += 1;
                    continue;
                };
                match invoke(live, &inv) {
                    Ok(Outcome::Compared(Got::Trapped, Got::Trapped)) => c.passed += 1,
                    Ok(Outcome::Compared(w, s)) => fail(
                        &mut c,
                        line,
                        format!("assert_trap `{}`: wasmtime {w:?}, stepper {s:?}", inv.name),
                    ),
                    Ok(Outcome::Skipped) | Err(_) => c.skipped += 1,
                }
            }
            WastDirective::AssertExhaustion { call, .. } => {
                let Some(live) = target(&mut slots, &mut current, &named, call.module) else {
                    c.skipped += 1;
                    continue;
                };
                match invoke(live, &call) {
                    Ok(Outcome::Compared(Got::Trapped, Got::Trapped)) => c.passed += 1,
                    Ok(Outcome::Compared(w, s)) => fail(
                        &mut c,
                        line,
                        format!(
                            "assert_exhaustion `{}`: wasmtime {w:?}, stepper {s:?}",
                            call.name
                        ),
                    ),
                    Ok(Outcome::Skipped) | Err(_) => c.skipped += 1,
                }
            }
            WastDirective::Invoke(inv) => {
                let Some(live) = target(&mut slots, &mut current, &named, inv.module) else {
                    c.skipped += 1;
                    continue;
                };
                match invoke(live, &inv) {
                    Ok(Outcome::Compared(w, s)) if w == s && w != Got::Trapped => c.passed += 1,
                    Ok(Outcome::Compared(w, s)) => fail(
                        &mut c,
                        line,
                        format!("invoke `{}`: wasmtime {w:?}, stepper {s:?}", inv.name),
                    ),
                    Ok(Outcome::Skipped) | Err(_) => c.skipped += 1,
                }
            }
            // validation, malformed text, linking, registration: not execution
            _ => c.skipped += 1,
        }
    }
    c
}

fn exec_module<'a>(exec: &WastExecute<'a>) -> Option<wast::token::Id<'a>> {
    match exec {
        WastExecute::Invoke(i) => i.module,
        WastExecute::Get { module, .. } => *module,
        WastExecute::Wat(_) => None,
    }
}

fn target<'s>(
    slots: &'s mut [Slot],
    current: &'s mut Option<Slot>,
    named: &HashMap<String, usize>,
    id: Option<wast::token::Id>,
) -> Option<&'s mut Live> {
    let slot = match id {
        Some(id) => {
            let i = *named.get(id.name())?;
            if i == slots.len() {
                current.as_mut()?
            } else {
                &mut slots[i]
            }
        }
        None => current.as_mut()?,
    };
    match slot {
        Slot::Live(l) => Some(l),
        Slot::Skipped => None,
    }
}

fn invoke(live: &mut Live, inv: &WastInvoke) -> Result<Outcome, String> {
    let args: Vec<Val> = inv
        .args
        .iter()
        .map(arg)
        .collect::<Option<_>>()
        .ok_or("argument outside the runner's reach")?;
    live.invoke(inv.name, &args)
}

/// The profile engine's configuration (`opml_vm::runtime::engine`) with
/// multi-value on: the spec files' modules use it in a few functions, which
/// `lower_lenient` turns into stubs, and wasmtime must accept the module to run
/// the rest.
fn spec_engine() -> Engine {
    let mut c = wasmtime::Config::new();
    c.wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_bulk_memory(false)
        .wasm_multi_value(true)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .cranelift_nan_canonicalization(true);
    Engine::new(&c).unwrap()
}

#[test]
fn spec_tests_pass_in_wasmtime_and_the_stepper() {
    let dir = spec_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .wast files in {}", dir.display());
    let engine = spec_engine();
    let mut total = Counts::default();
    let mut failures = vec![];
    println!(
        "{:<24} {:>7} {:>7} {:>7}",
        "file", "passed", "failed", "skipped"
    );
    for f in &files {
        let c = run_file(&engine, f, &mut failures);
        println!(
            "{:<24} {:>7} {:>7} {:>7}",
            f.file_name().unwrap().to_string_lossy(),
            c.passed,
            c.failed,
            c.skipped
        );
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    println!(
        "{:<24} {:>7} {:>7} {:>7}",
        "total", total.passed, total.failed, total.skipped
    );
    for f in failures.iter().take(50) {
        println!("FAIL {f}");
    }
    assert!(total.passed > 0);
    assert!(
        failures.is_empty(),
        "{} spec assertions failed",
        failures.len()
    );
}

#[test]
fn lower_rejects_memories_outside_the_subset() {
    let rejects = |wat: &str| lower(&wat::parse_str(wat).unwrap()).is_err();
    // a second memory, even after an empty first one, and accesses to it
    assert!(rejects("(module (memory 0) (memory 1))"));
    assert!(rejects(
        "(module (memory 1) (func (export \"f\") (result i32) (i32.load (i32.const 0))) (memory $b 1) (func (result i32) (i32.load $b (i32.const 0))))"
    ));
    // 64-bit memories
    assert!(rejects("(module (memory i64 1))"));
    assert!(!rejects(
        "(module (memory 1 1) (func (export \"f\") (result i32) (i32.load (i32.const 0))))"
    ));
}
