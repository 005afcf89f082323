//! The opML WebAssembly profile and its validator.
//!
//! A compiled model is executed twice in opML: once natively (by the
//! deterministic runtime) and, when a result is disputed, one instruction at a
//! time by the stepper whose single steps are re-executed on chain by the
//! Solidity verifier. Both only work if the module stays inside a small,
//! fully deterministic subset of WebAssembly — the *opML profile*:
//!
//! * **Integer arithmetic only.** The only value types are `i32` and `i64`;
//!   `f32`/`f64` may not appear in function types, locals, globals, block
//!   types or instructions (including float loads/stores, constants, converts
//!   and reinterprets). Floating point is nondeterministic in practice: NaN
//!   payloads are unspecified, and hosts differ in rounding and fused
//!   operations, so two honest parties could disagree on a result.
//! * **A small instruction set.** Every instruction becomes a possible dispute
//!   step, so the stepper *and* the on-chain verifier must implement it. The
//!   profile therefore allows only MVP integer instructions plus the
//!   sign-extension operators (`i32.extend8_s`, ...). It forbids SIMD,
//!   threads/atomics, reference types (`ref.*`, `table.*`, typed `select`),
//!   bulk memory (`memory.copy`/`fill`/`init`, `data.drop`), `memory.grow`,
//!   `memory.size`, `call_indirect`, tail calls, exceptions, GC, typed function
//!   references, multi-value block types and every other post-MVP extension.
//! * **A fixed, self-contained machine.** Exactly one 32-bit, unshared memory
//!   defined in the module with `minimum == maximum`; no imports of any kind;
//!   no tables, element segments, tags or start function. Globals must be
//!   `i32`/`i64` with a single-constant initializer. Data segments must be
//!   active, target memory 0 and use an `i32.const` offset.
//! * **A fixed entry point.** The module exports the memory (any name) and a
//!   function named `run` of type `[] -> []`. It may also export its layer
//!   functions as `layer<N>` (type `[] -> []`), so a runtime can stop at a layer
//!   boundary to seek into a long execution; nothing else is exported. The
//!   runtime calls `run` itself (hence no start section).
//!
//! [`validate`] checks all of this and returns [`ProfileInfo`] facts about an
//! accepted module, or a [`ProfileError`] naming the offending feature and its
//! location. As a backstop the module is also run through wasmparser's own
//! validator with a feature set restricted to the profile
//! ([`PROFILE_FEATURES`]).

use wasmparser::{
    BinaryReaderError, BlockType, CompositeInnerType, ConstExpr, DataKind, Encoding, ExternalKind,
    FuncType, Operator, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

/// The wasmparser feature set matching the opML profile: the MVP without
/// floats, plus mutable globals and the sign-extension operators.
pub const PROFILE_FEATURES: WasmFeatures =
    WasmFeatures::MUTABLE_GLOBAL.union(WasmFeatures::SIGN_EXTENSION);

/// Whether an export name is a layer function's (`layer` followed by digits).
pub fn is_layer_export(name: &str) -> bool {
    name.strip_prefix("layer")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The export name of the entry function the runtime calls.
pub const ENTRY_EXPORT: &str = "run";

/// Facts about a module that satisfies the opML profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInfo {
    /// Size of the (fixed-size) linear memory, in 64 KiB pages.
    pub memory_pages: u32,
    /// Number of functions defined in the module.
    pub functions: u32,
    /// Total number of operators (including `end`) in all function bodies.
    pub instructions: u64,
    /// Function index of the exported `run` entry point.
    pub entry_function: u32,
}

/// Why a module is not a valid opML-profile module.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The bytes are not a well-formed, valid WebAssembly module.
    #[error("malformed WebAssembly module: {0}")]
    Malformed(#[source] BinaryReaderError),

    /// The bytes are a WebAssembly component, not a core module.
    #[error(
        "module is outside the opML profile: the binary is a WebAssembly component, not a core module; {HINT}"
    )]
    NotCoreModule,

    /// A function body uses an instruction outside the profile.
    #[error(
        "module is outside the opML profile: instruction `{instruction}` ({feature}) in function {function} at byte offset {offset:#x}; {HINT_INTEGER}"
    )]
    ForbiddenInstruction {
        /// The WebAssembly feature the instruction belongs to.
        feature: &'static str,
        /// The instruction, in (approximate) WebAssembly text syntax.
        instruction: String,
        /// Index of the function containing the instruction.
        function: u32,
        /// Byte offset of the instruction in the module.
        offset: usize,
    },

    /// A `block`/`loop`/`if`/`try_table` has a block type outside the profile
    /// (a float result, or a type index, which implies parameters or
    /// multiple results).
    #[error(
        "module is outside the opML profile: `{instruction}` with block type {block_type} ({feature}) in function {function} at byte offset {offset:#x}; {HINT_INTEGER}"
    )]
    ForbiddenBlockType {
        /// The WebAssembly feature the block type needs.
        feature: &'static str,
        /// The structured instruction carrying the block type.
        instruction: String,
        /// The offending block type.
        block_type: String,
        /// Index of the function containing the instruction.
        function: u32,
        /// Byte offset of the instruction in the module.
        offset: usize,
    },

    /// A type outside the profile appears in a function type, local, global
    /// or the type section itself.
    #[error("module is outside the opML profile: {detail} ({feature}); {HINT_INTEGER}")]
    ForbiddenType {
        /// The WebAssembly feature the type belongs to.
        feature: &'static str,
        /// What the type is and where it appears.
        detail: String,
    },

    /// A whole section (or an entry of it) that the profile forbids.
    #[error(
        "module is outside the opML profile: {section} section is not allowed: {detail}; {HINT}"
    )]
    ForbiddenSection {
        /// The section name (`import`, `table`, `element`, `start`, `tag`, ...).
        section: &'static str,
        /// What the section contains and why it is rejected.
        detail: String,
    },

    /// The module defines no linear memory.
    #[error(
        "module is outside the opML profile: the module defines no memory; exactly one is required; {HINT}"
    )]
    NoMemory,

    /// The module defines more than one linear memory.
    #[error(
        "module is outside the opML profile: the module defines {count} memories (multi-memory); exactly one is allowed; {HINT}"
    )]
    MultipleMemories {
        /// How many memories are defined.
        count: u32,
    },

    /// The memory's size is not fixed (no maximum, or minimum != maximum).
    #[error(
        "module is outside the opML profile: memory is not fixed-size (minimum {minimum} pages, maximum {}); the profile requires minimum == maximum; {HINT}",
        match .maximum { Some(m) => format!("{m} pages"), None => "absent".to_string() }
    )]
    MemoryNotFixed {
        /// Declared minimum size in pages.
        minimum: u64,
        /// Declared maximum size in pages, if any.
        maximum: Option<u64>,
    },

    /// The memory uses a feature outside the profile (shared, 64-bit,
    /// custom page sizes).
    #[error("module is outside the opML profile: memory is {detail} ({feature}); {HINT}")]
    ForbiddenMemory {
        /// The WebAssembly feature the memory uses.
        feature: &'static str,
        /// Description of the offending memory property.
        detail: &'static str,
    },

    /// A global's initializer is not a single `i32.const`/`i64.const`.
    #[error(
        "module is outside the opML profile: global {global} has a non-constant initializer ({detail}); only a single `i32.const`/`i64.const` is allowed; {HINT}"
    )]
    GlobalInitializer {
        /// Index of the global.
        global: u32,
        /// What the initializer contains.
        detail: String,
    },

    /// A data segment is passive, targets another memory, or has a
    /// non-`i32.const` offset.
    #[error(
        "module is outside the opML profile: data segment {segment} {detail}; only active segments in memory 0 with an `i32.const` offset are allowed; {HINT}"
    )]
    ForbiddenData {
        /// Index of the data segment.
        segment: u32,
        /// What is wrong with the segment.
        detail: String,
    },

    /// An export other than the memory and the `run` function.
    #[error(
        "module is outside the opML profile: export `{name}` ({kind}) is not allowed; only the memory and the `run` function may be exported; {HINT}"
    )]
    ForbiddenExport {
        /// The export name.
        name: String,
        /// The kind of the exported item (`function`, `global`, ...).
        kind: &'static str,
    },

    /// The memory is not exported.
    #[error("module is outside the opML profile: the memory is not exported; {HINT}")]
    MemoryNotExported,

    /// No function is exported under the name `run`.
    #[error(
        "module is outside the opML profile: no function is exported as `run` (the entry point the runtime calls); {HINT}"
    )]
    MissingEntry,

    /// The `run` export does not have type `[] -> []`.
    #[error(
        "module is outside the opML profile: exported `run` or layer function {function} has type {found}, expected `[] -> []` (or i32 parameters for a layer); {HINT}"
    )]
    EntrySignature {
        /// Function index of the `run` export.
        function: u32,
        /// The actual function type.
        found: String,
    },

    /// wasmparser's validator, restricted to [`PROFILE_FEATURES`], rejected a
    /// module the profile walk accepted.
    #[error(
        "module is outside the opML profile: rejected by the validator restricted to the profile's features: {0}; {HINT}"
    )]
    FeatureValidation(#[source] BinaryReaderError),
}

const HINT: &str = "compile the model with `opml compile`, which emits a conforming module";
const HINT_INTEGER: &str = "compile the model with `opml compile`, which emits only integer code";

impl From<BinaryReaderError> for ProfileError {
    fn from(e: BinaryReaderError) -> Self {
        ProfileError::Malformed(e)
    }
}

/// Checks that `wasm` is a valid WebAssembly module inside the opML profile.
///
/// The module is first validated as ordinary WebAssembly (with every feature
/// wasmparser knows enabled, so that forbidden features get a specific
/// [`ProfileError`] rather than a generic parse error), then walked section by
/// section and operator by operator against the profile, and finally
/// re-validated with [`PROFILE_FEATURES`] as a backstop.
pub fn validate(wasm: &[u8]) -> Result<ProfileInfo, ProfileError> {
    Validator::new_with_features(WasmFeatures::all()).validate_all(wasm)?;
    let info = walk(wasm)?;
    Validator::new_with_features(PROFILE_FEATURES)
        .validate_all(wasm)
        .map_err(ProfileError::FeatureValidation)?;
    Ok(info)
}

/// Walks an already-validated module and checks every profile rule.
fn walk(wasm: &[u8]) -> Result<ProfileInfo, ProfileError> {
    // Function types by type index (`None` for non-function types, which are
    // rejected anyway).
    let mut types: Vec<Option<FuncType>> = Vec::new();
    // Type index of every defined function.
    let mut func_types: Vec<u32> = Vec::new();
    let mut memory_pages: Option<u32> = None;
    let mut memory_exported = false;
    let mut entry: Option<u32> = None;
    let mut layer_exports: Vec<u32> = Vec::new();
    let mut next_function: u32 = 0;
    let mut instructions: u64 = 0;
    // Function types with more than one result (multi-value); reported where
    // they are used (function or block), or at the end if unused.
    let mut multi_result_types: Vec<u32> = Vec::new();
    // Table/element errors are reported after the code section so that a
    // `call_indirect` (the usual reason for a table) is named precisely.
    let mut deferred: Option<ProfileError> = None;

    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::Version { encoding, .. } => {
                if encoding != Encoding::Module {
                    return Err(ProfileError::NotCoreModule);
                }
            }
            Payload::TypeSection(reader) => {
                for group in reader {
                    let group = group?;
                    let group_size = group.types().len();
                    for sub in group.types() {
                        let index = types.len();
                        if group.is_explicit_rec_group() && group_size > 1
                            || !sub.is_final
                            || sub.supertype_idx.is_some()
                        {
                            return Err(ProfileError::ForbiddenType {
                                feature: "garbage collection (GC)",
                                detail: format!("type {index} uses recursion groups or subtyping"),
                            });
                        }
                        if sub.composite_type.shared {
                            return Err(ProfileError::ForbiddenType {
                                feature: "shared-everything threads",
                                detail: format!("type {index} is shared"),
                            });
                        }
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(ft) => {
                                check_func_type(ft, index)?;
                                if ft.results().len() > 1 {
                                    multi_result_types.push(index as u32);
                                }
                                types.push(Some(ft.clone()));
                            }
                            CompositeInnerType::Array(_) | CompositeInnerType::Struct(_) => {
                                return Err(ProfileError::ForbiddenType {
                                    feature: "garbage collection (GC)",
                                    detail: format!("type {index} is a struct/array type"),
                                });
                            }
                            CompositeInnerType::Cont(_) => {
                                return Err(ProfileError::ForbiddenType {
                                    feature: "stack switching",
                                    detail: format!("type {index} is a continuation type"),
                                });
                            }
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                if let Some(import) = reader.into_imports().next() {
                    let import = import?;
                    let kind = match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => "function",
                        TypeRef::Table(_) => "table",
                        TypeRef::Memory(_) => "memory",
                        TypeRef::Global(_) => "global",
                        TypeRef::Tag(_) => "tag",
                    };
                    return Err(ProfileError::ForbiddenSection {
                        section: "import",
                        detail: format!(
                            "the module imports {kind} `{}.{}`; the profile allows no imports (the module must be self-contained)",
                            import.module, import.name
                        ),
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    let ty = ty?;
                    if multi_result_types.contains(&ty) {
                        return Err(multi_value_error(format!(
                            "function {} has type {ty}, which",
                            func_types.len()
                        )));
                    }
                    func_types.push(ty);
                }
            }
            Payload::TableSection(reader) => {
                deferred.get_or_insert(ProfileError::ForbiddenSection {
                    section: "table",
                    detail: format!(
                        "the module defines {} table(s); tables exist only for `call_indirect` and reference types",
                        reader.count()
                    ),
                });
            }
            Payload::MemorySection(reader) => {
                if reader.count() > 1 {
                    return Err(ProfileError::MultipleMemories {
                        count: reader.count(),
                    });
                }
                for memory in reader {
                    let memory = memory?;
                    if memory.shared {
                        return Err(ProfileError::ForbiddenMemory {
                            feature: "threads (shared memory)",
                            detail: "shared",
                        });
                    }
                    if memory.memory64 {
                        return Err(ProfileError::ForbiddenMemory {
                            feature: "memory64",
                            detail: "64-bit indexed",
                        });
                    }
                    if memory.page_size_log2.is_some() {
                        return Err(ProfileError::ForbiddenMemory {
                            feature: "custom page sizes",
                            detail: "declared with a custom page size",
                        });
                    }
                    if memory.maximum != Some(memory.initial) {
                        return Err(ProfileError::MemoryNotFixed {
                            minimum: memory.initial,
                            maximum: memory.maximum,
                        });
                    }
                    // Validated: a 32-bit memory has at most 65536 pages.
                    memory_pages = Some(u32::try_from(memory.initial).unwrap_or(u32::MAX));
                }
            }
            Payload::TagSection(reader) => {
                return Err(ProfileError::ForbiddenSection {
                    section: "tag",
                    detail: format!(
                        "the module defines {} tag(s) (exception handling)",
                        reader.count()
                    ),
                });
            }
            Payload::GlobalSection(reader) => {
                for (index, global) in (0u32..).zip(reader) {
                    let global = global?;
                    if global.ty.shared {
                        return Err(ProfileError::ForbiddenType {
                            feature: "shared-everything threads",
                            detail: format!("global {index} is shared"),
                        });
                    }
                    check_val_type(global.ty.content_type, || {
                        format!("type `{}` of global {index}", global.ty.content_type)
                    })?;
                    if let Err(detail) = single_const(&global.init_expr) {
                        return Err(ProfileError::GlobalInitializer {
                            global: index,
                            detail,
                        });
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    match export.kind {
                        ExternalKind::Memory if !memory_exported => memory_exported = true,
                        ExternalKind::Func if export.name == ENTRY_EXPORT => {
                            entry = Some(export.index);
                        }
                        ExternalKind::Func if is_layer_export(export.name) => {
                            layer_exports.push(export.index);
                        }
                        kind => {
                            return Err(ProfileError::ForbiddenExport {
                                name: export.name.to_string(),
                                kind: match kind {
                                    ExternalKind::Func | ExternalKind::FuncExact => "function",
                                    ExternalKind::Table => "table",
                                    ExternalKind::Memory => "memory",
                                    ExternalKind::Global => "global",
                                    ExternalKind::Tag => "tag",
                                },
                            });
                        }
                    }
                }
            }
            Payload::StartSection { func, .. } => {
                return Err(ProfileError::ForbiddenSection {
                    section: "start",
                    detail: format!(
                        "function {func} is a start function; the runtime calls the exported `run` itself"
                    ),
                });
            }
            Payload::ElementSection(reader) => {
                deferred.get_or_insert(ProfileError::ForbiddenSection {
                    section: "element",
                    detail: format!(
                        "the module defines {} element segment(s); tables and reference types are not allowed",
                        reader.count()
                    ),
                });
            }
            Payload::DataCountSection { .. } | Payload::CodeSectionStart { .. } => {}
            Payload::DataSection(reader) => {
                for (segment, data) in (0u32..).zip(reader) {
                    let data = data?;
                    let detail = match data.kind {
                        DataKind::Passive => Some("is passive (bulk memory)".to_string()),
                        DataKind::Active { memory_index, .. } if memory_index != 0 => {
                            Some(format!("targets memory {memory_index} (multi-memory)"))
                        }
                        DataKind::Active { offset_expr, .. } => match single_const(&offset_expr) {
                            Ok(ValType::I32) => None,
                            Ok(ty) => Some(format!("has a `{ty}.const` offset")),
                            Err(what) => Some(format!("has a non-constant offset ({what})")),
                        },
                    };
                    if let Some(detail) = detail {
                        return Err(ProfileError::ForbiddenData { segment, detail });
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let function = next_function;
                next_function += 1;
                let params = func_types
                    .get(function as usize)
                    .and_then(|&t| types.get(t as usize))
                    .and_then(Option::as_ref)
                    .map_or(0, |ft| ft.params().len() as u32);

                let mut local_index = params;
                for local in body.get_locals_reader()? {
                    let (count, ty) = local?;
                    check_val_type(ty, || {
                        format!("local {local_index} of function {function} has type `{ty}`")
                    })?;
                    local_index = local_index.saturating_add(count);
                }

                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    let (op, offset) = ops.read_with_offset()?;
                    instructions += 1;
                    check_operator(&op, function, offset)?;
                }
                ops.finish()?;
            }
            Payload::CustomSection(_) => {}
            Payload::UnknownSection { id, .. } => {
                return Err(ProfileError::ForbiddenSection {
                    section: "unknown",
                    detail: format!("section id {id} is not part of WebAssembly 1.0"),
                });
            }
            Payload::End(_) => {}
            // Component-model payloads (only reachable for components, which
            // are rejected at the version header) and future additions.
            #[allow(unreachable_patterns)]
            _ => {
                return Err(ProfileError::NotCoreModule);
            }
        }
    }

    if let Some(err) = deferred {
        return Err(err);
    }
    if let Some(&index) = multi_result_types.first() {
        return Err(multi_value_error(format!("function type {index}")));
    }
    let memory_pages = memory_pages.ok_or(ProfileError::NoMemory)?;
    if !memory_exported {
        return Err(ProfileError::MemoryNotExported);
    }
    let entry_function = entry.ok_or(ProfileError::MissingEntry)?;
    // `run` takes nothing; a layer export takes nothing, or the i32 bounds of
    // a segment of its outer loop
    let entry_and_layers = std::iter::once((entry_function, true))
        .chain(layer_exports.into_iter().map(|f| (f, false)));
    for (function, is_entry) in entry_and_layers {
        let ty = func_types
            .get(function as usize)
            .and_then(|&t| types.get(t as usize))
            .and_then(Option::as_ref);
        match ty {
            Some(ft) if ft.params().is_empty() && ft.results().is_empty() => {}
            Some(ft)
                if !is_entry
                    && ft.results().is_empty()
                    && ft.params().iter().all(|&p| p == ValType::I32) => {}
            other => {
                return Err(ProfileError::EntrySignature {
                    function,
                    found: other.map_or_else(|| "unknown".to_string(), |ft| format!("`{ft}`")),
                });
            }
        }
    }

    Ok(ProfileInfo {
        memory_pages,
        functions: next_function,
        instructions,
        entry_function,
    })
}

/// Checks the parameter and result types of function type `index`.
fn check_func_type(ft: &FuncType, index: usize) -> Result<(), ProfileError> {
    for (i, &ty) in ft.params().iter().enumerate() {
        check_val_type(ty, || {
            format!("type `{ty}` in parameter {i} of function type {index}")
        })?;
    }
    for (i, &ty) in ft.results().iter().enumerate() {
        check_val_type(ty, || {
            format!("type `{ty}` in result {i} of function type {index}")
        })?;
    }
    Ok(())
}

/// A [`ProfileError::ForbiddenType`] for a function type with several results.
fn multi_value_error(what: String) -> ProfileError {
    ProfileError::ForbiddenType {
        feature: "multi-value",
        detail: format!("{what} has more than one result"),
    }
}

/// Accepts `i32`/`i64`; otherwise a [`ProfileError::ForbiddenType`] with the
/// lazily built `detail`.
fn check_val_type(ty: ValType, detail: impl FnOnce() -> String) -> Result<(), ProfileError> {
    let feature = match ty {
        ValType::I32 | ValType::I64 => return Ok(()),
        ValType::F32 | ValType::F64 => "floating point",
        ValType::V128 => "SIMD",
        ValType::Ref(_) => "reference types",
    };
    Err(ProfileError::ForbiddenType {
        feature,
        detail: detail(),
    })
}

/// If `expr` is exactly one `i32.const`/`i64.const` followed by `end`,
/// returns its type; otherwise a description of what it contains.
fn single_const(expr: &ConstExpr<'_>) -> Result<ValType, String> {
    let mut reader = expr.get_operators_reader();
    let first = reader.read().map_err(|e| e.message().to_string())?;
    let ty = match first {
        Operator::I32Const { .. } => ValType::I32,
        Operator::I64Const { .. } => ValType::I64,
        other => return Err(format!("`{}`", instruction_name(&other))),
    };
    match reader.read().map_err(|e| e.message().to_string())? {
        Operator::End => Ok(ty),
        other => Err(format!("extended constant `{}`", instruction_name(&other))),
    }
}

/// Checks a single operator of function `function` at byte `offset`.
fn check_operator(op: &Operator<'_>, function: u32, offset: usize) -> Result<(), ProfileError> {
    use Operator as O;
    match op {
        O::Block { blockty } | O::Loop { blockty } | O::If { blockty } => {
            check_block_type(op, *blockty, function, offset)
        }
        O::Unreachable
        | O::Nop
        | O::Else
        | O::End
        | O::Br { .. }
        | O::BrIf { .. }
        | O::BrTable { .. }
        | O::Return
        | O::Call { .. }
        | O::Drop
        | O::Select
        | O::LocalGet { .. }
        | O::LocalSet { .. }
        | O::LocalTee { .. }
        | O::GlobalGet { .. }
        | O::GlobalSet { .. }
        | O::I32Load { .. }
        | O::I64Load { .. }
        | O::I32Load8S { .. }
        | O::I32Load8U { .. }
        | O::I32Load16S { .. }
        | O::I32Load16U { .. }
        | O::I64Load8S { .. }
        | O::I64Load8U { .. }
        | O::I64Load16S { .. }
        | O::I64Load16U { .. }
        | O::I64Load32S { .. }
        | O::I64Load32U { .. }
        | O::I32Store { .. }
        | O::I64Store { .. }
        | O::I32Store8 { .. }
        | O::I32Store16 { .. }
        | O::I64Store8 { .. }
        | O::I64Store16 { .. }
        | O::I64Store32 { .. }
        | O::I32Const { .. }
        | O::I64Const { .. }
        | O::I32Eqz
        | O::I32Eq
        | O::I32Ne
        | O::I32LtS
        | O::I32LtU
        | O::I32GtS
        | O::I32GtU
        | O::I32LeS
        | O::I32LeU
        | O::I32GeS
        | O::I32GeU
        | O::I64Eqz
        | O::I64Eq
        | O::I64Ne
        | O::I64LtS
        | O::I64LtU
        | O::I64GtS
        | O::I64GtU
        | O::I64LeS
        | O::I64LeU
        | O::I64GeS
        | O::I64GeU
        | O::I32Clz
        | O::I32Ctz
        | O::I32Popcnt
        | O::I32Add
        | O::I32Sub
        | O::I32Mul
        | O::I32DivS
        | O::I32DivU
        | O::I32RemS
        | O::I32RemU
        | O::I32And
        | O::I32Or
        | O::I32Xor
        | O::I32Shl
        | O::I32ShrS
        | O::I32ShrU
        | O::I32Rotl
        | O::I32Rotr
        | O::I64Clz
        | O::I64Ctz
        | O::I64Popcnt
        | O::I64Add
        | O::I64Sub
        | O::I64Mul
        | O::I64DivS
        | O::I64DivU
        | O::I64RemS
        | O::I64RemU
        | O::I64And
        | O::I64Or
        | O::I64Xor
        | O::I64Shl
        | O::I64ShrS
        | O::I64ShrU
        | O::I64Rotl
        | O::I64Rotr
        | O::I32WrapI64
        | O::I64ExtendI32S
        | O::I64ExtendI32U
        | O::I32Extend8S
        | O::I32Extend16S
        | O::I64Extend8S
        | O::I64Extend16S
        | O::I64Extend32S => Ok(()),
        other => {
            let instruction = instruction_name(other);
            Err(ProfileError::ForbiddenInstruction {
                feature: feature_of(&instruction),
                instruction,
                function,
                offset,
            })
        }
    }
}

/// Accepts empty and single-`i32`/`i64`-result block types.
fn check_block_type(
    op: &Operator<'_>,
    blockty: BlockType,
    function: u32,
    offset: usize,
) -> Result<(), ProfileError> {
    let (feature, block_type) = match blockty {
        BlockType::Empty | BlockType::Type(ValType::I32 | ValType::I64) => return Ok(()),
        BlockType::Type(ty @ (ValType::F32 | ValType::F64)) => {
            ("floating point", format!("(result {ty})"))
        }
        BlockType::Type(ty @ ValType::V128) => ("SIMD", format!("(result {ty})")),
        BlockType::Type(ty @ ValType::Ref(_)) => ("reference types", format!("(result {ty})")),
        BlockType::FuncType(index) => ("multi-value", format!("(type {index})")),
    };
    Err(ProfileError::ForbiddenBlockType {
        feature,
        instruction: instruction_name(op),
        block_type,
        function,
        offset,
    })
}

/// Which (forbidden) WebAssembly feature an instruction, given by its text
/// name, belongs to.
fn feature_of(name: &str) -> &'static str {
    const SIMD_NS: [&str; 7] = ["v128", "i8x16", "i16x8", "i32x4", "i64x2", "f32x4", "f64x2"];
    let (ns, rest) = name.split_once('.').unwrap_or(("", name));
    if SIMD_NS.contains(&ns) {
        "SIMD"
    } else if name.contains("atomic") {
        "threads (atomics)"
    } else if ns == "f32" || ns == "f64" || rest.contains("f32") || rest.contains("f64") {
        "floating point"
    } else if name == "memory.grow" {
        "memory growth"
    } else if name == "memory.size" {
        "memory size query"
    } else if matches!(
        name,
        "memory.copy" | "memory.fill" | "memory.init" | "data.drop"
    ) {
        "bulk memory"
    } else if name == "call_indirect" {
        "indirect calls (tables)"
    } else if name.starts_with("return_call") {
        "tail calls"
    } else if matches!(
        name,
        "try"
            | "catch"
            | "catch_all"
            | "throw"
            | "rethrow"
            | "delegate"
            | "try_table"
            | "throw_ref"
    ) {
        "exception handling"
    } else if matches!(ns, "struct" | "array" | "i31" | "any" | "extern")
        || name.starts_with("br_on_cast")
        || matches!(name, "ref.test" | "ref.cast" | "ref.i31" | "ref.eq")
    {
        "garbage collection (GC)"
    } else if matches!(
        name,
        "call_ref" | "ref.as_non_null" | "br_on_null" | "br_on_non_null"
    ) {
        "typed function references"
    } else if matches!(ns, "ref" | "table" | "elem") || name.starts_with("select") {
        "reference types"
    } else if matches!(ns, "cont")
        || matches!(name, "resume" | "resume_throw" | "suspend" | "switch")
    {
        "stack switching"
    } else if rest.ends_with("128") || rest.starts_with("mul_wide") {
        "wide arithmetic"
    } else {
        "non-MVP extension"
    }
}

/// The WebAssembly text-format name of an operator (approximate for rare
/// proposals), derived from the wasmparser variant name, e.g.
/// `I32Load8S` → `i32.load8_s`, `I64AtomicRmw8AddU` → `i64.atomic.rmw8.add_u`.
pub fn instruction_name(op: &Operator<'_>) -> String {
    if let Operator::TypedSelect { .. } = op {
        return "select (typed)".to_string();
    }
    let debug = format!("{op:?}");
    let variant: &str = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    wat_name(variant)
}

/// Converts a CamelCase wasmparser operator variant into a wat-style name.
fn wat_name(variant: &str) -> String {
    const NAMESPACES: [&str; 23] = [
        "i32", "i64", "f32", "f64", "v128", "i8x16", "i16x8", "i32x4", "i64x2", "f32x4", "f64x2",
        "memory", "table", "ref", "local", "global", "data", "elem", "atomic", "struct", "array",
        "i31", "any",
    ];
    let mut tokens: Vec<String> = Vec::new();
    for c in variant.chars() {
        match tokens.last_mut() {
            Some(token) if !c.is_ascii_uppercase() => token.push(c),
            _ => tokens.push(c.to_ascii_lowercase().to_string()),
        }
    }
    let Some(first) = tokens.first() else {
        return variant.to_string();
    };
    if !(NAMESPACES.contains(&first.as_str()) || first == "extern" || first == "cont")
        || tokens.len() == 1
    {
        return tokens.join("_");
    }
    let mut out = first.clone();
    let mut rest = &tokens[1..];
    if rest.first().is_some_and(|t| t == "atomic") && rest.len() > 1 {
        out.push_str(".atomic");
        rest = &rest[1..];
        if rest.first().is_some_and(|t| t.starts_with("rmw")) && rest.len() > 1 {
            out.push('.');
            out.push_str(&rest[0]);
            rest = &rest[1..];
        }
    }
    out.push('.');
    out.push_str(&rest.join("_"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap_or_else(|e| panic!("bad test wat: {e}\n{text}"))
    }

    /// A module using every integer construct the profile allows.
    const VALID: &str = r#"
        (module
          (type $run_t (func))
          (memory (export "memory") 2 2)
          (global $counter (mut i64) (i64.const 0))
          (global $limit i32 (i32.const 10))
          (data (i32.const 16) "\01\02\03\04\05\06\07\08")

          (func $square (param $x i64) (result i64)
            (i64.mul (local.get $x) (local.get $x)))

          (func $widths (param $p i32) (result i64)
            (local $acc i64)
            (i32.store8 (local.get $p) (i32.const 0xff))
            (i32.store16 (local.get $p) (i32.const 0xffff))
            (i32.store (local.get $p) (i32.const -1))
            (i64.store8 (local.get $p) (i64.const 1))
            (i64.store16 (local.get $p) (i64.const 2))
            (i64.store32 (local.get $p) (i64.const 3))
            (i64.store (local.get $p) (i64.const 4))
            (local.set $acc (i64.extend_i32_s (i32.load8_s (local.get $p))))
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load8_u (local.get $p)))))
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_s (i32.load16_s (local.get $p)))))
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load16_u (local.get $p)))))
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load (local.get $p)))))
            (local.set $acc (i64.add (local.get $acc) (i64.load8_s (local.get $p))))
            (local.set $acc (i64.add (local.get $acc) (i64.load8_u (local.get $p))))
            (local.set $acc (i64.add (local.get $acc) (i64.load16_s (local.get $p))))
            (local.set $acc (i64.add (local.get $acc) (i64.load16_u (local.get $p))))
            (local.set $acc (i64.add (local.get $acc) (i64.load32_s (local.get $p))))
            (local.set $acc (i64.add (local.get $acc) (i64.load32_u (local.get $p))))
            (i64.add (local.get $acc) (i64.load (local.get $p))))

          (func $run (export "run") (type $run_t)
            (local $i i32)
            (local $v i64)
            (block $done
              (loop $next
                (local.set $v (call $square (i64.extend_i32_s (local.get $i))))
                (local.set $v
                  (select (local.get $v) (i64.const 0) (i32.and (local.get $i) (i32.const 1))))
                (global.set $counter (i64.add (global.get $counter) (local.get $v)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $done (i32.ge_s (local.get $i) (global.get $limit)))
                (br $next)))
            (if (i32.extend8_s (i32.wrap_i64 (call $widths (i32.const 64))))
              (then (nop))
              (else (global.set $counter (i64.extend32_s (global.get $counter)))))
            (drop (block (result i32) (i32.const 7)))
            (drop (i32.eqz (i32.rotl (i32.const 1) (i32.const 3))))))
    "#;

    #[test]
    fn valid_module_is_accepted() {
        let info = validate(&wasm(VALID)).expect("valid module rejected");
        assert_eq!(info.memory_pages, 2);
        assert_eq!(info.functions, 3);
        assert_eq!(info.entry_function, 2);
        assert!(info.instructions > 50, "{info:?}");
    }

    #[test]
    fn minimal_module_counts_instructions() {
        let info = validate(&wasm(
            r#"(module (memory (export "mem") 1 1) (func (export "run") nop))"#,
        ))
        .unwrap();
        assert_eq!(
            info,
            ProfileInfo {
                memory_pages: 1,
                functions: 1,
                instructions: 2, // nop, end
                entry_function: 0,
            }
        );
    }

    #[test]
    fn forbidden_instruction_reports_location() {
        let bytes = wasm(
            r#"(module (memory (export "memory") 1 1)
                 (func (export "run"))
                 (func (param i32) (result i32)
                   (i32.reinterpret_f32 (f32.add (f32.const 1) (f32.const 2)))))"#,
        );
        let err = validate(&bytes).unwrap_err();
        let ProfileError::ForbiddenInstruction {
            feature,
            instruction,
            function,
            offset,
        } = &err
        else {
            panic!("unexpected error {err:?}");
        };
        assert_eq!(*feature, "floating point");
        assert_eq!(instruction, "f32.const");
        assert_eq!(*function, 1);
        assert_eq!(
            bytes[*offset], 0x43,
            "offset must point at the f32.const opcode"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(
                "module is outside the opML profile: instruction `f32.const` (floating point) in function 1 at byte offset 0x"
            ),
            "{message}"
        );
        assert!(
            message
                .ends_with("compile the model with `opml compile`, which emits only integer code")
        );
    }

    #[test]
    fn wat_names() {
        for (variant, name) in [
            ("F32Add", "f32.add"),
            ("I32Load8S", "i32.load8_s"),
            ("I64TruncF32S", "i64.trunc_f32_s"),
            ("I32TruncSatF64U", "i32.trunc_sat_f64_u"),
            ("MemoryGrow", "memory.grow"),
            ("CallIndirect", "call_indirect"),
            ("ReturnCall", "return_call"),
            ("RefIsNull", "ref.is_null"),
            ("I64AtomicRmw8AddU", "i64.atomic.rmw8.add_u"),
            ("I32AtomicLoad", "i32.atomic.load"),
            ("MemoryAtomicNotify", "memory.atomic.notify"),
            ("AtomicFence", "atomic.fence"),
            ("I8x16Shuffle", "i8x16.shuffle"),
            ("V128Load8Lane", "v128.load8_lane"),
            ("TryTable", "try_table"),
            ("BrIf", "br_if"),
            ("Unreachable", "unreachable"),
        ] {
            assert_eq!(wat_name(variant), name);
        }
    }

    /// Matches a [`ProfileError`] variant pattern.
    type Check = fn(&ProfileError) -> bool;

    /// Each row: (case name, module text, expected variant, text the
    /// message must contain — the feature name).
    macro_rules! rejected {
        ($($name:ident: $wat:expr => $pat:pat, $needle:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let check: Check = |e| matches!(e, $pat);
                    let err = validate(&wasm($wat))
                        .expect_err(concat!(stringify!($name), ": module was accepted"));
                    assert!(check(&err), "{}: unexpected variant {err:?}", stringify!($name));
                    let message = err.to_string();
                    assert!(
                        message.contains($needle),
                        "{}: message does not name `{}`: {message}",
                        stringify!($name),
                        $needle
                    );
                }
            )*
        };
    }

    /// Wraps function/extra definitions in an otherwise conforming module.
    macro_rules! m {
        ($body:expr) => {
            concat!(
                r#"(module (memory (export "memory") 1 1) (func (export "run")) "#,
                $body,
                ")"
            )
        };
    }

    rejected! {
        float_instruction:
            m!("(func (drop (f32.load (i32.const 0))))")
            => ProfileError::ForbiddenInstruction { feature: "floating point", .. }, "`f32.load` (floating point)";
        float_arithmetic:
            m!("(func (param i32) (result i32) local.get 0 f32.reinterpret_i32 local.get 0 f32.reinterpret_i32 f32.add i32.reinterpret_f32)")
            => ProfileError::ForbiddenInstruction { feature: "floating point", .. }, "`f32.reinterpret_i32` (floating point)";
        float_convert:
            m!("(func (param i32) (drop (f64.convert_i32_s (local.get 0))))")
            => ProfileError::ForbiddenInstruction { feature: "floating point", .. }, "`f64.convert_i32_s` (floating point)";
        float_truncate_to_int:
            m!("(func (param i32) (result i32) (i32.trunc_sat_f32_s (f32.const 1)))")
            => ProfileError::ForbiddenInstruction { feature: "floating point", .. }, "floating point";
        float_block_result:
            m!("(func (drop (block (result f32) (unreachable))))")
            => ProfileError::ForbiddenBlockType { feature: "floating point", .. }, "floating point";
        float_in_signature:
            m!("(func (param f64))")
            => ProfileError::ForbiddenType { feature: "floating point", .. }, "`f64` in parameter 0 of function type 1 (floating point)";
        float_result_in_signature:
            m!("(func (result f32) unreachable)")
            => ProfileError::ForbiddenType { feature: "floating point", .. }, "floating point";
        float_local:
            m!("(func (local i32 f32))")
            => ProfileError::ForbiddenType { feature: "floating point", .. }, "local 1 of function 1 has type `f32` (floating point)";
        float_global:
            m!("(global f64 (f64.const 0))")
            => ProfileError::ForbiddenType { feature: "floating point", .. }, "global 0 (floating point)";
        simd_instruction:
            m!("(func (drop (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))")
            => ProfileError::ForbiddenInstruction { feature: "SIMD", .. }, "`v128.const` (SIMD)";
        simd_local:
            m!("(func (local v128))")
            => ProfileError::ForbiddenType { feature: "SIMD", .. }, "SIMD";
        shared_memory:
            r#"(module (memory (export "memory") 1 1 shared) (func (export "run")))"#
            => ProfileError::ForbiddenMemory { feature: "threads (shared memory)", .. }, "shared memory";
        atomic_instruction:
            m!("(func (drop (i32.atomic.load (i32.const 0))))")
            => ProfileError::ForbiddenInstruction { feature: "threads (atomics)", .. }, "`i32.atomic.load` (threads (atomics))";
        atomic_fence:
            m!("(func atomic.fence)")
            => ProfileError::ForbiddenInstruction { feature: "threads (atomics)", .. }, "atomics";
        memory_grow:
            m!("(func (drop (memory.grow (i32.const 1))))")
            => ProfileError::ForbiddenInstruction { feature: "memory growth", .. }, "`memory.grow` (memory growth)";
        memory_size:
            m!("(func (drop (memory.size)))")
            => ProfileError::ForbiddenInstruction { feature: "memory size query", .. }, "`memory.size`";
        bulk_memory_copy:
            m!("(func (memory.copy (i32.const 0) (i32.const 8) (i32.const 4)))")
            => ProfileError::ForbiddenInstruction { feature: "bulk memory", .. }, "`memory.copy` (bulk memory)";
        bulk_memory_fill:
            m!("(func (memory.fill (i32.const 0) (i32.const 8) (i32.const 4)))")
            => ProfileError::ForbiddenInstruction { feature: "bulk memory", .. }, "`memory.fill` (bulk memory)";
        passive_data:
            m!(r#"(data "abc")"#)
            => ProfileError::ForbiddenData { segment: 0, .. }, "passive (bulk memory)";
        data_offset_not_const:
            m!(r#"(data (i32.add (i32.const 1) (i32.const 2)) "abc")"#)
            => ProfileError::ForbiddenData { segment: 0, .. }, "non-constant offset";
        import_function:
            r#"(module (import "env" "log" (func (param i32))) (memory (export "memory") 1 1) (func (export "run")))"#
            => ProfileError::ForbiddenSection { section: "import", .. }, "imports function `env.log`";
        import_memory:
            r#"(module (import "env" "memory" (memory 1 1)) (export "memory" (memory 0)) (func (export "run")))"#
            => ProfileError::ForbiddenSection { section: "import", .. }, "imports memory `env.memory`";
        import_global:
            r#"(module (import "env" "g" (global i32)) (memory (export "memory") 1 1) (func (export "run")))"#
            => ProfileError::ForbiddenSection { section: "import", .. }, "imports global";
        table:
            m!("(table 1 funcref)")
            => ProfileError::ForbiddenSection { section: "table", .. }, "table section";
        element_segment:
            r#"(module (memory (export "memory") 1 1) (func $f (export "run")) (elem declare func $f))"#
            => ProfileError::ForbiddenSection { section: "element", .. }, "element section";
        call_indirect:
            r#"(module (type $t (func)) (memory (export "memory") 1 1) (table 1 funcref)
                 (func (export "run")) (func (call_indirect (type $t) (i32.const 0))))"#
            => ProfileError::ForbiddenInstruction { feature: "indirect calls (tables)", .. }, "`call_indirect` (indirect calls (tables))";
        start_section:
            m!("(func $init) (start $init)")
            => ProfileError::ForbiddenSection { section: "start", .. }, "start section";
        multi_memory:
            r#"(module (memory (export "memory") 1 1) (memory 1 1) (func (export "run")))"#
            => ProfileError::MultipleMemories { count: 2 }, "multi-memory";
        no_memory:
            r#"(module (func (export "run")))"#
            => ProfileError::NoMemory, "no memory";
        memory_without_max:
            r#"(module (memory (export "memory") 1) (func (export "run")))"#
            => ProfileError::MemoryNotFixed { minimum: 1, maximum: None }, "not fixed-size";
        memory_min_ne_max:
            r#"(module (memory (export "memory") 1 4) (func (export "run")))"#
            => ProfileError::MemoryNotFixed { minimum: 1, maximum: Some(4) }, "maximum 4 pages";
        memory64:
            r#"(module (memory (export "memory") i64 1 1) (func (export "run")))"#
            => ProfileError::ForbiddenMemory { feature: "memory64", .. }, "memory64";
        memory_not_exported:
            r#"(module (memory 1 1) (func (export "run")))"#
            => ProfileError::MemoryNotExported, "memory is not exported";
        missing_run_export:
            r#"(module (memory (export "memory") 1 1) (func))"#
            => ProfileError::MissingEntry, "`run`";
        run_with_wrong_type:
            r#"(module (memory (export "memory") 1 1) (func (export "run") (param i32)))"#
            => ProfileError::EntrySignature { function: 0, .. }, "expected `[] -> []`";
        extra_exported_function:
            m!(r#"(func (export "helper"))"#)
            => ProfileError::ForbiddenExport { kind: "function", .. }, "export `helper` (function)";
        exported_global:
            m!(r#"(global (export "g") i32 (i32.const 0))"#)
            => ProfileError::ForbiddenExport { kind: "global", .. }, "export `g` (global)";
        global_initializer_not_const:
            m!("(global i32 (i32.add (i32.const 1) (i32.const 2)))")
            => ProfileError::GlobalInitializer { global: 0, .. }, "non-constant initializer";
        multi_value_block:
            m!("(func (drop (drop (block (result i32 i32) (i32.const 1) (i32.const 2)))))")
            => ProfileError::ForbiddenBlockType { feature: "multi-value", .. }, "(multi-value)";
        block_with_params:
            m!("(func (drop (i32.const 1) (block (param i32) (result i32))))")
            => ProfileError::ForbiddenBlockType { feature: "multi-value", .. }, "multi-value";
        multi_value_function:
            m!("(func (result i32 i32) (i32.const 1) (i32.const 2))")
            => ProfileError::ForbiddenType { feature: "multi-value", .. }, "function 1 has type 1, which has more than one result (multi-value)";
        unused_multi_value_type:
            m!("(type (func (result i64 i64)))")
            => ProfileError::ForbiddenType { feature: "multi-value", .. }, "function type 0 has more than one result (multi-value)";
        memory_exported_twice:
            m!(r#"(export "memory2" (memory 0))"#)
            => ProfileError::ForbiddenExport { kind: "memory", .. }, "export `memory2` (memory)";
        ref_null:
            m!("(func (drop (ref.null func)))")
            => ProfileError::ForbiddenInstruction { feature: "reference types", .. }, "`ref.null` (reference types)";
        reference_type_in_signature:
            m!("(func (param externref))")
            => ProfileError::ForbiddenType { feature: "reference types", .. }, "reference types";
        typed_select:
            m!("(func (drop (select (result i32) (i32.const 1) (i32.const 2) (i32.const 0))))")
            => ProfileError::ForbiddenInstruction { feature: "reference types", .. }, "reference types";
        tail_call:
            m!("(func $f return_call $f)")
            => ProfileError::ForbiddenInstruction { feature: "tail calls", .. }, "`return_call` (tail calls)";
        exceptions_try_table:
            m!("(func (block $h (try_table (catch_all $h))))")
            => ProfileError::ForbiddenInstruction { feature: "exception handling", .. }, "`try_table` (exception handling)";
        exceptions_tag:
            m!("(tag $e)")
            => ProfileError::ForbiddenSection { section: "tag", .. }, "exception handling";
        gc_struct_type:
            m!("(type (struct (field i32)))")
            => ProfileError::ForbiddenType { feature: "garbage collection (GC)", .. }, "garbage collection";
        component:
            "(component)"
            => ProfileError::NotCoreModule, "component";
    }

    #[test]
    fn restricted_feature_set_matches_profile() {
        let strict =
            |text: &str| Validator::new_with_features(PROFILE_FEATURES).validate_all(&wasm(text));
        assert!(strict(VALID).is_ok());
        assert!(strict(m!("(func (drop (f32.const 1)))")).is_err());
        assert!(strict(m!("(func (local f64))")).is_err());
        assert!(
            strict(m!(
                "(func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)))"
            ))
            .is_err()
        );
        assert!(strict(m!("(func (result i32 i32) (i32.const 1) (i32.const 2))")).is_err());
        assert!(strict(m!("(func (drop (i32.atomic.load (i32.const 0))))")).is_err());
    }

    #[test]
    fn call_indirect_is_classified() {
        assert_eq!(feature_of("call_indirect"), "indirect calls (tables)");
        assert_eq!(feature_of("i32.trunc_f64_s"), "floating point");
        assert_eq!(feature_of("i32x4.trunc_sat_f32x4_s"), "SIMD");
        assert_eq!(feature_of("table.get"), "reference types");
        assert_eq!(feature_of("data.drop"), "bulk memory");
    }

    #[test]
    fn malformed_bytes_are_rejected() {
        let valid = wasm(VALID);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            (
                "garbage",
                b"\x13\x37 definitely not wasm \xff\xfe\x00".to_vec(),
            ),
            (
                "pseudo-random",
                (0u32..256)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                    .collect(),
            ),
            ("bad version", b"\0asm\x02\0\0\0".to_vec()),
            ("truncated", valid[..valid.len() / 2].to_vec()),
            ("header only + junk", [&valid[..8], &[0x01, 0xff]].concat()),
        ];
        for (name, bytes) in cases {
            match validate(&bytes) {
                Err(err @ ProfileError::Malformed(_)) => {
                    assert!(
                        err.to_string()
                            .starts_with("malformed WebAssembly module: "),
                        "{name}: {err}"
                    );
                }
                other => panic!("{name}: expected Malformed, got {other:?}"),
            }
        }
    }
}
