//! Generation: a decoder exported with a key/value cache becomes one
//! deterministic program that reads a prompt and writes exactly `N` new tokens.
//!
//! The decoder's graph (the signature Hugging Face and optimum export:
//! `input_ids`, `attention_mask`, `position_ids`, `past_key_values.*` in;
//! `logits`, `present.*` out) is instantiated once per token with static
//! shapes: a prefill over the whole (left-padded) prompt with an empty cache,
//! then one step per further token whose cache is the previous step's
//! `present` tensors. The instances share their weights (one copy in memory)
//! and are joined by a little glue written as ONNX nodes:
//!
//! * the prompt's attention mask and positions from its length (padding on
//!   the left is masked out, positions start at 0 on the first real token);
//! * per step the next token from the last position's logits, by the integer
//!   sampler `opml.Sample` (greedy, or top-k with a temperature and a seed);
//! * the budget and the end token as selects: once the budget is spent or
//!   the end token came, every later token is the end token, but every step
//!   still runs, so the step count is fixed at compile time.
//!
//! The outputs are `token0` .. `token{N-1}` (each `[1, 1]`, written by its
//! own step, so a reader can stream them) and `count`, the tokens before the
//! end. Layers of token `t` are named `token{t}/...`, which is how the
//! manifest's [`crate::artifact::Generation`] finds each token's span of the trace.

use crate::compiler::graph::{Attr, DType, Graph, Node, Value, ValueId};
use crate::compiler::infer;
use crate::compiler::onnx::{self, ShapeBindings};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;
use tract_onnx::pb;

/// Domain of the compiler's own glue operators.
pub const DOMAIN: &str = "opml";

/// Names of the generation program's inputs, in region order.
pub const INPUTS: [&str; 6] = [
    "prompt",
    "prompt_length",
    "max_new_tokens",
    "seed",
    "top_k",
    "temperature",
];

/// Default most candidates of top-k sampling.
pub const DEFAULT_TOP_K_MAX: usize = 40;

/// What `opml compile --generate` builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Prompt slots (prompts are left-padded to this many tokens).
    pub prompt_tokens: usize,
    /// New tokens written by every run.
    pub new_tokens: usize,
    /// Most candidates top-k sampling may keep.
    pub top_k_max: usize,
    /// The token that ends a text (and fills the rest); `None`: only the budget ends it.
    pub end_token: Option<u32>,
}

/// The decoder's inputs and outputs, by role.
struct Signature {
    /// `(past input, present output)` names, in the graph's order.
    cache: Vec<(String, String)>,
    /// The past inputs' declared shapes (the sequence axis is `rank - 2`).
    cache_dims: Vec<Vec<Option<usize>>>,
    logits: String,
}

fn bad(detail: impl Into<String>) -> Error {
    Error::BadInput(detail.into())
}

fn signature(model: &pb::ModelProto) -> Result<Signature> {
    let gp = model.graph.as_ref().expect("checked in decode_model");
    let inits: std::collections::HashSet<&str> =
        gp.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = gp
        .input
        .iter()
        .filter(|vi| !inits.contains(vi.name.as_str()))
        .collect();
    let names: Vec<&str> = inputs.iter().map(|vi| vi.name.as_str()).collect();
    for required in ["input_ids", "attention_mask", "position_ids"] {
        if !names.contains(&required) {
            return Err(bad(format!(
                "--generate needs a decoder exported with a cache: inputs `input_ids`, `attention_mask`, `position_ids` and `past_key_values.*`; this model has no `{required}` (inputs: {})",
                names.join(", ")
            )));
        }
    }
    let past: Vec<&pb::ValueInfoProto> = inputs
        .iter()
        .copied()
        .filter(|vi| vi.name.starts_with("past"))
        .collect();
    let present: Vec<&str> = gp
        .output
        .iter()
        .map(|o| o.name.as_str())
        .filter(|n| n.starts_with("present"))
        .collect();
    if past.is_empty() || past.len() != present.len() {
        return Err(bad(format!(
            "--generate needs one `present.*` output per `past_key_values.*` input; the model has {} and {}",
            past.len(),
            present.len()
        )));
    }
    if let Some(other) = names.iter().find(|n| {
        !["input_ids", "attention_mask", "position_ids"].contains(n) && !n.starts_with("past")
    }) {
        return Err(bad(format!(
            "--generate does not know what to feed the decoder's input `{other}`"
        )));
    }
    let mut cache_dims = vec![];
    for vi in &past {
        let Some(pb::type_proto::Value::TensorType(tt)) =
            vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(bad(format!("cache input `{}` is not a tensor", vi.name)));
        };
        let dims: Vec<Option<usize>> = tt
            .shape
            .as_ref()
            .map(|s| s.dim.clone())
            .unwrap_or_default()
            .iter()
            .map(|d| match &d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => {
                    Some(*v as usize)
                }
                _ => None,
            })
            .collect();
        let rank = dims.len();
        let fixed = |i: usize| i == 0 || i == rank - 2 || dims[i].is_some();
        if rank < 3 || !(0..rank).all(fixed) {
            return Err(bad(format!(
                "cache input `{}` must be [batch, ..., sequence, head size] with every other dimension fixed; it is {dims:?}",
                vi.name
            )));
        }
        cache_dims.push(dims);
    }
    let logits = gp
        .output
        .iter()
        .find(|o| o.name == "logits")
        .or_else(|| gp.output.first())
        .map(|o| o.name.clone())
        .ok_or_else(|| bad("the decoder has no output"))?;
    Ok(Signature {
        cache: past
            .iter()
            .map(|vi| vi.name.clone())
            .zip(present.iter().map(|s| s.to_string()))
            .collect(),
        cache_dims,
        logits,
    })
}

/// The shapes of one instance: `tokens` new positions after `past` cached ones.
fn bindings(sig: &Signature, tokens: usize, past: usize) -> ShapeBindings {
    let mut b = ShapeBindings::default();
    b.inputs.insert("input_ids".into(), vec![1, tokens]);
    b.inputs
        .insert("attention_mask".into(), vec![1, past + tokens]);
    b.inputs.insert("position_ids".into(), vec![1, tokens]);
    for ((name, _), dims) in sig.cache.iter().zip(&sig.cache_dims) {
        let rank = dims.len();
        let shape = (0..rank)
            .map(|i| match i {
                0 => 1,
                i if i == rank - 2 => past,
                i => dims[i].expect("checked in signature"),
            })
            .collect();
        b.inputs.insert(name.clone(), shape);
    }
    b
}

/// The program under construction: the joined graph and the constants
/// already in it (instances share their weights).
struct Program {
    g: Graph,
    consts: HashMap<(String, Vec<usize>, DType), Vec<ValueId>>,
    glue: usize,
}

impl Program {
    fn value(&mut self, name: String, shape: Vec<usize>, dtype: DType) -> ValueId {
        self.g.add_value(Value {
            name,
            shape,
            dtype,
            konst: None,
        })
    }

    fn konst(&mut self, name: &str, shape: &[usize], values: Vec<f64>, dtype: DType) -> ValueId {
        let arr = ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape matches");
        self.shared_const(name.to_string(), arr, dtype)
    }

    /// A constant, shared with an equal one already in the program.
    fn shared_const(&mut self, name: String, arr: ArrayD<f64>, dtype: DType) -> ValueId {
        let key = (name.clone(), arr.shape().to_vec(), dtype);
        if let Some(ids) = self.consts.get(&key) {
            for &id in ids {
                if self.g.values[id].konst.as_ref() == Some(&arr) {
                    return id;
                }
            }
        }
        let id = self.g.add_value(Value {
            name,
            shape: arr.shape().to_vec(),
            dtype,
            konst: Some(arr),
        });
        self.consts.entry(key).or_default().push(id);
        id
    }

    /// Adds a glue node and infers its output (a constant when it folds).
    fn node(
        &mut self,
        op: &str,
        inputs: &[ValueId],
        attrs: &[(&str, Attr)],
        step: Option<usize>,
    ) -> Result<ValueId> {
        self.glue += 1;
        let prefix = step.map(|s| format!("token{s}/")).unwrap_or_default();
        let name = format!("{prefix}generate/{op}_{}", self.glue);
        let out = self.value(name.clone(), vec![], DType::Float32);
        let node = Node {
            name,
            op: op.into(),
            domain: String::new(),
            inputs: inputs.iter().map(|&v| Some(v)).collect(),
            outputs: vec![out],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        if !infer::infer_node(&mut self.g, &node)? {
            self.g.nodes.push(node);
        }
        Ok(out)
    }

    /// Joins a prepared instance as token `step`: its inputs become the
    /// values `wiring` names, its constants are shared, the rest is renamed.
    fn join(
        &mut self,
        inst: Graph,
        step: usize,
        wiring: &HashMap<String, ValueId>,
    ) -> Result<HashMap<String, ValueId>> {
        let mut map: HashMap<ValueId, ValueId> = HashMap::new();
        for &v in &inst.inputs {
            let name = &inst.values[v].name;
            match wiring.get(name) {
                Some(&w) => {
                    let (a, b) = (&inst.values[v].shape, &self.g.values[w].shape);
                    if a != b {
                        return Err(bad(format!(
                            "token {step}: the decoder's `{name}` is {a:?} but the program feeds {b:?}"
                        )));
                    }
                    map.insert(v, w);
                }
                None if inst.values[v].is_empty() => {
                    // an empty cache (the prefill's): nothing to read
                    let c = self.konst(name, &inst.values[v].shape.clone(), vec![], DType::Float32);
                    map.insert(v, c);
                }
                None => return Err(bad(format!("token {step}: nothing feeds `{name}`"))),
            }
        }
        let mut inst = inst;
        let mut mapped = |prog: &mut Program, v: ValueId, inst: &mut Graph| -> ValueId {
            if let Some(&m) = map.get(&v) {
                return m;
            }
            let val = &mut inst.values[v];
            let m = match val.konst.take() {
                Some(arr) => prog.shared_const(val.name.clone(), arr, val.dtype),
                None => prog.value(
                    format!("token{step}/{}", val.name),
                    val.shape.clone(),
                    val.dtype,
                ),
            };
            map.insert(v, m);
            m
        };
        let nodes = std::mem::take(&mut inst.nodes);
        for mut node in nodes {
            for v in node.inputs.iter_mut().flatten() {
                *v = mapped(self, *v, &mut inst);
            }
            for v in node.outputs.iter_mut() {
                *v = mapped(self, *v, &mut inst);
            }
            node.name = format!("token{step}/{}", node.name);
            self.g.nodes.push(node);
        }
        let mut outs = HashMap::new();
        for &v in &inst.outputs.clone() {
            let name = inst.values[v].name.clone();
            outs.insert(name, mapped(self, v, &mut inst));
        }
        Ok(outs)
    }
}

/// Builds the generation program of a decoder (ONNX bytes) as a prepared graph.
pub fn generation_graph(bytes: &[u8], path: &str, opts: &GenerateOptions) -> Result<Graph> {
    let (p, n) = (opts.prompt_tokens, opts.new_tokens);
    if p == 0 || n == 0 {
        return Err(bad(
            "--generate needs at least one prompt token and one new token",
        ));
    }
    let model = onnx::decode_model(bytes, path)?;
    let sig = signature(&model)?;
    let mut prog = Program {
        g: Graph::default(),
        consts: HashMap::new(),
        glue: 0,
    };

    let int = DType::Int64;
    let input = |prog: &mut Program, name: &str, shape: Vec<usize>, dtype: DType| {
        let v = prog.value(name.into(), shape, dtype);
        prog.g.inputs.push(v);
        v
    };
    let prompt = input(&mut prog, INPUTS[0], vec![1, p], int);
    let length = input(&mut prog, INPUTS[1], vec![1], int);
    let budget = input(&mut prog, INPUTS[2], vec![1], int);
    let seed = input(&mut prog, INPUTS[3], vec![1], int);
    let top_k = input(&mut prog, INPUTS[4], vec![1], int);
    let temperature = input(&mut prog, INPUTS[5], vec![1], DType::Float32);

    // the prompt is right-aligned: slots before `p - length` are padding
    let slots = prog.konst(
        "generate.slots",
        &[1, p],
        (0..p).map(|i| i as f64).collect(),
        int,
    );
    let p_const = prog.konst("generate.prompt_tokens", &[1], vec![p as f64], int);
    let pad = prog.node("Sub", &[p_const, length], &[], None)?;
    let real = prog.node("GreaterOrEqual", &[slots, pad], &[], None)?;
    let mut mask = prog.node("Cast", &[real], &[("to", Attr::Int(7))], None)?;
    let zero = prog.konst("generate.zero", &[1], vec![0.0], int);
    let shifted = prog.node("Sub", &[slots, pad], &[], None)?;
    let positions = prog.node("Max", &[shifted, zero], &[], None)?;
    let shape11 = prog.konst("generate.shape11", &[2], vec![1.0, 1.0], int);
    let length11 = prog.node("Reshape", &[length, shape11], &[], None)?;
    let budget11 = prog.node("Reshape", &[budget, shape11], &[], None)?;
    let one11 = prog.konst("generate.one", &[1, 1], vec![1.0], int);
    let end = opts.end_token.unwrap_or(0) as f64;
    let end11 = prog.konst("generate.end_token", &[1, 1], vec![end], int);
    let last = prog.konst("generate.last", &[], vec![-1.0], int);

    let mut cache: HashMap<String, ValueId> = HashMap::new();
    let mut token = prompt;
    let mut position = positions;
    let mut done: Option<ValueId> = None;
    let (mut tokens, mut live) = (vec![], vec![]);
    for step in 0..n {
        let (width, past) = if step == 0 { (p, 0) } else { (1, p + step - 1) };
        let mut g = onnx::graph_from_proto(&model, &bindings(&sig, width, past))?;
        infer::prepare(&mut g)?;
        let mut wiring = cache.clone();
        wiring.insert("input_ids".into(), token);
        wiring.insert("attention_mask".into(), mask);
        wiring.insert("position_ids".into(), position);
        prog.g.opset = g.opset;
        prog.g.producer = g.producer.clone();
        let outs = prog.join(g, step, &wiring)?;
        cache = sig
            .cache
            .iter()
            .map(|(past, present)| (past.clone(), outs[present]))
            .collect();

        let mut logits = outs[&sig.logits];
        let shape = prog.g.values[logits].shape.clone();
        if shape.len() == 3 {
            logits = prog.node(
                "Gather",
                &[logits, last],
                &[("axis", Attr::Int(1))],
                Some(step),
            )?;
        } else if shape.len() != 2 || shape[0] != 1 {
            return Err(bad(format!(
                "the decoder's `{}` is {shape:?}; --generate expects [1, vocab] or [1, tokens, vocab]",
                sig.logits
            )));
        }
        let sampled = prog.value(format!("token{step}/generate/sampled"), vec![1, 1], int);
        let mut attrs = HashMap::new();
        attrs.insert("step".to_string(), Attr::Int(step as i64));
        attrs.insert("k_max".to_string(), Attr::Int(opts.top_k_max.max(1) as i64));
        prog.g.nodes.push(Node {
            name: format!("token{step}/generate/sample"),
            op: "Sample".into(),
            domain: DOMAIN.into(),
            inputs: [logits, seed, top_k, temperature].map(Some).to_vec(),
            outputs: vec![sampled],
            attrs,
        });

        // spent budget or an earlier end token: the end token, from here on
        let at = prog.konst(
            &format!("generate.step{step}"),
            &[1, 1],
            vec![step as f64],
            int,
        );
        let mut stop = prog.node("GreaterOrEqual", &[at, budget11], &[], Some(step))?;
        if let Some(d) = done {
            stop = prog.node("Or", &[d, stop], &[], Some(step))?;
        }
        let chosen = prog.node("Where", &[stop, end11, sampled], &[], Some(step))?;
        done = Some(match opts.end_token {
            Some(_) => {
                let ended = prog.node("Equal", &[chosen, end11], &[], Some(step))?;
                prog.node("Or", &[stop, ended], &[], Some(step))?
            }
            None => stop,
        });
        let going = prog.node("Not", &[stop], &[], Some(step))?;
        live.push(prog.node("Cast", &[going], &[("to", Attr::Int(7))], Some(step))?);
        tokens.push(chosen);

        // the next step's token, mask and position
        token = chosen;
        if step + 1 < n {
            mask = prog.node(
                "Concat",
                &[mask, one11],
                &[("axis", Attr::Int(1))],
                Some(step + 1),
            )?;
            let offset = prog.konst(
                &format!("generate.offset{step}"),
                &[1, 1],
                vec![step as f64],
                int,
            );
            position = prog.node("Add", &[length11, offset], &[], Some(step + 1))?;
        }
    }

    // each token is an output of its own (`token{t}`), written by its step, so
    // a reader can stream them; `count` says how many came before the end
    let mut count = live[0];
    for &l in &live[1..] {
        count = prog.node("Add", &[count, l], &[], None)?;
    }
    let shape1 = prog.konst("generate.shape1", &[1], vec![1.0], int);
    let count = prog.node("Reshape", &[count, shape1], &[], None)?;
    for (t, &v) in tokens.iter().enumerate() {
        prog.g.values[v].name = format!("token{t}");
    }
    prog.g.values[count].name = "count".into();
    prog.g.outputs = tokens;
    prog.g.outputs.push(count);
    infer::remove_dead(&mut prog.g);
    Ok(prog.g)
}

/// What a generation request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// New tokens wanted (at most the program's).
    pub max_tokens: u32,
    /// Seed of the sampler's draws.
    pub seed: u32,
    /// Candidates kept by top-k sampling (1 is greedy; clamped to the program's maximum).
    pub top_k: u32,
    /// Softmax temperature of the kept candidates (0 is greedy).
    pub temperature: f32,
}

impl Settings {
    /// Greedy decoding of `max_tokens` tokens.
    pub fn greedy(max_tokens: u32) -> Settings {
        Settings {
            max_tokens,
            seed: 0,
            top_k: 1,
            temperature: 0.0,
        }
    }
}

/// The program's input tensors (in [`INPUTS`] order) for prompt `ids`,
/// left-padded with the end token, and `settings`.
pub fn request_inputs(
    program: &crate::artifact::Generation,
    ids: &[u32],
    settings: &Settings,
) -> Result<Vec<crate::npy::Tensor>> {
    use crate::npy::Tensor;
    let p = program.prompt_tokens as usize;
    if ids.is_empty() || ids.len() > p {
        return Err(bad(format!(
            "the prompt is {} tokens but the program takes 1 to {p}; shorten it or compile with a larger --prompt-tokens",
            ids.len()
        )));
    }
    if let Some(&t) = ids.iter().find(|&&i| i >= program.vocab) {
        return Err(bad(format!(
            "token {t} is outside the model's vocabulary of {}; is the tokenizer the model's?",
            program.vocab
        )));
    }
    if settings.max_tokens > program.new_tokens {
        return Err(bad(format!(
            "{} new tokens asked but the program writes {}; compile with a larger --generate",
            settings.max_tokens, program.new_tokens
        )));
    }
    if !(settings.temperature.is_finite() && settings.temperature >= 0.0) {
        return Err(bad(format!(
            "the temperature must be 0 (greedy) or positive, not {}",
            settings.temperature
        )));
    }
    let pad = program.end_token.unwrap_or(0) as i64;
    let mut slots = vec![pad; p - ids.len()];
    slots.extend(ids.iter().map(|&i| i as i64));
    let int = |shape: &[usize], v: Vec<i64>| {
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape matches"))
    };
    Ok(vec![
        int(&[1, p], slots),
        int(&[1], vec![ids.len() as i64]),
        int(&[1], vec![settings.max_tokens as i64]),
        // the seed's 32 bits, as the int64 whose stored word they are
        int(&[1], vec![settings.seed as i32 as i64]),
        int(&[1], vec![settings.top_k as i64]),
        Tensor::F32(
            ArrayD::from_shape_vec(IxDyn(&[1]), vec![settings.temperature]).expect("shape matches"),
        ),
    ])
}

/// The generated tokens in an output region: the first `count`, where the
/// text ended (by the budget or the end token).
pub fn tokens_in(m: &crate::artifact::Manifest, output_region: &[u8]) -> Vec<u32> {
    let word = |name: &str| -> Option<i32> {
        let s = m.outputs.tensors.iter().find(|s| s.name == name)?;
        let at = s.offset.checked_sub(m.outputs.offset)? as usize;
        Some(i32::from_le_bytes(
            output_region.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let count = word("count").unwrap_or(0).max(0) as usize;
    (0..count)
        .map_while(|t| word(&format!("token{t}")).map(|v| v as u32))
        .collect()
}
