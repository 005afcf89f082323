//! The opML submitter: serves the models whose artifacts it holds.
//!
//! It follows `Requested` events, runs the model, posts the claim with its
//! bond and the stake for games against it, defends every game to the end
//! (topping the stake up to match a game its challenger backed once the
//! claim's stake is taken), finalizes (or releases) its claims after the
//! window, and withdraws what it is owed.
//!
//! Every pass re-reads the chain before acting, so the loop resumes after a
//! crash or with a deleted database exactly where the chain is (see
//! `docs/AGENTS.md`).

use alloy::primitives::U256;
use opml_agents::agent::{
    Agent, AgentConfig, AgentError, Commitment, PlayPolicy, Shutdown, TraceReady,
    each_concurrently, isolate, live_games, play_games, send_logged, withdraw_if_owed,
};
use opml_agents::client::ChainError;
use opml_agents::deploy::market;
use opml_agents::faults::{LyingTrace, SubmitterFaults};
use opml_agents::passes::{Pass, run_passes};
use opml_agents::play::encode_submit;
use opml_agents::store::{ClaimRow, RequestRow};
use opml_onchain::protocol::format_ether;
use opml_vm::trace::TraceProvider;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;

/// Gas a delivery uses besides its callback: the transaction, its calldata,
/// the oracle's checks and event (measured at about 77k; `docs/ORACLE.md`).
const DELIVERY_OVERHEAD_GAS: u128 = 90_000;

/// The submitter's `[policy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Games each claim's stake funds up front (at least 1).
    pub stake_games: u64,
    /// Games' worth of stake added when a game its challenger backed must be
    /// matched and the claim's free stake is short (at least the shortfall).
    pub top_up_games: u64,
    /// Withdraw once this much (wei or "0.1 ether") is owed.
    pub min_withdraw: String,
    /// Seconds before a request's deadline after which it is no longer
    /// served: a claim mined after the deadline reverts and costs its gas.
    pub deadline_margin_s: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            stake_games: 4,
            top_up_games: 2,
            min_withdraw: "0".into(),
            deadline_margin_s: 12,
        }
    }
}

/// The submitter's configuration file.
pub type Config = AgentConfig<Policy, SubmitterFaults>;

/// The running submitter.
pub struct Submitter {
    agent: Agent,
    policy: Policy,
    min_withdraw: U256,
    faults: Option<SubmitterFaults>,
    /// Requests whose skip reason was already logged.
    skipped: std::sync::Mutex<HashSet<u64>>,
}

impl Submitter {
    /// Starts from a configuration; `allow_faults` must be set for a `[faults]` section.
    pub async fn start(cfg: &Config, allow_faults: bool) -> Result<Submitter, AgentError> {
        if cfg.faults.is_some() && !allow_faults {
            return Err(AgentError::Config(
                "the config has a [faults] section, which makes this submitter lie; it is for tests only and needs --allow-faults".into(),
            ));
        }
        let min_withdraw = opml_onchain::protocol::parse_amount(&cfg.policy.min_withdraw)
            .map_err(|e| AgentError::Config(format!("policy.min_withdraw: {e}")))?;
        if cfg.faults.is_some() {
            tracing::warn!(faults = ?cfg.faults, "FAULT INJECTION: this submitter lies on purpose");
        }
        Ok(Submitter {
            agent: Agent::start(cfg).await?,
            policy: cfg.policy.clone(),
            min_withdraw,
            faults: cfg.faults.clone(),
            skipped: Default::default(),
        })
    }

    /// The agent (chain, store, models).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Runs passes until a stop is asked for.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), AgentError> {
        run_passes(self, shutdown, "submitter").await
    }

    /// The trace this submitter plays for a request (a lying one under faults).
    async fn trace_for(&self, r: &RequestRow) -> Result<Arc<dyn TraceProvider>, String> {
        let honest = self.agent.trace(r).await?;
        self.played(r, honest)
    }

    /// The honest trace, or the lie the faults ask for on this request.
    fn played(
        &self,
        r: &RequestRow,
        honest: Arc<opml_vm::trace::VmTrace>,
    ) -> Result<Arc<dyn TraceProvider>, String> {
        if let Some(f) = self.faults.as_ref().and_then(|f| f.for_request(r.id))
            && let Some(lie) =
                LyingTrace::submitter(honest.clone(), &f).map_err(|e| e.to_string())?
        {
            return Ok(Arc::new(lie));
        }
        Ok(honest)
    }

    /// One pass: sync; defend (the games are on the clock, so first); serve
    /// the requests whose model run finished within a poll interval (longer
    /// runs are looked at next pass, so none holds a move back) and, at the
    /// same time, settle; withdraw. A failure on one request, claim or game
    /// is logged and the rest goes on; only a dead node or database ends the
    /// pass.
    pub async fn pass(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        self.agent.sync().await?;
        self.defend(shutdown).await?;
        // Each waits for its transactions to be mined: side by side, a busy
        // pass waits about one block, not two, before it looks for new work.
        let (served, settled) = tokio::join!(self.serve(shutdown), self.settle());
        served?;
        settled?;
        self.withdraw().await?;
        Ok(())
    }

    async fn serve(&self, shutdown: &Shutdown) -> Result<(), AgentError> {
        let a = &self.agent;
        let me = a.chain.address();
        let now = a.now().await?;
        let mut work = vec![];
        for r in a.store.open_requests().await? {
            if r.deadline <= now {
                a.store.close_request(r.id).await?;
                a.forget_trace(r.id);
                continue;
            }
            let claims = a.store.claims(Some(r.id), false).await?;
            if claims.iter().any(|c| c.submitter == me) {
                continue;
            }
            if a.models.get(&r.model_id).is_none() {
                if self.skipped.lock().unwrap().insert(r.id) {
                    tracing::info!(request = r.id, model = %r.model_id, "not serving: model not in the models directory");
                }
                continue;
            }
            work.push(r);
        }
        a.leases.spread(&mut work);
        // several at a time: each waits a block or more for its receipt
        let this = self;
        each_concurrently(work, a.concurrency, |r| async move {
            if shutdown.requested() {
                return Ok(());
            }
            let unit = format!("request {}", r.id);
            isolate(&unit, this.serve_one(r).await)
        })
        .await
    }

    async fn serve_one(&self, r: RequestRow) -> Result<(), AgentError> {
        let a = &self.agent;
        if !a.traces.reserve(r.id) {
            return Ok(()); // every worker is busy: leave the request to another instance or the next pass
        }
        if !a.leases.take(&format!("request {}", r.id)).await? {
            a.traces.unreserve(r.id);
            return Ok(()); // another instance serves it
        }
        let purpose = format!("submit request {}", r.id);
        // Sent before (maybe before a crash) and mined or pending: the follower
        // will see it. Journaled but never broadcast: send it now.
        if a.chain.sent_before(&purpose, &a.store).await? {
            return Ok(());
        }
        let played = match a.trace_soon(&r).await {
            TraceReady::Ready(honest) => self.played(&r, honest),
            TraceReady::Busy => return Ok(()), // still running: next pass
            TraceReady::Failed(e) => Err(e),
        };
        let trace = match played {
            Ok(t) => t,
            Err(e) => {
                if self.skipped.lock().unwrap().insert(r.id) {
                    tracing::warn!(request = r.id, error = %e, "cannot run the request; skipped");
                    a.store.note_request(r.id, &e).await?;
                }
                return Ok(());
            }
        };
        let claim = trace.claim();
        // Too close to the deadline to be mined in time: skip rather than revert.
        let now = a.chain.now().await?;
        if now + self.policy.deadline_margin_s >= r.deadline {
            if self.skipped.lock().unwrap().insert(r.id) {
                tracing::warn!(
                    request = r.id,
                    left_s = r.deadline.saturating_sub(now),
                    margin_s = self.policy.deadline_margin_s,
                    "too close to the request's deadline to be mined in time; skipped"
                );
            }
            return Ok(());
        }
        let m = market(&a.chain, &a.deployment);
        let stake = a
            .chain
            .view("gameStakeFor", &m.gameStakeFor(claim.steps))
            .await?;
        let value =
            a.deployment.params.submitter_bond + stake * U256::from(self.policy.stake_games.max(1));
        if a.held_back(&format!("request {}", r.id), Commitment::Claim, value)
            .await?
        {
            return Ok(());
        }
        let sent = a
            .chain
            .send(
                &purpose,
                Some(a.deployment.market),
                encode_submit(r.id, claim),
                value,
                &a.store,
            )
            .await;
        match sent {
            Ok(s) => {
                a.committed(value);
                tracing::info!(
                    request = r.id,
                    steps = claim.steps,
                    final_state = %alloy::primitives::B256::from(claim.final_state),
                    bond_and_stake = %format_ether(value),
                    tx = %s.receipt.transaction_hash,
                    "claim posted"
                );
            }
            Err(ChainError::WouldRevert { reason, .. }) => {
                tracing::warn!(request = r.id, reason, "cannot submit; skipped");
                a.store.note_request(r.id, &reason).await?;
                a.store.close_request(r.id).await?;
            }
            // Not a decision about the request: it is served once the key is funded (before its deadline).
            Err(e @ ChainError::InsufficientFunds { .. }) => {
                if self.skipped.lock().unwrap().insert(r.id) {
                    tracing::error!(request = r.id, error = %e, "cannot afford the bond and stake; served once this account is funded");
                    a.store.note_request(r.id, &e.to_string()).await?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn defend(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        let a = &self.agent;
        let me = a.chain.address();
        let mine = live_games(a, |_, c| c.submitter == me).await?;
        let silent_from = self.faults.as_ref().and_then(|f| f.silent_from_move);
        let this = &*self;
        let policy = PlayPolicy {
            role: "defender",
            silent_from,
            top_up_games: self.policy.top_up_games,
        };
        play_games(a, mine, policy, shutdown, |request| async move {
            let r = a
                .store
                .request(request)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("request {request} not seen yet"))?;
            this.trace_for(&r).await
        })
        .await
    }

    async fn settle(&self) -> Result<(), AgentError> {
        let a = &self.agent;
        let me = a.chain.address();
        let now = a.now().await?;
        // The window is fixed at submission (the store has it): a claim whose
        // window is open needs no look at the chain. Under load that is every
        // claim of the last window, each read from the chain every pass before.
        let mine: Vec<_> = a
            .store
            .claims(None, true)
            .await?
            .into_iter()
            .filter(|c| c.submitter == me && c.challenge_deadline <= now)
            .collect();
        let this = self;
        each_concurrently(mine, a.concurrency, |c| async move {
            let unit = format!("claim {}", c.id);
            isolate(&unit, this.settle_one(c, now).await)
        })
        .await
    }

    async fn settle_one(&self, c: ClaimRow, now: u64) -> Result<(), AgentError> {
        let a = &self.agent;
        if !a.leases.take(&format!("claim {}", c.id)).await? {
            return Ok(());
        }
        let m = market(&a.chain, &a.deployment);
        let on_chain = a
            .chain
            .view("getClaim", &m.getClaim(U256::from(c.id)))
            .await?;
        let status = on_chain.status as u8;
        if status == 3 {
            // finalized (by this agent, maybe before a restart): its callback is owed
            self.deliver(&c).await?;
        }
        if status != 1 {
            let s = ["none", "pending", "voided", "finalized", "released"]
                .get(status as usize)
                .copied()
                .unwrap_or("none");
            a.store.set_claim_status(c.id, s).await?;
            return Ok(());
        }
        if on_chain.openGames > 0 || now < on_chain.challengeDeadline {
            return Ok(());
        }
        let request = a
            .chain
            .view("getRequest", &m.getRequest(on_chain.requestId))
            .await?;
        let (purpose, data) = if request.status as u8 == 1 {
            (
                format!("finalize claim {}", c.id),
                alloy::sol_types::SolCall::abi_encode(
                    &opml_onchain::bindings::InferenceMarket::finalizeCall {
                        claimId: U256::from(c.id),
                    },
                ),
            )
        } else {
            (
                format!("release claim {}", c.id),
                alloy::sol_types::SolCall::abi_encode(
                    &opml_onchain::bindings::InferenceMarket::releaseCall {
                        claimId: U256::from(c.id),
                    },
                ),
            )
        };
        let finalizing = request.status as u8 == 1;
        send_logged(a, &purpose, data, U256::ZERO).await?;
        if finalizing {
            self.deliver(&c).await?;
        }
        Ok(())
    }

    /// Delivers a finalized claim's output to the consumer of its request when
    /// the request came through the oracle and waits for its callback (the
    /// reward pays this agent). Anyone may deliver; a lost race is harmless.
    async fn deliver(&self, c: &ClaimRow) -> Result<(), AgentError> {
        let a = &self.agent;
        let oracle = a.deployment.oracle;
        if oracle == alloy::primitives::Address::ZERO {
            return Ok(());
        }
        let o = opml_onchain::bindings::InferenceOracle::new(oracle, a.chain.provider.clone());
        let r = a
            .chain
            .view("oracle getRequest", &o.getRequest(U256::from(c.request_id)))
            .await?;
        let pending = 1;
        if r.status != pending {
            return Ok(());
        }
        // Deliver only when the reward pays for the gas at the current price: a
        // consumer cannot make this agent spend more than it earns (anyone may
        // deliver, and the request waits for a cheaper block).
        let price_per_gas = a
            .chain
            .view("oracle callbackGasPrice", &o.callbackGasPrice())
            .await?;
        let reward = price_per_gas.saturating_mul(U256::from(r.gasLimit));
        let fees = a.chain.fees().await?;
        let tip = fees.max_priority_fee_per_gas;
        // the estimate's max fee is twice the base fee plus the tip
        let expected = fees.max_fee_per_gas.saturating_sub(tip) / 2 + tip;
        let cost = U256::from(expected)
            .saturating_mul(U256::from(r.gasLimit as u128 + DELIVERY_OVERHEAD_GAS));
        if reward < cost {
            tracing::info!(
                request = c.request_id,
                reward = %reward,
                cost = %cost,
                "not delivering the callback: its reward does not cover the gas at the current price"
            );
            return Ok(());
        }
        let purpose = format!("deliver request {}", c.request_id);
        let data = alloy::sol_types::SolCall::abi_encode(
            &opml_onchain::bindings::InferenceOracle::deliverCall {
                requestId: U256::from(c.request_id),
                output: c.output.clone().into(),
            },
        );
        match a
            .chain
            .send(&purpose, Some(oracle), data.into(), U256::ZERO, &a.store)
            .await
        {
            Ok(s) => tracing::info!(purpose, tx = %s.receipt.transaction_hash, "done"),
            Err(opml_agents::client::ChainError::WouldRevert { reason, .. }) => {
                tracing::warn!(purpose, reason, "not sent: it would revert")
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn withdraw(&mut self) -> Result<(), AgentError> {
        withdraw_if_owed(&self.agent, self.min_withdraw).await
    }
}

impl Pass for Submitter {
    async fn pass(&mut self, shutdown: &Shutdown) -> Result<(), AgentError> {
        Submitter::pass(self, shutdown).await
    }

    fn poll(&self) -> std::time::Duration {
        self.agent.poll
    }

    fn agent(&self) -> &Agent {
        &self.agent
    }
}
