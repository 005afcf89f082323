//! The compiled artifact: a directory with `module.wasm`, `memory.bin` (the
//! initial memory image) and `manifest.json`.
//!
//! The manifest records blake3 digests of the other files; loading recomputes
//! them and refuses an artifact that was modified. The manifest also holds the
//! model's commitment (code root, initial memory root, IO layout: the values a
//! contract needs to derive initial states); the machine layer computes it and
//! the keccak256 model id over it (`machine::model`).

use crate::error::{Error, Result};
use crate::fixed::FixedFormat;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of the artifact layout and manifest schema.
pub const FORMAT_VERSION: u32 = 2;
/// File name of the module.
pub const MODULE_FILE: &str = "module.wasm";
/// File name of the initial memory image.
pub const MEMORY_FILE: &str = "memory.bin";
/// File name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How a tensor's elements are represented in WASM memory (always 32 bits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A real number in the model's fixed-point format.
    Fixed,
    /// An integer (indices, labels, booleans as 0/1), stored as is.
    Int,
}

/// The ONNX element type of a value, kept for IO and `Cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// float32 (also float16/bfloat16/double in constants).
    Float32,
    /// int64 (also int32, int8, uint8, ...).
    Int64,
    /// bool.
    Bool,
}

impl DType {
    /// The in-memory representation of this type.
    pub fn kind(self) -> Kind {
        match self {
            DType::Float32 => Kind::Fixed,
            DType::Int64 | DType::Bool => Kind::Int,
        }
    }

    /// Maps an ONNX `TensorProto.DataType` number.
    pub fn from_onnx(t: i32) -> Option<DType> {
        match t {
            1 | 10 | 11 | 16 => Some(DType::Float32),
            2..=7 | 12 | 13 => Some(DType::Int64),
            9 => Some(DType::Bool),
            _ => None,
        }
    }

    /// The name used in manifests and messages.
    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Int64 => "int64",
            DType::Bool => "bool",
        }
    }
}

/// What the chain registers for a model: enough to derive initial states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCommitment {
    /// Root of the code tree (hex).
    pub code_root: String,
    /// Memory root of the initial image with a zero input region (hex).
    pub memory_root: String,
    /// Memory size in bytes.
    pub memory_size: u64,
    /// Root of the initial globals (hex).
    pub globals_root: String,
    /// First instruction of `run`.
    pub entry_pc: u32,
    /// Locals of `run`.
    pub entry_locals: u32,
    /// Siblings of the input region's subtree in the initial memory tree, bottom up (hex).
    pub input_siblings: Vec<String>,
    /// Steps of one inference (the halted state's step counter).
    pub steps: u64,
}

/// One tensor in an IO region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IoSlot {
    /// ONNX name.
    pub name: String,
    /// Byte offset in memory.
    pub offset: u32,
    /// Bytes (4 per element).
    pub size: u64,
    /// Shape.
    pub shape: Vec<usize>,
    /// ONNX element type.
    pub dtype: DType,
    /// Real value of one stored unit (`2^-F` for float tensors, 1 for integers).
    pub scale: f64,
}

/// An aligned power-of-two region of memory holding IO tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Byte offset (a multiple of `size`).
    pub offset: u32,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// Tensors, in graph order.
    pub tensors: Vec<IoSlot>,
}

/// One layer (one WASM function).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Name (the ONNX node name).
    pub name: String,
    /// WASM function index, or null for a reshape that only renames memory.
    pub function: Option<u32>,
    /// ONNX op types covered.
    pub ops: Vec<String>,
    /// ONNX nodes covered.
    pub nodes: Vec<String>,
    /// Instructions in the function body.
    pub code_instructions: u64,
    /// WASM instructions executed per inference (wasmtime fuel; data independent).
    pub instructions: u64,
    /// Step of the entry function's call into this layer.
    pub start_step: u64,
    /// Machine steps of this layer, its call and return included.
    pub steps: u64,
    /// The entry function's calls of this layer's function, in order: one,
    /// or several segments of a big layer, each doing part of its outer loop.
    #[serde(default)]
    pub calls: Vec<LayerCall>,
    /// The kernels that wrote the function, when they alone did: what the
    /// native executor runs in its place once they re-emit to its exact body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<crate::plan::KernelOp>>,
}

/// One call of a layer function from `run`: a boundary where a runtime can
/// stop and a trace session can keep what the call wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCall {
    /// Arguments (`i32.const`s pushed before the `call`): for a segment, the
    /// first index of the outer loop and the trip count.
    pub args: Vec<u32>,
    /// Step of the first instruction of the call sequence in `run`.
    pub start_step: u64,
    /// Steps of the call sequence: arguments, call, body, return.
    pub steps: u64,
    /// Byte ranges `[offset, length]` the call may store to.
    pub writes: Vec<[u32; 2]>,
}

/// Memory facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Total bytes (a power of two).
    pub bytes: u64,
    /// WASM pages (64 KiB).
    pub pages: u64,
    /// Bytes of constants (weights, tables) in the initial image.
    pub constant_bytes: u64,
}

/// The fixed-point format as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedPointInfo {
    /// Value width in bits.
    pub value_bits: u32,
    /// Fractional bits.
    pub frac_bits: u32,
    /// Accumulator width in bits.
    pub acc_bits: u32,
    /// Rounding rule of rescaling.
    pub rounding: String,
    /// Overflow rule.
    pub overflow: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Artifact format version.
    pub format_version: u32,
    /// Commitment to code, initial memory and IO layout (blake3, hex).
    pub model_id: String,
    /// Model name (the ONNX file stem).
    pub name: String,
    /// blake3 of the source ONNX file.
    pub source_blake3: String,
    /// Default-domain opset of the source.
    pub opset: i64,
    /// Fixed-point format.
    pub fixed_point: FixedPointInfo,
    /// Memory facts.
    pub memory: MemoryInfo,
    /// Input region.
    pub inputs: Region,
    /// Output region.
    pub outputs: Region,
    /// Layers in execution order.
    pub layers: Vec<LayerInfo>,
    /// Instructions executed per inference (the entry function and every layer).
    pub instructions: u64,
    /// Machine steps per inference: the step counter of the halted state.
    pub steps: u64,
    /// What a registry stores to derive initial states (see `machine::model`).
    pub commitment: Option<ModelCommitment>,
    /// blake3 digests of the artifact files.
    pub files: BTreeMap<String, String>,
    /// For a generation program: its options and where each token's
    /// computation lies in the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
}

/// A generation program (`opml compile --generate`): prompt slots, new
/// tokens and how the trace divides into tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Prompt slots (prompts are left-padded to this many tokens).
    pub prompt_tokens: u32,
    /// New tokens every run writes.
    pub new_tokens: u32,
    /// Most candidates of top-k sampling.
    pub top_k_max: u32,
    /// The end token, if the model has one.
    pub end_token: Option<u32>,
    /// Logits per step.
    pub vocab: u32,
    /// Per new token, in order: the layers and steps of its computation
    /// (token 0's includes the prompt's prefill).
    pub tokens: Vec<TokenSpan>,
}

/// The layers and steps that compute one new token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpan {
    /// Index of its first layer in [`Manifest::layers`].
    pub first_layer: u32,
    /// Number of layers.
    pub layers: u32,
    /// Its first step.
    pub start_step: u64,
    /// Its steps.
    pub steps: u64,
}

impl Generation {
    /// The token whose computation holds `step`, if any.
    pub fn token_at(&self, step: u64) -> Option<usize> {
        self.tokens
            .iter()
            .position(|t| (t.start_step..t.start_step + t.steps).contains(&step))
    }
}

impl Manifest {
    /// A manifest with digests and id still empty (see [`Artifact::seal`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        source_blake3: String,
        opset: i64,
        fmt: FixedFormat,
        memory_bytes: u64,
        constant_bytes: u64,
        inputs: Region,
        outputs: Region,
        layers: Vec<LayerInfo>,
    ) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            model_id: String::new(),
            name: name.to_string(),
            source_blake3,
            opset,
            fixed_point: FixedPointInfo {
                value_bits: fmt.value_bits,
                frac_bits: fmt.frac_bits,
                acc_bits: fmt.acc_bits,
                rounding: "half-up: (acc + 2^(F-1)) >> F".into(),
                overflow: "saturate to the i32 range".into(),
            },
            memory: MemoryInfo {
                bytes: memory_bytes,
                pages: memory_bytes / 65536,
                constant_bytes,
            },
            inputs,
            outputs,
            layers,
            instructions: 0,
            steps: 0,
            commitment: None,
            files: BTreeMap::new(),
            generation: None,
        }
    }

    /// Every call of `run`, in execution order, with its function index.
    pub fn calls(&self) -> impl Iterator<Item = (u32, &LayerCall)> {
        self.layers
            .iter()
            .filter_map(|l| Some((l.function?, &l.calls)))
            .flat_map(|(f, calls)| calls.iter().map(move |c| (f, c)))
    }

    /// Every call of `run` as (function index, arguments), in execution order.
    pub fn call_args(&self) -> Vec<(u32, Vec<u32>)> {
        self.calls().map(|(f, c)| (f, c.args.clone())).collect()
    }

    /// The fixed-point format.
    pub fn format(&self) -> FixedFormat {
        FixedFormat::new(self.fixed_point.frac_bits)
    }
}

/// A compiled model.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest.
    pub manifest: Manifest,
    /// `module.wasm`.
    pub wasm: Vec<u8>,
    /// `memory.bin`.
    pub memory: Vec<u8>,
}

fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Magic of `memory.bin`.
const IMAGE_MAGIC: &[u8; 8] = b"opmlmem1";

/// Zero runs at least this long end a stored run.
const MIN_GAP: usize = 64;

/// Encodes a memory image as `memory.bin`: the magic, the memory size
/// (u64 little-endian), then runs of `offset u64, length u64, bytes` that
/// cover every nonzero byte. Activations and padding are zero, so the file
/// holds about the weights, not the whole memory.
pub fn encode_image(image: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(image.len() / 2);
    out.extend_from_slice(IMAGE_MAGIC);
    out.extend_from_slice(&(image.len() as u64).to_le_bytes());
    let mut i = 0;
    while i < image.len() {
        if image[i] == 0 {
            i += 1;
            continue;
        }
        // extend the run until MIN_GAP zeros in a row (or the end)
        let start = i;
        let mut end = i;
        let mut zeros = 0;
        while i < image.len() && zeros < MIN_GAP {
            if image[i] == 0 {
                zeros += 1;
            } else {
                zeros = 0;
                end = i + 1;
            }
            i += 1;
        }
        out.extend_from_slice(&(start as u64).to_le_bytes());
        out.extend_from_slice(&((end - start) as u64).to_le_bytes());
        out.extend_from_slice(&image[start..end]);
        i = end;
    }
    out
}

/// Decodes [`encode_image`]; `Err` says what is malformed.
pub fn decode_image(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let word = |at: usize| -> std::result::Result<u64, String> {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    if bytes.get(..8) != Some(IMAGE_MAGIC) {
        return Err("not an opML memory image (bad magic)".into());
    }
    let size = word(8)?;
    if size > 1 << 32 {
        return Err(format!("memory size {size} is more than 4 GiB"));
    }
    let mut image = vec![0u8; size as usize];
    let mut at = 16;
    while at < bytes.len() {
        let (offset, len) = (word(at)? as usize, word(at + 8)? as usize);
        at += 16;
        let data = bytes
            .get(at..at.saturating_add(len))
            .ok_or_else(|| format!("a run of {len} bytes is truncated at byte {at}"))?;
        let dst = image
            .get_mut(offset..offset.saturating_add(len))
            .ok_or_else(|| format!("a run at offset {offset} of {len} bytes is past the memory"))?;
        dst.copy_from_slice(data);
        at += len;
    }
    Ok(image)
}

impl Artifact {
    /// An unsealed artifact.
    pub fn new(manifest: Manifest, wasm: Vec<u8>, memory: Vec<u8>) -> Artifact {
        Artifact {
            manifest,
            wasm,
            memory,
        }
    }

    /// Fills in file digests and the model id.
    pub fn seal(&mut self) {
        let stored = digest(&encode_image(&self.memory));
        self.seal_with(stored);
    }

    /// [`Artifact::seal`] given the digest of the encoded `memory.bin`.
    fn seal_with(&mut self, memory_file: String) {
        let m = &mut self.manifest;
        m.files.insert(MODULE_FILE.into(), digest(&self.wasm));
        m.files.insert(MEMORY_FILE.into(), memory_file);
        let mut h = blake3::Hasher::new();
        h.update(b"opml.model_id.v1");
        h.update(digest(&self.wasm).as_bytes());
        h.update(digest(&self.memory).as_bytes());
        h.update(
            serde_json::to_string(&(&m.inputs, &m.outputs))
                .expect("serializable")
                .as_bytes(),
        );
        m.model_id = h.finalize().to_hex().to_string();
    }

    /// Writes the artifact directory (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| Error::io(p, e))
        };
        write(MODULE_FILE, &self.wasm)?;
        write(MEMORY_FILE, &encode_image(&self.memory))?;
        let json = serde_json::to_string_pretty(&self.manifest).expect("serializable");
        write(MANIFEST_FILE, json.as_bytes())
    }

    /// Reads an artifact directory and checks every digest.
    pub fn load(dir: &Path) -> Result<Artifact> {
        let bad = |detail: String| Error::Artifact {
            dir: dir.to_path_buf(),
            detail,
        };
        if !dir.is_dir() {
            return Err(bad(
                "no such directory; create one with `opml compile MODEL.onnx -o DIR`".into(),
            ));
        }
        let read = |name: &str| -> Result<Vec<u8>> {
            let p: PathBuf = dir.join(name);
            std::fs::read(&p).map_err(|e| {
                bad(format!(
                    "cannot read `{name}` ({e}); compile the model again with `opml compile`"
                ))
            })
        };
        let manifest: Manifest = serde_json::from_slice(&read(MANIFEST_FILE)?)
            .map_err(|e| bad(format!("`{MANIFEST_FILE}` is malformed: {e}")))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is not the supported version {FORMAT_VERSION}; compile the model again",
                manifest.format_version
            )));
        }
        let wasm = read(MODULE_FILE)?;
        let stored = read(MEMORY_FILE)?;
        for (name, bytes) in [(MODULE_FILE, &wasm), (MEMORY_FILE, &stored)] {
            let want = manifest
                .files
                .get(name)
                .ok_or_else(|| bad(format!("manifest has no digest for `{name}`")))?;
            let got = digest(bytes);
            if &got != want {
                return Err(bad(format!(
                    "`{name}` was modified: blake3 is {got}, the manifest says {want}; compile the model again"
                )));
            }
        }
        let memory = decode_image(&stored).map_err(|e| {
            bad(format!(
                "`{MEMORY_FILE}` is malformed: {e}; compile the model again"
            ))
        })?;
        let mut check = Artifact {
            manifest: manifest.clone(),
            wasm,
            memory,
        };
        check.seal_with(digest(&stored));
        if check.manifest.model_id != manifest.model_id {
            return Err(bad(format!(
                "the model id {} does not match the contents ({}); the manifest was edited",
                manifest.model_id, check.manifest.model_id
            )));
        }
        crate::profile::validate(&check.wasm)?;
        Ok(check)
    }
}

#[cfg(test)]
mod image_tests {
    use super::*;

    #[test]
    fn images_round_trip_and_malformed_ones_are_refused() {
        let mut image = vec![0u8; 4096];
        image[3] = 1;
        image[100..110].fill(7);
        image[4095] = 9;
        let enc = encode_image(&image);
        assert!(enc.len() < 200, "zeros are not stored: {} bytes", enc.len());
        assert_eq!(decode_image(&enc).unwrap(), image);
        assert_eq!(decode_image(&encode_image(&[0; 64])).unwrap(), vec![0; 64]);
        assert!(decode_image(b"nonsense").unwrap_err().contains("magic"));
        assert!(
            decode_image(&enc[..enc.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        let mut past = enc.clone();
        past[16..24].copy_from_slice(&5000u64.to_le_bytes());
        assert!(decode_image(&past).unwrap_err().contains("past the memory"));
    }
}
