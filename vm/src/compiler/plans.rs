//! Ties an artifact's layer plans to its committed module: a plan is kept
//! only when the compiler's own emitters, replaying it, give exactly the body
//! of the function it describes. A publisher who edits a plan (to make the
//! native executor compute something else) gets a warning and wasmtime.

use crate::artifact::LayerInfo;
use crate::error::{Error, Result};
use crate::native::Verified;
use std::collections::HashMap;

/// Each function's parameter count and raw body (locals and code) in `wasm`.
fn bodies(wasm: &[u8]) -> Result<Vec<(u32, &[u8])>> {
    use wasmparser::{Parser, Payload};
    let bad = |e: wasmparser::BinaryReaderError| Error::Runtime(format!("module: {e}"));
    let mut type_params: Vec<u32> = vec![];
    let mut func_types: Vec<u32> = vec![];
    let mut out = vec![];
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
            Payload::CodeSectionEntry(body) => {
                let i = out.len();
                let params = func_types
                    .get(i)
                    .and_then(|&t| type_params.get(t as usize))
                    .copied()
                    .ok_or_else(|| Error::Runtime(format!("module: function {i} has no type")))?;
                out.push((params, &wasm[body.range()]));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The plans of `layers` that replay to exactly their functions in `wasm`,
/// and a warning for each one that does not.
pub fn verify_plans(wasm: &[u8], layers: &[LayerInfo]) -> Result<(Verified, Vec<String>)> {
    let bodies = bodies(wasm)?;
    let mut plans = HashMap::new();
    let mut warnings = vec![];
    for l in layers {
        let (Some(f), Some(plan)) = (l.function, &l.plan) else {
            continue;
        };
        let Some(&(params, body)) = bodies.get(f as usize) else {
            warnings.push(format!(
                "layer `{}`: its plan names function {f}, which the module does not have",
                l.name
            ));
            continue;
        };
        let replayed = crate::compiler::emit::replay(params, plan).into_raw_body();
        if replayed == body {
            plans.insert(f, plan.clone());
        } else {
            warnings.push(format!(
                "layer `{}`: its plan does not re-emit to function {f} of the module; it runs in wasmtime",
                l.name
            ));
        }
    }
    Ok((Verified::new(plans), warnings))
}
