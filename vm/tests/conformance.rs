//! The ONNX backend node tests (`fixtures/onnx-node/`): at least 90% of the
//! cases that run must pass. `just conformance` writes the full report.

use opml_vm::conformance::{CaseResult, pass_rate, run_all, run_case, summary_line};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx-node")
}

#[test]
fn simple_cases_pass() {
    for name in ["test_relu", "test_add"] {
        let r = run_case(&root().join(name));
        assert!(
            matches!(r, CaseResult::Pass { max_err } if max_err <= 1.0 / 65536.0),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn node_tests_pass_rate() {
    let results = run_all(&root()).expect("the fixture index loads");
    for r in &results {
        if let CaseResult::Fail(d) = &r.result {
            eprintln!("FAIL {}: {d}", r.name);
        }
    }
    let line = summary_line(&results);
    eprintln!("{line}");
    assert!(pass_rate(&results) >= 0.90, "{line}");
    // the native executor matches wasmtime on every case that runs (issue 24)
    let native: Vec<&str> = results
        .iter()
        .filter(|r| matches!(&r.result, CaseResult::Fail(d) if d.contains("native executor")))
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        native.is_empty(),
        "the native executor differs on {native:?}"
    );
}
