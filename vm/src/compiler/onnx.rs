//! Reading ONNX protobuf into the graph IR, with input shapes bound.

use crate::compiler::graph::{Attr, DType, Graph, Node, Value, ValueId};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use prost::Message;
use std::collections::HashMap;
use tract_onnx::pb;

/// Decodes ONNX bytes. `path` is only used in messages.
pub fn decode_model(bytes: &[u8], path: &str) -> Result<pb::ModelProto> {
    let model = pb::ModelProto::decode(bytes).map_err(|e| Error::MalformedModel {
        path: path.to_string(),
        detail: e.to_string(),
    })?;
    if model.graph.is_none() {
        return Err(Error::MalformedModel {
            path: path.to_string(),
            detail: "the protobuf has no graph".into(),
        });
    }
    Ok(model)
}

/// Converts an ONNX `TensorProto` into an `f64` array and its element type.
pub fn tensor_from_proto(t: &pb::TensorProto) -> std::result::Result<(ArrayD<f64>, DType), String> {
    let dtype = DType::from_onnx(t.data_type).ok_or_else(|| {
        format!(
            "tensor `{}` has unsupported element type {}",
            t.name, t.data_type
        )
    })?;
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(format!(
            "tensor `{}` stores its data in an external file; save the model with its weights inside (onnx.save(..., save_as_external_data=False))",
            t.name
        ));
    }
    let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let n: usize = shape.iter().product();
    let raw = &t.raw_data;
    let data: Vec<f64> = if !raw.is_empty() {
        let le = |w: usize| raw.chunks_exact(w);
        match t.data_type {
            1 => le(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            11 => le(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            10 => le(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64)
                .collect(),
            16 => le(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
                .collect(),
            2 | 9 => raw.iter().map(|&b| b as f64).collect(),
            3 => raw.iter().map(|&b| b as i8 as f64).collect(),
            4 => le(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as f64)
                .collect(),
            5 => le(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
                .collect(),
            6 => le(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            12 => le(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            7 => le(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            13 => le(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => {
                return Err(format!(
                    "tensor `{}`: element type {other} not supported",
                    t.name
                ));
            }
        }
    } else {
        match t.data_type {
            1 => t.float_data.iter().map(|&x| x as f64).collect(),
            11 => t.double_data.clone(),
            7 => t.int64_data.iter().map(|&x| x as f64).collect(),
            13 => t.uint64_data.iter().map(|&x| x as f64).collect(),
            10 => t
                .int32_data
                .iter()
                .map(|&x| f16_to_f32(x as u16) as f64)
                .collect(),
            16 => t
                .int32_data
                .iter()
                .map(|&x| f32::from_bits((x as u32) << 16) as f64)
                .collect(),
            _ => t.int32_data.iter().map(|&x| x as f64).collect(),
        }
    };
    if data.len() != n {
        return Err(format!(
            "tensor `{}` has {} elements but its shape {:?} needs {n}",
            t.name,
            data.len(),
            shape
        ));
    }
    let arr = ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| e.to_string())?;
    Ok((arr, dtype))
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: normalize
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Options that bind the symbolic dimensions of graph inputs.
#[derive(Debug, Clone, Default)]
pub struct ShapeBindings {
    /// Full shapes given by the user, by input name.
    pub inputs: HashMap<String, Vec<usize>>,
}

impl ShapeBindings {
    /// Parses `NAME=1x64` flags.
    pub fn parse(flags: &[String]) -> Result<Self> {
        let mut inputs = HashMap::new();
        for flag in flags {
            let (name, dims) = flag.split_once('=').ok_or_else(|| {
                Error::BadInputShape(format!(
                    "`--input-shape {flag}` is not of the form NAME=DIMS (for example `input=1x64`)"
                ))
            })?;
            let dims = dims
                .split(['x', ','])
                .map(|d| d.trim().parse::<usize>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| {
                    Error::BadInputShape(format!(
                        "`--input-shape {flag}`: dimensions must be positive integers separated by `x` (for example `{name}=1x64`)"
                    ))
                })?;
            inputs.insert(name.to_string(), dims);
        }
        Ok(ShapeBindings { inputs })
    }
}

fn attr_from_proto(a: &pb::AttributeProto) -> Option<Attr> {
    use pb::attribute_proto::AttributeType as T;
    Some(match T::try_from(a.r#type).ok()? {
        T::Int => Attr::Int(a.i),
        T::Float => Attr::Float(a.f),
        T::String => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
        T::Ints => Attr::Ints(a.ints.clone()),
        T::Floats => Attr::Floats(a.floats.clone()),
        T::Strings => Attr::Strs(
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        T::Tensor => {
            let (arr, dt) = tensor_from_proto(a.t.as_ref()?).ok()?;
            Attr::Tensor(arr, dt)
        }
        _ => return None,
    })
}

/// Builds the graph IR from a decoded model, binding input shapes.
///
/// Symbolic dimensions resolve, in order, from `bindings`, from an earlier binding
/// of the same symbol, and for axis 0 (the batch) to 1. Anything else is an
/// [`Error::UnresolvedDim`].
pub fn graph_from_proto(model: &pb::ModelProto, bindings: &ShapeBindings) -> Result<Graph> {
    let gp = model.graph.as_ref().expect("checked in decode_model");
    let mut g = Graph {
        opset: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(13),
        producer: model.producer_name.clone(),
        ..Graph::default()
    };
    let mut by_name: HashMap<String, ValueId> = HashMap::new();
    let malformed = |detail: String| Error::MalformedModel {
        path: gp.name.clone(),
        detail,
    };

    for init in &gp.initializer {
        let (arr, dtype) = tensor_from_proto(init).map_err(malformed)?;
        let id = g.add_value(Value {
            name: init.name.clone(),
            shape: arr.shape().to_vec(),
            dtype,
            konst: Some(arr),
        });
        by_name.insert(init.name.clone(), id);
    }

    for name in bindings.inputs.keys() {
        if !gp.input.iter().any(|vi| &vi.name == name) {
            let known: Vec<_> = gp
                .input
                .iter()
                .filter(|vi| !by_name.contains_key(&vi.name))
                .map(|vi| vi.name.clone())
                .collect();
            return Err(Error::BadInputShape(format!(
                "`--input-shape {name}=...` names no input of the model (inputs: {})",
                known.join(", ")
            )));
        }
    }
    let mut symbols: HashMap<String, usize> = HashMap::new();
    for vi in &gp.input {
        if by_name.contains_key(&vi.name) {
            continue; // an initializer listed as input (old exporters)
        }
        let Some(pb::type_proto::Value::TensorType(tt)) =
            vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(Error::BadInputShape(format!(
                "input `{}` is not a tensor; only tensor inputs are supported",
                vi.name
            )));
        };
        let dtype = DType::from_onnx(tt.elem_type).ok_or_else(|| {
            Error::BadInputShape(format!(
                "input `{}` has element type {} which is not supported (float32, int64 and bool are)",
                vi.name, tt.elem_type
            ))
        })?;
        let dims = tt.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default();
        let shape = if let Some(given) = bindings.inputs.get(&vi.name) {
            if given.len() != dims.len() {
                return Err(Error::BadInputShape(format!(
                    "`--input-shape {}=...` gives {} dimensions but the input has rank {}",
                    vi.name,
                    given.len(),
                    dims.len()
                )));
            }
            given.clone()
        } else {
            let mut shape = Vec::with_capacity(dims.len());
            for (axis, d) in dims.iter().enumerate() {
                use pb::tensor_shape_proto::dimension::Value as DV;
                let size = match &d.value {
                    Some(DV::DimValue(v)) if *v > 0 => Some(*v as usize),
                    Some(DV::DimParam(p)) if symbols.contains_key(p) => Some(symbols[p]),
                    _ if axis == 0 => Some(1),
                    _ => None,
                };
                let Some(size) = size else {
                    let dim = match &d.value {
                        Some(DV::DimParam(p)) => p.clone(),
                        _ => "?".into(),
                    };
                    let example = dims
                        .iter()
                        .enumerate()
                        .map(|(i, d)| match &d.value {
                            Some(DV::DimValue(v)) if *v > 0 => v.to_string(),
                            _ if i == 0 => "1".into(),
                            _ => "N".into(),
                        })
                        .collect::<Vec<_>>()
                        .join("x");
                    return Err(Error::UnresolvedDim {
                        input: vi.name.clone(),
                        axis,
                        dim,
                        example,
                    });
                };
                if let Some(DV::DimParam(p)) = &d.value {
                    symbols.entry(p.clone()).or_insert(size);
                }
                shape.push(size);
            }
            shape
        };
        let id = g.add_value(Value {
            name: vi.name.clone(),
            shape,
            dtype,
            konst: None,
        });
        by_name.insert(vi.name.clone(), id);
        g.inputs.push(id);
    }

    for (index, np) in gp.node.iter().enumerate() {
        let name = if np.name.is_empty() {
            format!("{}_{index}", np.op_type)
        } else {
            np.name.clone()
        };
        let mut inputs = Vec::with_capacity(np.input.len());
        for input in &np.input {
            if input.is_empty() {
                inputs.push(None);
                continue;
            }
            let id = *by_name.get(input).ok_or_else(|| {
                malformed(format!(
                    "node `{name}` reads `{input}`, which no earlier node or initializer defines (nodes must be in topological order)"
                ))
            })?;
            inputs.push(Some(id));
        }
        let mut outputs = Vec::with_capacity(np.output.len());
        for output in &np.output {
            // An omitted optional output still gets a (dead) value so indices stay aligned.
            let id = g.add_value(Value {
                name: output.clone(),
                shape: vec![],
                dtype: DType::Float32,
                konst: None,
            });
            if !output.is_empty() {
                by_name.insert(output.clone(), id);
            }
            outputs.push(id);
        }
        let attrs = np
            .attribute
            .iter()
            .filter_map(|a| Some((a.name.clone(), attr_from_proto(a)?)))
            .collect();
        g.nodes.push(Node {
            name,
            op: np.op_type.clone(),
            domain: np.domain.clone(),
            inputs,
            outputs,
            attrs,
        });
    }

    for vi in &gp.output {
        let id = *by_name
            .get(&vi.name)
            .ok_or_else(|| malformed(format!("graph output `{}` is not produced", vi.name)))?;
        g.outputs.push(id);
    }
    Ok(g)
}
