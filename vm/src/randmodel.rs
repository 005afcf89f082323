//! Random models for the native executor's differential tests: ONNX graphs
//! of random layer kinds, shapes and fixed-point formats, compiled and run
//! by wasmtime and by the native executor (every instruction set this CPU
//! has, one thread and several), whose memories must be equal byte for byte
//! after every call and at the end of a whole run (segments merged).
//!
//! Behind the `testkit` feature: test support, not part of the product.

use crate::compiler::plans::verify_plans;
use crate::compiler::{CompileOptions, compile_bytes};
use crate::native::{Executor, Isa};
use crate::npy::Tensor;
use crate::runtime::Runtime;
use tract_onnx::pb;

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A float in `[-scale, scale)`.
    fn float(&mut self, scale: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }
}

/// One random model and its input.
pub struct Case {
    /// The ONNX model.
    pub onnx: Vec<u8>,
    /// Fractional bits it is compiled with.
    pub frac_bits: u32,
    /// The input tensor (`x`).
    pub input: Tensor,
    /// Its layers, for failure messages.
    pub layers: Vec<String>,
}

const FLOAT: i32 = 1;

fn value(name: &str, dims: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d as i64)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// A graph under construction: nodes, initializers, the current tensor.
struct Graph {
    rng: Rng,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    /// The current tensor's name and shape `[rows, cols]`.
    cur: (String, [usize; 2]),
    layers: Vec<String>,
}

impl Graph {
    fn name(&self, what: &str) -> String {
        format!("{what}{}", self.nodes.len() + self.inits.len())
    }

    fn constant(&mut self, dims: &[usize], scale: f32) -> String {
        let name = self.name("w");
        let n = dims.iter().product();
        let float_data = (0..n).map(|_| self.rng.float(scale)).collect();
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            float_data,
            ..Default::default()
        });
        name
    }

    fn node(
        &mut self,
        op: &str,
        inputs: &[String],
        attrs: Vec<pb::AttributeProto>,
        shape: [usize; 2],
    ) {
        let out = self.name("t");
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            input: inputs.to_vec(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        self.cur = (out, shape);
    }

    /// Appends one random layer of `kind` (0..12; 0 is a product big
    /// enough to be split into segments when the input is wide).
    fn layer(&mut self, kind: usize) {
        let (x, [r, c]) = self.cur.clone();
        let desc = match kind {
            0 | 1 => {
                // a product with a constant; sometimes big enough to be segmented
                let big = kind == 0 || self.rng.below(4) == 0;
                let n = if big {
                    *self.rng.pick(&[256, 320, 384])
                } else {
                    1 + self.rng.below(48)
                };
                let w = self.constant(&[c, n], 1.0 / (c as f32).sqrt());
                self.node("MatMul", &[x, w], vec![], [r, n]);
                if self.rng.below(2) == 0 {
                    let b = self.constant(&[n], 0.5);
                    let y = self.cur.0.clone();
                    self.node("Add", &[y, b], vec![], [r, n]);
                    format!("MatMul+bias {c}->{n}")
                } else {
                    format!("MatMul {c}->{n}")
                }
            }
            2 => {
                let n = 1 + self.rng.below(32);
                let trans_b = self.rng.below(2) as i64;
                let w = if trans_b == 1 {
                    self.constant(&[n, c], 0.3)
                } else {
                    self.constant(&[c, n], 0.3)
                };
                let b = self.constant(&[n], 0.5);
                let alpha = *self.rng.pick(&[1.0f32, 0.5, 1.25]);
                let beta = *self.rng.pick(&[1.0f32, 2.0]);
                let attrs = vec![
                    attr_int("transB", trans_b),
                    attr_float("alpha", alpha),
                    attr_float("beta", beta),
                ];
                self.node("Gemm", &[x, w, b], attrs, [r, n]);
                format!("Gemm {c}->{n} transB={trans_b} alpha={alpha} beta={beta}")
            }
            3 => {
                // a binary operator with a constant, broadcast over rows or full
                let op = *self.rng.pick(&["Add", "Sub", "Mul", "Max", "Min"]);
                let dims: Vec<usize> = if self.rng.below(2) == 0 {
                    vec![c]
                } else {
                    vec![r, c]
                };
                let k = self.constant(&dims, 2.0);
                let inputs = if self.rng.below(2) == 0 {
                    [x, k]
                } else {
                    [k, x]
                };
                self.node(op, &inputs, vec![], [r, c]);
                format!("{op} const {dims:?}")
            }
            4 => {
                // a binary operator of the tensor with itself (runtime x runtime)
                let op = *self.rng.pick(&["Add", "Sub", "Mul", "Max", "Min"]);
                self.node(op, &[x.clone(), x], vec![], [r, c]);
                format!("{op} self")
            }
            5 => {
                let op =
                    *self
                        .rng
                        .pick(&["Relu", "Neg", "Abs", "Sigmoid", "Tanh", "Erf", "LeakyRelu"]);
                let attrs = if op == "LeakyRelu" {
                    vec![attr_float("alpha", 0.1)]
                } else {
                    vec![]
                };
                self.node(op, &[x], attrs, [r, c]);
                op.to_string()
            }
            6 => {
                let lo = self.constant(&[], 0.0);
                let hi = self.constant(&[], 0.0);
                let (lo_v, hi_v) = (
                    -self.rng.float(1.0).abs() - 0.1,
                    self.rng.float(1.0).abs() + 0.1,
                );
                self.inits
                    .iter_mut()
                    .find(|t| t.name == lo)
                    .expect("lo")
                    .float_data = vec![lo_v];
                self.inits
                    .iter_mut()
                    .find(|t| t.name == hi)
                    .expect("hi")
                    .float_data = vec![hi_v];
                self.node("Clip", &[x, lo, hi], vec![], [r, c]);
                format!("Clip {lo_v}..{hi_v}")
            }
            7 => {
                self.node("Transpose", &[x], vec![attr_ints("perm", &[1, 0])], [c, r]);
                "Transpose".into()
            }
            8 => {
                let d = self.constant(&[], 0.0);
                let v = *self.rng.pick(&[2.0f32, 3.0, 0.7, -4.0]);
                self.inits
                    .iter_mut()
                    .find(|t| t.name == d)
                    .expect("d")
                    .float_data = vec![v];
                self.node("Div", &[x, d], vec![], [r, c]);
                format!("Div {v}")
            }
            9 => {
                self.node("Softmax", &[x], vec![attr_int("axis", -1)], [r, c]);
                "Softmax".into()
            }
            10 => {
                let g = self.constant(&[c], 1.0);
                let b = self.constant(&[c], 0.5);
                self.node(
                    "LayerNormalization",
                    &[x, g, b],
                    vec![attr_int("axis", -1)],
                    [r, c],
                );
                "LayerNormalization".into()
            }
            _ => {
                // x . x^T: a product of two runtime tensors (attention scores)
                let t = self.name("t");
                self.nodes.push(pb::NodeProto {
                    op_type: "Transpose".into(),
                    input: vec![x.clone()],
                    output: vec![t.clone()],
                    attribute: vec![attr_ints("perm", &[1, 0])],
                    ..Default::default()
                });
                self.node("MatMul", &[x, t], vec![], [r, r]);
                format!("MatMul self {r}x{c}x{r}")
            }
        };
        self.layers.push(desc);
    }
}

/// The random model of `seed`: 1 to 6 layers on an input `[rows, cols]`.
pub fn random_case(seed: u64) -> Case {
    let mut rng = Rng(seed ^ 0x6f70_6d6c);
    let rows = 1 + rng.below(24);
    // wide inputs make the products big enough to be split into segments
    let cols = if rng.below(3) == 0 {
        256 + rng.below(160)
    } else {
        1 + rng.below(64)
    };
    let frac_bits = *rng.pick(&[8u32, 12, 16, 20]);
    let input: Vec<f32> = (0..rows * cols).map(|_| rng.float(3.0)).collect();
    let mut g = Graph {
        rng,
        nodes: vec![],
        inits: vec![],
        cur: ("x".into(), [rows, cols]),
        layers: vec![],
    };
    let layers = 1 + g.rng.below(6);
    for i in 0..layers {
        let kind = if i == 0 && cols >= 256 {
            0
        } else {
            1 + g.rng.below(11)
        };
        g.layer(kind);
    }
    let (y, shape) = g.cur.clone();
    use prost::Message;
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            name: format!("random{seed}"),
            node: g.nodes,
            initializer: g.inits,
            input: vec![value("x", &[rows, cols])],
            output: vec![value(&y, &shape)],
            ..Default::default()
        }),
        ..Default::default()
    };
    Case {
        onnx: model.encode_to_vec(),
        frac_bits,
        input: Tensor::F32(
            ndarray::ArrayD::from_shape_vec(vec![rows, cols], input).expect("the input's shape"),
        ),
        layers: g.layers,
    }
}

/// What one case ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    /// Calls of `run`.
    pub calls: usize,
    /// Of them, calls with a verified plan.
    pub native_calls: usize,
    /// Calls that ran merged with the ones before them (product segments).
    pub merged: usize,
}

/// Compiles `case` and compares the native executor with wasmtime: the
/// memory after every call and after a whole run (segments merged), for the
/// portable kernels on one thread and the CPU's best on every core.
pub fn check(case: &Case) -> Result<Checked, String> {
    let opts = CompileOptions {
        frac_bits: Some(case.frac_bits),
        ..Default::default()
    };
    let art = compile_bytes(&case.onnx, "random", &opts).map_err(|e| format!("compile: {e}"))?;
    let (plans, warnings) =
        verify_plans(&art.wasm, &art.manifest, art.memory.len()).map_err(|e| e.to_string())?;
    if let Some(w) = warnings.first() {
        return Err(w.clone());
    }
    let rt = Runtime::new(art.clone(), false).map_err(|e| e.to_string())?;
    let region = rt
        .input_region(std::slice::from_ref(&case.input))
        .map_err(|e| e.to_string())?;
    let calls = art.manifest.call_args();
    let mut expected = vec![];
    rt.run_calls(&region, &calls, |_, m| {
        expected.push(blake3::hash(m));
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(2);
    let mut checked = Checked {
        calls: calls.len(),
        native_calls: plans.native_calls(),
        merged: 0,
    };
    let plans = std::sync::Arc::new(plans);
    for (threads, isa) in [(1, Isa::Portable), (cores, Isa::detect())] {
        let executor = std::sync::Arc::new(Executor::new(threads, isa).map_err(|e| e.to_string())?);
        let mut differs = None;
        rt.run_calls_native(&region, &calls, &plans, &executor, false, |i, m| {
            if differs.is_none() && blake3::hash(m) != expected[i] {
                differs = Some(i);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        if let Some(i) = differs {
            return Err(format!(
                "{} on {threads} thread(s): the memory after call {i} (function {}) differs from wasmtime's",
                isa.name(),
                calls[i].0
            ));
        }
        let mut groups = 0;
        rt.run_calls_native(&region, &calls, &plans, &executor, true, |i, m| {
            groups += 1;
            if differs.is_none() && blake3::hash(m) != expected[i] {
                differs = Some(i);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        if let Some(i) = differs {
            return Err(format!(
                "{} on {threads} thread(s), segments merged: the memory after call {i} differs from wasmtime's",
                isa.name()
            ));
        }
        checked.merged = calls.len() - groups;
        let accelerated = Runtime::new(art.clone(), false)
            .map_err(|e| e.to_string())?
            .with_native(plans.clone(), executor);
        let native = accelerated.run_region(&region).map_err(|e| e.to_string())?;
        let wasm = rt.run_region_wasm(&region).map_err(|e| e.to_string())?;
        if native.output_region != wasm.output_region {
            return Err(format!("{}: a whole run's output differs", isa.name()));
        }
    }
    Ok(checked)
}

/// Totals of a run over many seeds.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases checked.
    pub cases: usize,
    /// Calls over all cases, of them native, of them merged.
    pub calls: usize,
    /// Calls with a verified plan.
    pub native_calls: usize,
    /// Calls run merged with the ones before them.
    pub merged: usize,
    /// Each failing case: seed, layers, what differed.
    pub failures: Vec<String>,
}

/// Checks the random models of seeds `first..first + n`.
pub fn run(first: u64, n: u64) -> Report {
    let mut report = Report::default();
    for seed in first..first + n {
        let case = random_case(seed);
        report.cases += 1;
        match check(&case) {
            Ok(c) => {
                report.calls += c.calls;
                report.native_calls += c.native_calls;
                report.merged += c.merged;
            }
            Err(e) => report.failures.push(format!(
                "seed {seed} (Q{}; {}): {e}",
                case.frac_bits,
                case.layers.join(", ")
            )),
        }
    }
    report
}
