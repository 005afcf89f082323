//! A content-addressed cache of wasmtime's compiled modules, so a second
//! process running the same artifact does not compile it again.
//!
//! An entry is keyed by the module's blake3 and the engine's compatibility
//! hash (wasmtime version, target and every setting that changes code). Its
//! file starts with a header naming that key and the blake3 of the native
//! code that follows; loading checks both before handing the bytes to
//! wasmtime, so a corrupted, truncated or foreign entry is rebuilt, never
//! trusted. Entries are written to a temporary file and renamed into place,
//! so concurrent processes never see half an entry. Deleting the directory is
//! always safe.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Module};

const MAGIC: &[u8; 16] = b"opml.module.v1\0\0";
const HEADER: usize = 16 + 32 + 8 + 32;

/// Where compiled modules are cached: `$OPML_CACHE/modules`, else
/// `$HOME/.cache/opml/modules`; `None` when `OPML_MODULE_CACHE=off`.
pub fn default_dir() -> Option<PathBuf> {
    if std::env::var("OPML_MODULE_CACHE").is_ok_and(|v| v == "off" || v == "0") {
        return None;
    }
    Some(base_dir()?.join("modules"))
}

/// `$OPML_CACHE`, else `$HOME/.cache/opml`.
fn base_dir() -> Option<PathBuf> {
    match std::env::var_os("OPML_CACHE") {
        Some(d) => Some(PathBuf::from(d)),
        None => Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache/opml")),
    }
}

/// Where memory trees of initial images are kept: `trees/` next to the
/// modules; `None` when `OPML_MODULE_CACHE=off`.
pub fn tree_dir() -> Option<PathBuf> {
    Some(default_dir()?.with_file_name("trees"))
}

/// Where measured step counts are kept: `steps/` next to the modules;
/// `None` when `OPML_MODULE_CACHE=off`.
pub fn steps_dir() -> Option<PathBuf> {
    Some(default_dir()?.with_file_name("steps"))
}

/// Reads a cached file written by [`store_checked`] under `key`: `None`
/// when it is missing, for another key, truncated or corrupted.
pub fn load_checked(path: &Path, key: &[u8; 32]) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 64 || &bytes[..32] != key {
        return None;
    }
    let body = &bytes[64..];
    (blake3::hash(body).as_bytes() == &bytes[32..64]).then(|| body.to_vec())
}

/// Writes `body` under `key` with its blake3, atomically (temporary file,
/// then rename). Errors are the caller's to ignore: caches are optional.
pub fn store_checked(path: &Path, key: &[u8; 32], body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut bytes = Vec::with_capacity(64 + body.len());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(blake3::hash(body).as_bytes());
    bytes.extend_from_slice(body);
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}

/// How a module was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Loaded from a valid cache entry.
    Cached,
    /// Compiled now (and stored when a cache directory is set).
    Compiled,
    /// Compiled now because the cache entry was invalid (and replaced).
    Rebuilt,
}

/// A cache directory of compiled modules.
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: PathBuf,
}

fn engine_hash(engine: &Engine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

impl ModuleCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> ModuleCache {
        ModuleCache { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file for `wasm` under `engine`.
    pub fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let key = blake3::hash(wasm);
        self.dir.join(format!(
            "{}-{:016x}.cwasm",
            key.to_hex(),
            engine_hash(engine)
        ))
    }

    /// The compiled module for `wasm`: from the cache when its entry is
    /// valid, else compiled and stored. A failure to store is not an error
    /// (the cache is an optimization), but it is reported through `Origin`.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Module, Origin)> {
        let path = self.entry_path(engine, wasm);
        let module_key = blake3::hash(wasm);
        let mut origin = Origin::Compiled;
        if let Ok(bytes) = std::fs::read(&path) {
            match check_entry(&bytes, module_key.as_bytes(), engine_hash(engine)) {
                Some(code) => {
                    // SAFETY: `code` is exactly what `Module::serialize` wrote
                    // for this module and engine (both named in the header and
                    // its blake3 checked), and wasmtime checks its own header.
                    if let Ok(m) = unsafe { Module::deserialize(engine, code) } {
                        return Ok((m, Origin::Cached));
                    }
                    origin = Origin::Rebuilt;
                }
                None => origin = Origin::Rebuilt,
            }
        }
        let module = Module::new(engine, wasm)?;
        if let Ok(code) = module.serialize() {
            let _ = self.store(&path, module_key.as_bytes(), engine_hash(engine), &code);
        }
        Ok((module, origin))
    }

    fn store(&self, path: &Path, key: &[u8; 32], engine: u64, code: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut bytes = Vec::with_capacity(HEADER + code.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(&engine.to_le_bytes());
        bytes.extend_from_slice(blake3::hash(code).as_bytes());
        bytes.extend_from_slice(code);
        let tmp = self.dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, path)
    }
}

/// The native code of a valid entry for this module and engine, else `None`.
fn check_entry<'a>(bytes: &'a [u8], key: &[u8; 32], engine: u64) -> Option<&'a [u8]> {
    if bytes.len() < HEADER || &bytes[..16] != MAGIC || &bytes[16..48] != key {
        return None;
    }
    if bytes[48..56] != engine.to_le_bytes() {
        return None;
    }
    let code = &bytes[HEADER..];
    (blake3::hash(code).as_bytes() == &bytes[56..88]).then_some(code)
}
