//! Differential fuzzing: random integer-subset programs from wasm-smith, run in
//! wasmtime and in the stepper, must agree on every call (see
//! `opml_vm::machine::difftest`). The example `fuzz_diff` runs any number.
//!
//! This file also holds the generator, shared with the example through
//! `#[path]` (wasm-smith is a dev-dependency, so the library cannot hold it).

use arbitrary::Unstructured;
use opml_vm::machine::difftest::{self, Report, Rng};
use wasm_smith::{Config, InstructionKind, InstructionKinds, Module};

/// Fuel injected by `ensure_termination`: each loop iteration and call costs
/// one, so call depth stays below the stepper's frame limit.
pub(crate) const FUEL: u32 = 400;

/// wasm-smith configured to the stepper's integer subset of the profile.
/// `disallow_traps` makes wasm-smith guard divisions, so those programs run
/// deeper instead of trapping early (they have no memory instructions, whose
/// guards would use `memory.size`).
pub(crate) fn config(disallow_traps: bool) -> Config {
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
pub(crate) fn generate(rng: &mut Rng) -> Option<Vec<u8>> {
    let mut wasm = None;
    for _ in 0..16 {
        let len = 512 + (rng.next_u64() % 4096) as usize;
        let bytes = rng.bytes(len);
        let mut u = Unstructured::new(&bytes);
        let mut module = Module::new(config(rng.next_u64() & 1 == 0), &mut u).ok()?;
        module.ensure_termination(FUEL).ok()?;
        let w = module.to_bytes();
        let done = opml_vm::machine::lower(&w).is_ok();
        wasm = Some(w);
        if done {
            break;
        }
    }
    wasm
}

/// Compares `n` generated programs starting at `seed`.
pub(crate) fn run_programs(seed: u64, n: usize) -> Report {
    difftest::run_programs_with(seed, n, generate)
}

/// Prints a report's counts.
pub(crate) fn print_report(r: &Report) {
    println!(
        "programs {}: compared {}, skipped {}; calls {} ({} trapped), {} stepper steps; mismatches {}",
        r.programs,
        r.compared,
        r.skipped,
        r.calls,
        r.traps,
        r.steps,
        r.mismatches.len()
    );
    for (kind, n) in &r.trap_kinds {
        println!("  trapped {n:5}: {kind}");
    }
    for (why, n) in &r.skip_reasons {
        println!("  skipped {n:5}: {why}");
    }
    for m in r.mismatches.iter().take(20) {
        println!("MISMATCH {m}");
    }
}

#[test]
fn stepper_matches_wasmtime_on_random_programs() {
    let r = run_programs(0x5eed, 2000);
    print_report(&r);
    assert!(r.compared >= r.programs / 2, "too many programs skipped");
    assert!(r.mismatches.is_empty(), "{} mismatches", r.mismatches.len());
}
