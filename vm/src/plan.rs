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
    /// A signed comparison of two inputs: 1 when it holds, else 0.
    Compare {
        /// The relation.
        cmp: Cmp,
    },
    /// Logical and of two booleans (any nonzero word is true): 1 or 0.
    And,
    /// Logical or: 1 or 0.
    Or,
    /// Logical exclusive or: 1 or 0.
    Xor,
}

/// The relation of a [`BinaryOp::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    /// `a == b`.
    Eq,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
}

impl Cmp {
    /// Whether the relation holds for `a` and `b`.
    pub fn holds(self, a: i32, b: i32) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
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
    /// Logical not: 1 for a zero word, else 0.
    Not,
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
    /// Softmax (or LogSoftmax with `ln`) of each row of the tensor at `src`
    /// into the same rows at `dst`.
    Softmax {
        /// The rows.
        rows: RowSpec,
        /// Byte address of the input.
        src: u32,
        /// Byte address of the output.
        dst: u32,
        /// Fractional bits.
        frac_bits: u32,
        /// The `2^x` table on `[0, 1)`.
        exp2: Lut,
        /// For LogSoftmax, the `ln` table on `[1, 2)`.
        ln: Option<Lut>,
    },
    /// One value per row of the tensor at `src`, contiguous at `dst`.
    Reduce {
        /// The rows.
        rows: RowSpec,
        /// Byte address of the input.
        src: u32,
        /// Byte address of the output.
        dst: u32,
        /// What is kept of a row.
        op: ReduceOp,
    },
    /// LayerNormalization of each row: `(x - mean) / sd * gamma + beta`.
    LayerNorm {
        /// Where the rows, the parameters and the outputs are.
        spec: LayerNormSpec,
    },
    /// `out = in_0 / in_1 / ...` element by element (inputs broadcast), each
    /// quotient `(num << shift) / den` saturated; a zero divisor gives the
    /// saturated sign of the numerator.
    Div {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, then the inputs'.
        views: Vec<View>,
        /// Fractional bits (0 for integers).
        shift: u32,
    },
    /// The next token of a generation, from a row of logits ([`SampleSpec`]).
    Sample {
        /// Where everything is.
        spec: SampleSpec,
    },
    /// `out = cond ? x : y` element by element (Where; `cond` any nonzero word).
    Select {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, then the condition's, `x`'s and `y`'s.
        views: Vec<View>,
    },
    /// `out = cast(in)` element by element.
    Cast {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, then the input's.
        views: Vec<View>,
        /// The conversion.
        op: CastOp,
    },
    /// `out = op(in)` element by element for the functions of [`MathOp`].
    Math {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, then the input's.
        views: Vec<View>,
        /// The function.
        op: MathOp,
    },
    /// `out = in ^ e` element by element, for a constant exponent.
    Pow {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, the base's, then (for [`PowOp::Integer`] and
        /// [`PowOp::Real`]) the exponents'.
        views: Vec<View>,
        /// How the power is computed.
        op: PowOp,
    },
    /// `out = rescale(in * scale + (shift << F), F)` element by element
    /// (inference BatchNormalization folded to one scale and shift per channel).
    ScaleShift {
        /// Elements per dimension of the output.
        shape: Vec<usize>,
        /// The output view, the input's, then the scale's and the shift's.
        views: Vec<View>,
        /// Fractional bits.
        frac_bits: u32,
    },
    /// The ONNX-ML Normalizer: each row divided by its norm (`(x << F) / norm`
    /// saturated, a zero norm giving the saturated sign).
    Normalize {
        /// The rows (the last axis).
        rows: RowSpec,
        /// Byte address of the input.
        src: u32,
        /// Byte address of the output.
        dst: u32,
        /// Which norm.
        norm: NormalizeOp,
        /// Fractional bits.
        frac_bits: u32,
    },
    /// MaxPool or AveragePool over `[N][C][spatial]`.
    Pool {
        /// Where the tensors are, their shapes and the window.
        spec: PoolSpec,
    },
    /// Gather along one axis.
    Gather {
        /// Where the data, the indices and the output are, and their sizes.
        spec: GatherSpec,
    },
}

/// The rows of a contiguous row-major tensor along some of its axes: for
/// each index of the other (kept) axes, the elements a reduction folds or a
/// softmax or normalization spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSpec {
    /// Elements per dimension of the tensor.
    pub shape: Vec<usize>,
    /// The axes a row runs over, increasing.
    pub axes: Vec<usize>,
}

/// Where the rows of a [`RowSpec`] lie, in bytes from the tensor's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLayout {
    /// Elements per kept axis: the rows, in row-major order.
    pub outer: Vec<usize>,
    /// Byte stride of each kept axis.
    pub strides: Vec<i64>,
    /// Byte offset of each element of a row from the row's first, in row
    /// order (the first is 0).
    pub offsets: Vec<u32>,
}

impl RowSpec {
    /// The layout, when the axes are increasing and in range and the rows
    /// and their count each fit in `max_bytes` (else no such tensor fits in
    /// memory).
    pub fn layout(&self, max_bytes: u64) -> Option<RowLayout> {
        let rank = self.shape.len();
        let increasing = self.axes.windows(2).all(|w| w[0] < w[1]);
        if !increasing || self.axes.iter().any(|&a| a >= rank) {
            return None;
        }
        // bytes of the words of the axes `keep` selects
        let bytes = |keep: &dyn Fn(usize) -> bool| {
            (0..rank)
                .filter(|&i| keep(i))
                .try_fold(4u64, |b, i| b.checked_mul(self.shape[i] as u64))
        };
        let row = bytes(&|i| self.axes.contains(&i))?;
        let outer = bytes(&|i| !self.axes.contains(&i))?;
        let all = bytes(&|_| true)?;
        if row.max(outer).max(all) > max_bytes.min(u32::MAX as u64) {
            return None;
        }
        Some(self.layout_unchecked())
    }

    /// The layout of a tensor known to fit in memory (the compiler's).
    pub fn layout_unchecked(&self) -> RowLayout {
        let (shape, axes) = (&self.shape, &self.axes);
        let mut es = vec![1i64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            es[i] = es[i + 1] * shape[i + 1] as i64;
        }
        let kept: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
        let mut offsets = vec![0u32];
        for &a in axes {
            let mut next = Vec::with_capacity(offsets.len() * shape[a]);
            for o in &offsets {
                for j in 0..shape[a] {
                    next.push(o + (j as i64 * es[a] * 4) as u32);
                }
            }
            offsets = next;
        }
        RowLayout {
            outer: kept.iter().map(|&i| shape[i]).collect(),
            strides: kept.iter().map(|&i| es[i] * 4).collect(),
            offsets,
        }
    }
}

/// What a reduction keeps of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceOp {
    /// The sum, saturated to i32.
    Sum,
    /// The sum divided by the row's length, rounded half away from zero, saturated.
    Mean,
    /// The largest (signed).
    Max,
    /// The index of the largest: its first occurrence, or the last with `last`.
    ArgMax {
        /// Whether a later equal element wins (`select_last_index`).
        last: bool,
    },
}

/// A conversion between stored element kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CastOp {
    /// To a boolean: 1 for nonzero, else 0.
    Bool,
    /// A fixed-point value to an integer, truncated toward zero.
    Truncate {
        /// Fractional bits of the fixed-point format.
        frac_bits: u32,
    },
    /// An integer to a fixed-point value, saturated.
    FromInt {
        /// Fractional bits of the fixed-point format.
        frac_bits: u32,
    },
    /// The stored word unchanged.
    Same,
}

/// An elementwise function built from exact integer steps and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MathOp {
    /// `exp(x)`: `2^frac` from a table times a power of two, saturated.
    Exp {
        /// Fractional bits.
        frac_bits: u32,
        /// The `2^x` table on `[0, 1)`.
        exp2: Lut,
    },
    /// `sqrt(x)` by integer Newton iterations (0 for negative inputs).
    Sqrt {
        /// Fractional bits.
        frac_bits: u32,
    },
    /// `1 / x` by one 64-bit division (saturated; a zero divisor gives the maximum).
    Reciprocal {
        /// Fractional bits.
        frac_bits: u32,
    },
    /// `sin(x)` or `cos(x)`: `x` reduced exactly to a fraction of a turn
    /// (`x * round(2^32 / 2pi) >> frac_bits`, kept modulo 2^32), then a
    /// table of one turn indexed by the top 30 bits of the phase.
    Sin {
        /// Fractional bits.
        frac_bits: u32,
        /// The `sin(2 pi t)` table over `t` in `[0, 1)`, in units of `2^-30` turn.
        turn: Lut,
        /// Cosine: a quarter turn added to the phase.
        cos: bool,
    },
}

/// The integer sampler of a generation step.
///
/// The `k_max` largest logits (ties to the lower index) are found by
/// `k_max` passes over the row, each taking the best value below the
/// previous one, into `scratch` as `(value, index)` pairs. With `k =
/// clamp(top_k, 1, k_max)` and the temperature `T` (fixed point; `T <= 0`
/// is greedy), candidate `j < k` weighs `exp((v_j - v_0) / T)` (from the
/// `2^x` table; `v_0` weighs `1.0`), the others 0; the weights follow the
/// pairs in `scratch`. A splitmix64 draw of `(seed, step)` modulo the total
/// picks the candidate whose running sum first passes it. Every loop has a
/// fixed trip count, so the step count does not depend on the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleSpec {
    /// Byte address of the logits (`vocab` fixed-point words).
    pub logits: u32,
    /// Logits in the row.
    pub vocab: u32,
    /// Most candidates kept (at most `vocab`).
    pub k_max: u32,
    /// Byte address of the seed (an integer word).
    pub seed: u32,
    /// Byte address of `top_k` (an integer word).
    pub top_k: u32,
    /// Byte address of the temperature (a fixed-point word).
    pub temperature: u32,
    /// The step's number, mixed into the draw.
    pub step: u32,
    /// Byte address of the chosen token (an integer word).
    pub out: u32,
    /// Byte address of `12 * k_max` bytes of scratch.
    pub scratch: u32,
    /// Fractional bits.
    pub frac_bits: u32,
    /// The `2^x` table on `[0, 1)`.
    pub exp2: Lut,
}

impl SampleSpec {
    /// Bytes of scratch: a `(value, index)` pair and a weight per candidate.
    pub fn scratch_bytes(k_max: u32) -> u32 {
        12 * k_max
    }
}

/// The splitmix64 draw of a sampling step (the seed's 32 bits and the step).
pub fn sample_draw(seed: i32, step: u32) -> u64 {
    let mut z = (seed as u32 as u64) ^ ((step as u64 + 1) << 32);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `round(2^32 / 2pi)`: radians (times `2^frac_bits`) to `2^-32` turns.
pub const TURN_PER_RADIAN_Q32: i64 = 683_565_276;

/// A LayerNormalization over rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerNormSpec {
    /// The rows.
    pub rows: RowSpec,
    /// Byte address of the input.
    pub src: u32,
    /// Byte address of the output (the input's layout).
    pub dst: u32,
    /// Byte address of the scale, one per element of a row.
    pub gamma: u32,
    /// Byte address of the bias, one per element of a row.
    pub beta: u32,
    /// Where each row's mean goes, when the node outputs it.
    pub mean: Option<u32>,
    /// Where each row's `1 / sd` goes, when the node outputs it.
    pub inv_std_dev: Option<u32>,
    /// Epsilon in `Q(2F)`.
    pub eps: i64,
    /// Fractional bits.
    pub frac_bits: u32,
}

/// Gather along one axis: for each of `outer` blocks and each of `count`
/// indices, the `inner` words of entry `index` (a negative one counts from
/// the end, then it is clamped into `0..dim`) of that block of the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherSpec {
    /// Byte address of the data, `[outer][dim][inner]`.
    pub data: u32,
    /// Byte address of the indices (i32).
    pub indices: u32,
    /// Byte address of the output, `[outer][count][inner]`.
    pub out: u32,
    /// Product of the dimensions before the axis.
    pub outer: usize,
    /// Number of indices.
    pub count: usize,
    /// Length of the axis.
    pub dim: usize,
    /// Product of the dimensions after the axis.
    pub inner: usize,
}

/// How a Pow with a constant exponent is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowOp {
    /// Exponent 1: the base.
    Identity,
    /// Exponent 0.5: [`MathOp::Sqrt`].
    Sqrt {
        /// Fractional bits.
        frac_bits: u32,
    },
    /// Exponent -1: [`MathOp::Reciprocal`].
    Reciprocal {
        /// Fractional bits.
        frac_bits: u32,
    },
    /// A scalar integer exponent `n` in `2..=8`: `n - 1` products, each
    /// rescaled by `shift` (half up) for fixed-point bases, saturated.
    Repeat {
        /// The exponent.
        n: u32,
        /// Fractional bits to drop, or none for integer bases.
        shift: Option<u32>,
    },
    /// Integer exponents in `0..=max` from memory: the products up to `max`,
    /// keeping each while its step is at most the element's exponent.
    Integer {
        /// The largest exponent.
        max: i32,
        /// The value 1 in the base's format.
        one: i32,
        /// Fractional bits to drop, or none for integer bases.
        shift: Option<u32>,
    },
    /// Real exponents from memory (fixed-point bases): `exp(e ln x)` for
    /// `x > 0`, else 0.
    Real {
        /// Fractional bits.
        frac_bits: u32,
        /// The `ln` table on `[1, 2)`.
        ln: Lut,
        /// The `2^x` table on `[0, 1)`.
        exp2: Lut,
    },
}

/// A pooling layer: per batch, the input copied into a padded buffer (when
/// there is padding), then each output the maximum or the mean of its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Byte address of the input, `[batch][channels][spatial]`.
    pub x: u32,
    /// Byte address of the output, `[batch][channels][out]`.
    pub y: u32,
    /// Batch size.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// The input's spatial shape.
    pub spatial: Vec<usize>,
    /// The output's spatial shape.
    pub out: Vec<usize>,
    /// The window's shape.
    pub kernel: Vec<usize>,
    /// Window strides.
    pub strides: Vec<usize>,
    /// Window dilations.
    pub dilations: Vec<usize>,
    /// Padding before each spatial axis.
    pub pads_begin: Vec<usize>,
    /// Padding after each spatial axis (enough for every window).
    pub pads_end: Vec<usize>,
    /// Byte address of the padded buffer (its border holds the fill value),
    /// when the input is padded.
    pub padded: Option<u32>,
    /// Maximum or mean.
    pub op: PoolOp,
}

/// What a pool keeps of each window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolOp {
    /// The largest element, and optionally its flat index in the input.
    Max {
        /// Byte address of the Indices output, and whether indices count
        /// the first spatial axis fastest (`storage_order = 1`).
        indices: Option<(u32, bool)>,
    },
    /// The sum times a per-position reciprocal of the window's count (Q30).
    Average {
        /// Byte address of the reciprocals, one per output position.
        recip: u32,
    },
}

/// The norm a Normalizer divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizeOp {
    /// The largest element, at least 0.
    Max,
    /// The sum of magnitudes.
    L1,
    /// The root of the sum of squares (integer square root of the Q(2F) sum).
    L2,
}
