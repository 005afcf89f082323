//! The compiled-module cache: a second load does not compile, results do not
//! depend on the cache, and bad entries are rebuilt.

mod common;

use opml_vm::cache::{ModuleCache, Origin};
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::runtime::{Runtime, engine};

fn artifact(name: &str) -> opml_vm::artifact::Artifact {
    let onnx = common::workspace_file(&format!("fixtures/{name}/model.onnx"));
    compile_file(&onnx, &CompileOptions::default()).unwrap()
}

#[test]
fn cached_and_uncached_runs_agree_and_bad_entries_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModuleCache::new(dir.path().join("modules"));
    let art = artifact("mlp_digits");
    let x = opml_vm::npy::read(&common::workspace_file("fixtures/mlp_digits/input.npy")).unwrap();

    let uncached = Runtime::with_cache(art.clone(), false, None).unwrap();
    let expected = uncached.run(std::slice::from_ref(&x)).unwrap();
    let run = |origin: Origin| {
        let rt = Runtime::with_cache(art.clone(), false, Some(&cache)).unwrap();
        assert_eq!(rt.origin(), origin);
        let out = rt.run(std::slice::from_ref(&x)).unwrap();
        assert_eq!(out.output_region, expected.output_region);
    };
    run(Origin::Compiled);
    run(Origin::Cached);

    // a flipped byte in the native code
    let path = cache.entry_path(&engine(false).unwrap(), &art.wasm);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    run(Origin::Rebuilt);
    run(Origin::Cached);

    // another module's entry under this module's name
    let other = artifact("logreg_digits");
    Runtime::with_cache(other.clone(), false, Some(&cache)).unwrap();
    let other_path = cache.entry_path(&engine(false).unwrap(), &other.wasm);
    std::fs::copy(&other_path, &path).unwrap();
    run(Origin::Rebuilt);

    // a truncated entry, then a deleted directory
    std::fs::write(&path, &bytes[..40]).unwrap();
    run(Origin::Rebuilt);
    std::fs::remove_dir_all(cache.dir()).unwrap();
    run(Origin::Compiled);

    // metered and unmetered engines do not share entries
    assert_ne!(
        cache.entry_path(&engine(true).unwrap(), &art.wasm),
        path,
        "fuel changes the code"
    );
}
