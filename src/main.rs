//! `opml`: compile ONNX models to deterministic fixed-point WebAssembly, run
//! them, and inspect the artifacts. See `docs/CLI.md`.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use opml_vm::artifact::Artifact;
use opml_vm::compile::{CompileOptions, compile_file};
use opml_vm::npy;
use opml_vm::onnx::ShapeBindings;
use opml_vm::runtime::Runtime;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "opml",
    version,
    about = "opML: provable fixed-point inference for ONNX models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile an ONNX model into an artifact directory.
    Compile {
        /// The ONNX model.
        model: PathBuf,
        /// Output artifact directory.
        #[arg(short, long)]
        out: PathBuf,
        /// Fractional bits of the fixed-point format (default 16, or calibrated).
        #[arg(long)]
        frac_bits: Option<u32>,
        /// Sample inputs (.npy, batch on axis 0) to choose the fractional bits.
        #[arg(long)]
        calibrate: Option<PathBuf>,
        /// Fix an input shape, e.g. `input=1x64` (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shape: Vec<String>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Run one inference.
    Run {
        /// The artifact directory.
        artifact: PathBuf,
        /// Input .npy file; `NAME=FILE` to name the input (repeatable, in model order otherwise).
        #[arg(long, required = true)]
        input: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show layers, sizes, memory map and fixed-point format of an artifact.
    Inspect {
        /// The artifact directory.
        artifact: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn real_main() -> Result<()> {
    match Cli::parse().command {
        Command::Compile {
            model,
            out,
            frac_bits,
            calibrate,
            input_shape,
            json,
        } => {
            let calibration = calibrate.map(|p| npy::read(&p)).transpose()?;
            let opts = CompileOptions {
                frac_bits,
                input_shapes: ShapeBindings::parse(&input_shape)?,
                calibration,
            };
            let start = Instant::now();
            let artifact = compile_file(&model, &opts)?;
            artifact.save(&out)?;
            let m = &artifact.manifest;
            if json {
                println!(
                    "{}",
                    json!({
                        "model_id": m.model_id, "artifact": out, "frac_bits": m.fixed_point.frac_bits,
                        "layers": m.layers.len(), "memory_bytes": m.memory.bytes,
                        "instructions": m.instructions, "compile_ms": start.elapsed().as_millis() as u64,
                    })
                );
            } else {
                println!("compiled {} -> {}", model.display(), out.display());
                println!("  model id      {}", m.model_id);
                println!(
                    "  fixed point   Q{} (32-bit values, 64-bit accumulators)",
                    m.fixed_point.frac_bits
                );
                println!("  layers        {}", m.layers.len());
                println!(
                    "  memory        {} bytes ({} constant)",
                    m.memory.bytes, m.memory.constant_bytes
                );
                println!("  instructions  {} per inference", m.instructions);
            }
        }
        Command::Run {
            artifact,
            input,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let slots = art.manifest.inputs.tensors.clone();
            let mut inputs = vec![None; slots.len()];
            for (i, spec) in input.iter().enumerate() {
                let (slot, path) = match spec.split_once('=') {
                    Some((name, path)) => {
                        let k = slots.iter().position(|s| s.name == name).with_context(|| {
                            let names: Vec<_> = slots.iter().map(|s| s.name.as_str()).collect();
                            format!(
                                "the model has no input `{name}` (inputs: {})",
                                names.join(", ")
                            )
                        })?;
                        (k, PathBuf::from(path))
                    }
                    None => (i, PathBuf::from(spec)),
                };
                if slot >= slots.len() {
                    bail!(
                        "{} inputs given but the model takes {}",
                        input.len(),
                        slots.len()
                    );
                }
                inputs[slot] = Some(npy::read(&path)?);
            }
            let inputs: Vec<_> = inputs
                .into_iter()
                .zip(&slots)
                .map(|(t, s)| {
                    t.with_context(|| {
                        format!(
                            "missing input `{}`: pass --input {}=FILE.npy",
                            s.name, s.name
                        )
                    })
                })
                .collect::<Result<_>>()?;
            let rt = Runtime::new(art, true)?;
            let out = rt.run(&inputs)?;
            let m = &rt.artifact().manifest;
            let main = out
                .outputs
                .iter()
                .find(|o| o.dtype == opml_vm::graph::DType::Float32)
                .unwrap_or(&out.outputs[0]);
            let prediction = argmax(&main.values);
            if json {
                let outputs: Vec<_> = out
                    .outputs
                    .iter()
                    .map(|o| json!({"name": o.name, "shape": o.shape, "dtype": o.dtype, "values": o.values}))
                    .collect();
                println!(
                    "{}",
                    json!({
                        "model_id": m.model_id,
                        "output": {"name": main.name, "shape": main.shape, "values": main.values},
                        "outputs": outputs,
                        "prediction": prediction,
                        "instructions": out.instructions,
                        "output_blake3": blake3::hash(&out.output_region).to_hex().to_string(),
                    })
                );
            } else {
                for o in &out.outputs {
                    let shown: Vec<String> = o
                        .values
                        .iter()
                        .take(16)
                        .map(|v| format!("{v:.5}"))
                        .collect();
                    let more = if o.values.len() > 16 {
                        format!(" ... ({} values)", o.values.len())
                    } else {
                        String::new()
                    };
                    println!("{} {:?}: [{}]{more}", o.name, o.shape, shown.join(", "));
                }
                println!("prediction: {prediction} (argmax of `{}`)", main.name);
                if let Some(n) = out.instructions {
                    println!("instructions: {n}");
                }
            }
        }
        Command::Inspect { artifact, json } => {
            let art = Artifact::load(&artifact)?;
            let m = &art.manifest;
            if json {
                println!("{}", serde_json::to_string_pretty(m)?);
                return Ok(());
            }
            println!("model      {} (id {})", m.name, m.model_id);
            println!(
                "format     Q{}: {}-bit values, {}-bit accumulators, rounding {}, {}",
                m.fixed_point.frac_bits,
                m.fixed_point.value_bits,
                m.fixed_point.acc_bits,
                m.fixed_point.rounding,
                m.fixed_point.overflow
            );
            println!(
                "memory     {} bytes, {} pages, {} bytes of constants",
                m.memory.bytes, m.memory.pages, m.memory.constant_bytes
            );
            for (label, r) in [("inputs", &m.inputs), ("outputs", &m.outputs)] {
                println!(
                    "{label:<10} region 0x{:08x}..0x{:08x} ({} bytes)",
                    r.offset,
                    r.offset as u64 + r.size,
                    r.size
                );
                for t in &r.tensors {
                    println!(
                        "             {:<20} 0x{:08x} {:?} {} scale {}",
                        t.name,
                        t.offset,
                        t.shape,
                        t.dtype.name(),
                        t.scale
                    );
                }
            }
            println!(
                "layers     {} ({} instructions per inference)",
                m.layers.len(),
                m.instructions
            );
            println!(
                "  {:>4}  {:<36} {:<22} {:>12} {:>8}",
                "fn", "name", "ops", "executed", "code"
            );
            for l in &m.layers {
                let f = l
                    .function
                    .map(|f| f.to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "  {:>4}  {:<36} {:<22} {:>12} {:>8}",
                    f,
                    truncate(&l.name, 36),
                    l.ops.join("+"),
                    l.instructions,
                    l.code_instructions
                );
            }
        }
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}
