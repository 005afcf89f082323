//! Runs the ONNX backend node tests in `fixtures/onnx-node/` and writes the
//! report (default `docs/CONFORMANCE.md`).
//!
//! ```text
//! cargo run --release -p opml-vm --features testkit --example conformance -- docs/CONFORMANCE.md
//! ```

use std::path::{Path, PathBuf};

fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("docs/CONFORMANCE.md"));
    // The fixtures sit at the workspace root, one level above this crate.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx-node");
    let results = match opml_vm::conformance::run_all(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let md = opml_vm::conformance::report_markdown(&results);
    if let Err(e) = std::fs::write(&out, md) {
        eprintln!("error: cannot write `{}`: {e}", out.display());
        std::process::exit(1);
    }
    for r in &results {
        if let opml_vm::conformance::CaseResult::Fail(d) = &r.result {
            println!("FAIL {}: {d}", r.name);
        }
    }
    println!(
        "{} (report: {})",
        opml_vm::conformance::summary_line(&results),
        out.display()
    );
}
