//! The `opml` package as a library: the end-to-end demo ([`demo`], on the
//! local chain of the `opml-testkit` harness), and disputes for researchers (export in
//! [`dispute`], replay in [`replay`], the HTML page in [`report`], checked in
//! a real browser by [`browser`]) that the `opml` binary and the top-level
//! tests (`tests/`) share.

pub mod aigc;
pub mod browser;
pub mod demo;
pub mod dispute;
pub mod generate;
pub mod replay;
pub mod report;

/// `vm` as `engine` runs it; the plans that do not tie to its module are
/// named on stderr (wasmtime runs those layers).
pub fn with_engine(
    vm: opml_vm::machine::model::ModelVm,
    engine: opml_vm::compiler::plans::Engine,
) -> anyhow::Result<opml_vm::machine::model::ModelVm> {
    let (vm, warnings) = engine.model_vm(vm)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(vm)
}
