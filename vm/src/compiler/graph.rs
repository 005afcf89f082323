//! The compiler's graph IR: ONNX nodes over values with static shapes.
//!
//! A value is either a constant (initializers and everything folded from them)
//! or a runtime tensor. Constants are kept as `f64` arrays whatever their ONNX
//! type: every integer the compiler accepts fits exactly in an `f64`.

use ndarray::ArrayD;
use std::collections::HashMap;

/// The element types, defined with the artifact format (IO slots record them).
pub use crate::artifact::{DType, Kind};

/// Index of a value in [`Graph::values`].
pub type ValueId = usize;

/// A value (an edge of the graph).
#[derive(Debug, Clone)]
pub struct Value {
    /// ONNX name.
    pub name: String,
    /// Static shape (known after shape inference).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Constant contents, if known at compile time.
    pub konst: Option<ArrayD<f64>>,
}

impl Value {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f32),
    /// String.
    Str(String),
    /// Integers.
    Ints(Vec<i64>),
    /// Floats.
    Floats(Vec<f32>),
    /// Strings.
    Strs(Vec<String>),
    /// Tensor (for `Constant`).
    Tensor(ArrayD<f64>, DType),
}

/// One ONNX node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name (generated from the op and index when the model has none).
    pub name: String,
    /// ONNX op type.
    pub op: String,
    /// ONNX domain (`""` for the default domain).
    pub domain: String,
    /// Inputs; `None` for an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs.
    pub outputs: Vec<ValueId>,
    /// Attributes by name.
    pub attrs: HashMap<String, Attr>,
}

impl Node {
    /// Integer attribute with a default.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attrs.get(name) {
            Some(Attr::Int(i)) => *i,
            _ => default,
        }
    }

    /// Float attribute with a default.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        match self.attrs.get(name) {
            Some(Attr::Float(f)) => *f,
            Some(Attr::Int(i)) => *i as f32,
            _ => default,
        }
    }

    /// Integer list attribute.
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// String attribute.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Attr::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The `i`-th input if present.
    pub fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }

    /// Op type with the domain prefixed when it is not the default one.
    pub fn qualified_op(&self) -> String {
        if self.domain.is_empty() || self.domain == "ai.onnx" {
            self.op.clone()
        } else {
            format!("{}.{}", self.domain, self.op)
        }
    }
}

/// A model graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// All values.
    pub values: Vec<Value>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Runtime graph inputs (initializers excluded).
    pub inputs: Vec<ValueId>,
    /// Graph outputs.
    pub outputs: Vec<ValueId>,
    /// Opset of the default domain.
    pub opset: i64,
    /// Model name or producer, for messages.
    pub producer: String,
}

impl Graph {
    /// Adds a value and returns its id.
    pub fn add_value(&mut self, value: Value) -> ValueId {
        self.values.push(value);
        self.values.len() - 1
    }

    /// Shape of a value.
    pub fn shape(&self, v: ValueId) -> &[usize] {
        &self.values[v].shape
    }

    /// Constant contents of a value, if it is a constant.
    pub fn konst(&self, v: ValueId) -> Option<&ArrayD<f64>> {
        self.values[v].konst.as_ref()
    }
}
