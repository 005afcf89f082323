//! What the submitter and the challenger share: configuration, the key, the
//! models they hold, the chain connection, following the logs into the store,
//! trace sessions, and a clean stop on SIGINT or SIGTERM.

use crate::client::{BoxFuture, Chain, ChainError, NoJournal, NonceLock, TxPolicy, parse_key};
use crate::deploy::market;
use crate::follow::{Follower, Poll};
use crate::play::Turn;
use crate::store::{RequestRow, Store};
use alloy::primitives::B256;
use alloy::primitives::{Address, U256};
use opml_onchain::protocol::Deployment;
use opml_onchain::protocol::format_ether;
use opml_vm::artifact::Artifact;
use opml_vm::machine::model::{ModelVm, model_id, unhex};
use opml_vm::trace::{TraceProvider, VmTrace};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Errors that stop an agent (everything else is logged and retried).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The deployment file.
    #[error(transparent)]
    Deployment(#[from] opml_onchain::protocol::DeploymentError),
}

impl AgentError {
    /// Whether the error leaves nothing else worth trying in this pass: the
    /// node or the database is down (every other item would wait out the same
    /// patience). Anything else concerns one work item.
    pub fn ends_the_pass(&self) -> bool {
        matches!(
            self,
            AgentError::Chain(ChainError::Unreachable { .. }) | AgentError::Store(_)
        )
    }

    /// Whether the agent cannot go on at all (its configuration or deployment).
    pub fn is_fatal(&self) -> bool {
        matches!(self, AgentError::Config(_) | AgentError::Deployment(_))
    }

    fn is_watch_only(&self) -> bool {
        matches!(self, AgentError::Chain(ChainError::WatchOnly { .. }))
    }

    fn class(&self) -> &'static str {
        match self {
            AgentError::Chain(ChainError::InsufficientFunds { .. }) => "insufficient_funds",
            AgentError::Chain(ChainError::WouldRevert { .. }) => "would_revert",
            AgentError::Chain(ChainError::Reverted { .. }) => "reverted",
            AgentError::Chain(ChainError::Refused { .. }) => "refused",
            _ => "other",
        }
    }
}

/// The outcome of the action on one work item (`unit` as `request 7`, `game
/// 3`): a failure that concerns only this item is logged and counted, and the
/// pass goes on with the others (the item is tried again next pass); one that
/// [ends the pass](AgentError::ends_the_pass) or is fatal is returned.
pub fn isolate(unit: &str, result: Result<(), AgentError>) -> Result<(), AgentError> {
    match result {
        // watch-only: the send was logged where it was decided
        Err(e) if e.is_watch_only() => Ok(()),
        Err(e) if !e.ends_the_pass() && !e.is_fatal() => {
            let kind = unit.split(' ').next().unwrap_or(unit);
            crate::metrics::global()
                .work_failures
                .get_or_create(&crate::metrics::WorkLabels {
                    unit: kind.into(),
                    error: e.class().into(),
                })
                .inc();
            tracing::error!(unit, error = %e, "action failed; the other work goes on and this one is tried again next pass");
            Ok(())
        }
        other => other,
    }
}

/// An agent's configuration file: the common fields, the role's policy in
/// `[policy]`, and the test-only `[faults]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default, F: Deserialize<'de>")
)]
pub struct AgentConfig<P, F> {
    /// JSON-RPC endpoint (HTTP).
    pub rpc: String,
    /// Deployment file written by `opml deploy`.
    pub deployment: PathBuf,
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// Compiled artifacts, one directory each (any names: they are keyed by model id).
    pub models_dir: PathBuf,
    /// File holding the private key (hex).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the private key (used when `key_file` is absent).
    #[serde(default = "default_key_env")]
    pub key_env: String,
    /// Blocks to stay behind the head.
    #[serde(default)]
    pub confirmations: u64,
    /// The head `confirmations` count back from: `latest`, `safe` or `finalized`
    /// (the chain's own notion, where it has one).
    #[serde(default = "default_head")]
    pub head: String,
    /// Most blocks per `eth_getLogs`; halved automatically while the node
    /// refuses a range or a result count as too large.
    #[serde(default = "default_log_page")]
    pub log_page_blocks: u64,
    /// Scan the logs from this block rather than from the deployment's (an
    /// operator joining a long-running deployment; requests and claims before
    /// it are not seen).
    #[serde(default)]
    pub start_block: Option<u64>,
    /// Milliseconds between passes while there is work (new events, live
    /// games, model runs under way).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Milliseconds between passes once idle: the interval doubles from
    /// `poll_ms` up to this while passes find nothing to do, so an idle agent
    /// stays within a provider's free tier. At most an eighth of the challenge
    /// window and of the clock budget (lowered to that).
    #[serde(default = "default_idle_poll_ms")]
    pub idle_poll_ms: u64,
    /// Seconds to keep retrying a failing RPC endpoint.
    #[serde(default = "default_patience")]
    pub rpc_patience_s: u64,
    /// Seconds one HTTP request to the node may take before it is abandoned
    /// (and retried as a transient failure, within `rpc_patience_s`).
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_s: u64,
    /// Never pay more than this per gas (gwei), bumps included.
    #[serde(default = "default_max_fee_gwei")]
    pub max_fee_gwei: u64,
    /// Never pay more per gas than this multiple of the node's current fee
    /// suggestion, bumps included (0: no such cap).
    #[serde(default = "default_max_fee_multiple")]
    pub max_fee_multiple: u64,
    /// Follow, judge and play in simulation only: every transaction is
    /// simulated, priced and logged (`watch-only: would send`), none is sent.
    #[serde(default)]
    pub watch_only: bool,
    /// Send withdrawals here (a cold address) rather than to the agent's key.
    #[serde(default)]
    pub withdraw_to: Option<Address>,
    /// Seconds without a receipt before fees are bumped.
    #[serde(default = "default_bump")]
    pub bump_after_s: u64,
    /// The database: `postgres://user@host/db` or `sqlite:path`; default
    /// `agent.sqlite` in `data_dir`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// This instance's name among those sharing the database, unique to it and
    /// the same across its restarts (default: the host and the data directory).
    #[serde(default)]
    pub instance: Option<String>,
    /// Seconds a lease on a request, claim or game lasts without a heartbeat:
    /// how long a dead instance's work waits before another takes it over.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_s: u64,
    /// Actions (submissions, settlements, game moves) in flight at once: each
    /// waits a block or more for its receipt.
    #[serde(default = "default_concurrency")]
    pub max_concurrent_actions: usize,
    /// Model runs (opening a request's trace) in flight at once on the blocking
    /// pool for new work (judging claims, serving requests); a game's trace is
    /// opened whenever the game needs it. On two cores, 1 leaves one for the rest.
    #[serde(default = "default_trace_workers")]
    pub trace_workers: usize,
    /// What runs the models for claims and checks: `native` (the native
    /// executor, for every layer whose plan ties to the committed module;
    /// wasmtime for the rest) or `wasm` (wasmtime alone). Both give the same
    /// bytes; `native` is several times faster.
    #[serde(default)]
    pub engine: opml_vm::compiler::plans::Engine,
    /// Megabytes of open traces kept (least recently used out first); the
    /// traces of this agent's live games are kept whatever their size.
    #[serde(default = "default_trace_cache_mb")]
    pub trace_cache_mb: u64,
    /// Where to serve `/metrics` and `/healthz` (e.g. `127.0.0.1:9464`; port 0
    /// picks one, written to `data_dir/metrics.addr`); not served when absent.
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// `/healthz` fails when the agent is more blocks than this behind the head.
    #[serde(default = "default_max_lag")]
    pub health_max_lag_blocks: u64,
    /// `/healthz` fails when fewer seconds than this are left on a clock where the agent is to move.
    #[serde(default = "default_min_clock")]
    pub health_min_clock_s: u64,
    /// Live games this agent plays as challenger at once: beyond it, new
    /// challenges wait (0: no cap).
    #[serde(default)]
    pub max_open_games: usize,
    /// This agent's pending claims at once: beyond it, new requests wait (0: no cap).
    #[serde(default)]
    pub max_pending_claims: usize,
    /// Most bonds and stakes (wei or "2 ether") this agent has in the market
    /// at once: a new claim or challenge that would pass it waits.
    #[serde(default)]
    pub max_capital: Option<String>,
    /// Most gas fees (wei or "0.5 ether") spent over the last 24 hours: past
    /// it, no new claim or challenge. Moves, defences, settlements and
    /// withdrawals go on whatever was spent: stopping them would lose bonds.
    #[serde(default)]
    pub fee_budget_per_day: Option<String>,
    /// The role's policy.
    #[serde(default)]
    pub policy: P,
    /// Test-only lies; refused without `--allow-faults`.
    #[serde(default)]
    pub faults: Option<F>,
}

fn default_key_env() -> String {
    "OPML_KEY".into()
}
fn default_poll_ms() -> u64 {
    500
}
fn default_idle_poll_ms() -> u64 {
    10_000
}
fn default_patience() -> u64 {
    120
}
fn default_head() -> String {
    "latest".into()
}
fn default_log_page() -> u64 {
    2_000
}
fn default_max_fee_gwei() -> u64 {
    1_000
}
fn default_max_fee_multiple() -> u64 {
    4
}
fn default_rpc_timeout() -> u64 {
    15
}
fn default_bump() -> u64 {
    30
}
fn default_concurrency() -> usize {
    8
}
/// One run per core, at most 4 (a MiniLM-sized run holds about 1.5 GB).
fn default_trace_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}
fn default_trace_cache_mb() -> u64 {
    4096
}
fn default_lease_ttl() -> u64 {
    30
}
fn default_max_lag() -> u64 {
    crate::metrics::HealthPolicy::default().max_lag_blocks
}
fn default_min_clock() -> u64 {
    crate::metrics::HealthPolicy::default().min_clock_s
}

impl<P: DeserializeOwned + Default, F: DeserializeOwned> AgentConfig<P, F> {
    /// Reads a TOML file; relative paths in it are relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, AgentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AgentError::Config(format!("cannot read `{}`: {e}", path.display())))?;
        let mut c: Self = toml::from_str(&text)
            .map_err(|e| AgentError::Config(format!("`{}` is malformed: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut c.deployment, &mut c.data_dir, &mut c.models_dir] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(k) = c.key_file.as_mut().filter(|k| k.is_relative()) {
            *k = base.join(&*k);
        }
        Ok(c)
    }

    /// Applies `OPML_RPC` and `OPML_DATA_DIR` from the environment.
    pub fn apply_env(&mut self) {
        if let Ok(v) = std::env::var("OPML_RPC") {
            self.rpc = v;
        }
        if let Ok(v) = std::env::var("OPML_DATA_DIR") {
            self.data_dir = v.into();
        }
    }

    /// The private key, from `key_file` or the `key_env` variable; never logged.
    pub fn key(&self) -> Result<alloy::signers::local::PrivateKeySigner, AgentError> {
        let text = match &self.key_file {
            Some(f) => return Ok(crate::client::read_key_file(f)?),
            None => std::env::var(&self.key_env).map_err(|_| {
                AgentError::Config(format!(
                    "no key: set `key_file` in the config or the environment variable {}",
                    self.key_env
                ))
            })?,
        };
        Ok(parse_key(&text)?)
    }

    /// The caps on new commitments.
    pub fn limits(&self) -> Result<Limits, AgentError> {
        let amount = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| {
                    opml_onchain::protocol::parse_amount(v)
                        .map_err(|e| AgentError::Config(format!("{field} = {v:?}: {e}")))
                })
                .transpose()
        };
        Ok(Limits {
            max_open_games: self.max_open_games,
            max_pending_claims: self.max_pending_claims,
            max_capital: amount("max_capital", &self.max_capital)?,
            fee_budget_per_day: amount("fee_budget_per_day", &self.fee_budget_per_day)?,
        })
    }

    /// The transaction policy.
    pub fn tx_policy(&self) -> TxPolicy {
        TxPolicy {
            rpc_patience: Duration::from_secs(self.rpc_patience_s),
            bump_after: Duration::from_secs(self.bump_after_s),
            poll: Duration::from_millis(self.poll_ms.clamp(20, 1000)),
            rpc_timeout: Duration::from_secs(self.rpc_timeout_s.max(1)),
            max_fee_per_gas: self.max_fee_gwei as u128 * 1_000_000_000,
            max_fee_multiple: self.max_fee_multiple,
            watch_only: self.watch_only,
            ..TxPolicy::default()
        }
    }
}

/// Caps on what an agent commits: they hold back new claims and challenges
/// only, never a move, a defence, a settlement or a withdrawal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Live games played as challenger (0: no cap).
    pub max_open_games: usize,
    /// Pending claims (0: no cap).
    pub max_pending_claims: usize,
    /// Bonds and stakes in the market (wei).
    pub max_capital: Option<U256>,
    /// Gas fees over the last 24 hours (wei).
    pub fee_budget_per_day: Option<U256>,
}

/// A new commitment an agent weighs against its [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commitment {
    /// A claim (bond and stake).
    Claim,
    /// A challenge (bond and maybe a game's stake).
    Challenge,
}

/// The models an agent holds, by on-chain model id.
#[derive(Clone, Default)]
pub struct Models {
    by_id: HashMap<B256, Arc<ModelVm>>,
}

impl Models {
    /// Loads every artifact directory under `dir`; an unreadable one is logged and skipped.
    pub fn load(
        dir: &Path,
        engine: opml_vm::compiler::plans::Engine,
    ) -> Result<Models, AgentError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            AgentError::Config(format!(
                "cannot read the models directory `{}`: {e}; put compiled artifacts (`opml compile -o DIR`) there",
                dir.display()
            ))
        })?;
        let mut by_id = HashMap::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let loaded = Artifact::load(&path).and_then(|art| {
                let id = unhex(&model_id(&art.manifest)).map(B256::from);
                let (vm, warnings) = engine.model_vm(ModelVm::checked(art)?)?;
                for w in warnings {
                    tracing::warn!(dir = %path.display(), "{w}");
                }
                Ok((id, vm))
            });
            match loaded {
                Ok((Some(id), vm)) => {
                    tracing::info!(
                        model = %id,
                        dir = %path.display(),
                        steps = vm.artifact().manifest.steps,
                        engine = engine.name(),
                        native_calls = vm.native().map_or(0, |(p, _)| p.native_calls()),
                        calls = vm.artifact().manifest.calls().count(),
                        "serving model"
                    );
                    by_id.insert(id, Arc::new(vm));
                }
                Ok((None, _)) => {
                    tracing::warn!(dir = %path.display(), "artifact has no commitment; skipped")
                }
                Err(e) => {
                    tracing::warn!(dir = %path.display(), error = %e, "unusable artifact; skipped")
                }
            }
        }
        Ok(Models { by_id })
    }

    /// The machine of a model.
    pub fn get(&self, id: &B256) -> Option<&Arc<ModelVm>> {
        self.by_id.get(id)
    }

    /// Checks a model id an operator wrote (a policy's `models`): it must be
    /// the on-chain id of a held artifact. The id `compile --json` and
    /// `inspect` print as the manifest's `model_id` is not; the error names
    /// the id to use instead.
    pub fn check_id(&self, given: &str) -> Result<B256, String> {
        let bare = given.trim_start_matches("0x").to_lowercase();
        if let Ok(id) = given.parse::<B256>()
            && self.by_id.contains_key(&id)
        {
            return Ok(id);
        }
        if let Some((id, _)) = self
            .by_id
            .iter()
            .find(|(_, vm)| vm.artifact().manifest.model_id.to_lowercase() == bare)
        {
            return Err(format!(
                "`{given}` is the manifest's build id of a held artifact; its on-chain model id (what `opml register` prints and the market uses) is {id}: write that"
            ));
        }
        let held: Vec<String> = self.by_id.keys().map(|k| k.to_string()).collect();
        Err(format!(
            "`{given}` is not the model id of any artifact in the models directory (held: {}); a watcher configured so would watch nothing",
            if held.is_empty() {
                "none".into()
            } else {
                held.join(", ")
            }
        ))
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// A clean stop: set on SIGINT or SIGTERM; loops check it between actions.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// How long a stop waits for the work under way (a transaction being sent,
/// its receipt) before dropping it.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

impl Shutdown {
    /// Listens for SIGINT and SIGTERM.
    pub fn on_signals() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            }
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    /// A shutdown that only `trigger` sets (tests, embedding).
    pub fn manual() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Runs `work` to its end, unless a stop is asked for and it then takes
    /// longer than [`STOP_GRACE`] (`None`): a pass retrying a dead endpoint
    /// would hold a stop for minutes. Dropping work mid-way is as safe as a
    /// crash, which the journal covers: a signed transaction is recorded
    /// before it is broadcast.
    pub async fn unless_stopped<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let mut stop = self.0.clone();
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => return Some(done),
            _ = stop.wait_for(|s| *s) => {}
        }
        match tokio::time::timeout(STOP_GRACE, work).await {
            Ok(done) => Some(done),
            Err(_) => {
                tracing::warn!(grace = ?STOP_GRACE, "stopping in the middle of a pass");
                None
            }
        }
    }

    /// Sleeps for `d`, returning early (true) on a stop.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.requested(),
            _ = self.0.changed() => true,
        }
    }
}

/// The host and the data directory: the same across restarts, so a restarted
/// instance takes its own leases back at once instead of waiting them out.
fn default_instance(data_dir: &Path) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    format!(
        "{}:{}",
        if host.is_empty() { "agent" } else { &host },
        dir.display()
    )
}

/// The leases one instance holds on work items (`request 3`, `claim 5`,
/// `game 2`) in a database shared with other instances of the same agent.
///
/// A pass takes the lease of each item just before acting on it and skips
/// items another instance holds. A heartbeat renews the held leases every
/// third of their lifetime, so they outlive slow passes; an instance that
/// dies stops renewing, and its items are free once the lifetime is over.
/// Items the last pass did not touch (finished, or someone else's now) are
/// given up after it.
pub struct Leases {
    store: Store,
    instance: String,
    ttl: Duration,
    held: Mutex<std::collections::BTreeSet<String>>,
    touched: Mutex<std::collections::BTreeSet<String>>,
}

impl Leases {
    /// Rotates `work` (in urgency order) by an offset drawn from this
    /// instance's name, so instances of a fleet that see the same list start
    /// on different items instead of racing for the first ones (with fast
    /// runs one instance would take every lease and leave the others idle).
    pub fn spread<T>(&self, work: &mut [T]) {
        if work.len() > 1 && self.store.is_server() {
            let h = alloy::primitives::keccak256(self.instance.as_bytes());
            let offset = u64::from_be_bytes(h[..8].try_into().unwrap()) as usize % work.len();
            work.rotate_left(offset);
        }
    }

    fn new(store: Store, instance: String, ttl: Duration) -> Arc<Leases> {
        Arc::new(Leases {
            store,
            instance,
            ttl,
            held: Mutex::default(),
            touched: Mutex::default(),
        })
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// How many leases this instance holds.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Takes or renews the lease on `item`; false while another instance holds it.
    pub async fn take(&self, item: &str) -> Result<bool, crate::store::StoreError> {
        let ours = self.store.lease(item, &self.instance, self.ttl).await?;
        if ours {
            self.touched.lock().unwrap().insert(item.to_string());
            if self.held.lock().unwrap().insert(item.to_string()) {
                tracing::debug!(item, "lease taken");
            }
        } else if self.held.lock().unwrap().remove(item) {
            tracing::warn!(item, "lease lost to another instance");
        }
        Ok(ours)
    }

    /// Gives up the leases the pass that just ended did not use.
    pub async fn end_pass(&self) {
        let idle: Vec<String> = {
            let touched = std::mem::take(&mut *self.touched.lock().unwrap());
            let mut held = self.held.lock().unwrap();
            let idle = held.difference(&touched).cloned().collect();
            *held = touched;
            idle
        };
        for item in idle {
            if let Err(e) = self.store.release(&item, &self.instance).await {
                tracing::warn!(item, error = %e, "cannot give up a lease; it expires");
            }
        }
    }

    fn spawn_heartbeat(self: Arc<Self>) {
        let period = self.ttl / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                // No progress without the node: let the leases lapse so an
                // instance that reaches the chain can act on the items.
                if let Some(out) = crate::metrics::global()
                    .rpc_outage()
                    .filter(|out| *out > self.ttl)
                {
                    tracing::warn!(outage = ?out, "the node has not answered for longer than lease_ttl_s; leases are not renewed");
                    continue;
                }
                let items: Vec<String> = self.held.lock().unwrap().iter().cloned().collect();
                for item in items {
                    match self.store.lease(&item, &self.instance, self.ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            self.held.lock().unwrap().remove(&item);
                            tracing::warn!(item, "lease lost to another instance");
                        }
                        Err(e) => tracing::warn!(item, error = %e, "cannot renew a lease"),
                    }
                }
                if Arc::strong_count(&self) == 1 {
                    // the agent is gone
                    return;
                }
            }
        });
    }
}

/// The nonce owner of a key shared by the instances of a fleet: a lease on
/// `nonce <address>` in their database, held while a transaction takes its
/// nonce (see [`NonceLock`]).
struct FleetNonce {
    store: Store,
    instance: String,
    /// Renews the lease while it is held (retries of a slow node can outlast
    /// one lifetime); a dead holder stops renewing and frees it within one.
    renewal: Mutex<Option<tokio::task::AbortHandle>>,
}

/// Lifetime of the nonce lease of a fleet's shared key.
const NONCE_LEASE: Duration = Duration::from_secs(15);

impl NonceLock for FleetNonce {
    fn acquire(&self, address: Address) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async move {
            let item = format!("nonce {address}");
            let ttl = NONCE_LEASE;
            let start = tokio::time::Instant::now();
            loop {
                match self.store.lease(&item, &self.instance, ttl).await {
                    Ok(true) => {
                        let (store, instance, item) =
                            (self.store.clone(), self.instance.clone(), item.clone());
                        let renew = tokio::spawn(async move {
                            loop {
                                tokio::time::sleep(ttl / 3).await;
                                if let Err(e) = store.lease(&item, &instance, ttl).await {
                                    tracing::warn!(error = %e, "cannot renew the nonce lease");
                                }
                            }
                        });
                        if let Some(old) =
                            self.renewal.lock().unwrap().replace(renew.abort_handle())
                        {
                            old.abort();
                        }
                        return Ok(());
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot take the nonce lease; retrying"),
                }
                if start.elapsed() > ttl * 4 {
                    return Err(ChainError::Refused {
                        what: "the shared key's nonce".into(),
                        detail: format!(
                            "another instance has held it for {:?}; check the fleet's database",
                            start.elapsed()
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    }

    fn release(&self, address: Address) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(renew) = self.renewal.lock().unwrap().take() {
                renew.abort();
            }
            let item = format!("nonce {address}");
            if let Err(e) = self.store.release(&item, &self.instance).await {
                tracing::warn!(error = %e, "cannot give up the nonce lease; it expires");
            }
        })
    }
}

/// What [`TraceCache::poll`] found.
pub enum TraceReady {
    /// The session is open.
    Ready(Arc<VmTrace>),
    /// It is being opened, or waits for a free worker: ask again next pass.
    Busy,
    /// The model cannot run on this input (the reason).
    Failed(String),
}

type Opening = futures::future::Shared<
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<VmTrace>, String>> + Send>>,
>;

/// The agent's open trace sessions. Each request's trace is opened once at a
/// time (callers share the run in flight) on the blocking pool, so no model run
/// holds the agent's other work; new work opens at most `workers` at once. Open
/// sessions are kept within a byte budget, least recently used out first,
/// except the pinned ones (the requests of this agent's live games).
pub struct TraceCache {
    workers: usize,
    budget: u64,
    state: Mutex<CacheState>,
    /// Runs for new work still computing (a run's worker is free the moment
    /// it ends, not when a pass next looks at it).
    running: Arc<std::sync::atomic::AtomicUsize>,
    /// Told when a run ends, so the pass loop picks its result up at once.
    pub finished: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct CacheState {
    ready: HashMap<u64, Cached>,
    opening: HashMap<u64, Opening>,
    /// Runs that failed (deterministic: the same input fails again).
    failed: HashMap<u64, String>,
    pinned: std::collections::HashSet<u64>,
    /// Pinned until the game they were pinned for is among the live ones
    /// (see [`TraceCache::hold`]).
    held: std::collections::HashSet<u64>,
    /// Requests whose run a unit has reserved a worker for (see [`TraceCache::reserve`]).
    reserved: std::collections::HashSet<u64>,
    tick: u64,
}

struct Cached {
    trace: Arc<VmTrace>,
    bytes: u64,
    used: u64,
}

impl TraceCache {
    /// A cache opening at most `workers` traces at once for new work and
    /// keeping about `budget` bytes of them.
    pub fn new(workers: usize, budget: u64) -> TraceCache {
        TraceCache {
            workers: workers.max(1),
            budget,
            state: Mutex::default(),
            running: Arc::default(),
            finished: Arc::default(),
        }
    }

    /// Whether a worker is free for one more run, besides those reserved.
    fn room(&self, st: &CacheState) -> bool {
        let running = self.running.load(std::sync::atomic::Ordering::SeqCst);
        running + st.reserved.len() < self.workers
    }

    /// Without waiting: the trace of request `id` if open; else starts opening
    /// it (when a worker is free) and says to come back.
    pub fn poll(&self, id: u64, vm: &Arc<ModelVm>, input: &[u8]) -> TraceReady {
        let opening = {
            let mut st = self.state.lock().unwrap();
            if let Some(t) = st.take_ready(id) {
                return TraceReady::Ready(t);
            }
            if let Some(e) = st.failed.get(&id) {
                return TraceReady::Failed(e.clone());
            }
            if let Some(o) = st.opening.get(&id) {
                o.clone()
            } else if st.reserved.remove(&id) || self.room(&st) {
                st.start(id, vm, input, self.counted())
            } else {
                return TraceReady::Busy;
            }
        };
        use futures::FutureExt;
        match opening.now_or_never() {
            None => TraceReady::Busy,
            Some(done) => match self.finish(id, done) {
                Ok(t) => TraceReady::Ready(t),
                Err(e) => TraceReady::Failed(e),
            },
        }
    }

    /// [`TraceCache::poll`], waiting up to `patience` for a run in flight
    /// (one that ends within a poll interval is served in this pass, not the
    /// next, which comes only after this pass's transactions are mined).
    pub async fn poll_within(
        &self,
        id: u64,
        vm: &Arc<ModelVm>,
        input: &[u8],
        patience: std::time::Duration,
    ) -> TraceReady {
        match self.poll(id, vm, input) {
            TraceReady::Busy => {}
            other => return other,
        }
        let Some(opening) = self.state.lock().unwrap().opening.get(&id).cloned() else {
            return TraceReady::Busy; // no worker was free
        };
        match tokio::time::timeout(patience, opening).await {
            Err(_) => TraceReady::Busy,
            Ok(done) => match self.finish(id, done) {
                Ok(t) => TraceReady::Ready(t),
                Err(e) => TraceReady::Failed(e),
            },
        }
    }

    /// The trace of request `id`, waiting for it: joins a run in flight or
    /// starts one now (a game needs it, whatever else is opening).
    pub async fn get(
        &self,
        id: u64,
        vm: &Arc<ModelVm>,
        input: &[u8],
    ) -> Result<Arc<VmTrace>, String> {
        let opening = {
            let mut st = self.state.lock().unwrap();
            if let Some(t) = st.take_ready(id) {
                return Ok(t);
            }
            if let Some(e) = st.failed.get(&id) {
                return Err(e.clone());
            }
            match st.opening.get(&id) {
                Some(o) => o.clone(),
                None => st.start(id, vm, input, None),
            }
        };
        let done = opening.await;
        self.finish(id, done)
    }

    /// Reserves a worker for the run of request `id`, unless its trace is
    /// open, opening or failed (then no worker is needed: true) or every
    /// worker is taken (false). A fleet instance takes a request's lease only
    /// after this, so it never holds work it cannot start; checking and
    /// reserving are one step, so units deciding at once do not all see the
    /// same free worker. [`TraceCache::poll`] uses the reservation;
    /// [`TraceCache::unreserve`] gives it back.
    pub fn reserve(&self, id: u64) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.ready.contains_key(&id)
            || st.opening.contains_key(&id)
            || st.failed.contains_key(&id)
            || st.reserved.contains(&id)
        {
            return true;
        }
        let free = self.room(&st);
        if free {
            st.reserved.insert(id);
        }
        free
    }

    /// Gives back a reservation that [`TraceCache::poll`] did not use.
    pub fn unreserve(&self, id: u64) {
        self.state.lock().unwrap().reserved.remove(&id);
    }

    /// Drops the reservations a pass left unused (a unit that found its work
    /// done another way), so no worker stays reserved for nothing.
    pub fn end_pass(&self) {
        self.state.lock().unwrap().reserved.clear();
    }

    /// What a run for new work counts itself against.
    fn counted(
        &self,
    ) -> Option<(
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<tokio::sync::Notify>,
    )> {
        Some((self.running.clone(), self.finished.clone()))
    }

    /// Keeps the traces of `ids` (the live games' requests; besides those
    /// held, until their game is among them) whatever the budget.
    pub fn pin(&self, ids: impl IntoIterator<Item = u64>) {
        let live: std::collections::HashSet<u64> = ids.into_iter().collect();
        let mut st = self.state.lock().unwrap();
        st.held.retain(|id| !live.contains(id));
        st.pinned = live;
    }

    /// Keeps the trace of request `id` whatever the budget until a game on it
    /// is among those [`TraceCache::pin`] is given (a challenge just sent:
    /// the database sees its game a poll later, and a flood of other runs
    /// could push the disputed trace out in between).
    pub fn hold(&self, id: u64) {
        self.state.lock().unwrap().held.insert(id);
    }

    /// Drops the trace of a request no longer served or disputed.
    pub fn forget(&self, id: u64) {
        let mut st = self.state.lock().unwrap();
        st.ready.remove(&id);
        st.opening.remove(&id);
        st.failed.remove(&id);
        st.held.remove(&id);
    }

    /// Bytes of the open traces, and how many there are.
    pub fn resident(&self) -> (u64, usize) {
        let st = self.state.lock().unwrap();
        (st.ready.values().map(|c| c.bytes).sum(), st.ready.len())
    }

    /// Records a finished run: the session joins the cache (evicting the least
    /// recently used unpinned ones past the budget), a failure is returned.
    fn finish(&self, id: u64, done: Result<Arc<VmTrace>, String>) -> Result<Arc<VmTrace>, String> {
        let mut st = self.state.lock().unwrap();
        st.opening.remove(&id);
        let trace = match done {
            Ok(t) => t,
            Err(e) => {
                st.failed.insert(id, e.clone());
                return Err(e);
            }
        };
        if let Some(t) = st.take_ready(id) {
            return Ok(t); // another caller finished it first
        }
        st.tick += 1;
        let used = st.tick;
        st.ready.insert(
            id,
            Cached {
                trace: trace.clone(),
                bytes: trace.resident_bytes(),
                used,
            },
        );
        let mut total: u64 = st.ready.values().map(|c| c.bytes).sum();
        while total > self.budget {
            let Some((&victim, c)) = st
                .ready
                .iter()
                .filter(|(k, _)| **k != id && !st.pinned.contains(k) && !st.held.contains(k))
                .min_by_key(|(_, c)| c.used)
            else {
                break; // only pinned traces (and this one) left: they stay
            };
            total -= c.bytes;
            st.ready.remove(&victim);
            tracing::debug!(request = victim, "trace evicted (cache budget)");
        }
        Ok(trace)
    }
}

impl CacheState {
    fn take_ready(&mut self, id: u64) -> Option<Arc<VmTrace>> {
        self.tick += 1;
        let tick = self.tick;
        self.ready.get_mut(&id).map(|c| {
            c.used = tick;
            c.trace.clone()
        })
    }

    /// Starts the run of request `id`; `counted`: a run for new work, which
    /// holds a worker until it ends and then says so.
    fn start(
        &mut self,
        id: u64,
        vm: &Arc<ModelVm>,
        input: &[u8],
        counted: Option<(
            Arc<std::sync::atomic::AtomicUsize>,
            Arc<tokio::sync::Notify>,
        )>,
    ) -> Opening {
        use futures::FutureExt;
        use std::sync::atomic::Ordering;
        let (vm, input) = (vm.clone(), input.to_vec());
        if let Some((running, _)) = &counted {
            running.fetch_add(1, Ordering::SeqCst);
        }
        let run = tokio::task::spawn_blocking(move || {
            let trace = VmTrace::open(vm, &input);
            if let Some((running, finished)) = counted {
                running.fetch_sub(1, Ordering::SeqCst);
                finished.notify_one();
            }
            trace
        });
        let opening: Opening = async move {
            run.await
                .map_err(|e| format!("the model run panicked: {e}"))?
                .map(Arc::new)
                .map_err(|e| e.to_string())
        }
        .boxed()
        .shared();
        self.opening.insert(id, opening.clone());
        opening
    }
}

/// The running agent's connection, store, follower and trace sessions.
pub struct Agent {
    /// The chain, with the agent's key.
    pub chain: Chain,
    /// The deployment.
    pub deployment: Deployment,
    /// The database.
    pub store: Store,
    /// The log follower.
    pub follower: Follower,
    /// Held models.
    pub models: Models,
    /// Poll interval while there is work.
    pub poll: Duration,
    /// Longest poll interval while idle.
    pub idle_poll: Duration,
    /// Whether this pass found work (see [`Agent::note_busy`]).
    busy: std::sync::atomic::AtomicBool,
    /// Leases on the work items this instance acts on.
    pub leases: Arc<Leases>,
    /// Actions in flight at once.
    pub concurrency: usize,
    /// Open trace sessions.
    pub traces: TraceCache,
    /// Where withdrawals go (the key's own address when `None`).
    pub withdraw_to: Option<Address>,
    /// Caps on new commitments.
    pub limits: Limits,
    /// Bonds and stakes in the market: as the chain said after the last pass,
    /// plus what this pass committed since.
    pub bonded: Mutex<U256>,
    held_notes: Mutex<std::collections::HashSet<String>>,
    /// The latest block as read in this pass (see [`Agent::head`]).
    pass_head: Mutex<Option<crate::client::Header>>,
    /// What the market owed this key when the gauges were last read: a
    /// withdrawal looks again only when that reached its minimum.
    pub(crate) owed_seen: Mutex<Option<U256>>,
    /// The gauges' last read of this key's pending claims: claim -> (bond and
    /// stakes at risk, whether a game on it was live).
    pub(crate) claim_risk: Mutex<std::collections::HashMap<u64, (U256, bool)>>,
    /// The data directory's lock, held while the agent runs.
    _data_lock: std::fs::File,
}

impl Agent {
    /// Connects, opens the store and loads the models.
    pub async fn start<P: DeserializeOwned + Default, F: DeserializeOwned>(
        cfg: &AgentConfig<P, F>,
    ) -> Result<Agent, AgentError> {
        let data_lock = lock_data_dir(&cfg.data_dir)?;
        let limits = cfg.limits()?;
        let deployment = Deployment::load(&cfg.deployment)?;
        let key = cfg.key()?;
        let models = Models::load(&cfg.models_dir, cfg.engine)?;
        let store = Store::open(&cfg.data_dir, cfg.database_url.as_deref()).await?;
        let instance = cfg
            .instance
            .clone()
            .unwrap_or_else(|| default_instance(&cfg.data_dir));
        let leases = Leases::new(
            store.clone(),
            instance.clone(),
            Duration::from_secs(cfg.lease_ttl_s.max(1)),
        );
        // A server database may be shared by instances signing with the same
        // key: then the database owns the key's nonce.
        let shared = store.is_server().then(|| {
            Arc::new(FleetNonce {
                store: store.clone(),
                instance: instance.clone(),
                renewal: Mutex::default(),
            }) as Arc<dyn NonceLock>
        });
        let chain = Chain::connect_shared(&cfg.rpc, Some(key), cfg.tx_policy(), shared).await?;
        deployment.check_chain(chain.chain_id, &cfg.deployment)?;
        if let Some(addr) = &cfg.metrics_addr {
            let policy = crate::metrics::HealthPolicy {
                max_lag_blocks: cfg.health_max_lag_blocks,
                min_clock_s: cfg.health_min_clock_s,
                // several polls, and at least the time a failing RPC endpoint is retried
                max_silence: Duration::from_millis(cfg.poll_ms * 10)
                    .max(Duration::from_secs(cfg.rpc_patience_s + 60)),
                max_rpc_outage: Duration::from_secs(cfg.rpc_patience_s),
            };
            let bound = crate::metrics::serve(addr, policy).await.map_err(|e| {
                AgentError::Config(format!("metrics_addr `{addr}`: cannot listen: {e}"))
            })?;
            std::fs::create_dir_all(&cfg.data_dir)
                .and_then(|()| std::fs::write(cfg.data_dir.join("metrics.addr"), bound.to_string()))
                .map_err(|e| {
                    AgentError::Config(format!("cannot write metrics.addr in the data dir: {e}"))
                })?;
            tracing::info!(%bound, "serving /metrics and /healthz");
        }
        let head = match cfg.head.as_str() {
            "latest" => alloy::eips::BlockNumberOrTag::Latest,
            "safe" => alloy::eips::BlockNumberOrTag::Safe,
            "finalized" => alloy::eips::BlockNumberOrTag::Finalized,
            other => {
                return Err(AgentError::Config(format!(
                    "head = \"{other}\": use \"latest\", \"safe\" or \"finalized\""
                )));
            }
        };
        let mut follower = Follower::new(
            chain.clone(),
            deployment.watched(),
            deployment.block.max(cfg.start_block.unwrap_or(0)),
            cfg.confirmations,
        )
        .with_page(cfg.log_page_blocks)
        .with_events(crate::store::INGESTED.to_vec());
        follower.head = head;
        check_timing(cfg, &deployment, &chain, &follower).await?;
        tracing::info!(address = %chain.address(), chain_id = chain.chain_id, market = %deployment.market, models = models.len(), instance, "agent started");
        leases.clone().spawn_heartbeat();
        let idle_poll = idle_poll(cfg, &deployment);
        Ok(Agent {
            chain,
            deployment,
            store,
            follower,
            models,
            poll: Duration::from_millis(cfg.poll_ms),
            idle_poll,
            busy: Default::default(),
            leases,
            concurrency: cfg.max_concurrent_actions.max(1),
            traces: TraceCache::new(cfg.trace_workers, cfg.trace_cache_mb << 20),
            withdraw_to: cfg.withdraw_to,
            limits,
            bonded: Mutex::new(U256::ZERO),
            held_notes: Mutex::default(),
            pass_head: Mutex::default(),
            owed_seen: Mutex::default(),
            claim_risk: Mutex::default(),
            _data_lock: data_lock,
        })
    }

    /// Follows the logs up to the confirmed head, storing them; returns how many events were new.
    pub async fn sync(&self) -> Result<usize, AgentError> {
        let mut cursor = match self.store.cursor().await? {
            Some(c) => c,
            None => self.follower.start(),
        };
        let head = if self.follower.head == alloy::eips::BlockNumberOrTag::Latest {
            self.head().await?
        } else {
            self.follower.head_header().await?
        };
        let mut seen = 0;
        loop {
            match self.follower.poll_below(cursor, &head).await? {
                Poll::Idle => {
                    if seen > 0 {
                        self.note_busy();
                    }
                    return Ok(seen);
                }
                Poll::Reorg { rewind, at } => {
                    tracing::warn!(
                        block = at,
                        rescan_from = rewind.next,
                        "reorg: a seen block is gone; scanning again"
                    );
                    self.store.ingest(&[], rewind).await?;
                    // the reorg may have dropped this key's transactions
                    self.chain.forget_nonce().await;
                    cursor = rewind;
                }
                Poll::Logs {
                    logs,
                    cursor: next,
                    caught_up,
                } => {
                    seen += self.store.ingest(&logs, next).await?;
                    cursor = next;
                    if caught_up {
                        if seen > 0 {
                            self.note_busy();
                        }
                        return Ok(seen);
                    }
                }
            }
        }
    }

    /// The model a request is for, from the models directory.
    fn model_of(&self, r: &RequestRow) -> Result<Arc<ModelVm>, String> {
        self.models
            .get(&r.model_id)
            .cloned()
            .ok_or_else(|| format!("model {} is not in the models directory", r.model_id))
    }

    /// The honest trace of a request, waiting for it (opened once, then cached).
    pub async fn trace(&self, r: &RequestRow) -> Result<Arc<VmTrace>, String> {
        let vm = self.model_of(r)?;
        let t = self.traces.get(r.id, &vm, &r.input).await?;
        same_start(r, &t)?;
        Ok(t)
    }

    /// The honest trace of a request if it is open; else it starts opening on
    /// the bounded pool and this says to come back ([`TraceCache::poll`]).
    pub fn trace_now(&self, r: &RequestRow) -> TraceReady {
        match self.model_of(r) {
            Ok(vm) => self.checked(r, self.traces.poll(r.id, &vm, &r.input)),
            Err(e) => TraceReady::Failed(e),
        }
    }

    /// [`Agent::trace_now`], waiting up to one poll interval for a run in
    /// flight: for serving, which comes after the pass's moves, so the wait
    /// (at most one interval, the runs going at once) holds none back.
    pub async fn trace_soon(&self, r: &RequestRow) -> TraceReady {
        match self.model_of(r) {
            Ok(vm) => {
                let got = self
                    .traces
                    .poll_within(r.id, &vm, &r.input, self.poll)
                    .await;
                self.checked(r, got)
            }
            Err(e) => TraceReady::Failed(e),
        }
    }

    /// A trace cache answer for request `r`, its start checked against the request's.
    fn checked(&self, r: &RequestRow, got: TraceReady) -> TraceReady {
        match got {
            TraceReady::Ready(t) => match same_start(r, &t) {
                Ok(()) => TraceReady::Ready(t),
                Err(e) => TraceReady::Failed(e),
            },
            TraceReady::Busy => {
                self.note_busy();
                TraceReady::Busy
            }
            other => other,
        }
    }

    /// Whether a new commitment of `value` (bond and stake) for `unit` must
    /// wait because a limit says so (said once per unit in the log, counted
    /// in `opml_commitments_held_total`); it is weighed again next pass.
    pub async fn held_back(
        &self,
        unit: &str,
        kind: Commitment,
        value: U256,
    ) -> Result<bool, AgentError> {
        let Some(why) = self.limit_reached(kind, value).await? else {
            return Ok(false);
        };
        crate::metrics::global().commitments_held.inc();
        if self.held_notes.lock().unwrap().insert(unit.to_string()) {
            tracing::warn!(unit, why, "held back by a limit; weighed again every pass");
        }
        Ok(true)
    }

    async fn limit_reached(
        &self,
        kind: Commitment,
        value: U256,
    ) -> Result<Option<String>, AgentError> {
        let l = &self.limits;
        let me = self.chain.address();
        match kind {
            Commitment::Claim if l.max_pending_claims > 0 => {
                let pending = self
                    .store
                    .claims(None, true)
                    .await?
                    .iter()
                    .filter(|c| c.submitter == me)
                    .count();
                if pending >= l.max_pending_claims {
                    return Ok(Some(format!(
                        "{pending} claims pending, max_pending_claims = {}",
                        l.max_pending_claims
                    )));
                }
            }
            Commitment::Challenge if l.max_open_games > 0 => {
                let live = self
                    .store
                    .games(&[])
                    .await?
                    .iter()
                    .filter(|g| g.challenger == me && g.status == "live")
                    .count();
                if live >= l.max_open_games {
                    return Ok(Some(format!(
                        "{live} games live, max_open_games = {}",
                        l.max_open_games
                    )));
                }
            }
            _ => {}
        }
        if let Some(max) = l.max_capital {
            let bonded = *self.bonded.lock().unwrap();
            if bonded + value > max {
                return Ok(Some(format!(
                    "{} bonded and {} more would pass max_capital = {}",
                    format_ether(bonded),
                    format_ether(value),
                    format_ether(max)
                )));
            }
        }
        if let Some(budget) = l.fee_budget_per_day {
            let day_ago = crate::store::now_unix() - 86_400;
            let spent = U256::from(self.store.fees_since(day_ago).await?);
            if spent >= budget {
                return Ok(Some(format!(
                    "{} spent on gas in 24 hours, fee_budget_per_day = {}",
                    format_ether(spent),
                    format_ether(budget)
                )));
            }
        }
        Ok(None)
    }

    /// Counts a commitment just made into [`Agent::bonded`] until the next
    /// pass reads the chain.
    pub fn committed(&self, value: U256) {
        *self.bonded.lock().unwrap() += value;
    }

    /// This pass found work (new events, a live game, a model run under way):
    /// the next pass comes after `poll`, not the idle interval.
    pub fn note_busy(&self) {
        self.busy.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The latest block, read once a pass: the follower counts from it, and
    /// it is the pass's clock ([`Agent::now`]). An idle pass asked for the
    /// head and the time six times, which is most of what an idle agent
    /// costs a metered endpoint.
    pub async fn head(&self) -> Result<crate::client::Header, ChainError> {
        if let Some(h) = *self.pass_head.lock().unwrap() {
            return Ok(h);
        }
        let h = self.chain.latest().await?;
        *self.pass_head.lock().unwrap() = Some(h);
        Ok(h)
    }

    /// The chain's time (the latest block's timestamp) as read once a pass.
    /// Moves and claims read it fresh ([`Chain::now`]).
    pub async fn now(&self) -> Result<u64, ChainError> {
        Ok(self.head().await?.timestamp)
    }

    /// Starts a pass: the head is read again when asked for.
    pub fn new_pass(&self) {
        self.pass_head.lock().unwrap().take();
    }

    /// Whether the pass that just ended found work; clears it for the next.
    pub fn take_busy(&self) -> bool {
        self.busy.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops cached traces of requests no longer open.
    pub fn forget_trace(&self, request: u64) {
        self.traces.forget(request);
    }
}

/// Refuses settings under which the agent would act too late to keep its
/// bonds on this deployment: events seen late (confirmations, a `safe` or
/// `finalized` head) eat the challenge window and the game clocks, and so do
/// slow polls and fee bumps; leases shorter than an RPC timeout lapse while
/// their holder waits for one answer.
async fn check_timing<P, F>(
    cfg: &AgentConfig<P, F>,
    d: &Deployment,
    chain: &Chain,
    follower: &Follower,
) -> Result<(), AgentError> {
    let latest = chain.block_number().await?;
    let mut lag_blocks = cfg.confirmations;
    let mut block_time = 0;
    if lag_blocks > 0 || follower.head != alloy::eips::BlockNumberOrTag::Latest {
        lag_blocks += latest.saturating_sub(follower.head_block().await?);
        // the median interval of the last blocks: a warped clock or a pause is one outlier
        let mut times = vec![];
        for n in latest.saturating_sub(8)..=latest {
            if let Some((_, t)) = chain.block(n).await? {
                times.push(t);
            }
        }
        let mut gaps: Vec<u64> = times
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        gaps.sort_unstable();
        block_time = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
    }
    timing_refusal(
        &Timing {
            seen_late_s: lag_blocks * block_time,
            poll_s: cfg.poll_ms.div_ceil(1000),
            bump_after_s: cfg.bump_after_s,
            lease_ttl_s: cfg.lease_ttl_s,
            rpc_timeout_s: cfg.rpc_timeout_s,
        },
        d.params.challenge_window,
        d.params.clock_budget,
    )
    .map_or(Ok(()), |why| Err(AgentError::Config(why)))
}

/// The longest pause between idle passes: `idle_poll_ms`, but at most an
/// eighth of the challenge window and of the clock budget, so that with
/// events seen up to a quarter late ([`check_timing`]) an idle agent still
/// wakes with most of either left; never below `poll_ms`.
fn idle_poll<P, F>(cfg: &AgentConfig<P, F>, d: &Deployment) -> Duration {
    let p = &d.params;
    Duration::from_millis(cfg.idle_poll_ms)
        .min(Duration::from_secs(
            p.challenge_window.min(p.clock_budget) / 8,
        ))
        .max(Duration::from_millis(cfg.poll_ms))
}

/// The settings [`check_timing`] weighs, in seconds.
struct Timing {
    /// How late events are seen: (confirmations + the head tag's lag) x block time.
    seen_late_s: u64,
    poll_s: u64,
    bump_after_s: u64,
    lease_ttl_s: u64,
    rpc_timeout_s: u64,
}

fn timing_refusal(t: &Timing, window: u64, clock: u64) -> Option<String> {
    let quarter = |what: &str, s: u64, of: &str, total: u64| {
        (s.saturating_mul(4) > total).then(|| {
            format!("{what} ({s} s) is more than a quarter of the deployment's {of} ({total} s): the agent would act too late to keep its bonds; lower it")
        })
    };
    quarter(
        "seeing events confirmations x block time late (plus the safe/finalized head's lag)",
        t.seen_late_s,
        "challenge window",
        window,
    )
    .or_else(|| {
        quarter(
            "seeing moves confirmations x block time late",
            t.seen_late_s,
            "clock budget",
            clock,
        )
    })
    .or_else(|| quarter("poll_ms", t.poll_s, "clock budget", clock))
    .or_else(|| quarter("bump_after_s", t.bump_after_s, "clock budget", clock))
    .or_else(|| {
        (t.lease_ttl_s < 2 * t.rpc_timeout_s).then(|| {
            format!(
                "lease_ttl_s ({} s) is shorter than two RPC timeouts (rpc_timeout_s = {} s): leases would lapse while their holder waits for one answer; raise lease_ttl_s",
                t.lease_ttl_s, t.rpc_timeout_s
            )
        })
    })
}

/// Takes the data directory for this process (`data_dir/agent.lock`, an
/// exclusive lock the OS drops when the process dies, however it dies): two
/// agents on one directory would journal, lease and serve metrics over each other.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, AgentError> {
    let cannot = |e: std::io::Error| {
        AgentError::Config(format!(
            "cannot use the data directory `{}`: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let path = dir.join("agent.lock");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(cannot)?;
    match f.try_lock() {
        Ok(()) => {
            use std::io::Write;
            let _ = f.set_len(0);
            let _ = writeln!(f, "{}", std::process::id());
            Ok(f)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(AgentError::Config(format!(
                "another agent (pid {}) runs on the data directory `{}`; give each instance its own `data_dir` (instances of a fleet share a database, not a directory)",
                holder.trim(),
                dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
    }
}

/// The local artifact starts the request where the chain does: the initial
/// state the market derived from the registered commitment and the input.
/// Anything else is not the registered model, and nothing may be bonded on it.
fn same_start(r: &RequestRow, t: &VmTrace) -> Result<(), String> {
    let local = B256::from(t.initial_state());
    if local == r.initial_state {
        return Ok(());
    }
    Err(format!(
        "the local artifact of model {} is not the registered model: on request {} it starts at state {local} where the chain starts at {}; put the registered artifact in the models directory (`opml inspect` prints its model id)",
        r.model_id, r.id, r.initial_state
    ))
}

/// Runs `act` on every item, up to `n` at a time, in one task (the actions
/// mostly wait on the node); every action runs, and the first error is returned.
pub async fn each_concurrently<T, F, Fut>(items: Vec<T>, n: usize, act: F) -> Result<(), AgentError>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<(), AgentError>>,
{
    use futures::StreamExt;
    let results: Vec<Result<(), AgentError>> = futures::stream::iter(items)
        .map(act)
        .buffer_unordered(n.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Whether a trace's claim equals a posted one; `None` when equal, else what differs.
pub fn claim_difference(
    mine: &dyn TraceProvider,
    output: &[u8],
    final_state: &B256,
    steps: u64,
) -> Option<String> {
    let c = mine.claim();
    let mut diffs = vec![];
    if c.output != output {
        diffs.push("output bytes".to_string());
    }
    if c.final_state != final_state.0 {
        diffs.push("final state".to_string());
    }
    if c.steps != steps {
        diffs.push(format!(
            "step count ({} claimed, {} re-executed)",
            steps, c.steps
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// Sends a market transaction; a simulated revert is logged (the chain moved on), not fatal.
pub async fn send_logged(
    a: &Agent,
    purpose: &str,
    data: Vec<u8>,
    value: U256,
) -> Result<(), AgentError> {
    match a
        .chain
        .send(
            purpose,
            Some(a.deployment.market),
            data.into(),
            value,
            &a.store,
        )
        .await
    {
        Ok(s) => {
            tracing::info!(purpose, tx = %s.receipt.transaction_hash, "done");
            Ok(())
        }
        Err(ChainError::WouldRevert { reason, .. }) => {
            tracing::warn!(purpose, reason, "not sent: it would revert");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Withdraws everything the market owes this agent once it reaches `min`; a
/// failure concerns only the withdrawal ([`isolate`]).
pub async fn withdraw_if_owed(a: &Agent, min: U256) -> Result<(), AgentError> {
    isolate("withdraw", withdraw_owed(a, min).await)
}

async fn withdraw_owed(a: &Agent, min: U256) -> Result<(), AgentError> {
    if !a.leases.take("withdraw").await? {
        return Ok(());
    }
    let me: Address = a.chain.address();
    let m = market(&a.chain, &a.deployment);
    // Credits grow only by events this agent follows, and the gauges read
    // them after every pass that saw any: idle passes ask nothing here.
    let seen = *a.owed_seen.lock().unwrap();
    if seen.is_some_and(|owed| owed.is_zero() || owed < min) {
        return Ok(());
    }
    let owed = a.chain.view("withdrawable", &m.withdrawable(me)).await?;
    if owed.is_zero() || owed < min {
        return Ok(());
    }
    use opml_onchain::bindings::InferenceMarket::{withdrawCall, withdrawToCall};
    let data = match a.withdraw_to {
        Some(to) => alloy::sol_types::SolCall::abi_encode(&withdrawToCall { to }),
        None => alloy::sol_types::SolCall::abi_encode(&withdrawCall {}),
    };
    match a
        .chain
        .send(
            "withdraw",
            Some(a.deployment.market),
            data.into(),
            U256::ZERO,
            &NoJournal,
        )
        .await
    {
        Ok(_) => {
            let to = a.withdraw_to.unwrap_or(me);
            tracing::info!(amount = %format_ether(owed), %to, "withdrawn");
            Ok(())
        }
        Err(ChainError::WouldRevert { reason, .. }) => {
            tracing::warn!(reason, "withdraw would revert");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Logs a turn and records a finished game.
pub async fn log_turn(
    store: &crate::store::Store,
    game: u64,
    role: &str,
    turn: Result<Turn, crate::play::TurnError>,
) -> Result<(), AgentError> {
    use crate::play::TurnError;
    use crate::player::{GameStatus, Move};
    match turn {
        Ok(Turn::Moved { mv, sent }) => {
            let detail = match &mv {
                Move::Dissect { points } => format!("{} points over the whole run", points.len()),
                Move::Respond { part, segment, .. } => {
                    format!("disputed part {part}, now [{}, {}]", segment.0, segment.1)
                }
                Move::Step { index, .. } => format!("one-step proof of step {index}"),
            };
            tracing::info!(
                game,
                role,
                kind = mv.kind(),
                detail,
                gas = sent.receipt.gas_used,
                "move"
            );
        }
        Ok(Turn::TimedOut(_)) => tracing::info!(game, role, "opponent timed out"),
        Ok(Turn::Waiting { .. }) => {}
        Ok(Turn::Withheld) => {
            tracing::info!(game, role, "stalled: fault injection withholds the move")
        }
        Ok(Turn::Over(s)) => {
            let status = match s {
                GameStatus::DefenderWon => "defender_won",
                GameStatus::ChallengerWon => "challenger_won",
                GameStatus::Cancelled => "cancelled",
                _ => "closed",
            };
            store.set_game_status(game, status).await?;
        }
        Err(TurnError::Chain(ChainError::WouldRevert { reason, .. })) => {
            tracing::warn!(game, role, reason, "move not sent: it would revert");
        }
        Err(TurnError::Chain(e)) => return Err(e.into()),
        Err(TurnError::Play(e)) => tracing::warn!(game, role, error = %e, "no move"),
    }
    Ok(())
}

/// How an agent plays its games.
#[derive(Debug, Clone, Copy)]
pub struct PlayPolicy<'a> {
    /// `defender` or `challenger`, for the logs.
    pub role: &'a str,
    /// Fault injection: the move number from which the agent withholds its moves.
    pub silent_from: Option<u16>,
    /// Games' worth of stake a defender adds to match a challenger-backed game.
    pub top_up_games: u64,
}

/// Decides this agent's turn in game `g` with `trace` as `policy` says (the
/// outer error: the database failed).
pub async fn plan_game(
    a: &Agent,
    g: &crate::store::GameRow,
    trace: &dyn TraceProvider,
    policy: PlayPolicy<'_>,
) -> Result<Result<crate::play::Plan, crate::play::TurnError>, AgentError> {
    let timed = crate::metrics::TimedTrace(trace);
    let silent_from = policy.silent_from;
    let scan_from = a
        .store
        .cursor()
        .await?
        .map_or(g.block, |c| c.next.saturating_sub(1));
    Ok(crate::play::plan_turn(
        &a.chain,
        &a.deployment,
        crate::play::GameAt {
            id: g.id,
            created_block: g.block,
            known: a.store.dissections(g.id).await?,
            scan_from,
        },
        &timed,
        policy.top_up_games,
        |game, mv| match silent_from {
            Some(r) if game.moves >= r => None,
            _ => Some(mv),
        },
    )
    .await)
}

/// The live games that `keep` picks by game and claim, each with its request.
pub async fn live_games(
    a: &Agent,
    keep: impl Fn(&crate::store::GameRow, &crate::store::ClaimRow) -> bool,
) -> Result<Vec<(crate::store::GameRow, u64)>, AgentError> {
    let games = a.store.games(&["live"]).await?;
    let ids: Vec<u64> = games.iter().map(|g| g.claim_id).collect();
    let claims = a.store.claims_by_id(&ids).await?;
    Ok(games
        .into_iter()
        .filter_map(|g| {
            let c = claims.iter().find(|c| c.id == g.claim_id)?;
            keep(&g, c).then_some((g, c.request_id))
        })
        .collect())
}

/// Plays one turn in each of `games` (a game and its request) whose lease this
/// instance holds or takes, several at a time; `trace_for` gives the trace
/// the role plays for a request.
pub async fn play_games<F, Fut>(
    a: &Agent,
    games: Vec<(crate::store::GameRow, u64)>,
    policy: PlayPolicy<'_>,
    shutdown: &Shutdown,
    trace_for: F,
) -> Result<(), AgentError>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<Arc<dyn TraceProvider>, String>>,
{
    let trace_for = &trace_for;
    if !games.is_empty() {
        // a game's clocks run: no idle polling while one is live
        a.note_busy();
    }
    // The disputed traces stay open whatever else the cache takes in.
    a.traces.pin(games.iter().map(|(_, request)| *request));
    let games = by_urgency(a, games).await?;
    // Every game's turn is decided first, then the moves go out together (in
    // as few transactions as the gas allows): one transaction a block keeps
    // any number of games going.
    let plans = std::sync::Mutex::new(vec![]);
    let ranked: Vec<_> = games.into_iter().enumerate().collect();
    each_concurrently(ranked, a.concurrency, |(rank, (g, request))| {
        let plans = &plans;
        async move {
            if shutdown.requested() || !a.leases.take(&format!("game {}", g.id)).await? {
                return Ok(());
            }
            let trace = match trace_for(request).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(game = g.id, error = %e, "cannot trace the disputed request");
                    return Ok(());
                }
            };
            match plan_game(a, &g, trace.as_ref(), policy).await? {
                Ok(plan) => {
                    plans.lock().unwrap().push((rank, g.id, plan));
                    Ok(())
                }
                Err(e) => isolate(
                    &format!("game {}", g.id),
                    log_turn(&a.store, g.id, policy.role, Err(e)).await,
                ),
            }
        }
    })
    .await?;
    let mut plans = plans.into_inner().unwrap();
    plans.sort_by_key(|(rank, _, _)| *rank);
    let plans = plans.into_iter().map(|(_, id, plan)| (id, plan)).collect();
    let turns = crate::play::send_plans(&a.chain, &a.deployment, plans, &a.store).await;
    let mut failed = Ok(());
    for (id, turn) in turns {
        let r = isolate(
            &format!("game {id}"),
            log_turn(&a.store, id, policy.role, turn).await,
        );
        if failed.is_ok() {
            failed = r;
        }
    }
    failed
}

/// The games in the order their clocks run out: those where this agent is to
/// move first, least time left first (a game that cannot be read goes last
/// and is tried in turn, where its error is isolated).
async fn by_urgency(
    a: &Agent,
    games: Vec<(crate::store::GameRow, u64)>,
) -> Result<Vec<(crate::store::GameRow, u64)>, AgentError> {
    use futures::StreamExt;
    if games.is_empty() {
        return Ok(games);
    }
    let me = a.chain.address();
    let now = a.now().await?;
    let keyed: Vec<(u64, (crate::store::GameRow, u64))> = futures::stream::iter(games)
        .map(|(g, request)| async move {
            let left = match crate::play::read_game(&a.chain, &a.deployment, g.id).await {
                Ok(s) if s.to_move() == me => s.mover_deadline().saturating_sub(now),
                _ => u64::MAX,
            };
            (left, (g, request))
        })
        .buffered(a.concurrency)
        .collect()
        .await;
    let mut keyed = keyed;
    keyed.sort_by_key(|(left, _)| *left);
    Ok(keyed.into_iter().map(|(_, g)| g).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second agent on the same data directory is refused while the first
    /// holds it, and may take it once the first is gone.
    #[test]
    fn one_agent_per_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_data_dir(dir.path()).unwrap();
        let e = lock_data_dir(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("another agent") && e.contains(&std::process::id().to_string()),
            "{e}"
        );
        drop(first);
        lock_data_dir(dir.path()).unwrap();
    }

    #[test]
    fn timing_settings_that_lose_bonds_are_refused() {
        let ok = Timing {
            seen_late_s: 24,
            poll_s: 1,
            bump_after_s: 30,
            lease_ttl_s: 60,
            rpc_timeout_s: 20,
        };
        assert_eq!(timing_refusal(&ok, 3600, 600), None);
        // 12 confirmations of 12 s blocks against a 3-minute window
        let late = Timing {
            seen_late_s: 144,
            ..ok
        };
        let e = timing_refusal(&late, 180, 600).unwrap();
        assert!(e.contains("challenge window") && e.contains("144 s"), "{e}");
        let e = timing_refusal(&late, 3600, 300).unwrap();
        assert!(e.contains("clock budget"), "{e}");
        let slow_bumps = Timing {
            bump_after_s: 200,
            ..ok
        };
        assert!(
            timing_refusal(&slow_bumps, 3600, 600)
                .unwrap()
                .contains("bump_after_s")
        );
        let short_lease = Timing {
            lease_ttl_s: 15,
            ..ok
        };
        assert!(
            timing_refusal(&short_lease, 3600, 600)
                .unwrap()
                .contains("lease_ttl_s")
        );
    }

    #[test]
    fn isolated_failures_do_not_end_the_pass_but_a_dead_node_does() {
        let funds = AgentError::Chain(ChainError::InsufficientFunds {
            purpose: "challenge claim 2".into(),
            address: Address::ZERO,
            detail: "needs 1 ETH".into(),
        });
        assert!(isolate("claim 2", Err(funds)).is_ok());
        let down = AgentError::Chain(ChainError::Unreachable {
            url: "http://127.0.0.1:1/".into(),
            waited: Duration::from_secs(1),
            detail: "connection refused".into(),
        });
        assert!(isolate("game 1", Err(down)).is_err());
        assert!(isolate("game 1", Err(AgentError::Config("x".into()))).is_err());
    }
}
