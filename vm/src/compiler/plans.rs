//! Ties an artifact's layer plans to its committed module: a plan is kept
//! only when the compiler's own emitters, replaying it, give exactly the body
//! of the function it describes, and the call list only when it re-emits to
//! exactly the entry function `run`. A publisher who edits a plan (to make
//! the native executor compute something else) or the call list (to make it
//! run other calls than `run` makes) gets a warning and wasmtime.

use crate::artifact::{Artifact, Manifest};
use crate::error::{Error, Result};
use crate::native::{Executor, Verified};
use crate::runtime::Runtime;
use std::collections::HashMap;
use std::sync::Arc;

/// Bytes of a WebAssembly page.
const WASM_PAGE: u64 = 65536;

/// What the native executor needs from a module's sections.
struct Module<'a> {
    /// Each function's parameter count and raw body (locals and code).
    bodies: Vec<(u32, &'a [u8])>,
    /// Exported function names and indices.
    exports: HashMap<String, u32>,
    /// Bytes of the (one) memory.
    memory_bytes: u64,
}

fn parse(wasm: &[u8]) -> Result<Module<'_>> {
    use wasmparser::{ExternalKind, Parser, Payload};
    let bad = |e: wasmparser::BinaryReaderError| Error::Runtime(format!("module: {e}"));
    let mut type_params: Vec<u32> = vec![];
    let mut func_types: Vec<u32> = vec![];
    let mut module = Module {
        bodies: vec![],
        exports: HashMap::new(),
        memory_bytes: 0,
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(bad)? {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    type_params.push(ty.map_err(bad)?.params().len() as u32);
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    func_types.push(t.map_err(bad)?);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    module.memory_bytes = m.map_err(bad)?.initial * WASM_PAGE;
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(bad)?;
                    if e.kind == ExternalKind::Func {
                        module.exports.insert(e.name.to_string(), e.index);
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let i = module.bodies.len();
                let params = func_types
                    .get(i)
                    .and_then(|&t| type_params.get(t as usize))
                    .copied()
                    .ok_or_else(|| Error::Runtime(format!("module: function {i} has no type")))?;
                module.bodies.push((params, &wasm[body.range()]));
            }
            _ => {}
        }
    }
    Ok(module)
}

/// Why the module's entry does not make exactly the manifest's calls through
/// the exports the runtime uses, or `None` when it does.
fn entry_mismatch(module: &Module, manifest: &Manifest, memory_len: usize) -> Option<String> {
    let entry = crate::profile::ENTRY_EXPORT;
    if module.exports.get(entry) != Some(&0) {
        return Some(format!("`{entry}` is not function 0"));
    }
    let replayed = crate::compiler::emit::entry_function(
        manifest.calls().map(|(f, c)| (f, c.args.as_slice())),
    )
    .into_raw_body();
    if module.bodies.first().map(|b| b.1) != Some(replayed.as_slice()) {
        return Some(format!("`{entry}` does not make the manifest's calls"));
    }
    for (f, _) in manifest.calls() {
        if module.exports.get(&format!("layer{f}")) != Some(&f) {
            return Some(format!("`layer{f}` is not function {f}"));
        }
    }
    if module.memory_bytes != memory_len as u64 {
        return Some(format!(
            "the module's memory is {} bytes but the image holds {memory_len}",
            module.memory_bytes
        ));
    }
    None
}

/// The plans of `manifest` that replay to exactly their functions in `wasm`
/// (whose memory holds `memory_len` bytes), and a warning for each one that
/// does not. When the entry function does not make exactly the manifest's
/// calls, nothing is verified.
pub fn verify_plans(
    wasm: &[u8],
    manifest: &Manifest,
    memory_len: usize,
) -> Result<(Verified, Vec<String>)> {
    let module = parse(wasm)?;
    if let Some(why) = entry_mismatch(&module, manifest, memory_len) {
        return Ok((
            Verified::default(),
            vec![format!(
                "the module does not match its manifest ({why}); it runs in wasmtime"
            )],
        ));
    }
    let mut plans = HashMap::new();
    let mut warnings = vec![];
    for l in &manifest.layers {
        let (Some(f), Some(plan)) = (l.function, &l.plan) else {
            continue;
        };
        let Some(&(params, body)) = module.bodies.get(f as usize) else {
            warnings.push(format!(
                "layer `{}`: its plan names function {f}, which the module does not have",
                l.name
            ));
            continue;
        };
        let replayed = crate::compiler::emit::replay(params, plan, memory_len, body.len())
            .map(|f| f.into_raw_body());
        if replayed.as_deref() == Some(body) {
            plans.insert(f, plan.clone());
        } else {
            warnings.push(format!(
                "layer `{}`: its plan does not re-emit to function {f} of the module; it runs in wasmtime",
                l.name
            ));
        }
    }
    Ok((Verified::new(plans, manifest.call_args()), warnings))
}

/// `rt` with the native executor for every plan of its artifact that
/// verifies ([`verify_plans`]), and the warnings for those that do not.
pub fn accelerate(rt: Runtime, executor: Arc<Executor>) -> Result<(Runtime, Vec<String>)> {
    let art: &Artifact = rt.artifact();
    let (plans, warnings) = verify_plans(&art.wasm, &art.manifest, art.memory.len())?;
    Ok((rt.with_native(Arc::new(plans), executor), warnings))
}

/// `vm` with the native executor for every plan of its artifact that
/// verifies ([`verify_plans`]), and the warnings for those that do not.
pub fn accelerate_vm(
    vm: crate::machine::model::ModelVm,
    executor: Arc<Executor>,
) -> Result<(crate::machine::model::ModelVm, Vec<String>)> {
    let art = vm.artifact();
    let (plans, warnings) = verify_plans(&art.wasm, &art.manifest, art.memory.len())?;
    Ok((vm.with_native(Arc::new(plans), executor), warnings))
}

/// What runs an honest run's layers: the native executor where its plans
/// verify (the default), or wasmtime alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The native executor for every verified plan, wasmtime for the rest.
    #[default]
    Native,
    /// wasmtime for everything.
    Wasm,
}

impl std::str::FromStr for Engine {
    type Err = Error;

    fn from_str(s: &str) -> Result<Engine> {
        match s {
            "native" => Ok(Engine::Native),
            "wasm" => Ok(Engine::Wasm),
            other => Err(Error::BadInput(format!(
                "`{other}` is not an engine: use native (the native executor where its plans verify) or wasm (wasmtime alone)"
            ))),
        }
    }
}

/// The environment variable that picks the engine of commands without an
/// `--engine` option (`native` or `wasm`).
pub const ENGINE_VAR: &str = "OPML_ENGINE";

impl Engine {
    /// [`ENGINE_VAR`], else the default (native).
    pub fn from_env() -> Result<Engine> {
        match std::env::var(ENGINE_VAR) {
            Ok(v) if !v.is_empty() => v.parse(),
            _ => Ok(Engine::default()),
        }
    }

    /// `native` or `wasm`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Wasm => "wasm",
        }
    }

    /// `vm` as this engine runs it: with the process's shared executor
    /// ([`Executor::shared`]) for `Native`, and the warnings for plans that
    /// do not verify (they run in wasmtime).
    pub fn model_vm(
        self,
        vm: crate::machine::model::ModelVm,
    ) -> Result<(crate::machine::model::ModelVm, Vec<String>)> {
        match self {
            Engine::Native => accelerate_vm(vm, Executor::shared()?),
            Engine::Wasm => Ok((vm, vec![])),
        }
    }

    /// `rt` as this engine runs it, as [`Engine::model_vm`].
    pub fn runtime(self, rt: Runtime) -> Result<(Runtime, Vec<String>)> {
        match self {
            Engine::Native => accelerate(rt, Executor::shared()?),
            Engine::Wasm => Ok((rt, vec![])),
        }
    }
}
