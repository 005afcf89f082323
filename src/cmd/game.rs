//! `opml game`: one game by hand, for operators: show it, play the honest
//! move from a local artifact, send the one-step proof, resolve it.
//!
//! The moves are the agents' ([`opml_agents::play::take_turn`] with the
//! trace of the local artifact on the request's input), so a move sent by hand
//! is exactly what an honest agent would have sent. Nothing is sent with
//! `--dry-run`: the transaction is simulated by the node and described.

use super::chain::{ChainArgs, DeploymentArg, FUNDING, RpcTimeout, name, scan_logs};
use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use opml_agents::client::{Chain, ChainError, NoJournal, TxPolicy};
use opml_agents::deploy::{games, market};
use opml_agents::play::{
    GameAt, Turn, TurnError, current_points, encode_move, read_game, take_turn,
};
use opml_agents::player::{GameState, GameStatus, Move, boundaries};
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{Deployment, commitment_of};
use opml_vm::artifact::Artifact;
use opml_vm::machine::model::ModelVm;
use opml_vm::trace::{TraceProvider, VmTrace};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `InferenceMarket.ClaimStatus.Voided`.
const CLAIM_VOIDED: u8 = 2;

/// What every `opml game` subcommand reads the chain with.
#[derive(Args, Debug, Clone)]
pub(crate) struct GameChain {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    deployment: DeploymentArg,
    #[command(flatten)]
    timeout: RpcTimeout,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Sending: the chain, and whether to send at all.
#[derive(Args, Debug, Clone)]
pub(crate) struct Sending {
    #[command(flatten)]
    on: GameChain,
    /// Simulate the transaction and print it; send nothing.
    #[arg(long)]
    dry_run: bool,
}

/// One game by hand.
#[derive(Subcommand)]
pub(crate) enum GameCommand {
    /// The game as the chain holds it: parties, status, clocks, moves, the
    /// current dissection, whose move it is and until when.
    Show {
        /// The game id.
        id: u64,
        #[command(flatten)]
        on: GameChain,
    },
    /// Compute the honest move of the key's party from the local artifact's
    /// trace of the game's request, as the agents do, and send it.
    Move {
        /// The game id.
        id: u64,
        /// The registered artifact directory of the game's model.
        #[arg(long)]
        artifact: PathBuf,
        /// As the defender of a game its challenger backed: games' worth of
        /// stake added to the claim so that the first dissection can match it.
        #[arg(long, default_value_t = 1)]
        top_up_games: u64,
        #[command(flatten)]
        send: Sending,
    },
    /// Send the one-step proof: only when the game is at a single disputed step.
    Step {
        /// The game id.
        id: u64,
        /// The registered artifact directory of the game's model.
        #[arg(long)]
        artifact: PathBuf,
        #[command(flatten)]
        send: Sending,
    },
    /// End a game whose mover's clock ran out (`timeout`), or close a game
    /// whose claim another game voided (`closeGame`); anyone may.
    Resolve {
        /// The game id.
        id: u64,
        #[command(flatten)]
        send: Sending,
    },
}

/// Runs a game command.
pub(crate) async fn run(c: GameCommand) -> Result<()> {
    let timeout = match &c {
        GameCommand::Show { on, .. } => on.timeout,
        GameCommand::Move { send, .. }
        | GameCommand::Step { send, .. }
        | GameCommand::Resolve { send, .. } => send.on.timeout,
    };
    let result = match c {
        GameCommand::Show { id, on } => show(id, &on).await,
        GameCommand::Move {
            id,
            artifact,
            top_up_games,
            send,
        } => play(id, &artifact, top_up_games, false, &send).await,
        GameCommand::Step { id, artifact, send } => play(id, &artifact, 1, true, &send).await,
        GameCommand::Resolve { id, send } => resolve(id, &send).await,
    };
    result.map_err(|e| timeout.explain(e))
}

impl GameChain {
    async fn connect(&self, need_key: bool, watch_only: bool) -> Result<(Chain, Deployment)> {
        let policy = TxPolicy {
            watch_only,
            ..self.timeout.policy()
        };
        let chain = self.chain.connect_with(need_key, policy).await?;
        let d = self.deployment.load(&chain)?;
        Ok((chain, d))
    }
}

/// A game with everything around it, read from the chain.
struct Loaded {
    id: u64,
    state: GameState,
    /// The market's record (claim, funding, settled).
    record: InferenceMarket::GameRef,
    claim_id: u64,
    claim: InferenceMarket::Claim,
    request_id: u64,
    request: InferenceMarket::Request,
    /// Seconds left on each clock now (the contract's `clocks`).
    clocks: (u64, u64),
    /// The latest block and its time.
    head: u64,
    now: u64,
    /// The block of the game's `GameCreated` event.
    created_block: u64,
    /// The game's events, in chain order.
    events: Vec<Log>,
    /// The current dissection and the steps of its points.
    points: Vec<B256>,
    point_steps: Vec<u64>,
    max_moves: u64,
}

impl Loaded {
    /// Whether another game voided the claim while this one is still open:
    /// playing on wins nothing, `closeGame` ends it.
    fn voided_open(&self) -> bool {
        self.claim.status == CLAIM_VOIDED && !self.record.settled
    }

    fn role(&self, a: Address) -> &'static str {
        if a == self.state.defender {
            "defender"
        } else if a == self.state.challenger {
            "challenger"
        } else {
            "nobody"
        }
    }

    /// Every dissection of the game, newest first, the opening `[start, end]` last.
    fn known(&self) -> Vec<Vec<B256>> {
        let mut out: Vec<Vec<B256>> = self
            .events
            .iter()
            .rev()
            .filter_map(|l| DisputeGame::Dissected::decode_log(&l.inner).ok())
            .map(|e| e.data.points)
            .collect();
        out.extend(
            self.events
                .iter()
                .filter_map(|l| DisputeGame::GameCreated::decode_log(&l.inner).ok())
                .map(|e| vec![e.data.start, e.data.end]),
        );
        out
    }

    fn at(&self) -> GameAt {
        GameAt {
            id: self.id,
            created_block: self.created_block,
            known: self.known(),
            scan_from: self.head,
        }
    }
}

/// The game status as `opml game show` and `opml credits` name it.
pub(crate) fn status_name(s: GameStatus) -> &'static str {
    match s {
        GameStatus::None => "none",
        GameStatus::AwaitingDissection => "awaiting_dissection",
        GameStatus::AwaitingResponse => "awaiting_response",
        GameStatus::DefenderWon => "defender_won",
        GameStatus::ChallengerWon => "challenger_won",
        GameStatus::Cancelled => "cancelled",
    }
}

/// Reads game `id`: its state, the market's side, claim and request, and its
/// events (a paged scan back from the head to its creation).
async fn load(chain: &Chain, d: &Deployment, id: u64) -> Result<Loaded> {
    let g = games(chain, d);
    let m = market(chain, d);
    let state = read_game(chain, d, id).await?;
    if state.status == GameStatus::None {
        let count: u64 = chain.view("gameCount", &g.gameCount()).await?.to();
        bail!(
            "there is no game {id} on the dispute game contract {} ({count} games so far); `opml status` lists them",
            d.dispute_game
        );
    }
    let record = chain.view("getGame", &m.getGame(U256::from(id))).await?;
    let claim_id = record.claimId;
    let claim = chain
        .view("getClaim", &m.getClaim(U256::from(claim_id)))
        .await?;
    let request_id: u64 = claim.requestId.to();
    let request = chain
        .view("getRequest", &m.getRequest(claim.requestId))
        .await?;
    let c = chain.view("clocks", &g.clocks(U256::from(id))).await?;
    let max_moves: u64 = chain.view("maxMoves", &g.maxMoves(claim.steps)).await?.to();
    let head = chain.block_number().await?;
    let now = chain.block(head).await?.map(|b| b.1).unwrap_or_default();
    let filter = Filter::new()
        .address(d.dispute_game)
        .topic1(B256::from(U256::from(id)));
    let created = |logs: &[Log]| {
        logs.iter()
            .any(|l| l.topic0() == Some(&DisputeGame::GameCreated::SIGNATURE_HASH))
    };
    let events = scan_logs(chain, &filter, d.block, head, true, created).await?;
    let created_block = events
        .iter()
        .find(|l| created(std::slice::from_ref(l)))
        .and_then(|l| l.block_number)
        .with_context(|| {
            format!(
                "game {id} has no `GameCreated` event between blocks {} and {head}; is the deployment file right?",
                d.block
            )
        })?;
    let mut loaded = Loaded {
        id,
        state,
        record,
        claim_id,
        claim,
        request_id,
        request,
        clocks: (c.defender.to(), c.challenger.to()),
        head,
        now,
        created_block,
        events,
        points: vec![],
        point_steps: vec![],
        max_moves,
    };
    let at = loaded.at();
    loaded.points = current_points(chain, d, &at, &loaded.state).await?;
    let (lo, hi) = (loaded.state.lo, loaded.state.hi);
    loaded.point_steps = if loaded.points.len() == 2 {
        vec![lo, hi]
    } else {
        boundaries(lo, hi, d.params.arity)
    };
    Ok(loaded)
}

/// The game as JSON.
fn describe(g: &Loaded, arity: u64) -> Value {
    let s = &g.state;
    let mover = s.to_move();
    let turn = s.status.is_live().then(|| {
        let deadline = s.mover_deadline();
        json!({
            "role": g.role(mover), "address": mover, "deadline": deadline,
            "seconds_left": deadline.saturating_sub(g.now),
            // `timeout` succeeds in a block later than the deadline
            "resolvable": g.now > deadline || g.voided_open(),
        })
    });
    let history: Vec<Value> = g.events.iter().filter_map(|l| event(g, l)).collect();
    json!({
        "id": g.id, "status": status_name(s.status),
        "claim": g.claim_id, "request": g.request_id, "model_id": g.request.modelId,
        "defender": s.defender, "challenger": s.challenger,
        "funding": name(&FUNDING, g.record.funding), "settled": g.record.settled,
        "claim_status": name(&super::chain::CLAIM_STATUS, g.claim.status),
        "steps": g.claim.steps, "arity": arity,
        "clock_left": {"defender": g.clocks.0, "challenger": g.clocks.1},
        "last_move_at": s.last_move_at,
        "moves": s.moves, "max_moves": g.max_moves,
        "segment": [s.lo, s.hi],
        "points": g.points.iter().zip(&g.point_steps)
            .map(|(p, step)| json!({"step": step, "hash": p})).collect::<Vec<_>>(),
        "to_move": turn,
        "block": g.head, "time": g.now,
        "history": history,
    })
}

/// One event of the game's history, or `None` for a log that is not one.
fn event(g: &Loaded, l: &Log) -> Option<Value> {
    let block = l.block_number;
    let tx = l.transaction_hash;
    if let Ok(e) = DisputeGame::GameCreated::decode_log(&l.inner) {
        return Some(
            json!({"block": block, "tx": tx, "event": "created", "steps": e.steps,
            "start": e.start, "end": e.end}),
        );
    }
    if let Ok(e) = DisputeGame::Dissected::decode_log(&l.inner) {
        let first = e.part == U256::MAX;
        return Some(json!({"block": block, "tx": tx,
            "event": if first { "dissect" } else { "respond" },
            "by": g.role(e.mover), "part": (!first).then(|| e.part.to::<u64>()),
            "segment": [e.lo, e.hi], "points": e.points.len()}));
    }
    if let Ok(e) = DisputeGame::StepVerified::decode_log(&l.inner) {
        return Some(
            json!({"block": block, "tx": tx, "event": "step", "by": g.role(e.mover),
            "index": e.index, "asserted_post": e.assertedPost, "verified_post": e.verifiedPost}),
        );
    }
    if let Ok(e) = DisputeGame::GameEnded::decode_log(&l.inner) {
        return Some(json!({"block": block, "tx": tx, "event": "ended",
            "winner": if e.defenderWon { "defender" } else { "challenger" },
            "by_timeout": e.byTimeout}));
    }
    if DisputeGame::GameCancelled::decode_log(&l.inner).is_ok() {
        return Some(json!({"block": block, "tx": tx, "event": "cancelled"}));
    }
    None
}

async fn show(id: u64, on: &GameChain) -> Result<()> {
    let (chain, d) = on.connect(false, false).await?;
    let g = load(&chain, &d, id).await?;
    let v = describe(&g, d.params.arity);
    if on.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let s = &g.state;
    println!(
        "game {id} [{}]: claim {} of request {} (model {})",
        status_name(s.status),
        g.claim_id,
        g.request_id,
        g.request.modelId
    );
    println!(
        "  stake backed by {}{}; claim {}",
        match name(&FUNDING, g.record.funding) {
            "claim" => "the claim's free stake",
            "challenger" => "the challenger's own stake (not matched yet)",
            "matched" => "the claim (matched)",
            other => other,
        },
        if g.record.settled {
            ", settled by the market"
        } else {
            ""
        },
        name(&super::chain::CLAIM_STATUS, g.claim.status)
    );
    println!(
        "  defender    {}  clock {} left",
        s.defender,
        duration(g.clocks.0)
    );
    println!(
        "  challenger  {}  clock {} left",
        s.challenger,
        duration(g.clocks.1)
    );
    println!(
        "  moves {} of at most {}; disputed segment [{}, {}] of {} steps",
        s.moves, g.max_moves, s.lo, s.hi, g.claim.steps
    );
    if g.voided_open() {
        println!(
            "  its claim was voided by another game: `opml game resolve {id}` closes it now and pays the challenger"
        );
    } else if s.status.is_live() {
        let mover = s.to_move();
        let deadline = s.mover_deadline();
        if g.now > deadline {
            println!(
                "  to move: the {} {mover}, whose clock ran out at {} ({}): `opml game resolve {id}` ends the game",
                g.role(mover),
                deadline,
                utc(deadline)
            );
        } else {
            println!(
                "  to move: the {} {mover}, until {} ({}, in {})",
                g.role(mover),
                deadline,
                utc(deadline),
                duration(deadline - g.now)
            );
        }
    }
    let kind = if s.status == GameStatus::AwaitingDissection || g.points.len() == 2 {
        "agreed start and claimed end"
    } else if s.defender_asserts {
        "the defender's dissection"
    } else {
        "the challenger's dissection"
    };
    println!("  current points ({kind}):");
    for (p, step) in g.points.iter().zip(&g.point_steps) {
        println!("    step {step:>12}  {p}");
    }
    println!("  history:");
    for e in v["history"].as_array().into_iter().flatten() {
        let what = match e["event"].as_str().unwrap_or("?") {
            "created" => format!("opened over {} steps", e["steps"]),
            "dissect" => format!(
                "the defender dissected [{}, {}] at {} points",
                e["segment"][0], e["segment"][1], e["points"]
            ),
            "respond" => format!(
                "the {} disputed part {} and dissected [{}, {}]",
                e["by"].as_str().unwrap_or("?"),
                e["part"],
                e["segment"][0],
                e["segment"][1]
            ),
            "step" => format!(
                "the {} proved step {}: {}",
                e["by"].as_str().unwrap_or("?"),
                e["index"],
                if e["asserted_post"] == e["verified_post"] {
                    "the asserted state holds"
                } else {
                    "the asserted state is wrong"
                }
            ),
            "ended" => format!(
                "the {} won{}",
                e["winner"].as_str().unwrap_or("?"),
                if e["by_timeout"] == true {
                    " on time"
                } else {
                    ""
                }
            ),
            "cancelled" => "cancelled (its claim was voided by another game)".into(),
            other => other.into(),
        };
        println!("    block {:>8}  {what}", e["block"]);
    }
    Ok(())
}

/// The request's input bytes, from its `Requested` event (a paged scan back
/// from the game's creation).
async fn request_input(chain: &Chain, d: &Deployment, g: &Loaded) -> Result<Vec<u8>> {
    let filter = Filter::new()
        .address(d.market)
        .event_signature(InferenceMarket::Requested::SIGNATURE_HASH)
        .topic1(B256::from(U256::from(g.request_id)));
    let logs = scan_logs(chain, &filter, d.block, g.created_block, true, |l| {
        !l.is_empty()
    })
    .await?;
    let l = logs.first().with_context(|| {
        format!(
            "request {} has no `Requested` event between blocks {} and {}",
            g.request_id, d.block, g.created_block
        )
    })?;
    Ok(InferenceMarket::Requested::decode_log(&l.inner)?
        .data
        .input
        .to_vec())
}

/// The honest trace of the game's request from the artifact in `dir`, which
/// must be the registered model: same model id, same initial state.
async fn honest_trace(chain: &Chain, d: &Deployment, g: &Loaded, dir: &Path) -> Result<VmTrace> {
    let art = Artifact::load(dir)
        .with_context(|| format!("cannot load the artifact `{}`", dir.display()))?;
    let (model, _, _) = commitment_of(&art).map_err(anyhow::Error::msg)?;
    if model != g.request.modelId {
        bail!(
            "the artifact `{}` is model {model}, but game {} disputes request {} of model {}; pass the registered artifact of that model",
            dir.display(),
            g.id,
            g.request_id,
            g.request.modelId
        );
    }
    let input = request_input(chain, d, g).await?;
    let engine = opml_vm::compiler::plans::Engine::from_env()?;
    let vm = Arc::new(opml::with_engine(ModelVm::checked(art)?, engine)?);
    let trace = tokio::task::spawn_blocking(move || VmTrace::open(vm, &input))
        .await
        .context("the model run panicked")??;
    let start = B256::from(trace.initial_state());
    if start != g.request.initialState {
        bail!(
            "the artifact `{}` starts request {} at state {start}, where the chain starts it at {}: it is not the registered model",
            dir.display(),
            g.request_id,
            g.request.initialState
        );
    }
    Ok(trace)
}

/// Refuses when the key's party cannot move in the game now, saying why and what next.
fn check_turn(g: &Loaded, me: Address) -> Result<()> {
    let s = &g.state;
    if me != s.defender && me != s.challenger {
        bail!(
            "the key's address {me} is not a party of game {} (defender {}, challenger {})",
            g.id,
            s.defender,
            s.challenger
        );
    }
    if g.voided_open() {
        bail!(
            "claim {} of game {} was voided by another game: a move wins nothing; `opml game resolve {}` closes the game and pays the challenger",
            g.claim_id,
            g.id,
            g.id
        );
    }
    if !s.status.is_live() {
        bail!(
            "game {} is over ({}); nothing to play",
            g.id,
            status_name(s.status)
        );
    }
    let mover = s.to_move();
    if mover != me {
        let deadline = s.mover_deadline();
        if g.now > deadline {
            bail!(
                "it is the {}'s move in game {}, and its clock ran out at {} ({}): `opml game resolve {}` wins the game for you",
                g.role(mover),
                g.id,
                deadline,
                utc(deadline),
                g.id
            );
        }
        bail!(
            "it is the {}'s move in game {} ({mover}), not yours; its clock runs out at {} ({}, in {}), after which `opml game resolve {}` ends the game",
            g.role(mover),
            g.id,
            deadline,
            utc(deadline),
            duration(deadline - g.now),
            g.id
        );
    }
    Ok(())
}

/// What a move does, for people.
fn move_detail(mv: &Move) -> String {
    match mv {
        Move::Dissect { points } => format!("dissect the whole run at {} points", points.len()),
        Move::Respond {
            part,
            segment,
            new_points,
            ..
        } => format!(
            "dispute part {part} and dissect [{}, {}] at {} points",
            segment.0,
            segment.1,
            new_points.len()
        ),
        Move::Step {
            part, index, proof, ..
        } => format!(
            "dispute part {part}, the single step {index} -> {}, with a one-step proof of {} bytes",
            index + 1,
            proof.len()
        ),
    }
}

fn move_json(mv: &Move) -> Value {
    match mv {
        Move::Dissect { points } => json!({"kind": "dissect", "points": points.len()}),
        Move::Respond {
            part,
            segment,
            new_points,
            ..
        } => json!({"kind": "respond", "part": part, "segment": [segment.0, segment.1],
            "points": new_points.len()}),
        Move::Step {
            part, index, proof, ..
        } => json!({"kind": "step", "part": part, "index": index, "proof_bytes": proof.len()}),
    }
}

/// `move` and `step`: the honest move of the key's party, sent (or simulated).
async fn play(
    id: u64,
    artifact: &Path,
    top_up_games: u64,
    only_step: bool,
    send: &Sending,
) -> Result<()> {
    let (chain, d) = send.on.connect(true, send.dry_run).await?;
    let g = load(&chain, &d, id).await?;
    let me = chain.address();
    check_turn(&g, me)?;
    let trace = honest_trace(&chain, &d, &g, artifact).await?;
    let chosen: Mutex<Option<Move>> = Mutex::new(None);
    let turn = take_turn(
        &chain,
        &d,
        g.at(),
        &trace as &dyn TraceProvider,
        &NoJournal,
        top_up_games,
        |_, mv| {
            *chosen.lock().unwrap() = Some(mv.clone());
            (!only_step || matches!(mv, Move::Step { .. })).then_some(mv)
        },
    )
    .await;
    let chosen = chosen.into_inner().unwrap();
    let turn = match turn {
        Ok(t) => t,
        Err(TurnError::Chain(ChainError::WatchOnly { purpose })) => {
            let mv = chosen.context("dry run: no move was chosen")?;
            let move_purpose = format!("{} game {id} move {}", mv.kind(), g.state.moves);
            let data = encode_move(id, &mv);
            let topped = purpose != move_purpose;
            if send.on.json {
                println!(
                    "{}",
                    json!({"dry_run": true, "game": id, "move": move_json(&mv),
                        "simulated": purpose, "to": d.dispute_game, "data": data,
                        "top_up_first": topped})
                );
            } else {
                println!("dry run, nothing sent: game {id}, {}", move_detail(&mv));
                if topped {
                    println!(
                        "  first `{purpose}` (the game is backed by its challenger's stake, which the claim must match before the first dissection): simulated; the move is simulated once that is mined"
                    );
                } else {
                    println!(
                        "  `{purpose}` to {} ({} bytes of calldata): simulated, it would succeed",
                        d.dispute_game,
                        data.len()
                    );
                }
            }
            return Ok(());
        }
        Err(TurnError::Chain(ChainError::WouldRevert { purpose, reason })) => {
            bail!("`{purpose}` would revert: {reason}; nothing was sent")
        }
        Err(TurnError::Chain(e)) => return Err(e.into()),
        Err(TurnError::Play(e)) => bail!("no honest move in game {id}: {e}"),
    };
    match turn {
        Turn::Moved { mv, sent } => {
            let r = &sent.receipt;
            if send.on.json {
                println!(
                    "{}",
                    json!({"game": id, "move": move_json(&mv), "tx": r.transaction_hash,
                        "block": r.block_number, "gas": r.gas_used, "nonce": sent.nonce})
                );
            } else {
                println!(
                    "game {id}: {} sent in {} (block {}, gas {})",
                    move_detail(&mv),
                    r.transaction_hash,
                    r.block_number.unwrap_or_default(),
                    r.gas_used
                );
                if let Move::Step { .. } = mv {
                    println!("  the game is decided: `opml game show {id}` says who won");
                }
            }
            Ok(())
        }
        Turn::Withheld => {
            let mv = chosen.context("no move was chosen")?;
            bail!(
                "game {id} is not at a single step: the honest move now is to {}; send it with `opml game move {id}`",
                move_detail(&mv)
            )
        }
        Turn::TimedOut(sent) => {
            println!(
                "game {id}: the other party's clock ran out; sent `timeout` in {}",
                sent.receipt.transaction_hash
            );
            Ok(())
        }
        Turn::Waiting { clock_left } => bail!(
            "it is the other party's move in game {id}; its clock has {} left",
            duration(clock_left)
        ),
        Turn::Over(s) => bail!("game {id} is over ({}); nothing to play", status_name(s)),
    }
}

/// `resolve`: `timeout` once the mover's clock ran out, `closeGame` once the claim is voided.
async fn resolve(id: u64, send: &Sending) -> Result<()> {
    let (chain, d) = send.on.connect(true, send.dry_run).await?;
    let g = load(&chain, &d, id).await?;
    let s = &g.state;
    if !s.status.is_live() || g.record.settled {
        bail!(
            "game {id} is over ({}{}); nothing to resolve",
            status_name(s.status),
            if g.record.settled {
                ", settled by the market"
            } else {
                ""
            }
        );
    }
    // another game voided the claim; this one only closes
    let (purpose, to, data, how) = if g.voided_open() {
        (
            format!("close game {id}"),
            d.market,
            InferenceMarket::closeGameCall {
                gameId: U256::from(id),
            }
            .abi_encode(),
            "closeGame: its claim was voided by another game",
        )
    } else {
        let mover = s.to_move();
        let deadline = s.mover_deadline();
        if g.now <= deadline {
            bail!(
                "game {id} cannot be resolved yet: it is the {}'s move ({mover}) and its clock runs out at {deadline} ({}), {} after the latest block; a block after that can end it with `opml game resolve {id}`",
                g.role(mover),
                utc(deadline),
                duration(deadline - g.now)
            );
        }
        (
            format!("timeout game {id}"),
            d.dispute_game,
            DisputeGame::timeoutCall {
                gameId: U256::from(id),
            }
            .abi_encode(),
            if s.defender_to_move() {
                "timeout: the defender's clock ran out, the challenger wins"
            } else {
                "timeout: the challenger's clock ran out, the defender wins"
            },
        )
    };
    match chain
        .send(
            &purpose,
            Some(to),
            data.clone().into(),
            U256::ZERO,
            &NoJournal,
        )
        .await
    {
        Ok(sent) => {
            let r = &sent.receipt;
            let after = read_game(&chain, &d, id).await?;
            if send.on.json {
                println!(
                    "{}",
                    json!({"game": id, "resolved": how, "tx": r.transaction_hash,
                        "block": r.block_number, "status": status_name(after.status)})
                );
            } else {
                println!(
                    "game {id}: {how}; sent in {} (block {}); now {}",
                    r.transaction_hash,
                    r.block_number.unwrap_or_default(),
                    status_name(after.status)
                );
            }
            Ok(())
        }
        Err(ChainError::WatchOnly { purpose }) => {
            if send.on.json {
                println!(
                    "{}",
                    json!({"dry_run": true, "game": id, "resolved": how, "simulated": purpose,
                        "to": to, "data": alloy::primitives::Bytes::from(data)})
                );
            } else {
                println!("dry run, nothing sent: game {id}, {how}");
                println!("  `{purpose}` to {to}: simulated, it would succeed");
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `1h 02m 03s`.
pub(crate) fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// A unix time as `2024-05-01 12:00:00 UTC`.
pub(crate) fn utc(ts: u64) -> String {
    format!("{} UTC", opml::report::utc(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        for (ts, want) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (951_782_400, "2000-02-29 00:00:00 UTC"),
            (1_700_000_000, "2023-11-14 22:13:20 UTC"),
        ] {
            assert_eq!(utc(ts), want);
        }
        for (s, want) in [(5, "5s"), (65, "1m 05s"), (3_725, "1h 02m 05s")] {
            assert_eq!(duration(s), want);
        }
    }
}
