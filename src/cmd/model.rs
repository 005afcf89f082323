//! Commands on models and artifacts, without a chain: compile, run, state,
//! prove, verify-step, trace, inspect.

use super::inputs::InputArgs;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use opml::replay::{layer_breakdown, runs_steps};
use opml_vm::artifact::{Artifact, DType};
use opml_vm::compiler::onnx::ShapeBindings;
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::machine::model::{ModelVm, hex, unhex};
use opml_vm::machine::{Committer, Machine, prove, verify_step};
use opml_vm::npy;
use opml_vm::runtime::{OutputTensor, Runtime};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Commands on models and artifacts, without a chain.
#[derive(Subcommand)]
pub(crate) enum ModelCommand {
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
        /// Compile a decoder exported with a key/value cache into a program
        /// that writes exactly N new tokens (`opml generate` runs it).
        #[arg(long, value_name = "N")]
        generate: Option<usize>,
        /// Prompt slots of a generation program (longer prompts are refused,
        /// shorter ones left-padded).
        #[arg(long, default_value_t = 32, requires = "generate")]
        prompt_tokens: usize,
        /// Most candidates top-k sampling may keep (the request's `top_k` is clamped to it).
        #[arg(long, default_value_t = opml_vm::compiler::generate::DEFAULT_TOP_K_MAX, requires = "generate")]
        top_k_max: usize,
        /// The token that ends a text (default: the `<|endoftext|>` of the
        /// `tokenizer.json` beside the model, if any).
        #[arg(long, requires = "generate")]
        end_token: Option<u32>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Run one inference.
    Run {
        /// The artifact directory.
        artifact: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        /// Also compute the final state hash and the output root (what a
        /// submitter posts): hashes the whole memory once, a few seconds on big models.
        #[arg(long)]
        commit: bool,
        /// What runs the layers: `native` (the native executor, for every
        /// layer whose plan ties to the committed module) or `wasm`
        /// (wasmtime alone). Both write the same bytes.
        #[arg(long, env = "OPML_ENGINE", default_value = "native")]
        engine: opml_vm::compiler::plans::Engine,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate text with a generation program (`compile --generate`): the
    /// prompt through the model's tokenizer, tokens printed as they come.
    Generate {
        /// The artifact directory.
        artifact: PathBuf,
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// New tokens wanted (default: all the program writes).
        #[arg(long)]
        max_tokens: Option<u32>,
        /// Seed of the sampler's draws.
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Candidates top-k sampling keeps (1, the default, is greedy).
        #[arg(long, default_value_t = 1)]
        top_k: u32,
        /// Temperature of the kept candidates (0, the default, is greedy).
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// The tokenizer.json (default: `tokenizer.json` in the artifact directory).
        #[arg(long, value_name = "FILE")]
        tokenizer: Option<PathBuf>,
        /// Also compute the final state hash and the output root (what a submitter posts).
        #[arg(long)]
        commit: bool,
        /// What runs the layers: `native` or `wasm` (see `run`).
        #[arg(long, env = "OPML_ENGINE", default_value = "native")]
        engine: opml_vm::compiler::plans::Engine,
        /// Print JSON (at the end, instead of streaming the text).
        #[arg(long)]
        json: bool,
    },
    /// The machine state at a step: hash, pc, instruction, stack, frames.
    State {
        /// The artifact directory.
        artifact: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        /// The step (0 is the initial state, `steps` the halted one).
        #[arg(long)]
        step: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the one-step proof of step I (from the state at I to I + 1).
    Prove {
        /// The artifact directory.
        artifact: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        /// The step whose execution is proven.
        #[arg(long)]
        step: u64,
        /// Output proof file (JSON).
        #[arg(short, long)]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a proof file: prints the post-state; exit code 1 when invalid.
    VerifyStep {
        /// A proof written by `opml prove`.
        proof: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also run the Solidity verifier in an in-process EVM and compare
        /// (exit code 3 when the two disagree).
        #[arg(long)]
        evm: bool,
    },
    /// Write state hashes every K steps (and at the end), for researchers.
    Trace {
        /// The artifact directory.
        artifact: PathBuf,
        #[command(flatten)]
        input: InputArgs,
        /// Interval in steps.
        #[arg(long)]
        every: u64,
        /// Output file (JSON lines: `{"step": .., "state": ..}`).
        #[arg(short, long)]
        out: PathBuf,
        /// Print a JSON summary.
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

/// Runs one model command.
pub(crate) fn run(command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Compile {
            model,
            out,
            frac_bits,
            calibrate,
            input_shape,
            generate,
            prompt_tokens,
            top_k_max,
            end_token,
            json,
        } => {
            let calibration = calibrate.map(|p| npy::read(&p)).transpose()?;
            let generate = match generate {
                None => None,
                Some(new_tokens) => Some(opml_vm::compiler::generate::GenerateOptions {
                    prompt_tokens,
                    new_tokens,
                    top_k_max,
                    end_token: match end_token {
                        Some(t) => Some(t),
                        None => opml::generate::default_end_token(&model)?,
                    },
                }),
            };
            let opts = CompileOptions {
                frac_bits,
                input_shapes: ShapeBindings::parse(&input_shape)?,
                calibration,
                generate,
            };
            let start = Instant::now();
            let artifact = compile_file(&model, &opts)?;
            artifact.save(&out)?;
            opml::generate::copy_tokenizer(&model, &out)?;
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
        ModelCommand::Generate {
            artifact,
            prompt,
            max_tokens,
            seed,
            top_k,
            temperature,
            tokenizer,
            commit,
            engine,
            json,
        } => {
            let args = super::inputs::GenerationArgs {
                prompt: Some(prompt.clone()),
                max_tokens,
                seed,
                top_k,
                temperature,
            };
            generate(&artifact, &args, tokenizer.as_deref(), commit, engine, json)?;
        }
        ModelCommand::Run {
            artifact,
            input,
            commit,
            engine,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            // the step counts it reports (and a submitter would post) come from the code
            let vm = opml::with_engine(ModelVm::checked(art.clone())?, engine)?;
            let inputs = input.load(&art, &artifact)?;
            let rt = vm.runtime()?;
            let region = rt.input_region(&inputs)?;
            let m = &rt.artifact().manifest;
            let (mut out, final_state, output_root) = if commit {
                // one run: the outputs and the commitments from its final memory
                let (memory, ran) = rt.final_memory(&region)?;
                let base = m.outputs.offset as usize;
                let output_region = memory[base..base + m.outputs.size as usize].to_vec();
                let (s, o) = final_commitments(&vm, memory)?;
                let out = opml_vm::runtime::RunOutput {
                    outputs: opml_vm::runtime::outputs_from_region(m, &output_region),
                    output_region,
                    instructions: None,
                    engine: ran,
                };
                (out, Some(s), Some(o))
            } else {
                (rt.run_region(&region)?, None, None)
            };
            // unmetered: the instruction count is data independent, in the manifest
            out.instructions = Some(art.manifest.instructions);
            // `output` stays the first float output, as before `outputs` carried them all
            let main = out
                .outputs
                .iter()
                .find(|o| o.dtype == DType::Float32)
                .unwrap_or(&out.outputs[0]);
            let prediction = prediction(&out.outputs);
            if json {
                let outputs: Vec<_> = out.outputs.iter().map(output_json).collect();
                let mut report = json!({
                    "model_id": m.model_id,
                    "output": output_json(main),
                    "outputs": outputs,
                    "instructions": out.instructions,
                    "steps": m.steps,
                    "final_state": final_state,
                    "output_root": output_root,
                    "output_blake3": blake3::hash(&out.output_region).to_hex().to_string(),
                    "engine": out.engine.name(),
                });
                if let Some(p) = &prediction {
                    report["prediction"] = json!(p.class);
                    report["prediction_from"] = json!(p.from);
                }
                println!("{report}");
            } else {
                for o in &out.outputs {
                    let shown: Vec<String> = (0..o.values.len().min(16))
                        .map(|i| element_text(o, i))
                        .collect();
                    let more = if o.values.len() > 16 {
                        format!(" ... ({} values)", o.values.len())
                    } else {
                        String::new()
                    };
                    println!("{} {:?}: [{}]{more}", o.name, o.shape, shown.join(", "));
                }
                if let Some(p) = &prediction {
                    println!("prediction: {} ({})", p.class, p.how);
                }
                if let Some(n) = out.instructions {
                    println!("instructions: {n}");
                }
                println!("steps: {}", m.steps);
                if let (Some(s), Some(o)) = (&final_state, &output_root) {
                    println!("final state: 0x{s}");
                    println!("output root: 0x{o}");
                }
            }
        }
        ModelCommand::State {
            artifact,
            input,
            step,
            json,
        } => {
            let (vm, mut m, mut c) = seek(&artifact, &input, step)?;
            let h = c.header(&mut m);
            let ins = m.code.get(m.pc as usize).filter(|_| m.is_running());
            let layer = vm
                .artifact()
                .manifest
                .layers
                .iter()
                .rev()
                .find(|l| l.function.is_some() && l.start_step <= step)
                .map(|l| l.name.clone());
            let report = json!({
                "step": step, "state": hex(&h.hash()), "status": format!("{:?}", m.status).to_lowercase(),
                "pc": m.pc, "instruction": ins.map(|i| json!({"op": i.op.name(), "a": i.a, "b": i.b})),
                "stack": m.stack.iter().rev().take(8).collect::<Vec<_>>(), "stack_height": m.stack.len(),
                "frame_depth": m.frames.len(), "layer": layer, "memory_root": hex(&h.memory_root),
            });
            if json {
                println!("{report}");
            } else {
                println!(
                    "step {step} of {}: state 0x{}",
                    vm.artifact().manifest.steps,
                    hex(&h.hash())
                );
                println!(
                    "  status {:?}, pc {}, layer {}",
                    m.status,
                    m.pc,
                    report["layer"].as_str().unwrap_or("-")
                );
                if let Some(i) = ins {
                    println!("  next   {} a={} b={}", i.op.name(), i.a, i.b);
                }
                println!(
                    "  stack  {} values, top first {}",
                    m.stack.len(),
                    report["stack"]
                );
                println!(
                    "  frames {}, memory root 0x{}",
                    m.frames.len(),
                    hex(&h.memory_root)
                );
            }
        }
        ModelCommand::Prove {
            artifact,
            input,
            step,
            out,
            json,
        } => {
            let (vm, mut m, mut c) = seek(&artifact, &input, step)?;
            let pre = c.state_hash(&mut m);
            let proof = prove(&mut c, &mut m);
            let op = proof.witness.as_ref().map(|w| w.instr.op.name());
            let bytes = proof.encode();
            m.step();
            let post = c.state_hash(&mut m);
            let file = json!({
                "version": opml_vm::machine::proof::PROOF_VERSION, "model_id": vm.artifact().manifest.model_id,
                "step": step, "opcode": op, "pre_state": hex(&pre), "post_state": hex(&post),
                "proof": hex_bytes(&bytes), "proof_bytes": bytes.len(),
            });
            std::fs::write(&out, serde_json::to_string_pretty(&file)?)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            if json {
                println!("{file}");
            } else {
                println!(
                    "proof of step {step} ({}) -> {} ({} bytes)",
                    op.unwrap_or("fixed point"),
                    out.display(),
                    bytes.len()
                );
                println!("  pre  0x{}\n  post 0x{}", hex(&pre), hex(&post));
            }
        }
        ModelCommand::VerifyStep { proof, json, evm } => {
            let text = std::fs::read_to_string(&proof)
                .with_context(|| format!("cannot read `{}`", proof.display()))?;
            let file: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "`{}` is not a proof file (JSON from `opml prove`)",
                    proof.display()
                )
            })?;
            let field = |k: &str| {
                file[k].as_str().with_context(|| {
                    format!(
                        "`{}` has no `{k}` field; write it with `opml prove`",
                        proof.display()
                    )
                })
            };
            let pre =
                unhex(field("pre_state")?).context("`pre_state` is not a 32-byte hex hash")?;
            let bytes = unhex_bytes(field("proof")?).context("`proof` is not hex")?;
            let claimed = file["post_state"].as_str().and_then(unhex);
            if evm {
                return verify_step_evm(&pre, &bytes, claimed, json);
            }
            match verify_step(&pre, &bytes) {
                Ok(post) => {
                    let agrees = claimed.is_none_or(|c| c == post);
                    if json {
                        println!(
                            "{}",
                            json!({"valid": agrees, "pre_state": hex(&pre), "post_state": hex(&post), "claimed_post_state": claimed.map(|c| hex(&c))})
                        );
                    } else {
                        println!("valid proof: 0x{} -> 0x{}", hex(&pre), hex(&post));
                    }
                    if !agrees {
                        eprintln!(
                            "error: the proof is valid but leads to 0x{}, not the claimed post_state",
                            hex(&post)
                        );
                        std::process::exit(1);
                    }
                }
                Err(e) => {
                    if json {
                        println!("{}", json!({"valid": false, "error": e.to_string()}));
                    }
                    eprintln!("error: invalid proof: {e}");
                    std::process::exit(1);
                }
            }
        }
        ModelCommand::Trace {
            artifact,
            input,
            every,
            out,
            json,
        } => {
            if every == 0 {
                bail!("--every must be at least 1");
            }
            let (vm, region) = open_vm(&artifact, &input)?;
            let n = vm.artifact().manifest.steps;
            let mut m = vm.initial(&region);
            let mut c = vm.committer();
            let bar = indicatif::ProgressBar::new(n);
            if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let mut lines = String::new();
            let mut count = 0;
            loop {
                let state = hex(&c.state_hash(&mut m));
                lines.push_str(&format!("{{\"step\":{},\"state\":\"{state}\"}}\n", m.step));
                count += 1;
                if !m.is_running() {
                    break;
                }
                m.run(every);
                bar.set_position(m.step);
            }
            bar.finish_and_clear();
            std::fs::write(&out, lines)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            if json {
                println!("{}", json!({"states": count, "steps": n, "out": out}));
            } else {
                println!("{count} state hashes over {n} steps -> {}", out.display());
            }
        }
        ModelCommand::Inspect { artifact, json } => {
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
            // the breakdown a dispute report gives, so the two counts read alike
            let with_steps = m.layers.iter().filter(|l| runs_steps(l)).count();
            println!(
                "layers     {}{} ({} instructions per inference)",
                m.layers.len(),
                layer_breakdown(with_steps, m.layers.len())
                    .map_or(String::new(), |b| format!(": {b}")),
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

/// Loads an artifact as a machine and quantizes the inputs into its input region.
fn open_vm(artifact: &std::path::Path, input: &InputArgs) -> Result<(ModelVm, Vec<u8>)> {
    let art = Artifact::load(artifact)?;
    let inputs = input.load(&art, artifact)?;
    let region = Runtime::new(art.clone(), false)?.input_region(&inputs)?;
    let engine = opml_vm::compiler::plans::Engine::from_env()?;
    Ok((opml::with_engine(ModelVm::checked(art)?, engine)?, region))
}

/// The machine at `step` of an inference, with a committer following it.
fn seek(
    artifact: &std::path::Path,
    input: &InputArgs,
    step: u64,
) -> Result<(ModelVm, Machine, Committer)> {
    let (vm, region) = open_vm(artifact, input)?;
    let n = vm.artifact().manifest.steps;
    if step > n {
        bail!(
            "step {step} is beyond the end of the run ({n} steps; the state at step {n} is the halted, final one)"
        );
    }
    let m = vm.state_at(&region, step)?;
    let c = vm.committer();
    Ok((vm, m, c))
}

/// The final state hash and the output region's subtree root, from a wasmtime run.
/// `opml generate`: runs the program, streaming the text unless `json`.
fn generate(
    artifact: &std::path::Path,
    args: &super::inputs::GenerationArgs,
    tokenizer: Option<&std::path::Path>,
    commit: bool,
    engine: opml_vm::compiler::plans::Engine,
    json: bool,
) -> Result<()> {
    use std::io::Write;
    let art = Artifact::load(artifact)?;
    let program = opml::generate::program(&art)?.clone();
    let settings = args.settings(&program);
    let tok = opml::generate::tokenizer(artifact, tokenizer)?;
    let (ids, inputs) = args
        .load(&art, artifact, tokenizer)?
        .expect("a prompt was given");
    let vm = opml::with_engine(ModelVm::checked(art.clone())?, engine)?;
    let rt = vm.runtime()?;
    let region = rt.input_region(&inputs)?;
    let start = Instant::now();
    let mut tokens: Vec<u32> = vec![];
    let mut shown = String::new();
    let mut first_token_ms = None;
    let decode = |ids: &[u32]| {
        tok.decode(ids, true)
            .map_err(|e| anyhow::anyhow!("cannot decode tokens: {e}"))
    };
    if !json {
        print!("{}", args.prompt.as_deref().unwrap_or_default());
        std::io::stdout().flush().ok();
    }
    let (output_region, memory) =
        opml::generate::run(&rt, &region, settings.max_tokens as usize, |_, id| {
            first_token_ms.get_or_insert(start.elapsed().as_millis() as u64);
            tokens.push(id);
            if !json {
                // byte-level pieces may end inside a character: print what decodes whole
                let text = decode(&tokens)?;
                if let Some(new) = text.strip_prefix(shown.as_str()) {
                    print!("{new}");
                    std::io::stdout().flush().ok();
                    shown = text;
                }
            }
            Ok(())
        })?;
    let seconds = start.elapsed().as_secs_f64();
    let finished = opml::generate::tokens_in(&art, &output_region);
    let text = decode(&finished)?;
    let commitments = if commit {
        Some(final_commitments(&vm, memory)?)
    } else {
        rt.recycle(memory);
        None
    };
    let per_second = finished.len() as f64 / seconds.max(1e-9);
    if json {
        println!(
            "{}",
            json!({
                "model_id": art.manifest.model_id, "prompt": args.prompt, "prompt_ids": ids,
                "tokens": finished, "text": text, "max_tokens": settings.max_tokens,
                "seed": settings.seed, "top_k": settings.top_k, "temperature": settings.temperature,
                "steps": art.manifest.steps, "seconds": seconds, "first_token_ms": first_token_ms,
                "tokens_per_second": per_second, "engine": if vm.native().is_some() { "native" } else { "wasm" },
                "final_state": commitments.as_ref().map(|c| &c.0),
                "output_root": commitments.as_ref().map(|c| &c.1),
                "output_hex": format!("0x{}", output_region.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            })
        );
    } else {
        if let Some(rest) = text.strip_prefix(shown.as_str()) {
            print!("{rest}");
        }
        println!();
        eprintln!(
            "{} tokens in {seconds:.2} s ({per_second:.1} tokens/s), {} steps",
            finished.len(),
            art.manifest.steps
        );
        if let Some((state, root)) = commitments {
            eprintln!("final state {state}\noutput root {root}");
        }
    }
    Ok(())
}

fn final_commitments(vm: &ModelVm, memory: Vec<u8>) -> Result<(String, String)> {
    let mut f = vm.final_committed(memory);
    let state = hex(&vm.final_hash(&mut f));
    let (bytes, _, _) = vm.final_output_proof(&mut f);
    let out = &vm.artifact().manifest.outputs;
    Ok((
        state,
        hex(&opml_vm::machine::model::region_root(&bytes, out.size)),
    ))
}

/// `verify-step --evm`: the Rust verifier and the committed Solidity verifier
/// (in revm) on the same proof. Exit 3 when they disagree, 1 when both reject
/// or both accept a post-state other than the claimed one.
fn verify_step_evm(
    pre: &[u8; 32],
    proof: &[u8],
    claimed: Option<[u8; 32]>,
    json: bool,
) -> Result<()> {
    use opml_onchain::verifier::{EvmVerifier, VerifierError};
    let rust = verify_step(pre, proof);
    let mut verifier = EvmVerifier::new().context("cannot deploy the EVM verifier")?;
    let evm = verifier.run(pre, proof);
    let agree = rust
        .clone()
        .map_err(|e| VerifierError::from_proof_error(&e))
        == evm.result;
    let gas = &evm.gas;
    if json {
        let rust_json = match &rust {
            Ok(post) => json!({"valid": true, "post_state": hex(post)}),
            Err(e) => json!({"valid": false, "error": e.to_string(),
                "error_name": VerifierError::from_proof_error(e).name()}),
        };
        let mut evm_json = match &evm.result {
            Ok(post) => json!({"valid": true, "post_state": hex(post)}),
            Err(e) => json!({"valid": false, "error": e.to_string(), "error_name": e.name()}),
        };
        evm_json["gas"] =
            json!({"total": gas.total, "calldata": gas.calldata, "execution": gas.execution});
        evm_json["calldata_bytes"] = json!(evm.calldata_bytes);
        evm_json["code_size"] = json!(verifier.code_size());
        let post = rust.as_ref().ok();
        let valid = agree && post.is_some_and(|p| claimed.is_none_or(|c| &c == p));
        println!(
            "{}",
            json!({"valid": valid, "agree": agree, "pre_state": hex(pre),
                "post_state": post.map(hex), "claimed_post_state": claimed.map(|c| hex(&c)),
                "rust": rust_json, "evm": evm_json})
        );
    } else {
        match &rust {
            Ok(post) => println!("rust: valid proof: 0x{} -> 0x{}", hex(pre), hex(post)),
            Err(e) => println!("rust: invalid proof: {e}"),
        }
        match &evm.result {
            Ok(post) => print!("evm:  valid proof: 0x{} -> 0x{}", hex(pre), hex(post)),
            Err(e) => print!("evm:  invalid proof: {} ({e})", e.name()),
        }
        println!(
            " [gas {} execution + {} calldata + 21000 = {} total; {} bytes of calldata]",
            gas.execution, gas.calldata, gas.total, evm.calldata_bytes
        );
    }
    if !agree {
        eprintln!("error: the Rust and the EVM verifiers disagree on this proof");
        std::process::exit(3);
    }
    match rust {
        Ok(post) if claimed.is_some_and(|c| c != post) => {
            eprintln!(
                "error: the proof is valid but leads to 0x{}, not the claimed post_state",
                hex(&post)
            );
            std::process::exit(1);
        }
        Ok(_) => Ok(()),
        Err(e) => {
            eprintln!("error: invalid proof (in both verifiers): {e}");
            std::process::exit(1);
        }
    }
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// An output as `run --json` gives it: integers as integers, booleans as booleans.
fn output_json(o: &OutputTensor) -> serde_json::Value {
    let values = match o.dtype {
        DType::Float32 => json!(o.values),
        DType::Int64 => json!(o.raw.iter().map(|&v| i64::from(v)).collect::<Vec<_>>()),
        DType::Bool => json!(o.raw.iter().map(|&v| v != 0).collect::<Vec<_>>()),
    };
    json!({"name": o.name, "shape": o.shape, "dtype": o.dtype, "values": values})
}

/// Element `i` of `o` as `run` prints it.
fn element_text(o: &OutputTensor, i: usize) -> String {
    match o.dtype {
        DType::Float32 => format!("{:.5}", o.values[i]),
        DType::Int64 => o.raw[i].to_string(),
        DType::Bool => (o.raw[i] != 0).to_string(),
    }
}

/// A class the model's outputs name.
struct Prediction {
    class: i64,
    /// The output it comes from.
    from: String,
    /// How, for the text form.
    how: String,
}

/// The prediction, only where one output says it: an integer output of one
/// element named like a label (the model's own class, as skl2onnx's `label`),
/// else the argmax of a float output that is one vector (`[C]` or `[1, C]`,
/// C >= 2) named like class scores. A name is label- or score-like when it
/// contains `label`, `class`, `pred`, `logit`, `prob` or `score`. Anything else
/// (an embedding, a hidden state, an image) has no prediction: its argmax
/// means nothing.
fn prediction(outputs: &[OutputTensor]) -> Option<Prediction> {
    let classy = |name: &str| {
        let n = name.to_lowercase();
        ["label", "class", "pred", "logit", "prob", "score"]
            .iter()
            .any(|w| n.contains(w))
    };
    let label = outputs
        .iter()
        .find(|o| o.dtype == DType::Int64 && o.raw.len() == 1 && classy(&o.name));
    if let Some(o) = label {
        return Some(Prediction {
            class: i64::from(o.raw[0]),
            from: o.name.clone(),
            how: format!("the model's `{}`", o.name),
        });
    }
    let vector = |o: &&OutputTensor| match o.shape.as_slice() {
        [c] | [1, c] => *c >= 2,
        _ => false,
    };
    let scores = outputs
        .iter()
        .filter(|o| o.dtype == DType::Float32)
        .filter(vector)
        .find(|o| classy(&o.name))?;
    Some(Prediction {
        class: argmax(&scores.values) as i64,
        from: scores.name.clone(),
        how: format!("argmax of `{}`", scores.name),
    })
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
