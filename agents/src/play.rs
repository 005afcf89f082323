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

/// Tops up the claim of game `id` when the game is backed by its challenger's
/// stake and the claim's free stake cannot match it, so the defender's first
/// dissection goes through; adds `games` games' worth (at least the
/// shortfall). The top-up is journaled under its own purpose, so it is sent
/// once however often the turn is retried.
pub async fn fund_match(
    chain: &Chain,
    d: &Deployment,
    id: u64,
    games: u64,
    journal: &impl TxJournal,
) -> ChainResult<()> {
    let m = InferenceMarket::new(d.market, chain.provider.clone());
    let game_ref = chain.view("getGame", &m.getGame(U256::from(id))).await?;
    if game_ref.funding != opml_onchain::protocol::FUNDING_CHALLENGER {
        return Ok(());
    }
    let claim = chain
        .view("getClaim", &m.getClaim(U256::from(game_ref.claimId)))
        .await?;
    let stake = U256::from(claim.gameStake);
    if claim.freeStake >= stake {
        return Ok(());
    }
    let value = (stake * U256::from(games.max(1))).max(stake - claim.freeStake);
    let data = InferenceMarket::topUpCall {
        claimId: U256::from(game_ref.claimId),
    }
    .abi_encode();
    let sent = chain
        .send(
            &format!("top up claim {} to match game {id}", game_ref.claimId),
            Some(d.market),
            data.into(),
            value,
            journal,
        )
        .await?;
    tracing::info!(
        game = id,
        claim = game_ref.claimId,
        value = %opml_onchain::protocol::format_ether(value),
        tx = %sent.receipt.transaction_hash,
        "topped up to match a game its challenger backed"
    );
    Ok(())
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

/// Reads the game and plays one turn of `chain`'s key.
///
/// `filter` lets a fault-injected agent alter or withhold the move; honest
/// agents pass `|m| Some(m)`. `top_up_games` is how many games' worth a
/// defender adds when it must fund a challenger-backed game (see [`fund_match`]).
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
    match decision {
        Decision::Over(s) => Ok(Turn::Over(s)),
        Decision::Wait { clock_left } => Ok(Turn::Waiting { clock_left }),
        Decision::Timeout => {
            let data = DisputeGame::timeoutCall {
                gameId: U256::from(id),
            }
            .abi_encode();
            let sent = chain
                .send(
                    &format!("timeout game {id}"),
                    Some(d.dispute_game),
                    data.into(),
                    U256::ZERO,
                    journal,
                )
                .await?;
            Ok(Turn::TimedOut(sent))
        }
        Decision::Play(mv) => {
            let Some(mv) = filter(&game, mv) else {
                return Ok(Turn::Withheld);
            };
            if matches!(mv, Move::Dissect { .. }) {
                fund_match(chain, d, id, top_up_games, journal).await?;
            }
            let purpose = format!("{} game {id} move {}", mv.kind(), game.moves);
            let sent = chain
                .send(
                    &purpose,
                    Some(d.dispute_game),
                    encode_move(id, &mv),
                    U256::ZERO,
                    journal,
                )
                .await?;
            Ok(Turn::Moved { mv, sent })
        }
    }
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
