//! Replaying a dispute for researchers: a game file (`opml dispute export`)
//! checked against its own rules and signatures, then against the honest
//! trace of the model on the request's input, down to the decisive step,
//! which is re-verified in Rust and in the Solidity verifier (revm).
//!
//! [`replay`] is offline: it reads nothing from a chain. Everything it
//! reports is in [`Replay`], which the text output, `--json` and the HTML
//! report (`crate::report`) all render.

use crate::dispute::{GameFile, MoveRecord};
use alloy::primitives::{Address, B256, Bytes, U256};
use anyhow::{Context, Result, bail};
use opml_agents::player::boundaries;
use opml_vm::artifact::{Artifact, LayerInfo, Manifest};
use opml_vm::compiler::onnx::ShapeBindings;
use opml_vm::compiler::{CompileOptions, compile_file};
use opml_vm::machine::model::ModelVm;
use opml_vm::machine::{Op, verify_step};
use opml_vm::trace::{TraceProvider, VmTrace};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// A party of a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The submitter of the claim.
    Defender,
    /// Who challenged it.
    Challenger,
}

impl Role {
    /// `"defender"` or `"challenger"`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Defender => "defender",
            Role::Challenger => "challenger",
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Defender => Role::Challenger,
            Role::Challenger => Role::Defender,
        }
    }
}

/// Everything a replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    /// The game.
    pub game_id: u64,
    /// Chain id of the game.
    pub chain_id: u64,
    /// The game file's version.
    pub file_version: u32,
    /// What the file's own checks covered (they passed: a failing file is refused).
    pub checks: Vec<String>,
    /// The model and its layer map.
    pub model: ModelMap,
    /// The honest run on the request's input and how the claim compares.
    pub honest: HonestRun,
    /// Both parties.
    pub defender: PartyReport,
    /// See `defender`.
    pub challenger: PartyReport,
    /// Every move as a round of the bisection, in chain order.
    pub rounds: Vec<Round>,
    /// Where the losing (or the lying) party's trace first leaves the honest one.
    pub first_divergence: Option<Divergence>,
    /// The step the game narrowed to, decoded and re-verified.
    pub decisive: Option<DecisiveStep>,
    /// The claimed output against the honest one, in float terms.
    pub output_diff: Option<OutputDiff>,
    /// Who won, who should have, and why.
    pub verdict: Verdict,
    /// Bonds and what the market paid.
    pub money: Money,
}

/// The model: its id, size and layers (for the layer map).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelMap {
    /// Registry id.
    pub id: B256,
    /// Model name.
    pub name: String,
    /// Steps per inference.
    pub steps: u64,
    /// Layers that run steps, in order.
    pub layers: Vec<LayerSpan>,
    /// Layers the manifest lists, as `opml inspect` counts them: `layers` and
    /// those that run no step (reshapes that only rename memory).
    pub manifest_layers: usize,
}

impl ModelMap {
    /// `163 layers (145 with steps, 18 reshapes that only rename memory)`:
    /// the manifest's count, as `opml inspect` gives it, and what the layer
    /// map shows.
    pub fn layers_text(&self) -> String {
        layers_text(self.layers.len(), self.manifest_layers)
    }
}

/// A layer the replay's layer map shows: one that runs steps. The others have
/// no function: reshapes that only rename memory.
pub fn runs_steps(l: &LayerInfo) -> bool {
    l.function.is_some() && l.steps > 0
}

/// `163 layers (145 with steps, 18 reshapes that only rename memory)`, or
/// `5 layers` when all run steps.
pub fn layers_text(with_steps: usize, listed: usize) -> String {
    match layer_breakdown(with_steps, listed) {
        Some(b) => format!("{listed} layers ({b})"),
        None => format!("{listed} layer{}", if listed == 1 { "" } else { "s" }),
    }
}

/// `145 with steps, 18 reshapes that only rename memory`; `None` when every
/// layer runs steps.
pub fn layer_breakdown(with_steps: usize, listed: usize) -> Option<String> {
    let renames = listed.saturating_sub(with_steps);
    (renames > 0).then(|| {
        format!(
            "{with_steps} with steps, {renames} reshape{} that only rename{} memory",
            if renames == 1 { "" } else { "s" },
            if renames == 1 { "s" } else { "" }
        )
    })
}

/// One layer's steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSpan {
    /// Layer name.
    pub name: String,
    /// ONNX op types.
    pub ops: Vec<String>,
    /// ONNX nodes.
    pub nodes: Vec<String>,
    /// First step.
    pub start: u64,
    /// One past the last step.
    pub end: u64,
}

/// The honest run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HonestRun {
    /// State at step 0 (matches the request's and the game's start).
    pub initial_state: B256,
    /// Honest final state.
    pub final_state: B256,
    /// Honest step count.
    pub steps: u64,
    /// The claim's final state is the honest one.
    pub claim_final_state_true: bool,
    /// The claim's step count is the honest one.
    pub claim_steps_true: bool,
    /// The claim's output bytes are the honest ones.
    pub claim_output_true: bool,
}

/// One party.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartyReport {
    /// Its role.
    pub role: Role,
    /// Its address.
    pub address: Address,
    /// Moves it sent.
    pub moves: usize,
    /// State hashes it posted (its own, not the ones it adopted from the opponent).
    pub points: usize,
    /// How many of them are not the honest state.
    pub false_points: usize,
    /// The first round with a false point (index into `rounds`).
    pub first_false_round: Option<usize>,
    /// The lowest step of its false points (or of its false assertion at the decisive step).
    pub first_false_step: Option<u64>,
    /// The highest step below `first_false_step` where a state it posted is honest.
    pub last_true_step: Option<u64>,
    /// Gas of its moves.
    pub gas_used: u64,
    /// Seconds of its chess clock used.
    pub clock_used: u64,
    /// It asserted nothing false.
    pub honest: bool,
}

/// One move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// Position in the game (0 is the first dissection).
    pub index: usize,
    /// `dissect`, `respond` or `step`.
    pub kind: String,
    /// Who moved.
    pub mover: Role,
    /// Block.
    pub block: u64,
    /// Its timestamp.
    pub timestamp: u64,
    /// Transaction.
    pub tx: B256,
    /// Gas used.
    pub gas_used: u64,
    /// The part of the previous dissection the move named.
    pub part: Option<u64>,
    /// The interval in dispute after the move: the dissected segment, or the proven step `[i, i + 1]`.
    pub lo: u64,
    /// See `lo`.
    pub hi: u64,
    /// The points of the move (for a step: the agreed pre-state and the asserted post-state).
    pub points: Vec<Point>,
    /// Seconds left on both clocks after the move (defender, challenger).
    pub clocks_left: (u64, u64),
}

/// One state hash of a move, judged against the honest trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Its step.
    pub step: u64,
    /// The hash posted.
    pub hash: B256,
    /// The honest state at that step.
    pub honest: B256,
    /// They are equal.
    pub true_state: bool,
    /// Who posted it: the mover (a response's first point is the opponent's, which
    /// the mover adopts); for a step, the asserter of the proven part.
    pub by: Role,
}

/// Where a party's trace leaves the honest one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// The party.
    pub party: Role,
    /// The last step where its states are known to be honest.
    pub after: u64,
    /// The first step where one is known to be false.
    pub at: u64,
    /// `after + 1 == at`: the first divergent step is `at` exactly.
    pub exact: bool,
    /// The layer that executes step `at - 1 -> at`.
    pub layer: Option<String>,
    /// Its ONNX nodes.
    pub nodes: Vec<String>,
    /// For a generation program: the new token whose computation holds the
    /// step (0 is the first; its computation includes the prompt's).
    pub token: Option<usize>,
}

/// The decisive step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisiveStep {
    /// The step executed (`step -> step + 1`).
    pub step: u64,
    /// Whether a one-step proof was sent on chain (else the game ended on a clock
    /// with the interval narrowed to this step, and the honest proof is verified).
    pub proven_on_chain: bool,
    /// Who sent the proof.
    pub prover: Option<Role>,
    /// Layer, ONNX op types and nodes.
    pub layer: Option<String>,
    /// See `layer`.
    pub ops: Vec<String>,
    /// See `layer`.
    pub nodes: Vec<String>,
    /// For a generation program: the new token whose computation holds the
    /// step (0 is the first; its computation includes the prompt's).
    pub token: Option<usize>,
    /// Machine status before the step (`running`, `halted`, `trapped`).
    pub status: String,
    /// Program counter.
    pub pc: u32,
    /// Lowered instruction.
    pub instruction: String,
    /// Its immediates.
    pub immediates: (u32, u64),
    /// Values it pops (top first).
    pub operands: Vec<u64>,
    /// Values it pushes.
    pub results: Vec<u64>,
    /// Memory it loads or stores.
    pub memory: Option<MemoryAccess>,
    /// Agreed pre-state.
    pub pre_state: B256,
    /// The honest post-state.
    pub honest_post: B256,
    /// The post-state the asserting party claimed.
    pub asserted_post: B256,
    /// The verifier's post-state recorded on chain.
    pub chain_post: Option<B256>,
    /// The proof's size.
    pub proof_bytes: usize,
    /// The proof is the one the honest trace writes.
    pub proof_is_honest: bool,
    /// Rust verifier's post-state (or its error).
    pub rust: VerifierRun,
    /// Solidity verifier's, in revm, with gas.
    pub evm: VerifierRun,
}

/// A memory access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryAccess {
    /// `load` or `store`.
    pub kind: String,
    /// Byte address.
    pub address: u64,
    /// Bytes.
    pub width: u64,
    /// Memory leaves (32 bytes) it touches.
    pub leaves: Vec<u64>,
    /// The bytes before and after, hex.
    pub before: String,
    /// See `before`.
    pub after: String,
    /// The tensor region it lies in, when the manifest names one.
    pub region: Option<String>,
}

/// One verifier on the decisive step's proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifierRun {
    /// The post-state it computed.
    pub post: Option<B256>,
    /// Its error.
    pub error: Option<String>,
    /// Gas (EVM only): total, execution, calldata.
    pub gas: Option<(u64, u64, u64)>,
}

/// Claimed against honest outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputDiff {
    /// Elements in all output tensors.
    pub elements: usize,
    /// How many differ.
    pub differing: usize,
    /// Largest absolute difference in float terms.
    pub max_abs: f64,
    /// Per tensor.
    pub tensors: Vec<TensorDiff>,
}

/// One output tensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorDiff {
    /// Name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Elements that differ.
    pub differing: usize,
    /// Largest absolute difference.
    pub max_abs: f64,
    /// The differing elements, at most [`MAX_LISTED`].
    pub listed: Vec<ElementDiff>,
}

/// Elements of a tensor diff listed by name.
pub const MAX_LISTED: usize = 64;

/// One output element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementDiff {
    /// Flat index.
    pub index: usize,
    /// Claimed value.
    pub claimed: f64,
    /// Honest value.
    pub honest: f64,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// `defender_won`, `challenger_won`, `cancelled`, or `live`.
    pub contract: String,
    /// By the loser's clock.
    pub by_timeout: bool,
    /// Who played the honest trace, so should win (none when both lied).
    pub expected_winner: Option<Role>,
    /// The contract named the expected winner (true for a cancelled or live game).
    pub agrees: bool,
    /// One sentence why.
    pub reason: String,
}

/// Bonds, and every transfer of the outcome as the market's events record it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Money {
    /// The claim's stake for games.
    pub stake: U256,
    /// The submitter's bond.
    pub submitter_bond: U256,
    /// The challenger's bond.
    pub challenger_bond: U256,
    /// Who `GameSettled` credited.
    pub winner: Option<Address>,
    /// What `GameSettled` credited (the challenger's bond included when it won).
    pub payout: U256,
    /// Everything the outcome burnt: `GameSettled`'s and `ClaimVoided`'s.
    pub burned: U256,
    /// Every credit and burn of the outcome, one per amount an event records.
    pub transfers: Vec<Transfer>,
    /// Money that moved without an event recording its amount, and events
    /// the game file lacks (a file older than version 3).
    pub unrecorded: Vec<String>,
    /// Gas of all moves.
    pub gas_used: u64,
}

/// One amount of an outcome, from one of the market's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// The event: `GameSettled`, `ClaimVoided` or `GameClosed`.
    pub event: String,
    /// Who was credited (its `withdrawable` balance); `None` for a burn.
    pub to: Option<Address>,
    /// Its role in this game, when it has one.
    pub party: Option<Role>,
    /// Wei.
    pub amount: U256,
    /// What the amount is.
    pub what: String,
}

/// The model of a replay: an artifact directory, or an ONNX file compiled
/// here with the default options and `shapes` (`--input-shape`, as `opml
/// compile` takes it), named by [`model_name`].
pub fn load_model(path: &Path, shapes: &ShapeBindings) -> Result<Arc<ModelVm>> {
    let mut art = if path.is_dir() {
        if !shapes.inputs.is_empty() {
            bail!(
                "--input-shape applies to an ONNX model, but `{}` is an artifact directory, whose input shapes were fixed when it was compiled: drop --input-shape",
                path.display()
            );
        }
        Artifact::load(path)?
    } else if path.extension().is_some_and(|e| e == "onnx") {
        let opts = CompileOptions {
            input_shapes: shapes.clone(),
            ..CompileOptions::default()
        };
        compile_file(path, &opts)
            .with_context(|| format!("cannot compile `{}` for the replay", path.display()))?
    } else {
        bail!(
            "`{}` is neither an artifact directory nor an .onnx file",
            path.display()
        );
    };
    // The name is not part of the model's id, so naming it here changes nothing the game committed to.
    art.manifest.name = model_name(path, &art.manifest.name);
    let engine = opml_vm::compiler::plans::Engine::from_env()?;
    Ok(Arc::new(crate::with_engine(
        ModelVm::checked(art)?,
        engine,
    )?))
}

/// The name a replay shows for the model given at `path`: the manifest's
/// (the stem of the ONNX file it was compiled from), unless that is the
/// conventional `model` of `model.onnx`, which names nothing; then the
/// folder's: the artifact directory, or the ONNX file's folder.
pub fn model_name(path: &Path, manifest_name: &str) -> String {
    if !manifest_name.is_empty() && manifest_name != "model" {
        return manifest_name.to_string();
    }
    let folder = if path.is_dir() {
        Some(path.to_path_buf())
    } else {
        path.parent().map(Path::to_path_buf)
    };
    folder
        .and_then(|f| f.canonicalize().ok())
        .and_then(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| manifest_name.to_string())
}

/// For a generation program, the new token whose computation holds `step`.
pub fn token_at(m: &Manifest, step: u64) -> Option<usize> {
    m.generation.as_ref()?.token_at(step)
}

/// The layer whose calls execute `step`, if any (between calls the entry function runs).
pub fn layer_at(m: &Manifest, step: u64) -> Option<&LayerInfo> {
    m.layers
        .iter()
        .filter(|l| l.function.is_some())
        .find(|l| l.start_step <= step && step < l.start_step + l.steps)
}

/// Checks a game file against its signed transactions (version 2) and the
/// game's rules; returns what was checked, or every problem found.
pub fn check_file(f: &GameFile) -> std::result::Result<Vec<String>, Vec<String>> {
    let mut problems = vec![];
    let mut checks = vec![];
    let (signed, relayed) = signed_moves(f, &mut problems);
    if f.version >= 2 {
        checks.push(format!(
            "{} of {} moves carry their signed transaction: it hashes to the move's `tx`, its signer is the mover, it calls this game's contract on chain {} (or its `multicall`, or the market's `challengeManyAndPlay` / `topUpAndPlay`), and its calldata carries the move",
            signed - relayed,
            f.moves.len(),
            f.chain_id
        ));
        if relayed > 0 {
            checks.push(format!(
                "{relayed} moves were made by a contract (the mover) that the transaction's signer called: their transaction is authentic and for chain {}, but only the chain binds it to the move; replay with --game ID to read those moves from the chain",
                f.chain_id
            ));
        }
    } else {
        checks.push(format!(
            "version {} file: its moves carry no signed transactions, so a changed move is caught only where it breaks the game's rules",
            f.version
        ));
    }
    rule_problems(f, &mut problems);
    checks.push(
        "the game's rules: the opening matches the request and the claim, every move is the right party's, every dissection splits the named part at the contract's boundaries, and the one-step proof verifies to the recorded post-state and verdict"
            .into(),
    );
    if problems.is_empty() {
        Ok(checks)
    } else {
        Err(problems)
    }
}

/// Checks each move's signed transaction; returns how many moves had one, and
/// how many of those a contract made (the mover is a contract the signer called,
/// so the calldata is the contract's and cannot be matched offline).
fn signed_moves(f: &GameFile, problems: &mut Vec<String>) -> (usize, usize) {
    use alloy::consensus::transaction::SignerRecoverable as _;
    use alloy::consensus::{Transaction as _, TxEnvelope};
    use alloy::eips::eip2718::Decodable2718;
    use alloy::sol_types::SolCall;
    use opml_onchain::bindings::DisputeGame;
    let mut signed = 0;
    let mut relayed = 0;
    let mut points = vec![f.game.start, f.game.end];
    for (i, m) in f.moves.iter().enumerate() {
        let expected_points = std::mem::replace(
            &mut points,
            if m.kind == "step" {
                vec![]
            } else {
                m.points.clone()
            },
        );
        let Some(raw) = &m.raw_tx else {
            if f.version >= 2 {
                problems.push(format!("move {i} has no signed transaction (`raw_tx`)"));
            }
            continue;
        };
        signed += 1;
        let mut bad = |what: String| problems.push(format!("move {i} ({}): {what}", m.kind));
        if alloy::primitives::keccak256(raw) != m.tx {
            bad("its signed transaction does not hash to its `tx`".into());
            continue;
        }
        let env = match TxEnvelope::decode_2718(&mut raw.as_ref()) {
            Ok(e) => e,
            Err(e) => {
                bad(format!("its signed transaction does not decode ({e})"));
                continue;
            }
        };
        if env.chain_id() != Some(f.chain_id) {
            bad(format!("it is for chain {:?}", env.chain_id()));
        }
        let signer = match env.recover_signer() {
            Ok(a) => a,
            Err(e) => {
                bad(format!("its signature does not recover ({e})"));
                continue;
            }
        };
        // The game accepts a move only from its party, so a transaction to
        // another contract, signed by someone else, is a contract (the mover)
        // playing for its owner: authentic, but its calldata is the contract's.
        let calls =
            opml_onchain::bindings::game_calls(env.to(), env.input(), f.market, f.dispute_game);
        if calls.is_empty() && signer != m.mover {
            relayed += 1;
            continue;
        }
        if signer != m.mover {
            bad(format!(
                "it was signed by {signer}, not by the mover {}",
                m.mover
            ));
        }
        if calls.is_empty() {
            bad(format!(
                "it calls {:?}, neither the dispute game nor a market call that carries moves",
                env.to()
            ));
        }
        let id = U256::from(f.game_id);
        let part = m.part.map(U256::from);
        let is_move = |data: &Bytes| match m.kind.as_str() {
            "dissect" => DisputeGame::dissectCall::abi_decode(data)
                .is_ok_and(|c| c.gameId == id && c.points == m.points),
            "respond" => DisputeGame::respondCall::abi_decode(data).is_ok_and(|c| {
                c.gameId == id
                    && c.points == expected_points
                    && Some(c.part) == part
                    && c.newPoints == m.points
            }),
            "step" => DisputeGame::stepCall::abi_decode(data).is_ok_and(|c| {
                c.gameId == id
                    && c.points == expected_points
                    && Some(c.part) == part
                    && m.step.as_ref().is_some_and(|s| s.proof == c.proof)
            }),
            _ => false,
        };
        if !matches!(m.kind.as_str(), "dissect" | "respond" | "step") {
            bad(format!("unknown kind `{}`", m.kind));
            continue;
        }
        let matches = calls.iter().any(is_move);
        if !matches {
            bad("its calldata is not this move: the file's points, part or proof differ from what was sent".into());
        }
    }
    (signed, relayed)
}

/// Where a game stands between moves.
struct Walk {
    points: Vec<B256>,
    lo: u64,
    hi: u64,
    /// Who posted `points` (the defender before the first dissection).
    asserter: Role,
    /// The defender's first dissection is due.
    opening: bool,
}

impl Walk {
    fn new(f: &GameFile) -> Walk {
        Walk {
            points: vec![f.game.start, f.game.end],
            lo: 0,
            hi: f.game.steps,
            asserter: Role::Defender,
            opening: f.game.steps > 1,
        }
    }

    fn to_move(&self) -> Role {
        if self.opening {
            Role::Defender
        } else {
            self.asserter.other()
        }
    }

    /// The segment of `part` of the current dissection.
    fn part(&self, part: u64, arity: u64) -> Option<(u64, u64)> {
        let at = boundaries(self.lo, self.hi, arity);
        let p = part as usize;
        (p + 1 < at.len() && self.points.len() == at.len()).then(|| (at[p], at[p + 1]))
    }
}

fn address_of(f: &GameFile, r: Role) -> Address {
    match r {
        Role::Defender => f.game.defender,
        Role::Challenger => f.game.challenger,
    }
}

/// The rules `DisputeGame` enforced, checked again on the file.
fn rule_problems(f: &GameFile, problems: &mut Vec<String>) {
    let mut bad = |s: String| problems.push(s);
    if f.game.start != f.request.initial_state {
        bad("the game's start is not the request's initial state".into());
    }
    if f.game.end != f.claim.final_state || f.game.steps != f.claim.steps {
        bad("the game's end (state and steps) is not the claim's".into());
    }
    let arity = f.params.arity;
    let mut w = Walk::new(f);
    let mut ended = false;
    for (i, m) in f.moves.iter().enumerate() {
        let mut bad = |s: String| bad(format!("move {i} ({}): {s}", m.kind));
        if ended {
            bad("it comes after the game's one-step proof".into());
            continue;
        }
        let mover = w.to_move();
        if m.mover != address_of(f, mover) {
            bad(format!(
                "it was sent by {}, but the {} was to move",
                m.mover,
                mover.name()
            ));
        }
        if i > 0 && m.block < f.moves[i - 1].block {
            bad("it is in an earlier block than the move before it".into());
        }
        match m.kind.as_str() {
            "dissect" => {
                if !w.opening {
                    bad("only the game's first move is a dissection".into());
                }
                let at = boundaries(w.lo, w.hi, arity);
                if (m.lo, m.hi) != (Some(w.lo), Some(w.hi)) || m.points.len() != at.len() {
                    bad(format!(
                        "it does not split [{}, {}] into the contract's {} parts",
                        w.lo,
                        w.hi,
                        at.len() - 1
                    ));
                } else if m.points[0] != w.points[0] || m.points[at.len() - 1] != w.points[1] {
                    bad("its ends are not the game's start and end".into());
                }
                w.points = m.points.clone();
                w.opening = false;
            }
            "respond" | "step" => {
                if w.opening {
                    bad("the first dissection is due".into());
                }
                let Some((a, b)) = m.part.and_then(|p| w.part(p, arity)) else {
                    bad(format!("part {:?} is not a part of the dissection", m.part));
                    continue;
                };
                let p = m.part.unwrap_or_default() as usize;
                if m.kind == "respond" {
                    if (m.lo, m.hi) != (Some(a), Some(b)) || b - a < 2 {
                        bad(format!(
                            "its segment is not part {p}, [{a}, {b}], of several steps"
                        ));
                    }
                    if m.points.len() != boundaries(a, b, arity).len()
                        || m.points.first() != Some(&w.points[p])
                        || m.points.last() == Some(&w.points[p + 1])
                    {
                        bad(
                            "its points do not start at the named part's start and dispute its end"
                                .into(),
                        );
                    }
                    w.points = m.points.clone();
                    (w.lo, w.hi) = (a, b);
                    w.asserter = mover;
                } else {
                    ended = true;
                    let Some(s) = &m.step else {
                        bad("it has no proof".into());
                        continue;
                    };
                    if b - a != 1 || s.index != a {
                        bad(format!(
                            "it proves step {}, but the part is [{a}, {b}]",
                            s.index
                        ));
                    }
                    if s.pre_state != w.points[p] || s.asserted_post != w.points[p + 1] {
                        bad("its pre- and asserted post-state are not the part's ends".into());
                    }
                    match verify_step(&s.pre_state.0, &s.proof) {
                        Ok(post) if post == s.verified_post.0 => {}
                        Ok(post) => bad(format!(
                            "the proof verifies to 0x{}, not to the recorded post-state {}",
                            opml_vm::machine::model::hex(&post),
                            s.verified_post
                        )),
                        Err(e) => bad(format!("the proof does not verify: {e}")),
                    }
                    let responder_wins = s.verified_post != s.asserted_post;
                    let defender_won = responder_wins != (w.asserter == Role::Defender);
                    if let Some(o) = &f.outcome {
                        let want = if defender_won {
                            "defender_won"
                        } else {
                            "challenger_won"
                        };
                        if o.status != want || o.by_timeout {
                            bad(format!(
                                "the proof decides `{want}`, but the outcome says `{}`",
                                o.status
                            ));
                        }
                    }
                }
            }
            other => bad(format!("unknown kind `{other}`")),
        }
    }
}

/// Replays a game file against the honest trace of `vm` on the request's input.
///
/// A file that fails [`check_file`] is refused with every problem listed;
/// so is a model other than the game's.
pub fn replay(f: &GameFile, vm: Arc<ModelVm>) -> Result<Replay> {
    let checks = check_file(f).map_err(|problems| {
        anyhow::anyhow!(
            "the game file fails its checks (changed after export, or not written by `opml dispute export`):\n  - {}",
            problems.join("\n  - ")
        )
    })?;
    let manifest = vm.artifact().manifest.clone();
    // the registry's id (a keccak commitment), not the manifest's blake3 content id
    let id = opml_vm::machine::model::unhex(&opml_vm::machine::model::model_id(&manifest))
        .map(B256::from)
        .context("the artifact's manifest has no model commitment")?;
    if id != f.model_id {
        bail!(
            "the game is about model {}, but this artifact is model {id}: pass the artifact the publisher registered (an ONNX file compiles to it only with the same options)",
            f.model_id
        );
    }
    let trace = VmTrace::open(vm, &f.request.input)?;
    let initial = B256::from(trace.initial_state());
    if initial != f.request.initial_state {
        bail!(
            "with the request's input this model starts in state {initial}, but the request records {}: the file's input or initial state is not this model's",
            f.request.initial_state
        );
    }
    let honest_claim = trace.claim().clone();
    let rounds_steps = round_steps(f);
    let mut wanted: Vec<u64> = rounds_steps.iter().flatten().copied().collect();
    let step_move = f.moves.iter().find_map(|m| m.step.as_ref());
    if let Some(s) = step_move {
        wanted.extend([s.index, s.index + 1]);
    }
    wanted.push(f.claim.steps);
    wanted.sort_unstable();
    wanted.dedup();
    let hashes = trace.state_hashes(&wanted)?;
    let honest_at = |s: u64| B256::from(hashes[wanted.binary_search(&s).expect("queried")]);

    let rounds = rounds(f, &rounds_steps, &honest_at);
    let honest = HonestRun {
        initial_state: initial,
        final_state: B256::from(honest_claim.final_state),
        steps: honest_claim.steps,
        claim_final_state_true: honest_at(f.claim.steps) == f.claim.final_state,
        claim_steps_true: f.claim.steps == honest_claim.steps,
        claim_output_true: f.claim.output.as_ref() == &honest_claim.output[..],
    };
    let mut defender = party(f, Role::Defender, &rounds);
    let mut challenger = party(f, Role::Challenger, &rounds);
    // The one who proves a step says its own state after it differs from the
    // asserted one; when the asserted one is honest, that is a false assertion.
    if let Some((s, stepper)) = f.moves.iter().find_map(|m| {
        let s = m.step.as_ref()?;
        Some((
            s,
            if m.mover == f.game.defender {
                Role::Defender
            } else {
                Role::Challenger
            },
        ))
    }) && s.asserted_post == honest_at(s.index + 1)
        && s.pre_state == honest_at(s.index)
    {
        let p = match stepper {
            Role::Defender => &mut defender,
            Role::Challenger => &mut challenger,
        };
        p.first_false_step = Some(
            p.first_false_step
                .map_or(s.index + 1, |x| x.min(s.index + 1)),
        );
        p.last_true_step = Some(p.last_true_step.map_or(s.index, |x| x.max(s.index)));
        p.honest = false;
    }
    defender.honest &= honest.claim_final_state_true;
    // Disputing a claim that is the honest trace is itself a false assertion.
    let defender_honest = defender.honest;
    challenger.honest &= !defender_honest;
    let expected_winner = if defender_honest {
        Some(Role::Defender)
    } else if challenger.honest {
        Some(Role::Challenger)
    } else {
        None
    };
    let verdict = verdict(f, expected_winner, &defender, &challenger);
    let loser = match verdict.contract.as_str() {
        "defender_won" => Some(Role::Challenger),
        "challenger_won" => Some(Role::Defender),
        _ => None,
    };
    let liar = [loser, Some(Role::Defender), Some(Role::Challenger)]
        .into_iter()
        .flatten()
        .find(|r| match r {
            Role::Defender => defender.first_false_step.is_some(),
            Role::Challenger => challenger.first_false_step.is_some(),
        });
    let first_divergence = liar.map(|r| {
        let p = if r == Role::Defender {
            &defender
        } else {
            &challenger
        };
        let at = p.first_false_step.expect("a liar");
        let after = p.last_true_step.unwrap_or(0);
        let layer = layer_at(&manifest, at - 1);
        Divergence {
            party: r,
            after,
            at,
            exact: after + 1 == at,
            layer: layer.map(|l| l.name.clone()),
            nodes: layer.map(|l| l.nodes.clone()).unwrap_or_default(),
            token: token_at(&manifest, at - 1),
        }
    });
    let decisive = f
        .moves
        .iter()
        .find(|m| m.step.is_some())
        .map(|m| decisive(f, m, &trace, &manifest, &honest_at))
        .transpose()?;
    let output_diff = (!honest.claim_output_true)
        .then(|| output_diff(&manifest, &f.claim.output, &honest_claim.output));
    let gas_used = f.moves.iter().map(|m| m.gas_used).sum();
    Ok(Replay {
        game_id: f.game_id,
        chain_id: f.chain_id,
        file_version: f.version,
        checks,
        model: ModelMap {
            id,
            name: manifest.name.clone(),
            steps: manifest.steps,
            layers: manifest
                .layers
                .iter()
                .filter(|l| runs_steps(l))
                .map(|l| LayerSpan {
                    name: l.name.clone(),
                    ops: l.ops.clone(),
                    nodes: l.nodes.clone(),
                    start: l.start_step,
                    end: l.start_step + l.steps,
                })
                .collect(),
            manifest_layers: manifest.layers.len(),
        },
        honest,
        defender,
        challenger,
        rounds,
        first_divergence,
        decisive,
        output_diff,
        verdict,
        money: money(f, gas_used),
    })
}

/// The bonds and the outcome's transfers, amounts as the file's events record
/// them (never derived from the parameters: the market's split depends on
/// games this file does not hold).
pub fn money(f: &GameFile, gas_used: u64) -> Money {
    let party = |a: Address| {
        if a == f.game.defender {
            Some(Role::Defender)
        } else if a == f.game.challenger {
            Some(Role::Challenger)
        } else {
            None
        }
    };
    let credit = |event: &str, to: Address, amount: U256, what: &str| Transfer {
        event: event.into(),
        to: Some(to),
        party: party(to),
        amount,
        what: what.into(),
    };
    let burn = |event: &str, amount: U256, what: &str| Transfer {
        event: event.into(),
        to: None,
        party: None,
        amount,
        what: what.into(),
    };
    let mut transfers = vec![];
    let mut unrecorded = vec![];
    let o = f.outcome.as_ref();
    if let Some(o) = o {
        let defender_won = o.status == "defender_won";
        if let Some(winner) = o.winner {
            transfers.push(credit(
                "GameSettled",
                winner,
                o.payout,
                if defender_won {
                    "out of the challenger's bond: the defender's allowance for its transactions and the unburnt rest"
                } else {
                    "the challenger's bond back and the game's stake"
                },
            ));
            if defender_won {
                transfers.push(burn(
                    "GameSettled",
                    o.burned,
                    "the burnt share of the challenger's bond beyond the defender's allowance",
                ));
                unrecorded.push(
                    "the game's stake went back to whoever backed it: the claim's free stake, or the challenger if the defender never matched the game (no event records the amount)"
                        .into(),
                );
            }
        }
        if let Some(v) = &o.voided {
            transfers.push(credit(
                "ClaimVoided",
                v.beneficiary,
                v.bounty,
                "the bounty: the unburnt part of the submitter's bond, less the shares of the claim's games the defender never matched",
            ));
            transfers.push(burn(
                "ClaimVoided",
                v.burned,
                "the burnt part of the submitter's bond",
            ));
            unrecorded.push(
                "the claim's free stake not backing a game went back to the submitter (no event records the amount)"
                    .into(),
            );
        }
        if let Some(c) = &o.closed {
            transfers.push(credit(
                "GameClosed",
                c.challenger,
                c.payout,
                "another game had voided the claim: the challenger's bond back, the game's stake, and its share of the voided bond if the defender never matched the game",
            ));
        }
        let may_void = o.status != "defender_won";
        if may_void
            && o.voided.is_none()
            && o.closed.is_none()
            && f.version < crate::dispute::VOIDED_RECORDED_SINCE
        {
            unrecorded.push(format!(
                "this version {} game file does not record the market's `ClaimVoided` and `GameClosed`, so the submitter's bond's bounty and burnt part are not shown: export the game again, or replay with --game ID",
                f.version
            ));
        }
    }
    Money {
        stake: f.claim.stake,
        submitter_bond: f.params.submitter_bond,
        challenger_bond: f.params.challenger_bond,
        winner: o.and_then(|o| o.winner),
        payout: o.map_or(U256::ZERO, |o| o.payout),
        burned: transfers
            .iter()
            .filter(|t| t.to.is_none())
            .map(|t| t.amount)
            .sum(),
        transfers,
        unrecorded,
        gas_used,
    }
}

impl Money {
    /// Wei credited to `a` by the outcome.
    pub fn credited_to(&self, a: Address) -> U256 {
        self.transfers
            .iter()
            .filter(|t| t.to == Some(a))
            .map(|t| t.amount)
            .sum()
    }

    /// The money as text: the bonds, each transfer with its event, what no
    /// event records, and the totals per account.
    pub fn lines(&self) -> Vec<String> {
        use opml_onchain::protocol::format_ether as eth;
        let who = |a: Address, r: Option<Role>| match r {
            Some(r) => format!("the {} {a}", r.name()),
            None => a.to_string(),
        };
        let mut out = vec![format!(
            "money: stake {}, bonds {} (submitter) / {} (challenger); {} gas in all",
            eth(self.stake),
            eth(self.submitter_bond),
            eth(self.challenger_bond),
            self.gas_used
        )];
        for t in &self.transfers {
            out.push(match t.to {
                Some(a) => format!(
                    "  {}: {} to {} ({})",
                    t.event,
                    eth(t.amount),
                    who(a, t.party),
                    t.what
                ),
                None => format!("  {}: {} burnt ({})", t.event, eth(t.amount), t.what),
            });
        }
        for u in &self.unrecorded {
            out.push(format!("  not shown: {u}"));
        }
        if !self.transfers.is_empty() {
            let credited: Vec<String> = self
                .credited()
                .into_iter()
                .map(|(a, r)| format!("{} to {}", eth(self.credited_to(a)), who(a, r)))
                .collect();
            out.push(format!(
                "  in all: {}{}{} burnt",
                credited.join(", "),
                if credited.is_empty() { "" } else { "; " },
                eth(self.burned)
            ));
        } else if self.unrecorded.is_empty() {
            out.push("  no transfer: the game has no settlement on record".into());
        }
        out
    }

    /// The addresses credited, in the order of their first transfer.
    pub fn credited(&self) -> Vec<(Address, Option<Role>)> {
        let mut seen: Vec<(Address, Option<Role>)> = vec![];
        for t in &self.transfers {
            if let Some(a) = t.to
                && !seen.iter().any(|(s, _)| *s == a)
            {
                seen.push((a, t.party));
            }
        }
        seen
    }
}

/// The steps of each move's points (for a step: the proven step and the next).
fn round_steps(f: &GameFile) -> Vec<Vec<u64>> {
    let mut lo_hi = (0, f.game.steps);
    f.moves
        .iter()
        .map(|m| match (&m.step, m.lo, m.hi) {
            (Some(s), ..) => vec![s.index, s.index + 1],
            (None, Some(lo), Some(hi)) => {
                lo_hi = (lo, hi);
                boundaries(lo_hi.0, lo_hi.1, f.params.arity)
            }
            _ => vec![],
        })
        .collect()
}

fn rounds(f: &GameFile, steps: &[Vec<u64>], honest_at: &dyn Fn(u64) -> B256) -> Vec<Round> {
    let budget = f.params.clock_budget;
    let mut used = (0u64, 0u64);
    let mut last = f.game.timestamp;
    let mut w = Walk::new(f);
    f.moves
        .iter()
        .zip(steps)
        .enumerate()
        .map(|(index, (m, at))| {
            let mover = w.to_move();
            let elapsed = m.timestamp.saturating_sub(last);
            last = m.timestamp;
            match mover {
                Role::Defender => used.0 += elapsed,
                Role::Challenger => used.1 += elapsed,
            }
            let hashes: Vec<B256> = match &m.step {
                Some(s) => vec![s.pre_state, s.asserted_post],
                None => m.points.clone(),
            };
            // a step's points are the asserter's, from its dissection
            let by = if m.step.is_some() { w.asserter } else { mover };
            let points = at
                .iter()
                .zip(hashes)
                .map(|(&step, hash)| {
                    let honest = honest_at(step);
                    Point {
                        step,
                        hash,
                        honest,
                        true_state: hash == honest,
                        by,
                    }
                })
                .collect();
            let (lo, hi) = match (&m.step, m.lo, m.hi) {
                (Some(s), ..) => (s.index, s.index + 1),
                (None, Some(lo), Some(hi)) => (lo, hi),
                _ => (w.lo, w.hi),
            };
            if m.step.is_none() {
                (w.lo, w.hi, w.asserter, w.opening) = (lo, hi, mover, false);
            }
            Round {
                index,
                kind: m.kind.clone(),
                mover,
                block: m.block,
                timestamp: m.timestamp,
                tx: m.tx,
                gas_used: m.gas_used,
                part: m.part,
                lo,
                hi,
                points,
                clocks_left: (budget.saturating_sub(used.0), budget.saturating_sub(used.1)),
            }
        })
        .collect()
}

fn party(f: &GameFile, role: Role, rounds: &[Round]) -> PartyReport {
    let own: Vec<(usize, &Point)> = rounds
        .iter()
        .filter(|r| r.kind != "step")
        .flat_map(|r| r.points.iter().map(move |p| (r.index, p)))
        .filter(|(_, p)| p.by == role)
        .collect();
    let false_points: Vec<&(usize, &Point)> = own.iter().filter(|(_, p)| !p.true_state).collect();
    let first_false_step = false_points.iter().map(|(_, p)| p.step).min();
    let last_true_step = own
        .iter()
        .filter(|(_, p)| p.true_state && first_false_step.is_none_or(|s| p.step < s))
        .map(|(_, p)| p.step)
        .max();
    let address = address_of(f, role);
    let mine = rounds.iter().filter(|r| r.mover == role);
    let budget = f.params.clock_budget;
    let left = rounds.last().map_or((budget, budget), |r| r.clocks_left);
    PartyReport {
        role,
        address,
        moves: mine.clone().count(),
        points: own.len(),
        false_points: false_points.len(),
        first_false_round: false_points.iter().map(|(r, _)| *r).min(),
        first_false_step,
        last_true_step,
        gas_used: mine.map(|r| r.gas_used).sum(),
        clock_used: budget
            - match role {
                Role::Defender => left.0,
                Role::Challenger => left.1,
            },
        honest: false_points.is_empty(),
    }
}

fn verdict(
    f: &GameFile,
    expected: Option<Role>,
    defender: &PartyReport,
    challenger: &PartyReport,
) -> Verdict {
    let contract = f
        .outcome
        .as_ref()
        .map_or("live".to_string(), |o| o.status.clone());
    let by_timeout = f.outcome.as_ref().is_some_and(|o| o.by_timeout);
    let agrees = match (contract.as_str(), expected) {
        ("defender_won", Some(r)) => r == Role::Defender,
        ("challenger_won", Some(r)) => r == Role::Challenger,
        _ => true,
    };
    let describe = |p: &PartyReport| match p.first_false_step {
        Some(s) => format!(
            "the {}'s states are false from step {s} on ({} of its {} points false)",
            p.role.name(),
            p.false_points,
            p.points
        ),
        None => format!("the {} posted no false state", p.role.name()),
    };
    let reason = match expected {
        Some(Role::Defender) => format!(
            "the claim is the honest trace and every state the defender posted is honest; {}",
            describe(challenger)
        ),
        Some(Role::Challenger) => format!(
            "every state the challenger posted is honest; {}",
            describe(defender)
        ),
        None => format!(
            "neither party played the honest trace: {}; {}",
            describe(defender),
            describe(challenger)
        ),
    };
    Verdict {
        contract,
        by_timeout,
        expected_winner: expected,
        agrees,
        reason,
    }
}

fn decisive(
    f: &GameFile,
    m: &MoveRecord,
    trace: &VmTrace,
    manifest: &Manifest,
    honest_at: &dyn Fn(u64) -> B256,
) -> Result<DecisiveStep> {
    let s = m.step.as_ref().expect("a step move");
    let i = s.index;
    let before = trace.machine_at(i)?;
    let mut after = before.clone();
    after.step();
    let running = before.is_running();
    let ins = before
        .code
        .get(before.pc as usize)
        .copied()
        .filter(|_| running);
    let shape = ins.map(|x| x.op.shape());
    let top = |stack: &[u64], n: u8| stack.iter().rev().take(n as usize).copied().collect();
    let operands: Vec<u64> = shape.map_or(vec![], |sh| top(&before.stack, sh.pops));
    let results = match shape {
        Some(sh) if after.is_running() || after.status == opml_vm::machine::Status::Halted => {
            top(&after.stack, sh.pushes)
        }
        _ => vec![],
    };
    let memory = ins.filter(|x| x.op.shape().memory).and_then(|x| {
        memory_access(
            x.op,
            x.b,
            &operands,
            &before.memory,
            &after.memory,
            manifest,
        )
    });
    let layer = layer_at(manifest, i);
    let rust = match verify_step(&s.pre_state.0, &s.proof) {
        Ok(post) => VerifierRun {
            post: Some(B256::from(post)),
            error: None,
            gas: None,
        },
        Err(e) => VerifierRun {
            post: None,
            error: Some(e.to_string()),
            gas: None,
        },
    };
    let mut evm = opml_onchain::verifier::EvmVerifier::new()
        .context("cannot deploy the Solidity verifier in revm")?;
    let run = evm.run(&s.pre_state.0, &s.proof);
    let evm = VerifierRun {
        post: run.result.as_ref().ok().map(|p| B256::from(*p)),
        error: run
            .result
            .as_ref()
            .err()
            .map(|e| format!("{} ({e})", e.name())),
        gas: Some((run.gas.total, run.gas.execution, run.gas.calldata)),
    };
    let honest_proof = trace.step_proof(i)?;
    Ok(DecisiveStep {
        step: i,
        proven_on_chain: true,
        prover: Some(if m.mover == f.game.defender {
            Role::Defender
        } else {
            Role::Challenger
        }),
        layer: layer.map(|l| l.name.clone()),
        ops: layer.map(|l| l.ops.clone()).unwrap_or_default(),
        nodes: layer.map(|l| l.nodes.clone()).unwrap_or_default(),
        token: token_at(manifest, i),
        status: format!("{:?}", before.status).to_lowercase(),
        pc: before.pc,
        instruction: ins.map_or(
            "(none: the machine is stopped, a fixed point)".into(),
            |x| x.op.name().to_string(),
        ),
        immediates: ins.map_or((0, 0), |x| (x.a, x.b)),
        operands,
        results,
        memory,
        pre_state: s.pre_state,
        honest_post: honest_at(i + 1),
        asserted_post: s.asserted_post,
        chain_post: Some(s.verified_post),
        proof_bytes: s.proof.len(),
        proof_is_honest: honest_proof == s.proof.as_ref(),
        rust,
        evm,
    })
}

/// The bytes a load or store touches: `address = operand + offset` (a store's
/// address is below its value on the stack).
fn memory_access(
    op: Op,
    offset: u64,
    operands: &[u64],
    before: &[u8],
    after: &[u8],
    manifest: &Manifest,
) -> Option<MemoryAccess> {
    let store = op.name().contains("store");
    let base = *operands.get(if store { 1 } else { 0 })?;
    let address = (base as u32 as u64).checked_add(offset)?;
    let width = opml_vm::machine::proof::width(op);
    let end = address.checked_add(width)? as usize;
    if end > before.len() {
        return None;
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let region = [&manifest.inputs, &manifest.outputs]
        .into_iter()
        .flat_map(|r| r.tensors.iter())
        .find(|t| t.offset as u64 <= address && address < t.offset as u64 + t.size)
        .map(|t| t.name.clone());
    Some(MemoryAccess {
        kind: if store { "store" } else { "load" }.into(),
        address,
        width,
        leaves: (address / 32..=(end as u64 - 1) / 32).collect(),
        before: hex(&before[address as usize..end]),
        after: hex(&after[address as usize..end]),
        region,
    })
}

fn output_diff(manifest: &Manifest, claimed: &[u8], honest: &[u8]) -> OutputDiff {
    let claimed = opml_vm::runtime::outputs_from_region(manifest, claimed);
    let honest = opml_vm::runtime::outputs_from_region(manifest, honest);
    let tensors: Vec<TensorDiff> = claimed
        .iter()
        .zip(&honest)
        .map(|(c, h)| {
            let diffs: Vec<ElementDiff> = c
                .values
                .iter()
                .zip(&h.values)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(index, (&claimed, &honest))| ElementDiff {
                    index,
                    claimed,
                    honest,
                })
                .collect();
            TensorDiff {
                name: c.name.clone(),
                shape: c.shape.clone(),
                differing: diffs.len(),
                max_abs: diffs
                    .iter()
                    .map(|d| (d.claimed - d.honest).abs())
                    .fold(0.0, f64::max),
                listed: diffs.into_iter().take(MAX_LISTED).collect(),
            }
        })
        .collect();
    OutputDiff {
        elements: honest.iter().map(|t| t.values.len()).sum(),
        differing: tensors.iter().map(|t| t.differing).sum(),
        max_abs: tensors.iter().map(|t| t.max_abs).fold(0.0, f64::max),
        tensors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispute::{ClaimRecord, Closed, GameRecord, Outcome, RequestRecord, Voided};
    use opml_onchain::protocol::MarketParams;

    const DEFENDER: Address = Address::repeat_byte(0xde);
    const CHALLENGER: Address = Address::repeat_byte(0xc4);

    fn milli(n: u64) -> U256 {
        U256::from(n) * U256::from(1_000_000_000_000_000u64)
    }

    /// A game file with no moves and `outcome`: `money` reads only the outcome
    /// and the parameters.
    fn game(version: u32, outcome: Option<Outcome>) -> GameFile {
        GameFile {
            version,
            chain_id: 31_337,
            market: Address::repeat_byte(0xaa),
            dispute_game: Address::repeat_byte(0xbb),
            params: MarketParams {
                submitter_bond: milli(1_000),
                challenger_bond: milli(100),
                burn_bps: 5_000,
                ..MarketParams::default()
            },
            game_id: 1,
            model_id: B256::repeat_byte(1),
            request: RequestRecord {
                id: 1,
                requester: Address::repeat_byte(0x11),
                fee: milli(10),
                initial_state: B256::repeat_byte(2),
                input: Bytes::new(),
                block: 1,
            },
            claim: ClaimRecord {
                id: 1,
                submitter: DEFENDER,
                final_state: B256::repeat_byte(3),
                steps: 100,
                output: Bytes::new(),
                stake: milli(44),
                block: 2,
            },
            game: GameRecord {
                defender: DEFENDER,
                challenger: CHALLENGER,
                start: B256::repeat_byte(2),
                end: B256::repeat_byte(3),
                steps: 100,
                block: 3,
                timestamp: 1_700_000_000,
            },
            moves: vec![],
            outcome,
        }
    }

    fn outcome(status: &str, winner: Address, payout: U256, burned: U256) -> Outcome {
        Outcome {
            status: status.into(),
            by_timeout: false,
            block: 9,
            winner: Some(winner),
            payout,
            burned,
            voided: None,
            closed: None,
        }
    }

    fn amounts(m: &Money) -> Vec<(&str, Option<Address>, U256)> {
        m.transfers
            .iter()
            .map(|t| (t.event.as_str(), t.to, t.amount))
            .collect()
    }

    /// The challenger won and voided the claim: its bond and the game's stake
    /// (`GameSettled`), the bounty and the burnt half of the liar's bond
    /// (`ClaimVoided`), with the amounts the events recorded, not what the
    /// parameters would give (here the bounty is short of half the bond, as
    /// when unmatched games took their shares).
    #[test]
    fn a_voided_claim_shows_the_bounty_and_the_burnt_bond() {
        let mut o = outcome("challenger_won", CHALLENGER, milli(122), U256::ZERO);
        o.voided = Some(Voided {
            beneficiary: CHALLENGER,
            bounty: milli(492),
            burned: milli(500),
        });
        let m = money(&game(3, Some(o)), 1_234);
        assert_eq!(
            amounts(&m),
            [
                ("GameSettled", Some(CHALLENGER), milli(122)),
                ("ClaimVoided", Some(CHALLENGER), milli(492)),
                ("ClaimVoided", None, milli(500)),
            ]
        );
        assert_eq!(m.burned, milli(500));
        assert_eq!(m.credited_to(CHALLENGER), milli(614));
        assert!(m.transfers[1].what.contains("bounty"), "{m:?}");
        assert_eq!(m.transfers[1].party, Some(Role::Challenger));
        assert!(m.unrecorded[0].contains("free stake"), "{m:?}");
        let text = m.lines().join("\n");
        for want in [
            "ClaimVoided: 0.492 ETH to the challenger",
            "ClaimVoided: 0.5 ETH burnt (the burnt part of the submitter's bond)",
            "in all: 0.614 ETH to the challenger",
            "; 0.5 ETH burnt",
            "1234 gas in all",
        ] {
            assert!(text.contains(want), "no {want:?} in:\n{text}");
        }
        assert!(!text.contains(" 0 ETH burnt"), "{text}");
    }

    /// The defender won: the challenger's bond pays it and the burn; nothing is voided.
    #[test]
    fn a_defender_win_shows_the_challengers_bond_split() {
        let o = outcome("defender_won", DEFENDER, milli(58), milli(42));
        let m = money(&game(3, Some(o)), 0);
        assert_eq!(
            amounts(&m),
            [
                ("GameSettled", Some(DEFENDER), milli(58)),
                ("GameSettled", None, milli(42)),
            ]
        );
        assert_eq!(m.burned, milli(42));
        assert_eq!(m.transfers[0].party, Some(Role::Defender));
        assert!(m.transfers[1].what.contains("challenger's bond"), "{m:?}");
        assert!(m.unrecorded[0].contains("game's stake"), "{m:?}");
        let text = m.lines().join("\n");
        assert!(text.contains("in all: 0.058 ETH to the defender"), "{text}");
    }

    /// A game of a claim another game voided (ended or closed): only `GameClosed`.
    #[test]
    fn a_closed_game_shows_the_challengers_payout() {
        for status in ["challenger_won", "cancelled"] {
            let o = Outcome {
                status: status.into(),
                by_timeout: false,
                block: 9,
                winner: None,
                payout: U256::ZERO,
                burned: U256::ZERO,
                voided: None,
                closed: Some(Closed {
                    challenger: CHALLENGER,
                    payout: milli(126),
                }),
            };
            let m = money(&game(3, Some(o)), 0);
            assert_eq!(
                amounts(&m),
                [("GameClosed", Some(CHALLENGER), milli(126))],
                "{status}"
            );
            assert_eq!(m.burned, U256::ZERO);
            assert!(m.unrecorded.is_empty(), "{status}: {m:?}");
        }
    }

    /// A file older than version 3 has no `ClaimVoided`: the replay says the
    /// bond's split is missing instead of showing nothing burnt as a fact.
    #[test]
    fn an_old_file_says_the_voided_bond_is_not_recorded() {
        let o = outcome("challenger_won", CHALLENGER, milli(122), U256::ZERO);
        let m = money(&game(2, Some(o.clone())), 0);
        assert_eq!(amounts(&m).len(), 1);
        let text = m.lines().join("\n");
        assert!(
            text.contains("version 2 game file does not record the market's `ClaimVoided`")
                && text.contains("export the game again"),
            "{text}"
        );
        // version 3: no `ClaimVoided` means none was emitted for this game
        let m = money(&game(3, Some(o)), 0);
        assert!(m.unrecorded.is_empty(), "{m:?}");
        // a live game moved nothing
        let m = money(&game(3, None), 0);
        assert!(m.transfers.is_empty() && m.unrecorded.is_empty());
        assert!(m.lines().join("\n").contains("no transfer"));
    }

    /// Version 3 files round-trip with the voided bond; version 2 files (no
    /// `voided`, `closed`) still load.
    #[test]
    fn game_files_keep_the_voided_bond() {
        let mut o = outcome("challenger_won", CHALLENGER, milli(122), U256::ZERO);
        o.voided = Some(Voided {
            beneficiary: CHALLENGER,
            bounty: milli(492),
            burned: milli(500),
        });
        let f = game(crate::dispute::GAME_FILE_VERSION, Some(o));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("game.json");
        std::fs::write(&path, serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(GameFile::load(&path).unwrap(), f);
        let mut v = serde_json::to_value(&f).unwrap();
        v["version"] = 2.into();
        v["outcome"].as_object_mut().unwrap().remove("voided");
        std::fs::write(&path, v.to_string()).unwrap();
        let old = GameFile::load(&path).unwrap();
        assert_eq!(old.outcome.unwrap().voided, None);
        v["version"] = 4.into();
        std::fs::write(&path, v.to_string()).unwrap();
        let e = GameFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("version 4") && e.contains("[1, 2, 3]"), "{e}");
    }

    #[test]
    fn a_model_is_named_by_its_manifest_or_its_folder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let onnx = root.join("fixtures/minilm_tiny/model.onnx");
        assert_eq!(model_name(&onnx, "model"), "minilm_tiny");
        assert_eq!(model_name(&onnx, "minilm-l6"), "minilm-l6");
        let dir = root.join("fixtures/cnn_digits");
        assert_eq!(model_name(&dir, "model"), "cnn_digits");
        assert_eq!(
            model_name(
                &root.join("fixtures/errors/dynamic_dim.onnx"),
                "dynamic_dim"
            ),
            "dynamic_dim"
        );
    }

    #[test]
    fn layer_counts_say_what_they_count() {
        assert_eq!(layers_text(5, 5), "5 layers");
        assert_eq!(
            layers_text(113, 128),
            "128 layers (113 with steps, 15 reshapes that only rename memory)"
        );
        assert_eq!(
            layers_text(6, 7),
            "7 layers (6 with steps, 1 reshape that only renames memory)"
        );
    }
}
