//! Playing a game on the chain: reading it, finding its current dissection in
//! the `Dissected` events, and sending what [`crate::player::decide`] chose.
//!
//! Before every move the game is read again, so a move that landed before a
//! crash (or a retry whose first attempt was mined) is seen as done; the
//! sender's simulation refuses anything that would revert. Before a
//! defender's first move in a game its challenger backed with its own stake,
//! the claim's free stake is topped up so the dissection can match the game
//! (the market refuses it otherwise).

use crate::client::{Chain, ChainError, ChainResult, Sent, TxJournal};
use crate::player::{Decision, GameState, GameStatus, Move, PlayError, decide, points_hash};
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::Deployment;
use opml_vm::trace::TraceProvider;

/// Reads a game.
pub async fn read_game(chain: &Chain, d: &Deployment, id: u64) -> ChainResult<GameState> {
    let g = DisputeGame::new(d.dispute_game, chain.provider.clone());
    let raw = chain
        .view("DisputeGame.game", &g.game(U256::from(id)))
        .await?;
    Ok(GameState {
        defender: raw.defender,
        challenger: raw.challenger,
        defender_clock: raw.defenderClock,
        challenger_clock: raw.challengerClock,
        lo: raw.lo,
        hi: raw.hi,
        last_move_at: raw.lastMoveAt.to::<u64>(),
        status: GameStatus::from_u8(raw.status as u8),
        defender_asserts: raw.defenderAsserts,
        moves: raw.moves,
        points: raw.points,
    })
}

/// The logs of one event of game `id` (its first indexed argument) in blocks `[from, to]`.
async fn game_events(
    chain: &Chain,
    d: &Deployment,
    id: u64,
    signature: B256,
    from: u64,
    to: BlockNumberOrTag,
) -> ChainResult<Vec<alloy::rpc::types::Log>> {
    let filter = Filter::new()
        .address(d.dispute_game)
        .event_signature(signature)
        .topic1(B256::from(U256::from(id)))
        .from_block(BlockNumberOrTag::Number(from))
        .to_block(to);
    let p = chain.provider.clone();
    chain
        .rpc("eth_getLogs", || {
            let (p, f) = (p.clone(), filter.clone());
            async move { p.get_logs(&f).await }
        })
        .await
}

/// The game's current dissection: the one (newest first) that hashes to the
/// stored commitment, from `known` (what the follower stored: every
/// dissection and the opening `[start, end]`), else from the game's events
/// since `scan_from` (the follower's last block: a range of a few blocks, never
/// the game's whole life, which public nodes refuse), else the opening in the
/// game's first block.
pub async fn current_points(
    chain: &Chain,
    d: &Deployment,
    at: &GameAt,
    game: &GameState,
) -> ChainResult<Vec<B256>> {
    let id = at.id;
    if let Some(p) = at.known.iter().find(|p| points_hash(p) == game.points) {
        return Ok(p.clone());
    }
    let logs = game_events(
        chain,
        d,
        id,
        DisputeGame::Dissected::SIGNATURE_HASH,
        at.scan_from.max(at.created_block),
        BlockNumberOrTag::Latest,
    )
    .await?;
    for log in logs.iter().rev() {
        if let Ok(e) = DisputeGame::Dissected::decode_log(&log.inner)
            && points_hash(&e.points) == game.points
        {
            return Ok(e.points.clone());
        }
    }
    let logs = game_events(
        chain,
        d,
        id,
        DisputeGame::GameCreated::SIGNATURE_HASH,
        at.created_block,
        BlockNumberOrTag::Number(at.created_block),
    )
    .await?;
    logs.iter()
        .filter_map(|l| DisputeGame::GameCreated::decode_log(&l.inner).ok())
        .map(|c| vec![c.start, c.end])
        .find(|p| points_hash(p) == game.points)
        .ok_or_else(|| ChainError::Refused {
            what: format!("the current dissection of game {id}"),
            detail: format!(
                "none of the {} stored dissections, the game's events since block {} or its opening in block {} hashes to the game's commitment; is the deployment file right?",
                at.known.len(),
                at.scan_from,
                at.created_block
            ),
        })
}

/// Calldata of a move.
pub fn encode_move(id: u64, mv: &Move) -> Bytes {
    let game_id = U256::from(id);
    match mv {
        Move::Dissect { points } => DisputeGame::dissectCall {
            gameId: game_id,
            points: points.clone(),
        }
        .abi_encode(),
        Move::Respond {
            points,
            part,
            new_points,
            ..
        } => DisputeGame::respondCall {
            gameId: game_id,
            points: points.clone(),
            part: U256::from(*part),
            newPoints: new_points.clone(),
        }
        .abi_encode(),
        Move::Step {
            points,
            part,
            proof,
            ..
        } => DisputeGame::stepCall {
            gameId: game_id,
            points: points.clone(),
            part: U256::from(*part),
            proof: proof.clone().into(),
        }
        .abi_encode(),
    }
    .into()
}

/// What one turn in a game did.
#[derive(Debug)]
pub enum Turn {
    /// A move was mined.
    Moved {
        /// The move.
        mv: Move,
        /// Its transaction.
        sent: Sent,
    },
    /// `timeout` was mined.
    TimedOut(Sent),
    /// Nothing to do now.
    Waiting {
        /// Seconds left on the opponent's clock.
        clock_left: u64,
    },
    /// The game is over.
    Over(GameStatus),
    /// Fault injection withheld the move.
    Withheld,
}

/// Errors of a turn.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The player.
    #[error(transparent)]
    Play(#[from] PlayError),
}

/// A top-up of a claim's free stake.
#[derive(Debug, Clone, Copy)]
pub struct TopUp {
    /// The claim.
    pub claim: u64,
    /// Its free stake before.
    pub free: U256,
    /// What to add.
    pub value: U256,
}

/// The top-up the defender's first dissection of game `id` needs: when the
/// game is backed by its challenger's stake and the claim's free stake cannot
/// match it, `games` games' worth (at least the shortfall); `None` when the
/// dissection needs none.
pub async fn match_top_up(
    chain: &Chain,
    d: &Deployment,
    id: u64,
    games: u64,
) -> ChainResult<Option<TopUp>> {
    let m = InferenceMarket::new(d.market, chain.provider.clone());
    let game_ref = chain.view("getGame", &m.getGame(U256::from(id))).await?;
    if game_ref.funding != opml_onchain::protocol::FUNDING_CHALLENGER {
        return Ok(None);
    }
    let claim = chain
        .view("getClaim", &m.getClaim(U256::from(game_ref.claimId)))
        .await?;
    let stake = U256::from(claim.gameStake);
    if claim.freeStake >= stake {
        return Ok(None);
    }
    Ok(Some(TopUp {
        claim: game_ref.claimId,
        free: claim.freeStake,
        value: (stake * U256::from(games.max(1))).max(stake - claim.freeStake),
    }))
}

/// A game, and where its moves are known from.
#[derive(Debug, Clone, Default)]
pub struct GameAt {
    /// The game's id in the dispute game contract.
    pub id: u64,
    /// The block of the `Challenged` event that opened it.
    pub created_block: u64,
    /// Its dissections the follower stored, newest first (the opening included).
    pub known: Vec<Vec<B256>>,
    /// The first block the follower may not have stored yet.
    pub scan_from: u64,
}

/// A turn decided and not sent yet.
#[derive(Debug)]
pub enum Plan {
    /// Nothing to send: the turn as it stands.
    Done(Box<Turn>),
    /// The opponent's clock ran out: call `timeout`.
    Timeout,
    /// A move, with the top-up its dissection needs first.
    Play {
        /// The move.
        mv: Move,
        /// What the journal calls it (`dissect game 3 move 0`).
        purpose: String,
        /// The top-up of a challenger-backed game's claim.
        top_up: Option<TopUp>,
    },
}

impl Plan {
    fn purpose(&self, id: u64) -> String {
        match self {
            Plan::Play { purpose, .. } => purpose.clone(),
            _ => format!("timeout game {id}"),
        }
    }

    /// Gas a call of this plan may take inside a batch (a one-step proof
    /// runs the verifier; the rest are storage writes).
    fn gas_bound(&self) -> u64 {
        match self {
            Plan::Play {
                mv: Move::Step { .. },
                ..
            } => 2_000_000,
            _ => 150_000,
        }
    }
}

/// Reads the game and plays one turn of `chain`'s key.
///
/// `filter` lets a fault-injected agent alter or withhold the move; honest
/// agents pass `|m| Some(m)`. `top_up_games` is how many games' worth a
/// defender adds when it must fund a challenger-backed game (see [`match_top_up`]).
pub async fn take_turn(
    chain: &Chain,
    d: &Deployment,
    at: GameAt,
    trace: &dyn TraceProvider,
    journal: &impl TxJournal,
    top_up_games: u64,
    filter: impl FnOnce(&GameState, Move) -> Option<Move>,
) -> Result<Turn, TurnError> {
    let id = at.id;
    let plan = plan_turn(chain, d, at, trace, top_up_games, filter).await?;
    send_plan(chain, d, id, plan, journal).await
}

/// Reads the game and decides `chain`'s turn in it, sending nothing.
pub async fn plan_turn(
    chain: &Chain,
    d: &Deployment,
    at: GameAt,
    trace: &dyn TraceProvider,
    top_up_games: u64,
    filter: impl FnOnce(&GameState, Move) -> Option<Move>,
) -> Result<Plan, TurnError> {
    let id = at.id;
    let game = read_game(chain, d, id).await?;
    let points = if game.status.is_live() && game.to_move() == chain.address() {
        current_points(chain, d, &at, &game).await?
    } else {
        vec![]
    };
    let now = chain.now().await?;
    let me = chain.address();
    let decision = if game.to_move() == me {
        let (g, p) = (game.clone(), points);
        // Traces can take seconds on large models: keep them off the async workers.
        tokio::task::block_in_place(|| decide(&g, &p, me, d.params.arity, trace, now))?
    } else {
        decide(&game, &points, me, d.params.arity, trace, now)?
    };
    Ok(match decision {
        Decision::Over(s) => Plan::Done(Box::new(Turn::Over(s))),
        Decision::Wait { clock_left } => Plan::Done(Box::new(Turn::Waiting { clock_left })),
        Decision::Timeout => Plan::Timeout,
        Decision::Play(mv) => {
            let Some(mv) = filter(&game, mv) else {
                return Ok(Plan::Done(Box::new(Turn::Withheld)));
            };
            let top_up = match mv {
                Move::Dissect { .. } => match_top_up(chain, d, id, top_up_games).await?,
                _ => None,
            };
            Plan::Play {
                purpose: format!("{} game {id} move {}", mv.kind(), game.moves),
                mv,
                top_up,
            }
        }
    })
}

/// The game contract's calldata of a plan's call.
fn call_of(id: u64, plan: &Plan) -> Bytes {
    match plan {
        Plan::Play { mv, .. } => encode_move(id, mv),
        _ => DisputeGame::timeoutCall {
            gameId: U256::from(id),
        }
        .abi_encode()
        .into(),
    }
}

/// Whether a receipt holds an event of game `id` (its first topic after the
/// signature is the game id): the proof a call in a batch went through.
fn moved_in(sent: &Sent, d: &Deployment, id: u64) -> bool {
    let topic = B256::from(U256::from(id));
    sent.receipt
        .inner
        .logs()
        .iter()
        .any(|l| l.address() == d.dispute_game && l.topics().get(1) == Some(&topic))
}

/// What a mined plan did.
fn turn_of(plan: Plan, sent: Sent) -> Turn {
    match plan {
        Plan::Play { mv, .. } => Turn::Moved { mv, sent },
        Plan::Timeout => Turn::TimedOut(sent),
        Plan::Done(t) => *t,
    }
}

/// Sends one game's plan: the move alone, or with its top-up in one
/// `topUpAndPlay`.
pub async fn send_plan(
    chain: &Chain,
    d: &Deployment,
    id: u64,
    plan: Plan,
    journal: &impl TxJournal,
) -> Result<Turn, TurnError> {
    let mut out = send_plans(chain, d, vec![(id, plan)], journal).await;
    out.pop().map(|(_, t)| t).expect("one plan, one turn")
}

/// Sends the plans of several games (in the order given: most urgent first)
/// in as few transactions as the gas allows: the game's `multicall`, or the
/// market's `topUpAndPlay` when a dissection needs its claim topped up first.
/// One transaction a block keeps any number of games going, which the
/// contracts' shortest clock assumes; each call stands alone, and one that
/// failed (its game changed in front of it) is reported for its game only.
pub async fn send_plans(
    chain: &Chain,
    d: &Deployment,
    plans: Vec<(u64, Plan)>,
    journal: &impl TxJournal,
) -> Vec<(u64, Result<Turn, TurnError>)> {
    /// Gas of the calls in one transaction, well under a block's.
    const BATCH_GAS: u64 = 12_000_000;
    let mut out = vec![];
    let mut batches: Vec<Vec<(u64, Plan)>> = vec![];
    let mut gas = 0;
    for (id, plan) in plans {
        if let Plan::Done(t) = plan {
            out.push((id, Ok(*t)));
            continue;
        }
        let g = plan.gas_bound();
        match batches.last_mut() {
            Some(b) if gas + g <= BATCH_GAS => b.push((id, plan)),
            _ => {
                batches.push(vec![(id, plan)]);
                gas = 0;
            }
        }
        gas += g;
    }
    let sent = futures::future::join_all(
        batches
            .into_iter()
            .map(|batch| async move { (send_batch(chain, d, &batch, journal).await, batch) }),
    )
    .await;
    for (result, batch) in sent {
        let sent_alone = batch.len() == 1;
        match result {
            Ok((purpose, sent)) => {
                for (id, plan) in batch {
                    // a call alone reverts its transaction when it fails;
                    // in a batch or a top-up only its game's event tells
                    let alone = sent_alone && !purpose.starts_with("top up");
                    let turn = if alone || moved_in(&sent, d, id) {
                        Ok(turn_of(plan, sent.clone()))
                    } else {
                        Err(TurnError::Chain(ChainError::WouldRevert {
                            purpose: plan.purpose(id),
                            reason: format!(
                                "it failed inside `{purpose}` (tx {}): the game changed in front of it",
                                sent.receipt.transaction_hash
                            ),
                        }))
                    };
                    out.push((id, turn));
                }
            }
            Err(e) => {
                let mut e = Some(e);
                for (id, plan) in batch {
                    let err = e.take().unwrap_or_else(|| ChainError::Refused {
                        what: plan.purpose(id),
                        detail: "its batch was not sent (see the first game of the batch)".into(),
                    });
                    out.push((id, Err(TurnError::Chain(err))));
                }
            }
        }
    }
    out
}

/// Sends one batch; its purpose and receipt.
async fn send_batch(
    chain: &Chain,
    d: &Deployment,
    batch: &[(u64, Plan)],
    journal: &impl TxJournal,
) -> ChainResult<(String, Sent)> {
    let top_ups: Vec<TopUp> = batch
        .iter()
        .filter_map(|(_, p)| match p {
            Plan::Play { top_up, .. } => *top_up,
            _ => None,
        })
        .collect();
    let purposes: Vec<String> = batch.iter().map(|(id, p)| p.purpose(*id)).collect();
    let mut purpose = match purposes.len() {
        1 => purposes[0].clone(),
        n => batch_purpose(n, &purposes),
    };
    let calls: Vec<Bytes> = batch.iter().map(|(id, p)| call_of(*id, p)).collect();
    let sent = if top_ups.is_empty() {
        // one call goes alone: a failure then reverts and says why
        let data = match calls.len() {
            1 => calls[0].clone(),
            _ => DisputeGame::multicallCall { calls }.abi_encode().into(),
        };
        chain
            .send(&purpose, Some(d.dispute_game), data, U256::ZERO, journal)
            .await?
    } else {
        // The top-ups and the moves in one transaction: sent apart, others
        // could open games in between that the claims' free stake backs,
        // taking the top-ups, and the dissections would revert. The purpose
        // names the free stakes weighed: if one changes before it is mined,
        // the next pass weighs again.
        let weighed: Vec<String> = top_ups
            .iter()
            .map(|t| {
                format!(
                    "claim {} from {}",
                    t.claim,
                    opml_onchain::protocol::format_ether(t.free)
                )
            })
            .collect();
        purpose = format!("top up {} and {purpose}", weighed.join(", "));
        let total = top_ups.iter().fold(U256::ZERO, |s, t| s + t.value);
        let data = InferenceMarket::topUpAndPlayCall {
            claimIds: top_ups.iter().map(|t| U256::from(t.claim)).collect(),
            amounts: top_ups.iter().map(|t| t.value).collect(),
            moves: calls,
        }
        .abi_encode();
        let sent = chain
            .send(&purpose, Some(d.market), data.into(), total, journal)
            .await?;
        for t in &top_ups {
            tracing::info!(
                claim = t.claim,
                value = %opml_onchain::protocol::format_ether(t.value),
                tx = %sent.receipt.transaction_hash,
                "topped up to match a game its challenger backed, with the dissection"
            );
        }
        sent
    };
    Ok((purpose, sent))
}

/// The journal's name of a batch: its moves, or for a long one the first and
/// last with a digest of all (a purpose is sent once, so it must name the set).
fn batch_purpose(n: usize, purposes: &[String]) -> String {
    let all = purposes.join(", ");
    if all.len() <= 200 {
        return format!("batch of {n}: {all}");
    }
    let digest = alloy::primitives::keccak256(all.as_bytes());
    format!(
        "batch of {n}: {} .. {} ({})",
        purposes[0],
        purposes[n - 1],
        &alloy::hex::encode(digest)[..12]
    )
}

/// Calldata of `InferenceMarket.submit` for a claim.
pub fn encode_submit(request: u64, claim: &opml_vm::trace::ClaimData) -> Bytes {
    InferenceMarket::submitCall {
        requestId: U256::from(request),
        output: claim.output.clone().into(),
        finalState: B256::from(claim.final_state),
        steps: claim.steps,
        outputProof: claim.output_proof.clone().into(),
    }
    .abi_encode()
    .into()
}
