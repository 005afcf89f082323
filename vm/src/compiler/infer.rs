//! Shape inference, constant folding and graph simplification.
//!
//! Runs once over the nodes in topological order: every output gets a static
//! shape and type, and a node whose inputs are all constants is evaluated at
//! compile time (in `f64`) and removed. Then BatchNormalization following a
//! Conv or Gemm on constant weights is folded into those weights.

use crate::compiler::graph::{Attr, DType, Graph, Node};
use crate::error::{Error, Result};
use ndarray::{ArrayD, Axis, IxDyn, Zip};

/// Operators the compiler emits code for (default ONNX domain).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Cos",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Greater",
    "GreaterOrEqual",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Sin",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

/// Operators of the `ai.onnx.ml` domain that the compiler supports (what skl2onnx emits).
pub const SUPPORTED_ML_OPS: &[&str] = &["ArrayFeatureExtractor", "LinearClassifier", "Normalizer"];

/// Ops that only make sense on constants (shape arithmetic); they must fold away.
const FOLD_ONLY: &[&str] = &["Shape", "ConstantOfShape", "Range", "Constant"];

/// The supported op list for messages.
pub fn supported_list() -> String {
    let mut all: Vec<String> = SUPPORTED_OPS.iter().map(|s| s.to_string()).collect();
    all.extend(SUPPORTED_ML_OPS.iter().map(|s| format!("ai.onnx.ml.{s}")));
    all.join(", ")
}

fn is_ml(node: &Node) -> bool {
    node.domain == "ai.onnx.ml"
}

/// Checks every node is supported, infers shapes, folds constants, folds
/// BatchNormalization and removes dead nodes.
pub fn prepare(g: &mut Graph) -> Result<()> {
    for node in &g.nodes {
        let known = if is_ml(node) {
            SUPPORTED_ML_OPS.contains(&node.op.as_str())
        } else {
            (node.domain.is_empty() || node.domain == "ai.onnx")
                && SUPPORTED_OPS.contains(&node.op.as_str())
        };
        if !known {
            let mut detail = supported_list();
            if node.op == "ZipMap" {
                detail = format!("(export with skl2onnx option zipmap=False) {detail}");
            }
            return Err(Error::UnsupportedOp {
                op: node.qualified_op(),
                node: node.name.clone(),
                supported: detail,
            });
        }
    }
    let nodes = std::mem::take(&mut g.nodes);
    let mut kept = Vec::with_capacity(nodes.len());
    for mut node in nodes {
        if node.op == "Concat"
            && node
                .inputs
                .iter()
                .flatten()
                .any(|&v| !g.values[v].is_empty())
        {
            // an empty piece (a cache with no entries yet) adds nothing
            node.inputs
                .retain(|v| v.is_none_or(|v| !g.values[v].is_empty()));
        }
        let folded = infer_node(g, &node)?;
        if !folded {
            if FOLD_ONLY.contains(&node.op.as_str()) && node.op != "Constant" {
                return Err(Error::UnsupportedUse {
                    op: node.op.clone(),
                    node: node.name.clone(),
                    detail: "this op is supported only on values known at compile time (shape arithmetic); fix the input shapes with --input-shape so it can be folded".into(),
                });
            }
            kept.push(node);
        }
    }
    g.nodes = kept;
    fold_batchnorm(g);
    remove_dead(g);
    Ok(())
}

fn shape_err(node: &Node, detail: impl Into<String>) -> Error {
    Error::Shape {
        op: node.op.clone(),
        node: node.name.clone(),
        detail: detail.into(),
    }
}

fn unsupported(node: &Node, detail: impl Into<String>) -> Error {
    Error::UnsupportedUse {
        op: node.op.clone(),
        node: node.name.clone(),
        detail: detail.into(),
    }
}

/// Normalizes a possibly negative axis.
pub fn norm_axis(axis: i64, rank: usize, node: &Node) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(shape_err(
            node,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn const_input<'a>(g: &'a Graph, node: &Node, i: usize) -> Option<&'a ArrayD<f64>> {
    node.input(i).and_then(|v| g.konst(v))
}

fn ints_of(arr: &ArrayD<f64>) -> Vec<i64> {
    arr.iter().map(|&x| x as i64).collect()
}

/// The axes list of Squeeze/Unsqueeze/Reduce*: from the attribute or the second input.
fn axes_arg(g: &Graph, node: &Node) -> Result<Option<Vec<i64>>> {
    if let Some(a) = node.ints("axes") {
        return Ok(Some(a.to_vec()));
    }
    match node.input(1) {
        None => Ok(None),
        Some(v) => match g.konst(v) {
            Some(arr) => Ok(Some(ints_of(arr))),
            None => Err(unsupported(node, "the axes input must be a constant")),
        },
    }
}

/// Output shape of a Conv or pool over `input` with kernel spatial shape `kernel`.
pub struct Window {
    /// Kernel spatial shape.
    pub kernel: Vec<usize>,
    /// Strides.
    pub strides: Vec<usize>,
    /// Dilations.
    pub dilations: Vec<usize>,
    /// Pads at the beginning of each spatial axis.
    pub pads_begin: Vec<usize>,
    /// Pads at the end of each spatial axis.
    pub pads_end: Vec<usize>,
    /// Output spatial shape.
    pub out: Vec<usize>,
}

/// Resolves kernel, strides, dilations, pads (including `auto_pad`) and the output shape.
pub fn window(
    node: &Node,
    spatial: &[usize],
    kernel: Vec<usize>,
    ceil_mode: bool,
) -> Result<Window> {
    let n = spatial.len();
    let get = |name: &str| -> Vec<usize> {
        node.ints(name)
            .map(|v| v.iter().map(|&x| x as usize).collect())
            .unwrap_or(vec![1; n])
    };
    let strides = get("strides");
    let dilations = get("dilations");
    let auto_pad = node.str("auto_pad").unwrap_or("NOTSET");
    let mut pads_begin = vec![0; n];
    let mut pads_end = vec![0; n];
    let mut out = vec![0; n];
    if kernel.len() != n || strides.len() != n || dilations.len() != n {
        return Err(shape_err(
            node,
            "kernel/strides/dilations rank does not match the input",
        ));
    }
    for i in 0..n {
        let eff = (kernel[i] - 1) * dilations[i] + 1;
        match auto_pad {
            "SAME_UPPER" | "SAME_LOWER" => {
                out[i] = spatial[i].div_ceil(strides[i]);
                let total = ((out[i] - 1) * strides[i] + eff).saturating_sub(spatial[i]);
                let small = total / 2;
                if auto_pad == "SAME_UPPER" {
                    pads_begin[i] = small;
                    pads_end[i] = total - small;
                } else {
                    pads_begin[i] = total - small;
                    pads_end[i] = small;
                }
            }
            _ => {
                if auto_pad == "NOTSET"
                    && let Some(p) = node.ints("pads")
                {
                    if p.len() != 2 * n {
                        return Err(shape_err(node, "pads must have 2 entries per spatial axis"));
                    }
                    pads_begin[i] = p[i] as usize;
                    pads_end[i] = p[i + n] as usize;
                }
                let padded = spatial[i] + pads_begin[i] + pads_end[i];
                if padded < eff {
                    return Err(shape_err(
                        node,
                        "the kernel is larger than the padded input",
                    ));
                }
                out[i] = if ceil_mode {
                    let o = (padded - eff).div_ceil(strides[i]) + 1;
                    // the last window must start inside the input or the left padding
                    if (o - 1) * strides[i] >= spatial[i] + pads_begin[i] {
                        o - 1
                    } else {
                        o
                    }
                } else {
                    (padded - eff) / strides[i] + 1
                };
            }
        }
    }
    Ok(Window {
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        out,
    })
}

/// Infers the outputs of one node; returns true if the node was folded to constants.
pub(crate) fn infer_node(g: &mut Graph, node: &Node) -> Result<bool> {
    let in_shape = |i: usize| -> Result<Vec<usize>> {
        node.input(i)
            .map(|v| g.values[v].shape.clone())
            .ok_or_else(|| shape_err(node, format!("input {i} is required")))
    };
    let in_dtype = |i: usize| {
        node.input(i)
            .map(|v| g.values[v].dtype)
            .unwrap_or(DType::Float32)
    };
    let all_const = node
        .inputs
        .iter()
        .flatten()
        .all(|&v| g.values[v].konst.is_some());

    // Constant-valued ops first.
    if node.op == "Constant" {
        let (arr, dt) = constant_attr(node)?;
        set_const(g, node.outputs[0], arr, dt);
        return Ok(true);
    }
    if node.op == "Shape" {
        let s = in_shape(0)?;
        let r = s.len() as i64;
        let clampi = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
        let start = clampi(node.int("start", 0));
        let end = clampi(node.int("end", r));
        let vals: Vec<f64> = s[start..end.max(start)].iter().map(|&d| d as f64).collect();
        let arr = ArrayD::from_shape_vec(IxDyn(&[vals.len()]), vals).unwrap();
        set_const(g, node.outputs[0], arr, DType::Int64);
        return Ok(true);
    }
    if all_const
        && node.op != "Dropout"
        && !is_ml(node)
        && let Some(outs) = eval_const(g, node)?
    {
        for (out, (arr, dt)) in node.outputs.iter().zip(outs) {
            set_const(g, *out, arr, dt);
        }
        return Ok(true);
    }

    let outs: Vec<(Vec<usize>, DType)> = match node.op.as_str() {
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Erf" | "Gelu" | "Exp" | "Sqrt" | "Neg"
        | "Abs" | "Reciprocal" | "Identity" | "Softmax" | "LogSoftmax" | "Clip" | "Dropout"
        | "Normalizer" | "Sin" | "Cos" | "Not" | "Trilu" => {
            if node.op == "Trilu" && node.input(1).is_some() && const_input(g, node, 1).is_none() {
                return Err(unsupported(node, "Trilu needs a constant k"));
            }
            if node.op == "Clip" {
                for i in 1..3 {
                    if node.input(i).is_some() && const_input(g, node, i).is_none() {
                        return Err(unsupported(node, "Clip bounds must be constants"));
                    }
                }
            }
            vec![(in_shape(0)?, in_dtype(0))]
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Equal" | "Where" | "Less"
        | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            let mut shape = in_shape(0)?;
            for i in 1..node.inputs.len() {
                shape = broadcast_shapes(&shape, &in_shape(i)?).ok_or_else(|| {
                    shape_err(
                        node,
                        format!(
                            "shapes {:?} and {:?} do not broadcast",
                            shape,
                            in_shape(i).unwrap()
                        ),
                    )
                })?;
            }
            if node.op == "Pow" && const_input(g, node, 1).is_none() {
                return Err(unsupported(node, "Pow needs a constant exponent"));
            }
            let dt = match node.op.as_str() {
                "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or"
                | "Xor" => DType::Bool,
                "Where" => in_dtype(1),
                _ => in_dtype(0),
            };
            if node.op == "Where" && in_dtype(1).kind() != in_dtype(2).kind() {
                return Err(shape_err(
                    node,
                    format!(
                        "Where's branches have different element types ({:?} and {:?})",
                        in_dtype(1),
                        in_dtype(2)
                    ),
                ));
            }
            vec![(shape, dt)]
        }
        "Cast" => {
            let to = DType::from_onnx(node.int("to", 1) as i32).ok_or_else(|| {
                unsupported(
                    node,
                    "Cast to this element type is not supported (float32, int64, bool are)",
                )
            })?;
            vec![(in_shape(0)?, to)]
        }
        "MatMul" => {
            let (a, b) = (in_shape(0)?, in_shape(1)?);
            vec![(matmul_shape(node, &a, &b)?, in_dtype(0))]
        }
        "Gemm" => {
            let (a, b) = (in_shape(0)?, in_shape(1)?);
            if a.len() != 2 || b.len() != 2 {
                return Err(shape_err(node, "Gemm inputs must be 2-D"));
            }
            let (m, ka) = if node.int("transA", 0) != 0 {
                (a[1], a[0])
            } else {
                (a[0], a[1])
            };
            let (kb, n) = if node.int("transB", 0) != 0 {
                (b[1], b[0])
            } else {
                (b[0], b[1])
            };
            if ka != kb {
                return Err(shape_err(
                    node,
                    format!("inner dimensions differ: {ka} vs {kb}"),
                ));
            }
            if let Some(c) = node.input(2)
                && broadcast_shapes(&g.values[c].shape, &[m, n]).as_deref() != Some(&[m, n][..])
            {
                return Err(shape_err(node, "C does not broadcast to [M, N]"));
            }
            vec![(vec![m, n], DType::Float32)]
        }
        "Conv" => {
            let (x, w) = (in_shape(0)?, in_shape(1)?);
            if x.len() != 4 || w.len() != 4 {
                return Err(unsupported(
                    node,
                    format!("only 2-D convolution is supported (input rank {})", x.len()),
                ));
            }
            if const_input(g, node, 1).is_none() {
                return Err(unsupported(node, "Conv weights must be constants"));
            }
            let group = node.int("group", 1) as usize;
            if x[1] != w[1] * group || w[0] % group != 0 {
                return Err(shape_err(
                    node,
                    format!(
                        "channels {} do not match weights {:?} with group {group}",
                        x[1], w
                    ),
                ));
            }
            let win = window(node, &x[2..], w[2..].to_vec(), false)?;
            vec![(vec![x[0], w[0], win.out[0], win.out[1]], DType::Float32)]
        }
        "MaxPool" | "AveragePool" => {
            let x = in_shape(0)?;
            if x.len() < 3 {
                return Err(shape_err(
                    node,
                    format!(
                        "pooling needs an input [N, C, spatial...], got rank {}",
                        x.len()
                    ),
                ));
            }
            let kernel: Vec<usize> = node
                .ints("kernel_shape")
                .ok_or_else(|| shape_err(node, "kernel_shape is required"))?
                .iter()
                .map(|&k| k as usize)
                .collect();
            let win = window(node, &x[2..], kernel, node.int("ceil_mode", 0) != 0)?;
            let mut shape = vec![x[0], x[1]];
            shape.extend(&win.out);
            let mut outs = vec![(shape.clone(), DType::Float32)];
            if node.op == "MaxPool" && node.outputs.len() > 1 {
                outs.push((shape, DType::Int64)); // Indices
            }
            outs
        }
        "GlobalAveragePool" => {
            let x = in_shape(0)?;
            let mut s = x[..2.min(x.len())].to_vec();
            s.extend(std::iter::repeat_n(1, x.len().saturating_sub(2)));
            vec![(s, DType::Float32)]
        }
        "BatchNormalization" => {
            let x = in_shape(0)?;
            if x.len() < 2 {
                return Err(shape_err(node, "the input must be [N, C, ...]"));
            }
            let mut outs = vec![(x.clone(), DType::Float32)];
            if node.int("training_mode", 0) == 0
                && node.outputs.iter().skip(1).any(|o| g.outputs.contains(o))
            {
                return Err(unsupported(
                    node,
                    "the running mean/variance outputs are computed only with training_mode = 1; export the model in inference mode (model.eval()) or drop those outputs",
                ));
            }
            for _ in 1..node.outputs.len() {
                outs.push((vec![x[1]], DType::Float32));
            }
            outs
        }
        "LayerNormalization" => {
            let x = in_shape(0)?;
            let axis = norm_axis(node.int("axis", -1), x.len(), node)?;
            // Mean and InvStdDev: the normalized axes kept with size 1.
            let mut stat = x[..axis].to_vec();
            stat.resize(x.len(), 1);
            let mut outs = vec![(x.clone(), DType::Float32)];
            for _ in 1..node.outputs.len() {
                outs.push((stat.clone(), DType::Float32));
            }
            outs
        }
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Transpose" | "Concat" | "Slice"
        | "Gather" | "Expand" => vec![(shape_only(g, node)?, in_dtype(0))],
        "Split" => {
            let x = in_shape(0)?;
            let (axis, sizes) = split_sizes(g, node)?;
            sizes
                .iter()
                .map(|&n| {
                    let mut s = x.clone();
                    s[axis] = n;
                    (s, in_dtype(0))
                })
                .collect()
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ArgMax" => {
            let x = in_shape(0)?;
            let axes = reduce_axes(g, node, x.len())?;
            let keep = node.int("keepdims", 1) != 0;
            let mut s = vec![];
            for (i, &d) in x.iter().enumerate() {
                if axes.contains(&i) {
                    if keep {
                        s.push(1);
                    }
                } else {
                    s.push(d);
                }
            }
            let dt = if node.op == "ArgMax" {
                DType::Int64
            } else {
                in_dtype(0)
            };
            vec![(s, dt)]
        }
        "LinearClassifier" => {
            let x = in_shape(0)?;
            let n = if x.len() == 2 { x[0] } else { 1 };
            let coef = node.attrs.get("coefficients").map(|a| match a {
                Attr::Floats(f) => f.len(),
                _ => 0,
            });
            let classes = match (
                node.ints("classlabels_ints"),
                node.attrs.get("classlabels_strings"),
            ) {
                (Some(c), _) => c.len(),
                (None, Some(_)) => {
                    return Err(unsupported(
                        node,
                        "string class labels are not supported; train on integer labels",
                    ));
                }
                _ => return Err(shape_err(node, "classlabels_ints is required")),
            };
            let feats = *x.last().unwrap_or(&0);
            let rows = if classes == 2 && coef == Some(feats) {
                1
            } else {
                classes
            };
            if coef != Some(rows * feats) {
                return Err(shape_err(
                    node,
                    "coefficients do not match the input width and classes",
                ));
            }
            vec![
                (vec![n], DType::Int64),
                (vec![n, classes.max(rows)], DType::Float32),
            ]
        }
        "ArrayFeatureExtractor" => {
            let x = in_shape(0)?;
            let idx = in_shape(1)?;
            let mut s = x[..x.len() - 1].to_vec();
            s.push(idx.iter().product());
            vec![(s, in_dtype(0))]
        }
        other => {
            return Err(unsupported(
                node,
                format!("`{other}` is supported only on constant inputs"),
            ));
        }
    };
    for (out, (shape, dt)) in node.outputs.iter().zip(outs) {
        g.values[*out].shape = shape;
        g.values[*out].dtype = dt;
    }
    Ok(false)
}

fn set_const(g: &mut Graph, v: usize, arr: ArrayD<f64>, dt: DType) {
    let arr = if dt.kind() == crate::compiler::graph::Kind::Int {
        arr.mapv(|x| x.trunc())
    } else {
        arr
    };
    g.values[v].shape = arr.shape().to_vec();
    g.values[v].dtype = dt;
    g.values[v].konst = Some(arr);
}

fn constant_attr(node: &Node) -> Result<(ArrayD<f64>, DType)> {
    let scalar = |x: f64| ArrayD::from_elem(IxDyn(&[]), x);
    let vec1 = |v: Vec<f64>| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).unwrap();
    match (
        node.attrs.get("value"),
        node.attrs.get("value_float"),
        node.attrs.get("value_floats"),
        node.attrs.get("value_int"),
        node.attrs.get("value_ints"),
    ) {
        (Some(Attr::Tensor(a, dt)), ..) => Ok((a.clone(), *dt)),
        (_, Some(Attr::Float(f)), ..) => Ok((scalar(*f as f64), DType::Float32)),
        (_, _, Some(Attr::Floats(f)), ..) => {
            Ok((vec1(f.iter().map(|&x| x as f64).collect()), DType::Float32))
        }
        (_, _, _, Some(Attr::Int(i)), _) => Ok((scalar(*i as f64), DType::Int64)),
        (_, _, _, _, Some(Attr::Ints(i))) => {
            Ok((vec1(i.iter().map(|&x| x as f64).collect()), DType::Int64))
        }
        _ => Err(unsupported(
            node,
            "Constant needs a value (sparse and string constants are not supported)",
        )),
    }
}

fn matmul_shape(node: &Node, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.is_empty() || b.is_empty() {
        return Err(shape_err(node, "MatMul of a scalar"));
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k1) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k1 != k2 {
        return Err(shape_err(
            node,
            format!("inner dimensions differ: {a:?} x {b:?}"),
        ));
    }
    let batch = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2]).ok_or_else(|| {
        shape_err(
            node,
            format!("batch dimensions of {a:?} and {b:?} do not broadcast"),
        )
    })?;
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

/// Axes reduced by a Reduce* or ArgMax node, normalized and sorted.
pub fn reduce_axes(g: &Graph, node: &Node, rank: usize) -> Result<Vec<usize>> {
    if node.op == "ArgMax" {
        return Ok(vec![norm_axis(node.int("axis", 0), rank, node)?]);
    }
    let axes = axes_arg(g, node)?;
    let mut out = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&x| norm_axis(x, rank, node))
            .collect::<Result<Vec<_>>>()?,
        _ if node.int("noop_with_empty_axes", 0) != 0 => vec![],
        _ => (0..rank).collect(),
    };
    out.sort();
    out.dedup();
    Ok(out)
}

/// Per-axis element selection of a Slice: `(start, step, count)`.
pub fn slice_plan(g: &Graph, node: &Node) -> Result<Vec<(i64, i64, usize)>> {
    let shape = &g.values[node.input(0).unwrap()].shape;
    let get = |i: usize, attr: &str| -> Result<Option<Vec<i64>>> {
        if g.opset < 10 {
            return Ok(node.ints(attr).map(|v| v.to_vec()));
        }
        match node.input(i) {
            None => Ok(None),
            Some(v) => g
                .konst(v)
                .map(|a| Some(ints_of(a)))
                .ok_or_else(|| unsupported(node, "Slice starts/ends/axes/steps must be constants")),
        }
    };
    let starts = get(1, "starts")?.ok_or_else(|| shape_err(node, "starts is required"))?;
    let ends = get(2, "ends")?.ok_or_else(|| shape_err(node, "ends is required"))?;
    let axes = get(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = get(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    let mut plan: Vec<(i64, i64, usize)> = shape.iter().map(|&d| (0, 1, d)).collect();
    for (j, &ax) in axes.iter().enumerate() {
        let ax = norm_axis(ax, shape.len(), node)?;
        let d = shape[ax] as i64;
        let step = steps[j];
        if step == 0 {
            return Err(shape_err(node, "Slice step must not be 0"));
        }
        let clampv = |x: i64, lo: i64, hi: i64| x.clamp(lo, hi);
        let fix = |x: i64| if x < 0 { x + d } else { x };
        let (s, e) = if step > 0 {
            (clampv(fix(starts[j]), 0, d), clampv(fix(ends[j]), 0, d))
        } else {
            (
                clampv(fix(starts[j]), -1, d - 1),
                clampv(fix(ends[j].max(-d - 1)), -1, d - 1),
            )
        };
        let count = if step > 0 {
            (e - s).max(0).div_euclid(1).saturating_add(step - 1) / step
        } else {
            (s - e).max(0).saturating_add(-step - 1) / -step
        };
        plan[ax] = (s, step, count as usize);
    }
    Ok(plan)
}

/// The axis of a Split and each output's length along it: from the `split`
/// input (opset 13 on) or attribute, else equal parts (the last one shorter
/// from opset 18, as `num_outputs` allows).
pub fn split_sizes(g: &Graph, node: &Node) -> Result<(usize, Vec<usize>)> {
    let shape = &g.values[node.input(0).unwrap()].shape;
    let axis = norm_axis(node.int("axis", 0), shape.len(), node)?;
    let d = shape[axis];
    let given = match node.ints("split") {
        Some(s) => Some(s.to_vec()),
        None => match node.input(1) {
            None => None,
            Some(v) => Some(ints_of(g.konst(v).ok_or_else(|| {
                unsupported(node, "the split sizes must be a constant")
            })?)),
        },
    };
    let n = node.outputs.len();
    let sizes: Vec<usize> = match given {
        Some(s) => {
            if s.len() != n || s.iter().any(|&x| x < 0) || s.iter().sum::<i64>() != d as i64 {
                return Err(shape_err(
                    node,
                    format!("split sizes {s:?} do not cut an axis of {d} into {n} outputs"),
                ));
            }
            s.iter().map(|&x| x as usize).collect()
        }
        None => {
            let chunk = d.div_ceil(n.max(1));
            if g.opset < 18 && !d.is_multiple_of(n.max(1)) {
                return Err(shape_err(
                    node,
                    format!("an axis of {d} does not split into {n} equal outputs"),
                ));
            }
            (0..n)
                .map(|i| chunk.min(d.saturating_sub(i * chunk)))
                .collect()
        }
    };
    Ok((axis, sizes))
}

/// Output shape of the pure data-movement ops.
fn shape_only(g: &Graph, node: &Node) -> Result<Vec<usize>> {
    let x = g.values[node.input(0).unwrap()].shape.clone();
    let rank = x.len();
    Ok(match node.op.as_str() {
        "Flatten" => {
            let axis = node.int("axis", 1);
            let axis = if axis < 0 { axis + rank as i64 } else { axis } as usize;
            vec![x[..axis].iter().product(), x[axis..].iter().product()]
        }
        "Reshape" => {
            let spec = const_input(g, node, 1).ok_or_else(|| {
                unsupported(
                    node,
                    "the target shape must be a constant (fix the input shapes with --input-shape)",
                )
            })?;
            let allowzero = node.int("allowzero", 0) != 0;
            let total: usize = x.iter().product();
            let mut out = vec![];
            let mut infer = None;
            for (i, &d) in ints_of(spec).iter().enumerate() {
                match d {
                    -1 => {
                        infer = Some(i);
                        out.push(1);
                    }
                    0 if !allowzero => {
                        out.push(*x.get(i).ok_or_else(|| {
                            shape_err(node, "0 in shape copies a missing dimension")
                        })?)
                    }
                    d if d >= 0 => out.push(d as usize),
                    _ => {
                        return Err(shape_err(
                            node,
                            format!("bad dimension {d} in target shape"),
                        ));
                    }
                }
            }
            if let Some(i) = infer {
                let known: usize = out.iter().product();
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(shape_err(
                        node,
                        format!("cannot reshape {x:?} to {:?}", ints_of(spec)),
                    ));
                }
                out[i] = total / known;
            }
            if out.iter().product::<usize>() != total {
                return Err(shape_err(
                    node,
                    format!("cannot reshape {x:?} ({total} elements) to {out:?}"),
                ));
            }
            out
        }
        "Squeeze" => {
            let axes = axes_arg(g, node)?;
            let axes: Vec<usize> = match axes {
                Some(a) => a
                    .iter()
                    .map(|&a| norm_axis(a, rank, node))
                    .collect::<Result<_>>()?,
                None => (0..rank).filter(|&i| x[i] == 1).collect(),
            };
            x.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
        "Unsqueeze" => {
            let axes = axes_arg(g, node)?.ok_or_else(|| shape_err(node, "axes is required"))?;
            let out_rank = rank + axes.len();
            let axes: Vec<usize> = axes
                .iter()
                .map(|&a| norm_axis(a, out_rank, node))
                .collect::<Result<_>>()?;
            let mut it = x.iter();
            (0..out_rank)
                .map(|i| {
                    if axes.contains(&i) {
                        1
                    } else {
                        *it.next().unwrap()
                    }
                })
                .collect()
        }
        "Transpose" => {
            let perm = transpose_perm(node, rank);
            perm.iter().map(|&p| x[p]).collect()
        }
        "Concat" => {
            let axis = norm_axis(node.int("axis", 0), rank, node)?;
            let mut out = x.clone();
            out[axis] = 0;
            for v in node.inputs.iter().flatten() {
                let s = &g.values[*v].shape;
                if s.len() != rank || (0..rank).any(|i| i != axis && s[i] != x[i]) {
                    return Err(shape_err(
                        node,
                        format!("Concat inputs {x:?} and {s:?} differ outside axis {axis}"),
                    ));
                }
                out[axis] += s[axis];
            }
            out
        }
        "Slice" => slice_plan(g, node)?.iter().map(|p| p.2).collect(),
        "Gather" => {
            let axis = norm_axis(node.int("axis", 0), rank, node)?;
            let idx = &g.values[node.input(1).unwrap()].shape;
            let mut out = x[..axis].to_vec();
            out.extend(idx);
            out.extend(&x[axis + 1..]);
            out
        }
        "Expand" => {
            let spec = const_input(g, node, 1)
                .ok_or_else(|| unsupported(node, "the target shape must be a constant"))?;
            let s: Vec<usize> = ints_of(spec).iter().map(|&d| d as usize).collect();
            broadcast_shapes(&x, &s).ok_or_else(|| shape_err(node, "shapes do not broadcast"))?
        }
        _ => unreachable!(),
    })
}

/// The permutation of a Transpose (default: reversed axes).
pub fn transpose_perm(node: &Node, rank: usize) -> Vec<usize> {
    node.ints("perm")
        .map(|p| p.iter().map(|&x| x as usize).collect())
        .unwrap_or_else(|| (0..rank).rev().collect())
}

fn binary(a: &ArrayD<f64>, b: &ArrayD<f64>, f: impl Fn(f64, f64) -> f64) -> Option<ArrayD<f64>> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let a = a.broadcast(IxDyn(&shape))?;
    let b = b.broadcast(IxDyn(&shape))?;
    Some(Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
}

fn reshape(a: &ArrayD<f64>, shape: &[usize]) -> ArrayD<f64> {
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(shape))
        .expect("shape checked")
}

/// Evaluates a node on constant inputs. `None` when the op is not folded.
/// Constant outputs of a folded node: values and element types.
type Folded = Vec<(ArrayD<f64>, DType)>;

fn eval_const(g: &Graph, node: &Node) -> Result<Option<Folded>> {
    let c = |i: usize| const_input(g, node, i).unwrap();
    let dt0 = node
        .input(0)
        .map(|v| g.values[v].dtype)
        .unwrap_or(DType::Float32);
    let int_div = dt0.kind() == crate::compiler::graph::Kind::Int;
    let one = |a: ArrayD<f64>, dt: DType| Ok(Some(vec![(a, dt)]));
    match node.op.as_str() {
        "Identity" | "Dropout" => one(c(0).clone(), dt0),
        "Cast" => {
            let to = DType::from_onnx(node.int("to", 1) as i32).unwrap_or(DType::Float32);
            let a = match to {
                DType::Bool => c(0).mapv(|x| (x != 0.0) as i32 as f64),
                DType::Int64 => c(0).mapv(f64::trunc),
                DType::Float32 => c(0).mapv(|x| x as f32 as f64),
            };
            one(a, to)
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Equal" => {
            let f: fn(f64, f64) -> f64 = match node.op.as_str() {
                "Add" => |a, b| a + b,
                "Sub" => |a, b| a - b,
                "Mul" => |a, b| a * b,
                "Div" if int_div => |a, b| {
                    // as at runtime (nonlinear::emit_div): x / 0 saturates to the sign of x
                    if b == 0.0 {
                        a.signum()
                            * if a < 0.0 {
                                -(i32::MIN as f64)
                            } else {
                                i32::MAX as f64
                            }
                    } else {
                        (a / b).trunc()
                    }
                },
                "Div" => |a, b| a / b,
                "Pow" => f64::powf,
                "Max" => f64::max,
                "Min" => f64::min,
                _ => |a, b| (a == b) as i32 as f64,
            };
            let mut acc = c(0).clone();
            for i in 1..node.inputs.len() {
                acc = binary(&acc, c(i), f)
                    .ok_or_else(|| shape_err(node, "shapes do not broadcast"))?;
            }
            let dt = if node.op == "Equal" { DType::Bool } else { dt0 };
            one(acc, dt)
        }
        "Where" => {
            let cond = c(0);
            let shape = broadcast_shapes(
                &broadcast_shapes(cond.shape(), c(1).shape()).unwrap_or_default(),
                c(2).shape(),
            )
            .ok_or_else(|| shape_err(node, "shapes do not broadcast"))?;
            let (a, x, y) = (
                cond.broadcast(IxDyn(&shape)).unwrap(),
                c(1).broadcast(IxDyn(&shape)).unwrap(),
                c(2).broadcast(IxDyn(&shape)).unwrap(),
            );
            let out = Zip::from(&a)
                .and(&x)
                .and(&y)
                .map_collect(|&a, &x, &y| if a != 0.0 { x } else { y });
            one(out, g.values[node.input(1).unwrap()].dtype)
        }
        "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            let f: fn(f64, f64) -> bool = match node.op.as_str() {
                "Less" => |a, b| a < b,
                "LessOrEqual" => |a, b| a <= b,
                "Greater" => |a, b| a > b,
                "GreaterOrEqual" => |a, b| a >= b,
                "And" => |a, b| a != 0.0 && b != 0.0,
                "Or" => |a, b| a != 0.0 || b != 0.0,
                _ => |a, b| (a != 0.0) != (b != 0.0),
            };
            let out = binary(c(0), c(1), |a, b| f(a, b) as i32 as f64)
                .ok_or_else(|| shape_err(node, "shapes do not broadcast"))?;
            one(out, DType::Bool)
        }
        "Not" => one(c(0).mapv(|x| (x == 0.0) as i32 as f64), DType::Bool),
        "Sin" => one(c(0).mapv(f64::sin), dt0),
        "Cos" => one(c(0).mapv(f64::cos), dt0),
        "Trilu" => {
            let k = node
                .input(1)
                .map(|_| c(1).iter().next().copied().unwrap_or(0.0) as i64)
                .unwrap_or(0);
            let upper = node.int("upper", 1) != 0;
            let mut a = c(0).clone();
            let rank = a.ndim();
            if rank < 2 {
                return Err(shape_err(node, "Trilu needs an input of rank 2 or more"));
            }
            for (idx, v) in a.indexed_iter_mut() {
                let (i, j) = (idx[rank - 2] as i64, idx[rank - 1] as i64);
                let keep = if upper { j - i >= k } else { j - i <= k };
                if !keep {
                    *v = 0.0;
                }
            }
            one(a, dt0)
        }
        "Split" => {
            let (axis, sizes) = split_sizes(g, node)?;
            let mut at = 0;
            let mut outs = vec![];
            for n in sizes {
                let idx: Vec<usize> = (at..at + n).collect();
                outs.push((c(0).select(Axis(axis), &idx), dt0));
                at += n;
            }
            Ok(Some(outs))
        }
        "Neg" => one(c(0).mapv(|x| -x), dt0),
        "Abs" => one(c(0).mapv(f64::abs), dt0),
        "Sqrt" => one(c(0).mapv(f64::sqrt), dt0),
        "Reciprocal" => one(c(0).mapv(|x| 1.0 / x), dt0),
        "Relu" => one(c(0).mapv(|x| x.max(0.0)), dt0),
        "Exp" => one(c(0).mapv(f64::exp), dt0),
        "ConstantOfShape" => {
            let shape: Vec<usize> = ints_of(c(0)).iter().map(|&d| d as usize).collect();
            let (v, dt) = match node.attrs.get("value") {
                Some(Attr::Tensor(t, dt)) => (t.iter().next().copied().unwrap_or(0.0), *dt),
                _ => (0.0, DType::Float32),
            };
            one(ArrayD::from_elem(IxDyn(&shape), v), dt)
        }
        "Range" => {
            let (s, l, d) = (
                c(0).iter().next().copied().unwrap_or(0.0),
                c(1).iter().next().copied().unwrap_or(0.0),
                c(2).iter().next().copied().unwrap_or(1.0),
            );
            let n = ((l - s) / d).ceil().max(0.0) as usize;
            let v: Vec<f64> = (0..n).map(|i| s + i as f64 * d).collect();
            one(ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap(), dt0)
        }
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => {
            let shape = shape_only(g, node)?;
            one(reshape(c(0), &shape), dt0)
        }
        "Expand" => {
            let shape = shape_only(g, node)?;
            one(
                c(0).broadcast(IxDyn(&shape))
                    .ok_or_else(|| shape_err(node, "cannot expand"))?
                    .to_owned(),
                dt0,
            )
        }
        "Transpose" => {
            let perm = transpose_perm(node, c(0).ndim());
            one(
                c(0).clone()
                    .permuted_axes(IxDyn(&perm))
                    .as_standard_layout()
                    .into_owned(),
                dt0,
            )
        }
        "Concat" => {
            let axis = norm_axis(node.int("axis", 0), c(0).ndim(), node)?;
            let views: Vec<_> = node
                .inputs
                .iter()
                .flatten()
                .map(|&v| g.konst(v).unwrap().view())
                .collect();
            let out = ndarray::concatenate(Axis(axis), &views)
                .map_err(|e| shape_err(node, e.to_string()))?;
            one(out, dt0)
        }
        "Slice" => {
            let plan = slice_plan(g, node)?;
            let mut a = c(0).clone();
            for (ax, &(start, step, count)) in plan.iter().enumerate() {
                let idx: Vec<usize> = (0..count as i64)
                    .map(|i| (start + i * step) as usize)
                    .collect();
                a = a.select(Axis(ax), &idx);
            }
            one(a, dt0)
        }
        "Gather" => {
            let data = c(0);
            let axis = norm_axis(node.int("axis", 0), data.ndim(), node)?;
            let d = data.shape()[axis] as i64;
            let idx: Vec<usize> = ints_of(c(1))
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + d } else { i };
                    if j < 0 || j >= d {
                        Err(shape_err(
                            node,
                            format!("index {i} is out of range for axis of size {d}"),
                        ))
                    } else {
                        Ok(j as usize)
                    }
                })
                .collect::<Result<_>>()?;
            let sel = data.select(Axis(axis), &idx);
            let shape = shape_only(g, node)?;
            one(reshape(&sel, &shape), dt0)
        }
        _ => Ok(None),
    }
}

/// Folds `BatchNormalization(Conv(x, W, b))` and `BatchNormalization(Gemm(...))`
/// into the producer's constant weights when the Conv/Gemm output has no other reader.
fn fold_batchnorm(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        if g.nodes[i].op != "BatchNormalization" {
            i += 1;
            continue;
        }
        let bn = g.nodes[i].clone();
        let x = bn.input(0).unwrap();
        let Some(pi) = g.nodes.iter().position(|n| n.outputs.contains(&x)) else {
            i += 1;
            continue;
        };
        let producer = g.nodes[pi].clone();
        let readers = g
            .nodes
            .iter()
            .filter(|n| n.inputs.contains(&Some(x)))
            .count();
        let params: Option<Vec<ArrayD<f64>>> = (1..5)
            .map(|k| bn.input(k).and_then(|v| g.konst(v).cloned()))
            .collect();
        if bn.int("training_mode", 0) != 0 {
            i += 1;
            continue;
        }
        let gemm_ok = producer.op == "Gemm"
            && producer.int("transB", 0) != 0
            && producer.float("alpha", 1.0) == 1.0;
        let foldable = (producer.op == "Conv" || gemm_ok)
            && readers == 1
            && !g.outputs.contains(&x)
            && g.konst(producer.input(1).unwrap()).is_some()
            && producer.input(2).is_none_or(|b| g.konst(b).is_some())
            && params.is_some();
        if !foldable {
            i += 1;
            continue;
        }
        let p = params.unwrap();
        let eps = bn.float("epsilon", 1e-5) as f64;
        let scale: Vec<f64> = (0..p[0].len())
            .map(|c| p[0].as_slice().unwrap()[c] / (p[3].as_slice().unwrap()[c] + eps).sqrt())
            .collect();
        let w = g.konst(producer.input(1).unwrap()).unwrap().clone();
        let cout = w.shape()[0];
        if scale.len() != cout {
            i += 1;
            continue;
        }
        let mut w2 = w.as_standard_layout().into_owned();
        for (c, mut row) in w2.axis_iter_mut(Axis(0)).enumerate() {
            row.mapv_inplace(|v| v * scale[c]);
        }
        let bias_in = producer.input(2).and_then(|b| g.konst(b).cloned());
        let bias: Vec<f64> = (0..cout)
            .map(|c| {
                let b0 = bias_in
                    .as_ref()
                    .map(|b| {
                        if b.len() == 1 {
                            b.iter().next().copied().unwrap()
                        } else {
                            b.as_slice().unwrap()[c]
                        }
                    })
                    .unwrap_or(0.0);
                let beta = if producer.op == "Gemm" {
                    producer.float("beta", 1.0) as f64
                } else {
                    1.0
                };
                (b0 * beta - p[2].as_slice().unwrap()[c]) * scale[c] + p[1].as_slice().unwrap()[c]
            })
            .collect();
        let wid = g.add_value(crate::compiler::graph::Value {
            name: format!("{}.folded_w", producer.name),
            shape: w2.shape().to_vec(),
            dtype: DType::Float32,
            konst: Some(w2),
        });
        let bid = g.add_value(crate::compiler::graph::Value {
            name: format!("{}.folded_b", producer.name),
            shape: vec![cout],
            dtype: DType::Float32,
            konst: Some(ArrayD::from_shape_vec(IxDyn(&[cout]), bias).unwrap()),
        });
        let node = &mut g.nodes[pi];
        node.inputs = vec![node.inputs[0], Some(wid), Some(bid)];
        if node.op == "Gemm" {
            node.attrs.insert("beta".into(), Attr::Float(1.0));
        }
        node.outputs = vec![bn.outputs[0]];
        node.name = format!("{}+{}", node.name, bn.name);
        g.nodes.remove(i);
    }
}

/// Removes nodes whose outputs nobody reads.
pub(crate) fn remove_dead(g: &mut Graph) {
    loop {
        let before = g.nodes.len();
        let used: std::collections::HashSet<usize> = g
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().flatten().copied())
            .chain(g.outputs.iter().copied())
            .collect();
        g.nodes
            .retain(|n| n.outputs.iter().any(|o| used.contains(o)));
        if g.nodes.len() == before {
            break;
        }
    }
}
