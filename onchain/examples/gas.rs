//! Gas of the Solidity one-step verifier, per opcode family, over the
//! fixtures' proofs (every step of the smallest fixture, seeded windows of
//! consecutive steps of the others), with proof and calldata sizes, and over
//! the golden vectors (every opcode and edge case).
//!
//! `cargo run --release -p opml-onchain --example gas -- [--quick] [--write docs/BENCHMARKS.md]`
//!
//! Prints a markdown section; `--write PATH` (relative to the workspace root)
//! puts it between `<!-- BEGIN verifier-gas -->` and `<!-- END verifier-gas -->`
//! in PATH, appending the block when the markers are absent; the rest of the
//! file is left as it is. Exits 1 when a step gets different outcomes from the
//! Rust and the EVM verifiers.

#[allow(dead_code)]
#[path = "../../vm/tests/common/mod.rs"]
mod fixtures;

use opml_onchain::report::{Family, Summary, replace_section};
use opml_onchain::verifier::{EvmVerifier, rust_step};
use opml_vm::machine::difftest::Rng;
use opml_vm::machine::{Op, StepProof, prove};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const BEGIN: &str = "<!-- BEGIN verifier-gas -->";
const END: &str = "<!-- END verifier-gas -->";
const SMALLEST: &str = "logreg_digits";
const LARGER: &[&str] = &["mlp_digits", "cnn_digits", "mlp784", "transformer_block"];
/// Proof size target (bytes of the encoded proof).
const PROOF_TARGET: usize = 2048;

/// One measured step.
struct Sample {
    op: Op,
    execution: u64,
    total: u64,
    proof: usize,
    calldata: usize,
}

impl Sample {
    /// The gas and sizes of one accepted step.
    fn of(op: Op, out: &opml_onchain::verifier::StepOutcome, proof: &[u8]) -> Sample {
        Sample {
            op,
            execution: out.gas.execution,
            total: out.gas.total,
            proof: proof.len(),
            calldata: out.calldata_bytes,
        }
    }
}

struct Args {
    quick: bool,
    write: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        quick: false,
        write: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => out.quick = true,
            "--write" => {
                let p = PathBuf::from(it.next().ok_or("`--write` needs a path")?);
                let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                    .canonicalize()
                    .map_err(|e| e.to_string())?;
                out.write = Some(if p.is_absolute() { p } else { root.join(p) });
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` (expected --quick, --write PATH)"
                ));
            }
        }
    }
    Ok(out)
}

fn command(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    // `just build` compiles every target for testing; test runners (nextest) ask this harness-less
    // example for its tests with `--list`: there are none.
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let args = args()?;
    let start = Instant::now();
    let mut evm = EvmVerifier::new().map_err(|e| e.to_string())?;
    let (windows, per_window) = if args.quick {
        (2u64, 200u64)
    } else {
        (5, 1_000)
    };
    let mut samples: Vec<Sample> = vec![];
    let mut per_fixture: Vec<(String, usize)> = vec![];
    let mut mismatches: Vec<String> = vec![];
    for (k, &name) in std::iter::once(&SMALLEST).chain(LARGER).enumerate() {
        eprintln!("gas: {name}");
        let (vm, region, _) = fixtures::fixture_vm(name);
        let n = vm.artifact().manifest.steps;
        let starts: Vec<(u64, u64)> = if name == SMALLEST {
            vec![(0, n)]
        } else {
            let mut rng = Rng::new(0x6a5 + k as u64);
            (0..windows)
                .map(|_| (rng.next_u64() % (n - per_window), per_window))
                .collect()
        };
        let before = samples.len();
        for (s, len) in starts {
            let mut m = vm.state_at(&region, s).map_err(|e| e.to_string())?;
            let mut c = vm.committer();
            let mut pre = c.state_hash(&mut m);
            for _ in 0..len {
                let op = m.code[m.pc as usize].op;
                let step = m.step;
                let proof = prove(&mut c, &mut m).encode();
                m.step();
                let post = c.state_hash(&mut m);
                let out = evm.run(&pre, &proof);
                let rust = rust_step(&pre, &proof);
                if out.result == rust && rust == Ok(post) {
                    samples.push(Sample::of(op, &out, &proof));
                } else {
                    mismatches.push(format!(
                        "{name} step {step} ({}): rust {rust:?}, evm {:?}",
                        op.name(),
                        out.result
                    ));
                }
                pre = post;
            }
        }
        per_fixture.push((name.to_string(), samples.len() - before));
    }

    // every opcode and edge case: the golden vectors of vm/tests/opcodes.rs
    let golden_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test/vectors/golden.json");
    let mut golden: Vec<Sample> = vec![];
    {
        let text = std::fs::read_to_string(&golden_path)
            .map_err(|e| format!("{}: {e} (run `just contracts`)", golden_path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let unhex = |v: &serde_json::Value| -> Vec<u8> {
            let s = v.as_str().unwrap_or("").trim_start_matches("0x");
            (0..s.len() / 2)
                .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
                .collect()
        };
        for v in json["vectors"].as_array().into_iter().flatten() {
            let pre: [u8; 32] = unhex(&v["pre"]).try_into().map_err(|_| "bad golden pre")?;
            let proof = unhex(&v["proof"]);
            let Some(op) = StepProof::decode(&proof)
                .ok()
                .and_then(|p| p.witness.map(|w| w.instr.op))
            else {
                continue; // a fixed point
            };
            let out = evm.run(&pre, &proof);
            if out.result == rust_step(&pre, &proof) && out.result.is_ok() {
                golden.push(Sample::of(op, &out, &proof));
            } else {
                mismatches.push(format!("golden vector {}: evm {:?}", v["name"], out.result));
            }
        }
    }

    let mut by_family: BTreeMap<Family, Vec<&Sample>> = BTreeMap::new();
    let mut by_op: BTreeMap<Op, Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        by_family.entry(Family::of(s.op)).or_default().push(s);
        by_op.entry(s.op).or_default().push(s);
    }
    let summary = |v: &[&Sample], f: fn(&Sample) -> u64| {
        Summary::of(&mut v.iter().map(|s| f(s)).collect::<Vec<_>>())
    };

    let mut t = String::new();
    let w = &mut t;
    let _ = writeln!(w, "## One-step verifier gas\n");
    let _ = writeln!(
        w,
        "Generated by `cargo run --release -p opml-onchain --example gas -- --write docs/BENCHMARKS.md`{} on {}, in {:.1} s.\n",
        if args.quick { " (quick mode)" } else { "" },
        command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown date".into()),
        start.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        w,
        "- CPU: {}, {} cores",
        cpu(),
        command("nproc", &[]).unwrap_or_else(|| "?".into())
    );
    let dirty = command("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    let _ = writeln!(
        w,
        "- source: git {}{}",
        command("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        w,
        "- verifier: `onchain/artifacts/OneStepVerifier.json`, {} bytes of runtime code, deployed for {} gas; run in revm 43 under Cancun rules",
        thousands(evm.code_size() as u64),
        thousands(evm.deploy_gas().total)
    );
    let _ = writeln!(
        w,
        "- steps: {} ({}); every step of `{SMALLEST}`, {windows} seeded windows of {per_window} consecutive steps of each other fixture\n",
        thousands(samples.len() as u64),
        per_fixture
            .iter()
            .map(|(f, n)| format!("`{f}` {}", thousands(*n as u64)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if evm.code_size() < 1024 {
        let _ = writeln!(
            w,
            "**The committed verifier is the skeleton ({} bytes of code): these numbers are not the verifier's.**\n",
            evm.code_size()
        );
    }
    if !mismatches.is_empty() {
        let _ = writeln!(
            w,
            "**{} steps got different outcomes from the Rust and the EVM verifiers and are left out** (first: {}).\n",
            mismatches.len(),
            mismatches[0]
        );
    }
    let _ = writeln!(
        w,
        "Gas of one `step(preState, proof)` call. *Execution* is what the verifier's code spends: the transaction's gas less the 21,000 base and the calldata gas; *transaction* is the whole gas of a transaction calling `step` directly. The targets apply to execution gas and are checked against the maximum: <= 60,000 for memory instructions, <= 30,000 for the others. For scale, one step of Optimism's MIPS verifier (Cannon) costs about 123,000-162,000 gas.\n"
    );
    let _ = writeln!(
        w,
        "| family | steps | execution median | execution max | target | met | transaction median | transaction max | proof bytes median | proof bytes max |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for f in Family::ALL {
        let Some(v) = by_family.get(&f) else {
            let _ = writeln!(
                w,
                "| {} | 0 | | | {} | not measured | | | | |",
                f.name(),
                thousands(f.gas_target())
            );
            continue;
        };
        let e = summary(v, |s| s.execution);
        let tx = summary(v, |s| s.total);
        let p = summary(v, |s| s.proof as u64);
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.name(),
            thousands(e.count as u64),
            thousands(e.median),
            thousands(e.max),
            thousands(f.gas_target()),
            if e.max <= f.gas_target() {
                "yes"
            } else {
                "**no**"
            },
            thousands(tx.median),
            thousands(tx.max),
            thousands(p.median),
            thousands(p.max)
        );
    }
    let all: Vec<&Sample> = samples.iter().collect();
    let p = summary(&all, |s| s.proof as u64);
    let cd = summary(&all, |s| s.calldata as u64);
    let e = summary(&all, |s| s.execution);
    let _ = writeln!(
        w,
        "\nAll steps: execution gas median {}, max {}. Proofs: median {} bytes, max {} bytes (target <= {}: {}); calldata of the call (selector and ABI encoding included): median {}, max {} bytes.\n",
        thousands(e.median),
        thousands(e.max),
        thousands(p.median),
        thousands(p.max),
        thousands(PROOF_TARGET as u64),
        if p.max as usize <= PROOF_TARGET {
            "met"
        } else {
            "**not met**"
        },
        thousands(cd.median),
        thousands(cd.max)
    );
    let _ = writeln!(w, "Per opcode, most expensive first:\n");
    let _ = writeln!(
        w,
        "| opcode | family | steps | execution median | execution max | proof bytes max |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|");
    let mut ops: Vec<(Op, Summary, Summary)> = by_op
        .iter()
        .map(|(op, v)| {
            (
                *op,
                summary(v, |s| s.execution),
                summary(v, |s| s.proof as u64),
            )
        })
        .collect();
    ops.sort_by_key(|(op, e, _)| (std::cmp::Reverse(e.max), *op));
    for (op, e, p) in &ops {
        let _ = writeln!(
            w,
            "| `{}` | {} | {} | {} | {} | {} |",
            op.name(),
            Family::of(*op).name(),
            thousands(e.count as u64),
            thousands(e.median),
            thousands(e.max),
            thousands(p.max)
        );
    }
    if golden.is_empty() {
        let _ = writeln!(
            w,
            "\n(No golden vectors at `onchain/test/vectors/golden.json`: every-opcode figures left out.)"
        );
    } else {
        let _ = writeln!(
            w,
            "\nEvery opcode and edge case (traps, leaf-straddling accesses, the last bytes of memory, deep calls): the {} running steps of the golden vectors written by `vm/tests/opcodes.rs`.\n",
            golden.len()
        );
        let _ = writeln!(
            w,
            "| family | vectors | execution median | execution max | most expensive | target | met | proof bytes max |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---|---:|---|---:|");
        let mut fam: BTreeMap<Family, Vec<&Sample>> = BTreeMap::new();
        for s in &golden {
            fam.entry(Family::of(s.op)).or_default().push(s);
        }
        for (f, v) in &fam {
            let e = summary(v, |s| s.execution);
            let worst = v
                .iter()
                .max_by_key(|s| s.execution)
                .map(|s| s.op.name())
                .unwrap_or("");
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | `{worst}` | {} | {} | {} |",
                f.name(),
                e.count,
                thousands(e.median),
                thousands(e.max),
                thousands(f.gas_target()),
                if e.max <= f.gas_target() {
                    "yes"
                } else {
                    "**no**"
                },
                thousands(summary(v, |s| s.proof as u64).max)
            );
        }
    }
    let missing: Vec<&str> = Op::ALL
        .iter()
        .filter(|op| !by_op.contains_key(op))
        .map(|op| op.name())
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            w,
            "\nOpcodes the fixtures do not execute ({}; the golden vectors and the differential fuzz test cover them): {}.",
            missing.len(),
            missing.join(", ")
        );
    }

    print!("{t}");
    for m in mismatches.iter().take(20) {
        eprintln!("MISMATCH {m}");
    }
    if let Some(path) = &args.write {
        let old = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let new = replace_section(&old, BEGIN, END, &t)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("gas: wrote the verifier-gas section of {}", path.display());
    }
    Ok(mismatches.is_empty())
}
