//! Random models (layer kinds, shapes, fixed-point formats): the native
//! executor's memory equals wasmtime's after every call and after a whole
//! run, on the portable kernels and the CPU's best. CI-sized here; `./dev
//! fuzz-native N SEED` runs many more (`examples/native_fuzz.rs`).

/// Cases per test run: `OPML_NATIVE_FUZZ_CASES`, else a CI-sized number.
fn cases() -> u64 {
    std::env::var("OPML_NATIVE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

#[test]
fn random_models_run_natively_as_in_wasmtime() {
    let report = opml_vm::randmodel::run(1, cases());
    println!(
        "{} models, {} calls, {} native, {} merged",
        report.cases, report.calls, report.native_calls, report.merged
    );
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    // the generator reaches what the executor has to get right
    assert!(report.native_calls * 2 > report.calls, "mostly native");
    assert!(report.merged > 0, "some products are segmented and merged");
}
