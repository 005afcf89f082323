//! Code size does not grow with the data: the same model compiled at a small
//! and a much larger shape has (almost) the same code. Kernels loop over rows,
//! columns and reductions with static trip counts; only a remainder chunk of
//! an unrolled loop may differ between shapes.

mod common;

use opml_vm::artifact::Artifact;
use opml_vm::compiler::onnx::ShapeBindings;
use opml_vm::compiler::{CompileOptions, compile_bytes, compile_file};
use prost::Message;
use tract_onnx::pb;

/// Code instructions of every layer function together.
fn code_size(art: &Artifact) -> u64 {
    art.manifest
        .layers
        .iter()
        .map(|l| l.code_instructions)
        .sum()
}

/// Growth allowed between two shapes: remainder chunks of unrolled loops
/// (at most 16 elements of a body) and different unroll factors.
fn assert_same_code(what: &str, small: &Artifact, large: &Artifact, allowance: u64) {
    let (a, b) = (code_size(small), code_size(large));
    let grown: Vec<String> = small
        .manifest
        .layers
        .iter()
        .zip(&large.manifest.layers)
        .filter(|(s, l)| l.code_instructions > s.code_instructions + 100)
        .map(|(s, l)| {
            format!(
                "{} ({}): {} -> {}",
                s.name,
                s.ops.join("+"),
                s.code_instructions,
                l.code_instructions
            )
        })
        .collect();
    assert!(
        b <= a + a / 20 + allowance,
        "{what}: code grows with the shape: {a} -> {b} instructions \
         (steps {} -> {}); layers: {}",
        small.manifest.steps,
        large.manifest.steps,
        grown.join("; ")
    );
    assert!(
        large.manifest.steps > 2 * small.manifest.steps,
        "{what}: the larger shape should do more work"
    );
}

#[test]
fn minilm_code_does_not_grow_with_the_sequence_length() {
    let dir = common::workspace_file("fixtures/minilm_tiny");
    let opts = CompileOptions::default();
    let short = compile_file(&dir.join("model.onnx"), &opts).unwrap();
    let long = compile_file(&dir.join("seq48/model.onnx"), &opts).unwrap();
    assert_eq!(short.manifest.inputs.tensors[0].shape, [1, 16]);
    assert_eq!(long.manifest.inputs.tensors[0].shape, [1, 48]);
    assert_same_code("minilm_tiny seq 16 -> 48", &short, &long, 1_500);
    // the weights live in memory.bin only, never in the module
    assert!(
        long.wasm.len() < 200_000,
        "module {} bytes",
        long.wasm.len()
    );
}

/// Fixtures with a free batch dimension, compiled at batch 1 and 6. (Not
/// `cnn_digits`: Conv and the pools emit their loops once per batch item and
/// group, see docs/STATE.md; `conv_code_does_not_grow_with_the_image` covers
/// the image size.)
#[test]
fn fixture_code_does_not_grow_with_the_batch() {
    for (f, input, dims) in [
        ("mlp_digits", "X", "x64"),
        ("mlp784", "input", "x784"),
        ("transformer_block", "input", "x16x64"),
        ("logreg_digits", "X", "x64"),
    ] {
        let path = common::workspace_file("fixtures")
            .join(f)
            .join("model.onnx");
        let at = |batch: usize| {
            let opts = CompileOptions {
                input_shapes: ShapeBindings::parse(&[format!("{input}={batch}{dims}")]).unwrap(),
                ..CompileOptions::default()
            };
            compile_file(&path, &opts).unwrap()
        };
        let (one, six) = (at(1), at(6));
        assert_eq!(six.manifest.inputs.tensors[0].shape[0], 6, "{f}");
        assert_same_code(&format!("{f} batch 1 -> 6"), &one, &six, 1_500);
    }
}

/// Builds an ONNX model at `[rows, cols]`.
type Build = fn(i64, i64) -> Vec<u8>;

/// Builds an ONNX model over a square image of this side.
type BuildImage = fn(i64) -> Vec<u8>;

/// One-node models over `[rows, cols]`, at a short row and one longer than
/// the old 16,384-element limit.
#[test]
fn operator_code_does_not_grow_with_the_row_length() {
    let cases: &[(&str, Build)] = &[
        ("Softmax", |r, c| unary("Softmax", r, c, vec![])),
        ("LogSoftmax", |r, c| unary("LogSoftmax", r, c, vec![])),
        ("ReduceMean", |r, c| reduce("ReduceMean", r, c)),
        ("ReduceSum", |r, c| reduce("ReduceSum", r, c)),
        ("ReduceMax", |r, c| reduce("ReduceMax", r, c)),
        ("LayerNormalization", layer_norm),
        ("MatMul", |r, c| {
            with_weight("MatMul", r, c, &[c, 8], &[r, 8])
        }),
        ("Add", |r, c| with_weight("Add", r, c, &[c], &[r, c])),
        ("Mul", |r, c| with_weight("Mul", r, c, &[c], &[r, c])),
        ("Relu", |r, c| unary("Relu", r, c, vec![])),
        ("Erf", |r, c| unary("Erf", r, c, vec![])),
        ("Sigmoid", |r, c| unary("Sigmoid", r, c, vec![])),
        ("Tanh", |r, c| unary("Tanh", r, c, vec![])),
        ("Exp", |r, c| unary("Exp", r, c, vec![])),
        ("Sqrt", |r, c| unary("Sqrt", r, c, vec![])),
        ("Transpose", |r, c| transpose(r, c)),
        ("ArgMax", |r, c| reduce("ArgMax", r, c)),
    ];
    for (op, build) in cases {
        let compile = |r: i64, c: i64| {
            compile_bytes(&build(r, c), op, &CompileOptions::default())
                .unwrap_or_else(|e| panic!("{op} [{r},{c}]: {e}"))
        };
        let small = compile(2, 64);
        let large = compile(3, 20_000);
        assert_same_code(&format!("{op} [2,64] -> [3,20000]"), &small, &large, 400);
    }
}

/// Conv 3x3 (pad 1) and the pools over two image sizes whose rows leave the
/// same remainder after the 16-fold unrolled chunks (rows shorter than 16 are
/// unrolled whole, so a tiny image has less code).
#[test]
fn conv_code_does_not_grow_with_the_image() {
    let cases: &[(&str, BuildImage)] = &[
        ("Conv", |hw| {
            model(
                "Conv",
                &[1, 2, hw, hw],
                vec![weight("w", &[3, 2, 3, 3]), weight("b", &[3])],
                vec![
                    ints_attr("kernel_shape", &[3, 3]),
                    ints_attr("pads", &[1, 1, 1, 1]),
                ],
                &[1, 3, hw, hw],
                pb::tensor_proto::DataType::Float,
            )
        }),
        ("MaxPool", |hw| pool("MaxPool", hw)),
        ("AveragePool", |hw| pool("AveragePool", hw)),
    ];
    for (op, build) in cases {
        let compile = |hw: i64| compile_bytes(&build(hw), op, &CompileOptions::default()).unwrap();
        let (small, large) = (compile(40), compile(104));
        assert_same_code(&format!("{op} 40x40 -> 104x104"), &small, &large, 400);
    }
}

fn pool(op: &str, hw: i64) -> Vec<u8> {
    model(
        op,
        &[1, 2, hw, hw],
        vec![],
        vec![
            ints_attr("kernel_shape", &[2, 2]),
            ints_attr("strides", &[2, 2]),
        ],
        &[1, 2, hw / 2, hw / 2],
        pb::tensor_proto::DataType::Float,
    )
}

fn unary(op: &str, r: i64, c: i64, attribute: Vec<pb::AttributeProto>) -> Vec<u8> {
    model(
        op,
        &[r, c],
        vec![],
        attribute,
        &[r, c],
        pb::tensor_proto::DataType::Float,
    )
}

/// Reduces the last axis (keepdims 1).
fn reduce(op: &str, r: i64, c: i64) -> Vec<u8> {
    let out = if op == "ArgMax" {
        pb::tensor_proto::DataType::Int64
    } else {
        pb::tensor_proto::DataType::Float
    };
    // ReduceSum takes its axes as an input since opset 13, the others as an attribute until 18
    let (inits, attrs) = match op {
        "ArgMax" => (vec![], vec![int_attr("axis", -1)]),
        "ReduceSum" => (vec![axes_input(&[-1])], vec![]),
        _ => (vec![], vec![ints_attr("axes", &[-1])]),
    };
    model(op, &[r, c], inits, attrs, &[r, 1], out)
}

fn layer_norm(r: i64, c: i64) -> Vec<u8> {
    model(
        "LayerNormalization",
        &[r, c],
        vec![weight("scale", &[c]), weight("bias", &[c])],
        vec![],
        &[r, c],
        pb::tensor_proto::DataType::Float,
    )
}

fn with_weight(op: &str, r: i64, c: i64, w: &[i64], out: &[i64]) -> Vec<u8> {
    model(
        op,
        &[r, c],
        vec![weight("w", w)],
        vec![],
        out,
        pb::tensor_proto::DataType::Float,
    )
}

fn transpose(r: i64, c: i64) -> Vec<u8> {
    model(
        "Transpose",
        &[r, c],
        vec![],
        vec![ints_attr("perm", &[1, 0])],
        &[c, r],
        pb::tensor_proto::DataType::Float,
    )
}

fn int_attr(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn ints_attr(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// Float weights with small varied values (their values do not matter here).
fn weight(name: &str, dims: &[i64]) -> pb::TensorProto {
    let n = dims.iter().product::<i64>() as usize;
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: (0..n).map(|i| ((i % 7) as f32 - 3.0) / 8.0).collect(),
        ..Default::default()
    }
}

fn axes_input(axes: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: "axes".into(),
        dims: vec![axes.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: axes.to_vec(),
        ..Default::default()
    }
}

fn value(name: &str, dims: &[i64], ty: pb::tensor_proto::DataType) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: ty as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
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

/// `y = op(x, initializers...)`, opset 17.
fn model(
    op: &str,
    x: &[i64],
    initializer: Vec<pb::TensorProto>,
    attribute: Vec<pb::AttributeProto>,
    y: &[i64],
    y_type: pb::tensor_proto::DataType,
) -> Vec<u8> {
    let mut input = vec!["x".to_string()];
    input.extend(initializer.iter().map(|t| t.name.clone()));
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            node: vec![pb::NodeProto {
                input,
                output: vec!["y".into()],
                name: format!("{}_0", op.to_lowercase()),
                op_type: op.into(),
                attribute,
                ..Default::default()
            }],
            name: op.to_lowercase(),
            initializer,
            input: vec![value("x", x, pb::tensor_proto::DataType::Float)],
            output: vec![value("y", y, y_type)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}
