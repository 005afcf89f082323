//! What an agent exposes to its operator: Prometheus metrics on `/metrics`
//! and a health check on `/healthz`, served on `metrics_addr` (loopback by
//! default; `docs/AGENTS.md` lists the metrics and the alerts to set).
//!
//! One agent runs per process, so the metrics are process-wide: the RPC
//! client counts its errors where they happen, the trace wrapper times its
//! queries, and after every pass [`observe`] sets the gauges from the store
//! and the chain, so they are what the chain says at that block.

use alloy::primitives::U256;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// `opml_games` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GameLabels {
    /// `defender` or `challenger`: this agent's side.
    pub role: String,
    /// `live`, `won`, `lost` or `cancelled`.
    pub status: String,
}

/// `opml_trace_query_seconds` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabels {
    /// `state_hashes` or `step_proof`.
    pub query: String,
}

/// `opml_rpc_requests` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// The JSON-RPC method (`eth_call`, `eth_getLogs`, ...): providers price them differently.
    pub method: String,
}

/// `opml_work_failures` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkLabels {
    /// `request`, `claim`, `game`, `close` or `withdraw`: the kind of work item.
    pub unit: String,
    /// `insufficient_funds`, `would_revert`, `reverted`, `refused` or `other`.
    pub error: String,
}

/// `opml_agent_info` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    /// `submitter` or `challenger`.
    pub agent: String,
    /// The agent's address.
    pub address: String,
}

/// When `/healthz` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// The agent is behind the chain head by more blocks than this.
    pub max_lag_blocks: u64,
    /// Fewer seconds than this are left on one of its clocks in a game where it is to move.
    pub min_clock_s: u64,
    /// No pass finished for this long.
    pub max_silence: Duration,
    /// The RPC endpoint failed every request for this long.
    pub max_rpc_outage: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            max_lag_blocks: 20,
            min_clock_s: 300,
            max_silence: Duration::from_secs(120),
            max_rpc_outage: Duration::from_secs(120),
        }
    }
}

/// What the last pass saw, for `/healthz`.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    at: Option<Instant>,
    lag: u64,
    /// Lowest clock of a live game where this agent is to move.
    clock_to_move: Option<u64>,
    /// Since when every RPC request failed (none since the last answer).
    rpc_failing_since: Option<Instant>,
}

/// The agent's metrics.
pub struct Metrics {
    registry: Registry,
    /// Games by side and status.
    pub games: Family<GameLabels, Gauge>,
    /// Bonds and stakes that a lost game would take (ether).
    pub bonds_at_risk: Gauge<f64, AtomicU64>,
    /// What the market owes the agent now (ether).
    pub withdrawable: Gauge<f64, AtomicU64>,
    /// The agent's own claims that are not final yet.
    pub claims_pending: Gauge,
    /// Lowest seconds left on the agent's clocks over its live games.
    pub clock_left_min: Gauge,
    /// Latency of trace queries.
    pub trace_query: Family<QueryLabels, Histogram>,
    /// RPC requests that failed (each attempt).
    pub rpc_errors: Counter,
    /// RPC attempts retried after a transient failure.
    pub rpc_retries: Counter,
    /// Transactions sent and not yet mined.
    pub txs_pending: Gauge,
    /// The last block whose logs the agent processed.
    pub last_block: Gauge,
    /// Blocks between the head and the last processed block.
    pub block_lag: Gauge,
    /// Leases this instance holds on work items (requests, claims, games) in a fleet's database.
    pub leases_held: Gauge,
    /// Work items (a request, a claim, a game) whose action failed, by kind and error; the others went on.
    pub work_failures: Family<WorkLabels, Counter>,
    /// The key's balance (ether).
    pub balance: Gauge<f64, AtomicU64>,
    /// JSON-RPC requests sent to the node (each attempt), by method.
    pub rpc_requests: Family<RpcLabels, Counter>,
    /// Seconds between passes now: the poll interval, longer while idle.
    pub poll_interval: Gauge<f64, AtomicU64>,
    /// New claims and challenges held back by a limit (each time weighed).
    pub commitments_held: Counter,
    /// Gas fees paid over the last 24 hours (ether).
    pub fees_day: Gauge<f64, AtomicU64>,
    /// Passes finished, and failed.
    pub passes: Counter,
    /// See `passes`.
    pub pass_failures: Counter,
    /// The agent's role and address, as labels of a constant 1.
    pub info: Family<InfoLabels, Gauge>,
    seen: Mutex<Seen>,
    policy: Mutex<HealthPolicy>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("opml"),
            games: Family::default(),
            bonds_at_risk: Gauge::default(),
            withdrawable: Gauge::default(),
            claims_pending: Gauge::default(),
            clock_left_min: Gauge::default(),
            trace_query: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            rpc_errors: Counter::default(),
            rpc_retries: Counter::default(),
            txs_pending: Gauge::default(),
            last_block: Gauge::default(),
            block_lag: Gauge::default(),
            leases_held: Gauge::default(),
            work_failures: Family::default(),
            balance: Gauge::default(),
            commitments_held: Counter::default(),
            rpc_requests: Family::default(),
            poll_interval: Gauge::default(),
            fees_day: Gauge::default(),
            passes: Counter::default(),
            pass_failures: Counter::default(),
            info: Family::default(),
            seen: Mutex::new(Seen::default()),
            policy: Mutex::new(HealthPolicy::default()),
        };
        let r = &mut m.registry;
        r.register("agent_info", "The agent's role and address", m.info.clone());
        r.register(
            "games",
            "Games of this agent by its side and their status",
            m.games.clone(),
        );
        r.register(
            "bonds_at_risk_ether",
            "Bonds and stakes a lost game would take: the submitter's pending claims, the challenger's live games",
            m.bonds_at_risk.clone(),
        );
        r.register(
            "withdrawable_ether",
            "What the market owes this agent now",
            m.withdrawable.clone(),
        );
        r.register(
            "claims_pending",
            "This agent's claims not finalized, voided or released yet",
            m.claims_pending.clone(),
        );
        r.register(
            "clock_seconds_left_min",
            "Lowest seconds left on this agent's clocks over its live games (the clock budget when none is live)",
            m.clock_left_min.clone(),
        );
        r.register(
            "trace_query_seconds",
            "Latency of trace queries (state hashes at sorted steps, one-step proofs)",
            m.trace_query.clone(),
        );
        r.register(
            "leases_held",
            "Work items (requests, claims, games) this instance holds the lease on",
            m.leases_held.clone(),
        );
        r.register(
            "rpc_errors",
            "RPC requests that failed, every attempt",
            m.rpc_errors.clone(),
        );
        r.register(
            "rpc_retries",
            "RPC attempts retried after a transient failure",
            m.rpc_retries.clone(),
        );
        r.register(
            "transactions_pending",
            "Transactions sent and not yet mined",
            m.txs_pending.clone(),
        );
        r.register(
            "last_processed_block",
            "The last block whose logs this agent processed",
            m.last_block.clone(),
        );
        r.register(
            "block_lag",
            "Blocks between the chain head and the last processed block",
            m.block_lag.clone(),
        );
        r.register(
            "work_failures",
            "Actions on one work item that failed (logged, retried next pass) while the others went on",
            m.work_failures.clone(),
        );
        r.register(
            "balance_ether",
            "The agent key's balance, which pays bonds, stakes and gas",
            m.balance.clone(),
        );
        r.register(
            "rpc_requests",
            "JSON-RPC requests sent to the node by method, each attempt (providers bill and rate-limit by these)",
            m.rpc_requests.clone(),
        );
        r.register(
            "poll_interval_seconds",
            "Seconds between passes now: poll_ms while there is work, growing to idle_poll_ms while idle",
            m.poll_interval.clone(),
        );
        r.register(
            "commitments_held",
            "New claims and challenges held back by a limit (max_open_games, max_pending_claims, max_capital, fee_budget_per_day)",
            m.commitments_held.clone(),
        );
        r.register(
            "fees_day_ether",
            "Gas fees paid over the last 24 hours",
            m.fees_day.clone(),
        );
        r.register("passes", "Passes over the chain finished", m.passes.clone());
        r.register(
            "pass_failures",
            "Passes that failed (logged and retried)",
            m.pass_failures.clone(),
        );
        m
    }

    /// The node answered an RPC request.
    pub fn rpc_answered(&self) {
        self.seen.lock().unwrap().rpc_failing_since = None;
    }

    /// How long every RPC request has failed, if they fail now.
    pub fn rpc_outage(&self) -> Option<Duration> {
        self.seen
            .lock()
            .unwrap()
            .rpc_failing_since
            .map(|t| t.elapsed())
    }

    /// An RPC request failed in transport (no answer, a timeout, a 5xx).
    pub fn rpc_failed(&self) {
        let mut seen = self.seen.lock().unwrap();
        seen.rpc_failing_since.get_or_insert_with(Instant::now);
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }

    /// `Ok` when healthy, else why not.
    pub fn health(&self) -> Result<(), String> {
        let seen = *self.seen.lock().unwrap();
        let policy = *self.policy.lock().unwrap();
        health(&seen, &policy, Instant::now())
    }
}

fn health(seen: &Seen, policy: &HealthPolicy, now: Instant) -> Result<(), String> {
    if let Some(since) = seen.rpc_failing_since {
        let down = now.saturating_duration_since(since);
        if down > policy.max_rpc_outage {
            return Err(format!(
                "the RPC endpoint has not answered for {} s (limit {} s): check the node",
                down.as_secs(),
                policy.max_rpc_outage.as_secs()
            ));
        }
    }
    let Some(at) = seen.at else {
        return Err("no pass has finished yet".into());
    };
    let silent = now.duration_since(at);
    if silent > policy.max_silence {
        return Err(format!(
            "no pass finished for {} s (limit {} s): the agent is stuck or its node unreachable",
            silent.as_secs(),
            policy.max_silence.as_secs()
        ));
    }
    if seen.lag > policy.max_lag_blocks {
        return Err(format!(
            "{} blocks behind the head (limit {})",
            seen.lag, policy.max_lag_blocks
        ));
    }
    if let Some(left) = seen.clock_to_move.filter(|&l| l < policy.min_clock_s) {
        return Err(format!(
            "{left} s left on a clock where this agent is to move (limit {} s)",
            policy.min_clock_s
        ));
    }
    Ok(())
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Serves `/metrics` and `/healthz` on `addr` until the process ends; returns
/// the bound address (`addr` may ask for port 0).
pub async fn serve(addr: &str, policy: HealthPolicy) -> std::io::Result<SocketAddr> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Response, StatusCode};
    *global().policy.lock().unwrap() = policy;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let respond = |path: &str| {
        let (status, body) = match path {
            "/metrics" => (StatusCode::OK, global().encode()),
            "/healthz" => match global().health() {
                Ok(()) => (StatusCode::OK, "ok\n".to_string()),
                Err(why) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("unhealthy: {why}\n"),
                ),
            },
            _ => (
                StatusCode::NOT_FOUND,
                "not found: try /metrics or /healthz\n".to_string(),
            ),
        };
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    Ok::<_, std::convert::Infallible>(respond(req.uri().path()))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(error = %e, "metrics: connection ended");
                }
            });
        }
    });
    Ok(local)
}

pub(crate) fn ether(wei: U256) -> f64 {
    wei.to_string().parse::<f64>().unwrap_or(f64::MAX) / 1e18
}

/// The last pass's lag and most urgent clock, for `/healthz`.
impl Metrics {
    pub(crate) fn passed(&self, lag: u64, clock_to_move: Option<u64>) {
        let mut seen = self.seen.lock().unwrap();
        *seen = Seen {
            at: Some(Instant::now()),
            lag,
            clock_to_move,
            rpc_failing_since: seen.rpc_failing_since,
        };
    }
}

/// A trace provider that times its queries into `opml_trace_query_seconds`.
pub struct TimedTrace<'a>(pub &'a dyn opml_vm::trace::TraceProvider);

impl TimedTrace<'_> {
    fn time<T>(&self, query: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        global()
            .trace_query
            .get_or_create(&QueryLabels {
                query: query.into(),
            })
            .observe(start.elapsed().as_secs_f64());
        out
    }
}

impl opml_vm::trace::TraceProvider for TimedTrace<'_> {
    fn claim(&self) -> &opml_vm::trace::ClaimData {
        self.0.claim()
    }
    fn initial_state(&self) -> opml_vm::machine::hash::H256 {
        self.0.initial_state()
    }
    fn state_hashes(&self, steps: &[u64]) -> opml_vm::Result<Vec<opml_vm::machine::hash::H256>> {
        self.time("state_hashes", || self.0.state_hashes(steps))
    }
    fn step_proof(&self, step: u64) -> opml_vm::Result<Vec<u8>> {
        self.time("step_proof", || self.0.step_proof(step))
    }
    fn instruction_at(&self, step: u64) -> opml_vm::Result<String> {
        self.0.instruction_at(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every series the alert rules (`agents/alerts.yml`) use is one the
    /// agents serve: a renamed metric would silence an alert.
    #[test]
    fn alert_rules_use_only_served_metrics() {
        let rules = include_str!("../alerts.yml");
        // families with labels are written once they have a series
        let m = global();
        m.games
            .get_or_create(&GameLabels {
                role: "challenger".into(),
                status: "live".into(),
            })
            .set(0);
        m.work_failures
            .get_or_create(&WorkLabels {
                unit: "claim".into(),
                error: "other".into(),
            })
            .inc();
        m.rpc_requests
            .get_or_create(&RpcLabels {
                method: "eth_call".into(),
            })
            .inc();
        let served = m.encode();
        let mut used: Vec<&str> = rules
            .match_indices("opml_")
            .map(|(i, _)| {
                let rest = &rules[i..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        used.sort_unstable();
        used.dedup();
        assert!(used.len() >= 10, "{used:?}");
        for name in used {
            // a counter's samples end in `_total`, its TYPE line does not
            let family = name.trim_end_matches("_total");
            assert!(
                served
                    .lines()
                    .any(|l| l.starts_with(&format!("# TYPE {family} "))
                        || l.starts_with(&format!("{name} "))
                        || l.starts_with(&format!("{name}{{"))),
                "alerts.yml uses `{name}`, which the agents do not serve"
            );
        }
    }

    #[test]
    fn health_fails_on_lag_on_a_short_clock_and_on_silence() {
        let p = HealthPolicy {
            max_lag_blocks: 5,
            min_clock_s: 100,
            max_silence: Duration::from_secs(60),
            max_rpc_outage: Duration::from_secs(30),
        };
        let now = Instant::now();
        let ok = Seen {
            at: Some(now),
            lag: 5,
            clock_to_move: Some(100),
            rpc_failing_since: None,
        };
        let down = Seen {
            rpc_failing_since: Some(now),
            ..ok
        };
        assert_eq!(health(&down, &p, now + Duration::from_secs(30)), Ok(()));
        let e = health(&down, &p, now + Duration::from_secs(31)).unwrap_err();
        assert!(e.contains("has not answered for 31 s"), "{e}");
        assert_eq!(health(&ok, &p, now), Ok(()));
        let e = health(&Seen { lag: 6, ..ok }, &p, now).unwrap_err();
        assert!(e.contains("6 blocks behind"), "{e}");
        let e = health(
            &Seen {
                clock_to_move: Some(99),
                ..ok
            },
            &p,
            now,
        )
        .unwrap_err();
        assert!(e.contains("99 s left"), "{e}");
        let e = health(&ok, &p, now + Duration::from_secs(61)).unwrap_err();
        assert!(e.contains("no pass finished for 61 s"), "{e}");
        assert!(health(&Seen::default(), &p, now).is_err());
    }

    #[test]
    fn the_text_format_names_every_metric() {
        let m = Metrics::new();
        m.rpc_retries.inc();
        // families show once a series of them exists
        m.games
            .get_or_create(&GameLabels {
                role: "challenger".into(),
                status: "won".into(),
            })
            .set(2);
        m.trace_query
            .get_or_create(&QueryLabels {
                query: "step_proof".into(),
            })
            .observe(0.01);
        let text = m.encode();
        for name in [
            r#"opml_games{role="challenger",status="won"} 2"#,
            "opml_bonds_at_risk_ether",
            "opml_withdrawable_ether",
            "opml_claims_pending",
            "opml_clock_seconds_left_min",
            r#"opml_trace_query_seconds_count{query="step_proof"} 1"#,
            "opml_rpc_errors_total",
            "opml_rpc_retries_total 1",
            "opml_transactions_pending",
            "opml_last_processed_block",
            "opml_block_lag",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
