//! `opml credits`: what the market holds for an account, read from the chain.
//!
//! The amounts are the contracts' views (`withdrawable`, `getClaim`,
//! `getGame`, `clocks`, the bonds); only which claims and games belong to an
//! account comes from the logs (`Submitted` by submitter, `GameCreated` by
//! defender and by challenger, all indexed), scanned in bounded pages from
//! the deployment block, since no view lists them.

use super::chain::{CLAIM_STATUS, ChainArgs, DeploymentArg, FUNDING, RpcTimeout, name, scan_logs};
use super::game::{duration, status_name, utc};
use alloy::primitives::{Address, U256};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use anyhow::{Result, bail};
use clap::Args;
use opml_agents::client::Chain;
use opml_agents::deploy::{games, market};
use opml_agents::player::GameStatus;
use opml_onchain::bindings::{DisputeGame, InferenceMarket};
use opml_onchain::protocol::{Deployment, FUNDING_CHALLENGER, format_ether};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// `opml credits`.
#[derive(Args, Debug)]
pub(crate) struct CreditsArgs {
    /// An account to report on (repeat for several); without it, the key's
    /// address (`--key-file` or `OPML_KEY`).
    #[arg(long = "address", value_name = "ADDRESS")]
    addresses: Vec<Address>,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    deployment: DeploymentArg,
    #[command(flatten)]
    timeout: RpcTimeout,
    /// Print JSON (amounts in wei, as strings).
    #[arg(long)]
    json: bool,
}

/// Runs `opml credits`.
pub(crate) async fn run(a: CreditsArgs) -> Result<()> {
    let timeout = a.timeout;
    let report = report(&a).await.map_err(|e| timeout.explain(e))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

async fn report(a: &CreditsArgs) -> Result<Value> {
    let mut addresses = a.addresses.clone();
    if addresses.is_empty() {
        match a.chain.key()? {
            Some(k) => addresses.push(k.address()),
            None => bail!(
                "whose credits? pass --address ADDRESS (repeatable), or the account's key with --key-file FILE or OPML_KEY"
            ),
        }
    }
    let chain = a.chain.connect_with(false, a.timeout.policy()).await?;
    let d = a.deployment.load(&chain)?;
    let m = market(&chain, &d);
    let head = chain.block_number().await?;
    let now = chain.block(head).await?.map(|b| b.1).unwrap_or_default();
    let submitter_bond = U256::from(chain.view("submitterBond", &m.submitterBond()).await?);
    let challenger_bond = U256::from(chain.view("challengerBond", &m.challengerBond()).await?);
    let mut accounts = vec![];
    for who in addresses {
        accounts.push(account(&chain, &d, who, head, now, submitter_bond, challenger_bond).await?);
    }
    Ok(json!({
        "chain_id": chain.chain_id, "market": d.market, "block": head, "time": now,
        "accounts": accounts,
    }))
}

/// The ids in topic `at` of the logs `filter` matches, from the deployment block to `head`.
async fn ids_of(
    chain: &Chain,
    d: &Deployment,
    filter: Filter,
    at: usize,
    head: u64,
) -> Result<BTreeSet<u64>> {
    let logs: Vec<Log> = scan_logs(chain, &filter, d.block, head, false, |_| false).await?;
    Ok(logs
        .iter()
        .filter_map(|l| l.topics().get(at))
        .map(|t| U256::from_be_bytes(t.0).to::<u64>())
        .collect())
}

/// What the market holds for `who`.
async fn account(
    chain: &Chain,
    d: &Deployment,
    who: Address,
    head: u64,
    now: u64,
    submitter_bond: U256,
    challenger_bond: U256,
) -> Result<Value> {
    let m = market(chain, d);
    let g = games(chain, d);
    let withdrawable = chain.view("withdrawable", &m.withdrawable(who)).await?;

    // Its pending claims: bond, free stake, and the stake reserved by open games.
    let submitted = Filter::new()
        .address(d.market)
        .event_signature(InferenceMarket::Submitted::SIGNATURE_HASH)
        .topic3(who.into_word());
    let claim_ids = ids_of(chain, d, submitted, 2, head).await?;
    let mut claims = vec![];
    let mut in_claims = U256::ZERO;
    for id in claim_ids {
        let c = chain.view("getClaim", &m.getClaim(U256::from(id))).await?;
        if c.status != 1 || c.submitter != who {
            continue; // only a pending claim holds anything
        }
        let stake = U256::from(c.gameStake);
        // games backed by the claim (not by their challenger's own stake) reserve one stake each
        let reserved = stake * U256::from(c.openGames.saturating_sub(c.unmatchedGames));
        let held = submitter_bond + c.freeStake + reserved;
        in_claims += held;
        claims.push(json!({
            "id": id, "request": c.requestId.to::<u64>(),
            "status": name(&CLAIM_STATUS, c.status),
            "bond": submitter_bond.to_string(), "free_stake": c.freeStake.to_string(),
            "game_stake": stake.to_string(), "open_games": c.openGames,
            "unmatched_games": c.unmatchedGames, "reserved_by_games": reserved.to_string(),
            "held": held.to_string(),
            "challenge_deadline": c.challengeDeadline,
            "challengeable": now < c.challengeDeadline,
        }));
    }

    // Its live games, on either side: a challenger's bond and own stake are held by the game.
    let created = Filter::new()
        .address(d.dispute_game)
        .event_signature(DisputeGame::GameCreated::SIGNATURE_HASH);
    let as_defender = ids_of(chain, d, created.clone().topic2(who.into_word()), 1, head).await?;
    let as_challenger = ids_of(chain, d, created.topic3(who.into_word()), 1, head).await?;
    let mut game_rows = vec![];
    let mut in_games = U256::ZERO;
    for id in as_defender.union(&as_challenger) {
        let r = chain.view("getGame", &m.getGame(U256::from(*id))).await?;
        if r.settled || r.challenger == Address::ZERO {
            continue;
        }
        let s = chain.view("game", &g.game(U256::from(*id))).await?;
        let c = chain
            .view("getClaim", &m.getClaim(U256::from(r.claimId)))
            .await?;
        let clocks = chain.view("clocks", &g.clocks(U256::from(*id))).await?;
        let challenger = s.challenger == who;
        let status = GameStatus::from_u8(s.status);
        let own_stake = if challenger && r.funding == FUNDING_CHALLENGER {
            U256::from(c.gameStake)
        } else {
            U256::ZERO
        };
        let (bond, held) = if challenger {
            (challenger_bond, challenger_bond + own_stake)
        } else {
            // the defender's stake in the game is counted with its claim
            (U256::ZERO, U256::ZERO)
        };
        in_games += held;
        let clock_left: u64 = if challenger {
            clocks.challenger.to()
        } else {
            clocks.defender.to()
        };
        let state = opml_agents::player::GameState {
            defender: s.defender,
            challenger: s.challenger,
            defender_clock: s.defenderClock,
            challenger_clock: s.challengerClock,
            lo: s.lo,
            hi: s.hi,
            last_move_at: s.lastMoveAt.to::<u64>(),
            status,
            defender_asserts: s.defenderAsserts,
            moves: s.moves,
            points: s.points,
        };
        let mover = state.to_move();
        game_rows.push(json!({
            "id": id, "claim": r.claimId, "request": c.requestId.to::<u64>(),
            "side": if challenger { "challenger" } else { "defender" },
            "status": status_name(status),
            "claim_status": name(&CLAIM_STATUS, c.status),
            "funding": name(&FUNDING, r.funding),
            "bond": bond.to_string(), "own_stake": own_stake.to_string(), "held": held.to_string(),
            "clock_left": clock_left,
            "to_move": if mover == Address::ZERO { Value::Null }
                else if mover == who { json!("self") } else { json!("opponent") },
            "deadline": status.is_live().then(|| state.mover_deadline()),
        }));
    }
    let total = withdrawable + in_claims + in_games;
    Ok(json!({
        "address": who,
        "withdrawable": withdrawable.to_string(),
        "claims": claims,
        "games": game_rows,
        "total": {
            "withdrawable": withdrawable.to_string(), "claims": in_claims.to_string(),
            "games": in_games.to_string(), "all": total.to_string(),
        },
    }))
}

fn wei(v: &Value) -> String {
    let n = v
        .as_str()
        .and_then(|s| U256::from_str_radix(s, 10).ok())
        .unwrap_or_default();
    format_ether(n)
}

fn print(report: &Value) {
    let now = report["time"].as_u64().unwrap_or_default();
    println!(
        "market {} on chain {} at block {}",
        report["market"].as_str().unwrap_or("?"),
        report["chain_id"],
        report["block"]
    );
    for a in report["accounts"].as_array().into_iter().flatten() {
        // checksummed, as people compare addresses
        match a["address"]
            .as_str()
            .and_then(|s| s.parse::<Address>().ok())
        {
            Some(who) => println!("{who}"),
            None => println!("{}", a["address"]),
        }
        println!("  withdrawable now  {}", wei(&a["withdrawable"]));
        let claims = a["claims"].as_array().cloned().unwrap_or_default();
        if claims.is_empty() {
            println!("  no pending claims");
        }
        for c in claims {
            let deadline = c["challenge_deadline"].as_u64().unwrap_or_default();
            let window = if deadline > now {
                format!(
                    "challengeable until {} (in {})",
                    utc(deadline),
                    duration(deadline - now)
                )
            } else {
                format!("challenge window closed at {}", utc(deadline))
            };
            println!(
                "  claim {} (request {}) [{}]: bond {}, free stake {}, game stake {} x {} open games backed by the claim ({} by their challengers); holds {}; {window}",
                c["id"],
                c["request"],
                c["status"].as_str().unwrap_or("?"),
                wei(&c["bond"]),
                wei(&c["free_stake"]),
                wei(&c["game_stake"]),
                c["open_games"].as_u64().unwrap_or_default()
                    - c["unmatched_games"].as_u64().unwrap_or_default(),
                c["unmatched_games"],
                wei(&c["held"]),
            );
        }
        let games = a["games"].as_array().cloned().unwrap_or_default();
        if games.is_empty() {
            println!("  no live games");
        }
        for g in games {
            let side = g["side"].as_str().unwrap_or("?");
            let money = if side == "challenger" {
                format!(
                    "bond {}, own stake {}; holds {}",
                    wei(&g["bond"]),
                    wei(&g["own_stake"]),
                    wei(&g["held"])
                )
            } else if g["funding"] == "challenger" {
                "backed by the challenger's own stake until the claim matches it (before the first dissection)".into()
            } else {
                format!("its stake is reserved from claim {}", g["claim"])
            };
            let turn = match g["to_move"].as_str() {
                Some("self") => "its move",
                Some(_) => "the opponent's move",
                None => "no move due",
            };
            println!(
                "  game {} (claim {}, {}) as {side} [{}]: {money}; clock {} left, {turn}",
                g["id"],
                g["claim"],
                g["claim_status"].as_str().unwrap_or("?"),
                g["status"].as_str().unwrap_or("?"),
                duration(g["clock_left"].as_u64().unwrap_or_default()),
            );
        }
        let t = &a["total"];
        println!(
            "  total held by the market {} (withdrawable {}, in claims {}, in games {})",
            wei(&t["all"]),
            wei(&t["withdrawable"]),
            wei(&t["claims"]),
            wei(&t["games"])
        );
    }
}
