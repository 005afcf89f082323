//! Text generation with a generation program (`opml compile --generate`):
//! a prompt and sampling settings to the program's inputs, its tokens back to
//! text, and a run that hands out each token as soon as its step is done.

use anyhow::{Context, Result, bail};
use opml_vm::artifact::{Artifact, Generation};
use opml_vm::npy;
use opml_vm::runtime::Runtime;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// The end-of-text token GPT-2-style tokenizers define.
pub const END_OF_TEXT: &str = "<|endoftext|>";

pub use opml_vm::compiler::generate::Settings;

/// The generation program of an artifact, or a clear error.
pub fn program(art: &Artifact) -> Result<&Generation> {
    art.manifest.generation.as_ref().with_context(|| {
        format!(
            "`{}` is not a generation program; compile the decoder with `opml compile --generate N`",
            art.manifest.name
        )
    })
}

/// The tokenizer of an artifact: `explicit`, else `tokenizer.json` in its directory.
pub fn tokenizer(artifact_dir: &Path, explicit: Option<&Path>) -> Result<Tokenizer> {
    let path: PathBuf = explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| artifact_dir.join("tokenizer.json"));
    if !path.exists() {
        bail!(
            "the model's tokenizer is needed: pass --tokenizer FILE (its tokenizer.json); `{}` does not exist",
            path.display()
        );
    }
    Tokenizer::from_file(&path)
        .map_err(|e| anyhow::anyhow!("cannot load the tokenizer `{}`: {e}", path.display()))
}

/// The `<|endoftext|>` id of the `tokenizer.json` beside `model`, if both exist.
pub fn default_end_token(model: &Path) -> Result<Option<u32>> {
    let path = model.with_file_name("tokenizer.json");
    if !path.exists() {
        return Ok(None);
    }
    let tok = Tokenizer::from_file(&path)
        .map_err(|e| anyhow::anyhow!("cannot load the tokenizer `{}`: {e}", path.display()))?;
    Ok(tok.token_to_id(END_OF_TEXT))
}

/// Copies the `tokenizer.json` beside `model` into the artifact directory.
pub fn copy_tokenizer(model: &Path, artifact_dir: &Path) -> Result<()> {
    let from = model.with_file_name("tokenizer.json");
    let to = artifact_dir.join("tokenizer.json");
    if from.exists() && !to.exists() {
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    }
    Ok(())
}

/// The token ids of a prompt (no special tokens added).
pub fn prompt_ids(program: &Generation, tokenizer: &Tokenizer, prompt: &str) -> Result<Vec<u32>> {
    let enc = tokenizer
        .encode(prompt, false)
        .map_err(|e| anyhow::anyhow!("cannot tokenize the prompt: {e}"))?;
    let ids = enc.get_ids().to_vec();
    if ids.is_empty() {
        bail!("the prompt is empty; give at least one token of text");
    }
    if ids.len() > program.prompt_tokens as usize {
        bail!(
            "the prompt is {} tokens but the program takes at most {}; shorten it or compile with a larger --prompt-tokens",
            ids.len(),
            program.prompt_tokens
        );
    }
    Ok(ids)
}

/// The program's input tensors for prompt `ids` and `settings`.
pub fn inputs(program: &Generation, ids: &[u32], settings: &Settings) -> Result<Vec<npy::Tensor>> {
    Ok(opml_vm::compiler::generate::request_inputs(
        program, ids, settings,
    )?)
}

/// The generated tokens in an output region, before the end.
pub fn tokens_in(art: &Artifact, output_region: &[u8]) -> Vec<u32> {
    opml_vm::compiler::generate::tokens_in(&art.manifest, output_region)
}

/// Runs the program on `input_region`, calling `on_token(t, id)` for the
/// first `limit` tokens before the end as soon as token `t`'s step is done
/// (with the native executor; wasmtime runs the whole program first when it
/// is off). Returns the output region and the whole final memory.
pub fn run(
    rt: &Runtime,
    input_region: &[u8],
    limit: usize,
    mut on_token: impl FnMut(usize, u32) -> Result<()>,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let art = rt.artifact();
    let m = &art.manifest;
    let program = program(art)?;
    // the call after which each token is known: the last call of its span
    let mut call_of_layer = vec![];
    let mut calls = 0usize;
    for layer in &m.layers {
        call_of_layer.push(calls);
        calls += layer.calls.len();
    }
    let token_end: Vec<usize> = program
        .tokens
        .iter()
        .map(|t| {
            let end = (t.first_layer + t.layers) as usize;
            call_of_layer.get(end).copied().unwrap_or(calls)
        })
        .collect();
    let word = |memory: &[u8], t: usize| -> Option<u32> {
        let s = m
            .outputs
            .tensors
            .iter()
            .find(|s| s.name == format!("token{t}"))?;
        let at = s.offset as usize;
        Some(i32::from_le_bytes(memory.get(at..at + 4)?.try_into().ok()?) as u32)
    };
    let ended = |memory: &[u8], t: usize, id: u32| {
        // past the budget, or the end token: the rest is the end token
        t >= limit || program.end_token == Some(id) || word(memory, t).is_none()
    };
    let mut next = 0usize;
    let mut stopped = false;
    let memory = match rt.native() {
        Some((plans, executor)) if !plans.calls().is_empty() => rt
            .run_calls_native(
                input_region,
                plans.calls(),
                plans,
                executor,
                true,
                |i, mem| {
                    while next < token_end.len() && token_end[next] <= i + 1 {
                        if let Some(id) = word(mem, next)
                            && !stopped
                        {
                            if ended(mem, next, id) {
                                stopped = true;
                            } else {
                                on_token(next, id)
                                    .map_err(|e| opml_vm::Error::Runtime(format!("{e:#}")))?;
                            }
                        }
                        next += 1;
                    }
                    Ok(())
                },
            )
            .map_err(anyhow::Error::from)?,
        _ => rt.final_memory(input_region)?.0,
    };
    // whatever the stream did not hand out yet (wasmtime runs, or the end)
    while next < token_end.len() && !stopped {
        match word(&memory, next) {
            Some(id) if !ended(&memory, next, id) => on_token(next, id)?,
            _ => stopped = true,
        }
        next += 1;
    }
    let base = m.outputs.offset as usize;
    let output_region = memory[base..base + m.outputs.size as usize].to_vec();
    Ok((output_region, memory))
}
