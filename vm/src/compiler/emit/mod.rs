//! Code generation: one WASM function per layer, an entry function `run`
//! that calls them in order, weights and tables in the initial memory image.

pub(crate) mod func;
pub(crate) mod kernels;
pub(crate) mod mem;
pub(crate) mod nd;
pub(crate) mod nonlinear;

use crate::compiler::graph::{Graph, Kind, ValueId};
use crate::error::Result;
use crate::fixed::FixedFormat;
use func::FuncBuilder;
use mem::MemPlan;
use nonlinear::{Func, Lut};
use std::collections::HashMap;
use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, MemorySection, MemoryType,
    Module, TypeSection,
};

/// Steps a segment of a big layer aims at: a trace session stops wasmtime at
/// segment boundaries and walks at most one segment with the stepper.
pub const SEGMENT_STEPS: u64 = 1 << 22;

/// Where one tensor lives in memory.
#[derive(Debug, Clone)]
pub struct TensorSlot {
    /// ONNX name.
    pub name: String,
    /// Byte offset.
    pub offset: u32,
    /// Shape.
    pub shape: Vec<usize>,
}

/// One call of a layer function from `run`.
#[derive(Debug, Clone)]
pub struct Call {
    /// `i32` arguments (a segment's first row and row count).
    pub args: Vec<u32>,
    /// Byte ranges `[offset, length]` the call may store to.
    pub writes: Vec<[u32; 2]>,
}

/// A layer function a kernel emitted besides its main body (a segmented
/// product), run after that body.
pub(crate) struct Piece {
    pub(crate) fb: FuncBuilder,
    pub(crate) calls: Vec<Call>,
}

/// One emitted layer.
#[derive(Debug, Clone)]
pub struct EmittedLayer {
    /// Layer name (the ONNX node name).
    pub name: String,
    /// ONNX op types covered.
    pub ops: Vec<String>,
    /// ONNX node names covered.
    pub nodes: Vec<String>,
    /// WASM function index (`None` for a reshape that only aliases memory).
    pub function: Option<u32>,
    /// Static instruction count of the body.
    pub code_instructions: usize,
    /// Calls from `run`, in order (empty without a function).
    pub calls: Vec<Call>,
    /// The kernels that wrote the function, when they alone did.
    pub plan: Option<Vec<crate::plan::KernelOp>>,
}

/// The output of code generation.
pub struct Emitted {
    /// The module bytes; layer function `N` is exported as `layer<N>` so a
    /// runtime can stop at layer boundaries.
    pub wasm: Vec<u8>,
    /// The initial memory image (whole memory).
    pub memory: Vec<u8>,
    /// Layers in execution order.
    pub layers: Vec<EmittedLayer>,
    /// Input region (offset, size) and the tensors in it.
    pub input_region: (u32, u64, Vec<TensorSlot>),
    /// Output region (offset, size) and the tensors in it.
    pub output_region: (u32, u64, Vec<TensorSlot>),
    /// Bytes of constants (weights and tables).
    pub constant_bytes: u64,
}

/// State shared by the kernels of one compilation.
pub(crate) struct Ctx<'g> {
    pub(crate) g: &'g Graph,
    pub(crate) fmt: FixedFormat,
    pub(crate) mem: MemPlan,
    pub(crate) addr: HashMap<ValueId, u32>,
    luts: HashMap<Func, Lut>,
    /// Extra layer functions of the node being emitted.
    pub(crate) pieces: Vec<Piece>,
    /// Bytes of each reusable tensor buffer, by address.
    tensor_bytes: HashMap<u32, u64>,
}

impl<'g> Ctx<'g> {
    /// Address of a value: a runtime tensor's buffer, or the constant placed in
    /// the image (quantized for its kind) on first use.
    pub(crate) fn addr(&mut self, v: ValueId) -> u32 {
        if let Some(&a) = self.addr.get(&v) {
            return a;
        }
        let val = &self.g.values[v];
        let a = match &val.konst {
            Some(k) => {
                let words = self.quantize(k.iter().copied(), val.dtype.kind());
                self.mem.words(&format!("const.{v}"), &words)
            }
            None => {
                let bytes = val.len() as u64 * 4;
                let a = self.mem.alloc_reusable(bytes, 4);
                self.tensor_bytes.insert(a, bytes);
                a
            }
        };
        self.addr.insert(v, a);
        a
    }

    /// Quantizes reals (Fixed) or integers (Int) to stored words.
    pub(crate) fn quantize(&self, it: impl Iterator<Item = f64>, kind: Kind) -> Vec<i32> {
        match kind {
            Kind::Fixed => it.map(|x| self.fmt.quantize(x)).collect(),
            Kind::Int => it.map(crate::fixed::saturate_f64).collect(),
        }
    }

    /// A table for `func`, shared by all layers.
    pub(crate) fn lut(&mut self, func: Func) -> Lut {
        if let Some(l) = self.luts.get(&func) {
            return *l;
        }
        let l = Lut::new(&mut self.mem, self.fmt, func);
        self.luts.insert(func, l);
        l
    }
}

/// Generates the module for a prepared graph.
pub fn emit(g: &Graph, fmt: FixedFormat) -> Result<Emitted> {
    let mut ctx = Ctx {
        g,
        fmt,
        mem: MemPlan::default(),
        addr: HashMap::new(),
        luts: HashMap::new(),
        pieces: vec![],
        tensor_bytes: HashMap::new(),
    };

    // IO regions first: aligned power-of-two subtrees of the memory Merkle tree.
    let region = |ctx: &mut Ctx, ids: &[ValueId]| -> (u32, u64, Vec<TensorSlot>) {
        let bytes: u64 = ids.iter().map(|&v| g.values[v].len() as u64 * 4).sum();
        let (base, size) = ctx.mem.alloc_region(bytes);
        let mut off = base;
        let mut slots = vec![];
        for &v in ids {
            slots.push(TensorSlot {
                name: g.values[v].name.clone(),
                offset: off,
                shape: g.values[v].shape.clone(),
            });
            ctx.addr.entry(v).or_insert(off);
            off += g.values[v].len() as u32 * 4;
        }
        (base, size, slots)
    };
    let input_region = region(&mut ctx, &g.inputs);
    // Outputs that are also inputs, constants or repeated get a copy layer.
    let mut copies = vec![];
    let out_bytes: u64 = g
        .outputs
        .iter()
        .map(|&v| g.values[v].len() as u64 * 4)
        .sum();
    let (obase, osize) = ctx.mem.alloc_region(out_bytes);
    let mut off = obase;
    let mut oslots = vec![];
    for &v in &g.outputs {
        oslots.push(TensorSlot {
            name: g.values[v].name.clone(),
            offset: off,
            shape: g.values[v].shape.clone(),
        });
        if ctx.addr.contains_key(&v) || g.values[v].konst.is_some() {
            copies.push((v, off));
        } else {
            ctx.addr.insert(v, off);
        }
        off += g.values[v].len() as u32 * 4;
    }
    let output_region = (obase, osize, oslots);

    // Layer functions by index - 1, with their parameter counts.
    let mut functions: Vec<(Function, u32)> = vec![];
    let mut layers = vec![];
    // Liveness: a tensor's buffer is released after the last node reading it
    // (or its producer, when nothing reads it), once no alias (a reshape
    // sharing the buffer) is live. Graph outputs are never released.
    let mut last_use: HashMap<ValueId, usize> = HashMap::new();
    for (i, node) in g.nodes.iter().enumerate() {
        for v in node.inputs.iter().flatten().chain(&node.outputs) {
            last_use.insert(*v, i);
        }
    }
    let mut holders: HashMap<u32, usize> = HashMap::new();
    let mut live: std::collections::HashSet<ValueId> = Default::default();
    for (i, node) in g.nodes.iter().enumerate() {
        let mut fb = FuncBuilder::default();
        ctx.mem.take_log();
        let emitted = kernels::emit_node(&mut ctx, node, &mut fb)?;
        let pieces = std::mem::take(&mut ctx.pieces);
        // what the main body may write: the node's outputs and its scratch
        let mut writes = ctx.mem.take_log();
        for &v in &node.outputs {
            if let Some(&a) = ctx.addr.get(&v) {
                writes.push([a, g.values[v].len() as u32 * 4]);
            }
        }
        let layer = |name: String,
                     function: Option<(u32, usize)>,
                     calls: Vec<Call>,
                     plan: Option<Vec<crate::plan::KernelOp>>| EmittedLayer {
            name,
            ops: vec![node.qualified_op()],
            nodes: vec![node.name.clone()],
            function: function.map(|f| f.0),
            code_instructions: function.map(|f| f.1).unwrap_or(0),
            calls,
            plan,
        };
        // a kernel whose only code went into pieces has no main body
        let main = emitted && (fb.len() != 0 || pieces.is_empty());
        if !main && pieces.is_empty() {
            layers.push(layer(node.name.clone(), None, vec![], None));
            release_dead(&mut ctx, node, i, &last_use, &mut holders, &mut live);
            continue;
        }
        if main {
            let n = fb.len();
            let built = fb.build();
            functions.push((built.function, 0));
            let name = if pieces.is_empty() {
                node.name.clone()
            } else {
                format!("{}.prepare", node.name)
            };
            let call = Call {
                args: vec![],
                writes: writes.clone(),
            };
            layers.push(layer(
                name,
                Some((functions.len() as u32, n)),
                vec![call],
                built.plan,
            ));
        }
        for p in pieces {
            let n = p.fb.len();
            let params = p.fb.params();
            let built = p.fb.build();
            functions.push((built.function, params));
            layers.push(layer(
                node.name.clone(),
                Some((functions.len() as u32, n)),
                p.calls,
                built.plan,
            ));
        }
        release_dead(&mut ctx, node, i, &last_use, &mut holders, &mut live);
    }
    for (v, dst) in copies {
        let mut fb = FuncBuilder::default();
        let src = ctx.addr(v);
        let shape = g.values[v].shape.clone();
        kernels::copy(
            &mut fb,
            &shape,
            nd::View::contiguous(src, &shape),
            nd::View::contiguous(dst, &shape),
        );
        let n = fb.len();
        let built = fb.build();
        functions.push((built.function, 0));
        layers.push(EmittedLayer {
            plan: built.plan,
            name: format!("output_copy.{}", g.values[v].name),
            ops: vec!["Identity".into()],
            nodes: vec![],
            function: Some(functions.len() as u32),
            code_instructions: n,
            calls: vec![Call {
                args: vec![],
                writes: vec![[dst, g.values[v].len() as u32 * 4]],
            }],
        });
    }

    let entry = entry_function(layers.iter().flat_map(|l| {
        let f = l.function;
        l.calls
            .iter()
            .filter_map(move |c| Some((f?, c.args.as_slice())))
    }));
    let memory_bytes = ctx.mem.memory_bytes();
    let pages = memory_bytes / mem::PAGE;
    let wasm = assemble(&entry, &functions, pages);
    let constant_bytes = ctx.mem.data.iter().map(|s| s.1.len() as u64).sum();
    Ok(Emitted {
        wasm,
        memory: ctx.mem.image(),
        layers,
        input_region,
        output_region,
        constant_bytes,
    })
}

/// The entry function (index 0, `run`): every call of every layer, in order.
pub(crate) fn entry_function<'a>(calls: impl Iterator<Item = (u32, &'a [u32])>) -> Function {
    let mut entry = FuncBuilder::default();
    for (f, args) in calls {
        for &a in args {
            entry.c32(a as i32);
        }
        entry.op(wasm_encoder::Instruction::Call(f));
    }
    entry.finish()
}

/// The body that `plan` writes into a function of `params` i32 parameters:
/// the same emitters the compiler ran, so a plan that describes a committed
/// function gives back exactly its body. `None` for a plan no compiler
/// writes for a memory of `memory_len` bytes and a body of `body_len`
/// bytes (its tensors do not fit, its parameters are out of range, its code
/// would be longer), which the emitters could not, or need not, replay.
pub(crate) fn replay(
    params: u32,
    plan: &[crate::plan::KernelOp],
    memory_len: usize,
    body_len: usize,
) -> Option<Function> {
    use crate::plan::KernelOp;
    let mut fb = FuncBuilder::with_params(params);
    for op in plan {
        if !replayable(op, memory_len as u64, body_len) {
            return None;
        }
        match op {
            KernelOp::MatMul { spec, rows } => kernels::emit_matmul(&mut fb, spec, *rows),
            KernelOp::Copy { shape, src, dst } => {
                kernels::copy(&mut fb, shape, src.clone(), dst.clone())
            }
            KernelOp::Binary { shape, views, op } => {
                kernels::emit_binary(&mut fb, shape, views.clone(), *op)
            }
            KernelOp::Unary { shape, views, op } => {
                kernels::emit_unary(&mut fb, shape, views.clone(), *op)
            }
            KernelOp::Softmax {
                rows,
                src,
                dst,
                frac_bits,
                exp2,
                ln,
            } => kernels::emit_softmax(&mut fb, rows, *src, *dst, *frac_bits, *exp2, *ln),
            KernelOp::Reduce { rows, src, dst, op } => {
                kernels::emit_reduce(&mut fb, rows, *src, *dst, *op)
            }
            KernelOp::LayerNorm { spec } => kernels::emit_layer_norm(&mut fb, spec),
            KernelOp::Div {
                shape,
                views,
                shift,
            } => kernels::emit_divide(&mut fb, shape, views.clone(), *shift),
            KernelOp::Cast { shape, views, op } => {
                kernels::emit_cast(&mut fb, shape, views.clone(), *op)
            }
            KernelOp::Sample { spec } => kernels::emit_sample(&mut fb, spec),
            KernelOp::Select { shape, views } => {
                kernels::emit_select(&mut fb, shape, views.clone())
            }
            KernelOp::Math { shape, views, op } => {
                kernels::emit_math(&mut fb, shape, views.clone(), *op)
            }
            KernelOp::Pow { shape, views, op } => {
                kernels::emit_pow(&mut fb, shape, views.clone(), *op)
            }
            KernelOp::Gather { spec } => kernels::emit_gather(&mut fb, spec),
            KernelOp::Pool { spec } => kernels::emit_pool(&mut fb, spec),
            KernelOp::Normalize {
                rows,
                src,
                dst,
                norm,
                frac_bits,
            } => kernels::emit_normalize(&mut fb, rows, *src, *dst, *norm, *frac_bits),
            KernelOp::ScaleShift {
                shape,
                views,
                frac_bits,
            } => kernels::emit_scale_shift(&mut fb, shape, views.clone(), *frac_bits),
        }
    }
    Some(fb.finish())
}

/// Whether the emitters can replay `op` for a memory of `max_bytes` and a
/// body of `body_len` bytes: the parameters the compiler never writes (rows
/// larger than memory, shifts past the fixed-point format's, tables at the
/// end of the address space) would make them overflow, and a gather unrolls
/// its rows.
fn replayable(op: &crate::plan::KernelOp, max_bytes: u64, body_len: usize) -> bool {
    use crate::plan::{CastOp, KernelOp, MathOp, PowOp, ReduceOp, RowSpec};
    let frac_ok = |f: u32| f <= crate::fixed::MAX_FRAC_BITS;
    let lut_ok = |l: &Lut| l.shift < 31 && l.hi_q != i32::MIN && l.addr <= u32::MAX - 8;
    // rows that fit in memory and that walk_row can emit (`n` elements at least)
    let rows_ok = |rows: &RowSpec, n: usize| {
        rows.layout(max_bytes)
            .is_some_and(|l| l.offsets.len() >= n && kernels::row_fits(&l.offsets))
    };
    match op {
        KernelOp::Softmax {
            rows,
            frac_bits,
            exp2,
            ln,
            ..
        } => rows_ok(rows, 0) && frac_ok(*frac_bits) && lut_ok(exp2) && ln.iter().all(lut_ok),
        KernelOp::Reduce { rows, op, .. } => {
            // ArgMax starts from a row's first element
            rows_ok(rows, usize::from(matches!(op, ReduceOp::ArgMax { .. })))
        }
        KernelOp::LayerNorm { spec } => rows_ok(&spec.rows, 0) && frac_ok(spec.frac_bits),
        KernelOp::Div {
            shape,
            views,
            shift,
        } => views_ok(shape, views, 2..usize::MAX) && *shift < 64,
        KernelOp::Cast { shape, views, op } => {
            let f = match op {
                CastOp::Truncate { frac_bits } | CastOp::FromInt { frac_bits } => *frac_bits,
                CastOp::Bool | CastOp::Same => 0,
            };
            views_ok(shape, views, 2..3) && frac_ok(f)
        }
        KernelOp::Math { shape, views, op } => {
            let op_ok = match op {
                MathOp::Exp { frac_bits, exp2 } => frac_ok(*frac_bits) && lut_ok(exp2),
                MathOp::Sqrt { frac_bits } | MathOp::Reciprocal { frac_bits } => {
                    frac_ok(*frac_bits)
                }
                MathOp::Sin {
                    frac_bits, turn, ..
                } => frac_ok(*frac_bits) && lut_ok(turn),
            };
            views_ok(shape, views, 2..3) && op_ok
        }
        KernelOp::Pow { shape, views, op } => match op {
            PowOp::Identity => views_ok(shape, views, 2..3),
            PowOp::Sqrt { frac_bits } | PowOp::Reciprocal { frac_bits } => {
                views_ok(shape, views, 2..3) && frac_ok(*frac_bits)
            }
            // the compiler unrolls exponents up to 8 and 16 (MAX_INT_EXPONENT)
            PowOp::Repeat { n, shift } => {
                views_ok(shape, views, 2..3) && *n <= 8 && shift.is_none_or(frac_ok)
            }
            PowOp::Integer { max, shift, .. } => {
                views_ok(shape, views, 3..4) && *max <= 16 && shift.is_none_or(frac_ok)
            }
            PowOp::Real {
                frac_bits,
                ln,
                exp2,
                ..
            } => views_ok(shape, views, 3..4) && frac_ok(*frac_bits) && lut_ok(ln) && lut_ok(exp2),
        },
        KernelOp::Gather { spec } => {
            // each tensor, and each size alone, fits in memory
            let words = |dims: &[usize]| {
                dims.iter()
                    .try_fold(4u64, |b, &n| b.checked_mul(n as u64))
                    .is_some_and(|b| b <= max_bytes.min(u32::MAX as u64))
            };
            let s = spec;
            // each of the `inner` words unrolled takes more than a byte
            s.inner <= body_len
                && [s.outer, s.count, s.dim, s.inner]
                    .iter()
                    .all(|&n| words(&[n]))
                && words(&[s.outer, s.dim, s.inner])
                && words(&[s.outer, s.count, s.inner])
        }
        KernelOp::Pool { spec } => pool_ok(spec, max_bytes, body_len),
        KernelOp::Select { shape, views } => views_ok(shape, views, 4..5),
        KernelOp::Sample { spec } => {
            let fits = |at: u32, bytes: u64| at as u64 + bytes <= max_bytes;
            spec.k_max >= 1
                && spec.k_max <= spec.vocab
                && fits(spec.logits, spec.vocab as u64 * 4)
                && fits(
                    spec.scratch,
                    crate::plan::SampleSpec::scratch_bytes(spec.k_max) as u64,
                )
                && [spec.seed, spec.top_k, spec.temperature, spec.out]
                    .iter()
                    .all(|&a| fits(a, 4))
                && frac_ok(spec.frac_bits)
                && lut_ok(&spec.exp2)
        }
        KernelOp::Normalize {
            rows, frac_bits, ..
        } => rows_ok(rows, 0) && frac_ok(*frac_bits),
        KernelOp::ScaleShift {
            shape,
            views,
            frac_bits,
        } => views_ok(shape, views, 4..5) && frac_ok(*frac_bits),
        KernelOp::MatMul { .. }
        | KernelOp::Copy { .. }
        | KernelOp::Binary { .. }
        | KernelOp::Unary { .. } => true,
    }
}

/// Whether a pool's shapes agree and its tensors fit in memory, so the
/// emitter's address arithmetic cannot overflow, and its unrolled windows
/// and batches could fit in the body.
fn pool_ok(s: &crate::plan::PoolSpec, max_bytes: u64, body_len: usize) -> bool {
    use crate::plan::PoolOp;
    let d = s.spatial.len();
    let dims = [
        &s.out,
        &s.kernel,
        &s.strides,
        &s.dilations,
        &s.pads_begin,
        &s.pads_end,
    ];
    if d == 0 || dims.iter().any(|v| v.len() != d) || s.kernel.contains(&0) {
        return false;
    }
    let limit = max_bytes.min(u32::MAX as u64);
    // bytes of `words` words, when they fit
    let bytes = |words: &[usize]| {
        words
            .iter()
            .try_fold(4u64, |b, &n| b.checked_mul(n as u64))
            .filter(|&b| b <= limit)
    };
    // a tensor of `words` words at `at` lies below the limit
    let fits = |at: u32, words: &[usize]| bytes(words).is_some_and(|b| at as u64 + b <= limit);
    let Some(pdims) = (0..d)
        .map(|i| {
            s.spatial[i]
                .checked_add(s.pads_begin[i])?
                .checked_add(s.pads_end[i])
        })
        .collect::<Option<Vec<usize>>>()
    else {
        return false;
    };
    let per_batch = |shape: &[usize]| {
        let mut w = vec![s.batch, s.channels];
        w.extend(shape);
        w
    };
    let mut plane = vec![s.channels];
    plane.extend(&pdims);
    let window: Option<usize> = s.kernel.iter().try_fold(1usize, |w, &k| w.checked_mul(k));
    // each window within the padded plane, each step of it within memory
    let inside = (0..d).all(|i| {
        let row: usize = pdims[i + 1..].iter().product();
        (s.kernel[i] - 1)
            .checked_mul(s.dilations[i])
            .is_some_and(|w| w < pdims[i])
            && bytes(&[s.strides[i], row]).is_some()
    });
    let op_ok = match s.op {
        PoolOp::Max { indices } => indices.is_none_or(|(a, _)| fits(a, &per_batch(&s.out))),
        PoolOp::Average { recip } => fits(recip, &s.out),
    };
    fits(s.x, &per_batch(&s.spatial))
        && fits(s.y, &per_batch(&s.out))
        && s.padded.is_none_or(|a| fits(a, &plane))
        && bytes(&plane).is_some()
        && window.is_some_and(|w| w <= body_len)
        && s.batch <= body_len
        && inside
        && op_ok
}

/// Whether an elementwise plan has `count` views, each with a stride per
/// dimension of `shape`.
fn views_ok(shape: &[usize], views: &[nd::View], count: std::ops::Range<usize>) -> bool {
    count.contains(&views.len()) && views.iter().all(|v| v.strides.len() == shape.len())
}

/// Counts the tensors of `node` that hold reusable buffers, and releases the
/// buffers whose last holder died at node `i`.
fn release_dead(
    ctx: &mut Ctx,
    node: &crate::compiler::graph::Node,
    i: usize,
    last_use: &HashMap<ValueId, usize>,
    holders: &mut HashMap<u32, usize>,
    live: &mut std::collections::HashSet<ValueId>,
) {
    let values: Vec<ValueId> = node
        .inputs
        .iter()
        .flatten()
        .chain(&node.outputs)
        .copied()
        .collect();
    for &v in &values {
        let Some(&a) = ctx.addr.get(&v) else { continue };
        if ctx.tensor_bytes.contains_key(&a) && !ctx.g.outputs.contains(&v) && live.insert(v) {
            *holders.entry(a).or_default() += 1;
        }
    }
    for &v in &values {
        if last_use.get(&v).is_some_and(|&l| l <= i) && live.remove(&v) {
            let a = ctx.addr[&v];
            let h = holders.get_mut(&a).expect("a live tensor holds its buffer");
            *h -= 1;
            if *h == 0 {
                holders.remove(&a);
                let bytes = ctx.tensor_bytes[&a];
                ctx.mem.release(a, bytes);
            }
        }
    }
}

/// Encodes the module: type, function, memory, export and code sections. The
/// initial image is not repeated in data segments: `memory.bin` is its one
/// copy, written into each instance by the runtime.
fn assemble(entry: &Function, functions: &[(Function, u32)], pages: u64) -> Vec<u8> {
    let mut module = Module::new();
    let mut types = TypeSection::new();
    // type p: p i32 parameters, no results (0 for plain layers, 2 for segments)
    let max_params = functions.iter().map(|f| f.1).max().unwrap_or(0);
    for p in 0..=max_params {
        types.ty().function(
            std::iter::repeat_n(wasm_encoder::ValType::I32, p as usize),
            [],
        );
    }
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    for f in functions {
        funcs.function(f.1);
    }
    module.section(&funcs);
    let mut mems = MemorySection::new();
    mems.memory(MemoryType {
        minimum: pages,
        maximum: Some(pages),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&mems);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("run", ExportKind::Func, 0);
    for i in 1..=functions.len() as u32 {
        exports.export(&format!("layer{i}"), ExportKind::Func, i);
    }
    module.section(&exports);
    let mut code = CodeSection::new();
    code.function(entry);
    for f in functions {
        code.function(&f.0);
    }
    module.section(&code);
    module.finish()
}
