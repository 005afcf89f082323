//! The WebAssembly spec tests (`../shared/wasm-spec/*.wast`) on the stepper and
//! on wasmtime's profile engine.
//!
//! Modules outside the stepper's integer subset (rejected by `lower` or by the
//! engine) are skipped with all their assertions; every other `invoke`,
//! `assert_return`, `assert_trap` and `assert_exhaustion` runs in both engines
//! and must meet the expectation in both. Module state (memory, globals)
//! carries over from one invocation to the next, as the spec requires.

use opml_vm::machine::difftest::{check_trap_state, from_val, to_val};
use opml_vm::machine::{Machine, Program, Status, lower};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wasmparser::{ExternalKind, Parser, Payload, ValType};
use wasmtime::{Engine, Instance, Module, Store, Val};
use wast::core::{WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
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

/// Exported functions (index and parameter types) by name.
type Funcs = HashMap<String, (u32, Vec<ValType>)>;

fn signatures(wasm: &[u8]) -> (Funcs, HashMap<String, u32>) {
    let (mut types, mut funcs, mut exports, mut globals) =
        (vec![], vec![], HashMap::new(), HashMap::new());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    types.push(ty.unwrap().params().to_vec());
                }
            }
            Payload::FunctionSection(r) => funcs.extend(r.into_iter().map(|t| t.unwrap())),
            Payload::ExportSection(r) => {
                for x in r {
                    let x = x.unwrap();
                    match x.kind {
                        ExternalKind::Func => {
                            let params: Vec<ValType> =
                                types[funcs[x.index as usize] as usize].clone();
                            exports.insert(x.name.to_string(), (x.index, params));
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
    (exports, globals)
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
    let program = lower(wasm).map_err(|e| e.to_string())?;
    let module = Module::new(engine, wasm).map_err(|e| format!("wasmtime: {e}"))?;
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[])
        .map_err(|e| format!("wasmtime instantiate: {e}"))?;
    let (params, globals) = signatures(wasm);
    Ok(Live {
        store,
        instance,
        program,
        params,
        globals,
    })
}

fn arg(a: &WastArg) -> Option<u64> {
    match a {
        WastArg::Core(WastArgCore::I32(v)) => Some(*v as u32 as u64),
        WastArg::Core(WastArgCore::I64(v)) => Some(*v as u64),
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
    fn invoke(&mut self, name: &str, args: &[u64]) -> Result<(Got, Got), String> {
        let (index, params) = self
            .params
            .get(name)
            .ok_or_else(|| format!("no export `{name}`"))?
            .clone();
        if params.len() != args.len() {
            return Err("argument count".into());
        }
        // wasmtime
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or("no func")?;
        let n = func.ty(&self.store).results().len();
        let vals: Vec<Val> = params
            .iter()
            .zip(args)
            .map(|(&t, &v)| to_val(t, v))
            .collect();
        let mut results = vec![Val::I32(0); n];
        let wasmtime = match func.call(&mut self.store, &vals, &mut results) {
            Ok(()) => Got::Returned(
                results
                    .iter()
                    .map(|v| from_val(v).expect("integer result"))
                    .collect(),
            ),
            Err(_) => Got::Trapped,
        };
        // stepper, from the state the previous invocation left
        let fresh = Machine::call(&self.program, index, args);
        let mut m = fresh.clone();
        m.run(STEP_LIMIT);
        if let Status::Trapped(_) = m.status {
            // a trap leaves the state as before, except status and step
            check_trap_state(&fresh, &m).unwrap_or_else(|e| panic!("`{name}`: {e}"));
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
        Ok((wasmtime, stepper))
    }

    fn global(&mut self, name: &str) -> Option<(u64, u64)> {
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
                    c.skipped += 1;
                    continue;
                };
                match &exec {
                    WastExecute::Invoke(inv) => match invoke(live, inv) {
                        Ok((w, s)) => {
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
                        Err(_) => c.skipped += 1,
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
                    Ok((Got::Trapped, Got::Trapped)) => c.passed += 1,
                    Ok((w, s)) => fail(
                        &mut c,
                        line,
                        format!("assert_trap `{}`: wasmtime {w:?}, stepper {s:?}", inv.name),
                    ),
                    Err(_) => c.skipped += 1,
                }
            }
            WastDirective::AssertExhaustion { call, .. } => {
                let Some(live) = target(&mut slots, &mut current, &named, call.module) else {
                    c.skipped += 1;
                    continue;
                };
                match invoke(live, &call) {
                    Ok((Got::Trapped, Got::Trapped)) => c.passed += 1,
                    Ok((w, s)) => fail(
                        &mut c,
                        line,
                        format!(
                            "assert_exhaustion `{}`: wasmtime {w:?}, stepper {s:?}",
                            call.name
                        ),
                    ),
                    Err(_) => c.skipped += 1,
                }
            }
            WastDirective::Invoke(inv) => {
                let Some(live) = target(&mut slots, &mut current, &named, inv.module) else {
                    c.skipped += 1;
                    continue;
                };
                match invoke(live, &inv) {
                    Ok((w, s)) if w == s && w != Got::Trapped => c.passed += 1,
                    Ok((w, s)) => fail(
                        &mut c,
                        line,
                        format!("invoke `{}`: wasmtime {w:?}, stepper {s:?}", inv.name),
                    ),
                    Err(_) => c.skipped += 1,
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

fn invoke(live: &mut Live, inv: &WastInvoke) -> Result<(Got, Got), String> {
    let args: Vec<u64> = inv
        .args
        .iter()
        .map(arg)
        .collect::<Option<_>>()
        .ok_or("non-integer argument")?;
    live.invoke(inv.name, &args)
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
    let engine = opml_vm::runtime::engine(false).unwrap();
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
