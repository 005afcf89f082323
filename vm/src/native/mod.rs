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
use crate::plan::KernelOp;
use std::collections::HashMap;

mod elementwise;
mod math;
mod matmul;
mod norm;
mod pool;
mod reduce;
mod sample;
mod scalar;

/// Plans tied to a module: function index -> the kernels that are its body,
/// and the calls the module's entry function makes.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    plans: HashMap<u32, Vec<KernelOp>>,
    calls: Vec<(u32, Vec<u32>)>,
}

impl Verified {
    /// Plans checked against the module's code (the compiler's replay), and
    /// the entry function's calls, checked likewise.
    pub(crate) fn new(plans: HashMap<u32, Vec<KernelOp>>, calls: Vec<(u32, Vec<u32>)>) -> Verified {
        Verified { plans, calls }
    }

    /// The plan of function `f`, if it has a verified one.
    pub fn plan(&self, f: u32) -> Option<&[KernelOp]> {
        self.plans.get(&f).map(Vec::as_slice)
    }

    /// The entry function's calls (function, arguments) in order; empty when
    /// the module's entry did not match its manifest.
    pub fn calls(&self) -> &[(u32, Vec<u32>)] {
        &self.calls
    }

    /// Whether every call of the entry function has a plan, so a run needs
    /// no WebAssembly instance at all.
    pub fn complete(&self) -> bool {
        !self.calls.is_empty() && self.calls.iter().all(|(f, _)| self.plans.contains_key(f))
    }

    /// Calls of the entry function that run natively.
    pub fn native_calls(&self) -> usize {
        self.calls
            .iter()
            .filter(|(f, _)| self.plans.contains_key(f))
            .count()
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

/// The bytes `[lo, hi)` one call of `plan` (with `args`) can write in a
/// memory of `len` bytes; `None` when that is not known (the caller then
/// takes all of memory as written).
pub fn write_spans(plan: &[KernelOp], args: &[u32], len: usize) -> Option<Vec<(usize, usize)>> {
    let mut spans = vec![];
    for op in plan {
        spans.extend(op_spans(op, args, len)?);
    }
    Some(spans)
}

/// What one kernel writes, as [`write_spans`].
fn op_spans(op: &KernelOp, args: &[u32], len: usize) -> Option<Vec<(usize, usize)>> {
    let inside = |(lo, hi): (i64, i64)| {
        (lo >= 0 && hi >= lo && hi <= len as i64).then_some((lo as usize, hi as usize))
    };
    let rows_of = |r: &reduce::Rows, base: u32| inside(reduce::region(r, base));
    let per_row = |r: &reduce::Rows, base: u32| {
        elementwise::view_span(&r.layout.outer, &r.per_row(base), len)
    };
    Some(match op {
        KernelOp::MatMul { spec, rows } => vec![matmul::write_span(spec, *rows, args, len)?],
        KernelOp::Copy { shape, dst, .. } => vec![elementwise::view_span(shape, dst, len)?],
        KernelOp::Binary { shape, views, .. }
        | KernelOp::Unary { shape, views, .. }
        | KernelOp::Div { shape, views, .. }
        | KernelOp::Cast { shape, views, .. }
        | KernelOp::Select { shape, views }
        | KernelOp::Math { shape, views, .. }
        | KernelOp::Pow { shape, views, .. }
        | KernelOp::ScaleShift { shape, views, .. } => {
            if shape.contains(&0) {
                vec![]
            } else {
                vec![elementwise::view_span(shape, views.first()?, len)?]
            }
        }
        KernelOp::Softmax { rows, dst, .. } | KernelOp::Normalize { rows, dst, .. } => {
            vec![rows_of(&reduce::Rows::new(rows, len).ok()?, *dst)?]
        }
        KernelOp::Reduce { rows, dst, .. } => {
            let r = reduce::Rows::new(rows, len).ok()?;
            if r.layout.outer.contains(&0) {
                vec![]
            } else {
                vec![per_row(&r, *dst)?]
            }
        }
        KernelOp::LayerNorm { spec } => {
            let r = reduce::Rows::new(&spec.rows, len).ok()?;
            let mut spans = vec![rows_of(&r, spec.dst)?];
            if !r.layout.outer.contains(&0) {
                for base in [spec.mean, spec.inv_std_dev].into_iter().flatten() {
                    spans.push(per_row(&r, base)?);
                }
            }
            spans
        }
        KernelOp::Gather { spec } => {
            let bytes = 4u64 * (spec.outer as u64) * (spec.count as u64) * (spec.inner as u64);
            vec![inside((
                spec.out as i64,
                spec.out as i64 + i64::try_from(bytes).ok()?,
            ))?]
        }
        KernelOp::Sample { spec } => vec![
            inside((spec.out as i64, spec.out as i64 + 4))?,
            inside((
                spec.scratch as i64,
                spec.scratch as i64 + crate::plan::SampleSpec::scratch_bytes(spec.k_max) as i64,
            ))?,
        ],
        // a pool also fills its padded buffer: not worth describing here
        KernelOp::Pool { .. } => return None,
    })
}

/// The word at byte `at`, or the WASM's trap.
fn load(memory: &[u8], at: i64) -> Result<i32> {
    let i = usize::try_from(at).map_err(|_| trap("a load", at))?;
    let b = memory.get(i..i + 4).ok_or_else(|| trap("a load", at))?;
    Ok(i32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// The memory a kernel works on, with the WASM's bounds checks.
struct Mem<'a>(&'a mut [u8]);

impl Mem<'_> {
    fn load(&self, at: i64) -> Result<i32> {
        load(self.0, at)
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

/// The instruction set the kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust, on any CPU.
    Portable,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
}

/// The environment variable that picks the instruction set (`portable`,
/// `avx2`, `avx512`; unset or `auto`: the best the CPU has).
pub const ISA_VAR: &str = "OPML_NATIVE_ISA";

/// The environment variable that sets the executor's threads (default: one
/// per core).
pub const THREADS_VAR: &str = "OPML_NATIVE_THREADS";

impl Isa {
    /// The fastest instruction set this CPU has.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Whether this CPU can run kernels of this instruction set.
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            Isa::Avx2 => Isa::detect() != Isa::Portable,
            Isa::Avx512 => Isa::detect() == Isa::Avx512,
        }
    }

    /// The name [`ISA_VAR`] takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The instruction set [`ISA_VAR`] asks for, else the detected one.
    pub fn from_env() -> Result<Isa> {
        let Ok(v) = std::env::var(ISA_VAR) else {
            return Ok(Isa::detect());
        };
        let isa = match v.as_str() {
            "" | "auto" => return Ok(Isa::detect()),
            "portable" => Isa::Portable,
            "avx2" => Isa::Avx2,
            "avx512" => Isa::Avx512,
            other => {
                return Err(Error::BadInput(format!(
                    "{ISA_VAR}={other} is not an instruction set: use portable, avx2, avx512 or auto"
                )));
            }
        };
        if !isa.supported() {
            return Err(Error::BadInput(format!(
                "{ISA_VAR}={v}: this CPU lacks it (it has {}); unset {ISA_VAR} to use the best it has",
                Isa::detect().name()
            )));
        }
        Ok(isa)
    }
}

/// Runs plans: the instruction set and the threads of the kernels.
#[derive(Debug)]
pub struct Executor {
    isa: Isa,
    /// `None`: the calling thread alone.
    pool: Option<rayon::ThreadPool>,
}

impl Executor {
    /// An executor on `threads` threads (1: the caller's) with `isa`, which
    /// the CPU must support.
    pub fn new(threads: usize, isa: Isa) -> Result<Executor> {
        if !isa.supported() {
            return Err(Error::BadInput(format!(
                "this CPU lacks {} (it has {})",
                isa.name(),
                Isa::detect().name()
            )));
        }
        let pool = if threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("opml-native-{i}"))
                .build()
                .map_err(|e| {
                    Error::Runtime(format!("starting the native executor's threads: {e}"))
                })?;
            Some(pool)
        } else {
            None
        };
        Ok(Executor { isa, pool })
    }

    /// [`ISA_VAR`] and [`THREADS_VAR`] from the environment, else the best
    /// instruction set and one thread per core.
    pub fn from_env() -> Result<Executor> {
        let threads = match std::env::var(THREADS_VAR) {
            Ok(v) => v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                Error::BadInput(format!("{THREADS_VAR}={v} is not a positive thread count"))
            })?,
            Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Executor::new(threads, Isa::from_env()?)
    }

    /// The process's executor from the environment ([`Executor::from_env`]),
    /// made once: its threads serve every runtime of the process.
    pub fn shared() -> Result<std::sync::Arc<Executor>> {
        static SHARED: std::sync::OnceLock<std::sync::Arc<Executor>> = std::sync::OnceLock::new();
        if let Some(e) = SHARED.get() {
            return Ok(e.clone());
        }
        let e = std::sync::Arc::new(Executor::from_env()?);
        Ok(SHARED.get_or_init(|| e).clone())
    }

    /// The instruction set of the kernels.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Threads the kernels spread over.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// `f` of every item, on the executor's threads, in item order.
    fn map<T: Sync, R: Send>(&self, items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
        use rayon::prelude::*;
        match &self.pool {
            Some(pool) if items.len() > 1 => pool.install(|| items.par_iter().map(f).collect()),
            _ => items.iter().map(f).collect(),
        }
    }

    /// Runs `calls` (every one with a plan in `plans`) on `memory`, the
    /// segments of a product merged ([`Executor::run_group`]).
    pub fn run_calls(
        &self,
        plans: &Verified,
        calls: &[(u32, Vec<u32>)],
        memory: &mut [u8],
    ) -> Result<()> {
        let mut i = 0;
        while i < calls.len() {
            i += self.run_group(plans, &calls[i..], memory)?;
        }
        Ok(())
    }

    /// Runs the first call of `calls` (which must have a plan) and the
    /// segments of its product that follow it ([`Executor::group_len`]) as
    /// one call. Returns how many calls ran.
    pub fn run_group(
        &self,
        plans: &Verified,
        calls: &[(u32, Vec<u32>)],
        memory: &mut [u8],
    ) -> Result<usize> {
        let n = self.group_len(plans, calls);
        self.run_merged(plans, &calls[..n], memory)?;
        Ok(n)
    }

    /// How many calls from the first of `calls` can run as one: the
    /// consecutive calls of a function that is one product over the rows its
    /// arguments name, each starting where the last ended (the segments of
    /// that product); 1 for any other call, 0 when there is none.
    pub fn group_len(&self, plans: &Verified, calls: &[(u32, Vec<u32>)]) -> usize {
        let Some((f, args)) = calls.first() else {
            return 0;
        };
        let segment = matches!(
            plans.plan(*f),
            Some([KernelOp::MatMul {
                rows: crate::plan::Rows::Params,
                ..
            }])
        );
        let ([first, count], true) = (args.as_slice(), segment) else {
            return 1;
        };
        let (first, mut count) = (*first as u64, *count as u64);
        let mut n = 1;
        while let Some((g, [at, more])) = calls.get(n).map(|(g, a)| (g, a.as_slice())) {
            if g != f || *at as u64 != first + count || count + *more as u64 > u32::MAX as u64 {
                break;
            }
            count += *more as u64;
            n += 1;
        }
        n
    }

    /// Runs `calls`, at most [`Executor::group_len`] of them, as one call:
    /// the same outputs in the same order, with the rows of every segment to
    /// spread over the threads.
    pub fn run_merged(
        &self,
        plans: &Verified,
        calls: &[(u32, Vec<u32>)],
        memory: &mut [u8],
    ) -> Result<()> {
        let Some((f, args)) = calls.first() else {
            return Ok(());
        };
        if calls.len() > self.group_len(plans, calls) {
            return Err(Error::Runtime(format!(
                "{} calls of function {f} cannot run as one",
                calls.len()
            )));
        }
        let plan = plans
            .plan(*f)
            .ok_or_else(|| Error::Runtime(format!("function {f} has no verified plan")))?;
        if calls.len() == 1 {
            return self.run_plan(plan, args, memory);
        }
        let count: u32 = calls.iter().map(|(_, a)| a[1]).sum();
        self.run_plan(plan, &[args[0], count], memory)
    }

    /// Runs the plan of one call (`args`: the call's i32 arguments) on `memory`.
    pub fn run_plan(&self, plan: &[KernelOp], args: &[u32], memory: &mut [u8]) -> Result<()> {
        for op in plan {
            match op {
                KernelOp::MatMul { spec, rows } => matmul::matmul(memory, spec, *rows, args, self)?,
                KernelOp::Copy { shape, src, dst } => elementwise::copy(memory, shape, src, dst)?,
                KernelOp::Binary { shape, views, op } => {
                    elementwise::binary(memory, shape, views, *op)?
                }
                KernelOp::Unary { shape, views, op } => {
                    elementwise::unary(memory, shape, views, *op)?
                }
                KernelOp::Softmax {
                    rows,
                    src,
                    dst,
                    frac_bits,
                    exp2,
                    ln,
                } => reduce::softmax(memory, rows, *src, *dst, *frac_bits, *exp2, *ln, self)?,
                KernelOp::Reduce { rows, src, dst, op } => {
                    reduce::reduce(memory, rows, *src, *dst, *op)?
                }
                KernelOp::LayerNorm { spec } => norm::layer_norm(memory, spec, self)?,
                KernelOp::Div {
                    shape,
                    views,
                    shift,
                } => math::divide(&mut Mem(memory), shape, views, *shift)?,
                KernelOp::Cast { shape, views, op } => {
                    math::cast(&mut Mem(memory), shape, views, *op)?
                }
                KernelOp::Select { shape, views } => elementwise::select(memory, shape, views)?,
                KernelOp::Sample { spec } => sample::sample(&mut Mem(memory), spec)?,
                KernelOp::Math { shape, views, op } => {
                    math::math(&mut Mem(memory), shape, views, *op)?
                }
                KernelOp::Pow { shape, views, op } => {
                    math::pow(&mut Mem(memory), shape, views, *op)?
                }
                KernelOp::Gather { spec } => math::gather(memory, spec)?,
                KernelOp::Pool { spec } => pool::pool(&mut Mem(memory), spec)?,
                KernelOp::Normalize {
                    rows,
                    src,
                    dst,
                    norm,
                    frac_bits,
                } => norm::normalizer(memory, rows, *src, *dst, *norm, *frac_bits)?,
                KernelOp::ScaleShift {
                    shape,
                    views,
                    frac_bits,
                } => norm::scale_shift(&mut Mem(memory), shape, views, *frac_bits)?,
            }
        }
        Ok(())
    }
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

fn saturate(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}
