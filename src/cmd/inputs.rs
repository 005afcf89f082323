//! The inputs of an inference, as every command takes them: `.npy` files, or
//! text through a HuggingFace tokenizer for models that take `input_ids`
//! (and `attention_mask`, `token_type_ids`).

use anyhow::{Context, Result, bail};
use clap::Args;
use ndarray::ArrayD;
use opml_vm::artifact::{Artifact, IoSlot};
use opml_vm::npy;
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// `--input FILE.npy ...` or `--text "..." [--tokenizer tokenizer.json]`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct InputArgs {
    /// Input .npy file; `NAME=FILE` to name the input (repeatable, in model order otherwise).
    #[arg(long, value_name = "[NAME=]FILE")]
    pub(crate) input: Vec<String>,
    /// Text for a language model: tokenized into its `input_ids`, `attention_mask` and
    /// `token_type_ids` inputs, truncated and padded to the model's sequence length.
    #[arg(long, conflicts_with = "input")]
    pub(crate) text: Option<String>,
    /// The tokenizer.json of `--text` or `--prompt` (default: `tokenizer.json` in the artifact directory).
    #[arg(long, value_name = "FILE")]
    pub(crate) tokenizer: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) generation: GenerationArgs,
}

/// The request of a generation program (`opml compile --generate`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct GenerationArgs {
    /// The prompt of a generation program.
    #[arg(long, conflicts_with_all = ["input", "text"])]
    pub(crate) prompt: Option<String>,
    /// New tokens wanted (default: all the program writes).
    #[arg(long, requires = "prompt")]
    pub(crate) max_tokens: Option<u32>,
    /// Seed of the sampler's draws.
    #[arg(long, default_value_t = 0, requires = "prompt")]
    pub(crate) seed: u32,
    /// Candidates top-k sampling keeps (1, the default, is greedy).
    #[arg(long, default_value_t = 1, requires = "prompt")]
    pub(crate) top_k: u32,
    /// Temperature of the kept candidates (0, the default, is greedy).
    #[arg(long, default_value_t = 0.0, requires = "prompt")]
    pub(crate) temperature: f32,
}

impl GenerationArgs {
    /// The settings, the budget defaulting to all of `program`'s tokens.
    pub(crate) fn settings(
        &self,
        program: &opml_vm::artifact::Generation,
    ) -> opml::generate::Settings {
        opml::generate::Settings {
            max_tokens: self.max_tokens.unwrap_or(program.new_tokens),
            seed: self.seed,
            top_k: self.top_k,
            temperature: self.temperature,
        }
    }

    /// The prompt's ids and the program's inputs, when `--prompt` was given.
    pub(crate) fn load(
        &self,
        art: &Artifact,
        artifact_dir: &Path,
        tokenizer: Option<&Path>,
    ) -> Result<Option<(Vec<u32>, Vec<npy::Tensor>)>> {
        let Some(prompt) = &self.prompt else {
            return Ok(None);
        };
        let program = opml::generate::program(art)?;
        let tok = opml::generate::tokenizer(artifact_dir, tokenizer)?;
        let ids = opml::generate::prompt_ids(program, &tok, prompt)?;
        let inputs = opml::generate::inputs(program, &ids, &self.settings(program))?;
        Ok(Some((ids, inputs)))
    }
}

impl InputArgs {
    /// Whether any input was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty() && self.text.is_none() && self.generation.prompt.is_none()
    }

    /// The input tensors in model order.
    pub(crate) fn load(&self, art: &Artifact, artifact_dir: &Path) -> Result<Vec<npy::Tensor>> {
        if let Some((_, inputs)) =
            self.generation
                .load(art, artifact_dir, self.tokenizer.as_deref())?
        {
            return Ok(inputs);
        }
        if art.manifest.generation.is_some() && self.input.is_empty() {
            bail!("give the prompt of this generation program: --prompt \"...\" [--max-tokens N]");
        }
        match &self.text {
            Some(text) => {
                let path = self
                    .tokenizer
                    .clone()
                    .unwrap_or_else(|| artifact_dir.join("tokenizer.json"));
                if !path.exists() {
                    bail!(
                        "--text needs the model's tokenizer: pass --tokenizer FILE (its tokenizer.json); `{}` does not exist",
                        path.display()
                    );
                }
                let encoded = encode_text(&path, text, &art.manifest.inputs.tensors)?;
                if encoded.truncated > 0 {
                    eprintln!(
                        "note: the text is {} tokens longer than the model's sequence of {}; the rest is cut off",
                        encoded.truncated, encoded.seq
                    );
                }
                Ok(encoded.tensors)
            }
            None if self.input.is_empty() => {
                bail!(
                    "give the input: --input FILE.npy (repeatable), or --text \"...\" for a language model"
                )
            }
            None => load_npy_inputs(art, &self.input),
        }
    }
}

/// Reads the inputs given as `FILE` (model order) or `NAME=FILE`.
fn load_npy_inputs(art: &Artifact, input: &[String]) -> Result<Vec<npy::Tensor>> {
    let slots = &art.manifest.inputs.tensors;
    let mut inputs = vec![None; slots.len()];
    for (i, spec) in input.iter().enumerate() {
        let (slot, path) = match spec.split_once('=') {
            Some((name, path)) => (slot_named(slots, name)?, PathBuf::from(path)),
            None => (i, PathBuf::from(spec)),
        };
        if slot >= slots.len() {
            bail!(
                "{} inputs given but the model takes {}",
                input.len(),
                slots.len()
            );
        }
        inputs[slot] = Some(npy::read(&path)?);
    }
    inputs
        .into_iter()
        .zip(slots)
        .map(|(t, s)| {
            t.with_context(|| {
                format!(
                    "missing input `{}`: pass --input {}=FILE.npy",
                    s.name, s.name
                )
            })
        })
        .collect()
}

fn slot_named(slots: &[IoSlot], name: &str) -> Result<usize> {
    slots.iter().position(|s| s.name == name).with_context(|| {
        let names: Vec<_> = slots.iter().map(|s| s.name.as_str()).collect();
        format!(
            "the model has no input `{name}` (inputs: {})",
            names.join(", ")
        )
    })
}

/// Tokenized text as the model's inputs.
pub(crate) struct Encoded {
    /// One tensor per model input, in model order.
    pub(crate) tensors: Vec<npy::Tensor>,
    /// The model's sequence length.
    pub(crate) seq: usize,
    /// Tokens cut off by truncation.
    pub(crate) truncated: usize,
}

/// Tokenizes `text` for a model whose inputs are tokenizer outputs of shape
/// `[1, SEQ]` or `[SEQ]`: truncated to SEQ (special tokens included) and
/// padded with the tokenizer's pad token.
pub(crate) fn encode_text(tokenizer: &Path, text: &str, slots: &[IoSlot]) -> Result<Encoded> {
    let seq = sequence_length(slots)?;
    let mut tok = Tokenizer::from_file(tokenizer).map_err(|e| {
        anyhow::anyhow!(
            "`{}` is not a HuggingFace tokenizer.json: {e}",
            tokenizer.display()
        )
    })?;
    // the file's own settings are for its training length; these are the model's
    let (pad_id, pad_token) = pad_token(&tok);
    tok.with_truncation(Some(TruncationParams {
        max_length: seq,
        ..Default::default()
    }))
    .map_err(|e| anyhow::anyhow!("cannot truncate to {seq} tokens: {e}"))?;
    tok.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::Fixed(seq),
        pad_id,
        pad_token,
        ..Default::default()
    }));
    let enc = tok
        .encode(text, true)
        .map_err(|e| anyhow::anyhow!("cannot tokenize the text: {e}"))?;
    let truncated = enc.get_overflowing().iter().map(|o| o.len()).sum();
    let tensors = slots
        .iter()
        .map(|s| {
            let values: &[u32] = match s.name.as_str() {
                "input_ids" => enc.get_ids(),
                "attention_mask" => enc.get_attention_mask(),
                "token_type_ids" => enc.get_type_ids(),
                other => bail!(
                    "the model's input `{other}` is not a tokenizer output (input_ids, attention_mask, token_type_ids); give the inputs as --input NAME=FILE.npy"
                ),
            };
            let data: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            Ok(npy::Tensor::I64(ArrayD::from_shape_vec(s.shape.clone(), data)?))
        })
        .collect::<Result<_>>()?;
    Ok(Encoded {
        tensors,
        seq,
        truncated,
    })
}

/// The sequence length shared by the token inputs (`[1, SEQ]` or `[SEQ]`).
fn sequence_length(slots: &[IoSlot]) -> Result<usize> {
    let mut seq = None;
    for s in slots {
        let n = match s.shape[..] {
            [1, n] | [n] => n,
            _ => bail!(
                "--text needs token inputs of shape [1, SEQ]; the model's input `{}` has shape {:?}",
                s.name,
                s.shape
            ),
        };
        if seq.is_some_and(|m| m != n) {
            bail!(
                "the model's token inputs have different lengths ({:?})",
                slots.iter().map(|s| &s.shape).collect::<Vec<_>>()
            );
        }
        seq = Some(n);
    }
    seq.context("the model takes no inputs")
}

/// The tokenizer's own padding token, else `[PAD]` from its vocabulary, else id 0.
fn pad_token(tok: &Tokenizer) -> (u32, String) {
    if let Some(p) = tok.get_padding() {
        return (p.pad_id, p.pad_token.clone());
    }
    match tok.token_to_id("[PAD]") {
        Some(id) => (id, "[PAD]".into()),
        None => (0, tok.id_to_token(0).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust tokenizer gives what the fixture script's Python tokenizer
    /// gave, for every sentence (one is truncated, several are padded).
    #[test]
    fn text_encodes_like_the_fixture_script() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/minilm_tiny");
        let sentences: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("sentences.json")).unwrap()).unwrap();
        let values = |t: &npy::Tensor| t.values().iter().map(|&v| v as i64).collect::<Vec<_>>();
        let read = |f: &str| {
            let t = npy::read(&dir.join(f)).unwrap();
            let seq = t.shape()[1];
            (values(&t), seq)
        };
        let ((ids, seq), (mask, _)) = (read("ids.npy"), read("mask.npy"));
        let row = |all: &[i64], k: usize| all[k * seq..(k + 1) * seq].to_vec();
        let slot = |name: &str| IoSlot {
            name: name.into(),
            offset: 0,
            size: 0,
            shape: vec![1, seq],
            dtype: opml_vm::artifact::DType::Int64,
            scale: 1.0,
        };
        let slots = [slot("input_ids"), slot("attention_mask")];
        let mut truncated = 0;
        for (k, s) in sentences["sentences"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let e = encode_text(&dir.join("tokenizer.json"), s.as_str().unwrap(), &slots).unwrap();
            assert_eq!(values(&e.tensors[0]), row(&ids, k), "ids of sentence {k}");
            assert_eq!(values(&e.tensors[1]), row(&mask, k), "mask of sentence {k}");
            truncated += (e.truncated > 0) as usize;
        }
        assert!(truncated > 0, "the long sentence is truncated");
    }

    #[test]
    fn a_model_without_token_inputs_is_refused() {
        let slot = IoSlot {
            name: "pixels".into(),
            offset: 0,
            size: 0,
            shape: vec![1, 64],
            dtype: opml_vm::artifact::DType::Float32,
            scale: 1.0,
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/minilm_tiny");
        let err = encode_text(&dir.join("tokenizer.json"), "hi", &[slot])
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a tokenizer output"), "{err}");
    }
}
