//! The fast runtime: wasmtime configured for the opML profile.
//!
//! Every feature outside the profile is disabled in the engine, so even a
//! module that slipped past the validator could not use it. Each inference
//! gets a fresh instance, so memory always starts from the initial image.
//!
//! The module carries no data segments: the artifact's `memory.bin` is the
//! one copy of the initial image, written into each fresh instance. Compiled
//! code comes from the module cache ([`crate::cache`]) when it can.

use crate::artifact::{Artifact, IoSlot};
use crate::artifact::{DType, Kind};
use crate::cache::{ModuleCache, Origin};
use crate::error::{Error, Result};
use crate::native::{Executor, Verified};
use crate::npy::Tensor;
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::{Config, Engine, Instance, Memory, Module, Store, Val};

fn rt<E: std::fmt::Display>(e: E) -> Error {
    Error::Runtime(format!("{e:#}"))
}

/// A wasmtime engine restricted to the profile; `fuel` meters instructions.
pub fn engine(fuel: bool) -> Result<Engine> {
    let mut c = Config::new();
    // reference types, GC, exceptions and threads are compiled out (cargo features)
    c.wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_bulk_memory(false)
        .wasm_multi_value(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .cranelift_nan_canonicalization(true)
        .consume_fuel(fuel);
    Engine::new(&c).map_err(rt)
}

/// One output tensor of an inference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputTensor {
    /// ONNX name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// ONNX element type.
    pub dtype: DType,
    /// Stored integers.
    pub raw: Vec<i32>,
    /// Dequantized values.
    pub values: Vec<f64>,
}

/// The output tensors in an output region's bytes (what a claim posts).
pub fn outputs_from_region(m: &crate::artifact::Manifest, region: &[u8]) -> Vec<OutputTensor> {
    let fmt = m.format();
    let base = m.outputs.offset as usize;
    m.outputs
        .tensors
        .iter()
        .map(|s| {
            let at = s.offset as usize - base;
            let raw: Vec<i32> = region[at..at + s.size as usize]
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let values = raw
                .iter()
                .map(|&q| match s.dtype.kind() {
                    Kind::Fixed => fmt.dequantize(q),
                    Kind::Int => q as f64,
                })
                .collect();
            OutputTensor {
                name: s.name.clone(),
                shape: s.shape.clone(),
                dtype: s.dtype,
                raw,
                values,
            }
        })
        .collect()
}

/// The result of one inference.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Output tensors in graph order.
    pub outputs: Vec<OutputTensor>,
    /// The whole output region, as committed on-chain.
    pub output_region: Vec<u8>,
    /// Instructions executed (when metered).
    pub instructions: Option<u64>,
    /// What ran the layers.
    pub engine: EngineKind,
}

/// What ran an inference's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// wasmtime ran the module's entry function.
    Wasm,
    /// The native executor ran every call that has a verified plan, wasmtime
    /// the others.
    Native,
}

impl EngineKind {
    /// `wasm` or `native`, as `--engine` names them.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Wasm => "wasm",
            EngineKind::Native => "native",
        }
    }
}

/// A loaded, compiled model ready to run many inferences.
pub struct Runtime {
    artifact: Artifact,
    engine: Engine,
    module: Module,
    metered: bool,
    origin: Origin,
    /// The native executor and the plans it may run (`with_native`).
    native: Option<(Arc<Verified>, Arc<Executor>)>,
    /// Memories of finished native runs, restored to the image: a run
    /// takes one instead of copying the whole image into fresh pages.
    scratch: Mutex<Vec<Vec<u8>>>,
    /// What a native run writes (the input region and every call's output
    /// spans, merged), once known; `None` when some call's is not known.
    written: OnceLock<Option<Vec<(usize, usize)>>>,
}

/// Most memories a runtime keeps for reuse (concurrent runs beyond this
/// many copy the image).
const SCRATCH_MEMORIES: usize = 2;

/// The bytes a native run of `plans` writes: the input region and each
/// call's output spans, sorted and merged; `None` when not all are known.
fn written(
    m: &crate::artifact::Manifest,
    plans: &Verified,
    len: usize,
) -> Option<Vec<(usize, usize)>> {
    let at = m.inputs.offset as usize;
    let mut spans = vec![(at, at.checked_add(m.inputs.size as usize)?.min(len))];
    for (f, args) in plans.calls() {
        spans.extend(crate::native::write_spans(plans.plan(*f)?, args, len)?);
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (lo, hi) in spans {
        match merged.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    Some(merged)
}

/// The memory a native run works on.
enum RunMemory {
    /// A copy of the image: every call has a plan.
    Image(Vec<u8>),
    /// A wasmtime instance's, for the calls without one.
    Instance(Live),
}

impl RunMemory {
    fn data(&self) -> &[u8] {
        match self {
            RunMemory::Image(m) => m,
            RunMemory::Instance(live) => live.memory.data(&live.store),
        }
    }

    fn data_mut(&mut self) -> &mut [u8] {
        match self {
            RunMemory::Image(m) => m,
            RunMemory::Instance(live) => live.memory.data_mut(&mut live.store),
        }
    }
}

/// A fresh instance with the initial image and an input written.
struct Live {
    store: Store<()>,
    instance: Instance,
    memory: Memory,
}

impl Runtime {
    /// Loads the artifact's module, compiled by wasmtime or taken from the
    /// default module cache ([`crate::cache::default_dir`]). `metered` counts
    /// instructions (slower).
    pub fn new(artifact: Artifact, metered: bool) -> Result<Runtime> {
        let cache = crate::cache::default_dir().map(ModuleCache::new);
        Runtime::with_cache(artifact, metered, cache.as_ref())
    }

    /// Like [`Runtime::new`] with an explicit cache (`None`: always compile).
    pub fn with_cache(
        artifact: Artifact,
        metered: bool,
        cache: Option<&ModuleCache>,
    ) -> Result<Runtime> {
        let engine = engine(metered)?;
        let (module, origin) = match cache {
            Some(c) => c.load_or_compile(&engine, &artifact.wasm).map_err(rt)?,
            None => (
                Module::new(&engine, &artifact.wasm).map_err(rt)?,
                Origin::Compiled,
            ),
        };
        Ok(Runtime {
            artifact,
            engine,
            module,
            metered,
            origin,
            native: None,
            scratch: Mutex::new(vec![]),
            written: OnceLock::new(),
        })
    }

    /// This runtime with the native executor running the calls of `plans`
    /// (which the compiler verified against this artifact's module, see
    /// `compiler::plans::accelerate`) in unmetered runs.
    pub fn with_native(mut self, plans: Arc<Verified>, executor: Arc<Executor>) -> Runtime {
        self.native = Some((plans, executor));
        self.written = OnceLock::new();
        self
    }

    /// The verified plans and the executor, when the native executor is on.
    pub fn native(&self) -> Option<(&Verified, &Executor)> {
        self.native.as_ref().map(|(p, e)| (&**p, &**e))
    }

    /// Whether the compiled module came from the cache.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    fn instantiate(&self, input_region: &[u8]) -> Result<Live> {
        let m = &self.artifact.manifest;
        if input_region.len() as u64 > m.inputs.size {
            return Err(Error::BadInput(format!(
                "the input has {} bytes but the model's input region holds {}",
                input_region.len(),
                m.inputs.size
            )));
        }
        let mut store = Store::new(&self.engine, ());
        if self.metered {
            store.set_fuel(u64::MAX).map_err(rt)?;
        }
        let instance = Instance::new(&mut store, &self.module, &[]).map_err(rt)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| rt("module exports no memory"))?;
        if memory.data_size(&store) != self.artifact.memory.len() {
            return Err(rt(format!(
                "the module's memory is {} bytes but `memory.bin` holds {}; compile the model again",
                memory.data_size(&store),
                self.artifact.memory.len()
            )));
        }
        memory
            .write(&mut store, 0, &self.artifact.memory)
            .map_err(rt)?;
        memory
            .write(&mut store, m.inputs.offset as usize, input_region)
            .map_err(rt)?;
        Ok(Live {
            store,
            instance,
            memory,
        })
    }

    /// Runs `run`'s calls one by one on an input (each layer function with
    /// its arguments, as [`crate::artifact::Manifest::calls`] lists them);
    /// `after(i, memory)` sees the whole memory after call `i`. Returns the
    /// memory after the last call.
    pub fn run_calls(
        &self,
        input_region: &[u8],
        calls: &[(u32, Vec<u32>)],
        after: impl FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<Vec<u8>> {
        self.run_calls_with(input_region, calls, |_, _| Ok(()), after)
    }

    /// [`Runtime::run_calls`] that also shows the memory before each call.
    pub fn run_calls_with(
        &self,
        input_region: &[u8],
        calls: &[(u32, Vec<u32>)],
        mut before: impl FnMut(usize, &[u8]) -> Result<()>,
        mut after: impl FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let mut live = self.instantiate(input_region)?;
        for (i, (f, args)) in calls.iter().enumerate() {
            before(i, live.memory.data(&live.store))?;
            call_layer(&mut live, *f, args)?;
            after(i, live.memory.data(&live.store))?;
        }
        Ok(live.memory.data(&live.store).to_vec())
    }

    /// [`Runtime::run_calls`] with the functions that have a verified plan
    /// run by the native executor on the same memory, the others by
    /// wasmtime. With `merge`, the segments of a product run as one call
    /// ([`Executor::run_group`]) and `after` sees the memory only after the
    /// last call of each group.
    pub fn run_calls_native(
        &self,
        input_region: &[u8],
        calls: &[(u32, Vec<u32>)],
        plans: &Verified,
        executor: &Executor,
        merge: bool,
        mut after: impl FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<Vec<u8>> {
        self.run_calls_grouped(
            input_region,
            calls,
            (plans, executor),
            |rest| {
                if merge {
                    executor.group_len(plans, rest)
                } else {
                    1
                }
            },
            |_, _| Ok(()),
            |calls, m| after(calls.end - 1, m),
        )
    }

    /// Runs `calls` with the native executor (wasmtime for a call without a
    /// verified plan): `group(rest)` says how many of the calls `rest`
    /// starts with run as one (at most [`Executor::group_len`]);
    /// `before(calls, memory)` and `after(calls, memory)` see the memory
    /// around each group. The memory is a copy of the image when every call
    /// has a plan, else a wasmtime instance's. Returns the final memory.
    pub fn run_calls_grouped(
        &self,
        input_region: &[u8],
        calls: &[(u32, Vec<u32>)],
        (plans, executor): (&Verified, &Executor),
        mut group: impl FnMut(&[(u32, Vec<u32>)]) -> usize,
        mut before: impl FnMut(std::ops::Range<usize>, &[u8]) -> Result<()>,
        mut after: impl FnMut(std::ops::Range<usize>, &[u8]) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let planned = calls.iter().all(|(f, _)| plans.plan(*f).is_some());
        let mut memory = if planned {
            RunMemory::Image(self.native_image(input_region)?)
        } else {
            RunMemory::Instance(self.instantiate(input_region)?)
        };
        let mut i = 0;
        while i < calls.len() {
            let (f, args) = &calls[i];
            let n = if plans.plan(*f).is_some() {
                group(&calls[i..]).clamp(1, executor.group_len(plans, &calls[i..]))
            } else {
                1
            };
            before(i..i + n, memory.data())?;
            match (plans.plan(*f), &mut memory) {
                (Some(_), m) => executor.run_merged(plans, &calls[i..i + n], m.data_mut())?,
                (None, RunMemory::Instance(live)) => call_layer(live, *f, args)?,
                (None, RunMemory::Image(_)) => unreachable!("every call is planned"),
            }
            after(i..i + n, memory.data())?;
            i += n;
        }
        Ok(match memory {
            RunMemory::Image(m) => m,
            RunMemory::Instance(live) => live.memory.data(&live.store).to_vec(),
        })
    }

    /// The initial image with the input written, checked like an instance's.
    fn native_image(&self, input_region: &[u8]) -> Result<Vec<u8>> {
        let m = &self.artifact.manifest;
        if input_region.len() as u64 > m.inputs.size {
            return Err(Error::BadInput(format!(
                "the input has {} bytes but the model's input region holds {}",
                input_region.len(),
                m.inputs.size
            )));
        }
        let mut memory = self.artifact.memory.clone();
        let at = m.inputs.offset as usize;
        memory
            .get_mut(at..at + input_region.len())
            .ok_or_else(|| rt("the input region is outside the memory"))?
            .copy_from_slice(input_region);
        Ok(memory)
    }

    /// The whole memory after `run`'s calls up to (not including) call
    /// `upto` on an input: the state at a call boundary. The native executor
    /// runs them when it is on (wasmtime again if it fails).
    pub fn memory_after_calls(&self, input_region: &[u8], upto: usize) -> Result<Vec<u8>> {
        if let Some((plans, executor)) = self.native()
            && !plans.calls().is_empty()
        {
            let calls = &plans.calls()[..upto.min(plans.calls().len())];
            match self.run_calls_native(input_region, calls, plans, executor, true, |_, _| Ok(())) {
                Ok(m) => return Ok(m),
                Err(e) => tracing::warn!(
                    model = %self.artifact.manifest.name,
                    "the native executor failed ({e}); running the module in wasmtime"
                ),
            }
        }
        let mut calls = self.artifact.manifest.call_args();
        calls.truncate(upto);
        self.run_calls(input_region, &calls, |_, _| Ok(()))
    }

    /// Quantizes inputs into the bytes of the input region.
    pub fn input_region(&self, inputs: &[Tensor]) -> Result<Vec<u8>> {
        let m = &self.artifact.manifest;
        let slots = &m.inputs.tensors;
        if inputs.len() != slots.len() {
            let names: Vec<_> = slots
                .iter()
                .map(|s| format!("`{}` {:?}", s.name, s.shape))
                .collect();
            return Err(Error::BadInput(format!(
                "the model takes {} input(s) ({}) but {} were given",
                slots.len(),
                names.join(", "),
                inputs.len()
            )));
        }
        let fmt = m.format();
        let mut region = vec![0u8; m.inputs.size as usize];
        for (slot, t) in slots.iter().zip(inputs) {
            check_input(slot, t)?;
            let at = (slot.offset - m.inputs.offset) as usize;
            for (i, v) in t.values().into_iter().enumerate() {
                let q = match slot.dtype.kind() {
                    Kind::Fixed => fmt.quantize(v),
                    Kind::Int => crate::fixed::saturate_f64(v),
                };
                region[at + 4 * i..at + 4 * i + 4].copy_from_slice(&q.to_le_bytes());
            }
        }
        Ok(region)
    }

    /// Runs one inference on quantized input-region bytes: natively when
    /// the native executor is on and the run is not metered (wasmtime again
    /// if the native run fails), else in wasmtime.
    pub fn run_region(&self, input_region: &[u8]) -> Result<RunOutput> {
        if let (Some((plans, executor)), false) = (&self.native, self.metered)
            && !plans.calls().is_empty()
        {
            match self.run_region_native(input_region, plans, executor) {
                Ok(out) => return Ok(out),
                // the module is the truth: it traps (or not) on its own
                Err(e) => tracing::warn!(
                    model = %self.artifact.manifest.name,
                    "the native executor failed ({e}); running the module in wasmtime"
                ),
            }
        }
        self.run_region_wasm(input_region)
    }

    /// The memory after every call, natively: on a copy of the image alone
    /// when every call has a plan, else on a wasmtime instance's memory.
    fn run_region_native(
        &self,
        input_region: &[u8],
        plans: &Verified,
        executor: &Executor,
    ) -> Result<RunOutput> {
        let m = &self.artifact.manifest;
        let output = |data: &[u8]| {
            let base = m.outputs.offset as usize;
            let output_region = data
                .get(base..base + m.outputs.size as usize)
                .ok_or_else(|| rt("the output region is outside the memory"))?
                .to_vec();
            Ok(RunOutput {
                outputs: outputs_from_region(m, &output_region),
                output_region,
                instructions: None,
                engine: EngineKind::Native,
            })
        };
        self.with_native_memory(input_region, plans, executor, output)
    }

    /// `read` of the memory after the whole run of the native executor: on a
    /// pooled copy of the image alone when every call has a plan, else on a
    /// wasmtime instance's memory.
    fn with_native_memory<R>(
        &self,
        input_region: &[u8],
        plans: &Verified,
        executor: &Executor,
        read: impl FnOnce(&[u8]) -> Result<R>,
    ) -> Result<R> {
        if !plans.complete() {
            let memory = self.run_calls_native(
                input_region,
                plans.calls(),
                plans,
                executor,
                true,
                |_, _| Ok(()),
            )?;
            return read(&memory);
        }
        let m = &self.artifact.manifest;
        if input_region.len() as u64 > m.inputs.size {
            return Err(Error::BadInput(format!(
                "the input has {} bytes but the model's input region holds {}",
                input_region.len(),
                m.inputs.size
            )));
        }
        let memory = self.pooled_memory(input_region, plans, executor)?;
        let result = read(&memory);
        if result.is_ok() {
            self.recycle(memory);
        }
        result
    }

    /// The memory after a native run of every call (all planned) on a pooled
    /// copy of the image; [`Runtime::recycle`] gives it back.
    fn pooled_memory(
        &self,
        input_region: &[u8],
        plans: &Verified,
        executor: &Executor,
    ) -> Result<Vec<u8>> {
        let m = &self.artifact.manifest;
        let mut memory = self
            .scratch
            .lock()
            .expect("scratch lock")
            .pop()
            .unwrap_or_else(|| self.artifact.memory.clone());
        let at = m.inputs.offset as usize;
        memory
            .get_mut(at..at + input_region.len())
            .ok_or_else(|| rt("the input region is outside the memory"))?
            .copy_from_slice(input_region);
        executor.run_calls(plans, plans.calls(), &mut memory)?;
        Ok(memory)
    }

    /// Takes back a final memory of this model ([`Runtime::final_memory`])
    /// for later runs: restored to the image where runs write (all of it
    /// when that is not known), it saves the next run a copy of the image
    /// into fresh pages.
    pub fn recycle(&self, mut memory: Vec<u8>) {
        let image = &self.artifact.memory;
        if memory.len() != image.len() {
            return;
        }
        let spans = match &self.native {
            Some((plans, _)) if plans.complete() => self
                .written
                .get_or_init(|| written(&self.artifact.manifest, plans, image.len())),
            _ => &None,
        };
        match spans {
            Some(spans) => {
                for &(lo, hi) in spans {
                    memory[lo..hi].copy_from_slice(&image[lo..hi]);
                }
            }
            None => memory.copy_from_slice(image),
        }
        let mut pool = self.scratch.lock().expect("scratch lock");
        if pool.len() < SCRATCH_MEMORIES {
            pool.push(memory);
        }
    }

    /// The whole memory after an inference on quantized input-region bytes
    /// (the final state), and what computed it: the native executor when it
    /// is on (wasmtime again if it fails), else wasmtime. Give it back with
    /// [`Runtime::recycle`] when done, to spare the next run a copy.
    pub fn final_memory(&self, input_region: &[u8]) -> Result<(Vec<u8>, EngineKind)> {
        if let Some((plans, executor)) = &self.native
            && !plans.calls().is_empty()
        {
            let run = if plans.complete() {
                self.pooled_memory(input_region, plans, executor)
            } else {
                self.with_native_memory(input_region, plans, executor, |m| Ok(m.to_vec()))
            };
            match run {
                Ok(m) => return Ok((m, EngineKind::Native)),
                Err(e) => tracing::warn!(
                    model = %self.artifact.manifest.name,
                    "the native executor failed ({e}); running the module in wasmtime"
                ),
            }
        }
        let live = self.instantiate(input_region)?;
        let Live {
            mut store,
            instance,
            memory,
        } = live;
        instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .map_err(rt)?
            .call(&mut store, ())
            .map_err(|e| Error::Runtime(format!("the model trapped: {e:#}")))?;
        Ok((memory.data(&store).to_vec(), EngineKind::Wasm))
    }

    /// Runs one inference in wasmtime (the module's entry function).
    pub fn run_region_wasm(&self, input_region: &[u8]) -> Result<RunOutput> {
        let m = &self.artifact.manifest;
        let Live {
            mut store,
            instance,
            memory,
        } = self.instantiate(input_region)?;
        let run = instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .map_err(rt)?;
        run.call(&mut store, ())
            .map_err(|e| Error::Runtime(format!("the model trapped: {e:#}")))?;
        let instructions = if self.metered {
            Some(u64::MAX - store.get_fuel().map_err(rt)?)
        } else {
            None
        };
        let data = memory.data(&store);
        let base = m.outputs.offset as usize;
        let output_region = data[base..base + m.outputs.size as usize].to_vec();
        let outputs = outputs_from_region(m, &output_region);
        Ok(RunOutput {
            outputs,
            output_region,
            instructions,
            engine: EngineKind::Wasm,
        })
    }

    /// Runs one inference.
    pub fn run(&self, inputs: &[Tensor]) -> Result<RunOutput> {
        let region = self.input_region(inputs)?;
        self.run_region(&region)
    }
}

fn check_input(slot: &IoSlot, t: &Tensor) -> Result<()> {
    let dtype_ok = match slot.dtype {
        DType::Float32 => matches!(t, Tensor::F32(_)),
        DType::Int64 | DType::Bool => matches!(t, Tensor::I64(_)),
    };
    if !dtype_ok {
        return Err(Error::BadInput(format!(
            "input `{}` expects {} but the file holds {}; convert it (numpy: `x.astype(np.{})`)",
            slot.name,
            slot.dtype.name(),
            t.dtype(),
            if slot.dtype == DType::Float32 {
                "float32"
            } else {
                "int64"
            }
        )));
    }
    if t.shape() != slot.shape.as_slice() {
        return Err(Error::BadInput(format!(
            "input `{}` expects shape {:?} but got {:?}; reshape the array, or compile with `--input-shape {}={}`",
            slot.name,
            slot.shape,
            t.shape(),
            slot.name,
            t.shape()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        )));
    }
    Ok(())
}

fn call_layer(live: &mut Live, f: u32, args: &[u32]) -> Result<()> {
    let func = live
        .instance
        .get_func(&mut live.store, &format!("layer{f}"))
        .ok_or_else(|| rt(format!("the module exports no `layer{f}`")))?;
    let args: Vec<Val> = args.iter().map(|&a| Val::I32(a as i32)).collect();
    func.call(&mut live.store, &args, &mut [])
        .map_err(|e| Error::Runtime(format!("layer {f} trapped: {e:#}")))
}

/// Runs `run`'s calls up to (not including) call `upto` on an input and
/// returns the whole memory afterwards: the state at a call boundary.
pub fn run_layers(artifact: &Artifact, input_region: &[u8], upto: usize) -> Result<Vec<u8>> {
    Runtime::new(artifact.clone(), false)?.memory_after_calls(input_region, upto)
}

/// Measures each layer's executed instructions with wasmtime fuel, making
/// `run`'s calls one by one on an all-zero input. Kernels have
/// data-independent control flow, so the counts hold for every input.
pub fn measure_layers(artifact: &mut Artifact) -> Result<()> {
    let rt_ = Runtime::with_cache(artifact.clone(), true, None)?;
    let mut live = rt_.instantiate(&[])?;
    for layer in &mut artifact.manifest.layers {
        let Some(f) = layer.function else { continue };
        let before = live.store.get_fuel().map_err(rt)?;
        for c in &layer.calls {
            call_layer(&mut live, f, &c.args)
                .map_err(|e| Error::Runtime(format!("layer `{}`: {e}", layer.name)))?;
        }
        layer.instructions = before - live.store.get_fuel().map_err(rt)?;
    }
    // The whole inference, entry function included, on a fresh instance.
    let out = rt_.run_region(&[])?;
    artifact.manifest.instructions = out.instructions.unwrap_or(0);
    Ok(())
}
