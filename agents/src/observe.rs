//! The gauges an operator watches, read from the store and the chain after
//! every pass (kept apart from [`crate::metrics`], which every module may use).

use crate::agent::{Agent, AgentError};
use crate::deploy::market;
use crate::metrics::{GameLabels, InfoLabels, ether, global};
use alloy::primitives::{Address, U256};

/// Sets the gauges from the store and the chain after a pass of `agent`
/// (`submitter` or `challenger`).
pub async fn observe(a: &Agent, agent: &str) -> Result<(), AgentError> {
    let m = global();
    let me: Address = a.chain.address();
    m.info
        .get_or_create(&InfoLabels {
            agent: agent.into(),
            address: me.to_string(),
        })
        .set(1);
    // a fresh head, not the pass's: a long pass must show as lag and as clock spent
    let latest = a.chain.latest().await?;
    let head = latest.number;
    let last = a
        .store
        .cursor()
        .await?
        .map_or(a.deployment.block, |c| c.next.saturating_sub(1));
    let lag = head.saturating_sub(last);
    m.last_block.set(last as i64);
    m.block_lag.set(lag as i64);

    let market = market(&a.chain, &a.deployment);
    let owed = a
        .chain
        .view("withdrawable", &market.withdrawable(me))
        .await?;
    m.withdrawable.set(ether(owed));
    *a.owed_seen.lock().unwrap() = Some(owed);
    m.balance.set(ether(a.chain.balance(me).await?));
    m.txs_pending
        .set(a.store.pending_transactions().await? as i64);
    m.leases_held.set(a.leases.held() as i64);

    let params = &a.deployment.params;
    let live = crate::agent::live_games(a, |g, c| g.challenger == me || c.submitter == me).await?;
    let mut at_risk = U256::ZERO;
    let mut pending = 0;
    {
        // A claim's stake changes only in its games: one without a live game
        // now or at the last look is not read again (under load, each pass
        // read every claim of the window).
        let disputed: std::collections::HashSet<u64> =
            live.iter().map(|(g, _)| g.claim_id).collect();
        let mut known = std::mem::take(&mut *a.claim_risk.lock().unwrap());
        let mut seen = std::collections::HashMap::new();
        for c in a.store.claims(None, true).await? {
            if c.submitter != me {
                continue;
            }
            pending += 1;
            let in_game = disputed.contains(&c.id);
            let risk = match known.remove(&c.id) {
                Some((risk, false)) if !in_game => risk,
                _ => {
                    let on_chain = a
                        .chain
                        .view("getClaim", &market.getClaim(U256::from(c.id)))
                        .await?;
                    params.submitter_bond
                        + on_chain.freeStake
                        + U256::from(on_chain.gameStake) * U256::from(on_chain.openGames)
                }
            };
            at_risk += risk;
            seen.insert(c.id, (risk, in_game));
        }
        // claims no longer pending drop out
        *a.claim_risk.lock().unwrap() = seen;
    }
    m.claims_pending.set(pending);

    let now = latest.timestamp;
    let mut counts: std::collections::HashMap<GameLabels, i64> = Default::default();
    for side in ["defender", "challenger"] {
        for status in ["live", "won", "lost", "cancelled"] {
            counts.insert(
                GameLabels {
                    role: side.into(),
                    status: status.into(),
                },
                0,
            );
        }
    }
    let mut clock_min: Option<u64> = None;
    let mut clock_to_move: Option<u64> = None;
    // counted in SQL: finished games are never loaded
    for (side, status, n) in a.store.game_counts(me).await? {
        let status = match (status.as_str(), side.as_str()) {
            ("live", _) => "live",
            ("defender_won", "defender") | ("challenger_won", "challenger") => "won",
            ("defender_won", _) | ("challenger_won", _) => "lost",
            _ => "cancelled",
        };
        *counts
            .entry(GameLabels {
                role: side,
                status: status.into(),
            })
            .or_default() += n as i64;
    }
    for (g, _) in live {
        let side = if g.challenger == me {
            "challenger"
        } else {
            "defender"
        };
        if side == "challenger" {
            at_risk += params.challenger_bond;
        }
        let game = crate::play::read_game(&a.chain, &a.deployment, g.id).await?;
        if !game.status.is_live() {
            continue;
        }
        let mine_to_move = game.to_move() == me;
        let stopped = if side == "defender" {
            game.defender_clock
        } else {
            game.challenger_clock
        };
        let left = if mine_to_move {
            stopped.saturating_sub(now.saturating_sub(game.last_move_at))
        } else {
            stopped
        };
        clock_min = Some(clock_min.map_or(left, |c| c.min(left)));
        if mine_to_move {
            clock_to_move = Some(clock_to_move.map_or(left, |c| c.min(left)));
        }
    }
    for (labels, n) in counts {
        m.games.get_or_create(&labels).set(n);
    }
    m.bonds_at_risk.set(ether(at_risk));
    *a.bonded.lock().unwrap() = at_risk;
    let day_ago = crate::store::now_unix() - 86_400;
    m.fees_day
        .set(ether(U256::from(a.store.fees_since(day_ago).await?)));
    m.clock_left_min
        .set(clock_min.unwrap_or(params.clock_budget) as i64);
    m.passed(lag, clock_to_move);
    Ok(())
}
