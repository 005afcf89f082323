//! The opML challenger (watcher): re-executes every claim on the models it
//! holds and disputes the ones that differ.
//!
//! It follows `Submitted` events, re-runs the request, and challenges when the
//! output, the final state or the step count differ and the policy finds it
//! worth it; it plays every game it opened to the end, closes its games of
//! claims another game voided, and withdraws its winnings. Like the submitter
//! it re-reads the chain before every action (see `docs/AGENTS.md`).

use alloy::primitives::{B256, U256};
use alloy::sol_types::{SolCall, SolEvent};
use opml_agents::agent::{
    Agent, AgentConfig, AgentError, Commitment, PlayPolicy, Shutdown, TraceReady, claim_difference,
    isolate, live_games, play_games, send_logged, withdraw_if_owed,
};
use opml_agents::client::ChainError;
use opml_agents::deploy::market;
use opml_agents::faults::{ChallengerFaults, LyingTrace};
use opml_agents::passes::{Pass, run_passes};
use opml_agents::store::ClaimRow;
use opml_onchain::bindings::InferenceMarket;
use opml_onchain::protocol::{format_ether, parse_amount};
use opml_vm::trace::TraceProvider;
use serde::Deserialize;
use std::sync::Arc;

/// The challenger's `[policy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Model ids (0x-hex) to watch; empty: every model in the models directory.
    pub models: Vec<String>,
    /// Challenge only when the expected gain (the bounty share of the bond
    /// plus the game allowance, against the estimated gas) reaches this (wei or "0.01 ether").
    pub min_profit: String,
    /// Join a claim that others already challenge (their game may void it first,
    /// and then only the first winner takes the bounty).
    pub join_challenged: bool,
    /// Gas price (wei) assumed for the profit estimate; 0: the node's current price.
    pub gas_price: u128,
    /// Gas assumed per game transaction for the estimate.
    pub gas_per_move: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            models: vec![],
            min_profit: "0".into(),
            join_challenged: true,
            gas_price: 0,
            gas_per_move: 400_000,
        }
    }
}

/// The challenger's configuration file.
pub type Config = AgentConfig<Policy, ChallengerFaults>;

/// The running challenger.
pub struct Challenger {
    agent: Agent,
    policy: Policy,
    watched: Vec<B256>,
    min_profit: U256,
    faults: Option<ChallengerFaults>,
}

impl Challenger {
    /// Starts from a configuration; `allow_faults` must be set for a `[faults]` section.
    pub async fn start(cfg: &Config, allow_faults: bool) -> Result<Challenger, AgentError> {
        if cfg.faults.is_some() && !allow_faults {
            return Err(AgentError::Config(
                "the config has a [faults] section, which makes this challenger lie; it is for tests only and needs --allow-faults".into(),
            ));
        }
        for s in &cfg.policy.models {
            s.parse::<B256>().map_err(|_| {
                AgentError::Config(format!(
                    "policy.models: `{s}` is not a 32-byte hex model id"
                ))
            })?;
        }
        let min_profit = parse_amount(&cfg.policy.min_profit)
            .map_err(|e| AgentError::Config(format!("policy.min_profit: {e}")))?;
        if cfg.faults.is_some() {
            tracing::warn!(faults = ?cfg.faults, "FAULT INJECTION: this challenger lies on purpose");
        }
        let agent = Agent::start(cfg).await?;
        let watched = cfg
            .policy
            .models
            .iter()
            .map(|s| {
                agent
                    .models
                    .check_id(s)
                    .map_err(|e| AgentError::Config(format!("policy.models: {e}")))
            })
            .collect::<Result<Vec<B256>, _>>()?;
        let registry = opml_onchain::bindings::ModelRegistry::new(
            agent.deployment.registry,
            agent.chain.provider.clone(),
        );
        for id in &watched {
            if !agent.chain.view("exists", &registry.exists(*id)).await? {
                return Err(AgentError::Config(format!(
                    "policy.models: model {id} is held here but not registered on this deployment's registry {}; register it (`opml register`) or remove it from the policy",
                    agent.deployment.registry
                )));
            }
        }
        Ok(Challenger {
            agent,
            policy: cfg.policy.clone(),
            watched,
            min_profit,
            faults: cfg.faults.clone(),
        })
    }

    /// The agent (chain, store, models).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Runs passes until a stop is asked for.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), AgentError> {
        run_passes(self, shutdown, "challenger").await
    }

    /// One pass: sync; play (the games are on the clock, so first); judge the
    /// claims whose re-execution finished and challenge the lies (runs still
    /// going are looked at next pass, so none holds a move back); close games
    /// of voided claims; withdraw. A failure on one claim or game is logged and
    /// the rest goes on; only a dead node or database ends the pass.
    pub async fn pass(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        self.agent.sync().await?;
        self.play(shutdown).await?;
        self.judge_and_challenge(shutdown).await?;
        self.close_voided().await?;
        withdraw_if_owed(&self.agent, U256::ZERO).await
    }

    fn watches(&self, model: &B256) -> bool {
        self.agent.models.get(model).is_some()
            && (self.watched.is_empty() || self.watched.contains(model))
    }

    async fn trace_for(&self, request: u64) -> Result<Arc<dyn TraceProvider>, String> {
        let r = self
            .agent
            .store
            .request(request)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("request {request} not seen yet"))?;
        let honest = self.agent.trace(&r).await?;
        if let Some(f) = &self.faults
            && let Some(lie) = LyingTrace::challenger(honest.clone(), f)
        {
            return Ok(Arc::new(lie));
        }
        Ok(honest)
    }

    async fn judge_and_challenge(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        let me = self.agent.chain.address();
        let mut now = None; // read once, and only when a claim needs judging
        // The claim whose window closes first is judged first; one whose
        // window has closed can no longer be challenged, so no run is spent
        // on it (a liar could leave many such claims pending to keep the
        // runs busy while its lie's window runs out).
        let mut claims = self.agent.store.claims(None, true).await?;
        claims.sort_by_key(|c| (c.challenge_deadline, c.id));
        for c in claims {
            if shutdown.requested() {
                break;
            }
            if c.submitter == me {
                continue;
            }
            let item = format!("claim {}", c.id);
            let closed = c.verdict.is_none() && {
                let t = match now {
                    Some(t) => t,
                    None => *now.insert(self.agent.now().await?),
                };
                c.challenge_deadline <= t
            };
            let verdict = match &c.verdict {
                Some(v) => v.clone(),
                None if closed => {
                    tracing::warn!(
                        claim = c.id,
                        request = c.request_id,
                        submitter = %c.submitter,
                        "its challenge window closed before it was judged; not re-executed"
                    );
                    let v = "skipped: its challenge window closed before it was judged";
                    self.agent.store.set_verdict(c.id, v).await?;
                    v.to_string()
                }
                None => {
                    if !self.agent.traces.reserve(c.request_id) {
                        continue; // every worker is busy: next pass, or another instance
                    }
                    if !self.agent.leases.take(&item).await? {
                        self.agent.traces.unreserve(c.request_id);
                        continue; // another instance judges it
                    }
                    let Some(v) = self.judge(&c).await? else {
                        continue; // still re-executing
                    };
                    self.agent.store.set_verdict(c.id, &v).await?;
                    v
                }
            };
            let dispute = verdict.starts_with("differs")
                || (verdict == "agrees" && self.faults.as_ref().is_some_and(|f| f.dispute_correct));
            if dispute && self.agent.leases.take(&item).await? {
                isolate(&item, self.challenge(&c).await)?;
            }
        }
        Ok(())
    }

    /// The verdict on a claim, or `None` while its request is still being re-executed.
    async fn judge(&self, c: &ClaimRow) -> Result<Option<String>, AgentError> {
        let Some(r) = self.agent.store.request(c.request_id).await? else {
            return Ok(Some("skipped: its request was not seen".into()));
        };
        if !self.watches(&r.model_id) {
            return Ok(Some(format!("skipped: model {} not watched", r.model_id)));
        }
        let honest = match self.agent.trace_now(&r) {
            TraceReady::Ready(t) => t,
            TraceReady::Busy => return Ok(None),
            TraceReady::Failed(e) => {
                tracing::warn!(claim = c.id, error = %e, "cannot re-execute; skipped");
                return Ok(Some(format!("skipped: {e}")));
            }
        };
        let v = match claim_difference(honest.as_ref(), &c.output, &c.final_state, c.steps) {
            None => "agrees".to_string(),
            Some(d) => format!("differs: {d}"),
        };
        tracing::info!(claim = c.id, request = c.request_id, submitter = %c.submitter, verdict = v, "claim re-executed");
        Ok(Some(v))
    }

    async fn challenge(&self, c: &ClaimRow) -> Result<(), AgentError> {
        let a = &self.agent;
        let me = a.chain.address();
        let m = market(&a.chain, &a.deployment);
        let id = U256::from(c.id);
        if a.chain
            .view("hasChallenged", &m.hasChallenged(id, me))
            .await?
        {
            return Ok(());
        }
        let purpose = format!("challenge claim {}", c.id);
        // Sent before (maybe before a crash) and mined or pending: the follower
        // will see it. Journaled but never broadcast: send it now.
        if a.chain.sent_before(&purpose, &a.store).await? {
            return Ok(());
        }
        let on_chain = a.chain.view("getClaim", &m.getClaim(id)).await?;
        let now = a.chain.now().await?;
        if on_chain.status as u8 != 1 || now >= on_chain.challengeDeadline {
            return Ok(());
        }
        if on_chain.openGames > 0 && !self.policy.join_challenged {
            tracing::info!(
                claim = c.id,
                games = on_chain.openGames,
                "already challenged by others; policy says not to join"
            );
            return Ok(());
        }
        // Expected gain: the bounty (unburnt share of the bond) and the game's
        // allowance, against the gas of the longest game at the assumed price.
        let p = &a.deployment.params;
        let bounty = p.submitter_bond * U256::from(10_000 - p.burn_bps as u64) / U256::from(10_000);
        let stake = a
            .chain
            .view("gameStakeFor", &m.gameStakeFor(c.steps))
            .await?;
        let txs = stake / p.move_allowance;
        let price = if self.policy.gas_price > 0 {
            self.policy.gas_price
        } else {
            alloy::providers::Provider::get_gas_price(&a.chain.provider)
                .await
                .unwrap_or(1_000_000_000)
        };
        let cost = txs * U256::from(self.policy.gas_per_move) * U256::from(price);
        let gain = bounty + stake;
        if gain < cost + self.min_profit {
            tracing::info!(claim = c.id, gain = %format_ether(gain), cost = %format_ether(cost), "not worth challenging under the policy");
            return Ok(());
        }
        // The bond and one game's stake, always: the market credits the stake
        // back when the claim's own backs the game, and otherwise the game runs
        // on it, so no one can turn this challenge away by taking the claim's
        // stake first in the same block.
        // The client refuses (InsufficientFunds, logged and retried every
        // pass) when the key cannot pay this and the gas: play goes on.
        let value = p.challenger_bond + stake;
        if a.held_back(&format!("claim {}", c.id), Commitment::Challenge, value)
            .await?
        {
            return Ok(());
        }
        let data = InferenceMarket::challengeCall {
            requestId: U256::from(c.request_id),
            claimId: id,
        }
        .abi_encode();
        match a
            .chain
            .send(
                &purpose,
                Some(a.deployment.market),
                data.into(),
                value,
                &a.store,
            )
            .await
        {
            Ok(s) => {
                let game = s.receipt.inner.logs().iter().find_map(|l| {
                    InferenceMarket::Challenged::decode_log(&l.inner)
                        .ok()
                        .map(|e| (e.gameId, e.funding))
                });
                let backed = match game.map(|g| g.1) {
                    Some(opml_onchain::protocol::FUNDING_CHALLENGER) => "this challenger's stake",
                    _ => "the claim's stake",
                };
                a.committed(value);
                a.traces.hold(c.request_id);
                tracing::info!(claim = c.id, game = ?game.map(|g| g.0), bond = %format_ether(p.challenger_bond), backed_by = backed, "challenged");
            }
            Err(ChainError::WouldRevert { reason, .. }) => {
                tracing::warn!(claim = c.id, reason, "cannot challenge");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn play(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        let a = &self.agent;
        let me = a.chain.address();
        let mine = live_games(a, |g, _| g.challenger == me).await?;
        let silent_from = self.faults.as_ref().and_then(|f| f.silent_from_move);
        let this = &*self;
        let policy = PlayPolicy {
            role: "challenger",
            silent_from,
            top_up_games: 1,
        };
        play_games(a, mine, policy, shutdown, |request| this.trace_for(request)).await
    }

    /// Closes this challenger's games whose claim another game voided (bond and stake back).
    async fn close_voided(&self) -> Result<(), AgentError> {
        let a = &self.agent;
        let me = a.chain.address();
        for g in a.store.games(&["cancelled", "live"]).await? {
            if g.challenger != me || !a.leases.take(&format!("game {}", g.id)).await? {
                continue;
            }
            isolate(&format!("close {}", g.id), self.close_one(&g).await)?;
        }
        Ok(())
    }

    async fn close_one(&self, g: &opml_agents::store::GameRow) -> Result<(), AgentError> {
        let a = &self.agent;
        let m = market(&a.chain, &a.deployment);
        let r = a
            .chain
            .view("getGame", &m.getGame(U256::from(g.id)))
            .await?;
        if r.settled {
            a.store.set_game_status(g.id, "closed").await?;
            return Ok(());
        }
        let claim = a
            .chain
            .view("getClaim", &m.getClaim(U256::from(g.claim_id)))
            .await?;
        if claim.status as u8 == 2 {
            let data = InferenceMarket::closeGameCall {
                gameId: U256::from(g.id),
            }
            .abi_encode();
            send_logged(a, &format!("close game {}", g.id), data, U256::ZERO).await?;
        }
        Ok(())
    }
}

impl Pass for Challenger {
    async fn pass(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        Challenger::pass(self, shutdown).await
    }

    fn poll(&self) -> std::time::Duration {
        self.agent.poll
    }

    fn agent(&self) -> &Agent {
        &self.agent
    }
}
