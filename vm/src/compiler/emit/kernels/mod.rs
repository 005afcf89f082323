//! One emitter per ONNX operator, grouped by family; each writes the body of
//! one layer function. [`emit_node`] is the one dispatch over op types.
//!
//! * [`shape`]: aliases and copies through views, Gather.
//! * [`elementwise`]: Cast, unary and binary math with broadcasting.
//! * [`dense`]: MatMul, Gemm and the product emitter others reuse.
//! * [`conv`]: Conv, MaxPool, AveragePool.
//! * [`reduce`]: reductions, ArgMax, GlobalAveragePool, Softmax.
//! * [`norm`]: LayerNormalization, BatchNormalization.
//! * [`ml`]: the ONNX-ML LinearClassifier and Normalizer.
//! * [`sample`]: the sampler of a generation step (`opml.Sample`).
//! * [`common`]: what the families share.

mod common;
mod conv;
mod dense;
mod elementwise;
mod ml;
mod norm;
mod reduce;
mod sample;
mod shape;

pub(crate) use common::{copy, row_fits};
pub(crate) use conv::emit_pool;
pub(crate) use dense::emit_matmul;
pub(crate) use elementwise::{
    emit_binary, emit_cast, emit_divide, emit_math, emit_pow, emit_select, emit_unary,
};
pub(crate) use ml::emit_normalize;
pub(crate) use norm::{emit_layer_norm, emit_scale_shift};
pub(crate) use reduce::{emit_reduce, emit_softmax};
pub(crate) use sample::emit_sample;
pub(crate) use shape::emit_gather;

use super::Ctx;
use super::func::FuncBuilder;
use crate::compiler::graph::{Kind, Node};
use crate::error::Result;
use common::unsupported;

/// Emits the layer for `node`. Returns false when no code is needed (alias).
pub(crate) fn emit_node(ctx: &mut Ctx, node: &Node, fb: &mut FuncBuilder) -> Result<bool> {
    let g = ctx.g;
    let x = node.input(0);
    let kind0 = x.map(|v| g.values[v].dtype.kind()).unwrap_or(Kind::Fixed);
    match node.op.as_str() {
        "Identity" | "Dropout" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => {
            return shape::reshape(ctx, node, fb);
        }
        "Transpose" => shape::transpose(ctx, node, fb)?,
        "Expand" => shape::expand(ctx, node, fb)?,
        "Slice" => shape::slice(ctx, node, fb)?,
        "Concat" => shape::concat(ctx, node, fb)?,
        "Split" => shape::split(ctx, node, fb)?,
        "Where" => elementwise::select(ctx, node, fb)?,
        "Trilu" => elementwise::trilu(ctx, node, fb)?,
        "Gather" | "ArrayFeatureExtractor" => shape::gather(ctx, node, fb)?,
        "Cast" => elementwise::cast(ctx, node, fb)?,
        "Relu" | "LeakyRelu" | "Neg" | "Abs" | "Clip" | "Sigmoid" | "Tanh" | "Erf" | "Gelu"
        | "Exp" | "Sqrt" | "Reciprocal" | "Not" | "Sin" | "Cos" => {
            elementwise::unary_math(ctx, node, fb)?
        }
        "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "Pow" | "Equal" | "Less"
        | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            elementwise::binary_math(ctx, node, fb, kind0)?
        }
        "MatMul" => dense::matmul(ctx, node, fb)?,
        "Gemm" => dense::gemm(ctx, node, fb)?,
        "Conv" => conv::conv(ctx, node, fb)?,
        "MaxPool" | "AveragePool" => conv::pool(ctx, node, fb)?,
        "GlobalAveragePool" => reduce::global_average_pool(ctx, node, fb)?,
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ArgMax" => reduce::reduce_op(ctx, node, fb)?,
        "Softmax" | "LogSoftmax" => reduce::softmax(ctx, node, fb)?,
        "LayerNormalization" => norm::layer_norm(ctx, node, fb)?,
        "BatchNormalization" => norm::batch_norm(ctx, node, fb)?,
        "LinearClassifier" => ml::linear_classifier(ctx, node, fb)?,
        "Normalizer" => ml::normalizer(ctx, node, fb)?,
        "Sample" if node.domain == crate::compiler::generate::DOMAIN => {
            sample::sample(ctx, node, fb)?
        }
        other => {
            return Err(unsupported(
                node,
                format!("no code generator for `{other}`"),
            ));
        }
    }
    Ok(true)
}
