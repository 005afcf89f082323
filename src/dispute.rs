//! Disputes as files for researchers: `opml dispute export` reads one game
//! from the chain (events, and the calldata of its one-step proof) into a
//! versioned JSON file, the input of a replay. The schema is in
//! `docs/DISPUTES.md`.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, bail};
use opml_agents::client::Chain;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{Deployment, MarketParams};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the game file this opml writes. Version 2 added each move's
/// signed transaction (`raw_tx`), so a replay can tell a changed move offline;
/// version 3 the market's `ClaimVoided` and `GameClosed` (`outcome.voided`,
/// `outcome.closed`), so the money of an outcome is the chain's in full.
pub const GAME_FILE_VERSION: u32 = 3;

/// Versions a replay reads: version 1 (no signed transactions) is checked by
/// the game's rules only; versions 1 and 2 lack the voided bond's split.
pub const READABLE_VERSIONS: [u32; 3] = [1, 2, 3];

/// First version whose outcome records `ClaimVoided` and `GameClosed`: in an
/// older file their absence says nothing.
pub const VOIDED_RECORDED_SINCE: u32 = 3;

/// Everything a replay needs about one game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GameFile {
    /// [`GAME_FILE_VERSION`].
    pub version: u32,
    /// Chain id.
    pub chain_id: u64,
    /// `InferenceMarket`.
    pub market: Address,
    /// `DisputeGame`.
    pub dispute_game: Address,
    /// The market's parameters (arity, clocks, bonds).
    pub params: MarketParams,
    /// The game.
    pub game_id: u64,
    /// The model.
    pub model_id: B256,
    /// The request the claim answers.
    pub request: RequestRecord,
    /// The disputed claim.
    pub claim: ClaimRecord,
    /// The game's opening.
    pub game: GameRecord,
    /// Every move, in chain order.
    pub moves: Vec<MoveRecord>,
    /// How it ended; `None` while it is live.
    pub outcome: Option<Outcome>,
}

/// The request of the disputed claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRecord {
    /// Request id.
    pub id: u64,
    /// Who asked.
    pub requester: Address,
    /// Fee paid (wei).
    pub fee: U256,
    /// The state before the first step (the model's image with this input).
    pub initial_state: B256,
    /// The input region's bytes.
    pub input: Bytes,
    /// Block of the request.
    pub block: u64,
}

/// The disputed claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRecord {
    /// Claim id.
    pub id: u64,
    /// Who claimed.
    pub submitter: Address,
    /// Claimed final state.
    pub final_state: B256,
    /// Claimed step count.
    pub steps: u64,
    /// Claimed output region bytes.
    pub output: Bytes,
    /// Stake for games (wei).
    pub stake: U256,
    /// Block of the claim.
    pub block: u64,
}

/// The game's opening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GameRecord {
    /// The submitter.
    pub defender: Address,
    /// The challenger.
    pub challenger: Address,
    /// State at step 0.
    pub start: B256,
    /// The defender's state at `steps`.
    pub end: B256,
    /// Steps in dispute.
    pub steps: u64,
    /// Block of the challenge.
    pub block: u64,
    /// Its timestamp.
    pub timestamp: u64,
}

/// One move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRecord {
    /// `dissect` (the defender's first), `respond` or `step`.
    pub kind: String,
    /// Who moved.
    pub mover: Address,
    /// The part of the previous dissection named (`None` for the first dissection).
    pub part: Option<u64>,
    /// The segment split (dissections and responses).
    pub lo: Option<u64>,
    /// Its end.
    pub hi: Option<u64>,
    /// The new dissection's points.
    pub points: Vec<B256>,
    /// The one-step proof (`step` moves).
    pub step: Option<StepRecord>,
    /// Block.
    pub block: u64,
    /// Its timestamp.
    pub timestamp: u64,
    /// Transaction.
    pub tx: B256,
    /// Gas used.
    pub gas_used: u64,
    /// The signed transaction (EIP-2718 bytes; its keccak256 is `tx`), from version 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_tx: Option<Bytes>,
}

/// A verified step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// The step executed (`index` -> `index + 1`).
    pub index: u64,
    /// Pre-state both parties agreed on.
    pub pre_state: B256,
    /// Post-state the asserting party claimed.
    pub asserted_post: B256,
    /// Post-state the verifier computed.
    pub verified_post: B256,
    /// The proof bytes, as sent.
    pub proof: Bytes,
}

/// How the game ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// `defender_won`, `challenger_won` or `cancelled`.
    pub status: String,
    /// By the loser's clock running out.
    pub by_timeout: bool,
    /// Block.
    pub block: u64,
    /// From the market's `GameSettled`: who it credited (`None` without one:
    /// a cancelled game, or one of a claim another game voided).
    pub winner: Option<Address>,
    /// Credited wei (the winner's bond included when the challenger won).
    pub payout: U256,
    /// Wei burnt by `GameSettled` (from a losing challenger's bond).
    pub burned: U256,
    /// The market's `ClaimVoided`, when this game voided the claim (version 3 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided: Option<Voided>,
    /// The market's `GameClosed`, when the claim was voided by another game
    /// and this one only closed (version 3 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Closed>,
}

/// The claim's voiding (`ClaimVoided`): the split of the submitter's bond.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voided {
    /// Who got the bounty (this game's challenger).
    pub beneficiary: Address,
    /// Wei credited: the bond's unburnt part less the shares of games the defender never matched.
    pub bounty: U256,
    /// Wei of the bond burnt.
    pub burned: U256,
}

/// A game of an already voided claim closed (`GameClosed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    /// The game's challenger.
    pub challenger: Address,
    /// Wei credited to it: its bond, the game's stake, and its share of the
    /// voided bond if the defender never matched the game.
    pub payout: U256,
}

impl GameFile {
    /// Reads a game file; a file of another version is refused by name.
    pub fn load(path: &Path) -> Result<GameFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the game file `{}`", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not JSON", path.display()))?;
        match v.get("version").and_then(|v| v.as_u64()) {
            Some(n) if READABLE_VERSIONS.iter().any(|&r| r as u64 == n) => {}
            Some(n) => bail!(
                "`{}` is a game file of version {n}; this opml reads versions {:?}: export the game again with this version",
                path.display(),
                READABLE_VERSIONS
            ),
            None => bail!(
                "`{}` has no `version`: it is not a game file of `opml dispute export`",
                path.display()
            ),
        }
        serde_json::from_value(v)
            .with_context(|| format!("`{}` is not a valid game file", path.display()))
    }
}

/// Reads game `id` from the chain.
pub async fn export(chain: &Chain, d: &Deployment, id: u64) -> Result<GameFile> {
    let p = &chain.provider;
    let topic = B256::from(U256::from(id));
    let logs = |address: Address, signature: B256, topic_at: usize, value: B256| {
        let mut f = Filter::new()
            .address(address)
            .event_signature(signature)
            .from_block(BlockNumberOrTag::Number(d.block))
            .to_block(BlockNumberOrTag::Latest);
        f = match topic_at {
            1 => f.topic1(value),
            2 => f.topic2(value),
            _ => f.topic3(value),
        };
        async move { p.get_logs(&f).await.context("eth_getLogs") }
    };
    let game_logs = |sig| logs(d.dispute_game, sig, 1, topic);
    let created = game_logs(DisputeGame::GameCreated::SIGNATURE_HASH).await?;
    let Some(created) = created.first() else {
        bail!("the dispute game {} has no game {id}", d.dispute_game);
    };
    let gc = DisputeGame::GameCreated::decode_log(&created.inner)?.data;
    let challenged = logs(
        d.market,
        InferenceMarket::Challenged::SIGNATURE_HASH,
        3,
        topic,
    )
    .await?;
    let ch = challenged
        .first()
        .context("the market has no `Challenged` event for this game")?;
    let ch = InferenceMarket::Challenged::decode_log(&ch.inner)?.data;
    let claim_topic = B256::from(ch.claimId);
    let submitted = logs(
        d.market,
        InferenceMarket::Submitted::SIGNATURE_HASH,
        2,
        claim_topic,
    )
    .await?;
    let sub_log = submitted
        .first()
        .context("the claim has no `Submitted` event")?;
    let sub = InferenceMarket::Submitted::decode_log(&sub_log.inner)?.data;
    let requested = logs(
        d.market,
        InferenceMarket::Requested::SIGNATURE_HASH,
        1,
        B256::from(ch.requestId),
    )
    .await?;
    let req_log = requested
        .first()
        .context("the claim's request has no `Requested` event")?;
    let req = InferenceMarket::Requested::decode_log(&req_log.inner)?.data;

    // Moves in chain order: several can share a block, or one transaction (a
    // `multicall`, or a contract that plays for its owner).
    let mut moves: Vec<((u64, u64), MoveRecord)> = vec![];
    let order = |l: &Log| {
        (
            l.block_number.unwrap_or_default(),
            l.log_index.unwrap_or_default(),
        )
    };
    let dissected = game_logs(DisputeGame::Dissected::SIGNATURE_HASH).await?;
    for l in &dissected {
        let e = DisputeGame::Dissected::decode_log(&l.inner)?.data;
        let first = e.part == U256::MAX;
        moves.push((
            order(l),
            record(
                p,
                l,
                Move {
                    kind: if first { "dissect" } else { "respond" },
                    mover: e.mover,
                    part: (!first).then(|| e.part.to::<u64>()),
                    segment: Some((e.lo, e.hi)),
                    points: e.points,
                    step: None,
                },
            )
            .await?,
        ));
    }
    for l in &game_logs(DisputeGame::StepVerified::SIGNATURE_HASH).await? {
        let e = DisputeGame::StepVerified::decode_log(&l.inner)?.data;
        let tx = l
            .transaction_hash
            .context("a log without its transaction")?;
        let call = step_call(p, tx, d.market, d.dispute_game, id).await?;
        let step = StepRecord {
            index: e.index,
            pre_state: e.preState,
            asserted_post: e.assertedPost,
            verified_post: e.verifiedPost,
            proof: call.proof,
        };
        moves.push((
            order(l),
            record(
                p,
                l,
                Move {
                    kind: "step",
                    mover: e.mover,
                    part: Some(call.part.to::<u64>()),
                    segment: None,
                    points: vec![],
                    step: Some(step),
                },
            )
            .await?,
        ));
    }
    moves.sort_by_key(|m| m.0);
    let moves: Vec<MoveRecord> = moves.into_iter().map(|m| m.1).collect();

    let ended = game_logs(DisputeGame::GameEnded::SIGNATURE_HASH).await?;
    let cancelled = game_logs(DisputeGame::GameCancelled::SIGNATURE_HASH).await?;
    let settled = logs(
        d.market,
        InferenceMarket::GameSettled::SIGNATURE_HASH,
        1,
        topic,
    )
    .await?;
    // gameId is the third indexed topic of `ClaimVoided`, the first of `GameClosed`
    let voided = logs(
        d.market,
        InferenceMarket::ClaimVoided::SIGNATURE_HASH,
        3,
        topic,
    )
    .await?
    .first()
    .map(|l| InferenceMarket::ClaimVoided::decode_log(&l.inner).map(|x| x.data))
    .transpose()?
    .map(|e| Voided {
        beneficiary: e.beneficiary,
        bounty: e.bounty,
        burned: e.burned,
    });
    let closed = logs(
        d.market,
        InferenceMarket::GameClosed::SIGNATURE_HASH,
        1,
        topic,
    )
    .await?
    .first()
    .map(|l| InferenceMarket::GameClosed::decode_log(&l.inner).map(|x| x.data))
    .transpose()?
    .map(|e| Closed {
        challenger: e.challenger,
        payout: e.payout,
    });
    let outcome = match (ended.first(), cancelled.first()) {
        (Some(l), _) => {
            let e = DisputeGame::GameEnded::decode_log(&l.inner)?.data;
            let s = settled
                .first()
                .map(|s| InferenceMarket::GameSettled::decode_log(&s.inner).map(|x| x.data))
                .transpose()?;
            Some(Outcome {
                status: if e.defenderWon {
                    "defender_won"
                } else {
                    "challenger_won"
                }
                .into(),
                by_timeout: e.byTimeout,
                block: l.block_number.unwrap_or_default(),
                winner: s.as_ref().map(|s| s.winner),
                payout: s.as_ref().map_or(U256::ZERO, |s| s.payout),
                burned: s.as_ref().map_or(U256::ZERO, |s| s.burned),
                voided,
                closed,
            })
        }
        (None, Some(l)) => Some(Outcome {
            status: "cancelled".into(),
            by_timeout: false,
            block: l.block_number.unwrap_or_default(),
            winner: None,
            payout: U256::ZERO,
            burned: U256::ZERO,
            voided: None,
            closed,
        }),
        (None, None) => None,
    };
    Ok(GameFile {
        version: GAME_FILE_VERSION,
        chain_id: chain.chain_id,
        market: d.market,
        dispute_game: d.dispute_game,
        params: d.params.clone(),
        game_id: id,
        model_id: req.modelId,
        request: RequestRecord {
            id: ch.requestId.to::<u64>(),
            requester: req.requester,
            fee: req.fee,
            initial_state: req.initialState,
            input: req.input,
            block: req_log.block_number.unwrap_or_default(),
        },
        claim: ClaimRecord {
            id: ch.claimId.to::<u64>(),
            submitter: sub.submitter,
            final_state: sub.finalState,
            steps: sub.steps,
            output: sub.output,
            stake: sub.stake,
            block: sub_log.block_number.unwrap_or_default(),
        },
        game: GameRecord {
            defender: gc.defender,
            challenger: gc.challenger,
            start: gc.start,
            end: gc.end,
            steps: gc.steps,
            block: created.block_number.unwrap_or_default(),
            timestamp: block_time(p, created).await?,
        },
        moves,
        outcome,
    })
}

#[allow(clippy::too_many_arguments)]
/// The `step` call of game `id` that transaction `tx` made: the transaction
/// itself, a `step` among the game calls it carries (a `multicall`, or the
/// moves of the market's `challengeManyAndPlay` / `topUpAndPlay`), or (a move
/// made through another contract) the call found by the node's call tracer.
async fn step_call(
    p: &alloy::providers::DynProvider,
    tx: B256,
    market: Address,
    game_contract: Address,
    id: u64,
) -> Result<DisputeGame::stepCall> {
    let t = p
        .get_transaction_by_hash(tx)
        .await?
        .context("the step's transaction is not on the node")?;
    let is_ours = |c: &DisputeGame::stepCall| c.gameId == U256::from(id);
    let input = alloy::consensus::Transaction::input(&t);
    let to = alloy::consensus::Transaction::to(&t);
    if let Some(c) = opml_onchain::bindings::game_calls(to, input, market, game_contract)
        .iter()
        .filter_map(|b| DisputeGame::stepCall::abi_decode(b).ok())
        .find(is_ours)
    {
        return Ok(c);
    }
    // A contract played the move: find the call in the transaction's call tree.
    let trace: serde_json::Value = p
        .raw_request(
            "debug_traceTransaction".into(),
            (tx, serde_json::json!({ "tracer": "callTracer" })),
        )
        .await
        .with_context(|| {
            format!(
                "the step of game {id} was made through a contract (transaction {tx}); reading its proof needs the node's `debug_traceTransaction`, which it refused: export from a node with the debug API"
            )
        })?;
    let mut stack = vec![&trace];
    while let Some(frame) = stack.pop() {
        let to = frame["to"].as_str().and_then(|a| a.parse::<Address>().ok());
        if to == Some(game_contract)
            && let Some(input) = frame["input"]
                .as_str()
                .and_then(|h| alloy::primitives::hex::decode(h).ok())
            && let Ok(c) = DisputeGame::stepCall::abi_decode(&input)
            && is_ours(&c)
        {
            return Ok(c);
        }
        if let Some(calls) = frame["calls"].as_array() {
            stack.extend(calls.iter());
        }
    }
    bail!(
        "transaction {tx} verified a step of game {id} but no `step` call of it is in its call trace"
    )
}

/// What a move's event says, before its transaction is read.
struct Move {
    kind: &'static str,
    mover: Address,
    part: Option<u64>,
    segment: Option<(u64, u64)>,
    points: Vec<B256>,
    step: Option<StepRecord>,
}

/// The move `m` whose event is `l`, with its block, time, transaction and gas.
async fn record(p: &alloy::providers::DynProvider, l: &Log, m: Move) -> Result<MoveRecord> {
    let Move {
        kind,
        mover,
        part,
        segment,
        points,
        step,
    } = m;
    let tx = l
        .transaction_hash
        .context("a log without its transaction")?;
    let receipt = p
        .get_transaction_receipt(tx)
        .await?
        .context("the move's receipt is not on the node")?;
    let raw_tx = p
        .get_raw_transaction_by_hash(tx)
        .await?
        .context("the move's transaction is not on the node")?;
    Ok(MoveRecord {
        kind: kind.into(),
        mover,
        part,
        lo: segment.map(|s| s.0),
        hi: segment.map(|s| s.1),
        points,
        step,
        block: l.block_number.unwrap_or_default(),
        timestamp: block_time(p, l).await?,
        tx,
        gas_used: receipt.gas_used,
        raw_tx: Some(raw_tx),
    })
}

async fn block_time(p: &alloy::providers::DynProvider, l: &Log) -> Result<u64> {
    if let Some(t) = l.block_timestamp {
        return Ok(t);
    }
    let n = l.block_number.context("a log without its block")?;
    let b = p
        .get_block_by_number(BlockNumberOrTag::Number(n))
        .await?
        .with_context(|| format!("block {n} is not on the node"))?;
    Ok(b.header.timestamp)
}
