//! The native executor's kernels: each [`KernelOp`] computed on the linear
//! memory image, writing exactly the bytes its WASM code writes.
//!
//! Integer sums that wrap do not depend on order, so a kernel may reorder,
//! vectorize and split its work and still match the WASM byte for byte; what
//! it must keep is every rounding, shift and saturation of the emitted code,
//! and, where a kernel may read what it writes, the element order.
//!
//! Plans come from the artifact and are untrusted: [`Verified`] plans are
//! the ones the compiler replayed to exactly the committed function bodies
//! (`compiler::verify_plans`). A kernel also checks every address against
//! the memory and reports an access the WASM would trap on as an error.

use crate::error::{Error, Result};
use crate::plan::{BiasAxis, BinaryOp, KernelOp, Lut, MatMulSpec, Rows, UnaryOp, View};
use std::collections::HashMap;

/// Plans tied to a module: function index -> the kernels that are its body.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    plans: HashMap<u32, Vec<KernelOp>>,
}

impl Verified {
    /// Plans checked against the module's code (the compiler's replay).
    pub(crate) fn new(plans: HashMap<u32, Vec<KernelOp>>) -> Verified {
        Verified { plans }
    }

    /// The plan of function `f`, if it has a verified one.
    pub fn plan(&self, f: u32) -> Option<&[KernelOp]> {
        self.plans.get(&f).map(Vec::as_slice)
    }

    /// Functions with a verified plan.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// Whether no function has a verified plan.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }
}

fn trap(what: &str, at: i64) -> Error {
    Error::Runtime(format!(
        "the model trapped: {what} reads or writes out of memory at byte {at}"
    ))
}

/// The memory a kernel works on, with the WASM's bounds checks.
struct Mem<'a>(&'a mut [u8]);

impl Mem<'_> {
    fn load(&self, at: i64) -> Result<i32> {
        let i = usize::try_from(at).map_err(|_| trap("a load", at))?;
        let b = self.0.get(i..i + 4).ok_or_else(|| trap("a load", at))?;
        Ok(i32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn store(&mut self, at: i64, v: i32) -> Result<()> {
        let i = usize::try_from(at).map_err(|_| trap("a store", at))?;
        let b = self
            .0
            .get_mut(i..i + 4)
            .ok_or_else(|| trap("a store", at))?;
        b.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// `count` words from `at` as i32s.
    fn words(&self, at: i64, count: usize) -> Result<&[u8]> {
        let i = usize::try_from(at).map_err(|_| trap("a load", at))?;
        self.0
            .get(i..i + 4 * count)
            .ok_or_else(|| trap("a load", at))
    }
}

/// Runs the plan of one call (`args`: the call's i32 arguments) on `memory`.
pub fn run_plan(plan: &[KernelOp], args: &[u32], memory: &mut [u8]) -> Result<()> {
    let mut mem = Mem(memory);
    for op in plan {
        match op {
            KernelOp::MatMul { spec, rows } => matmul(&mut mem, spec, *rows, args)?,
            KernelOp::Copy { shape, src, dst } => copy(&mut mem, shape, src, dst)?,
            KernelOp::Binary { shape, views, op } => binary(&mut mem, shape, views, *op)?,
            KernelOp::Unary { shape, views, op } => unary(&mut mem, shape, views, *op)?,
        }
    }
    Ok(())
}

/// Rounds a `Q(2F)` accumulator to `Q(F)` (half up) and saturates it, as
/// `FuncBuilder::rescale` emits it.
fn rescale(acc: i64, shift: u32) -> i32 {
    let v = if shift > 0 {
        acc.wrapping_add(1 << (shift - 1)) >> shift
    } else {
        acc
    };
    saturate(v)
}

fn dot(a: &[u8], b: &[u8]) -> i64 {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .fold(0i64, |acc, (x, y)| {
            let x = i32::from_le_bytes(x.try_into().expect("4 bytes")) as i64;
            let y = i32::from_le_bytes(y.try_into().expect("4 bytes")) as i64;
            acc.wrapping_add(x.wrapping_mul(y))
        })
}

fn matmul(mem: &mut Mem, s: &MatMulSpec, rows: Rows, args: &[u32]) -> Result<()> {
    let (first, count) = match rows {
        // `run` of a whole product: a batch needs the row counter of a segment
        Rows::All if s.batch.is_none() => (0, s.m),
        Rows::All => {
            return Err(Error::Runtime(
                "a batched product outside a segment has no native kernel".into(),
            ));
        }
        Rows::Params => match args {
            [first, count] => (*first as usize, *count as usize),
            _ => {
                return Err(Error::Runtime(
                    "a product segment is called with two arguments".into(),
                ));
            }
        },
    };
    let k = s.k as i64;
    let n = s.n as i64;
    for r in first..first + count {
        let r = r as i64;
        let a_row = s.a as i64 + r * k * 4;
        let bt = match s.batch {
            // WASM: row / m (unsigned, 32 bits) * stride + bt
            Some((m, stride)) => {
                let batch = (r as u32).wrapping_div(m as u32);
                batch.wrapping_mul(stride).wrapping_add(s.bt) as i64
            }
            None => s.bt as i64,
        };
        let bias_row = match s.bias {
            Some((b, BiasAxis::Row)) => b as i64 + r * 4,
            Some((b, BiasAxis::Full)) => b as i64 + r * n * 4,
            Some((b, BiasAxis::Col)) => b as i64,
            None => 0,
        };
        let c_row = s.c as i64 + r * s.c_strides.0;
        for j in 0..n {
            let bias = match s.bias {
                Some((_, BiasAxis::Row)) => Some(mem.load(bias_row)? as i64),
                Some(_) => Some(mem.load(bias_row + j * 4)? as i64),
                None => None,
            };
            // read for each output, as the WASM does: an output that lands
            // on an operand (a plan may say so) is seen by the next one
            let a = mem.words(a_row, s.k)?;
            let b = mem.words(bt + j * k * 4, s.k)?;
            let mut acc = match (bias, s.alpha) {
                (Some(bias), None) => bias.wrapping_shl(s.shift),
                _ => 0,
            };
            acc = acc.wrapping_add(dot(a, b));
            if let Some(alpha) = s.alpha {
                if s.shift > 0 {
                    acc = acc.wrapping_add(1 << (s.shift - 1)) >> s.shift;
                }
                acc = acc.wrapping_mul(alpha as i64);
                if let Some(bias) = bias {
                    acc = acc.wrapping_add(bias.wrapping_shl(s.shift));
                }
            }
            mem.store(c_row + j * s.c_strides.1, rescale(acc, s.shift))?;
        }
    }
    Ok(())
}

/// Calls `at` with each view's byte address of every element of `shape`,
/// in row-major order (the WASM loop nests' order).
fn for_each_element(
    shape: &[usize],
    views: &[&View],
    mut at: impl FnMut(&[i64]) -> Result<()>,
) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0usize; shape.len()];
    let mut addr: Vec<i64> = views.iter().map(|v| v.base as i64).collect();
    loop {
        at(&addr)?;
        // next index, last dimension fastest
        let mut d = shape.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            for (a, v) in addr.iter_mut().zip(views) {
                *a += v.strides[d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for (a, v) in addr.iter_mut().zip(views) {
                *a -= v.strides[d] * shape[d] as i64;
            }
            idx[d] = 0;
        }
    }
}

/// Element by element in row-major order, each loaded then stored, as the
/// WASM loop nest does: overlapping views give the same bytes.
fn copy(mem: &mut Mem, shape: &[usize], src: &View, dst: &View) -> Result<()> {
    for_each_element(shape, &[dst, src], |at| {
        let x = mem.load(at[1])?;
        mem.store(at[0], x)
    })
}

fn saturate(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// `views[0] = op(views[1], views[2], ...)`, element by element.
fn binary(mem: &mut Mem, shape: &[usize], views: &[View], op: BinaryOp) -> Result<()> {
    if views.len() < 2 || (matches!(op, BinaryOp::DivConst { .. }) && views.len() != 2) {
        return Err(Error::Runtime(format!(
            "an elementwise plan has {} views for {op:?}",
            views.len()
        )));
    }
    let refs: Vec<&View> = views.iter().collect();
    for_each_element(shape, &refs, |at| {
        let x = mem.load(at[1])?;
        let v = match op {
            BinaryOp::DivConst { m, s } => {
                let p = (x as i64).wrapping_mul(m);
                let p = if s > 0 {
                    p.wrapping_add(1 << (s - 1)) >> s
                } else {
                    p
                };
                saturate(p)
            }
            _ => {
                let mut acc = x;
                for &q in &at[2..] {
                    let y = mem.load(q)?;
                    acc = match op {
                        BinaryOp::Add => saturate(acc as i64 + y as i64),
                        BinaryOp::Sub => saturate(acc as i64 - y as i64),
                        BinaryOp::Mul { shift } => {
                            let p = acc as i64 * y as i64;
                            match shift {
                                Some(f) => rescale(p, f),
                                None => saturate(p),
                            }
                        }
                        BinaryOp::Max => acc.max(y),
                        BinaryOp::Min => acc.min(y),
                        BinaryOp::DivConst { .. } => unreachable!("one input"),
                    };
                }
                acc
            }
        };
        mem.store(at[0], v)
    })
}

/// A table at `x`, as `Lut::emit` computes it: clamped to the domain, the
/// knot below, and linear interpolation to the next knot.
fn lut_at(mem: &Mem, lut: &Lut, x: i32) -> Result<i32> {
    let clamped = x.min(lut.hi_q - 1).max(lut.lo_q);
    let d = clamped.wrapping_sub(lut.lo_q);
    let knot = lut.addr as i64 + (((d as u32) >> lut.shift) << 2) as i64;
    if lut.shift == 0 {
        return mem.load(knot);
    }
    let (y0, y1) = (mem.load(knot)? as i64, mem.load(knot + 4)? as i64);
    let frac = (d & ((1i32 << lut.shift) - 1)) as u32 as i64;
    let v = (y1.wrapping_sub(y0).wrapping_mul(frac) >> lut.shift).wrapping_add(y0);
    Ok(v as i32)
}

/// `views[0] = op(views[1])`, element by element.
fn unary(mem: &mut Mem, shape: &[usize], views: &[View], op: UnaryOp) -> Result<()> {
    if views.len() != 2 {
        return Err(Error::Runtime(format!(
            "an elementwise plan has {} views for {op:?}",
            views.len()
        )));
    }
    for_each_element(shape, &[&views[0], &views[1]], |at| {
        let x = mem.load(at[1])?;
        let v = match op {
            UnaryOp::Relu => x.max(0),
            UnaryOp::LeakyRelu { alpha, shift } => {
                if x > 0 {
                    x
                } else {
                    rescale((x as i64).wrapping_mul(alpha), shift)
                }
            }
            UnaryOp::Neg => saturate(-(x as i64)),
            UnaryOp::Abs => saturate((x as i64).abs()),
            UnaryOp::Clip { lo, hi } => {
                let x = if x > lo { x } else { lo };
                if x < hi { x } else { hi }
            }
            UnaryOp::Lut { lut } => lut_at(mem, &lut, x)?,
            UnaryOp::Gelu { lut, shift } => {
                let cdf = lut_at(mem, &lut, x)?;
                rescale((cdf as i64).wrapping_mul(x as i64), shift)
            }
        };
        mem.store(at[0], v)
    })
}
