//! Layer plans: what a layer function computes, as the kernels that wrote it
//! with their parameters (addresses, shapes, strides, shifts).
//!
//! The compiler records a plan for every function that kernels alone wrote
//! and stores it in the manifest. A plan is untrusted input like the rest of
//! an artifact: the native executor runs one only after replaying it through
//! the compiler's emitters gives exactly the function body of the committed
//! module (`native`), so a plan can never make it compute anything but the
//! committed code.

use serde::{Deserialize, Serialize};

/// A tensor view: base byte address and byte strides per dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Byte address of element 0.
    pub base: u32,
    /// Byte stride per dimension (0 for broadcast, negative for reversed slices).
    pub strides: Vec<i64>,
}

/// Where the bias of a dense product goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BiasAxis {
    /// One bias per output row.
    Row,
    /// One bias per output column.
    Col,
    /// A full `[M][N]` row-major bias matrix.
    Full,
}

/// Dense product `C[i][j] = sum_k A[i][k] * BT[j][k] (+ bias)`, rescaled to Q(F).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatMulSpec {
    /// Byte address of `A` (`[rows][k]`, contiguous).
    pub a: u32,
    /// Byte address of `BT` (`[n][k]`, contiguous; per batch, see `batch`).
    pub bt: u32,
    /// Byte address of `C[0][0]`.
    pub c: u32,
    /// Rows per batch (all rows without a batch).
    pub m: usize,
    /// Columns.
    pub n: usize,
    /// Reduction length.
    pub k: usize,
    /// Output byte strides (row, column).
    pub c_strides: (i64, i64),
    /// Bias address and axis.
    pub bias: Option<(u32, BiasAxis)>,
    /// Shift of the accumulator (F for Q(F) x Q(F)).
    pub shift: u32,
    /// A Q(F) factor applied to the product before the bias is added (Gemm's
    /// alpha when both operands are runtime tensors).
    pub alpha: Option<i32>,
    /// For a batched product: rows per batch and the byte stride between
    /// batches of BT (A and C are contiguous over the flattened rows).
    pub batch: Option<(usize, u32)>,
}

/// Which output rows of a product one function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rows {
    /// All `m` rows of the spec.
    All,
    /// Rows `[first, first + count)` of the flattened `(batch, row)` space,
    /// from the function's two parameters (a segment).
    Params,
}

/// An elementwise binary operator, folded left over a node's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    /// Sum, saturated to i32.
    Add,
    /// Difference, saturated to i32.
    Sub,
    /// Product: rescaled by `shift` (half up) for fixed-point values,
    /// saturated as is for integers (`shift` 0 and no rounding).
    Mul {
        /// Fractional bits to drop, or none for integers.
        shift: Option<u32>,
    },
    /// The larger (signed).
    Max,
    /// The smaller (signed).
    Min,
    /// Division of a fixed-point value by a constant: `(x * m) >> s`, half up, saturated.
    DivConst {
        /// The multiplier, `round(2^s / c)`.
        m: i64,
        /// The shift.
        s: u32,
    },
}

/// A lookup table in memory with linear interpolation: `2^k + 1` knots
/// over `[lo_q, hi_q)`, one interval per `2^shift` input units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lut {
    /// Byte address of the first knot.
    pub addr: u32,
    /// Lowest input (stored units); lower inputs are clamped to it.
    pub lo_q: i32,
    /// One past the highest input; higher inputs are clamped below it.
    pub hi_q: i32,
    /// log2 of input units per interval.
    pub shift: u32,
}

/// An elementwise operator of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    /// `max(x, 0)`.
    Relu,
    /// `x` if positive, else `x * alpha` rescaled by `shift`.
    LeakyRelu {
        /// The slope in the fixed-point format.
        alpha: i64,
        /// Fractional bits.
        shift: u32,
    },
    /// `-x`, saturated.
    Neg,
    /// `|x|`, saturated.
    Abs,
    /// `min(max(x, lo), hi)`.
    Clip {
        /// Lower bound.
        lo: i32,
        /// Upper bound.
        hi: i32,
    },
    /// A table (sigmoid, tanh, erf).
    Lut {
        /// The table.
        lut: Lut,
    },
    /// `x * cdf(x)` rescaled by `shift`, the CDF from a table (GELU).
    Gelu {
        /// The CDF's table.
        lut: Lut,
        /// Fractional bits.
        shift: u32,
    },
}

/// One kernel of a layer function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelOp {
    /// A dense product.
    MatMul {
        /// The product.
        spec: MatMulSpec,
        /// The rows this function computes.
        rows: Rows,
    },
    /// `out = op(in_0, in_1, ...)` element by element over `shape` (inputs
    /// broadcast through their views; `DivConst` has one input).
    Binary {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, then the inputs'.
        views: Vec<View>,
        /// The operator.
        op: BinaryOp,
    },
    /// `out = op(in)` element by element over `shape` (the input broadcast).
    Unary {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, then the input's.
        views: Vec<View>,
        /// The operator.
        op: UnaryOp,
    },
    /// Copies `shape` elements (32-bit words) from `src` to `dst`.
    Copy {
        /// Elements per dimension.
        shape: Vec<usize>,
        /// Source view.
        src: View,
        /// Destination view.
        dst: View,
    },
}
