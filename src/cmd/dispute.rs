//! `opml dispute`: games as files for researchers.

use super::chain::{ChainArgs, DeploymentArg};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use opml::dispute::GameFile;
use opml::replay::{Replay, Role};
use opml_vm::compiler::onnx::ShapeBindings;
use std::path::PathBuf;

/// Disputes as files.
#[derive(Subcommand)]
pub(crate) enum DisputeCommand {
    /// Write everything a replay needs about one game (events, the one-step
    /// proof's calldata, the request and the claim) to a versioned JSON file.
    Export {
        /// The game id.
        #[arg(long)]
        game: u64,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Replay a game against the honest trace: round by round, each party's
    /// false points, the first divergent step, the decisive step decoded and
    /// re-verified in Rust and in the Solidity verifier (revm).
    Replay {
        /// A game file of `opml dispute export`; or give `--game` to read it from the chain.
        #[arg(required_unless_present = "game", conflicts_with = "game")]
        file: Option<PathBuf>,
        /// Read game ID from the chain (with `--deployment`, `--rpc`) instead of a file.
        #[arg(long)]
        game: Option<u64>,
        /// The model: the artifact directory the publisher registered, or its ONNX file
        /// (compiled here with the default options and `--input-shape`).
        #[arg(long)]
        model: PathBuf,
        /// Fix an input shape of an ONNX `--model`, as `opml compile` does, e.g.
        /// `input=1x64` (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shape: Vec<String>,
        /// Also write the report as one self-contained HTML page.
        #[arg(long)]
        html: Option<PathBuf>,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print the whole replay as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a dispute command.
pub(crate) async fn run(c: DisputeCommand) -> Result<()> {
    match c {
        DisputeCommand::Export {
            game,
            out,
            chain,
            deployment,
            json,
        } => {
            let chain = chain.connect(false).await?;
            let d = deployment.load(&chain)?;
            let file = opml::dispute::export(&chain, &d, game).await?;
            let text = serde_json::to_string_pretty(&file)?;
            std::fs::write(&out, text + "\n")
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            let status = file.outcome.as_ref().map_or("live", |o| o.status.as_str());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"game": game, "file": out, "moves": file.moves.len(), "status": status})
                );
            } else {
                println!(
                    "game {game}: {} moves, {status}; written to {}",
                    file.moves.len(),
                    out.display()
                );
            }
        }
        DisputeCommand::Replay {
            file,
            game,
            model,
            input_shape,
            html,
            chain,
            deployment,
            json,
        } => {
            let file = match (file, game) {
                (Some(path), _) => GameFile::load(&path)?,
                (None, Some(id)) => {
                    let chain = chain.connect(false).await?;
                    let d = deployment.load(&chain)?;
                    opml::dispute::export(&chain, &d, id).await?
                }
                (None, None) => bail!("give a game file or --game ID"),
            };
            let shapes = ShapeBindings::parse(&input_shape)?;
            if model.extension().is_some_and(|e| e == "onnx") {
                let shapes = input_shape
                    .iter()
                    .map(|s| format!(" --input-shape {s}"))
                    .collect::<String>();
                eprintln!(
                    "compiling {} with the default options{shapes}",
                    model.display()
                );
            }
            let vm = opml::replay::load_model(&model, &shapes)?;
            let r = tokio::task::spawn_blocking(move || opml::replay::replay(&file, vm)).await??;
            if let Some(path) = &html {
                std::fs::write(path, opml::report::html(&r))
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_replay(&r);
                if let Some(path) = &html {
                    println!("report: {}", path.display());
                }
            }
        }
    }
    Ok(())
}

fn short(h: &impl std::fmt::Display) -> String {
    let s = h.to_string();
    format!("{}..{}", &s[..10], &s[s.len() - 4..])
}

/// The replay as text: what a researcher reads first, then round by round.
fn print_replay(r: &Replay) {
    let v = &r.verdict;
    let name = |role: Option<Role>| role.map_or("nobody", Role::name);
    println!(
        "game {} on chain {}: model {} ({}, {} steps in {}), game file version {}",
        r.game_id,
        r.chain_id,
        r.model.name,
        short(&r.model.id),
        r.model.steps,
        r.model.layers_text(),
        r.file_version
    );
    for c in &r.checks {
        println!("  checked: {c}");
    }
    let h = &r.honest;
    println!(
        "claim: final state {}, {}, output {}",
        if h.claim_final_state_true {
            "honest"
        } else {
            "FALSE"
        },
        if h.claim_steps_true {
            format!("{} steps (honest)", h.steps)
        } else {
            format!("steps FALSE (the honest run takes {})", h.steps)
        },
        if h.claim_output_true {
            "honest"
        } else {
            "FALSE"
        }
    );
    println!(
        "verdict: the contract says {}{}; the honest trace says {} should win: {}",
        v.contract,
        if v.by_timeout { " (on time)" } else { "" },
        name(v.expected_winner),
        if v.agrees {
            "they agree"
        } else {
            "THEY DISAGREE"
        }
    );
    println!("  {}", v.reason);
    if let Some(d) = &r.first_divergence {
        println!(
            "first divergent step: the {}'s trace leaves the honest one {} (layer {}{})",
            d.party.name(),
            if d.exact {
                format!("at step {}", d.at)
            } else {
                format!(
                    "after step {} and by step {} (the game did not narrow further)",
                    d.after, d.at
                )
            },
            d.layer.as_deref().unwrap_or("-"),
            if d.nodes.is_empty() {
                String::new()
            } else {
                format!(", nodes {}", d.nodes.join(", "))
            }
        );
    }
    println!("rounds:");
    for round in &r.rounds {
        let wrong: Vec<String> = round
            .points
            .iter()
            .filter(|p| !p.true_state)
            .map(|p| p.step.to_string())
            .collect();
        println!(
            "  {:>2} {:<8} by the {:<10} [{}, {}] ({} step{}){} {} points, {} false{}; gas {}, clocks left {} s / {} s",
            round.index,
            round.kind,
            round.mover.name(),
            round.lo,
            round.hi,
            round.hi - round.lo,
            if round.hi - round.lo == 1 { "" } else { "s" },
            round.part.map_or(String::new(), |p| format!(" part {p},")),
            round.points.len(),
            wrong.len(),
            if wrong.is_empty() {
                String::new()
            } else {
                format!(" (at steps {})", wrong.join(", "))
            },
            round.gas_used,
            round.clocks_left.0,
            round.clocks_left.1
        );
    }
    for p in [&r.defender, &r.challenger] {
        println!(
            "{}: {} moves, {} points, {} false{}; {} gas, {} s of its clock{}",
            p.role.name(),
            p.moves,
            p.points,
            p.false_points,
            match (p.first_false_round, p.first_false_step) {
                (Some(round), Some(s)) => format!(" (from round {round}, step {s})"),
                (None, Some(s)) => format!(" (at the decisive step: step {s})"),
                _ => String::new(),
            },
            p.gas_used,
            p.clock_used,
            if p.honest {
                "; played the honest trace"
            } else {
                ""
            }
        );
    }
    match &r.decisive {
        Some(d) => {
            println!(
                "decisive step {} -> {}: `{}` (a={}, b={}) at pc {}, {}, in layer {} [{}]",
                d.step,
                d.step + 1,
                d.instruction,
                d.immediates.0,
                d.immediates.1,
                d.pc,
                d.status,
                d.layer.as_deref().unwrap_or("run (between layers)"),
                d.ops.join("+")
            );
            if !d.nodes.is_empty() {
                println!("  ONNX nodes {}", d.nodes.join(", "));
            }
            if let Some(t) = d.token {
                println!("  in the computation of generated token {t} (counting from 0)");
            }
            // stack words are u64; show them as the instruction's integer type reads them
            let typed = |vs: &[u64]| {
                let signed: Vec<String> = vs
                    .iter()
                    .map(|&v| match d.instruction.get(..3) {
                        Some("i32") => (v as u32 as i32).to_string(),
                        _ => (v as i64).to_string(),
                    })
                    .collect();
                format!("[{}]", signed.join(", "))
            };
            println!(
                "  operands (top first) {} -> results {}",
                typed(&d.operands),
                typed(&d.results)
            );
            if let Some(m) = &d.memory {
                println!(
                    "  {} of {} bytes at 0x{:x} (leaf {}{}): {} -> {}",
                    m.kind,
                    m.width,
                    m.address,
                    m.leaves
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    m.region
                        .as_ref()
                        .map_or(String::new(), |t| format!(", tensor {t}")),
                    m.before,
                    m.after
                );
            }
            println!(
                "  pre {}; honest post {}; asserted post {}",
                short(&d.pre_state),
                short(&d.honest_post),
                short(&d.asserted_post)
            );
            let run = |v: &opml::replay::VerifierRun| match (&v.post, &v.error) {
                (Some(p), _) => short(p),
                (None, Some(e)) => format!("rejects: {e}"),
                _ => "-".into(),
            };
            println!(
                "  re-verified: Rust {}; Solidity (revm) {}{}; the chain recorded {}",
                run(&d.rust),
                run(&d.evm),
                d.evm.gas.map_or(String::new(), |(t, e, c)| format!(
                    " [{t} gas: {e} execution + {c} calldata + 21000]"
                )),
                d.chain_post.map_or("-".into(), |p| short(&p))
            );
            println!(
                "  proof of {} bytes by the {}{}",
                d.proof_bytes,
                name(d.prover),
                if d.proof_is_honest {
                    ", the one the honest trace writes"
                } else {
                    ", NOT the honest trace's proof"
                }
            );
        }
        None => {
            let last = r.rounds.last();
            println!(
                "no one-step proof: the game ended on a clock{}",
                last.map_or(String::new(), |l| format!(
                    " with [{}, {}] in dispute",
                    l.lo, l.hi
                ))
            );
        }
    }
    if let Some(o) = &r.output_diff {
        println!(
            "output: {} of {} elements differ, by at most {:.6} in float terms",
            o.differing, o.elements, o.max_abs
        );
        for t in &o.tensors {
            for e in t.listed.iter().take(8) {
                println!(
                    "  {}[{}]: claimed {:.6}, honest {:.6} (diff {:+.6})",
                    t.name,
                    e.index,
                    e.claimed,
                    e.honest,
                    e.claimed - e.honest
                );
            }
        }
    }
    for line in r.money.lines() {
        println!("{line}");
    }
}
